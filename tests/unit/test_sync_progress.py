"""Table tests for `bot.tracking.sync_progress`: Application objects in, views/states/events out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.applications import is_auto_sync, to_app_detail, to_app_summary
from bot.tracking.sync_progress import SyncState, diff, sync_state, wave_of

OP = {"sync": {"revision": "v2"}, "initiatedBy": {"username": "alice"}}
OLD_OP = {"sync": {"revision": "v1"}, "initiatedBy": {"username": "bob"}}


def app(
    *,
    operation: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    resources: list[dict[str, Any]] | None = None,
    health: str = "Progressing",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "health": {"status": health},
        "sync": {"status": "OutOfSync", "revision": "abc"},
        "resources": resources or [],
    }
    if state is not None:
        status["operationState"] = state
    obj: dict[str, Any] = {
        "metadata": {"name": "shop", "namespace": "argocd"},
        "spec": {"project": "web", "destination": {"name": "prod", "namespace": "shop"}},
        "status": status,
    }
    if operation is not None:
        obj["operation"] = operation
    return obj


def result(*items: dict[str, Any], phase: str = "Running", op: dict[str, Any] = OP) -> dict[str, Any]:
    return {
        "operation": op,
        "phase": phase,
        "message": "",
        "startedAt": "2026-01-02T03:04:05Z",
        **({"finishedAt": "2026-01-02T03:05:05Z"} if phase in ("Succeeded", "Failed", "Error") else {}),
        "syncResult": {"revision": "f" * 40, "resources": list(items)},
    }


def res(
    kind: str, name: str, *, status: str = "", hook: str = "", hook_phase: str = "", phase: str = "Sync"
) -> dict:
    out = {"group": "", "version": "v1", "kind": kind, "namespace": "shop", "name": name, "syncPhase": phase}
    if status:
        out["status"] = status
    if hook:
        out["hookType"] = hook
    if hook_phase:
        out["hookPhase"] = hook_phase
    return out


WAVES = {("ConfigMap", "shop", "cfg"): -1, ("Service", "shop", "svc"): 1}
CFG = res("ConfigMap", "cfg", status="Synced", hook_phase="Running")
DEP = res("Deployment", "web", status="Synced", hook_phase="Running")
SVC_FAIL = res("Service", "svc", status="SyncFailed")
HOOK_RUN = res("Job", "migrate", hook="PreSync", hook_phase="Running", phase="PreSync")
HOOK_OK = res("Job", "migrate", hook="PreSync", hook_phase="Succeeded", phase="PreSync")
HOOK_BAD = res("Job", "migrate", hook="PreSync", hook_phase="Failed", phase="PreSync")


@pytest.mark.parametrize(
    ("obj", "phase", "is_final", "resources"),
    [
        (app(), "Pending", False, 0),  # never synced
        (app(operation=OP), "Pending", False, 0),  # asked, not picked up
        (
            app(operation=OP, state=result(CFG, phase="Succeeded", op=OLD_OP)),
            "Pending",
            False,
            0,
        ),  # old result
        (app(operation=OP, state=result(HOOK_RUN)), "Running", False, 1),
        (app(operation=OP, state=result(CFG, phase="Succeeded")), "Succeeded", False, 1),  # not cleared yet
        (app(state=result(CFG, phase="Succeeded")), "Succeeded", True, 1),
        (app(state=result(SVC_FAIL, phase="Failed")), "Failed", True, 1),
    ],
)
def test_sync_state_phase_and_finality(
    obj: dict[str, Any], phase: str, is_final: bool, resources: int
) -> None:
    state = sync_state(obj)
    assert (state.phase, state.is_final, len(state.resources)) == (phase, is_final, resources)


def test_sync_state_reads_waves_from_the_callers_annotations_and_health_from_status() -> None:
    obj = app(
        state=result(CFG, DEP, SVC_FAIL, phase="Failed"),
        resources=[
            {"kind": "Deployment", "namespace": "shop", "name": "web", "health": {"status": "Healthy"}}
        ],
    )
    state = sync_state(obj, waves=WAVES)
    assert [(r.name, r.wave) for r in state.resources] == [("cfg", -1), ("web", 0), ("svc", 1)]
    assert [r.health for r in state.resources] == ["", "Healthy", ""]
    assert state.progress == "2/3"
    assert state.started_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert state.revision == "f" * 40
    assert state.initiated_by == "alice"


def kinds(old: SyncState | None, new: SyncState) -> list[tuple[str, str | int | None]]:
    return [(t.kind, t.resource.name if t.resource else t.wave) for t in diff(old, new)]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, app(operation=OP), []),
        (None, app(operation=OP, state=result(HOOK_RUN)), [("hook-started", "migrate")]),
        (app(operation=OP, state=result(HOOK_RUN)), app(operation=OP, state=result(HOOK_RUN)), []),
        (
            app(operation=OP, state=result(HOOK_RUN)),
            app(operation=OP, state=result(HOOK_OK)),
            [("hook-finished", "migrate")],
        ),
        # the watch skipped the Running state: only the end is said
        (app(operation=OP), app(operation=OP, state=result(HOOK_BAD)), [("hook-failed", "migrate")]),
        (
            app(operation=OP, state=result(HOOK_OK)),
            app(operation=OP, state=result(HOOK_OK, CFG, DEP)),
            [
                ("wave-started", -1),
                ("resource-synced", "cfg"),
                ("wave-started", 0),
                ("resource-synced", "web"),
            ],
        ),
        (
            app(operation=OP, state=result(CFG, DEP)),
            app(state=result(CFG, DEP, SVC_FAIL, phase="Failed")),
            [("wave-started", 1), ("resource-failed", "svc"), ("finished", None)],
        ),
        # final result written, operation not cleared yet: finished comes with the clearing
        (
            app(operation=OP, state=result(CFG, phase="Running")),
            app(operation=OP, state=result(CFG, phase="Succeeded")),
            [],
        ),
        (
            app(operation=OP, state=result(CFG, phase="Succeeded")),
            app(state=result(CFG, phase="Succeeded")),
            [("finished", None)],
        ),
        (app(state=result(CFG, phase="Succeeded")), app(state=result(CFG, phase="Succeeded")), []),
    ],
)
def test_diff_says_each_event_once(
    before: dict[str, Any] | None, after: dict[str, Any], expected: list[tuple[str, str | int | None]]
) -> None:
    old = sync_state(before, waves=WAVES) if before is not None else None
    assert kinds(old, sync_state(after, waves=WAVES)) == expected


def test_a_new_operation_starts_from_nothing() -> None:
    first = sync_state(app(state=result(CFG, phase="Succeeded")), waves=WAVES)
    later = result(CFG, phase="Running")
    later["startedAt"] = "2026-01-02T04:00:00Z"
    second = sync_state(app(operation=OP, state=later), waves=WAVES)
    assert kinds(first, second) == [("wave-started", -1), ("resource-synced", "cfg")]


@pytest.mark.parametrize(
    ("annotations", "wave"),
    [
        (None, 0),
        ({}, 0),
        ({"argocd.argoproj.io/sync-wave": "-2"}, -2),
        ({"argocd.argoproj.io/sync-wave": " 5 "}, 5),
        ({"argocd.argoproj.io/sync-wave": "x"}, 0),
    ],
)
def test_wave_of_reads_the_annotation(annotations: dict[str, str] | None, wave: int) -> None:
    assert wave_of(annotations) == wave


def test_summary_and_detail_of_an_application() -> None:
    obj = app(state=result(CFG, phase="Succeeded"), health="Healthy")
    obj["spec"]["source"] = {"repoURL": "https://git/x.git", "path": "apps/shop", "targetRevision": "main"}
    obj["spec"]["syncPolicy"] = {"automated": {}}
    obj["spec"]["destination"] = {"server": "https://kubernetes.default.svc", "namespace": "shop"}
    obj["status"]["history"] = [
        {
            "id": 3,
            "revision": "c" * 40,
            "deployedAt": "2026-01-03T00:00:00Z",
            "source": obj["spec"]["source"],
            "initiatedBy": {"automated": True},
        },
        {
            "id": 2,
            "revision": "b" * 40,
            "deployedAt": "2026-01-02T00:00:00Z",
            "source": obj["spec"]["source"],
            "initiatedBy": {"username": "alice"},
        },
    ]
    obj["status"]["conditions"] = [{"type": "SyncError", "message": "boom"}]
    summary = to_app_summary(obj)
    assert (summary.cluster, summary.project, summary.auto_sync, summary.health_status) == (
        "https://kubernetes.default.svc",
        "web",
        True,
        "Healthy",
    )
    assert is_auto_sync(obj)
    detail = to_app_detail(obj)
    assert [h.id for h in detail.history] == [2, 3]
    assert detail.current is not None and detail.current.initiated_by == "automated"
    assert detail.history[0].initiated_by == "alice" and detail.history[0].path == "apps/shop"
    assert detail.conditions == ("SyncError: boom",)
    assert detail.last_operation is not None and detail.last_operation.initiated_by == "alice"


def test_malformed_objects_read_as_empty() -> None:
    summary = to_app_summary({"spec": "nonsense", "status": 3})
    assert (summary.name, summary.sync_status, summary.health_status, summary.operation_phase) == (
        "",
        "Unknown",
        "Unknown",
        None,
    )
    assert to_app_detail({"status": {"history": ["x", {"id": "7"}]}}).history[-1].id == 7
    assert (
        sync_state({"status": {"operationState": {"syncResult": {"resources": [3]}}}}).resources[0].kind == ""
    )
