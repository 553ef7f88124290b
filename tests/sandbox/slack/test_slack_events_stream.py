"""The live event stream (`GET /_sandbox/events`) through real HTTP: what changes it reports, its
keep-alives, and that it never holds a thread once the browser leaves or the sandbox stops."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_sdk import WebClient
from slack_world import ALICE, OPS

from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.slack.changes import ChangeFeed
from bot.sandbox.waiting import wait_until

Event = dict[str, Any]


class EventStream:
    """A bare SSE client: reads frames off the socket; `comments` keeps the keep-alive lines."""

    def __init__(self, sandbox: SlackSandbox) -> None:
        parts = urlsplit(sandbox.control_url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        self.connection.request("GET", "/_sandbox/events", headers={"Accept": "text/event-stream"})
        self.response = self.connection.getresponse()
        self.comments: list[str] = []
        self.retry: str | None = None

    def next_event(self) -> Event | None:
        """The next event's JSON, or None at the end of the stream."""
        data: list[str] = []
        while True:
            raw = self.response.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("retry:"):
                self.retry = line.removeprefix("retry:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
            elif not line and data:
                return dict(json.loads("\n".join(data)))

    def wait_for(self, match: Callable[[Event], bool], what: str) -> Event:
        seen: list[Event] = []
        while True:
            event = self.next_event()
            if event is None:
                raise AssertionError(f"stream ended before {what}; saw {seen}")
            if match(event):
                return event
            seen.append(event)

    def close(self) -> None:
        self.response.close()
        self.connection.close()


@pytest.fixture
def open_stream(slack_sandbox: SlackSandbox) -> Iterator[Callable[[], EventStream]]:
    streams: list[EventStream] = []

    def open_one() -> EventStream:
        stream = EventStream(slack_sandbox)
        streams.append(stream)
        return stream

    yield open_one
    for stream in streams:
        stream.close()


def _request_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "process_request_thread" in t.name and t.is_alive()}


def test_the_stream_says_hello_then_reports_posts_edits_replies_and_ephemerals(
    slack_sandbox: SlackSandbox, web_client: WebClient, open_stream: Callable[[], EventStream]
) -> None:
    stream = open_stream()
    assert stream.response.status == 200
    assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
    assert stream.response.getheader("Cache-Control") == "no-cache"
    hello = stream.next_event()
    assert hello is not None and hello["type"] == "hello"
    assert stream.retry == "1000"

    ts = web_client.chat_postMessage(channel=OPS, text="Deploying *payments*")["ts"]
    posted = stream.wait_for(lambda e: e["type"] == "message", "the post")
    assert posted == {
        "type": "message",
        "action": "posted",
        "channel": OPS,
        "ts": ts,
        "thread_ts": None,
        "seq": posted["seq"],
    }

    web_client.chat_update(channel=OPS, ts=ts, text="Deployed *payments*")
    edited = stream.wait_for(lambda e: e["type"] == "message", "the edit")
    assert (edited["action"], edited["channel"], edited["ts"]) == ("updated", OPS, ts)
    assert edited["seq"] > posted["seq"]

    reply_ts = web_client.chat_postMessage(channel=OPS, thread_ts=ts, text="step 1 done")["ts"]
    reply = stream.wait_for(lambda e: e["type"] == "message", "the thread reply")
    assert (reply["action"], reply["ts"], reply["thread_ts"]) == ("posted", reply_ts, ts)

    web_client.chat_postEphemeral(channel=OPS, user=ALICE, text="Only you can see this")
    ephemeral = stream.wait_for(lambda e: e["type"] == "ephemeral", "the ephemeral")
    assert (ephemeral["action"], ephemeral["user"], ephemeral["channel"]) == ("posted", ALICE, OPS)

    web_client.reactions_add(channel=OPS, timestamp=ts, name="rocket")
    reaction = stream.wait_for(lambda e: e["type"] == "reaction", "the reaction")
    assert (reaction["channel"], reaction["ts"], reaction["name"]) == (OPS, ts, "rocket")

    web_client.chat_delete(channel=OPS, ts=reply_ts)
    deleted = stream.wait_for(lambda e: e["type"] == "message", "the delete")
    assert (deleted["action"], deleted["ts"], deleted["thread_ts"]) == ("deleted", reply_ts, ts)


