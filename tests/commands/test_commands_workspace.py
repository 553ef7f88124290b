"""Who may use the bot at all: its own workspace and organisation, members before guests.

Requests are handed to a command worker of the real bot (what the Socket Mode listeners do
after the ack), so each refusal is answered in Slack and audited like any other answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands_world import Tier
from e2e_world import DEV, OPS_CHANNEL, running_bot

from bot.actions.context import Deps
from bot.model import Origin, Surface
from bot.sandbox.world import SandboxWorld
from bot.slack.client import Messenger
from bot.slack.directory import SlackDirectory
from bot.slack.worker import CommandWorker
from bot.store.repos import EventDedup, RunRepo

GUEST = "UGUEST001"
EXTERNAL = "UEXTERN01"


@pytest.fixture
def readonly_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    """The real bot where everyone holds `role:readonly` by default."""
    rbac = {"policy_file": "policy.csv", "default_role": "role:readonly"}
    with running_bot(tmp_path, sandbox, rbac=rbac) as world:
        yield Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


def _typed(tier: Tier, user: str, text: str, *, deps: Deps | None = None, **where: str | None) -> str:
    """`text` from `user` as it reaches a command worker from Slack; the answer they see."""
    client = tier.world.bot.app.client
    worker = CommandWorker(
        deps=deps or tier.deps,
        directory=SlackDirectory(client, ttl=60),
        dedup=EventDedup(tier.world.bot.database),
        messenger=Messenger(client),
    )
    before = len(tier.world.driver.ephemerals(user=user))
    fields = {"team_id": tier.team, **where}
    worker.process(Origin(surface=Surface.MENTION, channel_id=OPS_CHANNEL, user_id=user, text=text, **fields))
    worker.shutdown()
    answers = tier.world.driver.ephemerals(user=user)[before:]
    assert len(answers) == 1, answers
    return str(answers[0]["text"])


def _with_slack(deps: Deps, **changes: object) -> Deps:
    settings = deps.settings
    return dataclasses.replace(
        deps, settings=settings.model_copy(update={"slack": settings.slack.model_copy(update=changes)})
    )


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ({"team_id": None}, "only the workspace it is installed in"),
        ({"team_id": "T0OTHER01"}, "only the workspace it is installed in"),
        ({"enterprise_id": "E0OTHER01"}, "only the organisation it is installed in"),
    ],
)
def test_who_may_use_the_bot_refuses_other_workspaces_and_audits_it(
    tier: Tier, where: dict[str, str | None], says: str
) -> None:
    workspace = tier.deps.workspace
    assert workspace is not None
    ours = dataclasses.replace(workspace, enterprise_id="E0OURS001")  # an org to compare with
    deps = dataclasses.replace(tier.deps, workspace=ours)

    answer = _typed(tier, DEV, "whoami", deps=deps, **where)

    assert says in answer and "You are" not in answer
    audit = tier.last_audit(DEV)
    assert (audit.decision, audit.result, audit.detail) == (
        "deny",
        "refused",
        answer.removeprefix(":no_entry: "),
    )


def test_who_may_use_the_bot_refuses_slack_connect_users_unless_allowed(tier: Tier) -> None:
    tier.world.driver.add_user(EXTERNAL, name="eve", email="eve@partner.example")
    tier.world.driver.update_user(EXTERNAL, home_team="T0PARTNER")

    refused = _typed(tier, EXTERNAL, "whoami")

    assert "only members of its own workspace" in refused
    audit = tier.last_audit(EXTERNAL)
    assert (audit.command, audit.decision, audit.result) == ("whoami", "deny", "refused")
    allowed = _with_slack(tier.deps, allow_external_users=True)
    assert "You are *eve*" in _typed(tier, EXTERNAL, "whoami", deps=allowed)


def test_who_may_use_the_bot_gives_guests_no_default_role(readonly_tier: Tier) -> None:
    tier = readonly_tier
    tier.world.driver.add_user(GUEST, name="gus", email="gus@contractor.example")
    as_member = _typed(tier, GUEST, "help")
    tier.world.driver.update_user(GUEST, is_restricted=True)

    as_guest = _typed(tier, GUEST, "help")
    as_developer_guest = _typed(tier, GUEST, "help", deps=_with_slack(tier.deps, guest_role="role:developer"))

    assert "`/ops apps" in as_member and "`/ops run TEMPLATE" not in as_member  # the default role reads
    assert "`/ops apps" not in as_guest and "`/ops status" not in as_guest  # a guest holds nothing
    assert "`/ops run TEMPLATE" in as_developer_guest and "`/ops apps" not in as_developer_guest
