"""Rollbacks that run only after someone approves them with a button (PRODUCT.md §6).

`request_rollback` checks the requester may roll the app back, picks the history entry, refuses
what Argo CD would refuse (auto-sync on, unless the bot is configured to turn it off), records
an approval request and posts its card. `decide` handles a click on Approve or Reject: the
button carries only the approval id, the request is re-read from the database, the clicker's
permission is checked again, and the atomic decision in the store guarantees one rollback even
when two approvers click at once. The approved rollback is then followed like any sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.approvals.service import ApprovalService, approver_check
from bot.argo import cd
from bot.commands import app_verbs, grammar, targets
from bot.config import Settings
from bot.errors import BotError, UserError
from bot.model import Actor, Origin, Reply
from bot.rbac import policy as rbac
from bot.rbac.enforcer import Enforcer
from bot.render import approvals as render_approvals
from bot.store import records
from bot.tracking import sync_tracker

log = logging.getLogger(__name__)


class CardPoster(Protocol):
    def post(self, *, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None = None) -> str: ...

    def update(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]] | None = None
    ) -> None: ...


def request_rollback(
    command: grammar.RollbackCommand,
    *,
    actor: Actor,
    origin: Origin,
    settings: Settings,
    enforcer: Enforcer,
    clusters: app_verbs.Clusters,
    approvals: ApprovalService,
    cards: CardPoster,
    now: datetime,
    note_object: Callable[[str], None],
) -> Reply:
    found = app_verbs.find_app(
        command.app,
        action=rbac.ACTION_ROLLBACK,
        verb="rollback",
        destination=command.cluster,
        actor=actor,
        settings=settings,
        enforcer=enforcer,
        clusters=clusters,
    )
    note_object(found.obj)
    destination = settings.cluster(found.destination)
    if destination is not None:
        refusal = targets.channel_refusal(destination, origin.channel_id)
        if refusal:
            raise UserError(refusal)
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
    if detail.summary.auto_sync and not settings.approvals.disable_auto_sync_on_rollback:
        raise UserError(
            f"Argo CD refuses it: rollback cannot be initiated when auto-sync is enabled on `{command.app}`. "
            "Turn automated sync off first (argocd app set APP --sync-policy none), then ask again."
        )
    channel = settings.slack.approvals_channel or origin.channel_id
    approval = approvals.request_rollback(
        actor=actor,
        channel_id=channel,
        cluster=found.destination,
        project=detail.summary.project,
        app=command.app,
        target=target,
        current=current,
        reason=command.reason or "",
    )
    text, blocks = render_approvals.render_request(approval, now=now)
    ts = cards.post(channel=channel, text=text, blocks=blocks)
    approvals.set_message(approval.id, message_ts=ts)
    return Reply(
        text=(
            f":hourglass: Rollback of `{command.app}` to history {target.id} "
            f"(`{target.revision[:12]}`) requested. "
            f"It runs once someone who may approve it clicks Approve in <#{channel}>."
        )
    )


def decide(
    *,
    approval_id: str,
    approve: bool,
    actor: Actor,
    settings: Settings,
    enforcer: Enforcer,
    clusters: app_verbs.Clusters,
    approvals: ApprovalService,
    cards: CardPoster,
    runs: app_verbs.SyncRunBook,
    tracker: app_verbs.SyncStarter,
    now: datetime,
) -> tuple[Reply, str]:
    """One click on Approve or Reject; returns the clicker's reply and the outcome for the audit."""
    decision = approvals.decide(
        approval_id=approval_id, clicker=actor, approve=approve, can_approve=approver_check(enforcer, actor)
    )
    approval = decision.approval
    if decision.outcome == "refused" or approval is None:
        return Reply(text=f":no_entry: {decision.message}"), "refused"
    if decision.outcome == "rejected":
        _replace_card(cards, approval)
        return Reply(text=f":white_check_mark: {decision.message}"), "rejected"
    try:
        run = _execute(approval, approver=actor, settings=settings, clusters=clusters, runs=runs, now=now)
    except (BotError, ValueError) as exc:
        failed = approvals.mark_failed(approval.id, message=str(exc)) or approval
        _replace_card(
            cards, failed, detail=str(exc) if isinstance(exc, UserError) else "the rollback could not start"
        )
        log.error("approved rollback %s could not start: %s", approval.id, exc)
        return Reply(text=":x: Approved, but the rollback could not start; the card says why."), "failed"
    executed = approvals.mark_executed(approval.id, run_id=run.id) or approval
    _replace_card(cards, executed)
    tracker.start_sync(run)
    return Reply(text=f":white_check_mark: {decision.message}"), "approved"


def _replace_card(cards: CardPoster, approval: records.Approval, *, detail: str | None = None) -> None:
    if not approval.message_ts:
        return
    text, blocks = render_approvals.render_decided(approval, detail=detail)
    cards.update(channel=approval.channel_id, ts=approval.message_ts, text=text, blocks=blocks)


def _execute(
    approval: records.Approval,
    *,
    approver: Actor,
    settings: Settings,
    clusters: app_verbs.Clusters,
    runs: app_verbs.SyncRunBook,
    now: datetime,
) -> records.Run:
    """Write the rollback operation on the Argo CD that manages the app, as a tracked run."""
    from bot.approvals.flow import history_ids

    _, to_id = history_ids(approval)
    for host in app_verbs.argocd_hosts(settings):
        assert host.argocd_namespace is not None
        api = clusters.api_client(host.name)
        try:
            detail = cd.get_app(api, namespace=host.argocd_namespace, name=approval.app)
        except BotError:
            continue
        mapping = app_verbs.destinations_for(host, settings)
        if (
            cd.object_for(detail.summary, cluster_name_of_destination=mapping).split("/", 1)[0]
            != approval.cluster
        ):
            continue
        run = runs.create(
            kind=records.RUN_ROLLBACK,
            cluster=host.name,
            namespace=host.argocd_namespace,
            requester_id=approval.requester_id,
            requester_name=approval.requester_name,
            channel_id=approval.channel_id,
            now=now,
            template=approval.app,
            parameters={
                sync_tracker.DESTINATION_PARAMETER: approval.cluster,
                "approved_by": approver.user_id,
            },
        )
        cd.request_rollback(
            api,
            namespace=host.argocd_namespace,
            name=approval.app,
            history_id=to_id,
            username=f"{approval.requester_name} (approved by {approver.email or approver.name})",
            disable_auto_sync=settings.approvals.disable_auto_sync_on_rollback,
            info=sync_tracker.operation_info(run.id),
        )
        return runs.update_progress(
            run.id, now=now, name=f"{approval.app}@{run.id[: app_verbs.RUN_NAME_ID_CHARS]}"
        )
    raise UserError(f"`{approval.app}` is no longer managed by a configured Argo CD.")
