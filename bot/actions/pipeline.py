"""The one road every action walks, from every entry point.

    resolve the person -> may they use the bot -> authorise the precise object (permission
    before existence) -> channel binding -> approval rule -> record the intent -> act ->
    announce -> audit

Entry points: a typed command (slash command, mention, DM: `handle_text`), a button
(`handle_button`: a run's Stop and Logs, an approval card's Approve and Reject), a schedule
firing and the leader's completion of approved requests (`perform` with the person on whose
behalf it acts). Each builds an `Invocation` (a verb record and its arguments) and calls
`perform`, which owns every check; a use case asks for the precise check through
`Context.require` once its lookup found the object, and never decides on its own.

The audit row is written in a `finally`, whatever happens, with the precise object once it is
known, the outcome and the reference shown to the person. For a verb that writes, the intent
is recorded (an audit row with result `pending`) before it acts, so even a crash mid-action
leaves a trace. Once the write happened (`Context.wrote`), a later failure of Slack or the
database is answered "done, the announcement follows", never "nothing was done".
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import replace
from typing import Any

from bot import metrics, records
from bot.actions.context import Attempt, Context, Deps, binds_channels, channel_refusal, resolve_cluster
from bot.commands import grammar
from bot.commands.registry import Target, Verb
from bot.config import ClusterSettings
from bot.errors import (
    BotError,
    CommandSyntaxError,
    NotEnabled,
    PermissionDenied,
    SlowDown,
    UpstreamError,
    UserError,
)
from bot.model import Actor, Origin, Reply, Surface, Visibility
from bot.rbac import policy as rbac
from bot.render.approvals import ACTION_APPROVE, ACTION_REJECT
from bot.render.runs import ACTION_LOGS, ACTION_STOP

log = logging.getLogger(__name__)

AUDIT_TEXT_MAX = 2000
#: Surfaces where the bot acts for a person who did not type anything just now.
_ON_BEHALF = (Surface.SCHEDULE, Surface.SWEEP, Surface.SUBSCRIPTION)
RESULT_INVALID = "invalid"
RESULT_NOT_ENABLED = "not-enabled"
RESULT_THROTTLED = "throttled"
UPSTREAM_REPLY = (
    ":x: `{where}` did not answer as expected, so nothing was done (reference `{reference}`). "
    "Please try again; if it keeps failing, tell the bot's operators."
)
WRITTEN_REPLY = (
    ":white_check_mark: {written} The progress message will follow in the channel as soon as "
    "Slack answers (reference `{reference}`)."
)
STALE_BUTTON = ":warning: This button no longer works (the run is unknown here). Type the command instead."
_ID = re.compile(r"^[0-9a-f]{32}$")

#: button action_id -> the verb it stands for; the button carries only a run or approval id.
RUN_BUTTONS = {ACTION_STOP: "stop", ACTION_LOGS: "logs"}
APPROVAL_BUTTONS = {ACTION_APPROVE: "approve", ACTION_REJECT: "reject"}


def new_reference() -> str:
    """A short id shown to the person and written to the log and audit, to find one action's traces."""
    return secrets.token_hex(4)


def handle_text(*, origin: Origin, actor: Actor, deps: Deps, reference: str = "") -> Reply:
    """A typed command: parse it, then walk the road. Always answers, always audits."""
    try:
        invocation = grammar.parse_command(
            origin.text, registry=deps.registry, command=deps.settings.slack.command
        )
    except CommandSyntaxError as exc:
        _audit(
            deps,
            origin=origin,
            actor=actor,
            verb="",
            attempt=Attempt(),
            result=RESULT_INVALID,
            detail=str(exc),
            reference=reference,
        )
        metrics.COMMANDS.labels(verb="invalid", decision=records.DECISION_NONE).inc()
        return error_reply(exc)
    return perform(invocation, origin=origin, actor=actor, deps=deps, reference=reference)


def handle_button(*, origin: Origin, actor: Actor, deps: Deps, reference: str = "") -> Reply:
    """A click: the id it carries is looked up in the database; the rest is the typed road."""
    action = origin.action_id or ""
    value = origin.action_value or ""
    if action in APPROVAL_BUTTONS and _ID.match(value):
        verb = deps.registry[APPROVAL_BUTTONS[action]]
        command = _build(verb, raw=f"{verb.name} {value}", approval_id=value)
        return perform(
            grammar.Invocation(verb, command), origin=origin, actor=actor, deps=deps, reference=reference
        )
    name = RUN_BUTTONS.get(action)
    run = deps.runs.get(value) if name is not None and deps.runs is not None and _ID.match(value) else None
    # a run a subscribed channel follows keeps its Workflow's name in its parameters
    workflow = (run.name or str((run.parameters or {}).get("workflow") or "")) if run is not None else ""
    if name is None or run is None or not workflow:
        return Reply(text=STALE_BUTTON)
    text = f"{name} {workflow} --cluster {run.cluster} --namespace {run.namespace}"
    verb = deps.registry[name]
    command = _build(verb, raw=text, workflow=workflow, cluster=run.cluster, namespace=run.namespace)
    return perform(
        grammar.Invocation(verb, command),
        origin=replace(origin, text=text, thread_ts=run.parent_ts),
        actor=actor,
        deps=deps,
        reference=reference,
    )


