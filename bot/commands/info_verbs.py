"""The verbs about the person and the bot itself: help, whoami, audit.

`help` lists only what the caller may run; `whoami` shows the subjects, roles and a sample of
permissions the policy gives them; `audit` reads the audit log (for those with `audit, get`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from bot import records
from bot.actions.context import Context
from bot.commands import values
from bot.commands.grammar import HELP_VERB, HelpCommand
from bot.commands.registry import Command, Option, Positional, Target, Verb, help_for, help_overview
from bot.model import Reply
from bot.rbac import policy as rbac

AUDIT_DEFAULT_LIMIT = 20


@dataclass(frozen=True, kw_only=True)
class WhoamiCommand(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class AuditCommand(Command):
    """`user_id` is set for `<@U123>` / `U123`, `user_name` for `@name`."""

    user_id: str | None = None
    user_name: str | None = None
    limit: int | None = None


def help_reply(ctx: Context, command: HelpCommand) -> Reply:
    """`help` lists only what this person may run; `help VERB` explains one verb."""
    registry, slash = ctx.deps.registry, ctx.slash
    if command.about:
        text = help_for(registry, command.about, command=slash)
        for verb in registry.group(command.about):
            permission = verb.permission
            if permission is not None and not ctx.enforcer.may_do_somewhere(
                ctx.actor.subjects, resource=permission[0], action=permission[1]
            ):
                text += f"\n:lock: You do not have `{permission[0]}, {permission[1]}` yet: ask an admin."
                break
        return Reply(text=text, title=f"{slash} {command.about}")
    allowed = ctx.enforcer.allowed_verbs(ctx.actor.subjects, registry.permissions())
    return Reply(text=help_overview(registry, allowed, command=slash), title=f"{slash} help")


def whoami_reply(ctx: Context, command: WhoamiCommand) -> Reply:
    actor, enforcer = ctx.actor, ctx.enforcer
    roles = enforcer.roles_for(actor.subjects)
    sample = enforcer.allowed_sample(actor.subjects, limit=10)
    lines = [f"You are *{actor.name}* (`{actor.user_id}`)."]
    lines.append("Subjects: " + ", ".join(f"`{s}`" for s in actor.subjects))
    lines.append("Roles: " + (", ".join(f"`{r}`" for r in roles) if roles else "_none_"))
    if sample:
        lines.append("You may, for example:")
        lines.extend(f"• `{action}` {resource} on `{obj}`" for resource, action, obj in sample)
    else:
        lines.append("The policy grants you nothing yet: ask an admin for a role.")
    bound = [c for c in ctx.settings.clusters if c.channels]
    if bound:
        lines.append(
            "Channel-bound clusters: "
            + "; ".join(f"`{c.name}` only in " + ", ".join(f"<#{ch}>" for ch in c.channels) for c in bound)
        )
    return Reply(text="\n".join(lines), title="whoami")


def audit_reply(ctx: Context, command: AuditCommand) -> Reply:
    audit = ctx.deps.audit
    limit = command.limit or AUDIT_DEFAULT_LIMIT
    if command.user_name is not None:
        wanted = command.user_name.lstrip("@").lower()
        events = [e for e in audit.recent(limit=500) if e.actor_name.lower() == wanted][:limit]
    else:
        events = audit.recent(actor_id=command.user_id, limit=limit)
    # the person asked about is named as typed, in code: a typed id never comes back as a mention
    who = f" for `{command.user_name or command.user_id}`" if (command.user_id or command.user_name) else ""
    if not events:
        return Reply(text=f"No audit events{who} yet.", title="audit")
    return Reply(text="\n".join(format_audit_lines(events)), title=f"audit: last {len(events)}{who}")


def format_audit_lines(events: Sequence[records.AuditEvent]) -> list[str]:
    lines = []
    for event in events:
        at = event.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        what = f"`{event.command or '?'}`"
        if event.object:
            what += f" {event.resource} `{event.object}`"
        outcome = event.decision if event.decision != records.DECISION_NONE else "-"
        lines.append(f"{at} UTC <@{event.actor_id}> {what} {outcome} {event.result}".rstrip())
    return lines


def _finish_audit(found: dict[str, Any]) -> dict[str, Any]:
    user = found.pop("user", None)
    if user is not None:
        found["user_id"], found["user_name"] = values.user_ref(user)
    return found


def _help_topic(value: str) -> str:
    return value.lower()


VERBS = (
    Verb(
        name=HELP_VERB,
        command=HelpCommand,
        summary="Show the commands you may run, or how to use one of them.",
        area="info",
        execute=help_reply,
        positionals=(Positional("COMMAND", "about", _help_topic, required=False),),
        examples=("{command} help", "{command} help sync"),
    ),
    Verb(
        name="whoami",
        command=WhoamiCommand,
        summary="Show who the bot thinks you are: your subjects, roles and a sample of what you may do.",
        area="info",
        execute=whoami_reply,
        examples=("{command} whoami",),
    ),
    Verb(
        name="audit",
        command=AuditCommand,
        summary="Show who did what through the bot, newest first.",
        area="info",
        execute=audit_reply,
        options=(
            Option(
                ("--user",),
                "user",
                "only that person: @name, <@U123> (a mention) or a user id",
                metavar="U",
                check=values.user,
            ),
            Option(("--limit",), "limit", "how many (1-100, default 20)", metavar="N", check=values.limit),
        ),
        examples=("{command} audit", "{command} audit --user @alice --limit 50"),
        permission=(rbac.AUDIT, rbac.ACTION_GET),
        object_form="*",
        target=lambda command, cluster: Target(
            rbac.AUDIT, rbac.ACTION_GET, rbac.WILDCARD, None, precise=True
        ),
        finish=_finish_audit,
    ),
)
