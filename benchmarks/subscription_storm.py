"""A storm of subscribed syncs: hundreds of apps syncing at once after one Git push. Prints figures.

Starts the sandbox world (Slack stand-in with its rate limits on, Kubernetes stand-in with the
Argo CD application controller stand-in) and the real bot (`chatops run`), each in its own
process. The world runs in a child of this script (`--serve-sandbox`): the same `SandboxWorld`
as `python -m bot.sandbox`, and every `chat.postMessage` / `chat.update` the stand-in answers is
also written, with the message it was for (its outbox metadata key, or channel and ts) and its
status, to a file this script reads, so 429s can be told apart per message and per call.

It creates N Applications (`storm-cK-app-NNNN`, destination `dev`, a Deployment that is
Progressing for a few seconds and a Service) spread over K channels, each channel subscribed in
the bot's config file (`subscriptions:`, `storm-cK-*`, `sync-started,sync-succeeded,sync-failed`,
owner an admin). One warm-up sync in a channel of its own proves the bot follows Applications.
Then it starts all N syncs at once from outside the bot, as the Argo CD UI does: a merge patch
of each Application's `operation` (`initiatedBy.username` the e-mail of a Slack user, no
`chatops-run` info), and waits, on conditions with a timeout, until every app's parent shows
its final state and its thread has its summary.

Figures: time from the storm's start (the first patch) to each app's final state visible in
Slack (the summary reply, the parent's final edit or the parent posted in its final state,
whichever came first, a parent's moment taken from the stand-in's record of the call that first
carried its final state; p50, p95, max = last) and to every final message (summary and final
parent), against the bound the rate budget imposes; which of the three showed each final first,
and the slowest apps (when their sync ended, their parent was posted, their final showed); lag
from each sync's end to its final in Slack; 429s the stand-in answered, and any message or call
that got 429 twice; posts and edits; parents and summaries per app (exactly one each is the
goal); the bot's CPU and peak RSS. Ends with one JSON line.

    .venv/bin/python benchmarks/subscription_storm.py [--apps 200] [--channels 4] [--quick]

`--quick`: 12 apps over 2 channels, 1 s syncs, in well under a minute.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any, cast

import yaml
from ack_latency import clean, free_port, live_connections, machine, percentile, stop_process, wait_for
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes import watch as kube_watch

from bot.sandbox.slack import SlackDriver
from bot.sandbox.slack.web_api import ApiResponse, WebApi

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
ADMIN = "USTORM01"  # owns the subscriptions
PUSHER = "USTORM02"  # the person whose UI sync (e-mail) starts the storm
PUSHER_EMAIL = "pusher@example.com"
G, V, PLURAL, NAMESPACE = "argoproj.io", "v1alpha1", "applications", "argocd"
FINAL_PHASES = {"Succeeded", "Failed", "Error"}
WARMUP_CHANNEL, WARMUP_APP = "CSTORMWARM", "warmup-app-0000"
CHANNEL_POSTS_PER_SECOND = 1.0  # chat.postMessage, per channel (the stand-in: 60 a minute)
SLACK_UPDATE_BURST, SLACK_UPDATES_PER_MINUTE = 50, 50  # chat.update, per workspace (Tier 3)
TRACKED = ("chat.postMessage", "chat.update")


# ----------------------------------------------------------------------------- the sandbox child
def _message_ids(method: str, params: Mapping[str, Any]) -> tuple[str, str]:
    """(the message a call is for, the call itself): a post by its outbox key, an edit by channel and ts."""
    channel = str(params.get("channel") or "")
    metadata: Any = params.get("metadata")
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = None
    key = ""
    if isinstance(metadata, Mapping):
        payload = metadata.get("event_payload")
        if isinstance(payload, Mapping):
            key = str(payload.get("key") or "")
    content = json.dumps([params.get("text"), params.get("blocks")], sort_keys=True, default=str)
    digest = hashlib.sha1(content.encode()).hexdigest()[:12]
    if method == "chat.update":
        message = f"update {channel} {params.get('ts')}"
        return message, f"{message} {digest}"
    message = f"post {key}" if key else f"post {channel} {params.get('thread_ts')} {digest}"
    return message, message


def record_calls(web_api: WebApi, path: Path) -> None:
    """Also write every post and edit the stand-in answers (status, message, call) to `path`."""
    out = path.open("a")
    lock = threading.Lock()
    answer = web_api.call

    def call(method: str, *, token: str | None, params: dict[str, Any]) -> ApiResponse:
        response = answer(method, token=token, params=params)
        if method in TRACKED:
            message, call_id = _message_ids(method, params)
            line = {"method": method, "status": response.status, "message": message, "call": call_id}
            line["channel"] = str(params.get("channel") or "")
            line["final"] = _looks_final(str(params.get("text") or ""))
            line["ts"] = str(params.get("ts") if method == "chat.update" else response.body.get("ts") or "")
            line["time"] = time.time()
            with lock:
                out.write(json.dumps(line) + "\n")
                out.flush()
        return response

    web_api.call = call  # type: ignore[method-assign]


def serve_sandbox(state_dir: str, calls_file: str, time_scale: float) -> int:
    """`python -m bot.sandbox --clusters dev` with Slack's limits on, recording posts and edits."""
    from bot.sandbox.world import SandboxWorld

    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    world = SandboxWorld(state_dir, clusters=("dev",), time_scale=time_scale, slack_rate_limits=True)
    try:
        world.start()
        record_calls(world.slack.web_api, Path(calls_file))
        sys.stdout.write(json.dumps(world.describe()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        world.stop()
    return 0


class Sandbox:
    """This script's `--serve-sandbox` in its own process; reads its one JSON line."""

    def __init__(self, state: Path, *, time_scale: float) -> None:
        self.calls_path = state / "calls.jsonl"
        self.log = (state / "sandbox.log").open("w")
        command = [PYTHON, str(Path(__file__).resolve()), "--serve-sandbox", str(state / "world")]
        command += ["--calls-file", str(self.calls_path), "--time-scale", str(time_scale)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox did not start; see {self.log.name}")
        self.world: dict[str, Any] = json.loads(line)
        self.driver = SlackDriver(self.world["slack"]["control_url"])

    def calls(self) -> list[dict[str, Any]]:
        if not self.calls_path.exists():
            return []
        lines = self.calls_path.read_text().splitlines()
        return [cast(dict[str, Any], json.loads(line)) for line in lines if line.strip()]

    def stop(self) -> None:
        stop_process(self.process, timeout=30)
        self.log.close()


# ----------------------------------------------------------------------------- the world's apps
def app_name(channel_index: int, index: int) -> str:
    return f"storm-c{channel_index}-app-{index:04d}"


def channel_ids(count: int) -> list[str]:
    return [f"CSTORM{i:03d}" for i in range(count)]


def _application(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example.com/platform/deploy.git",
                "path": f"apps/{name}",
                "targetRevision": "main",
            },
            "destination": {"name": "dev", "namespace": name},
        },
    }


def _script(name: str, progressing_seconds: float) -> kube_client.V1ConfigMap:
    """The stand-in's script for one app: a Deployment Progressing for a while, then a Service."""
    resources = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "sandbox": {"health": "Healthy", "progressingSeconds": progressing_seconds},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}},
    ]
    return kube_client.V1ConfigMap(
        metadata=kube_client.V1ObjectMeta(name=f"sandbox-app-{name}", namespace=NAMESPACE),
        data={"resources.yaml": yaml.safe_dump(resources)},
    )


