"""The paced sender against the Slack stand-in, through the real `Messenger` and `WebClient`.

What a person in the channel would notice: a burst of progress edits ends with the latest content
visible, posts arrive about once a second per channel and in order, and a 429 storm longer than the
WebClient's own retries still lets the final content land. Rate limits of the stand-in stay on
unless a test says otherwise.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest

from bot.errors import SlackError
from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until
from bot.slack.client import Messenger, build_web_client
from bot.slack.pacing import PacedSender

OPS = "C0PACE01"
DEPLOYS = "C0PACE02"
HIDDEN = "C0PACE03"


@dataclass
class World:
    sandbox: SlackSandbox
    driver: SlackDriver
    senders: list[PacedSender]

    def messenger(self, *, max_rate_limit_retries: int = 5) -> Messenger:
        client = build_web_client(
            token=self.sandbox.bot_token,
            base_url=self.sandbox.api_url,
            max_rate_limit_retries=max_rate_limit_retries,
        )
        return Messenger(client)

    def sender(self, messenger: Messenger | None = None, **options: Any) -> PacedSender:
        sender = PacedSender(messenger or self.messenger(), **options)
        self.senders.append(sender)
        return sender


def _new_threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.fixture
def world() -> Iterator[World]:
    before = set(threading.enumerate())
    sandbox = SlackSandbox()
    sandbox.start()
    driver = SlackDriver(sandbox.control_url)
    driver.add_user("U0ALICE", name="alice")
    driver.add_channel(OPS, name="ops")
    driver.add_channel(DEPLOYS, name="deploys")
    driver.add_channel(HIDDEN, name="hidden", bot_is_member=False)
    state = World(sandbox=sandbox, driver=driver, senders=[])
    try:
        yield state
    finally:
        for sender in state.senders:
            sender.close(timeout=5)
        sandbox.stop()
        wait_until(
            lambda: not _new_threads(before),
            timeout=15,
            message=lambda: f"threads to finish: {_new_threads(before)}",
        )


class FakeTime:
    """A clock the sender's own pacing sleep advances, so minutes of pacing take no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)


def test_a_burst_of_updates_ends_with_the_last_content_in_few_calls(world: World) -> None:
    sender = world.sender()
    ts = sender.post(channel=OPS, text="run started").result(timeout=10)
    futures = [sender.update(channel=OPS, ts=ts, text=f"progress {i}/30") for i in range(1, 31)]

    assert sender.flush(timeout=20)
    assert [m["text"] for m in world.driver.messages(OPS)] == ["progress 30/30"]
    assert all(f.done() and f.exception() is None for f in futures)
    updates = world.driver.calls("chat.update")
    assert 1 <= len(updates) <= 3, updates  # coalesced: the first edit, then the latest one


def test_posts_to_one_channel_go_about_once_a_second_without_holding_up_another(world: World) -> None:
    sender = world.sender(post_burst=2)
    for i in range(4):
        sender.post(channel=OPS, text=f"ops {i}")
    other = sender.post(channel=DEPLOYS, text="deploy done")

    assert sender.flush(timeout=20)
    ops_times = [c["time"] for c in world.driver.calls("chat.postMessage") if c.get("channel") == OPS]
    assert len(ops_times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(ops_times)]
    assert min(gaps[1:]) >= 0.9, gaps  # a short burst of two, then one a second
    deploy_time = next(
        c["time"] for c in world.driver.calls("chat.postMessage") if c.get("channel") == DEPLOYS
    )
    assert deploy_time < ops_times[-1]  # the other channel did not wait behind #ops
    assert other.result(timeout=1)
    assert [m["text"] for m in world.driver.messages(OPS)] == [f"ops {i}" for i in range(4)]


def test_the_final_update_lands_through_more_429s_than_the_client_retries(world: World) -> None:
    sender = world.sender()
    ts = sender.post(channel=OPS, text="running").result(timeout=10)
    world.driver.fail_next("chat.update", status=429, retry_after=1, count=6)
    final = sender.update(channel=OPS, ts=ts, text="succeeded in 4m 12s")

    assert final.result(timeout=30) is True
    assert [m["text"] for m in world.driver.messages(OPS)] == ["succeeded in 4m 12s"]
    statuses = [c["status"] for c in world.driver.calls("chat.update")]
    assert statuses == [429] * 6 + [200]


