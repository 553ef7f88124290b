"""What changed between two reads of an Argo CD sync.

Pure (no I/O, no clock, no Kubernetes types: plain `Mapping`s as the API returns
them):

- (the views `apps`/`app`/`history` show are in `bot.applications`)
- sync progress, mirroring `bot.tracking.progress` for workflows: `sync_state` reads the
  Application's `operation` and `status.operationState` into a `SyncState`, and `diff` lists the
  `SyncTransition`s worth a thread reply (a wave started, a resource synced or failed, a hook
  started/finished/failed, the sync finished), each once and in execution order.

Sync waves are not in Argo CD's result: they are the `argocd.argoproj.io/sync-wave` annotation of
each resource in the destination cluster (default 0, may be negative). `live_resources` lists what
to read there (`bot.argo.live_waves` reads it, `wave_of` parses an annotation); the caller passes
the waves it read as `waves`, and whatever is missing counts as wave 0, as Argo CD counts it.

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

from bot.applications import (  # the phases are the application's; re-exported for the trackers
    FINAL_PHASES as FINAL_PHASES,
)
from bot.applications import (
    PHASE_ERROR as PHASE_ERROR,
)
from bot.applications import (
    PHASE_FAILED as PHASE_FAILED,
)
from bot.applications import (
    PHASE_PENDING as PHASE_PENDING,
)
from bot.applications import (
    PHASE_RUNNING as PHASE_RUNNING,
)
from bot.applications import (
    PHASE_SUCCEEDED as PHASE_SUCCEEDED,
)
from bot.applications import (
    PHASE_TERMINATING as PHASE_TERMINATING,
)
from bot.applications import as_list, as_mapping, as_text, initiator_of
from bot.tracking.progress import parse_time

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


@dataclass(frozen=True)
class LiveResource:
    """A resource of a sync whose live object holds its wave: where to read it, and its `waves` key."""

    group: str
    version: str
    kind: str
    namespace: str  # the app's destination namespace when the result gives none
    name: str

    @property
    def key(self) -> ResourceKey:
        return (self.kind, self.namespace, self.name)


SyncTransitionKind = Literal[
    "wave-started",
    "resource-synced",
    "resource-failed",
    "hook-started",
    "hook-finished",
    "hook-failed",
    "finished",
]


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
    status = as_mapping(app.get("status"))
    state = as_mapping(status.get("operationState"))
    operation = app.get("operation")
    pending = isinstance(operation, Mapping)
    health = as_text(as_mapping(status.get("health")).get("status"))
    sync_status = as_text(as_mapping(status.get("sync")).get("status"))
    if pending and not _same_operation(as_mapping(operation), as_mapping(state.get("operation"))):
        sync = as_mapping(as_mapping(operation).get("sync"))
        return SyncState(
            phase=PHASE_PENDING,
            message="",
            revision=as_text(sync.get("revision")),
            started_at=None,
            finished_at=None,
            health=health,
            sync_status=sync_status,
            resources=(),
            operation_pending=True,
            initiated_by=initiator_of(as_mapping(operation).get("initiatedBy")),
        )
    result = as_mapping(state.get("syncResult"))
    healths = _healths(status.get("resources"))
    namespace = as_text(as_mapping(as_mapping(app.get("spec")).get("destination")).get("namespace"))
    resources = tuple(
        _resource(as_mapping(raw), waves=waves or {}, healths=healths, default_namespace=namespace)
        for raw in as_list(result.get("resources"))
    )
    operation_of_state = as_mapping(state.get("operation"))
    return SyncState(
        phase=as_text(state.get("phase")) or PHASE_PENDING,
        message=as_text(state.get("message")),
        revision=as_text(result.get("revision"))
        or as_text(as_mapping(operation_of_state.get("sync")).get("revision")),
        started_at=parse_time(state.get("startedAt")),
        finished_at=parse_time(state.get("finishedAt")),
        health=health,
        sync_status=sync_status,
        resources=resources,
        operation_pending=pending,
        initiated_by=initiator_of(operation_of_state.get("initiatedBy")),
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
    kind = as_text(raw.get("kind"))
    namespace = as_text(raw.get("namespace")) or default_namespace
    name = as_text(raw.get("name"))
    key = (kind, namespace, name)
    return ResourceView(
        kind=kind,
        namespace=namespace,
        name=name,
        status=as_text(raw.get("status")),
        health=healths.get(key, ""),
        message=as_text(raw.get("message")),
        hook_type=as_text(raw.get("hookType")),
        hook_phase=as_text(raw.get("hookPhase")),
        sync_phase=as_text(raw.get("syncPhase")) or "Sync",
        wave=int(waves.get(key, 0)),
    )


def _healths(resources: Any) -> dict[ResourceKey, str]:
    out: dict[ResourceKey, str] = {}
    for raw in as_list(resources):
        item = as_mapping(raw)
        key = (as_text(item.get("kind")), as_text(item.get("namespace")), as_text(item.get("name")))
        out[key] = as_text(as_mapping(item.get("health")).get("status"))
    return out


def live_resources(app: Mapping[str, Any]) -> tuple[LiveResource, ...]:
    """The plain resources of the app's current operation whose wave is worth reading, once each.

    Hooks are left out (their waves are not announced, and Argo CD often deletes them), and so
    are pruned resources (gone from the cluster). Empty while a new operation is not started.
    """
    status = as_mapping(app.get("status"))
    state = as_mapping(status.get("operationState"))
    operation = app.get("operation")
    if isinstance(operation, Mapping) and not _same_operation(operation, as_mapping(state.get("operation"))):
        return ()
    namespace = as_text(as_mapping(as_mapping(app.get("spec")).get("destination")).get("namespace"))
    found: dict[ResourceKey, LiveResource] = {}
    for raw in as_list(as_mapping(state.get("syncResult")).get("resources")):
        item = as_mapping(raw)
        if as_text(item.get("hookType")) or as_text(item.get("status")) == RESOURCE_PRUNED:
            continue
        resource = LiveResource(
            group=as_text(item.get("group")),
            version=as_text(item.get("version")) or "v1",
            kind=as_text(item.get("kind")),
            namespace=as_text(item.get("namespace")) or namespace,
            name=as_text(item.get("name")),
        )
        if resource.kind and resource.name:
            found.setdefault(resource.key, resource)
    return tuple(found.values())


def wave_of(annotations: Mapping[str, Any] | None) -> int:
    """The sync wave of a resource from its annotations (Argo CD: default 0, may be negative).

    An unreadable value counts as 0; Argo CD would refuse the manifest, the bot only shows it.
    """
    value = (annotations or {}).get(WAVE_ANNOTATION)
    try:
        return int(str(value).strip()) if value is not None else 0
    except ValueError:
        return 0
