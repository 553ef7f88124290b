"""The verbs about the person and the bot itself: help, whoami, audit.

`help` lists only what the caller may run; `whoami` shows the subjects, roles and a sample of
permissions the policy gives them; `audit` reads the audit log (for those with `audit, get`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Protocol

from bot.commands import catalog, grammar
from bot.config import Settings
from bot.model import Actor, Reply
from bot.rbac.enforcer import Enforcer
from bot.store import records


class AuditReader(Protocol):
    def recent(self, *, actor_id: str | None = None, limit: int = 20) -> list[records.AuditEvent]: ...


def help_reply(command: grammar.HelpCommand, *, actor: Actor, enforcer: Enforcer, slash: str) -> Reply:
    """`help` lists only what this person may run; `help VERB` explains one verb."""
    if command.about:
        text = catalog.help_for(command.about, command=slash)
        permission = catalog.info_for(command.about).permission
        if permission is not None and not enforcer.may_do_somewhere(
            actor.subjects, resource=permission[0], action=permission[1]
        ):
            text += f"\n:lock: You do not have `{permission[0]}, {permission[1]}` yet: ask an admin."
        return Reply(text=text, title=f"{slash} {command.about}")
    allowed = enforcer.allowed_verbs(actor.subjects, catalog.verb_permissions())
    return Reply(text=catalog.help_overview(allowed, command=slash), title=f"{slash} help")


def whoami_reply(*, actor: Actor, enforcer: Enforcer, settings: Settings) -> Reply:
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
    bound = [c for c in settings.clusters if c.channels]
    if bound:
        lines.append(
            "Channel-bound clusters: "
            + "; ".join(f"`{c.name}` only in " + ", ".join(f"<#{ch}>" for ch in c.channels) for c in bound)
        )
    return Reply(text="\n".join(lines), title="whoami")


def audit_reply(command: grammar.AuditCommand, *, audit: AuditReader) -> Reply:
    limit = command.limit or 20
    if command.user_name is not None:
        wanted = command.user_name.lstrip("@").lower()
        events = [e for e in audit.recent(limit=500) if e.actor_name.lower() == wanted][:limit]
    else:
        events = audit.recent(actor_id=command.user_id, limit=limit)
    who = (
        f" for {command.user_name or f'<@{command.user_id}>'}"
        if (command.user_id or command.user_name)
        else ""
    )
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