def _build(verb: Verb, **fields: Any) -> Any:
    """A verb's command from values read from the database (a button carries only an id)."""
    command_type: Any = verb.command
    return command_type(**fields)


def perform(
    invocation: grammar.Invocation, *, origin: Origin, actor: Actor, deps: Deps, reference: str = ""
) -> Reply:
    """Walk the road for one action on behalf of `actor`; returns the answer for them."""
    verb = invocation.verb
    ctx = Context(
        verb=verb, actor=actor, origin=origin, deps=deps, enforcer=deps.policy.current(), reference=reference
    )
    attempt = ctx.attempt
    pending_id: int | None = None
    result, detail = records.RESULT_ERROR, ""
    reply = Reply(text=UPSTREAM_REPLY.format(where="a service the bot depends on", reference=reference))
    try:
        ctx.actor = actor = admit(actor, origin, deps)
        ctx.cluster = _authorise(ctx, invocation.command)
        if verb.writes:
            pending_id = _audit(
                deps,
                origin=origin,
                actor=actor,
                verb=verb.name,
                attempt=attempt,
                result=records.RESULT_PENDING,
                detail="",
                reference=reference,
            )
        reply = verb.execute(ctx, invocation.command)
        result, detail = records.RESULT_OK, attempt.written or ""
    except PermissionDenied as exc:
        reply, result, detail = error_reply(exc), records.RESULT_REFUSED, str(exc)
        attempt.decision = records.DECISION_DENY
        known = attempt.target
        if exc.resource and (known is None or exc.obj != rbac.WILDCARD or known.resource != exc.resource):
            cluster = known.cluster if known else None
            attempt.target = Target(exc.resource, exc.action, exc.obj, cluster, precise=True)
    except SlowDown as exc:
        reply, result, detail = Reply(text=f":turtle: {exc}"), RESULT_THROTTLED, str(exc)
    except NotEnabled as exc:
        reply, result, detail = Reply(text=f":construction: {exc}"), RESULT_NOT_ENABLED, str(exc)
    except UserError as exc:
        # refused after the permission check (no such template, bad parameters, channel, ...)
        reply, result, detail = error_reply(exc), records.RESULT_REFUSED, str(exc)
    except (UpstreamError, BotError) as exc:
        log.error("%s failed (ref %s): %s", verb.name, reference, exc)
        reply, result, detail = _failure_reply(ctx), records.RESULT_ERROR, str(exc)[:500]
    except Exception as exc:
        log.exception("%s crashed (ref %s)", verb.name, reference)
        reply, result, detail = _failure_reply(ctx), records.RESULT_ERROR, type(exc).__name__
    finally:
        metrics.COMMANDS.labels(verb=verb.name, decision=attempt.decision).inc()
        try:
            _audit(
                deps,
                origin=origin,
                actor=actor,
                verb=verb.name,
                attempt=attempt,
                result=result,
                detail=detail,
                reference=reference,
                pending_id=pending_id,
            )
        except BotError as exc:  # the answer still goes out; the log keeps the trace
            log.error("could not write the audit row (ref %s): %s", reference, exc)
    return reply


def error_reply(exc: UserError) -> Reply:
    text = str(exc)
    if isinstance(exc, CommandSyntaxError) and exc.usage and exc.usage not in text:
        text = f"{text}\nUsage: `{exc.usage}`"
    return Reply(text=f":warning: {text}", visibility=Visibility.EPHEMERAL)


def _failure_reply(ctx: Context) -> Reply:
    """After a write: say what happened. Before it: say nothing was done, and where it failed."""
    attempt = ctx.attempt
    if attempt.written is not None:
        return Reply(text=WRITTEN_REPLY.format(written=attempt.written, reference=ctx.reference))
    target = attempt.target
    where = target.cluster if target is not None and target.cluster else "a service the bot depends on"
    return Reply(text=UPSTREAM_REPLY.format(where=where, reference=ctx.reference))


