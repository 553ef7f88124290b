"""Fault injection for the Kubernetes stand-in: dropped watches, compaction, failures, latency.

Tests and the `/_sandbox/faults/...` control endpoints use the same object, so a fault set
from `curl` behaves exactly like one set from Python. Leaves out network partitions and
partial responses (beyond an abrupt watch drop). Callers: `server` and tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.sandbox.kube.status import ApiError
from bot.sandbox.kube.store import Store

_MESSAGES: dict[int, str] = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected fault",
    503: "The server is currently unable to handle the request (injected fault)",
    504: "The server was unable to return a response in the time allotted (injected fault)",
}


@dataclass
class _Failure:
    remaining: int
    status: int
    path_prefix: str | None
    verb: str | None
    retry_after: int


class Faults:
    """Switchable faults; every method is safe to call from any thread at any time."""

    def __init__(self, store: Store, *, close_watch_sockets: Callable[[], int]) -> None:
        self._store = store
        self._close_watch_sockets = close_watch_sockets
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._latency = 0.0

    def drop_watches(self, *, abrupt: bool = False) -> None:
        """End every open watch now.

        Default: the stream ends cleanly (final empty chunk), as when the apiserver closes a watch;
        the python client's `Watch.stream` then ends if `timeout_seconds` was given, otherwise it
        re-watches from the last version it saw. `abrupt=True` resets the connections instead
        (a load balancer cutting them), which the client sees as a protocol error.
        """
        if abrupt:
            self._close_watch_sockets()
        self._store.drop_watches()

    def compact(self) -> int:
        """Forget the event history; a watch from an older resourceVersion gets 410. Returns the floor."""
        return self._store.compact()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        path_prefix: str | None = None,
        verb: str | None = None,
        retry_after: int = 1,
    ) -> None:
        """Make the next `n` matching API requests fail with `status` (a Status body).

        `verb` is an HTTP method (`POST`) or a Kubernetes verb (`create`, `list`, `watch`);
        `path_prefix` matches the start of the request path. A 429 carries `Retry-After`.
        """
        with self._lock:
            self._failures.append(_Failure(n, status, path_prefix, verb, retry_after))

    def set_latency(self, seconds: float) -> None:
        """Delay every API response by `seconds` (0 turns it off)."""
        with self._lock:
            self._latency = max(0.0, float(seconds))

    def reset(self) -> None:
        """Clear pending failures and latency."""
        with self._lock:
            self._failures.clear()
            self._latency = 0.0

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    def take_failure(self, *, method: str, verb: str, path: str) -> ApiError | None:
        """The injected error for this request, if one is due (counts it down). Used by `server`."""
        with self._lock:
            for failure in self._failures:
                if failure.path_prefix and not path.startswith(failure.path_prefix):
                    continue
                if failure.verb and failure.verb.lower() not in (method.lower(), verb.lower()):
                    continue
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return ApiError(
                    failure.status,
                    _MESSAGES.get(failure.status, f"injected fault {failure.status}"),
                    retry_after=failure.retry_after if failure.status == 429 else None,
                    details={"retryAfterSeconds": failure.retry_after} if failure.status == 429 else None,
                )
        return None

    def pending_failures(self) -> int:
        """How many injected failures are still armed."""
        with self._lock:
            return sum(f.remaining for f in self._failures)