def create_apps(api: kube_client.ApiClient, names: list[str], progressing_seconds: float) -> None:
    custom, core = kube_client.CustomObjectsApi(api), kube_client.CoreV1Api(api)

    def create(name: str) -> None:
        core.create_namespaced_config_map(NAMESPACE, _script(name, progressing_seconds))
        custom.create_namespaced_custom_object(G, V, NAMESPACE, PLURAL, _application(name))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))


def _initialised(api: kube_client.ApiClient, names: set[str]) -> bool:
    """Every app has the status the controller stand-in's first reconciliation writes."""
    listed = kube_client.CustomObjectsApi(api).list_namespaced_custom_object(G, V, NAMESPACE, PLURAL)
    ready = {i["metadata"]["name"] for i in cast(dict[str, Any], listed)["items"] if i.get("status")}
    return names <= ready


def sync_from_outside(custom: kube_client.CustomObjectsApi, name: str) -> None:
    """What the Argo CD UI writes to start a sync: an `operation`, no `chatops-run` info."""
    operation = {
        "initiatedBy": {"username": PUSHER_EMAIL},
        "sync": {"revision": "main", "syncStrategy": {"hook": {}}},
        "retry": {},
    }
    custom.patch_namespaced_custom_object(G, V, NAMESPACE, PLURAL, name, {"operation": operation})


