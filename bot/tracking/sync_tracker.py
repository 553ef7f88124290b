"""Follow Argo CD syncs (and rollbacks) and keep their Slack thread true, as `Tracker` does for workflows.

Watch events for Applications (one `ResourceWatcher` per Argo CD host, on the `applications` of
its Argo CD namespace) arrive here as raw objects. The pure `sync_progress` module turns each
into a `SyncState` and the transitions since the last one; the parent message is updated
through the paced sender, transitions become thread replies, and the summary is posted once,
guarded by the database (`mark_final_posted`).

How an event finds its run. The bot writes the run id into the operation it requests, as an
`operation.info` entry named `chatops-run` (`operation_info(run_id)`); Argo CD copies the
operation, info included, into `status.operationState.operation`. So any replica, the leader
included, maps an event to its run from the object alone, like workflows carry the run id in
a label, and a new leader resumes by its first list. While an `operation` is set, only its
own info counts (an operation someone else wrote belongs to nobody here); once it is cleared,
the info of `operationState` names the run that just ended. Runs written without the marker
(by code that only calls `start_sync`) are found through an in-memory map from
(host cluster, namespace, app) to the active run, filled by `start_sync` and, on the leader,
by `resume()` from `RunRepo.unfinished()`.

A sync is finished only when its phase is final **and** `operation` is gone (the controller
writes the final state first and clears `operation` afterwards). Applications with no active
run are ignored. Runs are stored with `kind` sync or rollback, `cluster` and `namespace` where
the Application lives (the Argo CD host and its namespace), `template` the app's name,
`name` `<app>@<first 8 characters of the run id>` (unique, so syncing one app twice never
collides), `parameters["destination"]` the bot's name for the app's destination cluster.
Messages show the app and its destination.

Left out: sync waves (Argo CD keeps them as annotations on the resources in the destination
clusters; every resource reads as wave 0 here), terminating an operation. Callers: the
command handlers (`start_sync`), the leader's watch streams (`on_application`), `bot.app`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.errors import BotError
from bot.render import apps as render_apps
from bot.store.records import RUN_ROLLBACK, RUN_SYNC, Run
from bot.tracking import sync_progress, tracker

log = logging.getLogger(__name__)

RUN_INFO_NAME = "chatops-run"
SYNC_KINDS = frozenset({RUN_SYNC, RUN_ROLLBACK})
DESTINATION_PARAMETER = "destination"
_DONE_MEMORY = 10_000

AppKey = tuple[str, str, str]  # (host cluster, namespace, app name)


class RunStore(tracker.RunStore, Protocol):
    """The workflow tracker's store, plus the unfinished runs a new leader resumes."""

    def unfinished(self) -> list[Run]: ...


def operation_info(run_id: str) -> tuple[tuple[str, str], ...]:
    """The `info` to write with a sync or rollback operation so its events find the run."""
    return ((RUN_INFO_NAME, run_id),)


def run_id_of(app: Mapping[str, Any]) -> str | None:
    """The run id the bot wrote into the app's current (or, once cleared, last) operation."""
    operation = app.get("operation")
    if isinstance(operation, Mapping):
        return _marker(operation)
    state = (app.get("status") or {}).get("operationState") or {}
    described = state.get("operation") if isinstance(state, Mapping) else None
    return _marker(described) if isinstance(described, Mapping) else None


def app_name_of(run: Run) -> str:
    """The Application a sync run follows (its `template`; older rows may only have `name`)."""
    return run.template or (run.name or "").split("@", 1)[0]


def key_of(run: Run) -> AppKey:
    return (run.cluster, run.namespace, app_name_of(run))


def display_run(run: Run) -> Run:
    """The run as messages show it: the app's name, and its destination cluster."""
    destination = str((run.parameters or {}).get(DESTINATION_PARAMETER) or run.cluster)
    return replace(run, name=app_name_of(run), cluster=destination)


