"""Command text -> the verb it names and its checked arguments, or a `CommandSyntaxError`. Pure.

The same grammar serves the slash command text, an app mention (after the bot's own
mention is stripped, see `strip_bot_mention`) and a direct message. Text is first cleaned
the way Slack delivers it: `&lt; &gt; &amp;` unescaped, links and mentions (`<http://x|x>`,
`<@U123|name>`, `<#C123|name>`, `<!subteam^S1|@sre>`) reduced to what the person typed,
and "smart" quotes from some clients turned into plain ones. It is then split like a shell
(`shlex`): quotes group words, `--` ends the options.

The words are read against the verb records of a `Registry` (`bot.commands.registry`): their
positionals and options, with the value checks of `bot.commands.values`. The parser is
generic; no verb is named here, so a new verb needs no change in this module. It is a small
hand-written option reader rather than argparse because its errors say exactly what to type
(a close option name, the usage of the verb meant, the value that was wrong) where argparse
would print its own usage text and exit.

Whether a template, app or cluster exists, and whether the person may touch it, is for the
action pipeline. It leaves out all I/O.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.commands import values
from bot.commands.registry import Command, Registry, Verb, usage_for
from bot.errors import CommandSyntaxError

MAX_TEXT = 6000
HELP_WORDS = ("help", "--help", "-h")
HELP_VERB = "help"


@dataclass(frozen=True, kw_only=True)
class HelpCommand(Command):
    """`help` or `help COMMAND` (`about` is the command's first word)."""

    about: str | None = None


@dataclass(frozen=True)
class Invocation:
    """A parsed command: the verb record and its checked arguments."""

    verb: Verb
    command: Any

    @property
    def name(self) -> str:
        return self.verb.name


# --- cleaning and splitting -------------------------------------------------------------

_SMART_QUOTES = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
    }
)
_SLACK_MARKUP = re.compile(r"<([^<>]*)>|&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def _unescape(text: str) -> str:
    return re.sub(r"&(amp|lt|gt);", lambda m: _ENTITIES[m.group(1)], text)


def _replace_markup(match: re.Match[str]) -> str:
    """One Slack entity or `<...>` form -> the text the person meant."""
    if match.group(2):
        return _ENTITIES[match.group(2)]
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return f"<{target}>"  # a user mention stays a mention: `audit --user` reads it
    if target.startswith("#"):
        return f"<{target}>"
    if target.startswith("!"):
        # <!here>, <!subteam^S123|@sre>, <!date^...|fallback>
        return _unescape(label) if label else "@" + target[1:].split("^")[0]
    # a link Slack made out of what was typed: the label is what the person wrote
    text = label or target
    return _unescape(text.removeprefix("mailto:"))


_SMART_QUOTE = re.compile("[\u201c\u201d\u201e\u201f\u2033\u2018\u2019\u201a\u201b\u2032]")


def _plain_quote(match: re.Match[str]) -> str:
    """A smart quote becomes a plain one, except a U+2019 apostrophe inside a word, which stays literal.

    Clients with smart punctuation type "don't" with U+2019; read as a quote it would leave an
    unbalanced quote in every `--reason` that contains one.
    """
    char, text, at = match.group(), match.string, match.start()
    if char == "\u2019" and 0 < at < len(text) - 1 and text[at - 1].isalnum() and text[at + 1].isalnum():
        return char
    return char.translate(_SMART_QUOTES)


def clean_text(text: str) -> str:
    """Undo Slack's escaping and link markup, and turn smart quotes into plain ones."""
    return _SMART_QUOTE.sub(_plain_quote, _SLACK_MARKUP.sub(_replace_markup, text))


def strip_bot_mention(text: str, bot_user_id: str) -> str:
    """Drop the bot's own leading `<@UBOT>` (or `<@UBOT|name>`) from an app mention's text."""
    stripped = text.lstrip()
    match = _MENTION.match(stripped)
    if match and match.group(1) == bot_user_id:
        return stripped[match.end() :].lstrip()
    return text


def tokenize(text: str) -> list[str]:
    """Clean Slack markup, then split like a shell.

    Raises:
        CommandSyntaxError: for over-long text or unbalanced quotes.
    """
    if len(text) > MAX_TEXT:
        raise CommandSyntaxError(f"That command is too long ({len(text)} characters, at most {MAX_TEXT}).")
    try:
        return shlex.split(clean_text(text))
    except ValueError as exc:
        if "quotation" in str(exc):
            raise CommandSyntaxError(
                "A quote is not closed. Put values with spaces in double quotes, e.g. "
                '`--reason "bad deploy"`; for an apostrophe, quote the whole value: `--reason "don\'t"`.'
            ) from None
        raise CommandSyntaxError(
            "The command ends with a lone backslash; remove it or put the value in quotes."
        ) from None


# --- parsing ----------------------------------------------------------------------------


@dataclass
class _Parsed:
    values: dict[str, Any] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)


class _Help(Exception):
    """Raised inside the parser when `help`, `--help` or `-h` shows up among a verb's words."""


