"""A follower wired as in production, minus the clusters: a real store (SQLite, migrated), the
outbox, the paced sender and the outbox deliverer sending to the Slack stand-in (channel C1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until
from bot.slack.client import Messenger
from bot.slack.outbox import Outbox, OutboxDeliverer
from bot.slack.pacing import PacedSender
from bot.store import db as store_db
from bot.store.repos import OutboxRepo, RunRepo
from bot.tracking.follower import Follower, Part

CHANNEL = "C1"


@dataclass
class World:
    driver: SlackDriver
    runs: RunRepo
    repo: OutboxRepo
    outbox: Outbox

    def follower(self, parts: Sequence[Part[Any]], *, clock: Callable[[], datetime]) -> Follower:
        return Follower(runs=self.runs, outbox=self.outbox, parts=parts, clock=clock)

    def settle(self) -> None:
        """Wait until everything enqueued so far is in Slack."""
        wait_until(lambda: self.repo.backlog()[0] == 0, timeout=10, message="the outbox to drain")

    def channel(self) -> list[dict[str, Any]]:
        """Top-level messages of C1, oldest first, as they look now."""
        return self.driver.messages(CHANNEL)

    def thread(self, ts: str) -> list[str]:
        """The replies under `ts`, oldest first."""
        return [m.get("text", "") for m in self.driver.replies(CHANNEL, ts)[1:]]


@contextmanager
def slack_world(tmp_path: Path) -> Iterator[World]:
    sandbox = SlackSandbox(ack_timeout=1.0, rate_limits=False)
    sandbox.start()
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store_db.upgrade(url)
    database = store_db.connect(url)
    driver = SlackDriver(sandbox.control_url)
    driver.add_channel(CHANNEL, name="ops")
    messenger = Messenger(WebClient(base_url=sandbox.api_url, token=sandbox.bot_token))
    sender = PacedSender(messenger, post_interval=0.01, update_interval=0.01)
    repo = OutboxRepo(database)
    outbox = Outbox(repo)
    deliverer = OutboxDeliverer(
        repo=repo, sender=sender, finder=messenger, signal=outbox.signal, poll_interval=0.05
    ).start()
    try:
        yield World(driver=driver, runs=RunRepo(database), repo=repo, outbox=outbox)
    finally:
        deliverer.stop()
        sender.close(timeout=2)
        database.dispose()
        sandbox.stop()
