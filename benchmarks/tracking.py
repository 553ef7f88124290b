"""How soon does a run's final state reach Slack when many runs are in flight? Prints lag figures.

For each size N (runs spread over 10 channels) and with the Slack stand-in's rate limits off and
on, it starts the sandbox world (`python -m bot.sandbox`) and the real bot (`chatops run`), each in
its own process, types `/ops run hello` N times, and measures, per run, the lag from the moment
its Workflow ended in the cluster (seen by a watch of this script) to the moment its final state
was visible in Slack: the summary reply or the parent's final edit, whichever came first (read
back from the messages' ts). Beside it: 429s the bot received, time from the first end to the last
final state, and to the last final message (summary and final edit both delivered), against the
bound the rate budget imposes; Slack and Kubernetes calls per run; the bot's CPU seconds and peak
RSS. A naive tracker written here (polls every 2 s, posts and edits at once, ignores Slack's
budgets, gives up on a 429) runs the same N as the baseline. Ends with one JSON line of figures.

    .venv/bin/python benchmarks/tracking.py [--sizes 10,50,200,1000] [--limits off,on] [--quick]

`--quick` runs 4 runs over 2 channels, limits off, in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes import watch as kube_watch
from scale_out import Schema
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import SlackDriver

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
ADMIN = "UBENCH01"
G, V, PLURAL = "argoproj.io", "v1alpha1", "workflows"
NAMESPACE = "argo"
FINAL_PHASES = {"Succeeded", "Failed", "Error"}
SLACK_UPDATE_BURST, SLACK_UPDATES_PER_MINUTE = 50, 50  # the stand-in's Tier 3
CHANNEL_POSTS_PER_SECOND = 1.0


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def bound_seconds(runs: int, channels: int, limits: bool) -> float:
    """Time from runs ending together to the last final the rate budget allows at best.

    Limits off: one summary per run, one post a second per channel (the first goes at once).
    Limits on: one final edit per run within Tier 3 (a burst, then 50 a minute).
    """
    per_channel = math.ceil(runs / channels)
    posts = max(1.0, (per_channel - 1) / CHANNEL_POSTS_PER_SECOND) if per_channel > 1 else 1.0
    if not limits:
        return posts
    edits = max(0, runs - SLACK_UPDATE_BURST) * 60.0 / SLACK_UPDATES_PER_MINUTE
    return max(posts, edits)


class Sandbox:
    """`python -m bot.sandbox` in its own process; reads its one JSON line."""

    def __init__(self, state: Path, *, limits: bool, time_scale: float) -> None:
        self.log = (state / "sandbox.log").open("w")
        command = [PYTHON, "-m", "bot.sandbox", "--state-dir", str(state / "world"), "--seed"]
        command += ["--clusters", "dev", "--time-scale", str(time_scale), "--log-level", "DEBUG"]
        if not limits:
            command.append("--no-slack-rate-limits")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox did not start; see {self.log.name}")
        self.world: dict[str, Any] = json.loads(line)
        self.log_path = Path(self.log.name)

    def kube_requests(self) -> int:
        """Requests the Kubernetes stand-in served (its access log, at DEBUG)."""
        self.log.flush()
        text = self.log_path.read_text(errors="replace")
        return len(re.findall(r"bot\.sandbox\.kube[\w.]*: \S+ \"(?:GET|POST|PUT|PATCH|DELETE) ", text))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Ends:
    """Watches Workflows and records when each reached a final phase (wall clock)."""

    def __init__(self, api: kube_client.ApiClient) -> None:
        self.custom = kube_client.CustomObjectsApi(api)
        self.at: dict[str, float] = {}  # workflow name -> end time
        self.labels: dict[str, dict[str, str]] = {}
        self._stop = threading.Event()
        self._watch = kube_watch.Watch()  # type: ignore[no-untyped-call]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self._watch.stream(  # type: ignore[no-untyped-call]
                    self.custom.list_namespaced_custom_object, G, V, NAMESPACE, PLURAL, timeout_seconds=30
                ):
                    obj = event["object"]
                    name = obj["metadata"]["name"]
                    self.labels[name] = obj["metadata"].get("labels") or {}
                    phase = (obj.get("status") or {}).get("phase")
                    if phase in FINAL_PHASES and name not in self.at:
                        self.at[name] = time.time()
                    if self._stop.is_set():
                        return
            except Exception:  # the stream ends or the stand-in stops: look again
                if self._stop.wait(0.2):
                    return

    def stop(self) -> None:
        self._stop.set()
        self._watch.stop()  # type: ignore[no-untyped-call]


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)  # a benchmark polling the stand-in, not a test
    print(f"  (gave up waiting for {what} after {timeout:.0f}s)", file=sys.stderr)
    return False


def _proc_figures(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS in MB of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


def _children(pid: int) -> list[int]:
    """The live children of `pid` (the bot's Socket Mode acker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _submitted(driver: SlackDriver, sent: list[float]) -> dict[str, float]:
    """How long people waited for "Submitted": the n-th answer against the n-th command sent."""
    answers = sorted(
        float(e["ts"]) for e in driver.ephemerals(user=ADMIN) if "Submitted" in str(e.get("text", ""))
    )
    waits = [max(0.0, answer - sent_at) for answer, sent_at in zip(answers, sorted(sent), strict=False)]
    return {
        "submitted": len(answers),
        "submitted_p50": _percentile(waits, 0.5),
        "submitted_p95": _percentile(waits, 0.95),
        "submitted_max": max(waits) if waits else math.nan,
        "submitted_last_s": (answers[-1] - min(sent)) if answers and sent else math.nan,
    }


def _channels(count: int) -> list[str]:
    return [f"CBENCH{i:03d}" for i in range(count)]


def _seed(driver: SlackDriver, channels: list[str]) -> None:
    driver.add_user(ADMIN, name="bench", email="bench@example.com")
    for channel in channels:
        driver.add_channel(channel, name=channel.lower())


def _collect(driver: SlackDriver, channels: list[str]) -> dict[str, dict[str, float]]:
    """Per run id: when its summary was posted, when its parent was last edited (Slack ts)."""
    seen: dict[str, dict[str, float]] = {}
    for channel in channels:
        for message in driver.messages(channel):
            key = str(((message.get("metadata") or {}).get("event_payload") or {}).get("key", ""))
            if not key.startswith("parent:"):
                continue
            run_id = key.removeprefix("parent:")
            entry = seen.setdefault(run_id, {})
            if message.get("edited"):
                entry["edited"] = float(message["edited"]["ts"])
            entry["final_text"] = 1.0 if _looks_final(str(message.get("text", ""))) else 0.0
            for reply in driver.replies(channel, message["ts"])[1:]:
                rkey = str(((reply.get("metadata") or {}).get("event_payload") or {}).get("key", ""))
                if rkey.startswith("summary:"):
                    entry["summary"] = float(reply["ts"])
    return seen


def _looks_final(text: str) -> bool:
    return any(word in text for word in ("Succeeded", "Failed", "Stopped", "succeeded", "failed", "Error"))


def run_bot(
    runs: int,
    channels: list[str],
    *,
    limits: bool,
    time_scale: float,
    timeout: float,
    database_url: str | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        state = Path(tmp)
        sandbox = Sandbox(state, limits=limits, time_scale=time_scale)
        bot: subprocess.Popen[str] | None = None
        ends: Ends | None = None
        schema = Schema(database_url, state)
        try:
            world = sandbox.world
            driver = SlackDriver(world["slack"]["control_url"])
            _seed(driver, channels)
            cluster = world["clusters"]["dev"]
            config = {
                "slack": {
                    "command": "/ops",
                    "team_id": world["slack"]["team_id"],
                    "api_url": world["slack"]["api_url"],
                    "commands_per_minute": 10_000,
                },
                "database": {"url": f"sqlite:///{state / 'chatops.db'}"},
                "clusters": [
                    {
                        "name": "dev",
                        "auth": {"kind": "token", "server": cluster["api_url"], "token_env": "BENCH_DEV"},
                    }
                ],
                "rbac": {"policy": f"g, slack:{ADMIN}, role:admin\n"},
                "server": {"port": 0},
            }
            (state / "chatops.yaml").write_text(yaml.safe_dump(config))
            env = dict(os.environ)
            if database_url is not None:
                env["DATABASE_URL"] = schema.url  # a fresh schema; the password stays out of the file
            env.update(
                SLACK_BOT_TOKEN=world["slack"]["bot_token"],
                SLACK_APP_TOKEN=world["slack"]["app_token"],
                BENCH_DEV=cluster["token"],
            )
            bot_log = (state / "bot.log").open("w")
            bot = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "bot",
                    "run",
                    "--config",
                    str(state / "chatops.yaml"),
                    "--log-level",
                    "WARNING",
                ],
                stdout=bot_log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                text=True,
            )
            _wait(lambda: bool(driver.connections().get("connections")), 60, "the bot to connect")
            api = kube_config.new_client_from_config(config_file=world["kubeconfig"])  # type: ignore[no-untyped-call]
            ends = Ends(api)
            kube_before = sandbox.kube_requests()
            slack_before = len(driver.calls())
            started = time.time()
            sent: list[float] = []
            for index in range(runs):
                sent.append(time.time())
                driver.send_command(
                    user=ADMIN,
                    channel=channels[index % len(channels)],
                    command="/ops",
                    text="run hello --cluster dev",
                )
            _wait(lambda: len(ends.at) >= runs, timeout, "every workflow to end")
            deadline_ok = _wait(
                lambda: (
                    sum(
                        1
                        for e in _collect(driver, channels).values()
                        if "summary" in e and e.get("final_text")
                    )
                    >= runs
                ),
                timeout,
                "every final in Slack",
            )
            cpu, rss = _proc_figures(bot.pid)
            acker_cpu, acker_rss = 0.0, 0.0
            for child in _children(bot.pid):
                child_cpu, child_rss = _proc_figures(child)
                acker_cpu, acker_rss = acker_cpu + child_cpu, acker_rss + child_rss
            submitted = _submitted(driver, sent)
            seen = _collect(driver, channels)
            calls = driver.calls()[slack_before:]
            kube = sandbox.kube_requests() - kube_before
            by_run = {labels.get("argo-chatops/run-id"): name for name, labels in ends.labels.items()}
            lags, last_final, last_message = [], 0.0, 0.0
            first_end = min(ends.at.values()) if ends.at else started
            delivered = 0
            for run_id, entry in seen.items():
                name = by_run.get(run_id)
                if name is None or name not in ends.at:
                    continue
                shown = [entry[k] for k in ("summary",) if k in entry]
                if entry.get("final_text") and "edited" in entry:
                    shown.append(entry["edited"])
                if not shown:
                    continue
                delivered += 1
                visible = min(shown)
                lags.append(max(0.0, visible - ends.at[name]))
                last_final = max(last_final, visible - first_end)
                last_message = max(last_message, max(shown) - first_end)
            return {
                "runs": runs,
                "limits": limits,
                "ended": len(ends.at),
                "finals_delivered": delivered,
                "all_in_time": deadline_ok,
                "lag_p50": _percentile(lags, 0.5),
                "lag_p95": _percentile(lags, 0.95),
                "lag_max": max(lags) if lags else math.nan,
                "last_final_s": last_final,
                "last_final_message_s": last_message,
                "bound_s": bound_seconds(runs, len(channels), limits),
                "slack_429": sum(1 for c in calls if c.get("status") == 429),
                "slack_calls_per_run": len(calls) / runs,
                "kube_calls_per_run": kube / runs,
                "cpu_s": cpu,
                "peak_rss_mb": rss,
                "acker_cpu_s": acker_cpu,
                "acker_peak_rss_mb": acker_rss,
                **submitted,
            }
        finally:
            if ends is not None:
                ends.stop()
            if bot is not None:
                bot.send_signal(signal.SIGTERM)
                try:
                    bot.wait(30)
                except subprocess.TimeoutExpired:
                    bot.kill()
                    bot.wait()
            sandbox.stop()
            schema.drop()


