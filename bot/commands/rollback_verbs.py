"""Rollbacks that run only after someone approves them with a button.

Three verbs, one road. `rollback` (typed) checks the requester may roll the app back, picks the
history entry, refuses what Argo CD would refuse, records an approval request with the entry's
id and revision, and posts its card. `approve` and `reject` (button clicks, never typed) read
the request again from the database, check the clicker, and decide it with one conditional
update (of two approvers clicking at once, exactly one wins). `complete-approval` (the leader's
sweep, on behalf of the approver) finishes a request that was approved but never carried out,
for instance because the process died between the click and the write.

Carrying out an approved request (`_execute`) re-checks the requester's own
`applications, rollback` at decision time, writes the rollback only when the history entry
still deploys the revision the card showed (checked in the same conditional write), records
the run before the write and marks the Application's operation with the run id, so the sweep
can tell whether the write happened. Every failure closes the request with a reason shown on
the card, in its thread (naming the requester) and to the approver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot import records
from bot.actions.context import Context
from bot.actions.launcher import Plan, run_name
from bot.announcing import PRIORITY_CARD, PRIORITY_FAILURE, card_key, edit_card, parent_key
from bot.approvals import flow
from bot.approvals.service import ApprovalService, approver_check
from bot.argo import cd, workflows
from bot.commands import app_verbs, rollout_verbs, values
from bot.commands.registry import Command, Option, Positional, Target, Verb
from bot.errors import BotError, NotEnabled, PermissionDenied, UserError
from bot.model import Actor, Reply, Surface
from bot.rbac import policy as rbac
from bot.render import approvals as render_approvals
from bot.tracking import sync_tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RollbackCommand(Command):
    app: str
    history_id: int | None = None
    reason: str | None = None
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class DecideCommand(Command):
    """A click on Approve or Reject (the button carries only the request's id)."""

    approval_id: str


def _service(ctx: Context) -> ApprovalService:
    if ctx.deps.approvals is None or ctx.deps.cards is None:
        raise NotEnabled(f"`{ctx.verb.name}` is not available in this bot's configuration.")
    return ctx.deps.approvals


def request_rollback(ctx: Context, command: RollbackCommand) -> Reply:
    approvals = _service(ctx)
    found = app_verbs.find_app(
        ctx, command.app, action=rbac.ACTION_ROLLBACK, destination=command.cluster, approval_gate=False
    )
    detail = found.detail
    current = detail.current
    if current is None or len(detail.history) < 2:
        raise UserError(f"`{command.app}` has no earlier deploy to roll back to.")
    if command.history_id is None:
        earlier = [entry for entry in detail.history if entry.id < current.id]
        target = max(earlier, key=lambda entry: entry.id)
    else:
        matches = [entry for entry in detail.history if entry.id == command.history_id]
        if not matches:
            ids = ", ".join(str(entry.id) for entry in sorted(detail.history, key=lambda e: -e.id))
            raise UserError(f"`{command.app}` has no history entry {command.history_id}. Its ids: {ids}.")
        target = matches[0]
    settings = ctx.settings
    if detail.summary.auto_sync and not settings.approvals.disable_auto_sync_on_rollback:
        raise UserError(
            f"Argo CD refuses it: rollback cannot be initiated when auto-sync is enabled on `{command.app}`. "
            "Turn automated sync off first (argocd app set APP --sync-policy none), then ask again."
        )
    channel = settings.slack.approvals_channel or ctx.origin.channel_id
    approval = approvals.request_rollback(
        actor=ctx.actor,
        channel_id=channel,
        cluster=found.destination,
        project=detail.summary.project,
        app=command.app,
        target=target,
        current=current,
        reason=command.reason or "",
        auto_sync_off=detail.summary.auto_sync,
    )
    ctx.wrote(f"Rollback of `{command.app}` to history {target.id} was requested.")
    assert found.host.argocd_namespace is not None
    changes = app_verbs.what_changes(
        ctx,
        host=found.host.name,
        namespace=found.host.argocd_namespace,
        app=command.app,
        from_revision=current.revision,
        to_revision=target.revision,
    )
    text, blocks = render_approvals.render_request(approval, now=ctx.now(), changes=changes)
    assert ctx.deps.cards is not None
    # through the outbox: the card appears once, even if Slack is down right now
    ctx.deps.cards.post(
        key=card_key(approval.id), channel=channel, text=text, blocks=blocks, priority=PRIORITY_CARD
    )
    return Reply(
        text=(
            f":hourglass: Rollback of `{command.app}` to history {target.id} "
            f"(`{target.revision[:12]}`) requested. "
            f"It runs once someone who may approve it clicks Approve in <#{channel}>."
        )
    )


def decide(ctx: Context, command: DecideCommand) -> Reply:
    """One click on Approve or Reject, or `approve WORKFLOW` / `reject WORKFLOW` typed."""
    approvals = _service(ctx)
    approve = ctx.verb.name == "approve"
    if ctx.origin.surface in (Surface.SLASH, Surface.MENTION, Surface.DM):
        command = DecideCommand(approval_id=_step_waiting_at(approvals, command.approval_id))
    request = approvals.get(command.approval_id)
    if request is None:
        raise UserError("This approval request no longer exists. Ask for the rollback again.")
    resource, action, obj = flow.permission_of(request)
    ctx.attempt.target = Target(resource, action, obj, None, precise=True)
    subjects = ctx.actor.subjects
    decision = approvals.decide(
        approval_id=command.approval_id,
        approve=approve,
        clicker=ctx.actor,
        can_approve=approver_check(ctx.enforcer, ctx.actor),
        subjects=(*subjects, *ctx.enforcer.roles_for(subjects)),
    )
    approval = decision.approval
    if decision.outcome == "refused" or approval is None:
        raise PermissionDenied(decision.message, resource=resource, action=action, obj=obj)
    ctx.attempt.decision = records.DECISION_ALLOW
    if decision.outcome == "counted":
        ctx.wrote(f"The approval was counted: {flow.quorum_text(approval)}.")
        _refresh_card(ctx, approval)
        return Reply(text=f":ballot_box_with_check: {decision.message}")
    ctx.wrote(f"The request was {'approved' if approve else 'rejected'}.")
    if decision.outcome == "rejected":
        _replace_card(ctx, approval)
        if approval.action == flow.ACTION_RESUME:
            _stop_rejected(ctx, approval)
        return Reply(text=f":white_check_mark: {decision.message}")
    return _execute(ctx, approval, approved_message=decision.message)


def _step_waiting_at(approvals: ApprovalService, workflow: str) -> str:
    """The request of the one approval step `workflow` waits at (typed `approve WORKFLOW`)."""
    waiting = [a for a in approvals.pending() if a.action == flow.ACTION_RESUME and a.app == workflow]
    if not waiting:
        raise UserError(
            f"No step of `{workflow}` waits for an approval. Rollbacks and syncs are decided on their cards."
        )
    if len(waiting) > 1:
        steps = ", ".join(f"`{a.to_revision}`" for a in waiting)
        raise UserError(
            f"Several steps of `{workflow}` wait ({steps}): decide each on its card in the run's thread."
        )
    return waiting[0].id


def complete_approval(ctx: Context, command: DecideCommand) -> Reply:
    """The leader's sweep: finish a request approved but never carried out (or never recorded so)."""
    approvals = _service(ctx)
    approval = approvals.get(command.approval_id)
    if approval is None or approval.status != records.APPROVAL_APPROVED:
        raise UserError("This request is not waiting to be carried out.")
    resource, action, obj = flow.permission_of(approval)
    ctx.require(resource=resource, action=action, obj=obj, approval_gate=False)
    if approval.action == flow.ACTION_RESUME or flow.is_rollout(approval):
        return _execute(ctx, approval, approved_message="The approved request was carried out.")
    if approval.run_id is not None and ctx.deps.runs is not None:
        run = ctx.deps.runs.get(approval.run_id)
        if run is not None and _was_written(ctx, approval, run):
            executed = approvals.mark_executed(approval.id, run_id=run.id) or approval
            _replace_card(ctx, executed)
            ctx.wrote(
                f"The rollback of `{approval.app}` had been written; it is followed now.", run_id=run.id
            )
            if ctx.deps.launcher is not None:
                ctx.deps.launcher.follow(run)
            return Reply(text=f"Rollback of `{approval.app}` was already written; now followed.")
        if run is not None and ctx.deps.launcher is not None:
            ctx.deps.launcher.close(run, message="the process stopped before the rollback was written")
    return _execute(ctx, approval, approved_message="The approved rollback was carried out.")


def _was_written(ctx: Context, approval: records.Approval, run: records.Run) -> bool:
    """Whether the Application carries this run's marker (the write happened)."""
    if ctx.deps.clusters is None:
        return False
    try:
        app = cd.get_app_object(
            ctx.deps.clusters.api_client(run.cluster), namespace=run.namespace, name=approval.app
        )
    except BotError:
        return False
    return sync_tracker.run_id_of(app) == run.id


def _execute(ctx: Context, approval: records.Approval, *, approved_message: str) -> Reply:
    """Carry out an approved rollback as a followed run; close the request on every failure."""
    approvals = _service(ctx)
    ctx.attempt.run_id = None
    write = {rbac.ACTION_SYNC: _write_sync, flow.ACTION_RESUME: _write_resume}.get(
        approval.action, _write_rollout if flow.is_rollout(approval) else _write_rollback
    )
    try:
        run = write(ctx, approval)
    except Exception as exc:
        if ctx.attempt.run_id is not None:  # written; only following it failed: the leader resumes it
            executed = approvals.mark_executed(approval.id, run_id=ctx.attempt.run_id) or approval
            _replace_card(ctx, executed)
            raise
        reason = (
            str(exc)
            if isinstance(exc, UserError)
            else f"the {approval.action} could not start (reference `{ctx.reference}`)"
        )
        failed = approvals.mark_failed(approval.id, message=str(exc)) or approval
        _replace_card(ctx, failed, detail=reason)
        _tell_requester(ctx, failed, reason)
        log.error("approved %s %s could not start: %s", approval.action, approval.id, exc)
        raise UserError(f"Approved, but the {approval.action} did not run: {reason}") from exc
    executed = approvals.mark_executed(approval.id, run_id=run.id) or approval
    _replace_card(ctx, executed)
    return Reply(text=f":white_check_mark: {approved_message}")


def _write_rollback(ctx: Context, approval: records.Approval) -> records.Run:
    settings = ctx.settings
    launcher = ctx.deps.launcher
    clusters = ctx.deps.clusters
    if launcher is None or clusters is None:
        raise NotEnabled("Rollbacks are not available in this bot's configuration.")
    requester = _requester_who_still_may(ctx, approval, action=rbac.ACTION_ROLLBACK, doing="roll back")
    _, to_id = flow.history_ids(approval)
    host, namespace, api = _host_of(ctx, approval)
    pinned: list[str] = []  # the run whose write turned auto-sync off
    plan = _approved_plan(
        ctx,
        approval,
        kind=records.RUN_ROLLBACK,
        host=host,
        namespace=namespace,
        revision=approval.to_revision or None,
        history_id=to_id,
    )

    def act(run: records.Run) -> str:
        _service(ctx).set_run(approval.id, run_id=run.id)  # the intent, before the write
        written = cd.request_rollback(
            api,
            namespace=namespace,
            name=approval.app,
            history_id=to_id,
            username=_initiator(requester, approval, approver=ctx.actor),
            disable_auto_sync=settings.approvals.disable_auto_sync_on_rollback,
            info=(*sync_tracker.operation_info(run.id), *flow.operation_info(approval, approver=ctx.actor)),
            expected_revision=approval.to_revision or None,
            pin={
                "at": ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "by": _initiator(requester, approval, approver=ctx.actor),
                "channel": approval.channel_id,
                "run": run.id,
            },
        )
        if written.auto_sync_disabled:
            pinned.append(run.id)
        return run_name(approval.app, run)

    run = launcher.launch(
        plan,
        act,
        on_written=lambda run: ctx.wrote(
            f"The rollback of `{approval.app}` to history {to_id} was written.", run_id=run.id
        ),
    )
    if pinned and ctx.deps.cards is not None:
        ctx.deps.cards.post(
            key=f"pinned:{run.id}",
            channel=run.channel_id,
            text=render_approvals.pinned_note(approval.app, slash=ctx.slash),
            thread_key=parent_key(run.id),
        )
    return run


def _write_sync(ctx: Context, approval: records.Approval) -> records.Run:
    """Write the approved sync (the revision and options the card showed) as a followed run.

    The requester must still hold `applications, sync` on the app; the operation's `info`
    carries the run id and the names of who asked and who approved.
    """
    launcher, clusters = ctx.deps.launcher, ctx.deps.clusters
    if launcher is None or clusters is None:
        raise NotEnabled("Syncs are not available in this bot's configuration.")
    requester = _requester_who_still_may(ctx, approval, action=rbac.ACTION_SYNC, doing="sync")
    revision, prune = flow.sync_options(approval)
    host, namespace, api = _host_of(ctx, approval)
    plan = _approved_plan(
        ctx, approval, kind=records.RUN_SYNC, host=host, namespace=namespace, revision=revision, prune=prune
    )

    def act(run: records.Run) -> str:
        _service(ctx).set_run(approval.id, run_id=run.id)  # the intent, before the write
        cd.request_sync(
            api,
            namespace=namespace,
            name=approval.app,
            username=_initiator(requester, approval, approver=ctx.actor),
            revision=revision,
            prune=prune,
            info=(*sync_tracker.operation_info(run.id), *flow.operation_info(approval, approver=ctx.actor)),
        )
        return run_name(approval.app, run)

    return launcher.launch(
        plan,
        act,
        on_written=lambda run: ctx.wrote(
            f"The approved sync of `{approval.app}` was written.", run_id=run.id
        ),
    )


def _write_rollout(ctx: Context, approval: records.Approval) -> records.Run:
    """Carry out an approved Rollout command as its requester's, followed in its thread."""
    return rollout_verbs.carry_out(ctx, approval, requester=_requester(ctx, approval))


def _write_resume(ctx: Context, approval: records.Approval) -> records.Run:
    """Resume the approved step of the run's Workflow; the approver is written on the Workflow."""
    clusters, runs = ctx.deps.clusters, ctx.deps.runs
    if clusters is None or runs is None or approval.run_id is None:
        raise NotEnabled("Workflow approvals are not available in this bot's configuration.")
    run = runs.get(approval.run_id)
    if run is None:
        raise UserError(f"The run of `{approval.app}` is no longer known, so nothing was resumed.")
    approver = ctx.actor.email or ctx.actor.name or ctx.actor.user_id
    workflows.resume_node(
        clusters.api_client(approval.cluster),
        namespace=approval.project,
        name=approval.app,
        node_id=approval.target,
        step=approval.to_revision,
        approved_by=approver,
        now=ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    ctx.wrote(f"Step `{approval.to_revision}` of `{approval.app}` was resumed.", run_id=run.id)
    return run


def _stop_rejected(ctx: Context, approval: records.Approval) -> None:
    """A rejected approval step stops its Workflow (exit handlers still run, as `argo stop`)."""
    if ctx.deps.clusters is None:
        return
    workflows.set_shutdown(
        ctx.deps.clusters.api_client(approval.cluster),
        namespace=approval.project,
        name=approval.app,
        strategy="Stop",
    )
    ctx.wrote(
        f"`{approval.app}` was stopped: its step `{approval.to_revision}` was rejected.",
        run_id=approval.run_id,
    )


def _approved_plan(
    ctx: Context,
    approval: records.Approval,
    *,
    kind: str,
    host: str,
    namespace: str,
    revision: str | None,
    **parameters: Any,
) -> Plan:
    """The run of an approved sync or rollback: the requester's, in the card's channel, with
    who approved it (the clicker) and what the card showed."""
    return Plan(
        kind=kind,
        cluster=host,
        namespace=namespace,
        requester_id=approval.requester_id,
        requester_name=approval.requester_name,
        channel_id=approval.channel_id,
        template=approval.app,
        revision=revision,
        parameters={
            sync_tracker.DESTINATION_PARAMETER: approval.cluster,
            "approved_by": ctx.actor.user_id,
            **parameters,
        },
    )


def _host_of(ctx: Context, approval: records.Approval) -> tuple[str, str, Any]:
    """The Argo CD host managing the request's app on its destination: (name, namespace, client)."""
    clusters = ctx.deps.clusters
    assert clusters is not None
    settings = ctx.settings
    for host in app_verbs.argocd_hosts(settings):
        assert host.argocd_namespace is not None
        api = clusters.api_client(host.name)
        try:
            detail = cd.get_app(api, namespace=host.argocd_namespace, name=approval.app)
        except BotError:
            continue
        mapping = app_verbs.destinations_for(host, settings, clusters)
        if (
            cd.object_for(detail.summary, cluster_name_of_destination=mapping).split("/", 1)[0]
            == approval.cluster
        ):
            return host.name, host.argocd_namespace, api
    raise UserError(f"`{approval.app}` is no longer managed by a configured Argo CD.")


def _initiator(requester: Actor, approval: records.Approval, *, approver: Actor) -> str:
    """How Argo CD's `initiatedBy` and history name it: the requester, and who approved."""
    return f"{requester.email or approval.requester_name} (approved by {approver.email or approver.name})"


def _requester_who_still_may(ctx: Context, approval: records.Approval, *, action: str, doing: str) -> Actor:
    """The requester as they are now, if they still hold `applications, <action>` on the app.

    Raises:
        UserError: they no longer do (the approval does not lend them a permission).
    """
    requester = _requester(ctx, approval)
    obj = flow.object_of(approval)
    if not ctx.enforcer.can(requester.subjects, resource=rbac.APPLICATIONS, action=action, obj=obj):
        raise UserError(
            f"<@{approval.requester_id}> may no longer {doing} `{approval.app}` "
            f"(`{rbac.APPLICATIONS}, {action}` on `{obj}`), so nothing was done."
        )
    return requester


def _requester(ctx: Context, approval: records.Approval) -> Actor:
    directory = ctx.deps.directory
    if directory is None:
        return Actor(user_id=approval.requester_id, name=approval.requester_name)
    return directory.actor(approval.requester_id)


def _replace_card(ctx: Context, approval: records.Approval, *, detail: str | None = None) -> None:
    """The card's new state goes through the outbox: it lands even if Slack is down right now."""
    if ctx.deps.cards is None:
        return
    text, blocks = render_approvals.render_decided(approval, detail=detail)
    edit_card(
        ctx.deps.cards,
        approval_id=approval.id,
        channel=approval.channel_id,
        message_ts=approval.message_ts,
        text=text,
        blocks=blocks,
    )


def _refresh_card(ctx: Context, approval: records.Approval) -> None:
    """A pending card shows the approvals so far and who is still needed (its buttons stay)."""
    if ctx.deps.cards is None:
        return
    try:
        host, namespace, _ = _host_of(ctx, approval) if ctx.deps.clusters is not None else ("", "", None)
    except UserError:
        host = ""
    if not host:
        changes: list[dict[str, Any]] = []
    else:
        changes = app_verbs.what_changes(
            ctx,
            host=host,
            namespace=namespace,
            app=approval.app,
            from_revision=approval.from_revision,
            to_revision=approval.to_revision,
        )
    text, blocks = render_approvals.render_request(approval, now=ctx.now(), changes=changes)
    edit_card(
        ctx.deps.cards,
        approval_id=approval.id,
        channel=approval.channel_id,
        message_ts=approval.message_ts,
        text=text,
        blocks=blocks,
    )


def _tell_requester(ctx: Context, approval: records.Approval, reason: str) -> None:
    """The requester hears why their approved rollback did not run, in the card's thread."""
    if ctx.deps.cards is None:
        return
    text = f"<@{approval.requester_id}> the approved rollback of `{approval.app}` did not run: {reason}"
    ctx.deps.cards.post(
        key=f"{card_key(approval.id)}:not-run",
        channel=approval.channel_id,
        text=text,
        priority=PRIORITY_FAILURE,
        thread_ts=approval.message_ts,
        thread_key=None if approval.message_ts else card_key(approval.id),
    )


# --- the records ------------------------------------------------------------------------

_APPROVAL_OBJECT = "<cluster>/<project>/<app>"


def _decide_verb(
    name: str,
    summary: str,
    execute: Any,
    *,
    prechecked: bool = True,
    typed: bool = False,
    examples: tuple[str, ...] = (),
) -> Verb:
    """`prechecked=False`: no check before the request is read (a requester may withdraw their own).

    Typed (`approve WORKFLOW`), the positional names the Workflow whose approval step waits; from
    a card's button it is the request's id.
    """
    return Verb(
        name=name,
        command=DecideCommand,
        summary=summary,
        area="rollbacks",
        execute=execute,
        positionals=(
            Positional("WORKFLOW" if typed else "APPROVAL_ID", "approval_id", values.subdomain("approval")),
        ),
        examples=examples,
        permission=(rbac.APPROVALS, rbac.ACTION_APPROVE),
        object_form=_APPROVAL_OBJECT,
        writes=True,
        typed=typed,
        target=None if prechecked else (lambda command, cluster: None),
    )


VERBS = (
    Verb(
        name="rollback",
        command=RollbackCommand,
        summary="Ask to roll an application back (default: to the previous deploy); runs after approval.",
        area="rollbacks",
        execute=request_rollback,
        positionals=(
            app_verbs.APP,
            Positional("HISTORY_ID", "history_id", values.history_id, required=False),
        ),
        options=(
            Option(
                ("--reason",),
                "reason",
                "why, shown to the approvers (quote it)",
                metavar="TEXT",
                check=values.reason,
            ),
            Option(
                ("--cluster",),
                "cluster",
                "the cluster the application deploys to",
                metavar="C",
                check=values.label("cluster"),
            ),
        ),
        examples=(
            "{command} rollback payments-api",
            '{command} rollback payments-api 41 --reason "5xx after v1.4.2"',
        ),
        permission=(rbac.APPLICATIONS, rbac.ACTION_ROLLBACK),
        object_form=app_verbs.OBJECT_FORM,
        scope="destination",
        writes=True,
    ),
    # checked once the request is read: a Workflow's approval step needs `workflows, approve`
    _decide_verb(
        "approve",
        "Approve the approval step a Workflow waits at (cards have an Approve button too).",
        decide,
        prechecked=False,
        typed=True,
        examples=("{command} approve release-x7k2p",),
    ),
    _decide_verb(
        "reject",
        "Reject the approval step a Workflow waits at, which stops it (cards have a Reject button too).",
        decide,
        prechecked=False,
        typed=True,
        examples=("{command} reject release-x7k2p",),
    ),
    _decide_verb(
        "complete-approval", "Carry out a request approved but not yet carried out.", complete_approval
    ),
)
