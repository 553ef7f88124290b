"""The outbox deliverer against the Slack stand-in and a real (SQLite) store: messages survive a
long Slack outage and land once, a post left `sending` by a dead process is adopted rather than
posted again, and a message Slack refuses for good is given up with what waited for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from slack_sdk import WebClient

from bot.announcing import PRIORITY_FINAL, PRIORITY_PROGRESS
from bot.records import OUTBOX_DELIVERED, OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENDING
from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until
from bot.slack.client import Messenger
from bot.slack.outbox import Outbox, OutboxDeliverer, metadata_for
from bot.slack.pacing import TRANSIENT_ATTEMPTS, PacedSender
from bot.store import db as store_db
from bot.store.repos import OutboxRepo

OPS = "C0OPS"
SCALE = 1 / 200  # one real second stands for 200: Slack's 60 s backoff cap is 0.3 s here


@dataclass
class World:
    driver: SlackDriver
    messenger: Messenger
    repo: OutboxRepo
    outbox: Outbox
    sender: PacedSender

    def deliverer(self) -> OutboxDeliverer:
        return OutboxDeliverer(
            repo=self.repo,
            sender=self.sender,
            finder=self.messenger,
            signal=self.outbox.signal,
            poll_interval=0.05,
            backoff_base=1.0 * SCALE,
            backoff_cap=60.0 * SCALE,
        )

    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.driver.messages(OPS)]

    def thread(self, ts: str) -> list[str]:
        return [m.get("text", "") for m in self.driver.replies(OPS, ts)[1:]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sandbox = SlackSandbox(ack_timeout=1.0, rate_limits=False)
    sandbox.start()
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    store_db.upgrade(url)
    database = store_db.connect(url)
    try:
        driver = SlackDriver(sandbox.control_url)
        driver.add_channel(OPS, name="ops")
        # no retry handlers: every failure reaches the outbox, which is what is tested
        messenger = Messenger(WebClient(base_url=sandbox.api_url, token=sandbox.bot_token))
        sender = PacedSender(messenger, post_interval=0.01, update_interval=0.01)
        repo = OutboxRepo(database)
        yield World(driver=driver, messenger=messenger, repo=repo, outbox=Outbox(repo), sender=sender)
        sender.close(timeout=2)
    finally:
        database.dispose()
        sandbox.stop()


def _status(world: World, key: str) -> str | None:
    row = world.repo.get(key)
    return row.status if row is not None else None


def test_a_thread_survives_ten_minutes_of_slack_errors_and_lands_once(world: World) -> None:
    world.outbox.post(key="parent:r1", channel=OPS, text="run r1", run_id=None)
    world.outbox.post(
        key="step:r1:1",
        channel=OPS,
        text="step build started",
        thread_key="parent:r1",
        priority=PRIORITY_PROGRESS,
    )
    world.outbox.post(
        key="summary:r1", channel=OPS, text="r1 succeeded", thread_key="parent:r1", priority=PRIORITY_FINAL
    )
    world.outbox.edit(
        key="edit:parent:r1",
        channel=OPS,
        text="run r1: Succeeded",
        target_key="parent:r1",
        priority=PRIORITY_FINAL,
    )
    world.driver.fail_next("*", status=500, error="internal_error", count=100_000)
    deliverer = world.deliverer().start()
    try:
        began = time.monotonic()
        outage = 600 * SCALE

        def outage_over() -> bool:
            row = world.repo.get("parent:r1")
            # longer than the pacer alone would have held on to a message, in attempts and in time
            return (
                row is not None and row.attempts > TRANSIENT_ATTEMPTS and time.monotonic() - began >= outage
            )

        wait_until(outage_over, timeout=30, message="ten (scaled) minutes of Slack 5xx")
        assert world.texts() == []
        assert _status(world, "parent:r1") == OUTBOX_SENDING  # looked up before each new try
        assert world.repo.backlog()[0] == 4
        wait_until(
            lambda: (
                REGISTRY.get_sample_value("chatops_outbox_backlog") == 4
                and (REGISTRY.get_sample_value("chatops_outbox_oldest_seconds") or 0) > 0
            ),
            timeout=5,
            message="the backlog metrics to show the stuck thread",
        )
        world.driver.clear_faults()
        world.driver.fail_next("*", status=429, retry_after=1, count=2)  # a rate limit on the way back
        wait_until(lambda: world.repo.backlog()[0] == 0, timeout=20, message="the backlog to drain")
    finally:
        deliverer.stop()
    assert world.texts() == ["run r1: Succeeded"]
    parent_ts = world.outbox.delivered_ts("parent:r1")
    assert parent_ts is not None
    assert world.thread(parent_ts) == ["step build started", "r1 succeeded"]
    assert {_status(world, k) for k in ("parent:r1", "step:r1:1", "summary:r1", "edit:parent:r1")} == {
        OUTBOX_DELIVERED
    }


def test_a_post_left_sending_by_a_dead_process_is_adopted_not_posted_again(world: World) -> None:
    world.outbox.post(key="parent:r2", channel=OPS, text="run r2")
    world.outbox.post(key="step:r2:1", channel=OPS, text="step a started", thread_key="parent:r2")
    world.outbox.post(key="step:r2:2", channel=OPS, text="step a succeeded", thread_key="parent:r2")
    # An earlier life: it marked the parent sending, Slack posted it, the process died before
    # recording it; then (a later life) the same happened to the first reply.
    parent = world.repo.get("parent:r2")
    assert parent is not None and world.repo.claim(parent.id, status=OUTBOX_PENDING, now=parent.created_at)
    ts = world.messenger.post(channel=OPS, text="run r2", metadata=metadata_for("parent:r2"))
    deliverer = world.deliverer().start()
    try:
        wait_until(lambda: world.outbox.delivered_ts("step:r2:2"), timeout=10, message="the thread")
    finally:
        deliverer.stop()
    assert world.outbox.delivered_ts("parent:r2") == ts
    assert world.texts() == ["run r2"]
    assert world.thread(ts) == ["step a started", "step a succeeded"]

    world.outbox.post(key="step:r2:3", channel=OPS, text="step b started", thread_key="parent:r2")
    reply = world.repo.get("step:r2:3")
    assert reply is not None and world.repo.claim(reply.id, status=OUTBOX_PENDING, now=reply.created_at)
    reply_ts = world.messenger.post(
        channel=OPS, text="step b started", thread_ts=ts, metadata=metadata_for("step:r2:3")
    )
    deliverer = world.deliverer().start()
    try:
        wait_until(lambda: world.outbox.delivered_ts("step:r2:3"), timeout=10, message="the adopted reply")
    finally:
        deliverer.stop()
    assert world.outbox.delivered_ts("step:r2:3") == reply_ts
    assert world.thread(ts) == ["step a started", "step a succeeded", "step b started"]


def test_a_message_slack_refuses_for_good_is_given_up_with_what_waits_for_it(world: World) -> None:
    world.outbox.post(key="parent:gone", channel="C0GONE", text="nowhere")
    world.outbox.post(key="step:gone:1", channel="C0GONE", text="x", thread_key="parent:gone")
    world.outbox.post(key="parent:ok", channel=OPS, text="somewhere")
    deliverer = world.deliverer().start()
    try:
        wait_until(lambda: world.repo.backlog()[0] == 0, timeout=10, message="the backlog to settle")
    finally:
        deliverer.stop()
    gone = world.repo.get("parent:gone")
    assert gone is not None and gone.status == OUTBOX_FAILED and "channel_not_found" in gone.last_error
    assert _status(world, "step:gone:1") == OUTBOX_FAILED
    assert world.texts() == ["somewhere"]
