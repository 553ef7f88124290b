"""Syncs the bot did not start, followed in the channels subscribed to them.

The leader's Applications watch hands every Application it sees to the follower; one with an
operation that carries no `chatops-run` marker was started elsewhere (Git, automated sync,
the Argo CD UI). `SubscribedSyncs.runs_for` finds the subscriptions it matches and returns,
per subscribed channel, the run that follows that operation there, creating it the first
time. The run id is derived from the channel and the operation (host cluster, namespace, app,
`operationState.startedAt`), so a re-list after a restart or on a new leader finds the same
run, and the follower continues the same thread and posts one final (the outbox keys derive
from the run id).

When the thread starts:
- with `sync-started`, as soon as the controller runs the operation;
- with only `sync-succeeded` / `sync-failed`, once the outcome is known and only for the
  wanted outcome: the parent then appears in its final state, with the summary. A finished
  operation older than `late` (or than the subscription) is history, not news: a re-list
  of hundreds of apps after a restart posts nothing old.

Nobody sees more than the creator could: before a run is created for a subscription, the
`Audience` (`bot.actions.subscribers`, the pipeline's own checks) judges its creator as a typed
command would: resolved again, admitted, their `applications, get` on the precise app
(`<destination cluster>/<project>/<app>`, `*` for an unmapped destination) with the policy in
force, and for Workflows the cluster's channel binding; when refused, nothing is posted for
that subscription.

Who started it is kept in the run: the Slack user whose e-mail is the operation's
`initiatedBy.username` (so the thread @-mentions them), and the initiator as Argo CD names it
("automated" with the revision for an automated sync).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot import subscribing
from bot.applications import as_mapping, as_text, initiator_of
from bot.argo import cd
from bot.argo.workflows import LABEL_RUN_ID as WORKFLOW_LABEL_RUN_ID
from bot.errors import BotError, StorageError
from bot.model import Actor
from bot.rbac import policy as rbac
from bot.records import (
    FOLLOWED_OPERATION,
    FOLLOWED_WORKFLOW,
    RUN_SYNC,
    RUN_WORKFLOW,
    SUBSCRIPTION_APPS,
    Run,
    Subscription,
)
from bot.tracking import sync_progress
from bot.tracking.progress import parse_time
from bot.tracking.sync_tracker import (
    DESTINATION_PARAMETER,
    INITIATED_BY_PARAMETER,
    SUBSCRIPTION_PARAMETER,
    run_id_of,
)

log = logging.getLogger(__name__)

DEFAULT_LATE = timedelta(minutes=15)


class SubscriptionSource(Protocol):
    """Every subscription (`bot.store.subscriptions.SubscriptionBook` fits)."""

    def all(self) -> list[Subscription]: ...


class RunMaker(Protocol):
    """The run store (`bot.store.repos.RunRepo` fits)."""

    def get(self, run_id: str) -> Run | None: ...

    def create(
        self,
        *,
        kind: str,
        cluster: str,
        namespace: str,
        requester_id: str,
        channel_id: str,
        now: datetime,
        requester_name: str = ...,
        template: str | None = ...,
        parameters: Mapping[str, Any] | None = ...,
        revision: str | None = ...,
        name: str | None = ...,
        phase: str = ...,
        run_id: str | None = ...,
    ) -> Run: ...


class People(Protocol):
    """Who a Slack user is, and who has an e-mail (`bot.slack.directory.SlackDirectory` fits)."""

    def actor(self, user_id: str) -> Actor: ...

    def user_id_by_email(self, email: str) -> str | None: ...


class Audience(Protocol):
    """May a subscription's creator see this object in its channel now (`bot.actions.subscribers`)."""

    def may_see(
        self, subscription: Subscription, *, resource: str, obj: str, cluster: str | None, what: str
    ) -> bool:
        """Judged, and audited, each time a subscription is about to post something new (`what`)."""
        ...


def outcome_trigger(phase: str) -> str | None:
    """The trigger a final sync phase stands for (None while it runs)."""
    if phase == sync_progress.PHASE_SUCCEEDED:
        return subscribing.SYNC_SUCCEEDED
    if phase in (sync_progress.PHASE_FAILED, sync_progress.PHASE_ERROR):
        return subscribing.SYNC_FAILED
    return None