def _parse_args(verb: Verb, args: Sequence[str], *, fail: Callable[[str], CommandSyntaxError]) -> _Parsed:
    parsed = _Parsed()
    loose: list[str] = []
    options_done = False
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if options_done:
            loose.append(token)
            continue
        if token == "--":
            options_done = True
            continue
        if token.lower() in HELP_WORDS:
            raise _Help()
        if not (token.startswith("-") and len(token) > 1):
            loose.append(token)
            continue
        name, eq, inline = token.partition("=")
        option = verb.option(name)
        if option is None:
            names = [n for o in verb.options for n in o.names]
            if not names:
                raise fail(f"`{verb.name}` takes no options, but got `{values.shown(token)}`.")
            raise fail(
                f"`{verb.name}` has no option `{values.shown(name)}`.{values.did_you_mean(name, names)}"
            )
        shown = option.names[0]
        if option.kind == "flag":
            if eq:
                raise fail(f"`{shown}` is a switch and takes no value; write just `{shown}`.")
            if option.dest in parsed.values:
                raise fail(f"`{shown}` is given twice.")
            parsed.values[option.dest] = True
            continue
        if eq:
            value = inline
        else:
            if index >= len(args) or verb.option(args[index].partition("=")[0]) is not None:
                raise fail(f"`{shown}` needs a value.")
            value = args[index]
            index += 1
        try:
            if option.kind == "param":
                key, val = values.param(value)
                if any(existing == key for existing, _ in parsed.params):
                    raise values.Invalid(f"The parameter `{key}` is given twice; give each `-p` key once.")
                if len(parsed.params) >= values.MAX_PARAMS:
                    raise values.Invalid(f"Too many parameters (at most {values.MAX_PARAMS}).")
                parsed.params.append((key, val))
                continue
            if option.dest in parsed.values:
                raise values.Invalid(f"`{shown}` is given twice; give it once.")
            parsed.values[option.dest] = option.check(value) if option.check else value
        except values.Invalid as exc:
            raise fail(str(exc)) from None
    if len(loose) > len(verb.positionals):
        extra = values.shown(loose[len(verb.positionals)])
        if not verb.positionals:
            raise fail(f"`{verb.name}` takes no arguments, but got `{extra}`.")
        takes = " ".join(p.usage() for p in verb.positionals)
        raise fail(f"Unexpected `{extra}`: `{verb.name}` takes {takes}. Quote values that contain spaces.")
    for position, positional in enumerate(verb.positionals):
        if position >= len(loose):
            if positional.required:
                raise fail(f"`{verb.name}` needs {positional.metavar}.")
            continue
        try:
            parsed.values[positional.dest] = positional.check(loose[position])
        except values.Invalid as exc:
            raise fail(str(exc)) from None
    for option in verb.options:
        if option.required and option.dest not in parsed.values:
            raise fail(f"`{verb.name}` needs `{option.names[0]}`.")
    for option in verb.options:
        if option.kind == "param":
            parsed.values[option.dest] = tuple(parsed.params)
    return parsed


def _unknown_verb(word: str, *, registry: Registry, command: str) -> CommandSyntaxError:
    suggestion = difflib.get_close_matches(word.lower(), registry.words(), n=1, cutoff=0.6)
    if suggestion:
        verb = suggestion[0]
        usage = usage_for(registry, verb, command)
        return CommandSyntaxError(
            f"I don't know the command `{values.shown(word)}`. Did you mean `{verb}`?\n"
            f"Usage:\n{_code_lines(usage)}",
            usage=usage,
        )
    return CommandSyntaxError(
        f"I don't know the command `{values.shown(word)}`. "
        f"Type `{command} help` to see the commands you can use."
    )


def _help(registry: Registry, text: str, about: str | None = None) -> Invocation:
    return Invocation(registry[HELP_VERB], HelpCommand(raw=text, about=about))


def parse_command(text: str, *, registry: Registry, command: str = "/ops") -> Invocation:
    """Parse one command text.

    Args:
        text: what followed the slash command, or an app mention / DM without the bot's mention.
        registry: the verbs the bot understands.
        command: the configured slash command, used in usage lines of errors.

    Returns:
        The verb and its checked arguments; empty text and any `help`/`--help`/`-h` give `help`.

    Raises:
        CommandSyntaxError: what is wrong and what to type instead (usage included when known).
    """
    tokens = tokenize(text)
    if not tokens:
        return _help(registry, text)
    word = tokens[0].lower()
    words = registry.words()
    if word in HELP_WORDS:
        if len(tokens) == 1:
            return _help(registry, text)
        topic = tokens[1].lower()
        if topic in HELP_WORDS:
            return _help(registry, text, "help")
        if topic not in words:
            raise _unknown_verb(tokens[1], registry=registry, command=command)
        return _help(registry, text, topic)
    if word not in words:
        raise _unknown_verb(tokens[0], registry=registry, command=command)
    args = tokens[1:]
    options_part = args[: args.index("--")] if "--" in args else args
    if any(token.lower() in HELP_WORDS[1:] for token in options_part):
        return _help(registry, text, word)  # --help/-h wins over anything else that is wrong
    usage = usage_for(registry, word, command)
    name = word
    if registry.is_group(word):
        subwords = registry.subwords(word)
        sub = args[0].lower() if args else ""
        if sub in HELP_WORDS:
            return _help(registry, text, word)
        if sub not in subwords:
            listed = ", ".join(f"`{s}`" for s in subwords[:-1]) + f" or `{subwords[-1]}`"
            problem = f"`{word}` needs {listed}"
            if args:
                problem += f", not `{values.shown(args[0])}`"
            hint = values.did_you_mean(sub, subwords) if sub else ""
            raise CommandSyntaxError(f"{problem}.{hint}\nUsage:\n{_code_lines(usage)}", usage=usage)
        name, args = f"{word} {sub}", args[1:]
    verb = registry[name]

    def fail(message: str) -> CommandSyntaxError:
        return CommandSyntaxError(f"{message}\nUsage:\n{_code_lines(usage)}", usage=usage)

    try:
        parsed = _parse_args(verb, args, fail=fail)
        found = verb.finish(parsed.values) if verb.finish is not None else parsed.values
        return Invocation(verb, verb.command(raw=text, **found))
    except _Help:
        return _help(registry, text, word)
    except values.Invalid as exc:
        raise fail(str(exc)) from None


def _code_lines(usage: str) -> str:
    return "\n".join(f"`{line}`" for line in usage.splitlines())
