"""Argo CD verbs through the pipeline: a dry-run sync says so everywhere and changes nothing."""

from __future__ import annotations

from typing import Any

from commands_world import Tier
from e2e_world import DEV, OPS_CHANNEL

APP = "billing-dev"


def _text(message: dict[str, Any]) -> str:
    return " ".join([str(message.get("text") or ""), str(message.get("blocks") or "")])


def test_a_dry_run_sync_says_so_in_its_answer_thread_and_audit_and_deploys_nothing(argo_tier: Tier) -> None:
    tier = argo_tier
    history = list(tier.app(APP)["status"].get("history") or [])

    reply = tier.do(DEV, f"sync {APP} --dry-run")

    assert "as a dry run" in reply.text
    audit = tier.last_audit(DEV)
    assert (audit.command, audit.result) == ("sync", "ok") and "as a dry run" in audit.detail
    parent = tier.wait(
        lambda: next(
            (
                m
                for m in tier.world.driver.messages(OPS_CHANNEL)
                if "sync (dry run)" in _text(m) and APP in _text(m)
            ),
            None,
        ),
        message="the dry run's parent message",
    )
    summary = tier.wait(
        lambda: next(
            (
                r
                for r in tier.world.driver.replies(OPS_CHANNEL, parent["ts"])[1:]
                if "sync (dry run)" in _text(r)
            ),
            None,
        ),
        message="the dry run's summary",
    )
    assert summary is not None
    assert list(tier.app(APP)["status"].get("history") or []) == history  # nothing was deployed
