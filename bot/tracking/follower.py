"""Follow runs and keep their Slack thread true, through the durable outbox: one follower for
workflows, syncs and rollbacks, with a small part per kind.

`follow(run)` enqueues the run's parent message (`parent:<run_id>`) and returns at once: it never
waits on Slack, so a submission is not held up by Slack, and a Slack failure after the cluster
write is not an error. Watch events (from `bot.argo.watching`, on the leader) are turned by the
run's part into a state and the transitions since the last one; each event's new state and its
messages (step replies, the parent edit, and for the last one the summary) are written by
`RunRepo.advance` in ONE transaction, the final one together with the "final enqueued" flag
(`final_posted`). The state is cached in memory only after that write succeeded. The leader's
`OutboxDeliverer` sends the rows: a reply is not due before its parent is delivered, so events
that come before the parent need no buffer; replies keep their order, and the parent's edits
go on the workspace's edit budget without waiting for the thread's replies, so the final state
shows in the parent or in the summary, whichever Slack's budgets let through first.

How an event finds its run: a Workflow carries the run id in its label `argo-chatops/run-id`;
an Argo CD Application carries it in the `chatops-run` info of its operation (see
`bot.tracking.sync_tracker`), else through the map of active syncs that `follow` and `resume`
fill; an Argo Rollout carries the run of the last command written on it in its annotation
`argo-chatops/run-id`, and the unfinished runs of each Rollout (`follow`, `resume`) are told too,
so a run whose Rollout another command took over ends (its part sees the annotation changed).

Restarts and a new leader: the in-memory states are empty; the watch's first list gives every
run's current state, which is applied from scratch. Step replies have keys derived from what
they report (`step:<run_id>:<digest>`), so a reply already enqueued in an earlier life is not
enqueued again, and a step that ended meanwhile gets its end reply; the thread continues, with
nothing posted twice. Callers: the command handlers (`follow`, or the aliases `start_run` /
`start_sync`), the leader's watch streams (`on_workflow`, `on_application`, `on_rollout`), `bot.app`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from bot import metrics
from bot.announcing import (
    PRIORITY_FAILURE,
    PRIORITY_FINAL,
    PRIORITY_NORMAL,
    PRIORITY_PROGRESS,
    parent_edit_key,
    parent_key,
    summary_key,
)
from bot.argo.rollout_state import RUN_ID_ANNOTATION
from bot.errors import BotError
from bot.records import (
    OUTBOX_POST,
    OUTBOX_UPDATE,
    RUN_ROLLBACK,
    RUN_ROLLOUT,
    RUN_SYNC,
    RUN_WORKFLOW,
    OutboxEntry,
    Run,
)
from bot.render import apps as render_apps
from bot.render import runs as render_runs
from bot.tracking import progress, sync_progress
from bot.tracking.sync_tracker import (
    DESTINATION_PARAMETER,
    SUBSCRIPTION_PARAMETER,
    AppKey,
    app_name_of,
    display_run,
    ended_before,
    key_of,
    run_id_of,
)

log = logging.getLogger(__name__)

LABEL_RUN_ID = "argo-chatops/run-id"
SYNC_KINDS = frozenset({RUN_SYNC, RUN_ROLLBACK})
_DONE_MEMORY = 10_000
_FAMILIES = {
    RUN_WORKFLOW: frozenset({RUN_WORKFLOW}),
    RUN_SYNC: SYNC_KINDS,
    RUN_ROLLOUT: frozenset({RUN_ROLLOUT}),
}
RolloutKey = tuple[str, str, str]  # (cluster, namespace, rollout)
Blocks = list[dict[str, Any]]
S = TypeVar("S")


class RunStore(Protocol):
    """The run store (`bot.store.repos.RunRepo` fits)."""

    def get(self, run_id: str) -> Run | None: ...

    def advance(
        self,
        run_id: str,
        *,
        now: datetime,
        phase: str = ...,
        progress: str = ...,
        message: str = ...,
        finished_at: datetime | None = ...,
        messages: Sequence[OutboxEntry] = ...,
        final: bool = ...,
    ) -> Run | None: ...

    def unfinished(self) -> list[Run]: ...


class Announcer(Protocol):
    """The enqueue side of the outbox (`bot.slack.outbox.Outbox` fits)."""

    def post(
        self,
        *,
        key: str,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_key: str | None = None,
        thread_ts: str | None = None,
        priority: int = ...,
        run_id: str | None = None,
    ) -> None: ...

    def notify(self) -> None: ...


class Outside(Protocol):
    """Runs for operations the bot did not start (`SubscribedSyncs` / `SubscribedWorkflows` fit)."""

    def runs_for(self, host_cluster: str, obj: Mapping[str, Any]) -> list[str]: ...


class LogLinks(Protocol):
    def presign_get(self, key: str, *, expires: int | None = None) -> str: ...

    def read_tail(self, key: str, *, lines: int) -> str: ...


@dataclass(frozen=True)
class Reply:
    """One thread reply a transition asks for: `identity` names what it reports (for its key)."""

    identity: str
    text: str
    priority: int


@dataclass(frozen=True)
class Stored:
    """What the run row keeps of a state, and whether the run is over."""

    phase: str
    progress: str
    message: str
    finished_at: datetime | None
    final: bool


class Part(Protocol, Generic[S]):
    """What differs between kinds of runs: how a raw object reads, and how it is shown."""

    kinds: frozenset[str]

    def state(self, obj: Mapping[str, Any], *, run: Run) -> S: ...

    def stored(self, state: S, *, now: datetime) -> Stored: ...

    def parent(self, run: Run, state: S | None, *, now: datetime) -> tuple[str, Blocks]: ...

    def replies(self, old: S | None, new: S) -> list[Reply]: ...

    def summary(self, run: Run, state: S) -> tuple[str, Blocks]: ...


class WorkflowPart:
    """Argo Workflows: `progress.workflow_state` / `progress.diff`, shown by `render.runs`."""

    kinds = frozenset({RUN_WORKFLOW})

    def __init__(
        self,
        *,
        links: LogLinks | None,
        ui_urls: Mapping[str, str | None],
        tail_lines: int = 30,
        log_scope: progress.LogScope | None = None,
    ) -> None:
        self._links = links
        self._ui_urls = dict(ui_urls)
        self._tail_lines = tail_lines
        self._log_scope = log_scope

    def state(self, obj: Mapping[str, Any], *, run: Run) -> progress.RunState:
        # only the run's own logs in the configured bucket are ever linked or read
        return progress.workflow_state(obj, logs=self._log_scope)

    def stored(self, state: progress.RunState, *, now: datetime) -> Stored:
        final = state.is_final
        return Stored(
            phase=state.shown_phase,  # what `runs` shows: Stopped, not Argo's Failed
            progress=state.step_progress,
            message=state.message,
            finished_at=(state.finished_at or now) if final else None,
            final=final,
        )

    def parent(self, run: Run, state: progress.RunState | None, *, now: datetime) -> tuple[str, Blocks]:
        text, blocks = render_runs.render_parent(
            run=_named(run), state=state, now=now, ui_url=self._ui_urls.get(run.cluster)
        )
        return text, list(blocks)

    def replies(self, old: progress.RunState | None, new: progress.RunState) -> list[Reply]:
        out = []
        for transition in progress.diff(old, new):
            if transition.kind == "finished" or transition.step is None:
                continue
            log_url = self._link(transition.step.log_key)
            out.append(
                Reply(
                    identity=f"{transition.kind}:{transition.step.node_id}",
                    text=render_runs.render_transition(transition, log_url=log_url),
                    priority=PRIORITY_FAILURE if transition.kind == "step-failed" else PRIORITY_PROGRESS,
                )
            )
        return out

    def summary(self, run: Run, state: progress.RunState) -> tuple[str, Blocks]:
        failed = progress.first_failed_step(state)
        tail = None
        if failed is not None and failed.log_key and self._links is not None:
            try:
                tail = self._links.read_tail(failed.log_key, lines=self._tail_lines)
            except BotError as exc:
                log.warning("could not read the failed step's log: %s", exc)
        urls = {step.name: url for step in state.steps if step.log_key and (url := self._link(step.log_key))}
        text, blocks = render_runs.render_summary(
            run=_named(run), state=state, failed_log_tail=tail, log_urls=urls
        )
        return text, list(blocks)

    def _link(self, key: str | None) -> str | None:
        if not key or self._links is None:
            return None
        try:
            return self._links.presign_get(key)
        except BotError as exc:
            log.warning("could not sign a log link: %s", exc)
            return None


def _named(run: Run) -> Run:
    """A subscribed channel's run keeps its Workflow's name in its parameters (run names are unique)."""
    if run.name:
        return run
    return replace(run, name=str((run.parameters or {}).get("workflow") or "") or None)


class WaveReader(Protocol):
    """Sync waves from the live objects on a run's destination (`bot.argo.live_waves.LiveWaves` fits).

    Reads each resource once per run, counts what it cannot read as wave 0, never raises.
    """

    def waves(
        self, run_id: str, cluster: str | None, resources: Sequence[sync_progress.LiveResource]
    ) -> Mapping[sync_progress.ResourceKey, int]: ...


class SyncPart:
    """Argo CD syncs and rollbacks: `sync_progress`, shown by `render.apps` (the app and its destination).

    A sync is over only when its phase is final **and** `operation` is gone (the controller
    writes the final state first and clears `operation` afterwards); until then it is stored Running.
    Waves come from `waves`, on the run's destination cluster (`parameters["destination"]`);
    without it every resource is in wave 0.
    """

    kinds = SYNC_KINDS

    def __init__(
        self, *, ui_urls: Mapping[str, str | None] | None = None, waves: WaveReader | None = None
    ) -> None:
        self._ui_urls = dict(ui_urls or {})
        self._waves = waves

    def state(self, obj: Mapping[str, Any], *, run: Run) -> sync_progress.SyncState:
        resources = sync_progress.live_resources(obj) if self._waves is not None else ()
        if self._waves is None or not resources:
            return sync_progress.sync_state(obj)
        destination = str((run.parameters or {}).get(DESTINATION_PARAMETER) or "") or None
        try:
            waves = self._waves.waves(run.id, destination, resources)
        except Exception:  # a reader bug must not stop the thread: the waves are only shown
            log.exception("reading the sync waves of run %s failed; showing wave 0", run.id)
            waves = {}
        return sync_progress.sync_state(obj, waves=waves)

    def stored(self, state: sync_progress.SyncState, *, now: datetime) -> Stored:
        finishing = state.phase in sync_progress.FINAL_PHASES and not state.is_final
        return Stored(
            phase=sync_progress.PHASE_RUNNING if finishing else state.phase,
            progress=state.progress,
            message=state.message,
            finished_at=(state.finished_at or now) if state.is_final else None,
            final=state.is_final,
        )

    def parent(self, run: Run, state: sync_progress.SyncState | None, *, now: datetime) -> tuple[str, Blocks]:
        text, blocks = render_apps.render_sync_parent(
            run=display_run(run), state=state, now=now, ui_url=self._ui_url(run)
        )
        return text, list(blocks)

    def replies(self, old: sync_progress.SyncState | None, new: sync_progress.SyncState) -> list[Reply]:
        out = []
        for transition in sync_progress.diff(old, new):
            if transition.kind == "finished":
                continue
            resource = transition.resource
            what = (
                f"{resource.sync_phase}/{resource.kind}/{resource.namespace}/{resource.name}/{resource.hook_type}"
                if resource is not None
                else f"{transition.sync_phase}/{transition.wave}"
            )
            failed = transition.kind in ("resource-failed", "hook-failed")
            out.append(
                Reply(
                    identity=f"{new.started_at}:{transition.kind}:{what}",
                    text=render_apps.render_sync_transition(transition),
                    priority=PRIORITY_FAILURE if failed else PRIORITY_PROGRESS,
                )
            )
        return out

    def summary(self, run: Run, state: sync_progress.SyncState) -> tuple[str, Blocks]:
        text, blocks = render_apps.render_sync_summary(run=display_run(run), state=state)
        return text, list(blocks)

    def _ui_url(self, run: Run) -> str | None:
        base = self._ui_urls.get(run.cluster)
        if not base:
            return None
        return f"{base.rstrip('/')}/applications/{run.namespace}/{app_name_of(run)}"


def step_key(run_id: str, identity: str) -> str:
    """The outbox key of a thread reply: the same report of the same run always gets the same key."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:24]
    return f"step:{run_id}:{digest}"


