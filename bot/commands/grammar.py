"""Command text -> a `Command` value, or a `CommandSyntaxError` that says what to type. Pure.

The same grammar serves the slash command text, an app mention (after the bot's own
mention is stripped, see `strip_bot_mention`) and a direct message. Text is first cleaned
the way Slack delivers it: `&lt; &gt; &amp;` unescaped, links and mentions (`<http://x|x>`,
`<@U123|name>`, `<#C123|name>`, `<!subteam^S1|@sre>`) reduced to what the person typed,
and "smart" quotes from some clients turned into plain ones. It is then split like a shell
(`shlex`): quotes group words, `--` ends the options.

Every value a person types is checked here: Kubernetes names, DNS labels, parameter names
and sizes, revisions, limits; so nothing malformed travels further. Whether a template,
app or cluster exists, and whether the person may touch it, is for the handlers.

It leaves out all I/O. Called by the Slack listeners for every command text.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from bot.commands import catalog
from bot.config import SCHEDULE_KINDS
from bot.errors import CommandSyntaxError

MAX_TEXT = 6000
MAX_PARAM_VALUE = 1024
MAX_REASON = 500
MAX_PARAMS = 50
LIMIT_RANGE = (1, 100)

Params = tuple[tuple[str, str], ...]


# --- command values ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Command:
    """A parsed command. `raw` is the text as received (not compared between commands)."""

    verb: ClassVar[str] = ""
    raw: str = field(default="", compare=False, repr=False)

    @property
    def topic(self) -> str:
        """The catalog key for permissions: the verb, or "verb sub" for `schedule add` etc."""
        return self.verb


@dataclass(frozen=True, kw_only=True)
class HelpCommand(Command):
    verb: ClassVar[str] = "help"
    about: str | None = None


@dataclass(frozen=True, kw_only=True)
class WhoamiCommand(Command):
    verb: ClassVar[str] = "whoami"


@dataclass(frozen=True, kw_only=True)
class TemplatesCommand(Command):
    verb: ClassVar[str] = "templates"
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunCommand(Command):
    verb: ClassVar[str] = "run"
    template: str
    params: Params = ()
    cluster: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunsCommand(Command):
    verb: ClassVar[str] = "runs"
    mine: bool = False
    template: str | None = None
    limit: int | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowCommand(Command):
    """A command about one workflow run (the base of status, logs, stop, terminate, retry)."""

    workflow: str
    cluster: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class StatusCommand(WorkflowCommand):
    verb: ClassVar[str] = "status"


@dataclass(frozen=True, kw_only=True)
class LogsCommand(WorkflowCommand):
    verb: ClassVar[str] = "logs"
    step: str | None = None


@dataclass(frozen=True, kw_only=True)
class StopCommand(WorkflowCommand):
    verb: ClassVar[str] = "stop"


@dataclass(frozen=True, kw_only=True)
class TerminateCommand(WorkflowCommand):
    verb: ClassVar[str] = "terminate"


@dataclass(frozen=True, kw_only=True)
class RetryCommand(WorkflowCommand):
    verb: ClassVar[str] = "retry"


@dataclass(frozen=True, kw_only=True)
class AppsCommand(Command):
    verb: ClassVar[str] = "apps"
    cluster: str | None = None
    project: str | None = None
    out_of_sync: bool = False
    degraded: bool = False


@dataclass(frozen=True, kw_only=True)
class AppCommand(Command):
    verb: ClassVar[str] = "app"
    app: str
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class HistoryCommand(Command):
    verb: ClassVar[str] = "history"
    app: str
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class SyncCommand(Command):
    verb: ClassVar[str] = "sync"
    app: str
    revision: str | None = None
    prune: bool = False
    dry_run: bool = False
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class RollbackCommand(Command):
    verb: ClassVar[str] = "rollback"
    app: str
    history_id: int | None = None
    reason: str | None = None
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class ScheduleListCommand(Command):
    verb: ClassVar[str] = "schedule"

    @property
    def topic(self) -> str:
        return "schedule list"


@dataclass(frozen=True, kw_only=True)
class ScheduleAddCommand(Command):
    verb: ClassVar[str] = "schedule"
    name: str
    kind: str
    cron: str
    timezone: str = "UTC"
    cluster: str | None = None
    template: str | None = None
    params: Params = ()

    @property
    def topic(self) -> str:
        return "schedule add"


@dataclass(frozen=True, kw_only=True)
class ScheduleRemoveCommand(Command):
    verb: ClassVar[str] = "schedule"
    name: str

    @property
    def topic(self) -> str:
        return "schedule remove"


@dataclass(frozen=True, kw_only=True)
class AuditCommand(Command):
    """`user_id` is set for `<@U123>` / `U123`, `user_name` for `@name`."""

    verb: ClassVar[str] = "audit"
    user_id: str | None = None
    user_name: str | None = None
    limit: int | None = None


# --- cleaning and splitting -------------------------------------------------------------

_SMART_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
     "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'"}
)  # fmt: skip
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


# --- value checks -----------------------------------------------------------------------


class _Invalid(Exception):
    """A value failed its check; the message is shown to the user."""


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII)
_PARAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}", re.ASCII)
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}", re.ASCII)
_STEP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.()\[\]:,-]{0,252}", re.ASCII)
_HISTORY_ID = re.compile(r"[0-9]{1,18}", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,6}", re.ASCII)
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]{1,64}", re.ASCII)
_TIMEZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(/[A-Za-z0-9_+-]{1,30}){0,2}", re.ASCII)
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]{1,30})>", re.ASCII)
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}", re.ASCII)
_USER_NAME = re.compile(r"@([A-Za-z0-9][A-Za-z0-9._-]{0,79})", re.ASCII)


def _shown(value: str) -> str:
    """A value quoted back to the user, shortened so an error stays short."""
    value = value.replace("`", "'")
    return value if len(value) <= 60 else value[:57] + "..."


def _subdomain(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) <= 253 and _SUBDOMAIN.fullmatch(value):
            return value
        hint = " (Kubernetes names are lower case)" if value.lower() != value else ""
        raise _Invalid(
            f"`{_shown(value)}` is not a valid {what} name{hint}: use lower-case letters, digits, "
            "`-` and `.`, starting and ending with a letter or digit (at most 253 characters)."
        )

    return check


def _label(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if _DNS_LABEL.fullmatch(value):
            return value
        hint = " (names are lower case)" if value.lower() != value else ""
        raise _Invalid(
            f"`{_shown(value)}` is not a valid {what} name{hint}: use lower-case letters, digits "
            "and `-`, starting and ending with a letter or digit (at most 63 characters)."
        )

    return check


def _limit(value: str) -> str:
    low, high = LIMIT_RANGE
    if not _NUMBER.fullmatch(value) or not low <= int(value) <= high:
        raise _Invalid(f"`--limit` must be a whole number from {low} to {high}, not `{_shown(value)}`.")
    return value


def _revision(value: str) -> str:
    if _REVISION.fullmatch(value) and ".." not in value and "//" not in value:
        return value
    raise _Invalid(
        f"`{_shown(value)}` is not a revision: give a commit SHA, a tag or a branch "
        "(letters, digits, `.`, `_`, `/`, `+`, `-`)."
    )


def _reason(value: str) -> str:
    value = value.strip()
    if "\x00" in value:
        raise _Invalid("`--reason` must not contain a NUL character.")
    if not value:
        raise _Invalid('`--reason` needs some text, e.g. `--reason "5xx after the deploy"`.')
    if len(value) > MAX_REASON:
        raise _Invalid(f"`--reason` is too long ({len(value)} characters, at most {MAX_REASON}).")
    return value


def _step(value: str) -> str:
    if _STEP.fullmatch(value):
        return value
    raise _Invalid(f"`{_shown(value)}` is not a step name: use the name shown by `status`, e.g. `migrate`.")


def _history_id(value: str) -> str:
    if _HISTORY_ID.fullmatch(value):
        return value
    raise _Invalid(f"`{_shown(value)}` is not a history id: use a number from `history APP`, e.g. `41`.")


def _choice(what: str, choices: Sequence[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value in choices:
            return value
        raise _Invalid(
            f"`{_shown(value)}` is not a known {what}.{_did_you_mean(value, choices)} "
            f"Choose one of {', '.join(f'`{c}`' for c in choices)}."
        )

    return check


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) == 5 and all(_CRON_FIELD.fullmatch(f) for f in fields):
        return " ".join(fields)
    raise _Invalid(
        f"`{_shown(value)}` is not a cron expression: give five fields in quotes, "
        'e.g. `--cron "0 9 * * mon-fri"` (minute hour day month weekday).'
    )


def _timezone(value: str) -> str:
    if _TIMEZONE.fullmatch(value):
        return value
    raise _Invalid(f"`{_shown(value)}` is not a time zone: use an IANA name such as `Europe/Paris` or `UTC`.")


def _user(value: str) -> str:
    if _USER_MENTION.fullmatch(value) or _USER_ID.fullmatch(value) or _USER_NAME.fullmatch(value):
        return value
    raise _Invalid(
        f"`{_shown(value)}` is not a user: mention them (`@alice`) or give their Slack user id (`U0123ABCD`)."
    )


def _param(value: str) -> tuple[str, str]:
    key, eq, val = value.partition("=")
    if not eq:
        raise _Invalid(f"`-p` takes key=value, e.g. `-p env=staging`; got `{_shown(value)}`.")
    if not _PARAM_NAME.fullmatch(key):
        raise _Invalid(
            f"`{_shown(key)}` is not a parameter name: use letters, digits, `_`, `.` and `-` (at most 128)."
        )
    if "\x00" in val:
        raise _Invalid(f"The value of `{key}` must not contain a NUL character.")
    if len(val) > MAX_PARAM_VALUE:
        raise _Invalid(
            f"The value of `{key}` is too long ({len(val)} characters, at most {MAX_PARAM_VALUE})."
        )
    return key, val


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    match = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" Did you mean `{match[0]}`?" if match else ""


# --- verb specifications ----------------------------------------------------------------

OptionKind = Literal["value", "flag", "param"]


@dataclass(frozen=True)
class Option:
    """One option a verb accepts: `names[0]` is the canonical spelling shown in errors."""

    names: tuple[str, ...]
    dest: str
    kind: OptionKind = "value"
    check: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Positional:
    metavar: str
    dest: str
    required: bool
    check: Callable[[str], str]


@dataclass(frozen=True)
class VerbSpec:
    topic: str
    positionals: tuple[Positional, ...] = ()
    options: tuple[Option, ...] = ()

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if name in o.names), None)


_CLUSTER = Option(("--cluster",), "cluster", check=_label("cluster"))
_NAMESPACE = Option(("--namespace",), "namespace", check=_label("namespace"))
_PARAMS = Option(("-p", "--param"), "params", kind="param")
_LIMIT = Option(("--limit",), "limit", check=_limit)
_WORKFLOW = Positional("WORKFLOW", "workflow", True, _subdomain("workflow"))
_APP = Positional("APP", "app", True, _subdomain("application"))

SPECS: dict[str, VerbSpec] = {
    spec.topic: spec
    for spec in (
        VerbSpec("whoami"),
        VerbSpec("templates", options=(_CLUSTER,)),
        VerbSpec(
            "run",
            positionals=(Positional("TEMPLATE", "template", True, _subdomain("template")),),
            options=(_PARAMS, _CLUSTER, _NAMESPACE),
        ),
        VerbSpec(
            "runs",
            options=(
                Option(("--mine",), "mine", kind="flag"),
                Option(("--template",), "template", check=_subdomain("template")),
                _LIMIT,
            ),
        ),
        VerbSpec("status", positionals=(_WORKFLOW,), options=(_CLUSTER, _NAMESPACE)),
        VerbSpec(
            "logs",
            positionals=(_WORKFLOW, Positional("STEP", "step", False, _step)),
            options=(_CLUSTER, _NAMESPACE),
        ),
        VerbSpec("stop", positionals=(_WORKFLOW,), options=(_CLUSTER, _NAMESPACE)),
        VerbSpec("terminate", positionals=(_WORKFLOW,), options=(_CLUSTER, _NAMESPACE)),
        VerbSpec("retry", positionals=(_WORKFLOW,), options=(_CLUSTER, _NAMESPACE)),
        VerbSpec(
            "apps",
            options=(
                _CLUSTER,
                Option(("--project",), "project", check=_subdomain("project")),
                Option(("--out-of-sync",), "out_of_sync", kind="flag"),
                Option(("--degraded",), "degraded", kind="flag"),
            ),
        ),
        VerbSpec("app", positionals=(_APP,), options=(_CLUSTER,)),
        VerbSpec("history", positionals=(_APP,), options=(_CLUSTER,)),
        VerbSpec(
            "sync",
            positionals=(_APP,),
            options=(
                Option(("--revision",), "revision", check=_revision),
                Option(("--prune",), "prune", kind="flag"),
                Option(("--dry-run",), "dry_run", kind="flag"),
                _CLUSTER,
            ),
        ),
        VerbSpec(
            "rollback",
            positionals=(_APP, Positional("HISTORY_ID", "history_id", False, _history_id)),
            options=(Option(("--reason",), "reason", check=_reason), _CLUSTER),
        ),
        VerbSpec("schedule list"),
        VerbSpec(
            "schedule add",
            positionals=(Positional("NAME", "name", True, _label("schedule")),),
            options=(
                Option(("--kind",), "kind", check=_choice("schedule kind", SCHEDULE_KINDS)),
                Option(("--cron",), "cron", check=_cron),
                Option(("--timezone", "--tz"), "timezone", check=_timezone),
                _CLUSTER,
                Option(("--template",), "template", check=_subdomain("template")),
                _PARAMS,
            ),
        ),
        VerbSpec("schedule remove", positionals=(Positional("NAME", "name", True, _label("schedule")),)),
        VerbSpec("audit", options=(Option(("--user",), "user", check=_user), _LIMIT)),
    )
}

SCHEDULE_SUBVERBS = ("list", "add", "remove")
HELP_WORDS = ("help", "--help", "-h")


# --- parsing ----------------------------------------------------------------------------


@dataclass
class _Parsed:
    positionals: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    params: list[tuple[str, str]] = field(default_factory=list)


class _Help(Exception):
    """Raised inside the parser when `help`, `--help` or `-h` shows up among a verb's words."""


