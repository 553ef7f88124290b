"""Two replicas: both answer Slack, one leader follows runs, and a new leader takes over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_world import BASE_POLICY, DEV, OPS_CHANNEL, seed_workspace, write_config
from e2e_world import message_text as _text

from bot.app import Bot, build_bot
from bot.config import parse_settings
from bot.sandbox.slack import SlackDriver
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld


@pytest.fixture
def replicas(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[list[Bot]]:
    seed_workspace(SlackDriver(sandbox.slack.control_url))
    (tmp_path / "policy.csv").write_text(BASE_POLICY)
    election = {
        "enabled": True,
        "cluster": "dev",
        "namespace": "default",
        "lease_seconds": 3,
        "renew_seconds": 0.5,
    }
    bots = []
    for name in ("replica-a", "replica-b"):
        config = write_config(tmp_path, sandbox, leader_election={**election, "identity": name})
        environ = {"SLACK_BOT_TOKEN": sandbox.slack.bot_token, "SLACK_APP_TOKEN": sandbox.slack.app_token}
        bots.append(
            build_bot(parse_settings(yaml.safe_load(config.read_text()), source=str(config), environ=environ))
        )
    for bot in bots:
        bot.start()
    try:
        yield bots
    finally:
        for bot in bots:
            bot.stop()


def _leaders(bots: list[Bot]) -> list[Bot]:
    return [bot for bot in bots if bot.elector is not None and bot.elector.is_leader]


def _run_and_finish(driver: SlackDriver, template: str) -> dict[str, Any]:
    before = len(driver.ephemerals(user=DEV))
    driver.send_command(user=DEV, channel=OPS_CHANNEL, command="/ops", text=f"run {template} --cluster dev")
    answer = wait_until(
        lambda: driver.ephemerals(user=DEV)[before:], timeout=15, message="the submit answer"
    )[0]
    name = _text(answer).split("Submitted `", 1)[1].split("`", 1)[0]

    def finished() -> dict[str, Any] | None:
        for message in driver.messages(OPS_CHANNEL):
            if name in _text(message) and "Succeeded" in _text(message):
                return message
        return None

    return wait_until(finished, timeout=30, message=f"{name} to be shown Succeeded")


def test_one_leader_posts_each_step_once_and_a_successor_takes_over(
    replicas: list[Bot], sandbox: SandboxWorld
) -> None:
    driver = SlackDriver(sandbox.slack.control_url)
    wait_until(lambda: len(_leaders(replicas)) == 1, timeout=10, message="one leader")
    parent = _run_and_finish(driver, "hello")
    thread = wait_until(
        lambda: (
            (r := driver.replies(OPS_CHANNEL, parent["ts"]))
            and any("3/3 steps succeeded" in _text(m) for m in r)
            and r
        ),
        timeout=20,
        message="the final summary",
    )
    texts = [_text(m) for m in thread[1:]]
    assert sum("step `prepare` started" in t for t in texts) == 1, texts
    assert sum("3/3 steps succeeded" in t for t in texts) == 1, texts

    leader = _leaders(replicas)[0]
    leader.stop()  # a rolling update: the leader releases the Lease on SIGTERM
    follower = next(bot for bot in replicas if bot is not leader)
    wait_until(lambda: _leaders([follower]), timeout=5, message="the other replica to lead")
    _run_and_finish(driver, "hello")
