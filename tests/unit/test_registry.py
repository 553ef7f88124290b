"""The verb registry: the help people read, the usage the grammar enforces and the generated docs agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands import grammar
from bot.commands.registry import Verb, help_for, help_overview, usage_for
from bot.commands.verbs import build_registry, commands_doc

REGISTRY = build_registry()
DOC = Path(__file__).resolve().parents[2] / "docs" / "commands.md"


@pytest.mark.parametrize("verb", REGISTRY.typed(), ids=lambda verb: verb.name)
def test_every_example_parses_to_its_own_verb(verb: Verb) -> None:
    name = verb.name
    for example in verb.examples:
        text = example.replace("{command}", "/ops").removeprefix("/ops ")
        assert grammar.parse_command(text, registry=REGISTRY).name == name, example


@pytest.mark.parametrize("verb", REGISTRY.typed(), ids=lambda verb: verb.name)
def test_usage_mentions_every_option_and_argument(verb: Verb) -> None:
    usage = usage_for(REGISTRY, verb.word)
    for option in verb.options:
        assert option.names[0] in usage, f"{option.names[0]} is missing from: {usage}"
    for positional in verb.positionals:
        assert positional.metavar in usage


def test_usage_uses_the_configured_slash_command() -> None:
    assert usage_for(REGISTRY, "sync", "/deploy") == (
        "/deploy sync APP [--revision R] [--prune] [--dry-run] [--cluster C]"
    )
    assert usage_for(REGISTRY, "schedule").splitlines() == [
        "/ops schedule list",
        '/ops schedule add NAME --kind KIND --cron "CRON" [--timezone TZ] [--cluster C] [--template T] '
        "[-p key=value]...",
        "/ops schedule remove NAME",
    ]


def test_help_for_a_verb_shows_usage_examples_options_and_permission() -> None:
    text = help_for(REGISTRY, "rollback", "/ops")
    assert "`/ops rollback APP [HISTORY_ID] [--reason TEXT] [--cluster C]`" in text
    assert '`/ops rollback payments-api 41 --reason "5xx after v1.4.2"`' in text
    assert "`--reason TEXT`" in text
    assert "Needs the permission `applications, rollback`." in text
    assert "{command}" not in text


def test_help_for_a_group_explains_each_of_its_verbs() -> None:
    text = help_for(REGISTRY, "schedule", "/ops")
    expected = (("schedule list", "get"), ("schedule add", "create"), ("schedule remove", "delete"))
    for name, permission in expected:
        assert f"*{name}*" in text
        assert f"`schedules, {permission}`" in text


def test_overview_lists_only_the_allowed_verbs() -> None:
    text = help_overview(REGISTRY, ["help", "whoami", "status"], "/ops")
    assert "`/ops status WORKFLOW" in text
    assert "/ops sync" not in text
    assert "/ops approve" not in text  # not offered to someone who may not use it
    assert "/ops complete-approval" not in help_overview(REGISTRY, ["complete-approval"], "/ops")


def test_button_verbs_cannot_be_typed() -> None:
    with pytest.raises(Exception, match="I don't know the command `complete-approval`"):
        grammar.parse_command("complete-approval 0123456789abcdef0123456789abcdef", registry=REGISTRY)


def test_a_verb_declared_twice_is_refused() -> None:
    run = REGISTRY["run"]
    with pytest.raises(ValueError, match="declared twice"):
        REGISTRY.with_verbs([run])


def test_the_commands_doc_is_generated_from_the_registry() -> None:
    current = DOC.read_text(encoding="utf-8")
    assert commands_doc(current, REGISTRY) == current, (
        "docs/commands.md is out of date: run `python -m bot.commands.verbs docs/commands.md`"
    )
    for verb in REGISTRY.typed():
        assert verb.usage("/ops") in current