def initiator_label(operation: Mapping[str, Any], revision: str) -> str:
    """How the thread names who started it: a username, or "automated" with the revision."""
    who = initiator_of(operation.get("initiatedBy"))
    if who == "automated" and revision:
        return f"automated (revision {revision[:12]})"
    return who or "someone outside the bot"


def starts_thread(
    subscription: Subscription, *, started: str, outcome: str | None, finished_at: object, oldest: datetime
) -> bool:
    """Whether a subscription starts a thread for an operation as it stands now.

    Running: only with its `started` trigger. Ended: only for a wanted outcome, and only when it
    ended after `oldest` and not before the subscription existed (a re-list after a restart
    is history, not news).
    """
    if outcome is None:
        return started in subscription.triggers
    if outcome not in subscription.triggers:
        return False
    finished = parse_time(finished_at)
    if finished is None:
        return False
    finished = finished if finished.tzinfo else finished.replace(tzinfo=UTC)
    # Argo CD writes whole seconds: an operation that ended in the second the subscription
    # was made is news, not history
    since = subscription.created_at.replace(microsecond=0)
    return finished >= oldest and finished >= since


class SubscribedSyncs:
    """The follower's source of runs for syncs started elsewhere (see the module docstring).

    Args:
        subscriptions: every subscription (stored and config).
        runs: the run store.
        people: maps an initiator's e-mail to a Slack user.
        audience: whether a subscription's creator may see an app (the pipeline's checks).
        destinations: host cluster -> {Argo CD destination -> the bot's cluster name}.
        clock: the current UTC time.
        late: a finished operation older than this is not posted.
    """

    def __init__(
        self,
        *,
        subscriptions: SubscriptionSource,
        runs: RunMaker,
        people: People,
        audience: Audience,
        destinations: Callable[[str], Mapping[str, str]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        late: timedelta = DEFAULT_LATE,
    ) -> None:
        self._subscriptions = subscriptions
        self._runs = runs
        self._people = people
        self._audience = audience
        self._destinations = destinations
        self._clock = clock
        self._late = late

    def runs_for(self, host_cluster: str, obj: Mapping[str, Any]) -> list[str]:
        """The ids of the runs following this Application's outside operation, one per channel."""
        if run_id_of(obj) is not None:
            return []  # the bot's own sync: followed by its marker
        status = as_mapping(obj.get("status"))
        state = as_mapping(status.get("operationState"))
        started = as_text(state.get("startedAt"))
        phase = as_text(state.get("phase"))
        if not started or not phase:
            return []
        outcome = outcome_trigger(phase)
        if isinstance(obj.get("operation"), Mapping) and outcome is not None:
            return []  # finishing, or a new operation not started yet: the next event says which
        apps = [
            s
            for s in self._all()
            if s.kind == SUBSCRIPTION_APPS and any(t in subscribing.SYNC_TRIGGERS for t in s.triggers)
        ]
        if not apps:
            return []
        meta = as_mapping(obj.get("metadata"))
        spec = as_mapping(obj.get("spec"))
        name, namespace = as_text(meta.get("name")), as_text(meta.get("namespace"))
        project = as_text(spec.get("project")) or "default"
        destination = as_mapping(spec.get("destination"))
        shown_destination = as_text(destination.get("name")) or as_text(destination.get("server"))
        cluster = self._cluster_of(host_cluster, shown_destination)
        found: list[str] = []
        channels: set[str] = set()
        for subscription in apps:
            if subscription.channel_id in channels:
                continue
            if not subscribing.about_app(subscription, name=name, project=project, cluster=cluster):
                continue
            run_id = subscribing.followed_run_id(
                subscription.channel_id, host_cluster, namespace, name, started
            )
            if self._runs.get(run_id) is not None:
                found.append(run_id)
                channels.add(subscription.channel_id)
                continue
            if not self._wanted(subscription, state, outcome):
                continue
            obj_name = rbac.application_object(cluster=cluster or rbac.WILDCARD, project=project, app=name)
            if not self._audience.may_see(
                subscription, resource=rbac.APPLICATIONS, obj=obj_name, cluster=cluster, what="sync thread"
            ):
                continue
            run = self._create(
                run_id,
                subscription=subscription,
                host_cluster=host_cluster,
                namespace=namespace,
                name=name,
                destination=cluster or shown_destination,
                state=state,
            )
            if run is not None:
                found.append(run.id)
                channels.add(subscription.channel_id)
        return found

    # -- pieces ----------------------------------------------------------------------------

    def _all(self) -> list[Subscription]:
        """Read at each event that may matter (not cached: one added a second ago counts)."""
        return self._subscriptions.all()

    def _cluster_of(self, host_cluster: str, destination: str) -> str | None:
        return cd.destination_cluster(
            destination, cluster_name_of_destination=self._destinations(host_cluster)
        )

    def _wanted(self, subscription: Subscription, state: Mapping[str, Any], outcome: str | None) -> bool:
        """Whether this subscription starts a thread for the operation as it stands now."""
        return starts_thread(
            subscription,
            started=subscribing.SYNC_STARTED,
            outcome=outcome,
            finished_at=state.get("finishedAt"),
            oldest=self._clock() - self._late,
        )

    def _create(
        self,
        run_id: str,
        *,
        subscription: Subscription,
        host_cluster: str,
        namespace: str,
        name: str,
        destination: str,
        state: Mapping[str, Any],
    ) -> Run | None:
        operation = as_mapping(state.get("operation"))
        revision = as_text(as_mapping(state.get("syncResult")).get("revision")) or as_text(
            as_mapping(operation.get("sync")).get("revision")
        )
        username = as_text(as_mapping(operation.get("initiatedBy")).get("username"))
        requester_id = self._slack_user(username) if "@" in username else None
        try:
            return self._runs.create(
                run_id=run_id,
                kind=RUN_SYNC,
                cluster=host_cluster,
                namespace=namespace,
                requester_id=requester_id or "",
                requester_name=username or "automated",
                channel_id=subscription.channel_id,
                now=self._clock(),
                template=name,
                name=f"{name}@{run_id[:8]}",
                revision=revision or None,
                parameters={
                    DESTINATION_PARAMETER: destination,
                    INITIATED_BY_PARAMETER: initiator_label(operation, revision),
                    SUBSCRIPTION_PARAMETER: subscription.id,
                    FOLLOWED_OPERATION: as_text(state.get("startedAt")),
                },
            )
        except StorageError:
            return self._runs.get(run_id)  # created meanwhile (by an earlier life of this leader)

    def _slack_user(self, email: str) -> str | None:
        try:
            return self._people.user_id_by_email(email)
        except BotError as exc:
            log.info("no Slack user looked up for a sync's initiator: %s", exc)
            return None


#: Where Argo Workflows names the template a Workflow came from when `workflowTemplateRef` is absent.
LABEL_WORKFLOW_TEMPLATE = "workflows.argoproj.io/workflow-template"
LABEL_CRON_WORKFLOW = "workflows.argoproj.io/cron-workflow"
LABEL_CREATOR_EMAIL = "workflows.argoproj.io/creator-email"
WORKFLOW_PARAMETER = FOLLOWED_WORKFLOW
_WORKFLOW_OUTCOMES = {
    "Succeeded": subscribing.WORKFLOW_SUCCEEDED,
    "Failed": subscribing.WORKFLOW_FAILED,
    "Error": subscribing.WORKFLOW_FAILED,
}


def template_of(obj: Mapping[str, Any]) -> str:
    """The template a Workflow came from: its WorkflowTemplate, else its CronWorkflow (whose spec
    is the template of every Workflow it submits), else "" (an inline Workflow)."""
    ref = as_text(as_mapping(as_mapping(obj.get("spec")).get("workflowTemplateRef")).get("name"))
    labels = as_mapping(as_mapping(obj.get("metadata")).get("labels"))
    return ref or as_text(labels.get(LABEL_WORKFLOW_TEMPLATE)) or as_text(labels.get(LABEL_CRON_WORKFLOW))


def submitter_label(obj: Mapping[str, Any]) -> str:
    """Who submitted it, as far as the Workflow says: its CronWorkflow, its creator's e-mail, else outside."""
    labels = as_mapping(as_mapping(obj.get("metadata")).get("labels"))
    cron = as_text(labels.get(LABEL_CRON_WORKFLOW))
    if cron:
        return f"CronWorkflow {cron}"
    # Argo Workflows writes the e-mail with `.at.` for `@` (a label value cannot hold `@`)
    email = as_text(labels.get(LABEL_CREATOR_EMAIL)).replace(".at.", "@")
    return email or "submitted outside the bot"


class SubscribedWorkflows:
    """The follower's source of runs for Workflows submitted elsewhere (Argo CLI, kubectl, CI, cron).

    Like `SubscribedSyncs`: one run per subscribed channel and Workflow (its uid), the same id
    on every replica and restart; `started` starts the thread while it runs, `failed` and
    `succeeded` once it ended (recently, and after the subscription); the creator's
    `workflows, get` on `<cluster>/<namespace>/<template>`, and the cluster's channel binding,
    are checked (`Audience`) before a thread starts.
    The run's `name` stays empty (several channels may follow one Workflow; run names are
    unique), and the Workflow's name is kept in its parameters for the messages.
    """

    def __init__(
        self,
        *,
        subscriptions: SubscriptionSource,
        runs: RunMaker,
        audience: Audience,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        late: timedelta = DEFAULT_LATE,
    ) -> None:
        self._subscriptions = subscriptions
        self._runs = runs
        self._audience = audience
        self._clock = clock
        self._late = late

    def runs_for(self, cluster: str, obj: Mapping[str, Any]) -> list[str]:
        """The ids of the runs following this Workflow in the subscribed channels."""
        meta = as_mapping(obj.get("metadata"))
        if WORKFLOW_LABEL_RUN_ID in as_mapping(meta.get("labels")):
            return []  # the bot's own run
        template = template_of(obj)
        uid = as_text(meta.get("uid"))
        if not template or not uid:
            return []
        namespace, name = as_text(meta.get("namespace")), as_text(meta.get("name"))
        labels = {str(k): str(v) for k, v in as_mapping(meta.get("labels")).items()}
        status = as_mapping(obj.get("status"))
        outcome = _WORKFLOW_OUTCOMES.get(as_text(status.get("phase")))
        shape = subscribing.WorkflowOperation(
            template=template, cluster=cluster, trigger=outcome or "", namespace=namespace, labels=labels
        )
        wanted = [s for s in self._subscriptions.all() if subscribing.about_workflow(s, shape)]
        if not wanted:
            return []
        found: list[str] = []
        channels: set[str] = set()
        for subscription in wanted:
            if subscription.channel_id in channels:
                continue
            run_id = subscribing.followed_run_id(subscription.channel_id, cluster, namespace, "workflow", uid)
            if self._runs.get(run_id) is None:
                if not self._starts(subscription, status, outcome):
                    continue
                obj_name = rbac.workflow_object(cluster=cluster, namespace=namespace, template=template)
                if not self._audience.may_see(
                    subscription,
                    resource=rbac.WORKFLOWS,
                    obj=obj_name,
                    cluster=cluster,
                    what="workflow thread",
                ):
                    continue
                try:
                    self._runs.create(
                        run_id=run_id,
                        kind=RUN_WORKFLOW,
                        cluster=cluster,
                        namespace=namespace,
                        requester_id="",
                        requester_name=submitter_label(obj),
                        channel_id=subscription.channel_id,
                        now=self._clock(),
                        template=template,
                        parameters={
                            WORKFLOW_PARAMETER: name,
                            INITIATED_BY_PARAMETER: submitter_label(obj),
                            SUBSCRIPTION_PARAMETER: subscription.id,
                            FOLLOWED_OPERATION: uid,
                        },
                    )
                except StorageError:
                    if self._runs.get(run_id) is None:
                        raise
            found.append(run_id)
            channels.add(subscription.channel_id)
        return found

    def _starts(self, subscription: Subscription, status: Mapping[str, Any], outcome: str | None) -> bool:
        return starts_thread(
            subscription,
            started=subscribing.WORKFLOW_STARTED,
            outcome=outcome,
            finished_at=status.get("finishedAt"),
            oldest=self._clock() - self._late,
        )


def is_subscribed_run(run: Run) -> bool:
    """A run that follows an operation started outside the bot (found again by `runs_for`)."""
    return SUBSCRIPTION_PARAMETER in (run.parameters or {})
