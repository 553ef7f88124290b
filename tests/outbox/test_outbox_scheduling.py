"""What the outbox sends when the budget is short, against the Slack stand-in and a real (SQLite)
store: a run's summary overtakes the stale progress replies of a crowded channel (failure replies
still go, in thread order), an intermediate edit the budget cannot pay for is skipped and marked so,
and the final edit still lands."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.announcing import PRIORITY_FAILURE, PRIORITY_FINAL, PRIORITY_NORMAL, PRIORITY_PROGRESS
from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until
from bot.slack.client import Messenger
from bot.slack.outbox import Outbox, OutboxDeliverer
from bot.slack.pacing import PacedSender
from bot.store import db as store_db
from bot.store.repos import OutboxRepo

OPS = "C0SCHED1"


@dataclass
class World:
    driver: SlackDriver
    messenger: Messenger
    repo: OutboxRepo
    outbox: Outbox
    sandbox: SlackSandbox

    def deliverer(self, sender: PacedSender, **options: int) -> OutboxDeliverer:
        return OutboxDeliverer(
            repo=self.repo,
            sender=sender,
            finder=self.messenger,
            signal=self.outbox.signal,
            poll_interval=0.05,
            **options,  # type: ignore[arg-type]
        )

    def status(self, key: str) -> str | None:
        row = self.repo.get(key)
        return row.status if row is not None else None


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
        messenger = Messenger(WebClient(base_url=sandbox.api_url, token=sandbox.bot_token))
        repo = OutboxRepo(database)
        yield World(driver=driver, messenger=messenger, repo=repo, outbox=Outbox(repo), sandbox=sandbox)
    finally:
        database.dispose()
        sandbox.stop()


def _enqueue_run(outbox: Outbox, run: str, *, steps: int) -> None:
    thread = f"parent:{run}"
    outbox.post(key=thread, channel=OPS, text=f"{run}: running", priority=PRIORITY_NORMAL, run_id=run)
    for i in range(steps):
        outbox.post(
            key=f"step:{run}:{i}",
            channel=OPS,
            text=f"{run}: step {i} succeeded",
            thread_key=thread,
            priority=PRIORITY_PROGRESS,
            run_id=run,
        )
    outbox.post(
        key=f"step:{run}:fail",
        channel=OPS,
        text=f"{run}: step deploy failed",
        thread_key=thread,
        priority=PRIORITY_FAILURE,
        run_id=run,
    )
    outbox.post(
        key=f"summary:{run}",
        channel=OPS,
        text=f"{run}: Failed, 1 of {steps + 1} steps failed",
        thread_key=thread,
        priority=PRIORITY_FINAL,
        run_id=run,
    )
    outbox.edit(
        key=f"edit:parent:{run}",
        channel=OPS,
        text=f"{run}: Failed",
        target_key=thread,
        priority=PRIORITY_FINAL,
    )


def _deliver_run(world: World, run: str, **deliverer: int) -> None:
    """Deliver what `_enqueue_run` queued, with a fast pacer, until its final edit and summary are in."""
    sender = PacedSender(world.messenger, post_interval=0.05, update_interval=0.01)
    started = world.deliverer(sender, **deliverer).start()
    try:
        wait_until(
            lambda: {world.status(f"edit:parent:{run}"), world.status(f"summary:{run}")} == {"delivered"},
            timeout=20,
            message=f"{run}'s final edit and summary",
        )
    finally:
        started.stop()
        sender.close(timeout=2)


def test_a_summary_overtakes_stale_progress_replies_in_a_crowded_channel(world: World) -> None:
    _enqueue_run(world.outbox, "r1", steps=6)
    _deliver_run(world, "r1", supersede_backlog=3)

    parent = world.driver.messages(OPS)
    assert [m["text"] for m in parent] == ["r1: Failed"]
    thread = [m["text"] for m in world.driver.replies(OPS, parent[0]["ts"])[1:]]
    # the failure still goes, before the summary; the progress it lists was not posted one by one
    assert thread == ["r1: step deploy failed", "r1: Failed, 1 of 7 steps failed"]
    assert {world.status(f"step:r1:{i}") for i in range(6)} == {"skipped"}


def test_a_quiet_channel_gets_every_reply_in_order(world: World) -> None:
    _enqueue_run(world.outbox, "r2", steps=2)
    _deliver_run(world, "r2")

    parent = world.driver.messages(OPS)
    thread = [m["text"] for m in world.driver.replies(OPS, parent[0]["ts"])[1:]]
    assert thread == [
        "r2: step 0 succeeded",
        "r2: step 1 succeeded",
        "r2: step deploy failed",
        "r2: Failed, 1 of 3 steps failed",
    ]
    assert [m["text"] for m in parent] == ["r2: Failed"]


def test_the_parents_final_edit_does_not_wait_for_replies_the_channel_budget_holds_back(
    world: World,
) -> None:
    # one post per channel every 30 s after the first: the thread's replies wait, the edit does not
    sender = PacedSender(world.messenger, post_interval=30.0, post_burst=1, update_interval=0.01)
    deliverer = world.deliverer(sender).start()
    try:
        _enqueue_run(world.outbox, "r3", steps=2)
        wait_until(
            lambda: world.status("edit:parent:r3") == "delivered", timeout=10, message="the final edit"
        )
        assert world.status("summary:r3") == "pending"  # still waiting for the channel's budget
    finally:
        deliverer.stop()
        sender.close(timeout=2)

    parent = world.driver.messages(OPS)
    assert [m["text"] for m in parent] == ["r3: Failed"]  # the final state, visible at once
    assert [m["text"] for m in world.driver.replies(OPS, parent[0]["ts"])[1:]] == []


def test_a_run_that_ended_before_its_parent_could_go_is_posted_once_in_its_final_state(
    world: World,
) -> None:
    _enqueue_run(world.outbox, "r4", steps=1)  # everything, the final edit too, before any delivery
    _deliver_run(world, "r4")

    assert [m["text"] for m in world.driver.messages(OPS)] == ["r4: Failed"]
    assert world.driver.calls("chat.update") == []  # the final state came with the post itself


def test_a_parent_already_waiting_in_the_pacer_goes_out_in_its_final_state_with_the_finals(
    world: World,
) -> None:
    # one post per channel every 0.3 s: the other runs' finals go first, and run w's parent,
    # handed over while it ran, waits behind them; then w ends
    sender = PacedSender(world.messenger, post_interval=0.3, post_burst=1, update_interval=0.01)
    deliverer = world.deliverer(sender).start()
    try:
        for n in range(6):
            world.outbox.post(key=f"summary:f{n}", channel=OPS, text=f"f{n}: done", priority=PRIORITY_FINAL)
        world.outbox.post(
            key="parent:w", channel=OPS, text="w: running", priority=PRIORITY_NORMAL, run_id="w"
        )
        wait_until(
            lambda: world.status("parent:w") == "sending", timeout=10, message="w's parent handed over"
        )
        world.outbox.edit(
            key="edit:parent:w", channel=OPS, text="w: Failed", target_key="parent:w", priority=PRIORITY_FINAL
        )
        wait_until(lambda: world.status("summary:f5") == "delivered", timeout=20, message="every final")
        wait_until(lambda: world.status("parent:w") == "delivered", timeout=20, message="w's parent")
    finally:
        deliverer.stop()
        sender.close(timeout=2)

    shown = [m["text"] for m in world.driver.messages(OPS)]
    assert "w: Failed" in shown, shown  # posted once, already in its final state
    assert shown.index("w: Failed") < shown.index("f5: done"), shown  # not kept behind every final
    assert world.driver.calls("chat.update") == []  # the final state came with the post itself


def test_an_intermediate_edit_the_budget_cannot_pay_for_is_skipped_and_the_final_one_lands(
    world: World,
) -> None:
    # two edits a minute, a burst of two, one kept for finals: the second progress edit cannot go
    sender = PacedSender(
        world.messenger,
        post_interval=0.01,
        update_interval=0.01,
        updates_per_minute=2,
        update_burst=2,
        progress_reserve=1,
    )
    deliverer = world.deliverer(sender).start()
    try:
        for run in ("a", "b"):
            world.outbox.post(key=f"parent:{run}", channel=OPS, text=f"{run}: queued", run_id=run)
        wait_until(lambda: world.status("parent:b") == "delivered", timeout=10, message="the parents")
        world.outbox.edit(
            key="edit:parent:a",
            channel=OPS,
            text="a: step 1/3",
            target_key="parent:a",
            priority=PRIORITY_PROGRESS,
        )
        wait_until(lambda: world.status("edit:parent:a") == "delivered", timeout=10, message="a's progress")
        world.outbox.edit(
            key="edit:parent:b",
            channel=OPS,
            text="b: step 1/3",
            target_key="parent:b",
            priority=PRIORITY_PROGRESS,
        )
        wait_until(
            lambda: world.status("edit:parent:b") == "skipped", timeout=10, message="b's progress skipped"
        )
        world.outbox.edit(
            key="edit:parent:b",
            channel=OPS,
            text="b: Succeeded",
            target_key="parent:b",
            priority=PRIORITY_FINAL,
        )
        wait_until(lambda: world.status("edit:parent:b") == "delivered", timeout=10, message="b's final edit")
    finally:
        deliverer.stop()
        sender.close(timeout=2)

    assert [m["text"] for m in world.driver.messages(OPS)] == ["a: step 1/3", "b: Succeeded"]
    assert len(world.driver.calls("chat.update")) == 2  # the skipped edit never reached Slack
