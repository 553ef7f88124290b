"""Change notifications from the workspace, for whoever watches it live (the web page's event stream).

The workspace publishes a small JSON event after each write: what changed and where (`message`
`posted` in `C1` at `ts`), never the new content, so a watcher fetches only what it shows. Each
watcher holds a `Subscription` with its own bounded queue: a slow one cannot hold the writer up or
grow without end; when it falls behind it gets a single `resync` event instead (fetch everything
again). A subscription carries a wake-up socket, so a server thread can wait for an event *and* its
client's socket in one `select` instead of polling either. Not here: HTTP and the stream's wire format
(`event_stream`).
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import Any

Json = dict[str, Any]

DEFAULT_QUEUE_LIMIT = 1000


class Subscription:
    """One watcher's queue of events; wait on it with `select` (it has a `fileno`), then `take()`."""

    def __init__(self, feed: ChangeFeed, *, limit: int) -> None:
        self._feed = feed
        self._limit = limit
        self._lock = threading.Lock()
        self._events: deque[Json] = deque()
        self._ended = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def fileno(self) -> int:
        """Readable when events are waiting or the feed closed (for `select`)."""
        return self._reader.fileno()

    @property
    def ended(self) -> bool:
        """True once the feed closed (the sandbox is stopping): the watcher should finish."""
        with self._lock:
            return self._ended

    def take(self) -> list[Json]:
        """Every event waiting, oldest first (never blocks)."""
        try:
            while self._reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return []
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events

    def close(self) -> None:
        """Stop receiving events and free the wake-up sockets; called by the watcher's own thread."""
        self._feed._unsubscribe(self)
        self._reader.close()
        self._writer.close()

    # ----------------------------------------------------------------- called by the feed
    def _push(self, event: Json) -> None:
        with self._lock:
            if self._ended:
                return
            if len(self._events) >= self._limit:
                self._events.clear()
                self._events.append({"type": "resync", "seq": event["seq"]})
            elif not (self._events and self._events[-1]["type"] == "resync"):
                self._events.append(event)
        self._wake()

    def _end(self) -> None:
        with self._lock:
            self._ended = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._writer.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the buffer is full of wake-ups already: the reader will wake anyway
        except OSError:
            pass  # closed by the watcher in the meantime


class ChangeFeed:
    """Fans workspace changes out to every open subscription; thread-safe, never blocks a writer."""

    def __init__(self, *, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self._queue_limit = queue_limit
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._seq = 0
        self._closed = False

    def publish(self, event: Json) -> None:
        """Tell every subscriber; `event` gets a `seq` (increasing, per feed)."""
        with self._lock:
            self._seq += 1
            stamped = {**event, "seq": self._seq}
            for subscription in self._subscriptions:  # under the lock: every watcher sees seq order
                subscription._push(stamped)

    def subscribe(self) -> Subscription:
        """A new subscription; after `close()` it is ended at once, so a late watcher finishes too."""
        subscription = Subscription(self, limit=self._queue_limit)
        with self._lock:
            if self._closed:
                subscription._end()
            else:
                self._subscriptions.add(subscription)
        return subscription

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def close(self) -> None:
        """End every subscription (the sandbox is stopping) and every one made until `reopen()`."""
        with self._lock:
            self._closed = True
            targets = list(self._subscriptions)
        for subscription in targets:
            subscription._end()

    def reopen(self) -> None:
        with self._lock:
            self._closed = False

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)
