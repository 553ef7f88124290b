"""What a subscription covers: triggers as typed, globs, project and cluster, and stable run ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import subscribing
from bot.config import SubscriptionSettings
from bot.records import Subscription

SHOP = Subscription(
    id="sub-1",
    channel_id="C1",
    kind="apps",
    name="shop-*",
    project="shop",
    cluster="prod",
    triggers=("sync-started", "sync-failed"),
    created_by="U1",
    created_at=datetime(2026, 3, 1, tzinfo=UTC),
)


def test_triggers_default_and_canonical_order() -> None:
    assert subscribing.parse_triggers("apps", None) == ("sync-succeeded", "sync-failed")
    assert subscribing.parse_triggers("workflows", None) == ("failed",)
    assert subscribing.parse_triggers("apps", "sync-failed, sync-started") == ("sync-started", "sync-failed")
    assert subscribing.parse_triggers("apps", "out-of-sync,health-degraded") == (
        "health-degraded",
        "out-of-sync",
    )


@pytest.mark.parametrize(
    ("kind", "text", "said"),
    [
        ("apps", "health-degraded,degraded", "`degraded` is not a trigger for apps"),
        ("workflows", "out-of-sync", "not a trigger for workflows"),
        ("apps", "failed", "not a trigger for apps"),
        ("workflows", "sync-failed", "not a trigger for workflows"),
        ("apps", ",", "needs at least one"),
    ],
)
def test_bad_triggers_say_why(kind: str, text: str, said: str) -> None:
    with pytest.raises(subscribing.BadTriggers, match=said):
        subscribing.parse_triggers(kind, text)


def test_matches_app_on_glob_project_cluster_and_trigger() -> None:
    def op(
        name: str = "shop-api",
        project: str = "shop",
        cluster: str | None = "prod",
        trigger: str = "sync-failed",
    ) -> subscribing.AppOperation:
        return subscribing.AppOperation(name=name, project=project, cluster=cluster, trigger=trigger)

    assert subscribing.matches_app(SHOP, op())
    assert not subscribing.matches_app(SHOP, op(name="billing-api"))
    assert not subscribing.matches_app(SHOP, op(project="billing"))
    assert not subscribing.matches_app(SHOP, op(cluster="dev"))
    assert not subscribing.matches_app(SHOP, op(trigger="sync-succeeded"))
    anywhere = Subscription(**{**SHOP.__dict__, "project": None, "cluster": None})
    assert subscribing.matches_app(anywhere, op(project="billing", cluster=None))
    assert subscribing.about_app(SHOP, name="shop-web", project="shop", cluster="prod")
    assert not subscribing.about_app(SHOP, name="shop-web", project="shop", cluster="dev")


def test_matches_workflow_on_template_glob_cluster_and_trigger() -> None:
    nightly = Subscription(
        **{**SHOP.__dict__, "kind": "workflows", "name": "nightly-*", "triggers": ("failed",)}
    )
    found = subscribing.WorkflowOperation(template="nightly-etl", cluster="prod", trigger="failed")
    assert subscribing.matches_workflow(nightly, found)
    assert not subscribing.matches_workflow(
        nightly, subscribing.WorkflowOperation("nightly-etl", "prod", "succeeded")
    )
    assert not subscribing.matches_workflow(nightly, subscribing.WorkflowOperation("etl", "prod", "failed"))
    assert not subscribing.matches_app(
        nightly, subscribing.AppOperation("nightly-etl", "shop", "prod", "failed")
    )


def test_followed_run_id_is_stable_and_differs_per_channel_and_operation() -> None:
    one = subscribing.followed_run_id("C1", "prod", "shop-api", "2026-03-01T09:00:00Z")
    assert one == subscribing.followed_run_id("C1", "prod", "shop-api", "2026-03-01T09:00:00Z")
    assert len(one) == 32
    assert one != subscribing.followed_run_id("C2", "prod", "shop-api", "2026-03-01T09:00:00Z")
    assert one != subscribing.followed_run_id("C1", "prod", "shop-api", "2026-03-01T09:05:00Z")


def test_config_entries_become_subscriptions_with_config_ids() -> None:
    entries = [
        SubscriptionSettings(channel="COPS0001", kind="apps", name="shop-*", owner="U1"),
        SubscriptionSettings(
            id="etl",
            channel="COPS0001",
            kind="workflows",
            name="etl",
            triggers=("succeeded", "failed"),
            owner="U2",
        ),
    ]
    found = subscribing.from_settings(entries)
    assert [(s.id, s.triggers, s.source) for s in found] == [
        ("config-1", ("sync-succeeded", "sync-failed"), "config"),
        ("etl", ("succeeded", "failed"), "config"),
    ]
