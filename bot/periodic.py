"""A leader-only stream that does one thing every few seconds on a thread of its own.

The leader's streams share one shape (`start()` returns the stream, `stop()` ends it within a
timeout); housekeeping and the approval sweep only differ in what one round does and how
often, so the thread, the stop event and the logging of a failed round live here once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Self

from bot.errors import BotError

log = logging.getLogger(__name__)


class Periodic:
    """Call `round` every `interval` seconds until stopped; a round's `BotError` is logged, not fatal."""

    def __init__(
        self, round: Callable[[], object], *, interval: float, name: str, at_start: bool = False
    ) -> None:
        self._round = round
        self._interval = interval
        self._name = name
        self._at_start = at_start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        if not self._at_start and self._stop.wait(self._interval):
            return
        while True:
            try:
                self._round()
            except BotError as exc:
                log.warning("%s: a round failed: %s", self._name, exc)
            if self._stop.wait(self._interval):
                return