def _parse_args(spec: VerbSpec, args: Sequence[str], *, fail: Callable[[str], CommandSyntaxError]) -> _Parsed:
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
        option = spec.option(name)
        if option is None:
            names = [n for o in spec.options for n in o.names]
            if not names:
                raise fail(f"`{spec.topic}` takes no options, but got `{_shown(token)}`.")
            raise fail(f"`{spec.topic}` has no option `{_shown(name)}`.{_did_you_mean(name, names)}")
        shown = option.names[0]
        if option.kind == "flag":
            if eq:
                raise fail(f"`{shown}` is a switch and takes no value; write just `{shown}`.")
            if option.dest in parsed.flags:
                raise fail(f"`{shown}` is given twice.")
            parsed.flags.add(option.dest)
            continue
        if eq:
            value = inline
        else:
            if index >= len(args) or spec.option(args[index].partition("=")[0]) is not None:
                raise fail(f"`{shown}` needs a value.")
            value = args[index]
            index += 1
        try:
            if option.kind == "param":
                key, val = _param(value)
                if any(existing == key for existing, _ in parsed.params):
                    raise _Invalid(f"The parameter `{key}` is given twice; give each `-p` key once.")
                if len(parsed.params) >= MAX_PARAMS:
                    raise _Invalid(f"Too many parameters (at most {MAX_PARAMS}).")
                parsed.params.append((key, val))
                continue
            if option.dest in parsed.values:
                raise _Invalid(f"`{shown}` is given twice; give it once.")
            parsed.values[option.dest] = option.check(value) if option.check else value
        except _Invalid as exc:
            raise fail(str(exc)) from None
    if len(loose) > len(spec.positionals):
        extra = _shown(loose[len(spec.positionals)])
        if not spec.positionals:
            raise fail(f"`{spec.topic}` takes no arguments, but got `{extra}`.")
        takes = " ".join(p.metavar if p.required else f"[{p.metavar}]" for p in spec.positionals)
        raise fail(f"Unexpected `{extra}`: `{spec.topic}` takes {takes}. Quote values that contain spaces.")
    for position, positional in enumerate(spec.positionals):
        if position >= len(loose):
            if positional.required:
                raise fail(f"`{spec.topic}` needs {positional.metavar}.")
            continue
        try:
            parsed.positionals[positional.dest] = positional.check(loose[position])
        except _Invalid as exc:
            raise fail(str(exc)) from None
    return parsed


