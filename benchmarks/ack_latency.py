"""How fast does the bot acknowledge Slack, beside bare bolt apps that only ack? Prints latency figures.

Starts the sandbox world (`python -m bot.sandbox`, Slack's rate limits off), the real bot
(`chatops run`) and two bare bolt apps using slack_bolt's `websocket_client` Socket Mode adapter
that only ack `/ops` (one with `process_before_response=True`, one with bolt's default), each in
its own process, all on the same Slack stand-in. The stand-in routes each envelope to one of an
app's connections, so only one of the three may be connected at a time: the others are paused
(SIGSTOP) and their socket dropped; the one whose turn it is resumes and reconnects. Turns are
interleaved (bot, bare pbr, bare default, and again for the next round), so the machine's load and
state are shared. At each rate (default 50 and 500 commands/s) it types `/ops help` for a few
seconds per turn, spread over 250 people (so the bot's per-person limit, `slack.commands_per_minute`,
left at its default 30, is never reached; "slow down" answers are counted anyway), and reports:

- ack latency p50/p95/p99/max, as the stand-in measures it (from the envelope's dispatch to its ack);
- for the bot: the answers' latency (from sending the command to its ephemeral answer appearing,
  read back from the answer's ts), answers by kind (help, busy, slow down), and the depth of the
  bot's work queue (`chatops_work_queue` on its `/metrics`, polled every 50 ms), against its
  `slack.queue_limit` (default 500: past it the bot answers "busy" at once);
- the bot's p50/p99 over each bare app's (the two floors).

Ends with one JSON line of figures.

    .venv/bin/python benchmarks/ack_latency.py [--rates 50,500] [--seconds 3] [--rounds 2] [--quick]

`--quick`: one round, 1 s at 50/s and 0.4 s at 500/s, in about half a minute.
The same file runs a bare app: `ack_latency.py --bare websocket_client|builtin [--pbr]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bot.sandbox.slack import SlackDriver

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SCRIPT = Path(__file__).resolve()
CHANNEL = "CBENCH01"
USERS = [f"UBENCH{i:03d}" for i in range(250)]
QUEUE_LIMIT = 500  # the bot's default slack.queue_limit, left as is
BUSY_WORD, SLOW_WORD = "busy", "slow down"


# ----------------------------------------------------------------------------- shared helpers
def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else math.nan,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)  # a benchmark polling, not a test
    print(f"  (gave up waiting for {what} after {timeout:.0f}s)", file=sys.stderr)
    return False


def machine() -> dict[str, int]:
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {"cores": os.cpu_count() or 1, "memory_mb": memory}


def clean(value: Any) -> Any:
    """NaN -> None, recursively, so the JSON line is valid JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


class Sandbox:
    """`python -m bot.sandbox` in its own process; reads its one JSON line."""

    def __init__(
        self, state: Path, *, limits: bool = False, seed: bool = False, clusters: str = "dev"
    ) -> None:
        self.log = (state / "sandbox.log").open("w")
        command = [PYTHON, "-m", "bot.sandbox", "--state-dir", str(state / "world"), "--clusters", clusters]
        if seed:
            command.append("--seed")
        if not limits:
            command.append("--no-slack-rate-limits")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox did not start; see {self.log.name}")
        self.world: dict[str, Any] = json.loads(line)
        self.driver = SlackDriver(self.world["slack"]["control_url"])

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