def run_naive(
    runs: int, channels: list[str], *, limits: bool, time_scale: float, timeout: float
) -> dict[str, Any]:
    """The baseline: poll the cluster every 2 s, post and edit at once, give up on any error."""
    with tempfile.TemporaryDirectory(prefix="bench-naive-") as tmp:
        sandbox = Sandbox(Path(tmp), limits=limits, time_scale=time_scale)
        ends: Ends | None = None
        try:
            world = sandbox.world
            driver = SlackDriver(world["slack"]["control_url"])
            _seed(driver, channels)
            slack = WebClient(base_url=world["slack"]["api_url"], token=world["slack"]["bot_token"])
            api = kube_config.new_client_from_config(config_file=world["kubeconfig"])  # type: ignore[no-untyped-call]
            custom = kube_client.CustomObjectsApi(api)
            ends = Ends(api)
            kube_calls, rate_limited, errors = 0, 0, 0
            started_cpu = time.process_time()
            parents: dict[str, tuple[str, str | None]] = {}  # name -> (channel, parent ts)
            for index in range(runs):
                body = {
                    "apiVersion": f"{G}/{V}",
                    "kind": "Workflow",
                    "metadata": {"generateName": "naive-", "namespace": NAMESPACE, "labels": {"naive": "1"}},
                    "spec": {"workflowTemplateRef": {"name": "hello"}},
                }
                made = cast(
                    dict[str, Any], custom.create_namespaced_custom_object(G, V, NAMESPACE, PLURAL, body)
                )
                kube_calls += 1
                channel = channels[index % len(channels)]
                ts: str | None = None
                try:
                    ts = slack.chat_postMessage(channel=channel, text=f"{made['metadata']['name']}: Pending")[
                        "ts"
                    ]
                except SlackApiError as exc:
                    rate_limited += exc.response.status_code == 429
                    errors += 1
                parents[made["metadata"]["name"]] = (channel, ts)
            shown: dict[str, str] = {}
            visible: dict[str, float] = {}
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(visible) + errors < runs * 3:
                listed = cast(
                    dict[str, Any],
                    custom.list_namespaced_custom_object(G, V, NAMESPACE, PLURAL, label_selector="naive=1"),
                )
                kube_calls += 1
                for obj in listed["items"]:
                    name = obj["metadata"]["name"]
                    status = obj.get("status") or {}
                    phase = status.get("phase", "Pending")
                    channel, ts = parents.get(name, (channels[0], None))
                    if ts is None or shown.get(name) == f"{phase}{len(status.get('nodes') or {})}":
                        continue
                    shown[name] = f"{phase}{len(status.get('nodes') or {})}"
                    try:
                        slack.chat_postMessage(
                            channel=channel,
                            thread_ts=ts,
                            text=f"{phase}: {len(status.get('nodes') or {})} nodes",
                        )
                        if phase in FINAL_PHASES:
                            visible.setdefault(name, time.time())
                        slack.chat_update(channel=channel, ts=ts, text=f"{name}: {phase}")
                        if phase in FINAL_PHASES:
                            visible.setdefault(name, time.time())
                    except SlackApiError as exc:
                        rate_limited += exc.response.status_code == 429
                        errors += 1
                if len(ends.at) >= runs and all(n in visible or parents[n][1] is None for n in ends.at):
                    break
                time.sleep(2.0)  # the naive tracker's poll
            lags = [max(0.0, visible[n] - ends.at[n]) for n in visible if n in ends.at]
            first_end = min(ends.at.values()) if ends.at else time.time()
            slack_calls = len(driver.calls())
            return {
                "runs": runs,
                "limits": limits,
                "finals_delivered": len(visible),
                "lost": runs - len(visible),
                "lag_p50": _percentile(lags, 0.5),
                "lag_p95": _percentile(lags, 0.95),
                "lag_max": max(lags) if lags else math.nan,
                "last_final_s": max((visible[n] - first_end for n in visible), default=math.nan),
                "slack_429": rate_limited,
                "slack_calls_per_run": slack_calls / runs,
                "kube_calls_per_run": kube_calls / runs,
                "cpu_s": time.process_time() - started_cpu,
            }
        finally:
            if ends is not None:
                ends.stop()
            sandbox.stop()