class StepApprovals(Protocol):
    """Announces a Workflow's approval step as a card in its run's thread (`bot.actions.step_approvals`).

    Idempotent: the same step announced again (each event, a restart) is the same card.
    """

    def announce(self, run: Run, step: progress.WaitingStep) -> None: ...


class Follower:
    """Posts a run's parent, then keeps it and its thread up to date, all through the outbox.

    Args:
        runs: the run store (`RunRepo`).
        outbox: the outbox (`bot.slack.outbox.Outbox`).
        parts: one part per kind of run (`WorkflowPart`, `SyncPart`).
        clock: the current time.
        step_approvals: announces the approval steps a run's Workflow waits at.
    """

    def __init__(
        self,
        *,
        runs: RunStore,
        outbox: Announcer,
        parts: Sequence[Part[Any]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        outside: Outside | None = None,
        outside_workflows: Outside | None = None,
        step_approvals: StepApprovals | None = None,
    ) -> None:
        self._runs = runs
        self._step_approvals = step_approvals
        self._outside = outside
        self._outside_workflows = outside_workflows
        self._outbox = outbox
        self._parts: dict[str, Part[Any]] = {kind: part for part in parts for kind in part.kinds}
        self._clock = clock
        self._lock = threading.Lock()
        self._run_locks: dict[str, threading.Lock] = {}
        self._states: dict[str, Any] = {}
        self._active: dict[AppKey, tuple[str, datetime]] = {}  # -> (run id, created at)
        self._rollouts: dict[RolloutKey, set[str]] = {}  # -> the unfinished runs of each Rollout
        self._done: set[str] = set()

    # -- entry points --------------------------------------------------------------------
    def follow(self, run: Run) -> Run:
        """Enqueue the run's parent message (once) and return at once; never waits on Slack."""
        part = self._parts.get(run.kind)
        if part is None:
            raise ValueError(f"no follower part for runs of kind {run.kind!r}")
        if run.kind in SYNC_KINDS:
            with self._lock:
                self._active[key_of(run)] = (run.id, run.created_at)
        if run.kind == RUN_ROLLOUT:
            with self._lock:
                self._rollouts.setdefault(_rollout_key(run), set()).add(run.id)
        if run.parent_ts is None:
            text, blocks = part.parent(run, None, now=self._clock())
            self._outbox.post(
                key=parent_key(run.id),
                channel=run.channel_id,
                text=text,
                blocks=blocks,
                priority=PRIORITY_NORMAL,
                run_id=run.id,
            )
        return run

    def start_run(self, run: Run) -> Run:
        """Alias of `follow` for the workflow callers."""
        return self.follow(run)

    def start_sync(self, run: Run) -> Run:
        """Alias of `follow` for the sync and rollback callers."""
        return self.follow(run)

    def resume(self) -> int:
        """Remember the unfinished sync and rollout runs (after a restart, on a new leader); how many."""
        count = 0
        for run in self._runs.unfinished():
            if run.kind == RUN_ROLLOUT:
                with self._lock:
                    self._rollouts.setdefault(_rollout_key(run), set()).add(run.id)
                count += 1
                continue
            # a subscribed channel's run is found again from the operation itself (`outside`)
            if run.kind in SYNC_KINDS and SUBSCRIPTION_PARAMETER not in (run.parameters or {}):
                with self._lock:
                    self._active[key_of(run)] = (run.id, run.created_at)
                count += 1
        return count

    def on_workflow(self, cluster: str, obj: Mapping[str, Any]) -> None:
        """One watch event (or list item) for a Workflow: the bot's by its label, others for subscriptions."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        run_id = labels.get(LABEL_RUN_ID)
        if run_id and str(run_id) not in self._done:
            self._safely(str(run_id), obj, RUN_WORKFLOW)
        elif not run_id and self._outside_workflows is not None:
            for outside_id in self._outside_runs(self._outside_workflows, cluster, obj):
                if outside_id not in self._done:
                    self._safely(outside_id, obj, RUN_WORKFLOW)

    def on_application(self, host_cluster: str, obj: Mapping[str, Any]) -> None:
        """One watch event (or list item) for an Application on `host_cluster`."""
        run_id = run_id_of(obj)
        if run_id is None:
            meta = obj.get("metadata") or {}
            with self._lock:
                key = (host_cluster, str(meta.get("namespace", "")), str(meta.get("name", "")))
                active = self._active.get(key)
            # an event older than the run (its last operation ended before the run existed, the
            # watch delivered it late) tells nothing about it: taken, it would end the run at once
            # with the previous operation's state
            if active is not None and not ended_before(obj, active[1]):
                run_id = active[0]
        if run_id is not None and run_id not in self._done:
            self._safely(run_id, obj, RUN_SYNC)
        elif run_id is None and self._outside is not None:
            for outside_id in self._outside_runs(self._outside, host_cluster, obj):
                if outside_id not in self._done:
                    self._safely(outside_id, obj, RUN_SYNC)

    def on_rollout(self, cluster: str, obj: Mapping[str, Any]) -> None:
        """One watch event (or list item) for an Argo Rollout: the run in its annotation, and the
        other unfinished runs of that Rollout (which end once another command took it over)."""
        meta = obj.get("metadata") or {}
        key = (cluster, str(meta.get("namespace", "")), str(meta.get("name", "")))
        marked = str((meta.get("annotations") or {}).get(RUN_ID_ANNOTATION) or "") or None
        with self._lock:
            known = set(self._rollouts.get(key, ()))
            if marked is not None and marked not in self._done:
                self._rollouts.setdefault(key, set()).add(marked)
        if marked is not None and marked not in self._done:
            self._safely(marked, obj, RUN_ROLLOUT, where=key)
        for run_id in sorted(known - {marked}):
            if run_id not in self._done:
                self._safely(run_id, obj, RUN_ROLLOUT, where=key)

    @staticmethod
    def _outside_runs(outside: Outside, cluster: str, obj: Mapping[str, Any]) -> list[str]:
        """The subscribed channels' runs for an operation started elsewhere; none when that fails."""
        try:
            return outside.runs_for(cluster, obj)
        except BotError as exc:
            log.error("could not match an application against the subscriptions: %s", exc)
        except Exception:
            log.exception("matching an application against the subscriptions failed")
        return []

    # -- the work ------------------------------------------------------------------------
    def _run_lock(self, run_id: str) -> threading.Lock:
        with self._lock:
            return self._run_locks.setdefault(run_id, threading.Lock())

    def _safely(
        self, run_id: str, obj: Mapping[str, Any], family: str, *, where: RolloutKey | None = None
    ) -> None:
        try:
            self._apply(run_id, obj, family, where=where)
        except BotError as exc:
            log.error("could not update run %s: %s", run_id, exc)
        except Exception:
            log.exception("following run %s failed", run_id)

    def _apply(
        self, run_id: str, obj: Mapping[str, Any], family: str, *, where: RolloutKey | None = None
    ) -> None:
        with self._run_lock(run_id):
            run = self._runs.get(run_id)
            if run is None:
                return
            part = self._parts.get(run.kind)
            if part is None or run.kind not in _FAMILIES[family]:
                return  # a label or marker that names a run of another kind
            if where is not None and where != _rollout_key(run):
                return  # a marker copied onto another object: not the run's own
            if run.final_posted:
                self._forget(run)
                return
            state = part.state(obj, run=run)
            old = self._states.get(run_id)
            if old is not None and old == state:
                return
            now = self._clock()
            stored = part.stored(state, now=now)
            shown = replace(
                run,
                phase=stored.phase,
                progress=stored.progress,
                message=stored.message,
                finished_at=stored.finished_at,
                updated_at=now,
            )
            messages = self._messages(part, shown, old, state, stored, first=old is None, now=now)
            written = self._runs.advance(
                run_id,
                now=now,
                phase=stored.phase,
                progress=stored.progress,
                message=stored.message,
                finished_at=stored.finished_at,
                messages=messages,
                final=stored.final,
            )
            self._outbox.notify()
            if written is None or stored.final:
                self._forget(run)
                return
            self._announce_steps(shown, old, state)
            self._states[run_id] = state  # only once the database has it
            metrics.TRACKED_RUNS.set(len(self._states))

    def _announce_steps(self, run: Run, old: Any, state: Any) -> None:
        """A step the run's Workflow now waits at gets its approval card (the bot's own runs only)."""
        if self._step_approvals is None or not isinstance(state, progress.RunState) or run.followed_for:
            return
        before = old.waiting if isinstance(old, progress.RunState) else ()
        for step in state.waiting:
            if step in before:
                continue
            try:
                self._step_approvals.announce(run, step)
            except BotError as exc:
                log.error("could not announce approval step %s of run %s: %s", step.name, run.id, exc)

    def _messages(
        self, part: Part[Any], run: Run, old: Any, state: Any, stored: Stored, *, first: bool, now: datetime
    ) -> list[OutboxEntry]:
        thread = parent_key(run.id)
        # A run whose parent was posted before the outbox existed: its ts is used as it is.
        known = run.parent_ts
        entries: list[OutboxEntry] = []
        text, blocks = part.parent(run, state, now=now)
        if first and known is None:
            # A crash between submitting and `follow` leaves no parent: enqueue it (a no-op if it is there).
            entries.append(
                OutboxEntry(
                    key=thread,
                    method=OUTBOX_POST,
                    channel_id=run.channel_id,
                    text=text,
                    blocks=blocks,
                    priority=PRIORITY_NORMAL,
                    run_id=run.id,
                )
            )
        for reply in part.replies(old, state):
            entries.append(
                OutboxEntry(
                    key=step_key(run.id, reply.identity),
                    method=OUTBOX_POST,
                    channel_id=run.channel_id,
                    text=reply.text,
                    thread_key=thread,
                    thread_ts=known,
                    priority=reply.priority,
                    run_id=run.id,
                )
            )
        if stored.final:
            summary_text, summary_blocks = part.summary(run, state)
            entries.append(
                OutboxEntry(
                    key=summary_key(run.id),
                    method=OUTBOX_POST,
                    channel_id=run.channel_id,
                    text=summary_text,
                    blocks=summary_blocks,
                    thread_key=thread,
                    thread_ts=known,
                    priority=PRIORITY_FINAL,
                    run_id=run.id,
                )
            )
        # Last, so the parent reaches its final state after the thread's last reply.
        entries.append(
            OutboxEntry(
                key=parent_edit_key(run.id),
                method=OUTBOX_UPDATE,
                channel_id=run.channel_id,
                text=text,
                blocks=blocks,
                target_key=thread,
                target_ts=known,
                priority=PRIORITY_FINAL if stored.final else PRIORITY_PROGRESS,
                run_id=run.id,
            )
        )
        return entries

    def _forget(self, run: Run) -> None:
        """A finished run: drop its state, and skip its later events without a database read."""
        with self._lock:
            self._states.pop(run.id, None)
            if run.kind in SYNC_KINDS and self._active.get(key_of(run), ("",))[0] == run.id:
                del self._active[key_of(run)]
            if run.kind == RUN_ROLLOUT:
                runs = self._rollouts.get(_rollout_key(run))
                if runs is not None:
                    runs.discard(run.id)
                    if not runs:
                        del self._rollouts[_rollout_key(run)]
            self._run_locks.pop(run.id, None)
            if len(self._done) >= _DONE_MEMORY:
                self._done.clear()
            self._done.add(run.id)
            metrics.TRACKED_RUNS.set(len(self._states))


def _rollout_key(run: Run) -> RolloutKey:
    """The Rollout a rollout run follows: its cluster, namespace and name (the run's `template`)."""
    return (run.cluster, run.namespace, run.template or "")
