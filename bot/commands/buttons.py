"""Clicks on the bot's buttons: a run's Stop and Logs, a rollback card's Approve and Reject.

A button carries only an id (a run's or an approval's); everything else is read from the
database, so a forged payload can name nothing the clicker could not have typed. Run buttons
become the command they stand for and go through `handlers.handle_text` (permission, audit),
approval buttons through `rollback_verbs.decide` with their own audit row.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from bot import metrics
from bot.approvals.flow import object_of as approval_object
from bot.commands import rollback_verbs
from bot.commands.handlers import UPSTREAM_REPLY, Deps, handle_text
from bot.errors import UpstreamError
from bot.model import Actor, Origin, Reply
from bot.rbac import policy as rbac_policy
from bot.render.approvals import ACTION_APPROVE, ACTION_REJECT
from bot.render.runs import ACTION_LOGS, ACTION_STOP
from bot.store import records

log = logging.getLogger(__name__)


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
