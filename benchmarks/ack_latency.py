"""How fast does the bot acknowledge Slack? Prints ack latency percentiles at several command rates.

Runs the real bot (`build_bot`) against the Slack stand-in in this process, types `/ops help`
at a fixed rate for a few seconds per rate, and reads the latency the stand-in measured for
each envelope (from sending it to receiving the ack, over the WebSocket). Slack's limit is 3 s;
On this machine kind a default bolt app acks in about 12 ms. Run:

    .venv/bin/python benchmarks/ack_latency.py [--rates 10,50,200] [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bot.app import build_bot
from bot.config import parse_settings
from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,50,200", help="commands per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to send at each rate")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    with SlackSandbox(rate_limits=False) as slack, tempfile.TemporaryDirectory() as state:
        driver = SlackDriver(slack.control_url)
        driver.add_user("UBENCH01", name="bench", email="bench@example.com")
        driver.add_channel("CBENCH01", name="bench")
        config = {
            "slack": {"team_id": slack.team_id, "api_url": slack.api_url},
            "database": {"url": f"sqlite:///{Path(state) / 'bench.db'}"},
            "rbac": {"policy": "g, slack:UBENCH01, role:admin\n"},
            "server": {"port": 0},
        }
        environ = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token}
        bot = build_bot(parse_settings(config, source="benchmark", environ=environ))
        bot.start()
        try:
            wait_until(bot.is_connected, timeout=10, message="the bot to connect")
            print(f"{'rate/s':>7} {'sent':>6} {'acked':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
            for rate in rates:
                before = {a["envelope_id"] for a in driver.acks()}
                count = int(rate * args.seconds)
                start = time.perf_counter()
                for index in range(count):
                    # pace the sends: a benchmark's schedule, not a test waiting for an outcome
                    delay = start + index / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    driver.send_command(user="UBENCH01", channel="CBENCH01", command="/ops", text="help")

                def ours(before: set[str] = before) -> list[dict[str, object]]:
                    return [
                        a
                        for a in driver.acks()
                        if a["envelope_id"] not in before and a["type"] == "slash_commands"
                    ]

                wait_until(
                    lambda count=count: (
                        len(ours()) >= count and all(a["outcome"] != "delivered" for a in ours())
                    ),
                    timeout=30,
                )
                acks = ours()
                latencies = [float(a["latency_ms"]) for a in acks if a["acked"]]
                print(
                    f"{rate:>7} {count:>6} {len(latencies):>6} {statistics.median(latencies):>8.2f} "
                    f"{_percentile(latencies, 0.99):>8.2f} {max(latencies):>8.2f}"
                )
        finally:
            bot.stop()


if __name__ == "__main__":
    main()