class Ends:
    """Watches Applications; records when each operation reached a final phase (wall clock)."""

    def __init__(self, api: kube_client.ApiClient, names: set[str]) -> None:
        self.custom = kube_client.CustomObjectsApi(api)
        self.names = names
        self.at: dict[str, float] = {}
        self.phase: dict[str, str] = {}
        self.armed = threading.Event()  # set once the storm's patches have started
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
                    state = (obj.get("status") or {}).get("operationState") or {}
                    phase = state.get("phase")
                    if (
                        self.armed.is_set()
                        and name in self.names
                        and phase in FINAL_PHASES
                        and name not in self.at
                    ):
                        self.at[name] = time.time()
                        self.phase[name] = str(phase)
                    if self._stop.is_set():
                        return
            except Exception:  # the stream ends or the stand-in stops: look again
                if self._stop.wait(0.2):
                    return

    def stop(self) -> None:
        self._stop.set()
        self._watch.stop()  # type: ignore[no-untyped-call]


# ----------------------------------------------------------------------------- reading Slack back
def _key(message: Mapping[str, Any]) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("key", ""))


def _looks_final(text: str) -> bool:
    return any(word in text for word in ("Succeeded", "Failed", "succeeded", "failed", "Error"))


def _app_in(text: str, names: list[str]) -> str | None:
    found = [name for name in names if name in text]
    return max(found, key=len) if found else None


