"""Carry out one command for one person: parse, check permission and channel, act, audit.

This is the only place where use cases are composed. It returns a platform-neutral `Reply`
(rendered by `bot.render`, delivered by `bot.slack.worker`) and writes exactly one audit event
per command, whatever the outcome: invalid, denied, refused, not enabled, done or failed.
Dependencies come in through small Protocols so tests can hand in real stores and policies.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from bot import metrics
from bot.approvals.service import ApprovalService
from bot.commands import (
    app_verbs,
    catalog,
    grammar,
    info_verbs,
    rollback_verbs,
    schedule_verbs,
    targets,
    workflow_verbs,
)
from bot.config import ClusterSettings, Settings
from bot.errors import CommandSyntaxError, NotEnabled, PermissionDenied, UpstreamError, UserError
from bot.model import Actor, Origin, Reply, Visibility
from bot.rbac.enforcer import Enforcer
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
        return info_verbs.help_reply(command, actor=actor, enforcer=enforcer, slash=slash)
    if isinstance(command, grammar.WhoamiCommand):
        return info_verbs.whoami_reply(actor=actor, enforcer=enforcer, settings=deps.settings)
    if isinstance(command, grammar.AuditCommand):
        return info_verbs.audit_reply(command, audit=deps.audit)
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
