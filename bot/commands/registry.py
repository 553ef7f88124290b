"""The verb registry: one record per verb, from which parsing, help, dispatch and the docs come. Pure.

A `Verb` declares everything about one command in one place: its words and arguments (with
the checks in `bot.commands.values`), its help text and examples, the RBAC permission it needs
and how its object is built, whether it writes, and the use case that carries it out. Each
area module (`workflow_verbs`, `app_verbs`, `rollback_verbs`, `schedule_verbs`, `info_verbs`)
declares its verbs as a tuple named `VERBS`; `bot.commands.verbs.build_registry` collects them.
Adding a verb is adding a record to one of those modules (or to a module of its own handed to
`Registry`): the grammar, `help`, "did you mean", the action pipeline, the audit log and
`docs/commands.md` pick it up from here.

A verb's name is one word (`run`) or two (`schedule add`): the first word groups verbs, so
`help schedule` explains `schedule list`, `schedule add` and `schedule remove` together.

Left out: the parser itself (`bot.commands.grammar`), deciding permissions (`bot.rbac`), and
carrying a command out (`bot.actions.pipeline` calls `Verb.execute`). Texts carry the slash
command as a `{command}` placeholder because it is configurable (`slack.command`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.config import ClusterSettings
from bot.rbac import policy as rbac

Permission = tuple[str, str]
OptionKind = Literal["value", "flag", "param"]
#: How a verb reads `--cluster`: not at all, as a configured cluster (default: the first one),
#: or as an Argo CD destination (no default: apps are looked up on every Argo CD host).
ClusterScope = Literal["none", "cluster", "destination"]


@dataclass(frozen=True, kw_only=True)
class Command:
    """The checked arguments of one verb. `raw` is the text as received (not compared)."""

    raw: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Target:
    """What a command touches: the RBAC (resource, action, object) and its cluster.

    `precise=False` means the object is only known after a lookup (an app's project, a
    workflow's template): the pipeline then checks the person may do the action somewhere,
    and the use case asks for the precise check once it has read the object.
    """

    resource: str
    action: str
    obj: str
    cluster: str | None
    precise: bool


@dataclass(frozen=True)
class Option:
    """One option: `names[0]` is the spelling shown in usage lines and errors."""

    names: tuple[str, ...]
    dest: str
    help: str
    kind: OptionKind = "value"
    metavar: str = ""
    check: Callable[[str], Any] | None = None
    required: bool = False

    def usage(self) -> str:
        name = self.names[0]
        if self.kind == "param":
            return f"[{name} {self.metavar or 'key=value'}]..."
        text = name if self.kind == "flag" else f"{name} {self.metavar}"
        return text if self.required else f"[{text}]"

    @property
    def shown(self) -> str:
        """How `help` lists it: `--cluster C`, `--prune`, `-p key=value`."""
        name = self.names[0]
        if self.kind == "flag":
            return name
        return f"{name} {self.metavar or 'key=value'}".replace('"', "")


@dataclass(frozen=True)
class Positional:
    metavar: str
    dest: str
    check: Callable[[str], Any]
    required: bool = True

    def usage(self) -> str:
        return self.metavar if self.required else f"[{self.metavar}]"


TargetBuilder = Callable[[Any, ClusterSettings | None], Target | None]
Finisher = Callable[[dict[str, Any]], dict[str, Any]]
UseCase = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Verb:
    """Everything about one command.

    Attributes:
        name: the words that select it: `run`, or `schedule add`.
        command: the frozen dataclass its checked arguments build (fields named like the
            `dest` of its positionals and options).
        summary: one line for `help` and the docs.
        area: the module's area (workflows, apps, rollbacks, schedules, info).
        permission: the (resource, action) it needs, None for help and whoami.
        object_form: how its RBAC object reads, for the docs (`<cluster>/<project>/<app>`).
        target: builds the RBAC target from the command and its cluster; by default the
            permission on `*`, refined by the use case after its lookup.
        writes: it changes something (a cluster, a schedule): the intent is recorded in the
            audit log before it acts, and a failure after the write is reported as such.
        typed: False for verbs only buttons and approvals reach (hidden from help and docs).
        finish: cross-argument checks and conversions after parsing (raises `values.Invalid`).
        execute: the use case, `(Context, command) -> Reply`.
    """

    name: str
    command: type[Command]
    summary: str
    area: str
    execute: UseCase
    positionals: tuple[Positional, ...] = ()
    options: tuple[Option, ...] = ()
    examples: tuple[str, ...] = ()
    permission: Permission | None = None
    object_form: str = ""
    scope: ClusterScope = "none"
    target: TargetBuilder | None = None
    writes: bool = False
    typed: bool = True
    finish: Finisher | None = None

    @property
    def word(self) -> str:
        return self.name.split(" ", 1)[0]

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if name in o.names), None)

    def usage(self, command: str = "/ops") -> str:
        parts = [command, self.name]
        parts += [p.usage() for p in self.positionals]
        parts += [o.usage() for o in self.options if o.required]
        parts += [o.usage() for o in self.options if not o.required]
        return " ".join(parts)

    def target_for(self, command: Any, cluster: ClusterSettings | None) -> Target | None:
        if self.target is not None:
            return self.target(command, cluster)
        if self.permission is None:
            return None
        resource, action = self.permission
        return Target(resource, action, rbac.WILDCARD, cluster.name if cluster else None, precise=False)


class Registry:
    """The verbs the bot understands, by name, in the order they were declared."""

    def __init__(self, verbs: Iterable[Verb]) -> None:
        self._verbs: dict[str, Verb] = {}
        for verb in verbs:
            if verb.name in self._verbs:
                raise ValueError(f"the verb {verb.name!r} is declared twice")
            self._verbs[verb.name] = verb

    def with_verbs(self, verbs: Iterable[Verb]) -> Registry:
        """A registry with these verbs added (how a plug-in or a test adds a verb)."""
        return Registry([*self._verbs.values(), *verbs])

    def get(self, name: str) -> Verb | None:
        return self._verbs.get(name)

    def __getitem__(self, name: str) -> Verb:
        return self._verbs[name]

    def __iter__(self) -> Any:
        return iter(self._verbs.values())

    def typed(self) -> list[Verb]:
        return [verb for verb in self._verbs.values() if verb.typed]

    def words(self) -> list[str]:
        """First words of the typed verbs, in declaration order (what "did you mean" picks from)."""
        return list(dict.fromkeys(verb.word for verb in self.typed()))

    def group(self, word: str) -> list[Verb]:
        """The typed verbs that start with `word` (one, or the sub-verbs of `schedule`)."""
        return [verb for verb in self.typed() if verb.word == word]

    def is_group(self, word: str) -> bool:
        return any(" " in verb.name for verb in self.group(word))

    def subwords(self, word: str) -> list[str]:
        return [verb.name.split(" ", 1)[1] for verb in self.group(word) if " " in verb.name]

    def permissions(self) -> dict[str, Permission | None]:
        """verb name -> (resource, action), for `Enforcer.allowed_verbs`."""
        return {verb.name: verb.permission for verb in self.typed()}


# --- help texts ---------------------------------------------------------------------------


def usage_for(registry: Registry, word: str, command: str = "/ops") -> str:
    """The usage line(s) of `word`: one per verb of its group."""
    return "\n".join(verb.usage(command) for verb in registry.group(word))


def _fill(text: str, command: str) -> str:
    return text.replace("{command}", command)


def help_for(registry: Registry, word: str, command: str = "/ops") -> str:
    """The full help of one word: usage, summary, options, examples, permission of each verb."""
    blocks = []
    for verb in registry.group(word):
        lines = [f"*{verb.name}*: {verb.summary}", "Usage:", f"`{verb.usage(command)}`"]
        if verb.options:
            lines.append("Options:")
            lines.extend(f"• `{option.shown}`: {option.help}" for option in verb.options)
        if verb.examples:
            lines.append("Examples:")
            lines.extend(f"• `{_fill(example, command)}`" for example in verb.examples)
        if verb.permission is not None:
            lines.append(f"Needs the permission `{verb.permission[0]}, {verb.permission[1]}`.")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def help_overview(registry: Registry, allowed: Iterable[str], command: str = "/ops") -> str:
    """The `help` answer: the verbs (from `allowed`, verb names) this person may use."""
    wanted = set(allowed)
    lines = ["*Commands you can use:*"]
    lines.extend(
        f"• `{verb.usage(command)}`: {verb.summary}" for verb in registry.typed() if verb.name in wanted
    )
    lines.append(f"Type `{command} help COMMAND` for details and examples, e.g. `{command} help audit`.")
    lines.append("The same commands work when you mention the bot or send it a direct message.")
    return "\n".join(lines)


def permission_lines(verbs: Sequence[Verb]) -> list[str]:
    """`resource, action` of each verb that needs one, without repeats."""
    seen = dict.fromkeys(f"{v.permission[0]}, {v.permission[1]}" for v in verbs if v.permission)
    return list(seen)


def reference_markdown(registry: Registry, *, command: str = "/ops") -> str:
    """The generated part of docs/commands.md: the permission table and one section per word."""
    out = [
        "## Permissions",
        "",
        "Each command needs one permission `resource, action` on an object (see",
        "[rbac.md](rbac.md)). `help` lists only the commands the caller may use somewhere.",
        "",
        "| command | permission | object | writes |",
        "|---|---|---|---|",
    ]
    for verb in registry.typed():
        permission = f"`{verb.permission[0]}, {verb.permission[1]}`" if verb.permission else "none"
        obj = f"`{verb.object_form}`" if verb.object_form else ""
        out.append(f"| `{verb.name}` | {permission} | {obj} | {'yes' if verb.writes else ''} |")
    hidden = [verb for verb in registry if not verb.typed]
    if hidden:
        out += [
            "",
            "Buttons and the bot's own background actions walk the same road (never typed):",
            "",
            "| action | permission | object |",
            "|---|---|---|",
        ]
        for verb in hidden:
            permission = f"`{verb.permission[0]}, {verb.permission[1]}`" if verb.permission else "none"
            out.append(f"| {verb.summary} | {permission} | `{verb.object_form}` |")
    out += ["", "## Reference", ""]
    for word in registry.words():
        out += [f"### `{word}`", ""]
        for verb in registry.group(word):
            if len(registry.group(word)) > 1:
                out += [f"#### `{verb.name}`", ""]
            out += [verb.summary, "", "```", verb.usage(command), "```", ""]
            if verb.options:
                out += ["| option | meaning |", "|---|---|"]
                out += [f"| `{option.shown}` | {option.help} |" for option in verb.options]
                out.append("")
            if verb.examples:
                out.append("Examples:")
                out.append("")
                out += [f"- `{_fill(example, command)}`" for example in verb.examples]
                out.append("")
            if verb.permission:
                out += [f"Needs `{verb.permission[0]}, {verb.permission[1]}`.", ""]
    return "\n".join(out).rstrip() + "\n"
