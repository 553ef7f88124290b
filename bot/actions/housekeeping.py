"""The leader's housekeeping: forget what nobody needs any more, so tables stay small.

- Slack event ids: every envelope's id is kept (`processed_events`) so a redelivery is handled
  once; Slack stops redelivering within minutes, so ids older than `keep` (an hour) go.
- Outbox rows: a message delivered, skipped or given up more than `outbox_keep` (a week) ago,
  of a run that has ended (or of no run). Until then a row answers "was this posted?" after a
  restart, and a running run's parent keeps the ts its next reply needs.

Every `interval` (ten minutes), on the leader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.periodic import Periodic

log = logging.getLogger(__name__)

KEEP = timedelta(hours=1)
OUTBOX_KEEP = timedelta(days=7)
INTERVAL_SECONDS = 600.0


class Prunable(Protocol):
    def prune(self, *, older_than: datetime) -> int: ...


class Housekeeping(Periodic):
    """A leader-only stream (start/stop) that prunes the event ids and the outbox periodically."""

    def __init__(
        self,
        dedup: Prunable,
        outbox: Prunable | None = None,
        *,
        keep: timedelta = KEEP,
        outbox_keep: timedelta = OUTBOX_KEEP,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(self.prune_once, interval=interval, name="housekeeping", at_start=True)
        self._dedup = dedup
        self._outbox = outbox
        self._keep = keep
        self._outbox_keep = outbox_keep
        self._clock = clock

    def prune_once(self) -> int:
        """Forget event ids older than `keep` and outbox rows older than `outbox_keep`; how many."""
        now = self._clock()
        forgotten = self._dedup.prune(older_than=now - self._keep)
        if forgotten:
            log.info("forgot %d Slack event id(s) older than %s", forgotten, self._keep)
        if self._outbox is not None:
            rows = self._outbox.prune(older_than=now - self._outbox_keep)
            if rows:
                log.info("forgot %d outbox row(s) done with more than %s ago", rows, self._outbox_keep)
            forgotten += rows
        return forgotten
