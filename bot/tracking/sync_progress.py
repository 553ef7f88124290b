"""Argo CD Applications as people see them, and what changed between two reads of a sync.

Two jobs, both pure (no I/O, no clock, no Kubernetes types: plain `Mapping`s as the API returns
them):

- the views the `apps`/`app`/`history` commands show: `to_app_summary` and `to_app_detail` turn an
  Application object into frozen `AppSummary` / `AppDetail` / `HistoryEntry` values. They live
  here rather than in `bot.argo.cd` so `bot.render` can use them without importing the
  `kubernetes` client; `bot.argo.cd` re-exports them.
- sync progress, mirroring `bot.tracking.progress` for workflows: `sync_state` reads the
  Application's `operation` and `status.operationState` into a `SyncState`, and `diff` lists the
  `SyncTransition`s worth a thread reply (a wave started, a resource synced or failed, a hook
  started/finished/failed, the sync finished), each once and in execution order.

Sync waves are not in Argo CD's result: they are the `argocd.argoproj.io/sync-wave` annotation of
each resource in the destination cluster (default 0, may be negative). The caller passes what it
read as `waves`; whatever is missing counts as wave 0, as Argo CD counts it.

A sync is finished when its phase is final **and** `operation` is gone: Argo CD (and the sandbox)
writes the final `operationState` first and clears `operation` afterwards, and an `operation`
written while an old final state is still there means a new sync not yet picked up.

Left out: multi-source applications (`spec.sources`, history `sources`), ApplicationSets,
diffs against live state. Called by `bot.argo.cd`, the tracker and `bot.render.apps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.tracking.progress import parse_time

PHASE_PENDING = "Pending"
PHASE_RUNNING = "Running"
PHASE_TERMINATING = "Terminating"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASE_ERROR = "Error"
FINAL_PHASES = frozenset({PHASE_SUCCEEDED, PHASE_FAILED, PHASE_ERROR})

SYNC_SYNCED = "Synced"
SYNC_OUT_OF_SYNC = "OutOfSync"
HEALTH_HEALTHY = "Healthy"
HEALTH_DEGRADED = "Degraded"

# `syncResult.resources[].status` of plain resources (hooks leave it empty).
RESOURCE_SYNCED = "Synced"
RESOURCE_SYNC_FAILED = "SyncFailed"
RESOURCE_PRUNED = "Pruned"
RESOURCE_PRUNE_SKIPPED = "PruneSkipped"
_RESOURCE_DONE = frozenset({RESOURCE_SYNCED, RESOURCE_PRUNED, RESOURCE_PRUNE_SKIPPED})

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
# Sync phases in the order Argo CD runs them.
SYNC_PHASE_ORDER = ("PreSync", "Sync", "PostSync", "SyncFail")

ResourceKey = tuple[str, str, str]  # (kind, namespace, name), the key of `waves`
SyncTransitionKind = Literal[
    "wave-started",
    "resource-synced",
    "resource-failed",
    "hook-started",
    "hook-finished",
    "hook-failed",
    "finished",
]


# -- application views ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AppSummary:
    """One row of `apps`: where an application deploys and how it is doing."""

    name: str
    project: str
    cluster: str  # `spec.destination.name`, else `spec.destination.server`
    namespace: str  # the destination namespace
    sync_status: str
    health_status: str
    revision: str  # the revision last synced (`status.sync.revision`), "" before the first sync
    auto_sync: bool
    operation_phase: str | None  # the phase of the running or last operation


@dataclass(frozen=True)
class HistoryEntry:
    """One `status.history[]` entry: a sync that succeeded, and what it deployed."""

    id: int
    revision: str
    deployed_at: datetime | None
    repo: str
    path: str
    target_revision: str
    initiated_by: str  # a username, or "automated" for auto-sync


@dataclass(frozen=True)
class OperationView:
    """The running or last operation (`status.operationState`)."""

    phase: str
    message: str
    revision: str
    started_at: datetime | None
    finished_at: datetime | None
    initiated_by: str


@dataclass(frozen=True)
class AppDetail:
    """What `app` and `history` show: the summary, the source, the last operation, the history."""

    summary: AppSummary
    repo: str
    path: str
    target_revision: str
    last_operation: OperationView | None
    history: tuple[HistoryEntry, ...]  # oldest first, as Argo CD keeps it
    conditions: tuple[str, ...]  # "<type>: <message>"

    @property
    def current(self) -> HistoryEntry | None:
        """The entry deployed last (the highest id)."""
        return max(self.history, key=lambda entry: entry.id) if self.history else None


def is_auto_sync(app: Mapping[str, Any]) -> bool:
    """True when `spec.syncPolicy.automated` is set: Argo CD then syncs on its own and refuses rollbacks."""
    policy = _mapping(_mapping(app.get("spec")).get("syncPolicy"))
    return policy.get("automated") is not None


def to_app_summary(app: Mapping[str, Any]) -> AppSummary:
    """Read an Application object into an `AppSummary`; anything missing reads as empty."""
    meta = _mapping(app.get("metadata"))
    spec = _mapping(app.get("spec"))
    status = _mapping(app.get("status"))
    destination = _mapping(spec.get("destination"))
    sync = _mapping(status.get("sync"))
    operation_state = _mapping(status.get("operationState"))
    phase = _text(operation_state.get("phase"))
    if app.get("operation") is not None and (not phase or phase in FINAL_PHASES):
        phase = PHASE_PENDING  # asked for, not picked up yet
    return AppSummary(
        name=_text(meta.get("name")),
        project=_text(spec.get("project")) or "default",
        cluster=_text(destination.get("name")) or _text(destination.get("server")),
        namespace=_text(destination.get("namespace")),
        sync_status=_text(sync.get("status")) or "Unknown",
        health_status=_text(_mapping(status.get("health")).get("status")) or "Unknown",
        revision=_text(sync.get("revision")),
        auto_sync=is_auto_sync(app),
        operation_phase=phase or None,
    )


def to_history_entry(raw: Mapping[str, Any]) -> HistoryEntry:
    """Read one `status.history[]` entry."""
    source = _mapping(raw.get("source"))
    return HistoryEntry(
        id=_int(raw.get("id")),
        revision=_text(raw.get("revision")),
        deployed_at=parse_time(raw.get("deployedAt")),
        repo=_text(source.get("repoURL")),
        path=_text(source.get("path")) or _text(source.get("chart")),
        target_revision=_text(source.get("targetRevision")),
        initiated_by=_initiator(raw.get("initiatedBy")),
    )


def to_app_detail(app: Mapping[str, Any]) -> AppDetail:
    """Read an Application object into an `AppDetail` (history oldest first)."""
    spec = _mapping(app.get("spec"))
    status = _mapping(app.get("status"))
    source = _mapping(spec.get("source"))
    history = [to_history_entry(_mapping(raw)) for raw in _list(status.get("history"))]
    history.sort(key=lambda entry: entry.id)
    conditions = tuple(
        f"{_text(_mapping(c).get('type')) or 'Condition'}: {_text(_mapping(c).get('message'))}"
        for c in _list(status.get("conditions"))
    )
    return AppDetail(
        summary=to_app_summary(app),
        repo=_text(source.get("repoURL")),
        path=_text(source.get("path")) or _text(source.get("chart")),
        target_revision=_text(source.get("targetRevision")) or "HEAD",
        last_operation=_operation_view(_mapping(status.get("operationState"))),
        history=tuple(history),
        conditions=conditions,
    )


def _operation_view(state: Mapping[str, Any]) -> OperationView | None:
    if not state:
        return None
    operation = _mapping(state.get("operation"))
    result = _mapping(state.get("syncResult"))
    return OperationView(
        phase=_text(state.get("phase")) or PHASE_PENDING,
        message=_text(state.get("message")),
        revision=_text(result.get("revision")) or _text(_mapping(operation.get("sync")).get("revision")),
        started_at=parse_time(state.get("startedAt")),
        finished_at=parse_time(state.get("finishedAt")),
        initiated_by=_initiator(operation.get("initiatedBy")),
    )


# -- sync progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceView:
    """One entry of `syncResult.resources[]`, with its health and its wave."""

    kind: str
    namespace: str
    name: str
    status: str  # Synced/SyncFailed/Pruned/PruneSkipped; "" for hooks
    health: str  # from `status.resources[]`; "" when Argo CD does not track it (hooks)
    message: str
    hook_type: str  # PreSync/Sync/PostSync/SyncFail/Skip; "" for a plain resource
    hook_phase: str  # Running/Succeeded/Failed/Error/...
    sync_phase: str
    wave: int

    @property
    def is_hook(self) -> bool:
        return bool(self.hook_type)

    @property
    def is_failed(self) -> bool:
        if self.is_hook:
            return self.hook_phase in (PHASE_FAILED, PHASE_ERROR)
        return self.status == RESOURCE_SYNC_FAILED

    @property
    def is_done(self) -> bool:
        """Applied (or pruned) successfully, or a hook that succeeded."""
        if self.is_hook:
            return self.hook_phase == PHASE_SUCCEEDED
        return self.status in _RESOURCE_DONE


@dataclass(frozen=True)
class SyncState:
    """What the parent message shows about one sync (or rollback) at one moment."""

    phase: str
    message: str
    revision: str
    started_at: datetime | None
    finished_at: datetime | None
    health: str
    sync_status: str
    resources: tuple[ResourceView, ...]
    operation_pending: bool = False  # `operation` is still set: the controller has not let go yet
    initiated_by: str = ""

    @property
    def is_final(self) -> bool:
        return self.phase in FINAL_PHASES and not self.operation_pending

    @property
    def progress(self) -> str:
        """`done/total` over resources and hooks, "" before any is known."""
        if not self.resources:
            return ""
        done = sum(resource.is_done for resource in self.resources)
        return f"{done}/{len(self.resources)}"


@dataclass(frozen=True)
class SyncTransition:
    """Something worth a thread reply. `wave` is set for `wave-started`, `resource` for the others."""

    kind: SyncTransitionKind
    resource: ResourceView | None = None
    wave: int | None = None
    sync_phase: str = ""


def sync_state(app: Mapping[str, Any], *, waves: Mapping[ResourceKey, int] | None = None) -> SyncState:
    """Read an Application object into the `SyncState` of its current (or last) operation.

    Args:
        app: the Application as the API returns it.
        waves: `(kind, namespace, name) -> wave` read from each resource's
            `argocd.argoproj.io/sync-wave` annotation; missing resources are wave 0.

    An `operation` whose request differs from the one `operationState` describes is a new
    sync the controller has not started: `Pending`, no resources, nothing of the old one.
    """
    status = _mapping(app.get("status"))
    state = _mapping(status.get("operationState"))
    operation = app.get("operation")
    pending = isinstance(operation, Mapping)
    health = _text(_mapping(status.get("health")).get("status"))
    sync_status = _text(_mapping(status.get("sync")).get("status"))
    if pending and not _same_operation(_mapping(operation), _mapping(state.get("operation"))):
        sync = _mapping(_mapping(operation).get("sync"))
        return SyncState(
            phase=PHASE_PENDING,
            message="",
            revision=_text(sync.get("revision")),
            started_at=None,
            finished_at=None,
            health=health,
            sync_status=sync_status,
            resources=(),
            operation_pending=True,
            initiated_by=_initiator(_mapping(operation).get("initiatedBy")),
        )
    result = _mapping(state.get("syncResult"))
    healths = _healths(status.get("resources"))
    namespace = _text(_mapping(_mapping(app.get("spec")).get("destination")).get("namespace"))
    resources = tuple(
        _resource(_mapping(raw), waves=waves or {}, healths=healths, default_namespace=namespace)
        for raw in _list(result.get("resources"))
    )
    operation_of_state = _mapping(state.get("operation"))
    return SyncState(
        phase=_text(state.get("phase")) or PHASE_PENDING,
        message=_text(state.get("message")),
        revision=_text(result.get("revision"))
        or _text(_mapping(operation_of_state.get("sync")).get("revision")),
        started_at=parse_time(state.get("startedAt")),
        finished_at=parse_time(state.get("finishedAt")),
        health=health,
        sync_status=sync_status,
        resources=resources,
        operation_pending=pending,
        initiated_by=_initiator(operation_of_state.get("initiatedBy")),
    )


def diff(old: SyncState | None, new: SyncState) -> list[SyncTransition]:
    """The transitions from `old` (None: nothing seen yet) to `new`, in execution order.

    Resources are taken in the order of `syncResult.resources[]`, which is the order Argo CD
    ran them (phase, then wave). A wave (of the plain resources of one sync phase) is announced
    once, before its first resource. A hook seen `Running` yields `hook-started`; one seen
    ended yields only its end, so the thread never says "started" after the fact. `finished`
    comes last, once. A new operation (another `startedAt`) starts from nothing.
    """
    if old is not None and old.started_at != new.started_at and old.started_at is not None:
        old = None
    before = {_key(r): r for r in old.resources} if old else {}
    waves_seen = {(r.sync_phase, r.wave) for r in old.resources if not r.is_hook} if old else set()
    transitions: list[SyncTransition] = []
    for resource in new.resources:
        previous = before.get(_key(resource))
        if resource.is_hook:
            transitions.extend(_hook_transitions(previous, resource))
            continue
        group = (resource.sync_phase, resource.wave)
        if group not in waves_seen:
            waves_seen.add(group)
            transitions.append(
                SyncTransition("wave-started", wave=resource.wave, sync_phase=resource.sync_phase)
            )
        if previous is not None and previous.status == resource.status:
            continue
        if resource.status == RESOURCE_SYNC_FAILED:
            transitions.append(SyncTransition("resource-failed", resource=resource))
        elif resource.status in _RESOURCE_DONE:
            transitions.append(SyncTransition("resource-synced", resource=resource))
    if new.is_final and (old is None or not old.is_final):
        transitions.append(SyncTransition("finished"))
    return transitions


def _hook_transitions(previous: ResourceView | None, hook: ResourceView) -> list[SyncTransition]:
    was = _hook_stage(previous.hook_phase) if previous else 0
    now = _hook_stage(hook.hook_phase)
    if now == 1 and was == 0:
        return [SyncTransition("hook-started", resource=hook)]
    if now == 2 and was != 2:
        kind: SyncTransitionKind = "hook-failed" if hook.is_failed else "hook-finished"
        return [SyncTransition(kind, resource=hook)]
    return []


def _hook_stage(phase: str) -> int:
    """0 not started, 1 running, 2 ended (Succeeded/Failed/Error)."""
    if phase in FINAL_PHASES:
        return 2
    if phase in (PHASE_RUNNING, PHASE_TERMINATING):
        return 1
    return 0


def _key(resource: ResourceView) -> tuple[str, str, str, str]:
    return (resource.kind, resource.namespace, resource.name, resource.hook_type)


def _same_operation(asked: Mapping[str, Any], described: Mapping[str, Any]) -> bool:
    """Whether `operationState.operation` describes the `operation` now requested.

    Compares what the requester wrote (`sync` and `initiatedBy`); the controller may add
    fields of its own (e.g. `retry`) to its copy.
    """
    if not described:
        return False
    return asked.get("sync") == described.get("sync") and asked.get("initiatedBy") == described.get(
        "initiatedBy"
    )


def _resource(
    raw: Mapping[str, Any],
    *,
    waves: Mapping[ResourceKey, int],
    healths: Mapping[ResourceKey, str],
    default_namespace: str,
) -> ResourceView:
    kind = _text(raw.get("kind"))
    namespace = _text(raw.get("namespace")) or default_namespace
    name = _text(raw.get("name"))
    key = (kind, namespace, name)
    return ResourceView(
        kind=kind,
        namespace=namespace,
        name=name,
        status=_text(raw.get("status")),
        health=healths.get(key, ""),
        message=_text(raw.get("message")),
        hook_type=_text(raw.get("hookType")),
        hook_phase=_text(raw.get("hookPhase")),
        sync_phase=_text(raw.get("syncPhase")) or "Sync",
        wave=int(waves.get(key, 0)),
    )


def _healths(resources: Any) -> dict[ResourceKey, str]:
    out: dict[ResourceKey, str] = {}
    for raw in _list(resources):
        item = _mapping(raw)
        key = (_text(item.get("kind")), _text(item.get("namespace")), _text(item.get("name")))
        out[key] = _text(_mapping(item.get("health")).get("status"))
    return out


def wave_of(annotations: Mapping[str, Any] | None) -> int:
    """The sync wave of a resource from its annotations (Argo CD: default 0, may be negative).

    An unreadable value counts as 0; Argo CD would refuse the manifest, the bot only shows it.
    """
    value = (annotations or {}).get(WAVE_ANNOTATION)
    try:
        return int(str(value).strip()) if value is not None else 0
    except ValueError:
        return 0


def _initiator(raw: Any) -> str:
    initiated = _mapping(raw)
    if initiated.get("automated"):
        return "automated"
    return _text(initiated.get("username"))


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