class SyncTracker:
    """Posts a sync's parent message, then keeps it and its thread up to date from watch events.

    Args:
        runs: the run store (`RunRepo`).
        sender: the paced Slack sender.
        ui_urls: host cluster -> the base URL of its Argo CD UI (or None); the parent links
            `<base>/applications/<namespace>/<app>`.
        clock: the current time.
    """

    def __init__(
        self,
        *,
        runs: RunStore,
        sender: tracker.Sender,
        ui_urls: Mapping[str, str | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._runs = runs
        self._sender = sender
        self._ui_urls = dict(ui_urls or {})
        self._clock = clock
        self._lock = threading.Lock()
        self._run_locks: dict[str, threading.Lock] = {}
        self._states: dict[str, sync_progress.SyncState] = {}
        self._early: dict[str, Mapping[str, Any]] = {}
        self._active: dict[AppKey, str] = {}
        self._done: set[str] = set()

    def _run_lock(self, run_id: str) -> threading.Lock:
        with self._lock:
            return self._run_locks.setdefault(run_id, threading.Lock())

    # -- entry points --------------------------------------------------------------------
    def start_sync(self, run: Run) -> Run:
        """Post the run's parent message (once) and apply any event that came first."""
        with self._run_lock(run.id):
            current = self._runs.get(run.id) or run
            with self._lock:
                self._active[key_of(current)] = current.id
            if current.parent_ts is None:
                text, blocks = render_apps.render_sync_parent(
                    run=display_run(current), state=None, now=self._clock(), ui_url=self._ui_url(current)
                )
                ts = self._sender.post(
                    channel=current.channel_id, text=text, blocks=blocks, key=f"parent:{current.id}"
                ).result(timeout=tracker.PARENT_TIMEOUT)
                self._runs.set_parent(current.id, parent_ts=ts, now=self._clock())
                current = self._runs.get(run.id) or current
            early = self._early.pop(run.id, None)
        if early is not None:
            self._safely(run.id, early)
        return current

    def resume(self) -> int:
        """Remember the unfinished sync runs (after a restart or on a new leader); returns how many."""
        count = 0
        for run in self._runs.unfinished():
            if run.kind in SYNC_KINDS:
                with self._lock:
                    self._active[key_of(run)] = run.id
                count += 1
        return count

    def on_application(self, host_cluster: str, obj: Mapping[str, Any]) -> None:
        """One watch event (or list item) for an Application on `host_cluster`."""
        run_id = run_id_of(obj)
        if run_id is None:
            meta = obj.get("metadata") or {}
            with self._lock:
                key = (host_cluster, str(meta.get("namespace", "")), str(meta.get("name", "")))
                run_id = self._active.get(key)
        if run_id is None or run_id in self._done:
            return
        self._safely(run_id, obj)

    def retry_early(self) -> None:
        """Apply events that came before their run's parent message existed (see `Tracker`)."""
        with self._lock:
            waiting = list(self._early.items())
        for run_id, obj in waiting:
            with self._run_lock(run_id):
                if self._early.get(run_id) is not obj:
                    continue
                del self._early[run_id]
            self._safely(run_id, obj)

    # -- the work ------------------------------------------------------------------------
    def _safely(self, run_id: str, obj: Mapping[str, Any]) -> None:
        try:
            self._apply(run_id, obj)
        except BotError as exc:
            log.error("could not update sync run %s: %s", run_id, exc)
        except Exception:
            log.exception("tracking sync run %s failed", run_id)

    def _apply(self, run_id: str, obj: Mapping[str, Any]) -> None:
        with self._run_lock(run_id):
            run = self._runs.get(run_id)
            if run is None or run.kind not in SYNC_KINDS:
                return
            if run.final_posted:
                self._forget(run)
                return
            if run.parent_ts is None:
                self._early[run_id] = obj  # start_sync has not posted the parent yet
                return
            state = sync_progress.sync_state(obj)
            old = self._states.get(run_id)
            if old is not None and old == state:
                return
            self._states[run_id] = state
            # As for workflows: a run still Pending in the database has had nothing announced.
            announced = run.phase not in ("", sync_progress.PHASE_PENDING)
            now = self._clock()
            # a final phase with `operation` still set is not over yet: stored as Running
            finishing = state.phase in sync_progress.FINAL_PHASES and not state.is_final
            fields: dict[str, Any] = {
                "phase": sync_progress.PHASE_RUNNING if finishing else state.phase,
                "progress": state.progress,
                "message": state.message,
            }
            if state.is_final:
                fields["finished_at"] = state.finished_at or now
            run = self._runs.update_progress(run_id, now=now, **fields)
            shown = display_run(run)
            text, blocks = render_apps.render_sync_parent(
                run=shown, state=state, now=now, ui_url=self._ui_url(run)
            )
            assert run.parent_ts is not None
            self._sender.update(channel=run.channel_id, ts=run.parent_ts, text=text, blocks=blocks)
            transitions = sync_progress.diff(old, state) if old is not None or not announced else []
            for transition in transitions:
                if transition.kind == "finished":
                    continue
                self._sender.post(
                    channel=run.channel_id,
                    text=render_apps.render_sync_transition(transition),
                    thread_ts=run.parent_ts,
                )
            if state.is_final:
                if self._runs.mark_final_posted(run.id, now=now):
                    text, blocks = render_apps.render_sync_summary(run=shown, state=state)
                    self._sender.post(
                        channel=run.channel_id,
                        text=text,
                        blocks=blocks,
                        thread_ts=run.parent_ts,
                        key=f"summary:{run.id}",
                    )
                self._forget(run)

    def _forget(self, run: Run) -> None:
        """A finished run: drop its state, and skip its marker in later events without a database read."""
        self._states.pop(run.id, None)
        with self._lock:
            if self._active.get(key_of(run)) == run.id:
                del self._active[key_of(run)]
            self._run_locks.pop(run.id, None)
            if len(self._done) >= _DONE_MEMORY:
                self._done.clear()
            self._done.add(run.id)

    def _ui_url(self, run: Run) -> str | None:
        base = self._ui_urls.get(run.cluster)
        if not base:
            return None
        return f"{base.rstrip('/')}/applications/{run.namespace}/{app_name_of(run)}"


def _marker(operation: Mapping[str, Any]) -> str | None:
    for item in operation.get("info") or []:
        if isinstance(item, Mapping) and item.get("name") == RUN_INFO_NAME and item.get("value"):
            return str(item["value"])
    return None
