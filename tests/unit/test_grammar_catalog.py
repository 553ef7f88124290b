"""The command table: help texts people read, and that they agree with what the grammar accepts."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.commands import catalog
from bot.commands.grammar import SPECS, HelpCommand, parse_command
from bot.errors import NotEnabled


@pytest.mark.parametrize("verb", catalog.VERBS)
def test_every_example_parses_to_its_own_verb(verb: str) -> None:
    for example in catalog.info_for(verb).examples:
        text = example.format(command="/ops").removeprefix("/ops ")
        command = parse_command(text)
        expected = "help" if verb == "help" else verb
        assert command.verb == expected, example
        if verb != "help":
            assert not isinstance(command, HelpCommand)


@pytest.mark.parametrize("topic", list(SPECS))
def test_usage_mentions_every_option_the_grammar_accepts(topic: str) -> None:
    usage = catalog.usage_for(topic.split()[0])
    for option in SPECS[topic].options:
        assert option.names[0] in usage, f"{option.names[0]} of {topic} is missing from: {usage}"
    for positional in SPECS[topic].positionals:
        assert positional.metavar in usage


def test_usage_uses_the_configured_slash_command() -> None:
    assert (
        catalog.usage_for("sync", "/deploy")
        == "/deploy sync APP [--revision R] [--prune] [--dry-run] [--cluster C]"
    )
    assert catalog.usage_for("schedule").splitlines() == [
        "/ops schedule list",
        '/ops schedule add NAME --kind KIND --cron "CRON" [--timezone TZ] [--cluster C] [--template T] '
        "[-p key=value]...",
        "/ops schedule remove NAME",
    ]


def test_help_for_a_verb_shows_usage_examples_and_permission() -> None:
    text = catalog.help_for("rollback", "/ops")
    assert "`/ops rollback APP [HISTORY_ID] [--reason TEXT] [--cluster C]`" in text
    assert '`/ops rollback payments-api 41 --reason "5xx after v1.4.2"`' in text
    assert "`--reason TEXT`" in text
    assert "Needs the permission `applications, rollback`." in text
    assert "Not enabled" not in text
    assert "{command}" not in text


def test_help_for_an_enabled_verb_does_not_say_disabled() -> None:
    text = catalog.help_for("audit", "/chatops")
    assert "Not enabled" not in text
    assert "`/chatops audit --user @alice --limit 50`" in text


def _disable(monkeypatch: pytest.MonkeyPatch, verb: str) -> None:
    """A verb a later version adds: the catalog entry as it would read before it is enabled."""
    monkeypatch.setitem(catalog.CATALOG, verb, dataclasses.replace(catalog.CATALOG[verb], enabled=False))


def test_overview_lists_only_allowed_enabled_verbs_and_what_comes_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _disable(monkeypatch, "rollback")
    text = catalog.help_overview(["help", "whoami", "rollback", "no-such-verb"], "/ops")
    usable = text.split("Not enabled yet")[0]
    assert "`/ops help [COMMAND]`" in usable
    assert "`/ops whoami`" in usable
    assert "audit" not in usable  # not allowed for this person
    assert "rollback" not in usable  # allowed, but not enabled in this version
    assert "no-such-verb" not in text
    assert re.search(r"Not enabled yet in this version: .*`rollback`", text)
    assert "`/ops help COMMAND`" in text


def test_with_every_verb_enabled_the_overview_promises_nothing_later() -> None:
    assert "Not enabled yet" not in catalog.help_overview(list(catalog.VERBS), "/ops")


def test_overview_for_an_admin_includes_audit() -> None:
    assert "`/ops audit [--user U] [--limit N]`" in catalog.help_overview(["help", "whoami", "audit"], "/ops")


def test_permissions_per_topic() -> None:
    assert catalog.permission_for(parse_command("whoami")) is None
    assert catalog.permission_for(parse_command("help")) is None
    assert catalog.permission_for(parse_command("sync a")) == ("applications", "sync")
    assert catalog.permission_for(parse_command("logs wf-1")) == ("workflows", "logs")
    assert catalog.permission_for(parse_command("schedule list")) == ("schedules", "get")
    assert catalog.permission_for(parse_command("schedule add x --kind app-health --cron '0 9 * * *'")) == (
        "schedules",
        "create",
    )
    assert catalog.permission_for(parse_command("schedule remove x")) == ("schedules", "delete")
    assert catalog.permission_for(parse_command("audit")) == ("audit", "get")


ENABLED = [
    "help",
    "whoami",
    "templates",
    "run",
    "runs",
    "status",
    "logs",
    "stop",
    "terminate",
    "retry",
    "apps",
    "app",
    "history",
    "sync",
    "rollback",
    "schedule",
    "audit",
]


def test_which_verbs_are_enabled_in_this_version() -> None:
    assert [verb for verb in catalog.VERBS if catalog.is_enabled(verb)] == ENABLED
    assert list(catalog.verb_permissions()) == ENABLED


def test_disabled_verbs_answer_not_enabled_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    _disable(monkeypatch, "rollback")
    catalog.require_enabled("audit")
    with pytest.raises(NotEnabled) as caught:
        catalog.require_enabled("rollback", command="/ops")
    assert str(caught.value) == (
        "`rollback` is not enabled yet in this version of the bot. "
        "Type `/ops help` for the commands you can use now."
    )


def test_the_commands_doc_shows_every_usage_line_and_example() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text(encoding="utf-8")
    for info in catalog.CATALOG.values():
        for line in catalog.usage_for(info.verb, "/ops").splitlines():
            assert line in doc, line
        for example in info.examples:
            assert example.format(command="/ops") in doc, example