def foreign_refusal(origin: Origin, deps: Deps) -> str | None:
    """Why a request from this workspace is refused, or None (checked before the person is looked up).

    With the workspace known (`auth.test`), a request that names no team, another team or
    another Enterprise Grid organisation is refused. Schedule firings and sweeps come from the
    bot itself and name no team.
    """
    workspace = deps.workspace
    if workspace is None or origin.surface in _ON_BEHALF:
        return None
    if origin.team_id != workspace.team_id:
        return "This bot serves only the workspace it is installed in."
    if origin.enterprise_id and workspace.enterprise_id and origin.enterprise_id != workspace.enterprise_id:
        return "This bot serves only the organisation it is installed in."
    return None


def refuse_foreign(*, origin: Origin, reason: str, deps: Deps, reference: str = "") -> Reply:
    """Answer and audit a request from elsewhere, without looking the person up."""
    log.warning("refused a request from another workspace or organisation (ref %s)", reference)
    metrics.COMMANDS.labels(verb="foreign", decision=records.DECISION_DENY).inc()
    actor = Actor(user_id=origin.user_id, name="")
    _audit(
        deps,
        origin=origin,
        actor=actor,
        verb="",
        attempt=Attempt(decision=records.DECISION_DENY),
        result=records.RESULT_REFUSED,
        detail=reason,
        reference=reference,
    )
    return Reply(text=f":no_entry: {reason}")


def admit(actor: Actor, origin: Origin, deps: Deps) -> Actor:
    """Who may use the bot now; returns the person as the policy should see them.

    People, not bots; members of this workspace (Slack Connect users only when
    `slack.allow_external_users`); guests without the policy's default role (with
    `slack.guest_role` when set); within the per-person rate limit. Schedule firings, the
    leader's sweeps and subscription posts act for a person but were not typed by them, so they
    do not count against that person's limit.
    """
    if actor.is_bot:
        raise PermissionDenied("Bots cannot use this bot's commands.")
    slack = deps.settings.slack
    workspace = deps.workspace
    external = workspace is not None and bool(actor.team_id) and actor.team_id != workspace.team_id
    if external and not slack.allow_external_users:
        raise PermissionDenied(
            "This bot answers only members of its own workspace: people from other "
            "organisations in shared channels cannot use it."
        )
    if actor.is_guest:
        roles = (slack.guest_role,) if slack.guest_role else ()
        actor = replace(actor, roles=roles, default_role=False)
    if deps.limiter is None or origin.surface in _ON_BEHALF:
        return actor
    wait = deps.limiter.wait_for(actor.user_id)
    if wait:
        raise SlowDown(
            f"You sent more than {deps.limiter.per_minute} commands in a minute, so this one was not "
            f"carried out. Please slow down and try again in {max(1, round(wait))} s."
        )
    return actor


def _authorise(ctx: Context, command: Any) -> ClusterSettings | None:
    """Permission first (on the precise object when it is known), then the cluster and its channel."""
    verb, settings = ctx.verb, ctx.settings
    try:
        cluster = resolve_cluster(verb, command, settings, channel_id=ctx.origin.channel_id)
    except UserError:
        cluster = None  # said only after the permission check, so it reveals nothing
    target = verb.target_for(command, cluster)
    ctx.attempt.target = target
    if target is None:
        return None
    subjects = ctx.actor.subjects
    if target.precise:
        decision = ctx.enforcer.require(
            subjects, resource=target.resource, action=target.action, obj=target.obj
        )
        ctx.attempt.decision = decision.outcome
    elif ctx.enforcer.may_do_somewhere(subjects, resource=target.resource, action=target.action):
        ctx.attempt.decision = records.DECISION_ALLOW
    else:
        ctx.attempt.decision = records.DECISION_DENY
        # names the permission, not the policy; the audit row keeps the object as asked
        ctx.enforcer.require(subjects, resource=target.resource, action=target.action, obj=rbac.WILDCARD)
    cluster = resolve_cluster(verb, command, settings, channel_id=ctx.origin.channel_id)
    if cluster is not None and binds_channels(verb):
        refusal = channel_refusal(cluster, ctx.origin.channel_id)
        if refusal:
            raise UserError(refusal)
    return cluster


def _audit(
    deps: Deps,
    *,
    origin: Origin,
    actor: Actor,
    verb: str,
    attempt: Attempt,
    result: str,
    detail: str,
    reference: str,
    pending_id: int | None = None,
) -> int:
    target = attempt.target
    event = records.AuditEvent(
        at=deps.clock(),
        actor_id=actor.user_id,
        actor_name=actor.name,
        channel_id=origin.channel_id,
        command=verb,
        text=origin.text[:AUDIT_TEXT_MAX],
        resource=target.resource if target else "",
        action=target.action if target else "",
        object=target.obj if target else "",
        decision=attempt.decision,
        result=result,
        detail=detail[:500],
        reference=reference,
        run_id=attempt.run_id,
    )
    if pending_id is not None:
        deps.audit.complete(pending_id, event=event)
        return pending_id
    return deps.audit.record(event)
