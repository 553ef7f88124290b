"""The leader's housekeeping: forget Slack event ids once Slack can no longer redeliver them.

Every Slack envelope's id is kept (`processed_events`) so a redelivery is handled once; Slack
stops redelivering within minutes, so ids older than `keep` are deleted every `interval`,
and the table stays small however long the bot runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.errors import BotError

log = logging.getLogger(__name__)

KEEP = timedelta(hours=1)
INTERVAL_SECONDS = 600.0


class Prunable(Protocol):
    def prune(self, *, older_than: datetime) -> int: ...


class Housekeeping:
    """A leader-only stream (start/stop) that prunes the event-dedup table periodically."""

    def __init__(
        self,
        dedup: Prunable,
        *,
        keep: timedelta = KEEP,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._dedup = dedup
        self._keep = keep
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Housekeeping:
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def prune_once(self) -> int:
        """Forget the event ids older than `keep`; how many were forgotten."""
        forgotten = self._dedup.prune(older_than=self._clock() - self._keep)
        if forgotten:
            log.info("forgot %d Slack event id(s) older than %s", forgotten, self._keep)
        return forgotten

    def _run(self) -> None:
        while True:
            try:
                self.prune_once()
            except BotError as exc:
                log.warning("could not prune the Slack event ids: %s", exc)
            if self._stop.wait(self._interval):
                return
