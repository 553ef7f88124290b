"""A Workflow that waits at an approval step gets an approval card in its run's thread.

The follower sees a suspend step the Workflow was told to announce (the annotation
`argo-chatops/approval-steps`, which Argo copies from the WorkflowTemplate's
`spec.workflowMetadata`) and asks for a card here. The request is stored once per run and
node (its id derives from both), so every later event, a restart or a new leader finds the same
request and posts nothing new. Deciding it is a click on the card, through the pipeline like
any decision (`bot.commands.rollback_verbs`): `workflows, approve` on
`<cluster>/<namespace>/<template>`; Approve resumes that node as `argo resume` does, Reject
stops the Workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.announcing import PRIORITY_CARD, Announcer, card_key, parent_key
from bot.approvals.service import ApprovalService
from bot.records import APPROVAL_PENDING, Run
from bot.render import approvals as render_approvals
from bot.tracking.progress import WaitingStep


class StepApprovalCards:
    """The follower's `StepApprovals`: stores the request and posts its card in the run's thread."""

    def __init__(
        self,
        *,
        approvals: ApprovalService,
        cards: Announcer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._approvals = approvals
        self._cards = cards
        self._clock = clock

    def announce(self, run: Run, step: WaitingStep) -> None:
        approval = self._approvals.request_resume(
            run_id=run.id,
            cluster=run.cluster,
            namespace=run.namespace,
            workflow=run.name or run.id,
            template=run.template or "",
            node_id=step.node_id,
            step=step.name,
            requester_id=run.requester_id,
            requester_name=run.requester_name,
            channel_id=run.channel_id,
        )
        if approval.status != APPROVAL_PENDING:
            return  # decided already (an event replayed after the click)
        text, blocks = render_approvals.render_request(approval, now=self._clock())
        self._cards.post(
            key=card_key(approval.id),
            channel=run.channel_id,
            text=text,
            blocks=blocks,
            thread_key=parent_key(run.id),
            priority=PRIORITY_CARD,
        )
