"""A verb declared in one module gets parsing, help, "did you mean", RBAC, the pipeline and the audit log.

`GREET` below is the whole of a new verb: nothing else in the bot is touched. It is added to
the running bot's registry and driven like any other command.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from commands_world import Tier
from e2e_world import ADMIN, DEV, STRANGER

from bot.actions.context import Context, Deps
from bot.commands import values
from bot.commands.registry import Command, Option, Positional, Target, Verb, reference_markdown
from bot.config import ClusterSettings
from bot.model import Reply


@dataclass(frozen=True, kw_only=True)
class GreetCommand(Command):
    who: str
    loud: bool = False


def greet(ctx: Context, command: GreetCommand) -> Reply:
    text = f"Hello, {command.who}!"
    return Reply(text=text.upper() if command.loud else text)


def _target(command: GreetCommand, cluster: ClusterSettings | None) -> Target:
    return Target("audit", "get", f"greetings/{command.who}", None, precise=True)


GREET = Verb(
    name="greet",
    command=GreetCommand,
    summary="Say hello to someone.",
    area="tests",
    execute=greet,
    positionals=(Positional("NAME", "who", values.label("person")),),
    options=(Option(("--loud",), "loud", "shout it", kind="flag"),),
    examples=("{command} greet alice --loud",),
    permission=("audit", "get"),
    object_form="greetings/<name>",
    target=_target,
)


@pytest.fixture
def deps(tier: Tier) -> Deps:
    return dataclasses.replace(tier.deps, registry=tier.deps.registry.with_verbs([GREET]))


def test_the_new_verb_is_parsed_checked_carried_out_and_audited(tier: Tier, deps: Deps) -> None:
    reply = tier.do(ADMIN, "greet alice --loud", deps=deps)

    assert reply.text == "HELLO, ALICE!"
    audit = tier.last_audit(ADMIN)
    assert (audit.command, audit.resource, audit.action, audit.object) == (
        "greet",
        "audit",
        "get",
        "greetings/alice",
    )
    assert (audit.decision, audit.result) == ("allow", "ok")


def test_the_new_verb_is_refused_without_its_permission_and_the_refusal_audited(
    tier: Tier, deps: Deps
) -> None:
    reply = tier.do(STRANGER, "greet alice", deps=deps)

    assert "audit, get" in reply.text and "Hello" not in reply.text
    audit = tier.last_audit(STRANGER)
    assert (audit.command, audit.object, audit.decision, audit.result) == (
        "greet",
        "greetings/alice",
        "deny",
        "refused",
    )


def test_the_new_verb_has_help_usage_and_a_suggestion_for_typos(tier: Tier, deps: Deps) -> None:
    assert "`/ops greet NAME [--loud]`: Say hello to someone." in tier.do(ADMIN, "help", deps=deps).text
    assert "/ops greet" not in tier.do(DEV, "help", deps=deps).text  # not theirs to use
    detail = tier.do(ADMIN, "help greet", deps=deps).text
    assert "`/ops greet alice --loud`" in detail and "Needs the permission `audit, get`." in detail
    typo = tier.do(ADMIN, "gret alice", deps=deps).text
    assert "Did you mean `greet`?" in typo and "`/ops greet NAME [--loud]`" in typo
    bad = tier.do(ADMIN, "greet Alice!", deps=deps).text
    assert "not a valid person name" in bad
    assert tier.last_audit(ADMIN).result == "invalid"


def test_the_new_verb_appears_in_the_generated_reference(deps: Deps) -> None:
    reference = reference_markdown(deps.registry)
    assert "| `greet` | `audit, get` | `greetings/<name>` |" in reference
    assert "### `greet`" in reference and "- `/ops greet alice --loud`" in reference
