"""How many commands a second do one, two and three replicas answer together? Prints throughput.

Starts the sandbox world (`python -m bot.sandbox`, Slack's rate limits off) and, for each replica
count, that many `chatops run` processes on one PostgreSQL database (a fresh schema each time),
with leader election on (a Lease in the sandbox cluster), as a deployment with several replicas
runs. Each Socket Mode envelope goes to one of the app's connections, as Slack does, so the
replicas share the commands. It types `/ops help` (a read: the person's subjects, every verb's
RBAC check, an audit row, the answer through `response_url`) from 250 people as fast as the
sender can, with each replica's `slack.queue_limit` raised and its per-person limit off so that
no command is refused, and reports:

- commands answered per second: commands sent / (last answer - first command);
- answer latency p50/p95/p99 (command sent to its ephemeral answer, per person in order);
- ack latency p99/max as the stand-in measured it;
- commands each replica answered (`chatops_commands_total` on its `/metrics`), CPU seconds of
  each replica and its acker.

Ends with one JSON line of figures.

    .venv/bin/python benchmarks/scale_out.py [--replicas 1,2,3] [--commands 1500] [--rate 600]
        [--database-url URL] [--quick]

The database comes from `--database-url`, else `CHATOPS_TEST_POSTGRES_URL` (what the test suite
uses). `--quick`: replicas 1 and 2, 120 commands, in well under a minute; without PostgreSQL it
falls back to one SQLite file (and says so), because the test suite runs it on machines that
may have none.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from ack_latency import (
    CHANNEL,
    USERS,
    Client,
    Sandbox,
    Sender,
    clean,
    live_connections,
    machine,
    spread,
    start_bot,
    wait_for,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.sandbox.slack import SlackDriver

POSTGRES_ENV = "CHATOPS_TEST_POSTGRES_URL"
WARM_UP = 250  # one command per person first: their directory lookups are not what is measured


class Schema:
    """A fresh PostgreSQL schema (through `search_path`), dropped afterwards; or a SQLite file."""

    def __init__(self, base_url: str | None, state: Path) -> None:
        self.base = base_url
        self.name = f"bench_{secrets.token_hex(4)}"
        if base_url is None:
            self.url = f"sqlite:///{state / 'chatops.db'}"
            return
        url = make_url(base_url)
        self.url = url.update_query_dict({"options": f"-csearch_path={self.name}"}).render_as_string(
            hide_password=False
        )
        with create_engine(url).begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {self.name}"))

    def drop(self) -> None:
        if self.base is None:
            return
        engine = create_engine(make_url(self.base))
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {self.name} CASCADE"))
        engine.dispose()


def commands_answered(client: Client) -> float:
    """The sum of `chatops_commands_total` on a replica's `/metrics`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{client.metrics_port}/metrics", timeout=5) as r:
            body = r.read().decode()
    except OSError:
        return float("nan")
    return sum(float(v) for v in re.findall(r"^chatops_commands_total\{[^}]*\} (\S+)$", body, re.MULTILINE))


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children that are still alive (the acker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids.extend(int(child) for child in (task / "children").read_text().split())
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def answers_since(driver: SlackDriver, users: set[str], since: float) -> list[dict[str, Any]]:
    return [
        e
        for e in driver.state().get("ephemerals", [])
        if e.get("to_user") in users and float(e["ts"]) >= since - 0.01 and e.get("source") != "slack"
    ]


def send_and_wait(
    driver: SlackDriver, sender: Sender, *, rate: float, count: int, timeout: float
) -> dict[str, Any]:
    began = time.time()
    sent = [s for s in sender.send(rate, count) if "envelope_id" in s]
    users = {s["user"] for s in sent}
    wait_for(lambda: len(answers_since(driver, users, began)) >= len(sent), timeout, "every answer", step=0.5)
    got = sorted(answers_since(driver, users, began), key=lambda e: float(e["ts"]))
    by_user: dict[str, list[float]] = {}
    for answer in got:
        by_user.setdefault(str(answer["to_user"]), []).append(float(answer["ts"]))
    waits: list[float] = []
    seen: dict[str, int] = {}
    for command in sorted(sent, key=lambda s: s["at"]):
        index = seen.get(command["user"], 0)
        seen[command["user"]] = index + 1
        mine = by_user.get(command["user"], [])
        if index < len(mine):
            waits.append(max(0.0, mine[index] - command["at"]))
    first = min((s["at"] for s in sent), default=began)
    last = max((float(e["ts"]) for e in got), default=first)
    ids = {s["envelope_id"] for s in sent}
    acks = [float(a["latency_ms"]) for a in driver.acks() if a["envelope_id"] in ids and a["acked"]]
    busy = sum(1 for e in got if "busy" in str(e.get("text", "")).lower())
    return {
        "sent": len(sent),
        "answered": len(waits),
        "busy": busy,
        "seconds": last - first,
        "commands_per_s": len(waits) / (last - first) if last > first else float("nan"),
        "answer_s": spread(waits),
        "ack_ms": spread(acks),
    }


def measure(
    world: dict[str, Any],
    state: Path,
    database: str | None,
    *,
    replicas: int,
    commands: int,
    rate: float,
    timeout: float,
) -> dict[str, Any]:
    driver = SlackDriver(world["slack"]["control_url"])
    schema = Schema(database, state)
    cluster = world["clusters"]["dev"]
    clients: list[Client] = []
    try:
        for index in range(replicas):
            home = state / f"replica-{replicas}-{index}"
            home.mkdir()
            config = {
                "slack": {"queue_limit": 100_000, "commands_per_minute": 0},
                "database": {"url": schema.url if database is None else f"sqlite:///{home / 'unused.db'}"},
                "clusters": [
                    {
                        "name": "dev",
                        "auth": {"kind": "token", "server": cluster["api_url"], "token_env": "BENCH_DEV"},
                    }
                ],
                "leader_election": {
                    "enabled": True,
                    "cluster": "dev",
                    "namespace": "default",
                    "identity": f"replica-{index}",
                },
            }
            env = {"BENCH_DEV": cluster["token"]}
            if database is not None:
                env["DATABASE_URL"] = schema.url  # a password is never written in the file
            clients.append(start_bot(world, home, config=config, env=env))
            # one at a time: the first migrates the fresh schema, the others find it migrated
            if not wait_for(lambda: live_connections(driver) >= len(clients), 60, "the replica to connect"):
                raise RuntimeError(
                    f"replica {index} did not connect:\n{(home / 'bot.log').read_text()[-3000:]}"
                )
        sender = Sender(driver)
        warm = send_and_wait(
            driver, sender, rate=min(rate, 200.0), count=min(WARM_UP, commands), timeout=timeout
        )
        before = [commands_answered(c) for c in clients]
        cpu_before = [cpu_seconds(c.process.pid) for c in clients]
        result = send_and_wait(driver, sender, rate=rate, count=commands, timeout=timeout)
        per_replica = [commands_answered(c) - b for c, b in zip(clients, before, strict=True)]
        cpu = [cpu_seconds(c.process.pid) - b for c, b in zip(clients, cpu_before, strict=True)]
        return {
            "replicas": replicas,
            "database": "postgresql" if database else "sqlite",
            "warm_up_answered": warm["answered"],
            **result,
            "per_replica_commands": per_replica,
            "per_replica_cpu_s": cpu,
        }
    finally:
        for client in clients:
            client.stop()
        schema.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replicas", default="1,2,3", help="replica counts, comma-separated")
    parser.add_argument("--commands", type=int, default=1500, help="commands per measurement")
    parser.add_argument("--rate", type=float, default=600.0, help="commands a second the sender aims for")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the answers")
    parser.add_argument(
        "--database-url", default=os.environ.get(POSTGRES_ENV), help=f"default: ${POSTGRES_ENV}"
    )
    parser.add_argument("--quick", action="store_true", help="replicas 1 and 2, 120 commands")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.replicas.split(",") if n]
    commands, rate = args.commands, args.rate
    if args.quick:
        counts, commands, rate = [1, 2], 120, 200.0
    if args.database_url is None:
        if not args.quick:
            parser.error(f"several replicas need PostgreSQL: pass --database-url or set {POSTGRES_ENV}")
        print("no PostgreSQL configured: one SQLite file for every replica (--quick only)", flush=True)
    figures = machine()
    print(
        f"{figures['cores']} cores, {figures['memory_mb']} MB; /ops help from {len(USERS)} people", flush=True
    )
    print(
        f"{'replicas':>8} {'sent':>5} {'answered':>8} {'busy':>4} {'cmd/s':>6} {'ans p50 s':>9} "
        f"{'p95 s':>6} {'p99 s':>6} {'ack p99 ms':>10} {'ack max':>7}  per replica (commands, cpu s)",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        state = Path(tmp)
        sandbox = Sandbox(state, limits=False)
        try:
            for user in USERS:
                sandbox.driver.add_user(user, name=user.lower(), email=f"{user.lower()}@example.com")
            sandbox.driver.add_channel(CHANNEL, name="bench")
            for replicas in counts:
                row = measure(
                    sandbox.world,
                    state,
                    args.database_url,
                    replicas=replicas,
                    commands=commands,
                    rate=rate,
                    timeout=args.timeout,
                )
                results.append(row)
                shares = ", ".join(
                    f"{int(n)} / {c:.1f}"
                    for n, c in zip(row["per_replica_commands"], row["per_replica_cpu_s"], strict=True)
                )
                answer, ack = row["answer_s"], row["ack_ms"]
                print(
                    f"{replicas:>8} {row['sent']:>5} {row['answered']:>8} {row['busy']:>4} "
                    f"{row['commands_per_s']:>6.0f} {answer['p50']:>9.2f} {answer['p95']:>6.2f} "
                    f"{answer['p99']:>6.2f} {ack['p99']:>10.1f} {ack['max']:>7.1f}  {shares}",
                    flush=True,
                )
        finally:
            sandbox.stop()
    print(json.dumps(clean({"benchmark": "scale_out", **figures, "results": results})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