_WORKFLOW_COMMANDS: dict[str, type[WorkflowCommand]] = {
    "status": StatusCommand,
    "stop": StopCommand,
    "terminate": TerminateCommand,
    "retry": RetryCommand,
}


def _build(topic: str, parsed: _Parsed, *, raw: str) -> Command:
    """Turn checked arguments into the command value of `topic`."""
    pos, val, flags, params = parsed.positionals, parsed.values, parsed.flags, tuple(parsed.params)
    cluster = val.get("cluster")
    limit = int(val["limit"]) if "limit" in val else None
    namespace = val.get("namespace")
    if topic == "logs":
        return LogsCommand(
            raw=raw, workflow=pos["workflow"], step=pos.get("step"), cluster=cluster, namespace=namespace
        )
    if topic in _WORKFLOW_COMMANDS:
        kind = _WORKFLOW_COMMANDS[topic]
        return kind(raw=raw, workflow=pos["workflow"], cluster=cluster, namespace=namespace)
    if topic == "whoami":
        return WhoamiCommand(raw=raw)
    if topic == "templates":
        return TemplatesCommand(raw=raw, cluster=cluster)
    if topic == "run":
        return RunCommand(
            raw=raw, template=pos["template"], params=params, cluster=cluster, namespace=namespace
        )
    if topic == "runs":
        return RunsCommand(raw=raw, mine="mine" in flags, template=val.get("template"), limit=limit)
    if topic == "apps":
        return AppsCommand(
            raw=raw, cluster=cluster, project=val.get("project"),
            out_of_sync="out_of_sync" in flags, degraded="degraded" in flags,
        )  # fmt: skip
    if topic == "app":
        return AppCommand(raw=raw, app=pos["app"], cluster=cluster)
    if topic == "history":
        return HistoryCommand(raw=raw, app=pos["app"], cluster=cluster)
    if topic == "sync":
        return SyncCommand(
            raw=raw, app=pos["app"], revision=val.get("revision"), prune="prune" in flags,
            dry_run="dry_run" in flags, cluster=cluster,
        )  # fmt: skip
    if topic == "rollback":
        history_id = int(pos["history_id"]) if "history_id" in pos else None
        return RollbackCommand(
            raw=raw, app=pos["app"], history_id=history_id, reason=val.get("reason"), cluster=cluster
        )
    if topic == "schedule list":
        return ScheduleListCommand(raw=raw)
    if topic == "schedule remove":
        return ScheduleRemoveCommand(raw=raw, name=pos["name"])
    if topic == "schedule add":
        return _build_schedule_add(pos, val, params, raw=raw)
    if topic == "audit":
        return _build_audit(val.get("user"), limit, raw=raw)
    raise AssertionError(f"no builder for {topic}")  # pragma: no cover - every spec has one