def test_people_and_channels_added_over_the_control_api_are_reported(
    slack_sandbox: SlackSandbox, slack_driver: SlackDriver, open_stream: Callable[[], EventStream]
) -> None:
    stream = open_stream()
    stream.next_event()
    slack_driver.add_channel("C0NEW", name="releases")
    changed = stream.wait_for(lambda e: e["type"] == "channel", "the new channel")
    assert changed["channel"] == "C0NEW"
    slack_driver.dm(user=ALICE, text="help")  # opens the DM: a channel the sidebar has not seen
    dm = stream.wait_for(lambda e: e["type"] == "channel", "the DM")
    posted = stream.wait_for(lambda e: e["type"] == "message", "the DM message")
    assert posted["channel"] == dm["channel"]


def test_an_idle_stream_gets_keep_alive_comments(
    slack_sandbox: SlackSandbox, open_stream: Callable[[], EventStream]
) -> None:
    slack_sandbox.events_keepalive = 0.1
    stream = open_stream()
    stream.next_event()
    # nothing happens in the workspace: what follows the hello is keep-alive comments only
    lines = [stream.response.readline() for _ in range(4)]
    assert lines == [b": keep-alive\n", b"\n", b": keep-alive\n", b"\n"]


def test_a_browser_that_leaves_does_not_keep_a_server_thread(
    slack_sandbox: SlackSandbox, open_stream: Callable[[], EventStream]
) -> None:
    before = _request_threads()
    stream = open_stream()
    stream.next_event()
    changes = slack_sandbox.workspace.changes
    wait_until(lambda: changes.subscriber_count() == 1, timeout=10, message="the stream to subscribe")
    serving = _request_threads() - before
    assert len(serving) == 1

    stream.close()

    wait_until(lambda: changes.subscriber_count() == 0, timeout=10, message="the stream to unsubscribe")
    wait_until(
        lambda: not any(t.is_alive() for t in serving), timeout=10, message="the stream's thread to end"
    )


def test_the_sandbox_stops_promptly_with_streams_open() -> None:
    before = set(threading.enumerate())
    sandbox = SlackSandbox().start()
    streams = [EventStream(sandbox) for _ in range(3)]
    try:
        for stream in streams:
            assert stream.next_event() is not None
        wait_until(lambda: sandbox.workspace.changes.subscriber_count() == 3, timeout=10, message="3 streams")

        started = time.monotonic()
        sandbox.stop()
        took = time.monotonic() - started

        assert took < 3, f"stop() took {took:.1f}s with streams open"
        for stream in streams:
            assert stream.next_event() is None  # the server ended each stream
        wait_until(
            lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
            timeout=10,
            message="the sandbox's threads to end",
        )
    finally:
        for stream in streams:
            stream.close()
        sandbox.stop()


def test_a_watcher_that_falls_behind_is_told_to_resync_instead_of_growing() -> None:
    feed = ChangeFeed(queue_limit=3)
    subscription = feed.subscribe()
    try:
        for n in range(10):
            feed.publish({"type": "message", "action": "posted", "ts": str(n)})
        events = subscription.take()
        assert [e["type"] for e in events] == ["resync"]
        feed.publish({"type": "message", "action": "posted", "ts": "later"})
        assert [e["type"] for e in subscription.take()] == ["message"]
    finally:
        subscription.close()
    assert feed.subscriber_count() == 0


def test_a_closed_feed_ends_old_and_new_subscriptions_until_reopened() -> None:
    feed = ChangeFeed()
    old = feed.subscribe()
    feed.close()
    late = feed.subscribe()
    assert old.ended and late.ended
    old.close()
    late.close()
    feed.reopen()
    fresh = feed.subscribe()
    assert not fresh.ended
    fresh.close()
