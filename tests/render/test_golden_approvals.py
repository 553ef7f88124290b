"""Golden files for the approval card: requested, approved (executed), rejected, withdrawn,
expired and failed with a reason. Inputs are fixed; `--update-golden` rewrites the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.records import (
    APPROVAL_APPROVED,
    APPROVAL_EXECUTED,
    APPROVAL_EXPIRED,
    APPROVAL_FAILED,
    APPROVAL_PENDING,
    APPROVAL_REJECTED,
    Approval,
)
from bot.render.approvals import render_decided, render_expired, render_request

CREATED = datetime(2024, 5, 1, 16, 5, tzinfo=UTC)
DECIDED = CREATED + timedelta(minutes=12)

PENDING = Approval(
    id="4f9a1c2e8b7d4e6fa0b1c2d3e4f5a6b7",
    action="rollback",
    cluster="prod-eu",
    project="payments",
    app="checkout-api",
    target="44->42",
    from_revision="9f3c2b7a41d8e6f0c5b3a2918d7e6f5a4b3c2d1e",
    to_revision="4e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a291",
    reason="v1.44 returns 500 on /checkout for EU cards since 15:50; INC-2291.\nRolling back to v1.42.",
    requester_id="U0CAROL",
    requester_name="carol",
    channel_id="C0DEPLOY",
    message_ts="1714579500.000400",
    status=APPROVAL_PENDING,
    decided_by=None,
    decided_at=None,
    expires_at=CREATED + timedelta(minutes=60),
    created_at=CREATED,
    run_id=None,
    version=1,
)

DECIDED_CARDS: dict[str, tuple[Approval, str | None]] = {
    "approval_approved_starting": (
        replace(PENDING, status=APPROVAL_APPROVED, decided_by="U0DAVE", decided_at=DECIDED, version=2),
        None,
    ),
    "approval_approved_executed": (
        replace(
            PENDING,
            status=APPROVAL_EXECUTED,
            decided_by="U0DAVE",
            decided_at=DECIDED,
            run_id="r-20240501-e21f",
            version=3,
        ),
        None,
    ),
    "approval_rejected": (
        replace(PENDING, status=APPROVAL_REJECTED, decided_by="U0DAVE", decided_at=DECIDED, version=2),
        None,
    ),
    "approval_withdrawn": (
        replace(PENDING, status=APPROVAL_REJECTED, decided_by="U0CAROL", decided_at=DECIDED, version=2),
        None,
    ),
    "approval_failed": (
        replace(PENDING, status=APPROVAL_FAILED, decided_by="U0DAVE", decided_at=DECIDED, version=3),
        "Argo CD refused the rollback: auto-sync is enabled on checkout-api; "
        "turn it off (or set approvals.disable_auto_sync_on_rollback) and ask again.",
    ),
}


def test_request_card(golden_message: Callable[..., None]) -> None:
    text, blocks = render_request(PENDING, now=CREATED + timedelta(seconds=5))
    golden_message("approval_requested", text, blocks)
    actions = [block for block in blocks if block["type"] == "actions"]
    assert [button["value"] for button in actions[0]["elements"]] == [PENDING.id, PENDING.id]


@pytest.mark.parametrize("name", sorted(DECIDED_CARDS))
def test_decided_card(name: str, golden_message: Callable[..., None]) -> None:
    approval, detail = DECIDED_CARDS[name]
    text, blocks = render_decided(approval, detail=detail)
    golden_message(name, text, blocks)
    assert all(block["type"] != "actions" for block in blocks)  # a decided card has no buttons


def test_expired_card(golden_message: Callable[..., None]) -> None:
    text, blocks = render_expired(replace(PENDING, status=APPROVAL_EXPIRED, version=2))
    golden_message("approval_expired", text, blocks)
    assert all(block["type"] != "actions" for block in blocks)
