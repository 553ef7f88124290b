"""How soon after Slack drops the socket is the next command acknowledged? Prints seconds per client and mode.

Starts the sandbox world (`python -m bot.sandbox`), the real bot (`chatops run`) and two bare bolt
apps that only ack `/ops` (slack_bolt's `websocket_client` Socket Mode adapter and its built-in
one), each in its own process, all on the same Slack stand-in. One client is connected at a time
(the others are paused, as in `ack_latency.py`); turns are interleaved. In each trial the client's
connection is proven with one acked command, then the stand-in forces a disconnect in one of its
three modes (`refresh`: Slack's `disconnect` message; `close`: a close frame; `abrupt`: TCP reset)
while `/ops help` is typed every 100 ms. The figure is the time from the disconnect to the first
ack of any command typed after it (when it was sent plus the ack latency the stand-in measured);
commands that were never acked (`dispatch_failed`: no socket within Slack's 3 s) are counted.
Ends with one JSON line of figures.

    .venv/bin/python benchmarks/reconnect.py [--trials 5] [--quick]

Clients take turns (each started, measured and stopped before the next), alone on the stand-in.
`--quick`: one trial per mode for the bot and the `websocket_client` app; the built-in adapter,
whose reconnects take about 10 s each, is left out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ack_latency import (
    CHANNEL,
    USERS,
    Client,
    Sandbox,
    clean,
    live_connections,
    machine,
    percentile,
    start_bare,
    start_bot,
    wait_for,
)

from bot.sandbox.slack import SlackDriver

MODES = ("refresh", "close", "abrupt")
PROBE_EVERY = 0.1
GIVE_UP = 20.0


def _ack_of(driver: SlackDriver, envelope_id: str) -> dict[str, Any] | None:
    for record in driver.acks():
        if record["envelope_id"] == envelope_id:
            return record
    return None


def trial(
    client: Client, clients: list[Client], driver: SlackDriver, mode: str, user: str, give_up: float
) -> dict[str, Any]:
    wait_for(lambda: live_connections(driver) >= 1, give_up, f"{client.name} to be connected")
    # the connection works: one command acked before the drop
    proof = driver.send_command(user=user, channel=CHANNEL, command="/ops", text="help")
    wait_for(
        lambda: bool((_ack_of(driver, proof["envelope_id"]) or {}).get("acked")), give_up, "the proof command"
    )
    time.sleep(0.3)
    probes: list[tuple[float, str]] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            at = time.time()
            try:
                made = driver.send_command(user=user, channel=CHANNEL, command="/ops", text="help")
                probes.append((at, made["envelope_id"]))
            except Exception as exc:  # the stand-in is busy: try again
                print(f"  (probe not sent: {exc})", file=sys.stderr)
            stop.wait(PROBE_EVERY)

    prober = threading.Thread(target=probe, daemon=True)
    dropped_at = time.time()
    prober.start()
    driver.disconnect(mode)
    # a command typed before the stand-in finished the drop may still reach the old socket
    returned_at = time.time()
    first: float | None = None
    deadline = time.monotonic() + give_up
    while first is None and time.monotonic() < deadline:
        records = {r["envelope_id"]: r for r in driver.acks()}
        acked = [
            at + float(records[eid]["latency_ms"]) / 1000
            for at, eid in list(probes)
            if at >= returned_at and records.get(eid, {}).get("acked")
        ]
        if acked:
            first = min(acked)
        else:
            time.sleep(0.05)  # a benchmark polling the stand-in
    stop.set()
    prober.join()
    # let every probe settle (acked, or failed after Slack's 3 s), then count the failures
    ids = {eid for _, eid in probes}
    wait_for(
        lambda: all(
            r["outcome"] not in ("pending", "delivered") for r in driver.acks() if r["envelope_id"] in ids
        ),
        8,
        "the probes to settle",
        step=0.2,
    )
    records = [r for r in driver.acks() if r["envelope_id"] in ids]
    failed = [r for r in records if not r["acked"]]
    # the old socket may still be draining after a refresh; wait for one live connection
    wait_for(lambda: live_connections(driver) >= 1, 10, "a live connection")
    return {
        "who": client.name,
        "mode": mode,
        "to_next_ack_s": (first - dropped_at) if first is not None else math.nan,
        "probes": len(records),
        "failed": len(failed),
        "failed_outcomes": sorted({str(r["outcome"]) for r in failed}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="trials per client and mode")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--quick", action="store_true", help="one trial per client and mode")
    args = parser.parse_args(argv)
    trials = 1 if args.quick else args.trials
    give_up = 10.0 if args.quick else GIVE_UP
    modes = [m for m in args.modes.split(",") if m]
    box = machine()
    print(f"{box['cores']} cores, {box['memory_mb']} MB; {trials} trial(s) per client and mode", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reconnect-") as tmp:
        state = Path(tmp)
        sandbox = Sandbox(state, limits=False)
        clients: list[Client] = []
        try:
            driver, world = sandbox.driver, sandbox.world
            for user in USERS[:20]:
                driver.add_user(user, name=user.lower(), email=f"{user.lower()}@example.com")
            driver.add_channel(CHANNEL, name="bench")
            starters = {
                "bot": lambda: start_bot(world, state),
                "bolt_websocket_client": lambda: start_bare(
                    world, state, adapter="websocket_client", pbr=True, name="bolt_websocket_client"
                ),
                "bolt_builtin": lambda: start_bare(
                    world, state, adapter="builtin", pbr=True, name="bolt_builtin"
                ),
            }
            print(f"{'who':>22} {'mode':>8} {'to ack s':>8} {'probes':>6} {'failed':>6}", flush=True)
            count = 0
            if args.quick:  # its reconnects take about 10 s each (see docs/performance.md)
                del starters["bolt_builtin"]
            for name, start in starters.items():
                # one client at a time, alone on the stand-in (a paused process would not
                # reconnect the way a live one does)
                client = start()
                clients.append(client)
                wait_for(lambda: live_connections(driver) >= 1, 60, f"{name} to connect")
                for _ in range(trials):
                    for mode in modes:
                        row = trial(client, [client], driver, mode, USERS[count % 20], give_up)
                        count += 1
                        rows.append(row)
                        print(
                            f"{row['who']:>22} {mode:>8} {row['to_next_ack_s']:>8.2f} {row['probes']:>6} "
                            f"{row['failed']:>6} {' '.join(row['failed_outcomes'])}",
                            flush=True,
                        )
                client.stop()
                clients.remove(client)
                wait_for(lambda: live_connections(driver) == 0, 10, f"{name} to leave")
        finally:
            for client in clients:
                client.stop()
            sandbox.stop()
    summary: list[dict[str, Any]] = []
    for client_name in dict.fromkeys(r["who"] for r in rows):
        for mode in modes:
            mine = [r for r in rows if r["who"] == client_name and r["mode"] == mode]
            times = [r["to_next_ack_s"] for r in mine if not math.isnan(r["to_next_ack_s"])]
            summary.append(
                {
                    "who": client_name,
                    "mode": mode,
                    "trials": len(mine),
                    "to_next_ack_s_p50": percentile(times, 0.5),
                    "to_next_ack_s_max": max(times) if times else math.nan,
                    "no_ack_trials": len(mine) - len(times),
                    "failed_commands": sum(r["failed"] for r in mine),
                }
            )
    for row in summary:
        print(
            f"{row['who']:>22} {row['mode']:>8} p50 {row['to_next_ack_s_p50']:.2f} s, max "
            f"{row['to_next_ack_s_max']:.2f} s, {row['failed_commands']} commands failed",
            flush=True,
        )
    print(json.dumps(clean({"benchmark": "reconnect", **box, "results": summary, "trials": rows})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
