"""Follow runs only while this replica leads: start the watch streams on leadership, stop them on loss.

Every replica answers Slack and posts a run's parent message when it handles the `run`; only
the leader watches the clusters and updates the threads, so two replicas never post the same
step twice. A new leader lists every run anew and resumes from the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)


class Stream(Protocol):
    def start(self) -> object: ...

    def stop(self, timeout: float = ...) -> None: ...


class Following:
    def __init__(self, make_streams: Callable[[], Sequence[Stream]]) -> None:
        self._make_streams = make_streams
        self._lock = threading.Lock()
        self._streams: list[Stream] = []

    @property
    def active(self) -> bool:
        return bool(self._streams)

    def start(self) -> None:
        with self._lock:
            if self._streams:
                return
            self._streams = list(self._make_streams())
            for stream in self._streams:
                stream.start()
        log.info("leading: %d stream(s) running (outbox, watches, schedules, sweeps)", len(self._streams))

    def stop(self) -> None:
        with self._lock:
            streams, self._streams = self._streams, []
        for stream in streams:
            stream.stop()
