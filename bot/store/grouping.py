"""Group commit for the audit log: the rows of many concurrent commands in one transaction.

Every command writes its audit row before its answer is sent, and at tens of commands a
second one commit per row is most of a command's own cost. Here each writer hands its row to
one writer thread and waits: the thread takes every row waiting at that moment and stores
them in one transaction, then tells each writer its row id. A writer still returns only once
its row is committed, so the log stays exactly as durable; under no load a row is written
alone, at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.records import AuditEvent

log = logging.getLogger(__name__)

MAX_BATCH = 200
WAIT_SECONDS = 30.0


class AuditStore(Protocol):
    def record_many(self, events: Sequence[AuditEvent]) -> list[int]: ...

    def complete(self, event_id: int, *, event: AuditEvent) -> None: ...

    def recent(self, *, actor_id: str | None = None, limit: int = 20) -> list[AuditEvent]: ...


@dataclass
class _Waiting:
    event: AuditEvent
    done: threading.Event = field(default_factory=threading.Event)
    row_id: int | None = None
    error: BaseException | None = None


class GroupedAuditLog:
    """The audit log as the pipeline uses it (`record`, `complete`, `recent`), with group commit."""

    def __init__(self, store: AuditStore, *, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    def record(self, event: AuditEvent) -> int:
        """Store `event`; returns its id once it is committed (with whatever else was waiting)."""
        self._ensure_writer()
        waiting = _Waiting(event)
        self._queue.put(waiting)
        if not waiting.done.wait(WAIT_SECONDS):
            raise TimeoutError("the audit log did not answer in time")
        if waiting.error is not None:
            raise waiting.error
        assert waiting.row_id is not None
        return waiting.row_id

    def complete(self, event_id: int, *, event: AuditEvent) -> None:
        self._store.complete(event_id, event=event)

    def recent(self, *, actor_id: str | None = None, limit: int = 20) -> list[AuditEvent]:
        return self._store.recent(actor_id=actor_id, limit=limit)

    def _ensure_writer(self) -> None:
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                threading.Thread(target=self._write_forever, name="audit-writer", daemon=True).start()
                self._started = True

    def _write_forever(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                ids = self._store.record_many([waiting.event for waiting in batch])
            except BaseException as exc:  # each writer gets the error (a StorageError) to handle
                for waiting in batch:
                    waiting.error = exc
                    waiting.done.set()
                continue
            for waiting, row_id in zip(batch, ids, strict=True):
                waiting.row_id = row_id
                waiting.done.set()
