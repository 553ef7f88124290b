"""Subscriptions through the pipeline: typed in the channel that receives the posts, checked as
their creator's `get`, the channel binding of the cluster, bad input refused, every verb audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands_world import ARGO_POLICY, Tier
from e2e_world import ADMIN, DEV, OPS, OPS_CHANNEL, PROD_CHANNEL, STRANGER, running_bot, token_auth

from bot.records import Subscription
from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld
from bot.store.repos import RunRepo

#: Developers read dev apps and workflows and list subscriptions; sre reads everything.
POLICY = ARGO_POLICY + (
    "p, role:developer, subscriptions, get, *, allow\n"
    "p, role:developer, workflows, get, dev/*, allow\n"
    "p, role:sre, subscriptions, get, *, allow\n"
)
ID = re.compile(r"`(sub-[0-9a-f]{6})`")


@pytest.fixture
def subs_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    clusters = [
        {"name": "dev", "auth": token_auth(sandbox, "dev"), "argocd_namespace": ARGOCD_NAMESPACE},
        {"name": "prod", "auth": token_auth(sandbox, "prod"), "channels": [PROD_CHANNEL]},
    ]
    configured = [
        {
            "channel": OPS_CHANNEL,
            "kind": "apps",
            "name": "billing-*",
            "owner": ADMIN,
            "triggers": ["sync-failed"],
        }
    ]
    with running_bot(tmp_path, sandbox, policy=POLICY, clusters=clusters, subscriptions=configured) as world:
        yield Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


def _channel(tier: Tier, channel: str = OPS_CHANNEL) -> list[Subscription]:
    assert tier.deps.subscriptions is not None
    return tier.deps.subscriptions.for_channel(channel)


def _added_id(text: str) -> str:
    found = ID.search(text)
    assert found is not None, text
    return found.group(1)


def test_subscribe_list_and_unsubscribe_as_a_developer_would(subs_tier: Tier) -> None:
    tier = subs_tier
    added = tier.do(DEV, "subscribe apps 'shop-*' --cluster dev --on sync-started,sync-failed")

    assert "subscribed this channel to apps `shop-*` on `dev`, on sync-started, sync-failed" in added.text
    sub_id = _added_id(added.text)
    audit = tier.last_audit(DEV)
    assert (audit.command, audit.object, audit.decision, audit.result) == (
        "subscribe apps", "dev/*/shop-*", "allow", "ok",
    )  # fmt: skip

    listed = tier.do(DEV, "subscriptions").text
    assert f"`{sub_id}`: apps `shop-*` on `dev`, on sync-started, sync-failed; for <@{DEV}>" in listed
    # the config file's subscription is listed too, with its own id
    assert "`config-1`: apps `billing-*` on every cluster, on sync-failed" in listed
    assert tier.last_audit(DEV).command == "subscriptions"

    workflows = tier.do(DEV, "subscribe workflows 'hello*' --cluster dev")
    assert "workflows from templates `hello*` on `dev`, on failed" in workflows.text
    assert tier.last_audit(DEV).object == "dev/argo/hello*"

    removed = tier.do(DEV, f"unsubscribe {sub_id}")
    assert f"removed subscription `{sub_id}`" in removed.text
    audit = tier.last_audit(DEV)
    assert (audit.command, audit.resource, audit.action, audit.object, audit.result) == (
        "unsubscribe", "subscriptions", "delete", sub_id, "ok",
    )  # fmt: skip
    assert sub_id not in {s.id for s in _channel(tier)}


def test_subscribing_needs_get_on_what_is_subscribed_to_and_the_clusters_channel(subs_tier: Tier) -> None:
    tier = subs_tier
    before = _channel(tier) + _channel(tier, PROD_CHANNEL)

    # a developer may get dev apps only: every cluster, or prod, is more than they could see
    every = tier.do(DEV, "subscribe apps 'shop-*'")
    assert "applications, get" in every.text, every.text
    audit = tier.last_audit(DEV)
    assert (audit.object, audit.decision, audit.result) == ("*/*/shop-*", "deny", "refused")
    assert "applications, get" in tier.do(DEV, "subscribe apps 'shop-*' --cluster prod").text
    assert "workflows, get" in tier.do(DEV, "subscribe workflows hello --cluster prod").text

    # prod takes commands only in its channel, subscriptions included
    elsewhere = tier.do(OPS, "subscribe apps 'shop-*' --cluster prod")
    assert f"<#{PROD_CHANNEL}>" in elsewhere.text, elsewhere.text
    assert _channel(tier) + _channel(tier, PROD_CHANNEL) == before

    there = tier.do(OPS, "subscribe apps 'shop-*' --cluster prod", channel=PROD_CHANNEL)
    assert "subscribed this channel" in there.text
    assert [s.name for s in _channel(tier, PROD_CHANNEL)] == ["shop-*"]


def test_bad_input_gets_a_clear_answer_and_changes_nothing(subs_tier: Tier) -> None:
    tier = subs_tier
    before = _channel(tier)

    health = tier.do(DEV, "subscribe apps 'shop-*' --cluster dev --on health-degradd")
    assert "`health-degradd` is not a trigger for apps" in health.text, health.text
    assert "`health-degraded`" in health.text and "`out-of-sync`" in health.text
    unknown = tier.do(DEV, "subscribe apps 'shop-*' --cluster dev --on synced")
    assert "`synced` is not a trigger for apps" in unknown.text, unknown.text
    assert "`sync-failed`" in unknown.text
    wrong_kind = tier.do(DEV, "subscribe workflows hello --cluster dev --on sync-failed")
    assert "not a trigger for workflows" in wrong_kind.text
    assert "not a valid app name glob" in tier.do(DEV, "subscribe apps Shop_*").text
    assert "subscribe apps" in tier.do(DEV, "subscribe things x").text
    assert (
        "There is no cluster `nowhere`" in tier.do(ADMIN, "subscribe workflows hello --cluster nowhere").text
    )
    assert "not a subscription id" in tier.do(DEV, "unsubscribe SUB!").text

    assert _channel(tier) == before
    assert tier.last_audit(ADMIN).result == "refused"


def test_only_the_creator_or_subscriptions_delete_removes_one_and_config_ones_stay(subs_tier: Tier) -> None:
    tier = subs_tier
    sub_id = _added_id(tier.do(DEV, "subscribe apps 'shop-*' --cluster dev").text)

    # someone else without `subscriptions, delete` is told the same as for an unknown id
    refused = tier.do(STRANGER, f"unsubscribe {sub_id}")
    unknown = tier.do(STRANGER, "unsubscribe sub-000000")
    assert f"no subscription `{sub_id}` you may remove" in refused.text
    assert "no subscription `sub-000000` you may remove" in unknown.text
    audit = tier.last_audit(STRANGER)
    assert (audit.decision, audit.result) == ("deny", "refused")
    assert sub_id in {s.id for s in _channel(tier)}

    # an admin has `subscriptions, delete` on every id (the built-in admin role)
    assert "removed subscription" in tier.do(ADMIN, f"unsubscribe {sub_id}").text
    assert sub_id not in {s.id for s in _channel(tier)}

    config = tier.do(ADMIN, "unsubscribe config-1")
    assert "defined in the configuration file" in config.text
    assert "config-1" in {s.id for s in _channel(tier)}