def test_the_final_update_and_a_reply_ride_out_a_short_slack_outage(world: World) -> None:
    sender = world.sender()
    ts = sender.post(channel=OPS, text="running").result(timeout=10)
    # more 500s than the client's own retries: the sender waits and tries again, nothing is dropped
    world.driver.fail_next("chat.update", status=500, error="internal_error", count=4)
    world.driver.fail_next("chat.postMessage", status=503, error="service_unavailable", count=4)
    final = sender.update(channel=OPS, ts=ts, text="failed after 2m 03s")
    reply = sender.post(channel=OPS, text="summary", thread_ts=ts)

    assert final.result(timeout=30) is True
    assert reply.result(timeout=30)
    assert [m["text"] for m in world.driver.messages(OPS)] == ["failed after 2m 03s"]
    assert [m["text"] for m in world.driver.replies(OPS, ts)] == ["failed after 2m 03s", "summary"]
    assert 500 in [c["status"] for c in world.driver.calls("chat.update")]


def test_thread_replies_stay_in_order_through_rate_limits(world: World) -> None:
    # A client that does not retry 429s itself, and a faster pace than Slack allows: the
    # stand-in's own limit (burst 5, then 1/s) answers 429 and the sender has to wait and resend.
    sender = world.sender(world.messenger(max_rate_limit_retries=0), post_interval=0.1)
    parent = sender.post(channel=OPS, text="run started").result(timeout=10)
    for i in range(1, 9):
        sender.post(channel=OPS, text=f"step {i}", thread_ts=parent)

    assert sender.flush(timeout=30)
    replies = world.driver.replies(OPS, parent)
    assert [m["text"] for m in replies] == ["run started"] + [f"step {i}" for i in range(1, 9)]
    assert 429 in [c["status"] for c in world.driver.calls("chat.postMessage")]


def test_a_message_slack_refuses_is_dropped_alone(world: World) -> None:
    sender = world.sender()
    refused = sender.post(channel=HIDDEN, text="nobody sees this")
    fine = sender.post(channel=OPS, text="everyone sees this")

    assert fine.result(timeout=10)
    with pytest.raises(SlackError, match="not_in_channel"):
        refused.result(timeout=10)
    assert [m["text"] for m in world.driver.messages(OPS)] == ["everyone sees this"]


def test_a_post_with_a_key_is_sent_once(world: World) -> None:
    sender = world.sender()
    first = sender.post(channel=OPS, text="parent of run r-1", key="run:r-1")
    again = sender.post(channel=OPS, text="parent of run r-1", key="run:r-1")

    assert again is first
    assert sender.flush(timeout=10)
    assert [m["text"] for m in world.driver.messages(OPS)] == ["parent of run r-1"]


def test_many_messages_stay_within_the_update_budget_per_minute(world: World) -> None:
    """60 parents edited at once: a burst of 15, then 30 a minute (measured on the sender's clock)."""
    world.driver.set_rate_limits(False)  # the budget under test is the sender's own
    fake = FakeTime()
    sender = world.sender(
        clock=fake.clock, sleep=fake.sleep, updates_per_minute=30, update_burst=15, post_burst=1
    )
    posts = [sender.post(channel=OPS, text=f"run {i}") for i in range(60)]
    parents = [post.result(timeout=20) for post in posts]
    post_done = fake.clock()

    sent_at: list[float] = []
    lock = threading.Lock()

    def record(_: Future[bool]) -> None:
        with lock:
            sent_at.append(fake.clock())

    for i, ts in enumerate(parents):
        sender.update(channel=OPS, ts=ts, text=f"run {i}: succeeded").add_done_callback(record)

    assert sender.flush(timeout=20)
    assert post_done - 1000.0 >= 59 * 0.99  # 60 posts to one channel: one a second
    assert len(sent_at) == 60
    sent_at.sort()
    assert max(sum(1 for t in sent_at if start <= t < start + 60) for start in sent_at) <= 15 + 30
    assert sent_at[-1] - sent_at[0] >= (60 - 15) * 2 * 0.99  # the rest at one every two seconds
    assert {m["text"] for m in world.driver.messages(OPS)} == {f"run {i}: succeeded" for i in range(60)}


def test_closing_sends_what_is_queued_then_refuses_more(world: World) -> None:
    sender = world.sender()
    queued = sender.post(channel=OPS, text="last words")
    sender.close(timeout=10)

    assert queued.result(timeout=1)
    late = sender.post(channel=OPS, text="too late")
    with pytest.raises(SlackError):
        late.result(timeout=1)
    assert [m["text"] for m in world.driver.messages(OPS)] == ["last words"]


# -- spending the budget where people look ----------------------------------------------------


