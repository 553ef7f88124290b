"""`chatops run` killed mid-run (SIGKILL) and started again, with and without a Slack outage in
between: the channel holds one parent per run and its thread one final summary, nothing twice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from e2e_world import BASE_POLICY, DEV, OPS_CHANNEL, seed_workspace, write_config
from e2e_world import message_text as _text

from bot.argo import workflows
from bot.sandbox.slack import SlackDriver
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld
from bot.store import db as store_db
from bot.store.repos import OutboxRepo, RunRepo

STEP_SECONDS = 40  # scripted; the world runs at time_scale 0.05, so two seconds a step


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class Bot:
    """`chatops run` as its own process, logs to a file (a pipe would fill up and block it)."""

    def __init__(self, tmp_path: Path, sandbox: SandboxWorld) -> None:
        self.port = _free_port()
        self.config = write_config(tmp_path, sandbox, server={"host": "127.0.0.1", "port": self.port})
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": sandbox.slack.bot_token,
            "SLACK_APP_TOKEN": sandbox.slack.app_token,
        }
        self.log = tmp_path / "chatops.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: _ready(self.port), timeout=30, message="chatops run to be ready")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def bot(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Bot]:
    seed_workspace(SlackDriver(sandbox.slack.control_url))
    (tmp_path / "policy.csv").write_text(BASE_POLICY)
    sandbox.workflow_controllers["dev"].script(step="*", workflow="hello-*", duration=STEP_SECONDS)
    bot = Bot(tmp_path, sandbox)
    try:
        yield bot
    finally:
        bot.stop()
        SlackDriver(sandbox.slack.control_url).clear_faults()
        assert sandbox.slack.bot_token not in bot.log.read_text(errors="replace")


@contextmanager
def _store(tmp_path: Path) -> Iterator[tuple[RunRepo, OutboxRepo]]:
    database = store_db.connect(f"sqlite:///{tmp_path / 'chatops.db'}")
    try:
        yield RunRepo(database), OutboxRepo(database)
    finally:
        database.dispose()


def _workflow_phase(sandbox: SandboxWorld, name: str) -> str:
    for item in sandbox.kube["dev"].store.list(
        workflows.GROUP, workflows.VERSION, workflows.WORKFLOWS, "argo"
    ):
        if item["metadata"]["name"] == name:
            return str((item.get("status") or {}).get("phase") or "")
    return ""


def _submit(driver: SlackDriver, sandbox: SandboxWorld) -> tuple[str, dict[str, Any]]:
    """`run hello` from Slack; the workflow's name and its parent message once a step was reported."""
    before = {m["ts"] for m in driver.messages(OPS_CHANNEL)}
    driver.send_command(user=DEV, channel=OPS_CHANNEL, command="/ops", text="run hello --cluster dev")

    def parent_with_a_reply() -> tuple[str, dict[str, Any]] | None:
        for message in driver.messages(OPS_CHANNEL):
            fresh = message["ts"] not in before and "hello" in _text(message)
            if fresh and len(driver.replies(OPS_CHANNEL, message["ts"])) > 1:
                names = [
                    item["metadata"]["name"]
                    for item in sandbox.kube["dev"].store.list(
                        workflows.GROUP, workflows.VERSION, workflows.WORKFLOWS, "argo"
                    )
                    if item["metadata"]["name"] in _text(message)
                ]
                if names:
                    return names[0], message
        return None

    return wait_until(parent_with_a_reply, timeout=30, message="the parent and a first step reply")


def _assert_one_thread(driver: SlackDriver, name: str, tmp_path: Path) -> None:
    """Wait for the end, then: one parent, one summary, no reply twice, the outbox empty."""

    def summary() -> list[str] | None:
        parents = [m for m in driver.messages(OPS_CHANNEL) if name in _text(m)]
        if len(parents) != 1 or "Succeeded" not in _text(parents[0]):
            return None
        replies = [_text(m) for m in driver.replies(OPS_CHANNEL, parents[0]["ts"])[1:]]
        return replies if any(f"{name}: succeeded" in r for r in replies) else None

    wait_until(summary, timeout=60, message=f"the final summary of {name}")
    with _store(tmp_path) as (_, outbox):
        wait_until(lambda: outbox.backlog()[0] == 0, timeout=30, message="the outbox to drain")
    parents = [m for m in driver.messages(OPS_CHANNEL) if name in _text(m)]
    assert len(parents) == 1, "one parent per run"
    assert "Succeeded" in _text(parents[0])
    replies = [_text(m) for m in driver.replies(OPS_CHANNEL, parents[0]["ts"])[1:]]
    assert sum(f"{name}: succeeded" in r for r in replies) == 1, replies
    assert f"{name}: succeeded" in replies[-1]
    assert [r for r, n in Counter(replies).items() if n > 1] == [], "a reply posted twice"


def test_a_run_killed_mid_run_and_restarted_keeps_one_parent_and_one_summary(
    tmp_path: Path, sandbox: SandboxWorld, bot: Bot
) -> None:
    driver = SlackDriver(sandbox.slack.control_url)
    bot.start()
    name, _ = _submit(driver, sandbox)
    assert _workflow_phase(sandbox, name) == "Running"
    bot.kill()
    bot.start()
    _assert_one_thread(driver, name, tmp_path)


def test_a_slack_outage_across_a_crash_still_delivers_the_final_once(
    tmp_path: Path, sandbox: SandboxWorld, bot: Bot
) -> None:
    driver = SlackDriver(sandbox.slack.control_url)
    bot.start()
    name, _ = _submit(driver, sandbox)
    for method in ("chat.postMessage", "chat.update"):
        driver.fail_next(method, status=500, error="internal_error", count=100_000)

    def failed_posts() -> int:
        return sum(not call.get("ok") for call in driver.calls("chat.postMessage"))

    with _store(tmp_path) as (runs, _):
        # the run ends while Slack is down: its summary is enqueued, not lost
        wait_until(
            lambda: (
                (run := runs.by_name(cluster="dev", namespace="argo", kind="workflow", name=name))
                and run.final_posted
            ),
            timeout=30,
            message="the run to end while Slack fails",
        )
    wait_until(lambda: failed_posts() >= 3, timeout=30, message="posts failing")
    bot.kill()
    failed = failed_posts()
    bot.start()
    wait_until(lambda: failed_posts() > failed, timeout=30, message="the restarted bot to meet the outage")
    driver.clear_faults()
    _assert_one_thread(driver, name, tmp_path)