def stop_process(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    try:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGCONT)  # a paused process group cannot handle SIGTERM
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Client:
    """A process holding a Socket Mode connection: the bot or a bare bolt app."""

    def __init__(self, name: str, process: subprocess.Popen[Any], metrics_port: int | None = None) -> None:
        self.name = name
        self.process = process
        self.metrics_port = metrics_port
        self.paused = False

    def pause(self) -> None:
        """Pause the process and its children (the bot's acker holds the bot's connection)."""
        if not self.paused:
            os.killpg(self.process.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.paused:
            os.killpg(self.process.pid, signal.SIGCONT)
            self.paused = False

    def work_queue(self) -> float | None:
        if self.metrics_port is None:
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        found = re.search(r"^chatops_work_queue (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else None

    def stop(self) -> None:
        stop_process(self.process)


def live_connections(driver: SlackDriver) -> int:
    return sum(1 for c in driver.connections().get("connections", []) if not c.get("draining"))


def start_bot(
    world: dict[str, Any],
    state: Path,
    *,
    config: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Client:
    """`chatops run` against the world's Slack; waits until it is connected."""
    port = free_port()
    settings: dict[str, Any] = {
        "slack": {
            "command": "/ops",
            "team_id": world["slack"]["team_id"],
            "api_url": world["slack"]["api_url"],
        },
        "database": {"url": f"sqlite:///{state / 'chatops.db'}"},
        "rbac": {"policy": "g, slack:UBENCH000, role:admin\n", "default_role": "role:admin"},
        "server": {"host": "127.0.0.1", "port": port},
    }
    for key, value in (config or {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    (state / "chatops.yaml").write_text(yaml.safe_dump(settings))
    environ = dict(os.environ)
    environ.update(SLACK_BOT_TOKEN=world["slack"]["bot_token"], SLACK_APP_TOKEN=world["slack"]["app_token"])
    environ.update(env or {})
    log = (state / "bot.log").open("w")
    process = subprocess.Popen(
        [PYTHON, "-m", "bot", "run", "--config", str(state / "chatops.yaml"), "--log-level", "WARNING"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environ,
        cwd=ROOT,
        text=True,
        start_new_session=True,  # its own process group: pausing it pauses its acker too
    )
    return Client("bot", process, metrics_port=port)


def start_bare(world: dict[str, Any], state: Path, *, adapter: str, pbr: bool, name: str) -> Client:
    """A bare bolt app (this file with `--bare`) that only acks; waits until it says it is connected."""
    environ = dict(os.environ)
    environ.update(
        SLACK_BOT_TOKEN=world["slack"]["bot_token"],
        SLACK_APP_TOKEN=world["slack"]["app_token"],
        SLACK_API_URL=world["slack"]["api_url"],
    )
    command = [PYTHON, str(SCRIPT), "--bare", adapter] + (["--pbr"] if pbr else [])
    log = (state / f"{name}.log").open("w")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, env=environ, cwd=ROOT, text=True, start_new_session=True
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the bare app {name} did not start; see {log.name}")
    return Client(name, process)


def turn_to(target: Client, clients: list[Client], driver: SlackDriver, timeout: float = 20) -> float:
    """Pause every other client, drop all sockets, resume `target`; seconds until it is connected."""
    for client in clients:
        if client is not target:
            client.pause()
    driver.disconnect("abrupt")
    wait_for(lambda: live_connections(driver) == 0, 5, "the sockets to drop")
    started = time.monotonic()
    target.resume()
    wait_for(lambda: live_connections(driver) >= 1, timeout, f"{target.name} to reconnect")
    return time.monotonic() - started


def serve_bare(adapter: str, pbr: bool) -> int:
    """A bolt app that only acks `/ops`; prints `ready` once connected, runs until SIGTERM."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    client = WebClient(base_url=os.environ["SLACK_API_URL"], token=os.environ["SLACK_BOT_TOKEN"])
    app = App(client=client, process_before_response=pbr)

    @app.command("/ops")
    def on_command(ack: Ack) -> None:
        ack()

    if adapter == "websocket_client":
        from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler as Handler
    else:
        from slack_bolt.adapter.socket_mode import SocketModeHandler as Handler  # type: ignore[assignment]
    handler = Handler(app, app_token=os.environ["SLACK_APP_TOKEN"])
    handler.connect()  # type: ignore[no-untyped-call]
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    os._exit(0)  # handler.close() can take 10 s (docs/sandbox-slack.md); nothing to flush


# ----------------------------------------------------------------------------- the benchmark
class Sender:
    """Types `/ops help` at a fixed rate from a pool of threads; records when each was sent."""

    def __init__(self, driver: SlackDriver, threads: int = 12) -> None:
        self.driver = driver
        self.threads = threads

    def send(self, rate: float, count: int, first_user: int = 0) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = [{} for _ in range(count)]
        lock = threading.Lock()
        next_index = [0]
        start = time.perf_counter() + 0.05

        def work() -> None:
            while True:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= count:
                    return
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # the benchmark's schedule
                user = USERS[(first_user + index) % len(USERS)]
                at = time.time()
                try:
                    made = self.driver.send_command(user=user, channel=CHANNEL, command="/ops", text="help")
                    sent[index] = {"user": user, "at": at, "envelope_id": made["envelope_id"]}
                except Exception as exc:  # the stand-in refused or timed out: counted as not sent
                    sent[index] = {"user": user, "at": at, "error": str(exc)}

        pool = [threading.Thread(target=work, daemon=True) for _ in range(self.threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return sent


def _acks_for(driver: SlackDriver, ids: set[str]) -> list[dict[str, Any]]:
    return [a for a in driver.acks() if a["envelope_id"] in ids]


def one_turn(
    client: Client,
    driver: SlackDriver,
    sender: Sender,
    *,
    rate: int,
    seconds: float,
    first_user: int,
    answer_timeout: float,
) -> dict[str, Any]:
    count = max(1, int(rate * seconds))
    depths: list[float] = []
    polling = threading.Event()

    def poll_queue() -> None:
        while not polling.is_set():
            depth = client.work_queue()
            if depth is not None:
                depths.append(depth)
            polling.wait(0.05)

    poller = threading.Thread(target=poll_queue, daemon=True)
    if client.metrics_port is not None:
        poller.start()
    began = time.perf_counter()
    sent = sender.send(rate, count, first_user)
    send_seconds = time.perf_counter() - began
    ok = [s for s in sent if "envelope_id" in s]
    ids = {s["envelope_id"] for s in ok}
    wait_for(
        lambda: (
            all(a["outcome"] not in ("pending", "delivered") for a in _acks_for(driver, ids))
            and len(_acks_for(driver, ids)) >= len(ids)
        ),
        15,
        "every ack",
        step=0.25,
    )
    acks = _acks_for(driver, ids)
    latencies = [float(a["latency_ms"]) for a in acks if a["acked"]]
    result: dict[str, Any] = {
        "who": client.name,
        "rate": rate,
        "sent": len(ok),
        "send_errors": len(sent) - len(ok),
        "achieved_rate": len(ok) / send_seconds if send_seconds else math.nan,
        "acked": len(latencies),
        "not_acked": len(acks) - len(latencies),
        "ack_ms": spread(latencies),
        "ack_ms_all": latencies,
    }
    if client.metrics_port is None:
        return result
    # the bot: wait for its answers (one ephemeral per command: help, busy or slow down)
    first_at = min((s["at"] for s in ok), default=time.time())
    users = {s["user"] for s in ok}

    def answers() -> list[dict[str, Any]]:
        return [
            e
            for e in driver.state().get("ephemerals", [])
            if e.get("to_user") in users and float(e["ts"]) >= first_at - 0.01 and e.get("source") != "slack"
        ]

    wait_for(lambda: (client.work_queue() or 0) == 0, answer_timeout, "the bot's queue to drain", step=0.2)
    wait_for(lambda: len(answers()) >= len(ok), answer_timeout, "every answer", step=1.0)
    polling.set()
    if poller.is_alive():
        poller.join()
    got = answers()
    # match per person, in order: the k-th answer to a person answers their k-th command
    by_user: dict[str, list[dict[str, Any]]] = {}
    for answer in sorted(got, key=lambda e: float(e["ts"])):
        by_user.setdefault(answer["to_user"], []).append(answer)
    kinds = {"help": 0, "busy": 0, "slow_down": 0}
    answer_s: list[float] = []
    seen: dict[str, int] = {}
    for command in sorted(ok, key=lambda s: s["at"]):
        index = seen.get(command["user"], 0)
        seen[command["user"]] = index + 1
        mine = by_user.get(command["user"], [])
        if index >= len(mine):
            continue
        answer = mine[index]
        text = str(answer.get("text", "")).lower()
        kind = "busy" if BUSY_WORD in text else "slow_down" if SLOW_WORD in text else "help"
        kinds[kind] += 1
        answer_s.append(max(0.0, float(answer["ts"]) - command["at"]))
    result.update(
        answered=len(answer_s),
        answers=kinds,
        answer_s=spread(answer_s),
        queue_max=max(depths) if depths else math.nan,
        queue_limit=QUEUE_LIMIT,
    )
    return result


def merge(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Several turns of one client at one rate, as one row."""
    latencies = [x for t in turns for x in t["ack_ms_all"]]
    row: dict[str, Any] = {
        "who": turns[0]["who"],
        "rate": turns[0]["rate"],
        "turns": len(turns),
        "sent": sum(t["sent"] for t in turns),
        "send_errors": sum(t["send_errors"] for t in turns),
        "achieved_rate": min(t["achieved_rate"] for t in turns),
        "acked": sum(t["acked"] for t in turns),
        "not_acked": sum(t["not_acked"] for t in turns),
        "ack_ms": spread(latencies),
        "acks_over_50ms": sum(1 for x in latencies if x > 50),
    }
    if "answered" in turns[0]:
        row.update(
            answered=sum(t["answered"] for t in turns),
            answers={k: sum(t["answers"][k] for t in turns) for k in turns[0]["answers"]},
            # the worst turn's spread: answers' latencies of different turns are not one population
            answer_s=max(
                (t["answer_s"] for t in turns), key=lambda s: s["p99"] if not math.isnan(s["p99"]) else -1
            ),
            queue_max=max(t["queue_max"] for t in turns),
            queue_limit=QUEUE_LIMIT,
        )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="50,500", help="commands per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long each turn sends")
    parser.add_argument("--rounds", type=int, default=2, help="turns per client and rate, interleaved")
    parser.add_argument("--quick", action="store_true", help="one round, 1 s at 50/s, 0.4 s at 500/s")
    parser.add_argument("--bare", choices=("websocket_client", "builtin"), help=argparse.SUPPRESS)
    parser.add_argument("--pbr", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare:
        return serve_bare(args.bare, args.pbr)
    rates = [int(r) for r in args.rates.split(",") if r]
    seconds_for: Callable[[int], float] = lambda rate: args.seconds  # noqa: E731
    rounds, answer_timeout = args.rounds, 180.0
    if args.quick:
        rates, rounds, answer_timeout = [50, 500], 1, 30.0
        seconds_for = lambda rate: 1.0 if rate <= 50 else 0.4  # noqa: E731
    box = machine()
    print(f"{box['cores']} cores, {box['memory_mb']} MB; rates {rates}; {rounds} round(s)", flush=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
        state = Path(tmp)
        sandbox = Sandbox(state, limits=False)
        clients: list[Client] = []
        try:
            driver, world = sandbox.driver, sandbox.world
            for user in USERS:
                driver.add_user(user, name=user.lower(), email=f"{user.lower()}@example.com")
            driver.add_channel(CHANNEL, name="bench")
            bot = start_bot(world, state)
            clients.append(bot)
            wait_for(lambda: live_connections(driver) >= 1, 60, "the bot to connect")
            clients.append(start_bare(world, state, adapter="websocket_client", pbr=True, name="bolt_pbr"))
            clients.append(
                start_bare(world, state, adapter="websocket_client", pbr=False, name="bolt_default")
            )
            sender = Sender(driver)
            turns: dict[tuple[str, int], list[dict[str, Any]]] = {}
            first_user = 0
            header = f"{'who':>13} {'rate':>5} {'sent':>5} {'acked':>5} {'p50 ms':>7} {'p95 ms':>7}"
            header += f" {'p99 ms':>7} {'max ms':>7}"
            print(header + f" {'ans p50 s':>9} {'ans p99 s':>9} {'busy':>5} {'queue':>5}", flush=True)
            for rate in rates:
                for _ in range(rounds):
                    for client in clients:
                        turn_to(client, clients, driver)
                        # a few commands first, so the turn starts on a warm connection
                        sender.send(20, 3, first_user)
                        first_user += 3
                        time.sleep(0.3)
                        turn = one_turn(
                            client,
                            driver,
                            sender,
                            rate=rate,
                            seconds=seconds_for(rate),
                            first_user=first_user,
                            answer_timeout=answer_timeout,
                        )
                        first_user += turn["sent"]
                        turns.setdefault((client.name, rate), []).append(turn)
                        a = turn["ack_ms"]
                        line = (
                            f"{client.name:>13} {rate:>5} {turn['sent']:>5} {turn['acked']:>5} "
                            f"{a['p50']:>7.1f} {a['p95']:>7.1f} {a['p99']:>7.1f} {a['max']:>7.1f}"
                        )
                        if "answer_s" in turn:
                            s = turn["answer_s"]
                            line += (
                                f" {s['p50']:>9.2f} {s['p99']:>9.2f} {turn['answers']['busy']:>5} "
                                f"{turn['queue_max']:>5.0f}"
                            )
                        print(line, flush=True)
            for group in turns.values():
                results.append(merge(group))
        finally:
            for client in clients:
                client.stop()
            sandbox.stop()
    ratios: dict[str, dict[str, float]] = {}
    for rate in rates:
        rows = {r["who"]: r for r in results if r["rate"] == rate}
        if {"bot", "bolt_pbr", "bolt_default"} <= rows.keys():
            bot_ack = rows["bot"]["ack_ms"]
            ratios[str(rate)] = {
                f"{q}_vs_{floor}": bot_ack[q] / rows[floor]["ack_ms"][q]
                if rows[floor]["ack_ms"][q]
                else math.nan
                for q in ("p50", "p99")
                for floor in ("bolt_pbr", "bolt_default")
            }
    print(f"bot over the floors: {json.dumps(clean(ratios))}", flush=True)
    print(json.dumps(clean({"benchmark": "ack_latency", **box, "results": results, "ratios": ratios})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
