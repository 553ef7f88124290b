"""Argo CD verbs through the pipeline: a dry-run sync says so everywhere and changes nothing;
`apps --page N` reaches every page of a long list, and a bad page is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from commands_world import GROUP, VERSION, Tier
from e2e_world import DEV, OPS_CHANNEL

from bot.sandbox.world import ARGOCD_NAMESPACE

APP = "billing-dev"
PAGED_PROJECT = "paging"
PAGED = [f"paged-{index:03d}" for index in range(60)]  # 25 a page: pages of 25, 25 and 10


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


@pytest.fixture
def paged_apps(argo_tier: Tier) -> Iterator[list[str]]:
    """60 Synced, Healthy applications of the project `paging` deploying to `dev`, removed afterwards."""
    store = argo_tier.sandbox.kube["dev"].store
    for name in PAGED:
        store.create(
            GROUP,
            VERSION,
            "applications",
            ARGOCD_NAMESPACE,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Application",
                "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
                "spec": {
                    "project": PAGED_PROJECT,
                    "source": {
                        "repoURL": "https://git.example.com/platform/deploy.git",
                        "path": f"apps/{name}",
                        "targetRevision": "main",
                    },
                    "destination": {"name": "dev", "namespace": name},
                },
                "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
            },
        )
    yield PAGED
    for name in PAGED:
        store.delete(GROUP, VERSION, "applications", ARGOCD_NAMESPACE, name)


def _listed(reply_text: str) -> list[str]:
    return [name for name in PAGED if f"`{name}`" in reply_text]


def test_apps_page_2_shows_the_second_page_and_how_to_reach_the_third(
    argo_tier: Tier, paged_apps: list[str]
) -> None:
    tier = argo_tier
    slash = tier.deps.settings.slack.command

    first = tier.do(DEV, f"apps --project {PAGED_PROJECT}")
    assert _listed(first.text) == paged_apps[:25]
    assert "Page 1 of 3 (25 shown)" in (first.context or "")
    assert f"`{slash} apps --project {PAGED_PROJECT} --page 2`" in (first.context or "")

    second = tier.do(DEV, f"apps --project {PAGED_PROJECT} --page 2")
    assert _listed(second.text) == paged_apps[25:50]
    footer = second.context or ""
    assert "Page 2 of 3 (25 shown)" in footer
    assert f"Next page: `{slash} apps --project {PAGED_PROJECT} --page 3`." in footer
    assert "60 applications" in " ".join(second.sections)
    assert tier.last_audit(DEV).result == "ok"

    past = tier.do(DEV, f"apps --project {PAGED_PROJECT} --page 9")
    assert _listed(past.text) == paged_apps[50:]
    assert "Page 3 of 3 (10 shown): page 9 is past the end, so this is the last page." in (past.context or "")
    assert f"Previous page: `{slash} apps --project {PAGED_PROJECT} --page 2`." in (past.context or "")


def test_a_bad_page_is_refused_with_the_reason_and_lists_nothing(
    argo_tier: Tier, paged_apps: list[str]
) -> None:
    tier = argo_tier
    for page in ("0", "-2", "two", "1.5", "10001"):
        reply = tier.do(DEV, f"apps --project {PAGED_PROJECT} --page {page}")
        reason = f"`--page` must be a whole number from 1 to 10000 (1 is the first page), not `{page}`."
        assert reason in reply.text, reply.text
        assert "apps [--cluster C] [--project P] [--out-of-sync] [--degraded] [--page N]" in reply.text
        assert _listed(reply.text) == [] and "Page" not in (reply.context or "")
        assert tier.last_audit(DEV).result == "invalid"
