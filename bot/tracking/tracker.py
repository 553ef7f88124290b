"""Follow runs and keep their Slack thread true: one parent message, replies for what matters.

Watch events (from `bot.argo.watching`, one stream per cluster) arrive here as raw Workflow
objects; the pure `progress` module turns each into a `RunState` and the transitions since the
last one. The parent message is updated through the paced sender (coalesced, within Slack's
limits); step transitions become thread replies; the final summary is posted exactly once,
guarded by the database (`mark_final_posted`), so a restart or a second leader never posts it
twice and never misses it.

After a restart (or on a new leader) the in-memory states are empty: the first event of a run
already under way refreshes the parent and, when the run has finished, posts the final summary,
but does not replay step replies that may already be in the thread (better a missed "step
started" than a duplicate). A run still Pending in the database has had nothing announced, so
all of its steps are reported, whichever replica posted its parent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, Protocol

from bot import metrics
from bot.errors import BotError
from bot.render import runs as render_runs
from bot.store.records import Run
from bot.tracking import progress

log = logging.getLogger(__name__)

LABEL_RUN_ID = "argo-chatops/run-id"
PARENT_TIMEOUT = 60.0


class RunStore(Protocol):
    def get(self, run_id: str) -> Run | None: ...

    def update_progress(
        self,
        run_id: str,
        *,
        now: datetime,
        phase: str = ...,
        progress: str = ...,
        message: str = ...,
        finished_at: datetime | None = ...,
    ) -> Run: ...

    def set_parent(self, run_id: str, *, parent_ts: str, now: datetime) -> bool: ...

    def mark_final_posted(self, run_id: str, *, now: datetime) -> bool: ...


class Sender(Protocol):
    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Future[str]: ...

    def update(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]] | None = None
    ) -> Future[None]: ...


class LogLinks(Protocol):
    def presign_get(self, key: str, *, expires: int | None = None) -> str: ...

    def read_tail(self, key: str, *, lines: int) -> str: ...


class Tracker:
    def __init__(
        self,
        *,
        runs: RunStore,
        sender: Sender,
        links: LogLinks | None,
        ui_urls: Mapping[str, str | None],
        tail_lines: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._runs = runs
        self._sender = sender
        self._links = links
        self._ui_urls = dict(ui_urls)
        self._tail_lines = tail_lines
        self._clock = clock
        self._lock = threading.Lock()
        self._run_locks: dict[str, threading.Lock] = {}
        self._states: dict[str, progress.RunState] = {}
        self._early: dict[str, Mapping[str, Any]] = {}

    def _run_lock(self, run_id: str) -> threading.Lock:
        with self._lock:
            return self._run_locks.setdefault(run_id, threading.Lock())

    # -- entry points --------------------------------------------------------------------
    def start_run(self, run: Run) -> Run:
        """Post the run's parent message (once) and apply any event that came first."""
        with self._run_lock(run.id):
            current = self._runs.get(run.id) or run
            if current.parent_ts is None:
                text, blocks = render_runs.render_parent(
                    run=current, state=None, now=self._clock(), ui_url=self._ui_urls.get(current.cluster)
                )
                ts = self._sender.post(
                    channel=current.channel_id, text=text, blocks=blocks, key=f"parent:{current.id}"
                ).result(timeout=PARENT_TIMEOUT)
                self._runs.set_parent(current.id, parent_ts=ts, now=self._clock())
                current = self._runs.get(run.id) or current
            metrics.TRACKED_RUNS.set(len(self._run_locks))
            early = self._early.pop(run.id, None)
        if early is not None:
            self.on_workflow(current.cluster, early)
        return current

    def on_workflow(self, cluster: str, obj: Mapping[str, Any]) -> None:
        """One watch event (or list item) for a Workflow; ignores Workflows the bot did not start."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        run_id = labels.get(LABEL_RUN_ID)
        if not run_id:
            return
        try:
            self._apply(str(run_id), obj)
        except BotError as exc:
            log.error("could not update run %s: %s", run_id, exc)
        except Exception:
            log.exception("tracking run %s failed", run_id)

    def retry_early(self) -> None:
        """Apply events that came before their run's parent message existed.

        On the leader, a run submitted through another replica may finish before that replica
        has posted its parent; its last event then waits here until the parent exists.
        """
        with self._lock:
            waiting = list(self._early.items())
        for run_id, obj in waiting:
            with self._run_lock(run_id):
                if self._early.get(run_id) is not obj:
                    continue  # a newer event or start_run took it
                del self._early[run_id]
            self.on_workflow("", obj)

    # -- the work ------------------------------------------------------------------------
    def _apply(self, run_id: str, obj: Mapping[str, Any]) -> None:
        with self._run_lock(run_id):
            run = self._runs.get(run_id)
            if run is None:
                return
            if run.parent_ts is None:
                self._early[run_id] = obj  # start_run has not posted the parent yet
                return
            state = progress.workflow_state(obj)
            old = self._states.get(run_id)
            if old is None and run.final_posted and state.is_final:
                return  # long done; a re-list must not touch every finished run's message again
            if old is not None and old == state:
                return
            self._states[run_id] = state
            # The stored phase moves past Pending only once some replica has acted on an event,
            # so a run still Pending has had no step announced yet, whoever posted its parent.
            announced = run.phase not in ("", "Pending")
            now = self._clock()
            fields: dict[str, Any] = {
                "phase": state.phase,
                "progress": state.progress,
                "message": state.message,
            }
            if state.is_final:
                fields["finished_at"] = state.finished_at or now
            run = self._runs.update_progress(run_id, now=now, **fields)
            text, blocks = render_runs.render_parent(
                run=run, state=state, now=now, ui_url=self._ui_urls.get(run.cluster)
            )
            assert run.parent_ts is not None
            self._sender.update(channel=run.channel_id, ts=run.parent_ts, text=text, blocks=blocks)
            transitions = progress.diff(old, state) if old is not None or not announced else []
            for transition in transitions:
                if transition.kind == "finished":
                    continue
                log_url = self._link(transition.step.log_key) if transition.step else None
                self._sender.post(
                    channel=run.channel_id,
                    text=render_runs.render_transition(transition, log_url=log_url),
                    thread_ts=run.parent_ts,
                )
            if state.is_final and not run.final_posted:
                self._post_summary(run, state)
            if state.is_final:
                self._states.pop(run_id, None)
                with self._lock:
                    self._run_locks.pop(run_id, None)
                    metrics.TRACKED_RUNS.set(len(self._run_locks))

    def _post_summary(self, run: Run, state: progress.RunState) -> None:
        if not self._runs.mark_final_posted(run.id, now=self._clock()):
            return  # another replica (or an earlier life of this one) posted it
        failed = progress.first_failed_step(state)
        tail = None
        if failed is not None and failed.log_key and self._links is not None:
            try:
                tail = self._links.read_tail(failed.log_key, lines=self._tail_lines)
            except BotError as exc:
                log.warning("could not read the failed step's log: %s", exc)
        urls = {step.name: url for step in state.steps if step.log_key and (url := self._link(step.log_key))}
        text, blocks = render_runs.render_summary(run=run, state=state, failed_log_tail=tail, log_urls=urls)
        assert run.parent_ts is not None
        self._sender.post(
            channel=run.channel_id, text=text, blocks=blocks, thread_ts=run.parent_ts, key=f"summary:{run.id}"
        )

    def _link(self, key: str | None) -> str | None:
        if not key or self._links is None:
            return None
        try:
            return self._links.presign_get(key)
        except BotError as exc:
            log.warning("could not sign a log link: %s", exc)
            return None


class RetriesEarly(Protocol):
    def retry_early(self) -> None: ...


class EarlySweeper:
    """Calls `retry_early` of a tracker (workflows or syncs) every few seconds while this replica leads."""

    def __init__(self, tracker: RetriesEarly, *, interval: float = 2.0) -> None:
        self._tracker = tracker
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> EarlySweeper:
        self._thread = threading.Thread(target=self._run, name="tracker-sweeper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._tracker.retry_early()