def test_final_edits_go_first_and_intermediate_ones_are_skipped_when_the_budget_is_short(
    world: World,
) -> None:
    world.driver.set_rate_limits(False)  # the budget under test is the sender's own
    fake = FakeTime()
    sender = world.sender(
        clock=fake.clock,
        sleep=fake.sleep,
        updates_per_minute=6,
        update_burst=4,
        progress_reserve=2,
        post_burst=10,
    )
    parents = [sender.post(channel=OPS, text=f"run {i}: queued").result(timeout=10) for i in range(6)]
    progress = [
        sender.update(channel=OPS, ts=ts, text=f"run {i}: step 2/3", priority=40, skippable=True)
        for i, ts in enumerate(parents)
    ]
    finals = [
        sender.update(channel=OPS, ts=ts, text=f"run {i}: succeeded", priority=10)
        for i, ts in enumerate(parents)
        if i % 2 == 0
    ]

    assert sender.flush(timeout=20)
    assert all(f.result(timeout=1) is True for f in finals)  # a final edit is never skipped
    # the runs that ended show their final state; progress of the others was skipped, not sent
    assert len(world.driver.calls("chat.update")) == 3
    assert [f.result(timeout=1) for i, f in enumerate(progress) if i % 2] == [False, False, False]
    texts = [m["text"] for m in world.driver.messages(OPS)]
    assert texts == [
        "run 0: succeeded",
        "run 1: queued",
        "run 2: succeeded",
        "run 3: queued",
        "run 4: succeeded",
        "run 5: queued",
    ]
    assert sender.skipped == 3


def test_intermediate_edits_go_while_the_budget_is_plentiful(world: World) -> None:
    sender = world.sender()
    ts = sender.post(channel=OPS, text="run: queued").result(timeout=10)
    first = sender.update(channel=OPS, ts=ts, text="run: step 1/2", priority=40, skippable=True)

    assert first.result(timeout=10) is True
    assert [m["text"] for m in world.driver.messages(OPS)] == ["run: step 1/2"]


def test_a_final_post_overtakes_progress_posts_waiting_for_the_channel(world: World) -> None:
    sender = world.sender(post_burst=1)
    sender.post(channel=OPS, text="warm-up").result(timeout=10)  # the channel's budget is spent now
    for i in range(4):
        sender.post(channel=OPS, text=f"progress {i}", priority=40)
    sender.post(channel=OPS, text="run failed", priority=10)

    assert sender.flush(timeout=20)
    texts = [m["text"] for m in world.driver.messages(OPS)]
    assert texts == ["warm-up", "run failed"] + [f"progress {i}" for i in range(4)]


def test_retry_after_on_updates_holds_updates_only(world: World) -> None:
    sender = world.sender(world.messenger(max_rate_limit_retries=0))
    ts = sender.post(channel=OPS, text="running").result(timeout=10)
    world.driver.fail_next("chat.update", status=429, retry_after=2, count=1)
    final = sender.update(channel=OPS, ts=ts, text="succeeded", priority=10)
    wait_until(lambda: world.driver.calls("chat.update"), timeout=10, message="the limited update")
    replies = [sender.post(channel=DEPLOYS, text=f"deploy {i}") for i in range(3)]

    assert [r.result(timeout=10) for r in replies]
    assert final.result(timeout=20) is True
    updates = world.driver.calls("chat.update")
    assert [c["status"] for c in updates] == [429, 200]
    landed = updates[-1]["time"]
    deploy_times = [c["time"] for c in world.driver.calls("chat.postMessage") if c.get("channel") == DEPLOYS]
    assert len(deploy_times) == 3 and max(deploy_times) < landed  # posts did not wait out the pause
    assert [m["text"] for m in world.driver.messages(OPS)] == ["succeeded"]


def test_retry_after_on_one_channel_holds_that_channel_only(world: World) -> None:
    sender = world.sender(world.messenger(max_rate_limit_retries=0))
    world.driver.fail_next("chat.postMessage", status=429, retry_after=2, count=1)
    held = sender.post(channel=OPS, text="ops summary")
    wait_until(lambda: world.driver.calls("chat.postMessage"), timeout=10, message="the limited post")
    others = [sender.post(channel=DEPLOYS, text=f"deploy {i}") for i in range(3)]

    assert held.result(timeout=20)
    assert all(o.result(timeout=10) for o in others)
    calls = world.driver.calls("chat.postMessage")
    ops = [c for c in calls if c.get("channel") == OPS]
    assert [c["status"] for c in ops] == [429, 200]
    deploy_times = [c["time"] for c in calls if c.get("channel") == DEPLOYS]
    assert max(deploy_times) < ops[-1]["time"]
    assert [m["text"] for m in world.driver.messages(OPS)] == ["ops summary"]
