"""The leader's completion of approved requests, as one more entry point of the pipeline.

A request left `approved` (the process died after the click) is completed on behalf of the
person who approved it: their `approvals, approve` is checked again, the requester's own
permission too, and the audit row names them, exactly as if they had clicked just now.
"""

from __future__ import annotations

from bot.actions import pipeline, ports
from bot.actions.context import Deps
from bot.commands.grammar import Invocation
from bot.commands.rollback_verbs import DecideCommand
from bot.model import Actor, Origin, Surface
from bot.records import Approval

COMPLETE_VERB = "complete-approval"


class ApprovalCompletion:
    """The approval sweeper's `Completing` port."""

    def __init__(self, *, deps: Deps, directory: ports.Directory) -> None:
        self._deps = deps
        self._directory = directory

    def complete(self, approval: Approval) -> None:
        approver_id = approval.decided_by or approval.requester_id
        actor: Actor = self._directory.actor(approver_id)
        verb = self._deps.registry[COMPLETE_VERB]
        text = f"{COMPLETE_VERB} {approval.id}"
        origin = Origin(surface=Surface.SWEEP, channel_id=approval.channel_id, user_id=approver_id, text=text)
        pipeline.perform(
            Invocation(verb, DecideCommand(raw=text, approval_id=approval.id)),
            origin=origin,
            actor=actor,
            deps=self._deps,
            reference=pipeline.new_reference(),
        )