def _fmt(value: float) -> str:
    return "   n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:6.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10,50,200,1000", help="runs in flight, comma-separated")
    parser.add_argument("--limits", default="off,on", help="Slack's rate limits: off, on or off,on")
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument(
        "--time-scale", type=float, default=0.5, help="scripted durations (hello: ~5 s at 0.5)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the finals")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL URL for the bot (a fresh schema per run; default: a SQLite file)",
    )
    parser.add_argument("--quick", action="store_true", help="4 runs over 2 channels, limits off")
    args = parser.parse_args(argv)
    if args.quick:
        sizes, limit_modes, channels, timeout = [4], [False], _channels(2), 60.0
        time_scale = 0.1
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        limit_modes = [mode.strip() == "on" for mode in args.limits.split(",") if mode.strip()]
        channels, timeout, time_scale = _channels(args.channels), args.timeout, args.time_scale
    cores = os.cpu_count() or 1
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    print(f"{cores} cores, {memory} MB; {len(channels)} channels; time scale {time_scale}", flush=True)
    header = (
        f"{'who':>6} {'limits':>6} {'runs':>5} {'final':>5} {'p50 s':>6} {'p95 s':>6} {'max s':>6} "
        f"{'last s':>6} {'bound':>6} {'all s':>6} {'429s':>5} {'slack/run':>9} {'kube/run':>8} "
        f"{'cpu s':>6} {'rss MB':>6} {'submit p95 s':>12} {'submit max s':>12}"
    )
    print(header, flush=True)
    results: list[dict[str, Any]] = []
    for limits in limit_modes:
        for runs in sizes:
            bot = run_bot(
                runs,
                channels,
                limits=limits,
                time_scale=time_scale,
                timeout=timeout,
                database_url=args.database_url,
            )
            bot["database"] = "postgresql" if args.database_url else "sqlite"
            bot["who"] = "bot"
            results.append(bot)
            print(
                f"{'bot':>6} {'on' if limits else 'off':>6} {runs:>5} {bot['finals_delivered']:>5} "
                f"{_fmt(bot['lag_p50'])} {_fmt(bot['lag_p95'])} {_fmt(bot['lag_max'])} "
                f"{_fmt(bot['last_final_s'])} {_fmt(bot['bound_s'])} {_fmt(bot['last_final_message_s'])} "
                f"{bot['slack_429']:>5} {bot['slack_calls_per_run']:>9.1f} {bot['kube_calls_per_run']:>8.1f} "
                f"{_fmt(bot['cpu_s'])} {_fmt(bot['peak_rss_mb'])} "
                f"{_fmt(bot['submitted_p95']):>12} {_fmt(bot['submitted_max']):>12}",
                flush=True,
            )
            if args.no_naive:
                continue
            naive = run_naive(runs, channels, limits=limits, time_scale=time_scale, timeout=timeout)
            naive["who"] = "naive"
            results.append(naive)
            print(
                f"{'naive':>6} {'on' if limits else 'off':>6} {runs:>5} {naive['finals_delivered']:>5} "
                f"{_fmt(naive['lag_p50'])} {_fmt(naive['lag_p95'])} {_fmt(naive['lag_max'])} "
                f"{_fmt(naive['last_final_s'])} {'':>6} {'':>6} {naive['slack_429']:>5} "
                f"{naive['slack_calls_per_run']:>9.1f} {naive['kube_calls_per_run']:>8.1f} "
                f"{_fmt(naive['cpu_s'])} {'':>6}",
                flush=True,
            )
    clean = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in results
    ]
    print(json.dumps({"benchmark": "tracking", "cores": cores, "memory_mb": memory, "results": clean}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
