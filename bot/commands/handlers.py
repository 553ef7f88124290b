"""Carry out one command for one person: parse, check permission and channel, act, audit.

This is the only place where use cases are composed. It returns a platform-neutral `Reply`
(rendered by `bot.render`, delivered by `bot.slack.worker`) and writes exactly one audit event
per command, whatever the outcome: invalid, denied, refused, not enabled, done or failed.
Dependencies come in through small Protocols so tests can hand in real stores and policies.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from bot import metrics
from bot.approvals.flow import object_of as approval_object
from bot.approvals.service import ApprovalService
from bot.commands import app_verbs, catalog, grammar, rollback_verbs, schedule_verbs, targets, workflow_verbs
from bot.config import ClusterSettings, Settings
from bot.errors import CommandSyntaxError, NotEnabled, PermissionDenied, UpstreamError, UserError
from bot.model import Actor, Origin, Reply, Visibility
from bot.rbac import policy as rbac_policy
from bot.rbac.enforcer import Enforcer
from bot.render.approvals import ACTION_APPROVE, ACTION_REJECT
from bot.render.runs import ACTION_LOGS, ACTION_STOP
from bot.store import records

log = logging.getLogger(__name__)

AUDIT_TEXT_MAX = 2000
RESULT_INVALID = "invalid"
RESULT_NOT_ENABLED = "not-enabled"
UPSTREAM_REPLY = (
    ":x: `{where}` did not answer as expected, so nothing was done (reference `{reference}`). "
    "Please try again; if it keeps failing, tell the bot's operators."
)


class PolicyProvider(Protocol):
    def current(self) -> Enforcer: ...


class AuditLog(Protocol):
    def record(self, event: records.AuditEvent) -> int: ...

    def recent(self, *, actor_id: str | None = None, limit: int = 20) -> list[records.AuditEvent]: ...


@dataclass(frozen=True)
class Deps:
    """What the use cases need. The workflow parts are None where a bot runs without clusters."""

    settings: Settings
    policy: PolicyProvider
    audit: AuditLog
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    clusters: workflow_verbs.Clusters | None = None
    runs: workflow_verbs.RunBook | None = None
    tracker: workflow_verbs.RunTracker | None = None
    links: workflow_verbs.LogLinks | None = None
    sync_runs: app_verbs.SyncRunBook | None = None
    sync_tracker: app_verbs.SyncStarter | None = None
    schedules: schedule_verbs.ScheduleBook | None = None
    approvals: ApprovalService | None = None
    cards: rollback_verbs.CardPoster | None = None


@dataclass(frozen=True)
class _Outcome:
    reply: Reply
    decision: str
    result: str
    detail: str = ""


@dataclass
class _Attempt:
    """What was decided so far, so a later refusal or failure is audited with it."""

    target: targets.Target | None = None
    decision: str = records.DECISION_NONE


def handle_text(*, origin: Origin, actor: Actor, deps: Deps, reference: str = "") -> Reply:
    """Parse `origin.text` and carry it out; always returns a reply and records one audit event."""
    command_name = deps.settings.slack.command
    attempt = _Attempt()
    verb = ""
    try:
        command = grammar.parse_command(origin.text, command=command_name)
        verb = command.verb
        outcome = _execute(command, origin=origin, actor=actor, deps=deps, attempt=attempt)
    except CommandSyntaxError as exc:
        outcome = _Outcome(_error_reply(exc), records.DECISION_NONE, RESULT_INVALID, detail=str(exc))
    except PermissionDenied as exc:
        outcome = _Outcome(_error_reply(exc), records.DECISION_DENY, records.RESULT_REFUSED, detail=str(exc))
        attempt.target = targets.Target(exc.resource, exc.action, exc.obj, None, precise=True)
    except UserError as exc:
        # refused after the permission check (no such template, bad parameters, ...)
        outcome = _Outcome(_error_reply(exc), attempt.decision, records.RESULT_REFUSED, detail=str(exc))
    except UpstreamError as exc:
        # the permission was granted (or not needed); what failed is a cluster, Slack or S3
        log.error("command failed upstream (ref %s): %s", reference, exc)
        target = attempt.target
        where = target.cluster if target is not None and target.cluster else "a service the bot depends on"
        reply = Reply(text=UPSTREAM_REPLY.format(where=where, reference=reference))
        outcome = _Outcome(reply, attempt.decision, records.RESULT_ERROR, detail=str(exc)[:500])
    target = attempt.target
    metrics.COMMANDS.labels(verb=verb or "invalid", decision=outcome.decision).inc()
    deps.audit.record(
        records.AuditEvent(
            at=deps.clock(),
            actor_id=actor.user_id,
            actor_name=actor.name,
            channel_id=origin.channel_id,
            command=verb,
            text=origin.text[:AUDIT_TEXT_MAX],
            resource=target.resource if target else "",
            action=target.action if target else "",
            object=target.obj if target else "",
            decision=outcome.decision,
            result=outcome.result,
            detail=outcome.detail[:500],
            reference=reference,
        )
    )
    return outcome.reply


RUN_ID = re.compile(r"^[0-9a-f]{32}$")
BUTTON_VERBS = {ACTION_STOP: "stop", ACTION_LOGS: "logs"}


def handle_button(*, origin: Origin, actor: Actor, deps: Deps, reference: str = "") -> Reply:
    """A click on a run's button becomes the command it stands for, checked and audited as typed.

    The button carries only the run id; the workflow, cluster and namespace come from the
    database, so a forged payload can name nothing the clicker could not have typed.
    """
    if origin.action_id in (ACTION_APPROVE, ACTION_REJECT):
        return handle_approval(origin=origin, actor=actor, deps=deps, reference=reference)
    verb = BUTTON_VERBS.get(origin.action_id or "")
    run = None
    if verb is not None and deps.runs is not None and RUN_ID.match(origin.action_value or ""):
        run = deps.runs.get(origin.action_value or "")
    if verb is None or run is None or not run.name:
        return Reply(
            text=":warning: This button no longer works (the run is unknown here). Type the command instead."
        )
    text = f"{verb} {run.name} --cluster {run.cluster} --namespace {run.namespace}"
    return handle_text(
        origin=replace(origin, text=text, thread_ts=run.parent_ts),
        actor=actor,
        deps=deps,
        reference=reference,
    )


APPROVAL_ID = re.compile(r"^[0-9a-f]{32}$")


def handle_approval(*, origin: Origin, actor: Actor, deps: Deps, reference: str = "") -> Reply:
    """Approve or Reject on a rollback card: decided once, audited, the card replaced."""
    approve = origin.action_id == ACTION_APPROVE
    approval_id = origin.action_value or ""
    if (
        deps.approvals is None
        or deps.cards is None
        or deps.clusters is None
        or deps.sync_runs is None
        or deps.sync_tracker is None
        or not APPROVAL_ID.match(approval_id)
    ):
        return Reply(text=":warning: This button no longer works. Ask for the rollback again.")
    request = deps.approvals.get(approval_id)
    try:
        reply, outcome = rollback_verbs.decide(
            approval_id=approval_id,
            approve=approve,
            actor=actor,
            settings=deps.settings,
            enforcer=deps.policy.current(),
            clusters=deps.clusters,
            approvals=deps.approvals,
            cards=deps.cards,
            runs=deps.sync_runs,
            tracker=deps.sync_tracker,
            now=deps.clock(),
        )
    except UpstreamError as exc:
        log.error("approval %s failed upstream (ref %s): %s", approval_id, reference, exc)
        reply, outcome = Reply(text=UPSTREAM_REPLY.format(where="Argo CD", reference=reference)), "error"
    metrics.COMMANDS.labels(verb="approve" if approve else "reject", decision=outcome).inc()
    deps.audit.record(
        records.AuditEvent(
            at=deps.clock(),
            actor_id=actor.user_id,
            actor_name=actor.name,
            channel_id=origin.channel_id,
            command="approve" if approve else "reject",
            text=f"rollback request {approval_id}",
            resource=rbac_policy.APPROVALS,
            action=rbac_policy.ACTION_APPROVE,
            object=approval_object(request) if request is not None else "",
            decision=records.DECISION_DENY if outcome == "refused" else records.DECISION_ALLOW,
            result=outcome,
            detail=reply.text[:500],
            reference=reference,
        )
    )
    return reply


def _error_reply(exc: UserError) -> Reply:
    text = str(exc)
    if isinstance(exc, CommandSyntaxError) and exc.usage and exc.usage not in text:
        text = f"{text}\nUsage: `{exc.usage}`"
    return Reply(text=f":warning: {text}", visibility=Visibility.EPHEMERAL)


def _execute(
    command: grammar.Command,
    *,
    origin: Origin,
    actor: Actor,
    deps: Deps,
    attempt: _Attempt,
) -> _Outcome:
    """Permission first, then the channel binding, then the verb itself."""
    enforcer = deps.policy.current()
    cluster = None
    # an unknown cluster is said only after the permission check, so it reveals nothing
    # to someone who may not run the command at all
    with contextlib.suppress(UserError):
        cluster = targets.resolve_cluster(command, deps.settings)
    target = targets.target_for(command, cluster=cluster)
    attempt.target = target
    decision = records.DECISION_NONE
    if target is not None:
        if target.precise:
            decision = enforcer.require(
                actor.subjects, resource=target.resource, action=target.action, obj=target.obj
            ).outcome
        elif enforcer.may_do_somewhere(actor.subjects, resource=target.resource, action=target.action):
            decision = records.DECISION_ALLOW
        else:
            # deny on the wildcard object: names the permission, not the policy
            enforcer.require(actor.subjects, resource=target.resource, action=target.action, obj=target.obj)
        attempt.decision = decision
        cluster = targets.resolve_cluster(command, deps.settings)
        if cluster is not None:
            refusal = targets.channel_refusal(cluster, origin.channel_id)
            if refusal:
                reply = Reply(text=f":no_entry: {refusal}")
                return _Outcome(reply, decision, records.RESULT_REFUSED, detail=refusal)
    try:
        catalog.require_enabled(command.verb, command=deps.settings.slack.command)
    except NotEnabled as exc:
        return _Outcome(Reply(text=f":construction: {exc}"), decision, RESULT_NOT_ENABLED)
    reply = _run_verb(
        command, actor=actor, origin=origin, cluster=cluster, enforcer=enforcer, deps=deps, attempt=attempt
    )
    return _Outcome(reply, decision, records.RESULT_OK)


def _run_verb(
    command: grammar.Command,
    *,
    actor: Actor,
    origin: Origin,
    cluster: ClusterSettings | None,
    enforcer: Enforcer,
    deps: Deps,
    attempt: _Attempt,
) -> Reply:
    slash = deps.settings.slack.command
    if isinstance(command, grammar.HelpCommand):
        return help_reply(command, actor=actor, enforcer=enforcer, slash=slash)
    if isinstance(command, grammar.WhoamiCommand):
        return whoami_reply(actor=actor, enforcer=enforcer, settings=deps.settings)
    if isinstance(command, grammar.AuditCommand):
        return audit_reply(command, deps=deps)
    if isinstance(command, grammar.RunsCommand) and deps.runs is not None:
        return workflow_verbs.list_runs(command, actor=actor, enforcer=enforcer, runs=deps.runs)
    if deps.schedules is not None:
        if isinstance(command, grammar.ScheduleListCommand):
            return schedule_verbs.list_schedules(command, service=deps.schedules, slash=slash)
        if isinstance(command, grammar.ScheduleAddCommand):
            _require_known_cluster(command.cluster, deps.settings)
            return schedule_verbs.add_schedule(
                command, actor=actor, origin=origin, service=deps.schedules, slash=slash
            )
        if isinstance(command, grammar.ScheduleRemoveCommand):
            return schedule_verbs.remove_schedule(command, service=deps.schedules, slash=slash)
    if deps.clusters is not None:
        reply = _run_app_verb(
            command, actor=actor, origin=origin, enforcer=enforcer, deps=deps, attempt=attempt
        )
        if reply is not None:
            return reply
    if cluster is not None and deps.clusters is not None:
        reply = _run_workflow_verb(
            command, actor=actor, origin=origin, cluster=cluster, enforcer=enforcer, deps=deps
        )
        if reply is not None:
            return reply
    catalog.require_enabled(command.verb, command=slash)
    raise NotEnabled(f"`{command.verb}` is not available in this bot's configuration.")


def _run_app_verb(
    command: grammar.Command,
    *,
    actor: Actor,
    origin: Origin,
    enforcer: Enforcer,
    deps: Deps,
    attempt: _Attempt,
) -> Reply | None:
    """The Argo CD verbs; once the app is found, the audit row names its precise object."""
    clusters = deps.clusters
    assert clusters is not None

    def note_object(obj: str) -> None:
        if attempt.target is not None:
            cluster = obj.split("/", 1)[0]
            attempt.target = replace(attempt.target, obj=obj, cluster=cluster, precise=True)

    if isinstance(command, grammar.AppsCommand):
        return app_verbs.list_apps(
            command, actor=actor, settings=deps.settings, enforcer=enforcer, clusters=clusters
        )
    if isinstance(command, grammar.AppCommand | grammar.HistoryCommand):
        return app_verbs.show_app(
            command,
            actor=actor,
            settings=deps.settings,
            enforcer=enforcer,
            clusters=clusters,
            note_object=note_object,
        )
    if (
        isinstance(command, grammar.SyncCommand)
        and deps.sync_runs is not None
        and deps.sync_tracker is not None
    ):
        return app_verbs.sync_app(
            command,
            actor=actor,
            origin=origin,
            settings=deps.settings,
            enforcer=enforcer,
            clusters=clusters,
            runs=deps.sync_runs,
            tracker=deps.sync_tracker,
            now=deps.clock(),
            note_object=note_object,
        )
    if isinstance(command, grammar.RollbackCommand) and deps.approvals is not None and deps.cards is not None:
        return rollback_verbs.request_rollback(
            command,
            actor=actor,
            origin=origin,
            settings=deps.settings,
            enforcer=enforcer,
            clusters=clusters,
            approvals=deps.approvals,
            cards=deps.cards,
            now=deps.clock(),
            note_object=note_object,
        )
    return None


def _run_workflow_verb(
    command: grammar.Command,
    *,
    actor: Actor,
    origin: Origin,
    cluster: ClusterSettings,
    enforcer: Enforcer,
    deps: Deps,
) -> Reply | None:
    clusters = deps.clusters
    assert clusters is not None
    if isinstance(command, grammar.TemplatesCommand):
        return workflow_verbs.list_templates(
            command, actor=actor, cluster=cluster, enforcer=enforcer, clusters=clusters
        )
    if isinstance(command, grammar.StatusCommand):
        return workflow_verbs.show_status(
            command, actor=actor, cluster=cluster, enforcer=enforcer, clusters=clusters
        )
    if isinstance(command, grammar.LogsCommand):
        tail_lines = deps.settings.logs.tail_lines if deps.settings.logs else 30
        return workflow_verbs.show_logs(
            command,
            actor=actor,
            cluster=cluster,
            enforcer=enforcer,
            clusters=clusters,
            links=deps.links,
            tail_lines=tail_lines,
        )
    if isinstance(command, grammar.StopCommand | grammar.TerminateCommand):
        return workflow_verbs.shut_down(
            command, actor=actor, cluster=cluster, enforcer=enforcer, clusters=clusters
        )
    if deps.runs is None or deps.tracker is None:
        return None
    if isinstance(command, grammar.RunCommand):
        return workflow_verbs.run_template(
            command,
            actor=actor,
            origin=origin,
            cluster=cluster,
            clusters=clusters,
            runs=deps.runs,
            tracker=deps.tracker,
            now=deps.clock(),
            slash=deps.settings.slack.command,
        )
    if isinstance(command, grammar.RetryCommand):
        return workflow_verbs.retry_run(
            command,
            actor=actor,
            origin=origin,
            cluster=cluster,
            enforcer=enforcer,
            clusters=clusters,
            runs=deps.runs,
            tracker=deps.tracker,
            now=deps.clock(),
        )
    return None


def _require_known_cluster(name: str | None, settings: Settings) -> None:
    """A schedule naming a cluster that does not exist would only fail when it fires: refuse now."""
    if name is not None and settings.cluster(name) is None:
        known = ", ".join(f"`{c.name}`" for c in settings.clusters) or "none"
        raise UserError(f"There is no cluster `{name}`. Configured clusters: {known}.")


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


def audit_reply(command: grammar.AuditCommand, *, deps: Deps) -> Reply:
    limit = command.limit or 20
    if command.user_name is not None:
        wanted = command.user_name.lstrip("@").lower()
        events = [e for e in deps.audit.recent(limit=500) if e.actor_name.lower() == wanted][:limit]
    else:
        events = deps.audit.recent(actor_id=command.user_id, limit=limit)
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
