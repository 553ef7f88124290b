"""The approval state machine and click checks, as tables of input and expected answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.approvals import flow
from bot.model import Actor
from bot.records import Approval

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
REQUESTER = Actor(user_id="U1", name="alice")
APPROVER = Actor(user_id="U2", name="bob")

PENDING = Approval(
    id="a1",
    action="rollback",
    cluster="prod-eu",
    project="payments",
    app="api",
    target="42->41",
    from_revision="9f1c2ab",
    to_revision="1a2b3c4",
    reason="bad deploy",
    requester_id="U1",
    requester_name="alice",
    channel_id="C1",
    message_ts=None,
    status="pending",
    decided_by=None,
    decided_at=None,
    expires_at=T0 + timedelta(hours=1),
    created_at=T0,
    run_id=None,
    version=1,
)
DECIDED_AT = T0 + timedelta(minutes=3)

# (case, approval, clicker, decision, can_approve, allow_self, now, expected refusal fragment or None)
CHECKS = [
    ("someone else approves", PENDING, APPROVER, "approve", True, False, T0, None),
    ("someone else rejects", PENDING, APPROVER, "reject", True, False, T0, None),
    ("no permission", PENDING, APPROVER, "approve", False, False, T0, "needs `approvals, approve` on"),
    ("no permission to reject", PENDING, APPROVER, "reject", False, False, T0, "You may not decide"),
    ("own request", PENDING, REQUESTER, "approve", True, False, T0, "cannot approve your own"),
    ("own request, allowed", PENDING, REQUESTER, "approve", True, True, T0, None),
    ("requester withdraws", PENDING, REQUESTER, "reject", False, False, T0, None),
    ("expired by time", PENDING, APPROVER, "approve", True, False, T0 + timedelta(hours=1), "expired"),
    (
        "already approved",
        replace(PENDING, status="approved", decided_by="U3", decided_at=DECIDED_AT),
        APPROVER,
        "approve",
        True,
        False,
        T0,
        "already approved by <@U3> at 2026-03-01 09:03 UTC",
    ),
    (
        "already rejected",
        replace(PENDING, status="rejected", decided_by="U3", decided_at=DECIDED_AT),
        APPROVER,
        "approve",
        True,
        False,
        T0,
        "already rejected by <@U3>",
    ),
    (
        "executed counts as approved",
        replace(PENDING, status="executed", decided_by="U3", decided_at=DECIDED_AT),
        APPROVER,
        "reject",
        True,
        False,
        T0,
        "already approved by <@U3>",
    ),
    (
        "closed as expired",
        replace(PENDING, status="expired"),
        APPROVER,
        "approve",
        True,
        False,
        T0,
        "expired",
    ),
    (
        "permission comes before state",
        replace(PENDING, status="approved", decided_by="U3"),
        APPROVER,
        "approve",
        False,
        False,
        T0,
        "You may not decide",
    ),
]


@pytest.mark.parametrize(
    ("approval", "clicker", "decision", "can_approve", "allow_self", "now", "expected"),
    [case[1:] for case in CHECKS],
    ids=[case[0] for case in CHECKS],
)
def test_decide_check(approval, clicker, decision, can_approve, allow_self, now, expected) -> None:
    refusal = flow.decide_check(
        approval=approval,
        clicker=clicker,
        decision=decision,
        can_approve=can_approve,
        allow_self=allow_self,
        now=now,
    )
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None and expected in refusal


MOVES = [
    ("pending", "approved", True),
    ("pending", "rejected", True),
    ("pending", "expired", True),
    ("pending", "executed", False),
    ("approved", "executed", True),
    ("approved", "failed", True),
    ("approved", "rejected", False),
    ("rejected", "approved", False),
    ("expired", "approved", False),
    ("executed", "failed", False),
    ("unknown", "approved", False),
]


@pytest.mark.parametrize(("current", "new", "allowed"), MOVES)
def test_state_machine(current: str, new: str, allowed: bool) -> None:
    assert flow.can_move(current, new) is allowed


@pytest.mark.parametrize(
    ("status", "final"),
    [("pending", False), ("approved", False), ("rejected", True), ("expired", True), ("executed", True)],
)
def test_final_states(status: str, final: bool) -> None:
    assert flow.is_final(status) is final


@pytest.mark.parametrize(
    ("approval", "now", "expired"),
    [
        (PENDING, T0, False),
        (PENDING, T0 + timedelta(minutes=59, seconds=59), False),
        (PENDING, T0 + timedelta(hours=1), True),
        (replace(PENDING, status="expired"), T0, True),
        (replace(PENDING, status="approved"), T0 + timedelta(days=1), False),
        (replace(PENDING, expires_at=datetime(2026, 3, 1, 9, 30)), T0 + timedelta(minutes=31), True),
    ],
)
def test_is_expired(approval: Approval, now: datetime, expired: bool) -> None:
    assert flow.is_expired(approval, now=now) is expired


@pytest.mark.parametrize(
    ("target", "ids"),
    [("42->41", (42, 41)), ("41", (None, 41)), ("", (None, None)), ("abc", (None, None))],
)
def test_history_ids(target: str, ids: tuple[int | None, int | None]) -> None:
    assert flow.history_ids(replace(PENDING, target=target)) == ids
    assert flow.to_target(from_id=42, to_id=41) == "42->41"


def test_rbac_object_is_cluster_project_app() -> None:
    assert flow.object_of(PENDING) == "prod-eu/payments/api"
