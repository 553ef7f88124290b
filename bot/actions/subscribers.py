"""What a subscription's creator may see now, decided by the pipeline's own checks.

A subscription posts about operations nobody typed a command for, on behalf of the person who
subscribed. Before a thread starts, that person is judged as the pipeline judges anyone who
asks: resolved again (their groups and e-mail as they are now), admitted (`pipeline.admit`:
bots, people of other workspaces and guests are treated as a typed command would treat them),
then their `get` on the precise object with the policy in force, and for Workflows the
cluster's channel binding (Workflows are read only in their cluster's channels; apps are not
bound, as for `apps`). So a subscription shows nobody more than its creator could see by asking.
"""

from __future__ import annotations

import logging

from bot import records
from bot.actions import pipeline, ports
from bot.actions.context import Deps, channel_refusal
from bot.errors import BotError, PermissionDenied
from bot.model import Origin, Surface
from bot.rbac import policy as rbac
from bot.records import Subscription

log = logging.getLogger(__name__)


class SubscriberAudience:
    """The follower's `Audience`: may this subscription's creator see this object in its channel?"""

    def __init__(self, *, directory: ports.Directory) -> None:
        self._directory = directory
        self._deps: Deps | None = None

    def bind(self, deps: Deps) -> None:
        """Connect the pipeline's dependencies (built after the follower that asks)."""
        self._deps = deps

    def may_see(
        self, subscription: Subscription, *, resource: str, obj: str, cluster: str | None, what: str
    ) -> bool:
        """Judge the creator now, and audit the decision as one line per thread or notice."""
        deps = self._deps
        if deps is None:
            return False
        origin = Origin(
            surface=Surface.SUBSCRIPTION,
            channel_id=subscription.channel_id,
            user_id=subscription.created_by,
            text=f"subscription {subscription.id}: {what}",
        )
        refusal = self._refusal(subscription, origin, deps, resource=resource, obj=obj, cluster=cluster)
        if refusal:
            log.info("subscription %s: %s; nothing posted", subscription.id, refusal)
        deps.audit.record(
            records.AuditEvent(
                at=deps.clock(),
                actor_id=subscription.created_by,
                channel_id=subscription.channel_id,
                command="subscription",
                text=origin.text,
                resource=resource,
                action=rbac.ACTION_GET,
                object=obj,
                decision=records.DECISION_DENY if refusal else records.DECISION_ALLOW,
                result=records.RESULT_REFUSED if refusal else records.RESULT_OK,
                detail=refusal or f"posted ({what})",
                reference=subscription.id,
            )
        )
        return not refusal

    def _refusal(
        self,
        subscription: Subscription,
        origin: Origin,
        deps: Deps,
        *,
        resource: str,
        obj: str,
        cluster: str | None,
    ) -> str:
        """Why the creator may not see `obj` in the subscription's channel now ("" when they may)."""
        try:
            actor = pipeline.admit(self._directory.actor(subscription.created_by), origin, deps)
        except (PermissionDenied, BotError) as exc:
            return f"its creator is not admitted now ({exc})"
        if resource == rbac.WORKFLOWS and cluster:
            settings = deps.settings.cluster(cluster)
            if settings is not None and channel_refusal(settings, subscription.channel_id):
                return f"cluster {cluster} takes no Workflow reads in this channel"
        if deps.policy.current().can(actor.subjects, resource=resource, action=rbac.ACTION_GET, obj=obj):
            return ""
        return f"its creator may not get {obj}"
