"""What the leader runs while it leads: the outbox deliverer, the watches, and the leader-only jobs.

Built anew each time this replica becomes the leader (`Following` calls it): a new leader
first resumes the runs it has not seen end (from the database), then delivers what is pending
in the outbox whichever replica enqueued it, and follows every cluster with one
list-then-watch stream for the Workflows of its namespace (the bot's, and those subscribed
channels hear about), one per Argo CD host for the Applications, and one per cluster for the
Argo Rollouts of every namespace (a Rollout lives in its app's namespace, not the Workflows'
one; the bot's commands mark theirs with the run that follows them). Deleted objects are not
news for a thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.argo import cd, rollouts, workflows
from bot.argo.watching import ResourceWatcher
from bot.config import ClusterSettings
from bot.periodic import Periodic
from bot.tracking.conditions import AppConditionWatch
from bot.tracking.follower import Follower
from bot.tracking.following import Stream

DELETED = "DELETED"


class LeaderStreams:
    """`Following`'s stream factory.

    Args:
        follower: the follower the watch events go to.
        clusters: the configured clusters (Workflows on each; Applications where Argo CD runs).
        api_client: the Kubernetes client of a cluster, by name.
        deliverer: builds the outbox deliverer.
        extra: builds the other leader-only streams (schedules, the approval sweep).
        all_workflows: watch every Workflow of the namespace (for subscriptions), not only the
            ones labelled with a run id.
        conditions: told every Application too (health episodes, lasting OutOfSync), and
            looked at again every `conditions.tick_every` seconds.
        watch_rollouts: one watch of the Rollouts of every namespace per cluster, for the
            threads of the rollout commands.
    """

    def __init__(
        self,
        *,
        follower: Follower,
        clusters: Sequence[ClusterSettings],
        api_client: Callable[[str], Any],
        deliverer: Callable[[], Stream],
        extra: Callable[[], Sequence[Stream]] = tuple,
        all_workflows: bool = True,
        conditions: AppConditionWatch | None = None,
        watch_rollouts: bool = True,
    ) -> None:
        self._follower = follower
        self._clusters = list(clusters)
        self._api_client = api_client
        self._deliverer = deliverer
        self._extra = extra
        self._all_workflows = all_workflows
        self._conditions = conditions
        self._watch_rollouts = watch_rollouts

    def __call__(self) -> list[Stream]:
        self._follower.resume()
        streams: list[Stream] = [self._deliverer()]
        streams += [
            ResourceWatcher(
                self._api_client(cluster.name),
                cluster=cluster.name,
                group=workflows.GROUP,
                version=workflows.VERSION,
                plural=workflows.WORKFLOWS,
                namespace=namespace,
                # every Workflow (not only the bot's): the same one stream also serves the
                # channels subscribed to Workflows submitted elsewhere
                label_selector=None if self._all_workflows else workflows.LABEL_RUN_ID,
                on_event=functools.partial(self._on_workflow, cluster.name),
            )
            for cluster in self._clusters
            for namespace in self._workflow_namespaces(cluster)
        ]
        streams += [
            ResourceWatcher(
                self._api_client(cluster.name),
                cluster=cluster.name,
                group=cd.GROUP,
                version=cd.VERSION,
                plural=cd.APPLICATIONS,
                namespace=cluster.argocd_namespace,
                on_event=functools.partial(self._on_application, cluster.name),
            )
            for cluster in self._clusters
            if cluster.argocd_namespace
        ]
        if self._watch_rollouts:
            streams += [
                ResourceWatcher(
                    self._api_client(cluster.name),
                    cluster=cluster.name,
                    group=rollouts.GROUP,
                    version=rollouts.VERSION,
                    plural=rollouts.ROLLOUTS,
                    namespace=None,
                    on_event=functools.partial(self._on_rollout, cluster.name),
                )
                for cluster in self._clusters
                if rollouts.served(self._api_client(cluster.name))
            ]
        if self._conditions is not None:
            self._conditions.reset()  # another leader may have told things meanwhile
            every = self._conditions.tick_every
            streams.append(Periodic(self._conditions.tick, interval=every, name="app-conditions"))
        return [*streams, *self._extra()]

    def _workflow_namespaces(self, cluster: ClusterSettings) -> Sequence[str | None]:
        """One watch per watched namespace, or one cluster-wide (None) for `watch_namespaces: ['*']`."""
        if not self._all_workflows:
            return (cluster.workflows_namespace,)
        watched = cluster.watched_namespaces()
        return (None,) if watched is None else watched

    def _on_workflow(self, cluster: str, kind: str, obj: Mapping[str, Any]) -> None:
        if kind != DELETED:
            self._follower.on_workflow(cluster, obj)

    def _on_rollout(self, cluster: str, kind: str, obj: Mapping[str, Any]) -> None:
        if kind != DELETED:
            self._follower.on_rollout(cluster, obj)

    def _on_application(self, cluster: str, kind: str, obj: Mapping[str, Any]) -> None:
        if kind == DELETED:
            if self._conditions is not None:
                self._conditions.on_deleted(cluster, obj)
            return
        self._follower.on_application(cluster, obj)
        if self._conditions is not None:
            self._conditions.on_application(cluster, obj)
