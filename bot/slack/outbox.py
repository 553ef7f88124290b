"""Durable Slack delivery: enqueue anywhere (`Outbox`), send from the leader (`OutboxDeliverer`).

`Outbox` implements `bot.announcing.Announcer`: it writes one row per message to the outbox
table (`OutboxRepo`) and wakes this process's deliverer; it never talks to Slack, so a caller
returns at once whatever state Slack is in. `OutboxDeliverer` is a leader-only stream (the
`start()`/`stop(timeout)` protocol of `bot.tracking.following`): it loads due rows (priority,
then age; replies in thread order, after their parent), sends them through the `PacedSender`
(per-channel and per-workspace pacing, Retry-After honoured) and marks a row delivered only once
Slack confirmed it. A transient failure (5xx, dropped connection, 429) puts the row back with a
capped exponential backoff, however long Slack is down; a permanent one (`channel_not_found`,
`invalid_blocks`, ...) marks it failed, with the error logged.

Exactly once across crashes: a post is marked `sending` in the database before it goes out, and
carries message metadata `{"event_type": "chatops_outbox", "event_payload": {"key": <key>}}`. A
row found `sending` that this process is not sending (a crash, or a lost answer, between Slack
posting it and the "delivered" write) is first looked up in the channel or thread by that
metadata; if Slack has it, its ts is adopted instead of posting again. Edits are idempotent and
simply sent again. Metrics: `chatops_outbox_backlog`, `chatops_outbox_oldest_seconds`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot import metrics
from bot.announcing import (
    PRIORITY_CARD,
    PRIORITY_FAILURE,
    PRIORITY_FINAL,
    PRIORITY_NORMAL,
    PRIORITY_PROGRESS,
    Announcer,
)
from bot.errors import RateLimited, SlackError, StorageError
from bot.records import (
    OUTBOX_PENDING,
    OUTBOX_POST,
    OUTBOX_SENDING,
    OUTBOX_UPDATE,
    OutboxEntry,
    OutboxMessage,
)

__all__ = [
    "EVENT_TYPE",
    "PRIORITY_CARD",
    "PRIORITY_FAILURE",
    "PRIORITY_FINAL",
    "PRIORITY_NORMAL",
    "PRIORITY_PROGRESS",
    "Announcer",
    "Outbox",
    "OutboxDeliverer",
    "metadata_for",
]

log = logging.getLogger(__name__)

EVENT_TYPE = "chatops_outbox"
POLL_INTERVAL = 1.0  # rows enqueued by other replicas are found this often
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
MAX_IN_FLIGHT = 200  # rows handed to the pacer and not answered yet, all channels together
POSTS_IN_FLIGHT_PER_CHANNEL = 2  # so the next post of a channel is chosen by priority when it can go
UPDATES_IN_FLIGHT = 20  # the pacer skips intermediate ones it cannot send: a few suffice
SUPERSEDE_BACKLOG = 5  # posts waiting in a channel past which stale progress replies are skipped
_SUPERSEDE_EVERY = 0.25
LOOKUP_SLACK = 120.0  # seconds before a row's creation that its message may carry as ts (clock skew)
_METRICS_EVERY = 1.0


def metadata_for(key: str) -> dict[str, Any]:
    """The Slack message metadata that names the outbox row a message was posted for."""
    return {"event_type": EVENT_TYPE, "event_payload": {"key": key}}


class OutboxStore(Protocol):
    """What the outbox needs from the database (`bot.store.repos.OutboxRepo` fits)."""

    def enqueue(self, entry: OutboxEntry, *, now: datetime) -> bool: ...

    def delivered_ts(self, key: str) -> str | None: ...

    def due(
        self, *, now: datetime, limit: int = ..., exclude: Sequence[int] = ...
    ) -> list[OutboxMessage]: ...

    def next_due_at(self) -> datetime | None: ...

    def claim(self, row_id: int, *, status: str, now: datetime) -> bool: ...

    def mark_delivered(self, row_id: int, *, ts: str | None, now: datetime) -> bool: ...
    def pending_edit(self, key: str) -> OutboxMessage | None: ...
    def pending_edits(self, keys: Collection[str]) -> dict[str, OutboxMessage]: ...
    def settle_edit(self, edit: OutboxMessage, *, ts: str | None, now: datetime) -> bool: ...

    def retry_later(self, row_id: int, *, status: str, error: str, at: datetime, now: datetime) -> bool: ...

    def mark_failed(self, row_id: int, *, error: str, now: datetime) -> int: ...

    def backlog(self) -> tuple[int, datetime | None]: ...

    def mark_skipped(self, row_id: int, *, reason: str, now: datetime) -> bool: ...

    def supersede_progress(
        self, *, now: datetime, progress_from: int, final_up_to: int, backlog: int
    ) -> int: ...


class PacedSending(Protocol):
    """The paced sender (`bot.slack.pacing.PacedSender` fits)."""

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        retry_transient: bool = True,
        priority: int = PRIORITY_NORMAL,
    ) -> Future[str]: ...

    def update(
        self,
        *,
        channel: str,
        ts: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        retry_transient: bool = True,
        priority: int = PRIORITY_NORMAL,
        skippable: bool = False,
    ) -> Future[bool]: ...

    def refresh_post(
        self, future: Future[str], *, text: str, blocks: Sequence[dict[str, Any]] | None, priority: int
    ) -> bool: ...


class MessageFinder(Protocol):
    """Finds a message by its metadata (`bot.slack.client.Messenger` fits)."""

    def find_by_metadata(
        self,
        *,
        channel: str,
        event_type: str,
        match: Mapping[str, Any],
        thread_ts: str | None = None,
        oldest: str | None = None,
        limit: int = ...,
    ) -> str | None: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _blocks(blocks: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    return [dict(block) for block in blocks] if blocks else None


class Outbox:
    """The enqueue side, usable on every replica: writes rows, wakes the local deliverer.

    Args:
        repo: the outbox table (`OutboxRepo`).
        clock: the current time (UTC).
    """

    def __init__(self, repo: OutboxStore, *, clock: Callable[[], datetime] = _now) -> None:
        self._repo = repo
        self._clock = clock
        self.signal = threading.Event()  # set when rows were written; the deliverer waits on it

    def post(
        self,
        *,
        key: str,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_key: str | None = None,
        thread_ts: str | None = None,
        priority: int = PRIORITY_NORMAL,
        run_id: str | None = None,
    ) -> None:
        """Enqueue a post (a reply with `thread_key` or `thread_ts`); a key seen before is a no-op."""
        entry = OutboxEntry(
            key=key,
            method=OUTBOX_POST,
            channel_id=channel,
            text=text,
            blocks=_blocks(blocks),
            thread_key=thread_key,
            thread_ts=thread_ts,
            priority=priority,
            run_id=run_id,
        )
        if self._repo.enqueue(entry, now=self._clock()):
            self.notify()

    def edit(
        self,
        *,
        key: str,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        target_key: str | None = None,
        target_ts: str | None = None,
        priority: int = PRIORITY_NORMAL,
    ) -> None:
        """Enqueue new content for a message; an edit still waiting under `key` is replaced."""
        entry = OutboxEntry(
            key=key,
            method=OUTBOX_UPDATE,
            channel_id=channel,
            text=text,
            blocks=_blocks(blocks),
            target_key=target_key,
            target_ts=target_ts,
            priority=priority,
        )
        self._repo.enqueue(entry, now=self._clock())
        self.notify()

    def delivered_ts(self, key: str) -> str | None:
        """The ts of the post enqueued under `key`, once Slack confirmed it (else None)."""
        return self._repo.delivered_ts(key)

    def notify(self) -> None:
        """Rows were written (here or in a transaction of the caller's): wake the deliverer."""
        self.signal.set()


class OutboxDeliverer:
    """Sends what the outbox holds, on the leader only. One thread; Slack calls go through the pacer.

    Args:
        repo: the outbox table.
        sender: the paced sender.
        finder: looks a message up by metadata (`Messenger`), to adopt a post an earlier life sent.
        signal: the `Outbox.signal` of this process (wakes the deliverer at once on enqueue).
        clock: the current time (UTC); `next_attempt_at` is computed from it.
        poll_interval: seconds between looks for rows written by other replicas.
        backoff_base, backoff_cap: seconds; the n-th failure waits min(base * 2**(n-1), cap).
        max_in_flight: rows handed to the pacer and not answered yet, at most.
    """

    def __init__(
        self,
        *,
        repo: OutboxStore,
        sender: PacedSending,
        finder: MessageFinder,
        signal: threading.Event | None = None,
        clock: Callable[[], datetime] = _now,
        poll_interval: float = POLL_INTERVAL,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
        max_in_flight: int = MAX_IN_FLIGHT,
        posts_per_channel: int = POSTS_IN_FLIGHT_PER_CHANNEL,
        updates_in_flight: int = UPDATES_IN_FLIGHT,
        supersede_backlog: int = SUPERSEDE_BACKLOG,
        name: str = "outbox-deliverer",
    ) -> None:
        self._repo = repo
        self._sender = sender
        self._finder = finder
        self._signal = signal or threading.Event()
        self._clock = clock
        self._poll = poll_interval
        self._base = backoff_base
        self._cap = backoff_cap
        self._max_in_flight = max(1, max_in_flight)
        self._posts_per_channel = max(1, posts_per_channel)
        self._updates_in_flight = max(1, updates_in_flight)
        self._supersede_backlog = max(0, supersede_backlog)
        self._superseded_at = 0.0
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight: dict[int, OutboxMessage] = {}
        self._held = False  # the last dispatch left due rows behind: their lanes were full
        self._carried: dict[int, OutboxMessage] = {}  # post row id -> the edit whose content it carries
        self._post_futures: dict[int, Future[Any]] = {}  # post row id in flight -> the pacer's Future
        self._refreshed_at = 0.0
        self._results: queue.SimpleQueue[tuple[OutboxMessage, Future[Any]]] = queue.SimpleQueue()
        self._metrics_at = 0.0

    # -- stream protocol ---------------------------------------------------------------------
    def start(self) -> OutboxDeliverer:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking rows; record the answers of what is in flight (up to `timeout`)."""
        self._stop.set()
        self._signal.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        log.info("outbox deliverer started")
        while not self._stop.is_set():
            self._signal.clear()
            try:
                self._record_results()
                self._dispatch()
                self._report()
            except StorageError as exc:
                log.error("outbox: database unavailable, trying again: %s", exc)
            except Exception:
                log.exception("outbox deliverer failed; trying again")
            self._signal.wait(self._wait())
        deadline = threading.Event()
        for _ in range(20):  # let the answers of what is in flight be recorded (bounded)
            if not self._in_flight:
                break
            try:
                self._record_results()
            except StorageError as exc:
                log.error("outbox: could not record a delivery: %s", exc)
                break
            deadline.wait(0.05)
        log.info("outbox deliverer stopped (%d message(s) in flight)", len(self._in_flight))

    def _wait(self) -> float:
        if not self._results.empty():
            return 0.0
        wait = self._poll
        if self._held and self._in_flight:
            # due rows wait for a lane held by rows in flight: the next answer (or a new row)
            # signals; looking again before that would only find the same rows held
            return wait
        try:
            at = self._repo.next_due_at()
        except StorageError:
            return wait
        if at is not None and len(self._in_flight) < self._max_in_flight:
            wait = min(wait, max(0.0, (at - self._clock()).total_seconds()))
        return max(wait, 0.01)

    def _dispatch(self) -> None:
        self._supersede()
        self._refresh_in_flight()
        room = self._max_in_flight - len(self._in_flight)
        if room <= 0:
            return
        posts: dict[tuple[str, bool], int] = {}
        updates = 0
        for row in self._in_flight.values():
            if row.method == OUTBOX_POST:
                lane = (row.channel_id, row.priority <= PRIORITY_FAILURE)
                posts[lane] = posts.get(lane, 0) + 1
            else:
                updates += 1
        # Due rows come by priority, then age. A channel gets at most a couple of posts at a time
        # and the pacer a few edits, so what goes next is chosen here, when it can go, by priority.
        # Summaries, failures and cards have lanes of their own, so posts of lower priority
        # already handed to the pacer never keep them out of it (the pacer sends them first).
        self._held = False
        for row in self._repo.due(now=self._clock(), limit=500, exclude=list(self._in_flight)):
            if self._stop.is_set() or room <= 0:
                self._held = True
                return
            if row.method == OUTBOX_POST:
                lane = (row.channel_id, row.priority <= PRIORITY_FAILURE)
                if posts.get(lane, 0) >= self._posts_per_channel:
                    self._held = True
                    continue
                posts[lane] = posts.get(lane, 0) + 1
            else:
                if updates >= self._updates_in_flight:
                    self._held = True
                    continue
                updates += 1
            room -= 1
            self._deliver(row)

    def _refresh_in_flight(self) -> None:
        """Posts handed to the pacer take the edits enqueued for them since (a run that ended while
        its parent waited): the newest content, at the edit's priority, in the one post."""
        now = self._clock().timestamp()
        if now - self._refreshed_at < _SUPERSEDE_EVERY:
            return
        self._refreshed_at = now
        waiting = {
            row.key: row_id
            for row_id, row in self._in_flight.items()
            if row.method == OUTBOX_POST and row_id in self._post_futures
        }
        for key, edit in self._repo.pending_edits(list(waiting)).items():
            row_id = waiting[key]
            carried = self._carried.get(row_id)
            if carried is not None and carried.id == edit.id and carried.created_at == edit.created_at:
                continue
            row = self._in_flight[row_id]
            if self._sender.refresh_post(
                self._post_futures[row_id],
                text=edit.text,
                blocks=edit.blocks,
                priority=min(row.priority, edit.priority),
            ):
                self._carried[row_id] = edit

    def _supersede(self) -> None:
        """Where a channel's posts pile up, skip the progress replies a run's summary makes stale."""
        now = self._clock()
        if now.timestamp() - self._superseded_at < _SUPERSEDE_EVERY:
            return
        self._superseded_at = now.timestamp()
        count = self._repo.supersede_progress(
            now=now,
            progress_from=PRIORITY_PROGRESS,
            final_up_to=PRIORITY_FINAL,
            backlog=self._supersede_backlog,
        )
        if count:
            log.info("outbox: %d progress repl(ies) skipped: their runs' summaries say more", count)

    def _deliver(self, row: OutboxMessage) -> None:
        now = self._clock()
        if row.status == OUTBOX_SENDING and row.method == OUTBOX_POST:
            # Sent by an earlier life (or its answer was lost): Slack may have it already.
            try:
                ts = self._finder.find_by_metadata(
                    channel=row.channel_id,
                    event_type=EVENT_TYPE,
                    match={"key": row.key},
                    thread_ts=row.thread_ts,
                    oldest=f"{row.created_at.timestamp() - LOOKUP_SLACK:.6f}",
                )
            except SlackError as exc:
                if exc.transient or isinstance(exc, RateLimited):
                    if self._repo.claim(row.id, status=OUTBOX_SENDING, now=now):  # counts as an attempt
                        self._later(row, status=OUTBOX_SENDING, error=str(exc), attempts=row.attempts + 1)
                else:
                    self._fail(row, str(exc))
                return
            if ts is not None:
                if self._repo.mark_delivered(row.id, ts=ts, now=now):
                    log.info(
                        "outbox: %s was already in Slack (ts %s); adopted, not posted again", row.key, ts
                    )
                return
        if not self._repo.claim(row.id, status=row.status, now=now):
            return  # someone else moved it
        if row.method == OUTBOX_POST:
            # An edit already waiting for this message (a run that ended before its parent could
            # go) is its content: one post shows the newest state, and the edit is not sent.
            carried = self._repo.pending_edit(row.key)
            if carried is not None:
                self._carried[row.id] = carried
            content = carried or row
            future: Future[Any] = self._sender.post(
                channel=row.channel_id,
                text=content.text,
                blocks=content.blocks,
                thread_ts=row.thread_ts,
                metadata=metadata_for(row.key),
                retry_transient=False,
                priority=min(row.priority, carried.priority) if carried is not None else row.priority,
            )
            self._post_futures[row.id] = future
        else:
            if row.target_ts is None:
                self._fail(row, "the message to edit has no ts")
                return
            future = self._sender.update(
                channel=row.channel_id,
                ts=row.target_ts,
                text=row.text,
                blocks=row.blocks,
                retry_transient=False,
                priority=row.priority,
                # intermediate progress is skipped when the budget is short; a final state never is
                skippable=row.priority >= PRIORITY_PROGRESS,
            )
        self._in_flight[row.id] = row

        def done(answer: Future[Any], row: OutboxMessage = row) -> None:
            self._results.put((row, answer))
            self._signal.set()

        future.add_done_callback(done)

    def _record_results(self) -> None:
        while True:
            try:
                row, answer = self._results.get_nowait()
            except queue.Empty:
                return
            try:
                self._record(row, answer)
            finally:
                self._in_flight.pop(row.id, None)

    def _record(self, row: OutboxMessage, answer: Future[Any]) -> None:
        attempts = row.attempts + 1  # claimed once more before it was sent
        exc = answer.exception()
        if exc is None and row.method == OUTBOX_UPDATE and answer.result() is False:
            self._repo.mark_skipped(row.id, reason="skipped: the update budget was short", now=self._clock())
            return
        carried = self._carried.pop(row.id, None)
        self._post_futures.pop(row.id, None)
        if exc is None:
            ts = answer.result() if row.method == OUTBOX_POST else None
            self._repo.mark_delivered(row.id, ts=ts, now=self._clock())
            if carried is not None:
                self._repo.settle_edit(carried, ts=ts, now=self._clock())
            return
        if isinstance(exc, SlackError) and not exc.transient and not isinstance(exc, RateLimited):
            self._fail(row, str(exc))
            return
        # A post whose answer was an error may still have reached Slack: look it up before posting again.
        status = OUTBOX_SENDING if row.method == OUTBOX_POST else OUTBOX_PENDING
        if not isinstance(exc, SlackError):
            log.error("outbox: sending %s failed", row.key, exc_info=exc)
        self._later(row, status=status, error=str(exc) or type(exc).__name__, attempts=attempts)

    def _later(self, row: OutboxMessage, *, status: str, error: str, attempts: int) -> None:
        delay = min(self._base * 2 ** max(0, attempts - 1), self._cap)
        now = self._clock()
        self._repo.retry_later(row.id, status=status, error=error, at=now + timedelta(seconds=delay), now=now)
        log.warning("outbox: %s not delivered (%s); again in %.1fs", row.key, error, delay)

    def _fail(self, row: OutboxMessage, error: str) -> None:
        count = self._repo.mark_failed(row.id, error=error, now=self._clock())
        log.error("outbox: Slack refused %s for good (%s); %d message(s) given up", row.key, error, count)

    def _report(self) -> None:
        now = self._clock()
        if now.timestamp() - self._metrics_at < _METRICS_EVERY:
            return
        self._metrics_at = now.timestamp()
        count, oldest = self._repo.backlog()
        metrics.OUTBOX_BACKLOG.set(count)
        metrics.OUTBOX_OLDEST_SECONDS.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


# `Outbox` is the Announcer the use cases get.
_: type[Announcer] = Outbox
