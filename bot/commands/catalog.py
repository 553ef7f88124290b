"""The command table: usage, summary, examples, permission and availability of every verb. Pure.

Each verb's entry is the single source of its help text and of the permission the caller
needs, so `help`, the docs and the permission checks cannot drift apart. Texts carry the
slash command as a `{command}` placeholder because it is configurable (`slack.command`).

It leaves out parsing (`bot.commands.grammar`, which uses `usage_for` in its errors),
deciding (`bot.rbac.enforcer`) and Block Kit rendering (`bot.render`): the functions here
return plain Slack mrkdwn text. Called by the grammar, the command handlers and `help`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from bot.errors import NotEnabled
from bot.rbac import policy as rbac

Permission = tuple[str, str]


@dataclass(frozen=True)
class CommandInfo:
    """What `help` says about one verb, and what it takes to use it."""

    verb: str
    usage: tuple[str, ...]
    summary: str
    examples: tuple[str, ...]
    permission: Permission | None
    enabled: bool
    options: tuple[tuple[str, str], ...] = ()


_CLUSTER = ("--cluster C", "the cluster (default: the only or first configured one)")
_DESTINATION = ("--cluster C", "the cluster the application deploys to (its Argo CD destination)")
_NAMESPACE = ("--namespace N", "the namespace (default: the cluster's workflows namespace)")

CATALOG: dict[str, CommandInfo] = {
    info.verb: info
    for info in (
        CommandInfo(
            verb="help",
            usage=("{command} help [COMMAND]",),
            summary="Show the commands you may run, or how to use one of them.",
            examples=("{command} help", "{command} help sync"),
            permission=None,
            enabled=True,
        ),
        CommandInfo(
            verb="whoami",
            usage=("{command} whoami",),
            summary="Show who the bot thinks you are: your subjects, roles and a sample of what you may do.",
            examples=("{command} whoami",),
            permission=None,
            enabled=True,
        ),
        CommandInfo(
            verb="templates",
            usage=("{command} templates [--cluster C]",),
            summary="List the WorkflowTemplates you may run, with their parameters.",
            examples=("{command} templates", "{command} templates --cluster prod-eu"),
            permission=(rbac.WORKFLOWS, rbac.ACTION_RUN),
            enabled=True,
            options=(_CLUSTER,),
        ),
        CommandInfo(
            verb="run",
            usage=("{command} run TEMPLATE [-p key=value]... [--cluster C] [--namespace N]",),
            summary="Submit a Workflow from a WorkflowTemplate and follow it in a thread.",
            examples=(
                "{command} run db-migrate -p env=staging -p dry_run=true",
                '{command} run report --cluster prod-eu -p title="weekly report"',
            ),
            permission=(rbac.WORKFLOWS, rbac.ACTION_RUN),
            enabled=True,
            options=(
                ("-p key=value", "a template parameter; repeat for more (also --param key=value)"),
                _CLUSTER,
                _NAMESPACE,
            ),
        ),
        CommandInfo(
            verb="runs",
            usage=("{command} runs [--mine] [--template T] [--limit N]",),
            summary="List recent runs started through the bot.",
            examples=("{command} runs --mine", "{command} runs --template db-migrate --limit 5"),
            permission=(rbac.WORKFLOWS, rbac.ACTION_GET),
            enabled=True,
            options=(
                ("--mine", "only runs you started"),
                ("--template T", "only runs of that template"),
                ("--limit N", "how many (1-100, default 10)"),
            ),
        ),
        CommandInfo(
            verb="status",
            usage=("{command} status WORKFLOW [--cluster C] [--namespace N]",),
            summary="Show the state of a workflow run.",
            examples=("{command} status db-migrate-x7k2p",),
            permission=(rbac.WORKFLOWS, rbac.ACTION_GET),
            enabled=True,
            options=(_CLUSTER, _NAMESPACE),
        ),
        CommandInfo(
            verb="logs",
            usage=("{command} logs WORKFLOW [STEP] [--cluster C] [--namespace N]",),
            summary="Link the archived logs of a run (or one step) and show the last lines of failed steps.",
            examples=("{command} logs db-migrate-x7k2p", "{command} logs db-migrate-x7k2p migrate"),
            permission=(rbac.WORKFLOWS, rbac.ACTION_LOGS),
            enabled=True,
            options=(_CLUSTER, _NAMESPACE),
        ),
        CommandInfo(
            verb="stop",
            usage=("{command} stop WORKFLOW [--cluster C] [--namespace N]",),
            summary="Stop a run: nothing more starts, exit handlers still run (Argo `spec.shutdown: Stop`).",
            examples=("{command} stop db-migrate-x7k2p",),
            permission=(rbac.WORKFLOWS, rbac.ACTION_STOP),
            enabled=True,
            options=(_CLUSTER, _NAMESPACE),
        ),
        CommandInfo(
            verb="terminate",
            usage=("{command} terminate WORKFLOW [--cluster C] [--namespace N]",),
            summary="Terminate a run at once, skipping exit handlers (Argo `spec.shutdown: Terminate`).",
            examples=("{command} terminate db-migrate-x7k2p",),
            permission=(rbac.WORKFLOWS, rbac.ACTION_TERMINATE),
            enabled=True,
            options=(_CLUSTER, _NAMESPACE),
        ),
        CommandInfo(
            verb="retry",
            usage=("{command} retry WORKFLOW [--cluster C] [--namespace N]",),
            summary="Submit the same template again with the same parameters.",
            examples=("{command} retry db-migrate-x7k2p",),
            permission=(rbac.WORKFLOWS, rbac.ACTION_RETRY),
            enabled=True,
            options=(_CLUSTER, _NAMESPACE),
        ),
        CommandInfo(
            verb="apps",
            usage=("{command} apps [--cluster C] [--project P] [--out-of-sync] [--degraded]",),
            summary="List Argo CD applications, optionally only those out of sync or degraded.",
            examples=("{command} apps --out-of-sync", "{command} apps --project payments --degraded"),
            permission=(rbac.APPLICATIONS, rbac.ACTION_GET),
            enabled=True,
            options=(
                _DESTINATION,
                ("--project P", "only applications of that Argo CD project"),
                ("--out-of-sync", "only applications not Synced"),
                ("--degraded", "only applications whose health is Degraded"),
            ),
        ),
        CommandInfo(
            verb="app",
            usage=("{command} app APP [--cluster C]",),
            summary="Show an application: sync and health status, revision, last operation.",
            examples=("{command} app payments-api",),
            permission=(rbac.APPLICATIONS, rbac.ACTION_GET),
            enabled=True,
            options=(_DESTINATION,),
        ),
        CommandInfo(
            verb="history",
            usage=("{command} history APP [--cluster C]",),
            summary="Show an application's deploy history with the ids `rollback` takes.",
            examples=("{command} history payments-api",),
            permission=(rbac.APPLICATIONS, rbac.ACTION_GET),
            enabled=True,
            options=(_DESTINATION,),
        ),
        CommandInfo(
            verb="sync",
            usage=("{command} sync APP [--revision R] [--prune] [--dry-run] [--cluster C]",),
            summary="Sync an Argo CD application and follow the sync in a thread.",
            examples=("{command} sync payments-api", "{command} sync payments-api --revision v1.4.2 --prune"),
            permission=(rbac.APPLICATIONS, rbac.ACTION_SYNC),
            enabled=True,
            options=(
                ("--revision R", "a commit SHA, tag or branch (default: the app's target revision)"),
                ("--prune", "delete resources no longer in Git"),
                ("--dry-run", "show what would change without applying it"),
                _DESTINATION,
            ),
        ),
        CommandInfo(
            verb="rollback",
            usage=("{command} rollback APP [HISTORY_ID] [--reason TEXT] [--cluster C]",),
            summary="Ask to roll an application back (default: to the previous deploy); runs after approval.",
            examples=(
                "{command} rollback payments-api",
                '{command} rollback payments-api 41 --reason "5xx after v1.4.2"',
            ),
            permission=(rbac.APPLICATIONS, rbac.ACTION_ROLLBACK),
            enabled=True,
            options=(("--reason TEXT", "why, shown to the approvers (quote it)"), _CLUSTER),
        ),
        CommandInfo(
            verb="schedule",
            usage=(
                "{command} schedule list",
                '{command} schedule add NAME --kind KIND --cron "CRON" [--timezone TZ] [--cluster C] '
                "[--template T] [-p key=value]...",
                "{command} schedule remove NAME",
            ),
            summary="List, add or remove scheduled posts in this channel.",
            examples=(
                "{command} schedule list",
                '{command} schedule add morning-health --kind app-health --cron "0 9 * * mon-fri" '
                "--timezone Europe/Paris",
            ),
            permission=(rbac.SCHEDULES, rbac.ACTION_GET),
            enabled=True,
            options=(
                ("--kind KIND", "app-health, workflow-digest, pending-approvals or run"),
                ("--cron CRON", "five fields, quoted; use day names (mon-fri) for weekdays"),
                ("--timezone TZ", "an IANA time zone such as Europe/Paris (default UTC)"),
                _CLUSTER,
                ("--template T", "the WorkflowTemplate a schedule of kind run submits"),
                ("-p key=value", "a parameter for kind run; repeat for more"),
            ),
        ),
        CommandInfo(
            verb="audit",
            usage=("{command} audit [--user U] [--limit N]",),
            summary="Show who did what through the bot, newest first.",
            examples=("{command} audit", "{command} audit --user @alice --limit 50"),
            permission=(rbac.AUDIT, rbac.ACTION_GET),
            enabled=True,
            options=(
                ("--user U", "only that person: @name, <@U123> (a mention) or a user id"),
                ("--limit N", "how many (1-100, default 20)"),
            ),
        ),
    )
}

VERBS: tuple[str, ...] = tuple(CATALOG)

#: The permission each command topic needs, where a verb's sub-commands differ (`schedule add`).
TOPIC_PERMISSIONS: dict[str, Permission | None] = {
    **{verb: info.permission for verb, info in CATALOG.items()},
    "schedule list": (rbac.SCHEDULES, rbac.ACTION_GET),
    "schedule add": (rbac.SCHEDULES, rbac.ACTION_CREATE),
    "schedule remove": (rbac.SCHEDULES, rbac.ACTION_DELETE),
}


class HasTopic(Protocol):
    """Any parsed command: `topic` is its verb, or "verb sub" for `schedule add` and the like."""

    @property
    def topic(self) -> str: ...


def info_for(verb: str) -> CommandInfo:
    """The table entry of `verb`.

    Raises:
        KeyError: for an unknown verb (the grammar only produces known ones).
    """
    return CATALOG[verb]


def permission_for(command: HasTopic) -> Permission | None:
    """The (resource, action) the command needs, or None for help and whoami."""
    return TOPIC_PERMISSIONS[command.topic]


def verb_permissions() -> dict[str, Permission | None]:
    """verb -> (resource, action) for every enabled verb, as `Enforcer.allowed_verbs` wants it."""
    return {verb: info.permission for verb, info in CATALOG.items() if info.enabled}


def is_enabled(verb: str) -> bool:
    return CATALOG[verb].enabled


def require_enabled(verb: str, *, command: str = "/ops") -> None:
    """Refuse verbs that are parsed but not available in this version.

    Raises:
        NotEnabled: saying so plainly, with a pointer to `help`.
    """
    if not CATALOG[verb].enabled:
        raise NotEnabled(
            f"`{verb}` is not enabled yet in this version of the bot. "
            f"Type `{command} help` for the commands you can use now."
        )


def usage_for(verb: str, command: str = "/ops") -> str:
    """The usage line(s) of `verb`, e.g. "/ops sync APP [--revision R] ..."."""
    return "\n".join(line.format(command=command) for line in CATALOG[verb].usage)


def help_for(verb: str, command: str = "/ops") -> str:
    """The full help of one verb: usage, summary, options, examples and the permission needed."""
    info = CATALOG[verb]
    lines = [f"*{verb}*: {info.summary}"]
    if not info.enabled:
        lines.append("_Not enabled yet in this version._")
    lines.append("Usage:")
    lines.extend(f"`{line.format(command=command)}`" for line in info.usage)
    if info.options:
        lines.append("Options:")
        lines.extend(f"• `{flag}`: {meaning}" for flag, meaning in info.options)
    lines.append("Examples:")
    lines.extend(f"• `{example.format(command=command)}`" for example in info.examples)
    if info.permission is not None:
        lines.append(f"Needs the permission `{info.permission[0]}, {info.permission[1]}`.")
    return "\n".join(lines)


def help_overview(allowed_verbs: Iterable[str], command: str = "/ops") -> str:
    """The `help` answer: the commands this person may run, then what later versions add.

    Args:
        allowed_verbs: the verbs the person's permissions allow (`Enforcer.allowed_verbs`);
            unknown names are ignored, and disabled verbs are never listed as usable.
        command: the slash command, e.g. "/ops".
    """
    allowed = set(allowed_verbs)
    usable = [info for info in CATALOG.values() if info.verb in allowed and info.enabled]
    lines = ["*Commands you can use:*"]
    lines.extend(f"• `{info.usage[0].format(command=command)}`: {info.summary}" for info in usable)
    later = [info.verb for info in CATALOG.values() if not info.enabled]
    if later:
        lines.append("Not enabled yet in this version: " + ", ".join(f"`{verb}`" for verb in later) + ".")
    lines.append(f"Type `{command} help COMMAND` for details and examples, e.g. `{command} help audit`.")
    lines.append("The same commands work when you mention the bot or send it a direct message.")
    return "\n".join(lines)
