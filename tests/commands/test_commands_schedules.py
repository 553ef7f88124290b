"""Schedules through the pipeline: a schedule acts on behalf of its creator, when added and at each firing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from commands_world import Tier
from e2e_world import ADMIN, BASE_POLICY, DEV, OPS_CHANNEL, PROD_CHANNEL, running_bot

from bot.sandbox.world import SandboxWorld
from bot.store.repos import RunRepo

#: Developers may add schedules, and remove only the ones named `team-*`.
POLICY = BASE_POLICY + (
    "p, role:developer, schedules, create, *, allow\n"
    "p, role:developer, schedules, delete, team-*, allow\n"
    "p, role:developer, schedules, get, *, allow\n"
    "p, role:developer, workflows, get, dev/*, allow\n"
)
RUN_ON_DEV = "run hello --cluster dev --cron '0 2 * * *'"


@pytest.fixture
def schedules_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    with running_bot(tmp_path, sandbox, policy=POLICY) as world:
        yield Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


def _add(tier: Tier, name: str, rest: str, *, channel: str = OPS_CHANNEL) -> str:
    kind, _, options = rest.partition(" ")
    template = options.split()[0] if kind == "run" else ""
    options = options.removeprefix(template).strip()
    words = f"schedule add {name} --kind {kind}" + (f" --template {template}" if template else "")
    return tier.do(DEV, f"{words} {options}", channel=channel).text


def _names(tier: Tier) -> list[str]:
    assert tier.deps.schedules is not None
    return [entry.spec.name for entry in tier.deps.schedules.list()]


def test_a_run_schedule_on_a_cluster_the_creator_may_not_run_on_is_refused_and_audited(
    schedules_tier: Tier,
) -> None:
    tier = schedules_tier
    refused = _add(tier, "nightly-prod", "run hello --cluster prod --cron '0 2 * * *'", channel=PROD_CHANNEL)

    assert "workflows, run" in refused, refused
    assert "nightly-prod" not in _names(tier)
    audit = tier.last_audit(DEV)
    assert (audit.command, audit.object, audit.decision, audit.result) == (
        "schedule add", "prod/argo/hello", "deny", "refused",
    )  # fmt: skip


def test_a_run_schedule_is_checked_against_the_channel_binding_and_the_template(schedules_tier: Tier) -> None:
    tier = schedules_tier
    assert "no-such" in _add(tier, "nightly", "run no-such --cluster dev --cron '0 2 * * *'")
    assert "`greeting`" not in _add(
        tier, "nightly", "run hello --cluster dev -p greeting=hi --cron '0 2 * * *'"
    )
    assert (
        "unknown" in _add(tier, "other", "run hello --cluster dev -p colour=red --cron '0 2 * * *'").lower()
    )
    assert "nightly" in _names(tier) and "other" not in _names(tier)


def test_each_firing_runs_as_its_creator_and_is_refused_once_they_lost_the_permission(
    schedules_tier: Tier,
) -> None:
    tier = schedules_tier
    added = _add(tier, "nightly", RUN_ON_DEV)
    assert "added schedule *nightly*" in added, added
    assert tier.world.bot.schedules is not None
    before = len(tier.workflows())

    fired = tier.world.bot.schedules.fire_now("nightly")

    assert fired is not None and f"(for <@{DEV}>)" in fired.text and "Submitted `hello-" in fired.text
    assert len(tier.workflows()) == before + 1
    audit = tier.last_audit(DEV)
    assert (audit.command, audit.object, audit.result, audit.channel_id) == (
        "run",
        "dev/argo/hello",
        "ok",
        OPS_CHANNEL,
    )

    policy = tier.world.policy_file
    policy.write_text(
        policy.read_text().replace("p, role:developer, workflows, run, dev/*, allow\n", ""), "utf-8"
    )
    developer = tier.deps.directory.actor(DEV).subjects if tier.deps.directory else ()
    tier.wait(
        lambda: (
            not tier.deps.policy.current().can(
                developer, resource="workflows", action="run", obj="dev/argo/hello"
            )
        ),
        message="the policy file reloaded",
    )
    again = tier.world.bot.schedules.fire_now("nightly")

    assert again is not None and "workflows, run" in again.text, again
    assert len(tier.workflows()) == before + 1
    refused = tier.last_audit(DEV)
    assert (refused.command, refused.decision, refused.result) == ("run", "deny", "refused")


def test_remove_needs_delete_on_that_schedules_name(schedules_tier: Tier) -> None:
    tier = schedules_tier
    _add(tier, "nightly", "app-health --cron '0 9 * * mon-fri'")
    _add(tier, "team-digest", "workflow-digest --cron '0 9 * * mon-fri'")

    refused = tier.do(DEV, "schedule remove nightly").text
    removed = tier.do(DEV, "schedule remove team-digest").text

    assert "schedules, delete" in refused and "nightly" in _names(tier)
    assert "removed" in removed and "team-digest" not in _names(tier)
    assert tier.last_audit(DEV).object == "team-digest"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ("app-health --cron '0 9 * * 8'", "day of week '8' is out of range"),
        ("app-health --cron '0 9 * * *' --timezone Mars/Olympus", "Mars/Olympus"),
    ],
)
def test_a_refused_schedule_says_why_and_what_to_type(schedules_tier: Tier, options: str, says: str) -> None:
    answer = _add(schedules_tier, "morning", options)
    assert says in answer
    assert "Usage: `/ops schedule add NAME --kind KIND" in answer
    assert "morning" not in _names(schedules_tier)


def test_list_shows_the_added_schedule_and_a_name_is_taken_once(schedules_tier: Tier) -> None:
    tier = schedules_tier
    _add(tier, "morning", "app-health --cron '0 9 * * mon-fri' --timezone Europe/Paris")
    assert "already exists" in _add(tier, "morning", "pending-approvals --cron '0 9 * * *'")
    listing = tier.do(DEV, "schedule list")
    body = "\n".join([listing.text, *listing.sections])
    assert "*morning*" in body and "(Europe/Paris)" in body and "added in Slack" in body


def test_a_report_shows_only_what_its_owner_may_get(schedules_tier: Tier) -> None:
    tier = schedules_tier
    assert "Submitted" in tier.do(ADMIN, "run hello --cluster dev").text
    assert "Submitted" in tier.do(ADMIN, "run hello --cluster prod", channel=PROD_CHANNEL).text
    _add(tier, "dev-digest", "workflow-digest --cron '0 9 * * *'")  # owned by the developer
    added = tier.do(ADMIN, "schedule add all-digest --kind workflow-digest --cron '0 9 * * *'").text
    assert "added schedule" in added
    assert tier.world.bot.schedules is not None

    theirs = tier.world.bot.schedules.fire_now("dev-digest")
    everything = tier.world.bot.schedules.fire_now("all-digest")

    assert theirs is not None and theirs.text.startswith("1 workflow run(s)")  # the dev run only
    assert everything is not None and everything.text.startswith("2 workflow run(s)")
