"""`GET /_sandbox/events`: the workspace's changes as server-sent events, for the web page.

One server thread per open stream waits (`selectors`) on two things at once: its `Subscription`
(events, or the sandbox stopping) and the client's socket (readable with nothing to read means the
browser went away). So a stream costs no CPU while idle, its thread ends as soon as the browser
leaves, and `SlackSandbox.stop()` ends every stream at once by closing the feed. A comment line goes
out after `keepalive` seconds without events so a proxy does not drop an idle stream; a write that
cannot go out within `write_timeout` (a client that stopped reading) ends the stream too.

Wire format: a `retry:` hint, then one `id:`/`data:` frame per event, `data` being the event's JSON.
The first event is `{"type": "hello"}`: a browser that reconnects after a gap fetches everything again.
Not here: what the events say (`changes`, written by `workspace`).
"""

from __future__ import annotations

import json
import selectors
import socket
from collections.abc import Callable
from typing import Any

from bot.sandbox.slack.changes import Subscription

Json = dict[str, Any]

CONTENT_TYPE = "text/event-stream; charset=utf-8"
DEFAULT_KEEPALIVE_SECONDS = 15.0
WRITE_TIMEOUT_SECONDS = 5.0
RECONNECT_MILLISECONDS = 1000
KEEPALIVE_FRAME = b": keep-alive\n\n"


def frame(event: Json) -> bytes:
    """One SSE frame: `id: <seq>` (when the event has one) and `data: <json>` on a single line."""
    head = f"id: {event['seq']}\n" if "seq" in event else ""
    return f"{head}data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def serve(
    *,
    connection: socket.socket,
    write: Callable[[bytes], Any],
    subscription: Subscription,
    hello: Json,
    keepalive: float = DEFAULT_KEEPALIVE_SECONDS,
) -> None:
    """Write events until the client leaves or the feed closes; the response headers are already sent.

    Raises:
        OSError: a write failed or timed out (the client is gone or stopped reading).
    """
    write(f"retry: {RECONNECT_MILLISECONDS}\n\n".encode() + frame({"type": "hello", **hello}))
    with selectors.DefaultSelector() as selector:  # epoll/kqueue: no limit on descriptor numbers
        selector.register(connection, selectors.EVENT_READ, "client")
        selector.register(subscription.fileno(), selectors.EVENT_READ, "events")
        while True:
            ready = {key.data for key, _ in selector.select(keepalive)}
            if "client" in ready and _client_left(connection):
                return
            events = subscription.take()
            if subscription.ended:
                return
            if not ready:
                write(KEEPALIVE_FRAME)
            if events:
                write(b"".join(frame(event) for event in events))


def _client_left(connection: socket.socket) -> bool:
    """The client's side is readable: EOF or a reset means it left; anything it sent is dropped."""
    try:
        return not connection.recv(4096)
    except (BlockingIOError, InterruptedError, TimeoutError):
        return False
    except OSError:
        return True
