"""The approval card as approvers see it: facts, buttons that carry only the id, Slack's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.records import Approval
from bot.render import approvals as card

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SHA_FROM = "9f1c2ab" + "0" * 31 + "aa"
SHA_TO = "1a2b3c4" + "0" * 31 + "bb"
PENDING = Approval(
    id="5b0e8c7e-4f1a-4c2e-9d3b-0a1b2c3d4e5f",
    action="rollback",
    cluster="prod-eu",
    project="payments",
    app="api",
    target="42->41",
    from_revision=SHA_FROM,
    to_revision=SHA_TO,
    reason="5xx since the last deploy",
    requester_id="U1",
    requester_name="alice",
    channel_id="C1",
    message_ts="1700000000.000100",
    status="pending",
    decided_by=None,
    decided_at=None,
    expires_at=T0 + timedelta(hours=1),
    created_at=T0,
    run_id=None,
    version=1,
)
DECIDED = T0 + timedelta(minutes=3)


def _texts(item: Any) -> list[str]:
    if isinstance(item, dict):
        out: list[str] = []
        for key, value in item.items():
            out.extend([value] if key == "text" and isinstance(value, str) else _texts(value))
        return out
    if isinstance(item, list):
        return [text for value in item for text in _texts(value)]
    return []


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]]


def _assert_within_limits(text: str, blocks: list[dict[str, Any]]) -> None:
    assert len(text) <= 3900
    assert len(blocks) <= 50
    assert sum(len(piece) for piece in _texts(blocks)) <= 12_000
    for block in blocks:
        assert len(block.get("block_id", "")) <= 255
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(field["text"]) <= 2000 for field in block.get("fields", []))
        if block["type"] == "context":
            assert all(len(element["text"]) <= 3000 for element in block["elements"])
    for button in _buttons(blocks):
        assert len(button["text"]["text"]) <= 75
        assert len(button["value"]) <= 2000 and len(button["action_id"]) <= 255
        confirm = button.get("confirm")
        if confirm:
            assert len(confirm["title"]["text"]) <= 100 and len(confirm["text"]["text"]) <= 300
            assert len(confirm["confirm"]["text"]) <= 30 and len(confirm["deny"]["text"]) <= 30


def test_request_card_shows_app_revisions_requester_reason_and_expiry() -> None:
    text, blocks = card.render_request(PENDING, now=T0 + timedelta(minutes=1))
    body = "\n".join(_texts(blocks))
    assert "Rollback requested: api" in blocks[0]["text"]["text"]
    assert "`prod-eu/payments/api`" in body
    assert "`9f1c2ab` (history 42)" in body and "`1a2b3c4` (history 41)" in body
    assert "<@U1>" in body and "> 5xx since the last deploy" in body
    epoch = int((T0 + timedelta(hours=1)).timestamp())
    assert f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|2026-03-01 10:00 UTC>" in body
    assert "(in 59m)" in body
    assert text == "Rollback of api requested by <@U1>: approve or reject"
    _assert_within_limits(text, blocks)


def test_request_buttons_carry_only_the_approval_id() -> None:
    _, blocks = card.render_request(PENDING, now=T0)
    approve, reject = _buttons(blocks)
    assert (approve["action_id"], approve["style"], approve["value"]) == (
        card.ACTION_APPROVE,
        "primary",
        PENDING.id,
    )
    assert (reject["action_id"], reject["style"], reject["value"]) == (
        card.ACTION_REJECT,
        "danger",
        PENDING.id,
    )
    assert card.ACTION_APPROVE == "approval_approve" and card.ACTION_REJECT == "approval_reject"
    assert "history 41" in approve["confirm"]["text"]["text"]
    assert "confirm" not in reject


@pytest.mark.parametrize(
    ("approval", "expected"),
    [
        (replace(PENDING, status="approved", decided_by="U2", decided_at=DECIDED), "Approved by <@U2>"),
        (
            replace(PENDING, status="executed", decided_by="U2", decided_at=DECIDED, run_id="run-7"),
            "the rollback started (run `run-7`)",
        ),
        (replace(PENDING, status="failed", decided_by="U2", decided_at=DECIDED), "but the rollback failed"),
        (replace(PENDING, status="rejected", decided_by="U2", decided_at=DECIDED), "Rejected by <@U2>"),
        (replace(PENDING, status="rejected", decided_by="U1", decided_at=DECIDED), "Withdrawn by <@U1>"),
        (replace(PENDING, status="expired"), "Expired"),
    ],
)
def test_decided_card_has_no_buttons_and_says_who_and_when(approval: Approval, expected: str) -> None:
    text, blocks = card.render_decided(approval, detail="another operation is already in progress")
    body = "\n".join(_texts(blocks))
    assert _buttons(blocks) == []
    assert expected in body
    assert "`9f1c2ab` (history 42)" in body and "`1a2b3c4` (history 41)" in body
    if approval.decided_at:
        assert f"<!date^{int(DECIDED.timestamp())}^" in body
    assert ("> another operation is already in progress" in body) is (approval.status == "failed")
    _assert_within_limits(text, blocks)


def test_expired_card_has_no_buttons() -> None:
    text, blocks = card.render_expired(replace(PENDING, status="expired"))
    assert _buttons(blocks) == []
    assert "without a decision" in "\n".join(_texts(blocks))
    assert text == "Rollback of api: expired"


def test_reason_cannot_ping_anyone() -> None:
    _, blocks = card.render_request(replace(PENDING, reason="<!channel> look & see"), now=T0)
    body = "\n".join(_texts(blocks))
    assert "<!channel>" not in body and "&lt;!channel&gt; look &amp; see" in body


def test_huge_inputs_stay_within_block_kit_limits() -> None:
    huge = replace(
        PENDING,
        app="a" * 253,
        project="p" * 253,
        cluster="c" * 63,
        reason=("why " * 2000 + "\n") * 5,
        from_revision="r" * 255,
        to_revision="`" * 255,
        requester_id="U" * 32,
    )
    for text, blocks in (
        card.render_request(huge, now=T0),
        card.render_decided(
            replace(huge, status="failed", decided_by="U2", decided_at=DECIDED), detail="x" * 9000
        ),
        card.render_expired(replace(huge, status="expired")),
    ):
        _assert_within_limits(text, blocks)
    _, blocks = card.render_request(huge, now=T0)
    assert {button["value"] for button in _buttons(blocks)} == {PENDING.id}


@settings(max_examples=60, deadline=None)
@given(
    reason=st.text(max_size=6000),
    app=st.text(min_size=1, max_size=253),
    revision=st.text(max_size=255),
    target=st.sampled_from(["42->41", "41", "", "x"]),
)
def test_any_input_stays_within_block_kit_limits(reason: str, app: str, revision: str, target: str) -> None:
    approval = replace(PENDING, reason=reason, app=app, to_revision=revision, target=target)
    _assert_within_limits(*card.render_request(approval, now=T0))
    _assert_within_limits(*card.render_decided(replace(approval, status="rejected", decided_by="U2")))
