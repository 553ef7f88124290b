"""Whatever anyone types, the grammar answers with a command or a helpful error, never a crash."""

from __future__ import annotations

import shlex

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import grammar
from bot.commands.grammar import HelpCommand
from bot.commands.registry import Command
from bot.commands.verbs import build_registry
from bot.errors import CommandSyntaxError

REGISTRY = build_registry()
VERBS = REGISTRY.words()


def parse_command(text: str) -> Command:
    parsed: Command = grammar.parse_command(text, registry=REGISTRY).command
    return parsed


WORDS = [
    *VERBS,
    "list",
    "add",
    "remove",
    "--cluster",
    "--namespace",
    "-p",
    "--param",
    "--prune",
    "--dry-run",
    "--mine",
    "--out-of-sync",
    "--degraded",
    "--limit",
    "--user",
    "--reason",
    "--revision",
    "--kind",
    "--cron",
    "--timezone",
    "--template",
    "--project",
    "--",
    "-h",
    "--help",
    "help",
    "prod-eu",
    "payments-api",
    "a=b",
    "=",
    "-p=a=b",
    "--limit=5",
    "0",
    "101",
    "<@U1>",
    "@alice",
    "&lt;",
    "&amp;",
    "<http://x|x>",
    "<#C1|general>",
    "\u201c",
    "\u2019",
    '"',
    "'",
    "\\",
    "\x00",
    "app-health",
    "0 9 * * *",
]


NOT_LITERAL = "\x00<>&\u201c\u201d\u201e\u201f\u2033\u2018\u2019\u201a\u201b\u2032"


def _answer(text: str) -> Command | CommandSyntaxError:
    try:
        return parse_command(text)
    except CommandSyntaxError as exc:
        return exc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_gives_a_command_or_a_syntax_error(text: str) -> None:
    answer = _answer(text)
    if isinstance(answer, CommandSyntaxError):
        assert str(answer).strip(), "an error must say something"
    else:
        assert isinstance(answer, Command)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=12),
    st.sampled_from([" ", "  ", "\t"]),
    st.booleans(),
)
def test_any_words_joined_or_quoted_give_a_command_or_a_syntax_error(
    words: list[str], separator: str, quote: bool
) -> None:
    text = separator.join(shlex.quote(w) for w in words) if quote else separator.join(words)
    answer = _answer(text)
    assert isinstance(answer, Command | CommandSyntaxError)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([v for v in VERBS if v != "help"]),
    st.lists(st.sampled_from([w for w in WORDS if w != "--" and not set(w) & set(NOT_LITERAL)]), max_size=8),
    st.sampled_from(["--help", "-h", "-H"]),
    st.integers(min_value=0, max_value=8),
)
def test_help_flag_anywhere_means_help_for_that_verb(verb: str, words: list[str], flag: str, at: int) -> None:
    words.insert(min(at, len(words)), flag)
    answer = _answer(" ".join([verb, *(shlex.quote(w) for w in words)]))
    assert answer == HelpCommand(about=verb)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True),
        # Slack markup (<...>, &amp;) and smart quotes are rewritten on purpose; see test_grammar.py
        st.text(alphabet=st.characters(blacklist_characters=NOT_LITERAL), max_size=40),
        max_size=6,
    )
)
def test_quoted_parameters_round_trip(params: dict[str, str]) -> None:
    text = "run db-migrate " + " ".join(f"-p {shlex.quote(f'{k}={v}')}" for k, v in params.items())
    command = parse_command(text)
    assert getattr(command, "params", None) == tuple(params.items())