def _build_schedule_add(
    pos: dict[str, str], val: dict[str, str], params: Params, *, raw: str
) -> ScheduleAddCommand:
    for required in ("kind", "cron"):
        if required not in val:
            raise _Invalid(f"`schedule add` needs `--{required}`.")
    if val["kind"] == "run" and "template" not in val:
        raise _Invalid("A schedule of kind `run` needs `--template T`.")
    if val["kind"] != "run" and (params or "template" in val):
        raise _Invalid("`--template` and `-p` only apply to schedules of kind `run`.")
    return ScheduleAddCommand(
        raw=raw, name=pos["name"], kind=val["kind"], cron=val["cron"], timezone=val.get("timezone", "UTC"),
        cluster=val.get("cluster"), template=val.get("template"), params=params,
    )  # fmt: skip


def _build_audit(user: str | None, limit: int | None, *, raw: str) -> AuditCommand:
    if user is None:
        return AuditCommand(raw=raw, limit=limit)
    mention = _USER_MENTION.fullmatch(user)
    if mention:
        return AuditCommand(raw=raw, user_id=mention.group(1), limit=limit)
    if _USER_ID.fullmatch(user):
        return AuditCommand(raw=raw, user_id=user, limit=limit)
    return AuditCommand(raw=raw, user_name=user.removeprefix("@"), limit=limit)