def collect(driver: SlackDriver, channels: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Per app: its parents (channel, ts, final text, edited ts), its summaries' ts, where they went."""
    seen: dict[str, dict[str, Any]] = {}
    for channel, names in channels.items():
        for message in driver.messages(channel):
            if not _key(message).startswith("parent:"):
                continue
            text = str(message.get("text", ""))
            app = _app_in(text, names) or f"?{_key(message)}"
            entry = seen.setdefault(app, {"parents": [], "summaries": [], "channels": set()})
            entry["channels"].add(channel)
            edited = message.get("edited")
            entry["parents"].append(
                {
                    "channel": channel,
                    "ts_text": str(message["ts"]),
                    "ts": float(message["ts"]),
                    "edited": float(edited["ts"]) if edited else None,
                    "final": _looks_final(text),
                }
            )
            for reply in driver.replies(channel, message["ts"])[1:]:
                if _key(reply).startswith("summary:"):
                    entry["summaries"].append(float(reply["ts"]))
    return seen


def _done(entry: Mapping[str, Any]) -> bool:
    return bool(entry["summaries"]) and any(p["final"] for p in entry["parents"])


def final_parents(calls: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[float, str]]:
    """Per parent (channel, ts): when the stand-in first took it in a final state, and how."""
    found: dict[tuple[str, str], tuple[float, str]] = {}
    for call in calls:
        if call["status"] != 200 or not call.get("final"):
            continue
        how = "posted final" if call["method"] == "chat.postMessage" else "final edit"
        where = (call["channel"], call["ts"])
        if where not in found or call["time"] < found[where][0]:
            found[where] = (call["time"], how)
    return found


def shown_at(
    entry: Mapping[str, Any], finals: Mapping[tuple[str, str], tuple[float, str]]
) -> tuple[float, float, str] | None:
    """(first moment its final state was visible, moment its last final message landed, which showed it).

    A parent's final state counts from the call that first carried it (the stand-in's record), not
    from the message's `edited` ts, which is its last edit.
    """
    parents = [p for p in entry["parents"] if p["final"]]
    if not entry["summaries"] or not parents:
        return None
    moments = []
    for p in parents:
        moment, how = finals.get((p["channel"], p["ts_text"]), (p["edited"] or p["ts"], "final edit"))
        moments.append((moment, how))
    parent, how = min(moments)
    summary = min(entry["summaries"])
    if summary < parent:
        return summary, parent, "summary"
    return parent, summary, how


# ----------------------------------------------------------------------------- figures
def bounds(apps: int, channels: int) -> dict[str, float]:
    """What Slack's budgets allow at best, from the storm's start.

    Per channel, one `chat.postMessage` a second (the first at once). A final state needs at least
    one post per app (a parent posted once in its final state); every final message needs two (the
    parent and the summary). Edits: a parent posted before its sync ended needs one final edit, on
    the workspace's Tier 3 budget (a burst of 50, then 50 a minute); a parent posted in its final
    state needs none, so edits bound only the parents that went out early (reported beside).
    """
    per_channel = math.ceil(apps / channels)
    final = max(1.0, (per_channel - 1) / CHANNEL_POSTS_PER_SECOND)
    every = max(1.0, (2 * per_channel - 1) / CHANNEL_POSTS_PER_SECOND)
    return {"bound_final_s": final, "bound_all_s": every, "apps_per_channel": per_channel}


def edits_bound(edits: int) -> float:
    """Seconds the workspace's chat.update budget needs for `edits` edits at best."""
    return max(0, edits - SLACK_UPDATE_BURST) * 60.0 / SLACK_UPDATES_PER_MINUTE


def proc_figures(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS in MB of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def rate_limit_figures(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """429s per method, and messages or calls that got 429 more than once."""
    limited = [c for c in calls if c["status"] == 429]
    per_message = Counter(c["message"] for c in limited)
    per_call = Counter(c["call"] for c in limited)
    return {
        "slack_429": len(limited),
        "slack_429_posts": sum(1 for c in limited if c["method"] == "chat.postMessage"),
        "slack_429_edits": sum(1 for c in limited if c["method"] == "chat.update"),
        "messages_429_twice": sum(1 for n in per_message.values() if n > 1),
        "calls_429_twice": sum(1 for n in per_call.values() if n > 1),
        "max_429_per_message": max(per_message.values(), default=0),
        "repeated_429": [m for m, n in per_message.most_common(5) if n > 1],
    }


# ----------------------------------------------------------------------------- one storm
def _config(world: dict[str, Any], state: Path, channels: list[str], port: int) -> dict[str, Any]:
    cluster = world["clusters"]["dev"]
    triggers = ["sync-started", "sync-succeeded", "sync-failed"]
    subscriptions = [
        {"channel": WARMUP_CHANNEL, "kind": "apps", "name": "warmup-*", "triggers": triggers, "owner": ADMIN}
    ]
    subscriptions += [
        {"channel": channel, "kind": "apps", "name": f"storm-c{i}-*", "triggers": triggers, "owner": ADMIN}
        for i, channel in enumerate(channels)
    ]
    return {
        "slack": {
            "command": "/ops",
            "team_id": world["slack"]["team_id"],
            "api_url": world["slack"]["api_url"],
        },
        "database": {"url": f"sqlite:///{state / 'chatops.db'}"},
        "clusters": [
            {
                "name": "dev",
                "auth": {"kind": "token", "server": cluster["api_url"], "token_env": "BENCH_DEV"},
                "argocd_namespace": NAMESPACE,
            }
        ],
        "rbac": {"policy": f"g, slack:{ADMIN}, role:admin\n"},
        "subscriptions": subscriptions,
        "server": {"host": "127.0.0.1", "port": port},
    }


def run_storm(apps: int, channel_count: int, *, progressing_seconds: float, timeout: float) -> dict[str, Any]:
    channels = channel_ids(channel_count)
    by_channel = {
        channel: [app_name(c, i) for i in range(apps) if i % channel_count == c]
        for c, channel in enumerate(channels)
    }
    names = [name for group in by_channel.values() for name in group]
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        state = Path(tmp)
        sandbox = Sandbox(state, time_scale=1.0)
        bot: subprocess.Popen[str] | None = None
        ends: Ends | None = None
        try:
            world, driver = sandbox.world, sandbox.driver
            driver.add_user(ADMIN, name="storm-admin", email="storm-admin@example.com")
            driver.add_user(PUSHER, name="pusher", email=PUSHER_EMAIL)
            for channel in [WARMUP_CHANNEL, *channels]:
                driver.add_channel(channel, name=channel.lower())
            api = kube_config.new_client_from_config(config_file=world["kubeconfig"])  # type: ignore[no-untyped-call]
            custom = kube_client.CustomObjectsApi(api)
            began = time.monotonic()
            create_apps(api, [WARMUP_APP, *names], progressing_seconds)
            wait_for(lambda: _initialised(api, {WARMUP_APP, *names}), 120, "the apps' first status", step=0.5)
            create_s = time.monotonic() - began

            config = _config(world, state, channels, free_port())
            (state / "chatops.yaml").write_text(yaml.safe_dump(config))
            env = dict(os.environ)
            env.update(
                SLACK_BOT_TOKEN=world["slack"]["bot_token"],
                SLACK_APP_TOKEN=world["slack"]["app_token"],
                BENCH_DEV=world["clusters"]["dev"]["token"],
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
            wait_for(lambda: live_connections(driver) >= 1, 60, "the bot to connect", step=0.2)
            # One sync in a channel of its own: once its thread has its summary, the bot follows
            # Applications, and the storm starts on a warm bot.
            sync_from_outside(custom, WARMUP_APP)
            warm = wait_for(
                lambda: any(_done(e) for e in collect(driver, {WARMUP_CHANNEL: [WARMUP_APP]}).values()),
                60,
                "the warm-up sync's thread",
                step=0.5,
            )
            if not warm:
                tail = (state / "bot.log").read_text(errors="replace")[-3000:]
                warm_messages = driver.messages(WARMUP_CHANNEL)
                raise RuntimeError(
                    f"the bot never followed the warm-up sync; {warm_messages=}; its log ends:\n{tail}"
                )
            calls_before = len(sandbox.calls())
            ends = Ends(api, set(names))
            ends.armed.set()
            storm_start = time.time()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda name: sync_from_outside(custom, name), names))
            patched_s = time.time() - storm_start
            ended = wait_for(lambda: len(ends.at) >= apps, timeout, "every sync to end", step=0.5)
            all_in = wait_for(
                lambda: sum(1 for e in collect(driver, by_channel).values() if _done(e)) >= apps,
                timeout,
                "every final in Slack",
                step=1.0,
            )
            if not all_in:
                print(f"  (the bot's log: {state / 'bot.log'}, kept until exit)", file=sys.stderr)
            cpu, rss = proc_figures(bot.pid)
            acker_rss = sum(proc_figures(child)[1] for child in children(bot.pid))
            seen = collect(driver, by_channel)
            calls = sandbox.calls()[calls_before:]
            finals = final_parents(calls)
            shown_by: Counter[str] = Counter()
            visible: list[float] = []
            slowest: list[dict[str, Any]] = []
            every: list[float] = []
            lags: list[float] = []
            for name in names:
                entry = seen.get(name)
                shown = shown_at(entry, finals) if entry else None
                if shown is None:
                    continue
                shown_by[shown[2]] += 1
                first = min(entry["parents"], key=lambda p: p["ts"]) if entry else {}
                slowest.append(
                    {
                        "app": name,
                        "final_s": shown[0] - storm_start,
                        "shown_by": shown[2],
                        "parent_posted_s": first["ts"] - storm_start,
                        "sync_ended_s": ends.at[name] - storm_start if name in ends.at else None,
                        "summary_s": min(entry["summaries"]) - storm_start if entry else None,
                    }
                )
                visible.append(shown[0] - storm_start)
                every.append(shown[1] - storm_start)
                if name in ends.at:
                    lags.append(max(0.0, shown[0] - ends.at[name]))
            parents = Counter({name: len(seen[name]["parents"]) for name in seen})
            summaries = Counter({name: len(seen[name]["summaries"]) for name in seen})
            posted = [c for c in calls if c["method"] == "chat.postMessage" and c["status"] == 200]
            edited = [c for c in calls if c["method"] == "chat.update" and c["status"] == 200]
            parents_edited = sum(1 for e in seen.values() for p in e["parents"] if p["edited"] is not None)
            per_channel_posts = Counter(c["channel"] for c in posted)
            stray = sorted(name for name in seen if name.startswith("?"))
            figures = bounds(apps, channel_count)
            return {
                "apps": apps,
                "channels": channel_count,
                "progressing_s": progressing_seconds,
                "create_s": create_s,
                "patch_all_s": patched_s,
                "ended": len(ends.at),
                "failed_syncs": sum(1 for p in ends.phase.values() if p != "Succeeded"),
                "all_in_time": bool(ended and all_in),
                "finals_delivered": len(visible),
                "final_p50_s": percentile(visible, 0.5),
                "final_p95_s": percentile(visible, 0.95),
                "last_final_s": max(visible) if visible else math.nan,
                "last_final_message_s": max(every) if every else math.nan,
                "lag_from_end_p50_s": percentile(lags, 0.5),
                "lag_from_end_p95_s": percentile(lags, 0.95),
                "last_end_s": (max(ends.at.values()) - storm_start) if ends.at else math.nan,
                **figures,
                "bound_edits_s": edits_bound(parents_edited),
                **rate_limit_figures(calls),
                "posts": len(posted),
                "edits": len(edited),
                "posts_per_app": len(posted) / apps,
                "busiest_channel_posts": max(per_channel_posts.values(), default=0),
                "parents_edited": parents_edited,
                "final_shown_by": dict(shown_by),
                "slowest_finals": sorted(slowest, key=lambda s: -float(s["final_s"]))[:5],
                "apps_with_one_parent": sum(1 for name in names if parents.get(name) == 1),
                "apps_with_one_summary": sum(1 for name in names if summaries.get(name) == 1),
                "apps_with_duplicate_parent": sum(1 for name in names if parents.get(name, 0) > 1),
                "apps_with_duplicate_summary": sum(1 for name in names if summaries.get(name, 0) > 1),
                "apps_without_final": sum(1 for name in names if not (seen.get(name) and _done(seen[name]))),
                "apps_in_wrong_channel": sum(
                    1
                    for channel, group in by_channel.items()
                    for name in group
                    if name in seen and seen[name]["channels"] != {channel}
                ),
                "unattributed_parents": len(stray),
                "cpu_s": cpu,
                "peak_rss_mb": rss,
                "acker_peak_rss_mb": acker_rss,
            }
        finally:
            if ends is not None:
                ends.stop()
            if bot is not None:
                stop_process(bot, timeout=30)
            sandbox.stop()


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--apps", type=int, default=200, help="Applications syncing at once")
    parser.add_argument(
        "--channels", type=int, default=4, help="subscribed channels the apps are spread over"
    )
    parser.add_argument(
        "--progressing-seconds", type=float, default=5.0, help="how long each sync's Deployment progresses"
    )
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for every final")
    parser.add_argument("--quick", action="store_true", help="12 apps over 2 channels, 1 s syncs")
    parser.add_argument("--serve-sandbox", metavar="STATE_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--calls-file", help=argparse.SUPPRESS)
    parser.add_argument("--time-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sandbox:
        return serve_sandbox(args.serve_sandbox, args.calls_file, args.time_scale)
    apps, channels, progressing, timeout = args.apps, args.channels, args.progressing_seconds, args.timeout
    if args.quick:
        apps, channels, progressing, timeout = 12, 2, 1.0, 45.0
    box = machine()
    print(
        f"{box['cores']} cores, {box['memory_mb']} MB; {apps} apps over {channels} channels; "
        f"syncs progress {progressing:.0f} s; Slack's rate limits on",
        flush=True,
    )
    row = run_storm(apps, channels, progressing_seconds=progressing, timeout=timeout)
    lines = [
        ("apps / channels", f"{row['apps']} / {row['channels']} ({row['apps_per_channel']} per channel)"),
        (
            "syncs ended (not Succeeded)",
            f"{row['ended']} ({row['failed_syncs']}), last {_fmt(row['last_end_s'])} s",
        ),
        ("finals in Slack", f"{row['finals_delivered']} of {row['apps']}"),
        (
            "to final state p50 / p95 / last s",
            f"{_fmt(row['final_p50_s'])} / {_fmt(row['final_p95_s'])} / {_fmt(row['last_final_s'])}",
        ),
        ("bound for the finals s", _fmt(row["bound_final_s"])),
        ("to every final message s", _fmt(row["last_final_message_s"])),
        ("bound for parent + summary s", _fmt(row["bound_all_s"])),
        (
            "lag from sync end p50 / p95 s",
            f"{_fmt(row['lag_from_end_p50_s'])} / {_fmt(row['lag_from_end_p95_s'])}",
        ),
        ("429s (posts, edits)", f"{row['slack_429']} ({row['slack_429_posts']}, {row['slack_429_edits']})"),
        ("messages / calls with 429 twice", f"{row['messages_429_twice']} / {row['calls_429_twice']}"),
        (
            "posts (per app), busiest channel",
            f"{row['posts']} ({row['posts_per_app']:.1f}), {row['busiest_channel_posts']}",
        ),
        (
            "edits (parents edited)",
            f"{row['edits']} ({row['parents_edited']}, bound {_fmt(row['bound_edits_s'])} s)",
        ),
        (
            "final state first shown by",
            ", ".join(f"{how} {n}" for how, n in sorted(row["final_shown_by"].items())) or "n/a",
        ),
        (
            "slowest final: app, ended, parent, shown s",
            ", ".join(
                f"{slow['app']} {_fmt(slow['sync_ended_s'])} {_fmt(slow['parent_posted_s'])} "
                f"{_fmt(slow['final_s'])} ({slow['shown_by']})"
                for slow in row["slowest_finals"][:1]
            )
            or "n/a",
        ),
        (
            "apps with one parent / one summary",
            f"{row['apps_with_one_parent']} / {row['apps_with_one_summary']}",
        ),
        (
            "duplicate parents / summaries",
            f"{row['apps_with_duplicate_parent']} / {row['apps_with_duplicate_summary']}",
        ),
        (
            "bot CPU s, peak RSS MB (acker)",
            f"{_fmt(row['cpu_s'])}, {_fmt(row['peak_rss_mb'])} ({_fmt(row['acker_peak_rss_mb'])})",
        ),
    ]
    for label, value in lines:
        print(f"  {label:<36} {value}", flush=True)
    print(json.dumps(clean({"benchmark": "subscription_storm", **box, "results": [row]})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
