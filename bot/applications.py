"""Argo CD Applications as people see them: summaries, details and deploy history. Pure.

`to_app_summary` and `to_app_detail` turn an Application object (a plain `Mapping`, as the
API returns it) into frozen `AppSummary` / `AppDetail` / `HistoryEntry` values, which the
`apps`/`app`/`history` commands show and approval requests store. They live in the pure core
so that rendering and tracking use them without the `kubernetes` client; `bot.argo.cd` reads
the objects and returns these views.

Left out: multi-source applications (`spec.sources`, history `sources`) and ApplicationSets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.tracking.progress import parse_time

PHASE_PENDING = "Pending"
PHASE_RUNNING = "Running"
PHASE_TERMINATING = "Terminating"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASE_ERROR = "Error"
FINAL_PHASES = frozenset({PHASE_SUCCEEDED, PHASE_FAILED, PHASE_ERROR})


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
    policy = as_mapping(as_mapping(app.get("spec")).get("syncPolicy"))
    return policy.get("automated") is not None


def to_app_summary(app: Mapping[str, Any]) -> AppSummary:
    """Read an Application object into an `AppSummary`; anything missing reads as empty."""
    meta = as_mapping(app.get("metadata"))
    spec = as_mapping(app.get("spec"))
    status = as_mapping(app.get("status"))
    destination = as_mapping(spec.get("destination"))
    sync = as_mapping(status.get("sync"))
    operation_state = as_mapping(status.get("operationState"))
    phase = as_text(operation_state.get("phase"))
    if app.get("operation") is not None and (not phase or phase in FINAL_PHASES):
        phase = PHASE_PENDING  # asked for, not picked up yet
    return AppSummary(
        name=as_text(meta.get("name")),
        project=as_text(spec.get("project")) or "default",
        cluster=as_text(destination.get("name")) or as_text(destination.get("server")),
        namespace=as_text(destination.get("namespace")),
        sync_status=as_text(sync.get("status")) or "Unknown",
        health_status=as_text(as_mapping(status.get("health")).get("status")) or "Unknown",
        revision=as_text(sync.get("revision")),
        auto_sync=is_auto_sync(app),
        operation_phase=phase or None,
    )


def to_history_entry(raw: Mapping[str, Any]) -> HistoryEntry:
    """Read one `status.history[]` entry."""
    source = as_mapping(raw.get("source"))
    return HistoryEntry(
        id=as_int(raw.get("id")),
        revision=as_text(raw.get("revision")),
        deployed_at=parse_time(raw.get("deployedAt")),
        repo=as_text(source.get("repoURL")),
        path=as_text(source.get("path")) or as_text(source.get("chart")),
        target_revision=as_text(source.get("targetRevision")),
        initiated_by=initiator_of(raw.get("initiatedBy")),
    )


def to_app_detail(app: Mapping[str, Any]) -> AppDetail:
    """Read an Application object into an `AppDetail` (history oldest first)."""
    spec = as_mapping(app.get("spec"))
    status = as_mapping(app.get("status"))
    source = as_mapping(spec.get("source"))
    history = [to_history_entry(as_mapping(raw)) for raw in as_list(status.get("history"))]
    history.sort(key=lambda entry: entry.id)
    conditions = tuple(
        f"{as_text(as_mapping(c).get('type')) or 'Condition'}: {as_text(as_mapping(c).get('message'))}"
        for c in as_list(status.get("conditions"))
    )
    return AppDetail(
        summary=to_app_summary(app),
        repo=as_text(source.get("repoURL")),
        path=as_text(source.get("path")) or as_text(source.get("chart")),
        target_revision=as_text(source.get("targetRevision")) or "HEAD",
        last_operation=_operation_view(as_mapping(status.get("operationState"))),
        history=tuple(history),
        conditions=conditions,
    )


def _operation_view(state: Mapping[str, Any]) -> OperationView | None:
    if not state:
        return None
    operation = as_mapping(state.get("operation"))
    result = as_mapping(state.get("syncResult"))
    return OperationView(
        phase=as_text(state.get("phase")) or PHASE_PENDING,
        message=as_text(state.get("message")),
        revision=as_text(result.get("revision"))
        or as_text(as_mapping(operation.get("sync")).get("revision")),
        started_at=parse_time(state.get("startedAt")),
        finished_at=parse_time(state.get("finishedAt")),
        initiated_by=initiator_of(operation.get("initiatedBy")),
    )


def initiator_of(raw: Any) -> str:
    initiated = as_mapping(raw)
    if initiated.get("automated"):
        return "automated"
    return as_text(initiated.get("username"))


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else ""