def _unknown_verb(word: str, *, command: str) -> CommandSyntaxError:
    suggestion = difflib.get_close_matches(word.lower(), list(catalog.VERBS), n=1, cutoff=0.6)
    if suggestion:
        verb = suggestion[0]
        usage = catalog.usage_for(verb, command)
        return CommandSyntaxError(
            f"I don't know the command `{_shown(word)}`. Did you mean `{verb}`?\n"
            f"Usage:\n{_code_lines(usage)}",
            usage=usage,
        )
    return CommandSyntaxError(
        f"I don't know the command `{_shown(word)}`. Type `{command} help` to see the commands you can use."
    )


def parse_command(text: str, *, command: str = "/ops") -> Command:
    """Parse one command text.

    Args:
        text: what followed the slash command, or an app mention / DM without the bot's mention.
        command: the configured slash command, used in usage lines of errors.

    Returns:
        A `Command` subclass; empty text and any `help`/`--help`/`-h` give a `HelpCommand`.

    Raises:
        CommandSyntaxError: what is wrong and what to type instead (usage included when known).
    """
    tokens = tokenize(text)
    if not tokens:
        return HelpCommand(raw=text)
    word = tokens[0].lower()
    if word in HELP_WORDS:
        if len(tokens) == 1:
            return HelpCommand(raw=text)
        topic = tokens[1].lower()
        if topic in HELP_WORDS:
            return HelpCommand(raw=text, about="help")
        if topic not in catalog.CATALOG:
            raise _unknown_verb(tokens[1], command=command)
        return HelpCommand(raw=text, about=topic)
    if word not in catalog.CATALOG:
        raise _unknown_verb(tokens[0], command=command)
    args = tokens[1:]
    options_part = args[: args.index("--")] if "--" in args else args
    if any(token.lower() in HELP_WORDS[1:] for token in options_part):
        return HelpCommand(raw=text, about=word)  # --help/-h wins over anything else that is wrong
    topic = word
    if word == "schedule":
        sub = args[0].lower() if args else ""
        if sub in HELP_WORDS:
            return HelpCommand(raw=text, about=word)
        if sub not in SCHEDULE_SUBVERBS:
            usage = catalog.usage_for(word, command)
            problem = "`schedule` needs `list`, `add` or `remove`"
            if args:
                problem += f", not `{_shown(args[0])}`"
            hint = _did_you_mean(sub, SCHEDULE_SUBVERBS) if sub else ""
            raise CommandSyntaxError(f"{problem}.{hint}\nUsage:\n{_code_lines(usage)}", usage=usage)
        topic, args = f"schedule {sub}", args[1:]
    usage = catalog.usage_for(word, command)

    def fail(message: str) -> CommandSyntaxError:
        return CommandSyntaxError(f"{message}\nUsage:\n{_code_lines(usage)}", usage=usage)

    try:
        parsed = _parse_args(SPECS[topic], args, fail=fail)
        return _build(topic, parsed, raw=text)
    except _Help:
        return HelpCommand(raw=text, about=word)
    except _Invalid as exc:
        raise fail(str(exc)) from None


def _code_lines(usage: str) -> str:
    return "\n".join(f"`{line}`" for line in usage.splitlines())
