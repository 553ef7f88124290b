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

    def may_see(self, subscription: Subscription, *, resource: str, obj: str, cluster: str | None) -> bool:
        deps = self._deps
        if deps is None:
            return False
        origin = Origin(
            surface=Surface.SUBSCRIPTION,
            channel_id=subscription.channel_id,
            user_id=subscription.created_by,
            text=f"subscription {subscription.id}",
        )
        try:
            actor = pipeline.admit(self._directory.actor(subscription.created_by), origin, deps)
        except (PermissionDenied, BotError) as exc:
            log.info(
                "subscription %s: its creator is not admitted now (%s); nothing posted", subscription.id, exc
            )
            return False
        if resource == rbac.WORKFLOWS and cluster:
            settings = deps.settings.cluster(cluster)
            if settings is not None and channel_refusal(settings, subscription.channel_id):
                log.info(
                    "subscription %s: cluster %s takes no Workflow reads in this channel; nothing posted",
                    subscription.id,
                    cluster,
                )
                return False
        if deps.policy.current().can(actor.subjects, resource=resource, action=rbac.ACTION_GET, obj=obj):
            return True
        log.info(
            "subscription %s: its creator may not get %s, so nothing is posted about it", subscription.id, obj
        )
        return False
