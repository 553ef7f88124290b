"""The Argo Workflows verbs: templates, run, runs, status, logs, stop, terminate, retry.

Each function is one use case, composed from the Argo adapter, the run store, the tracker and
the policy. Permission comes before existence: a workflow the person may not touch and a
workflow that does not exist get the same answer, which names the permission and not the
template behind the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.argo import workflows
from bot.argo.parameters import check_parameters
from bot.commands import grammar
from bot.config import ClusterSettings
from bot.errors import KubeNotFound, PermissionDenied, UserError
from bot.model import Actor, Origin, Reply, Visibility
from bot.rbac import policy as rbac
from bot.rbac.enforcer import Enforcer
from bot.render import texts
from bot.store import records
from bot.tracking import progress

RUNS_DEFAULT_LIMIT = 10


class Clusters(Protocol):
    def api_client(self, name: str) -> Any: ...


class RunWriter(Protocol):
    """What recording and submitting a run needs."""

    def create(
        self,
        *,
        kind: str,
        cluster: str,
        namespace: str,
        requester_id: str,
        channel_id: str,
        now: datetime,
        requester_name: str = "",
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> records.Run: ...

    def update_progress(
        self,
        run_id: str,
        *,
        now: datetime,
        phase: str = ...,
        message: str = ...,
        name: str | None = ...,
        k8s_uid: str | None = ...,
    ) -> records.Run: ...


class RunBook(RunWriter, Protocol):
    def get(self, run_id: str) -> records.Run | None: ...

    def recent(
        self,
        *,
        requester_id: str | None = None,
        template: str | None = None,
        kind: str | None = None,
        limit: int = 20,
    ) -> list[records.Run]: ...


class RunTracker(Protocol):
    def start_run(self, run: records.Run) -> records.Run: ...


class LogLinks(Protocol):
    def presign_get(self, key: str, *, expires: int | None = None) -> str: ...

    def read_tail(self, key: str, *, lines: int) -> str: ...


def _hidden(*, verb: str, name: str, cluster: str, namespace: str, action: str) -> PermissionDenied:
    """The one answer for "no such workflow" and "not yours to touch"."""
    return PermissionDenied(
        f"There is no workflow `{name}` in `{cluster}/{namespace}` that you may `{verb}`: "
        f"check the name, or ask an admin for `workflows, {action}`",
        resource=rbac.WORKFLOWS,
        action=action,
        obj=f"{cluster}/{namespace}/{name}",
    )


def _lookup(
    *,
    api: Any,
    enforcer: Enforcer,
    actor: Actor,
    cluster: str,
    namespace: str,
    name: str,
    verb: str,
    action: str,
) -> dict[str, Any]:
    """Read a workflow and check the person may act on it, revealing nothing when they may not."""
    hidden = _hidden(verb=verb, name=name, cluster=cluster, namespace=namespace, action=action)
    try:
        workflow = workflows.get_workflow(api, namespace=namespace, name=name)
    except KubeNotFound:
        raise hidden from None
    template = workflows.template_of(workflow) or "*"
    obj = rbac.workflow_object(cluster=cluster, namespace=namespace, template=template)
    if not enforcer.can(actor.subjects, resource=rbac.WORKFLOWS, action=action, obj=obj):
        raise hidden
    return workflow


def list_templates(
    command: grammar.TemplatesCommand,
    *,
    actor: Actor,
    cluster: ClusterSettings,
    enforcer: Enforcer,
    clusters: Clusters,
) -> Reply:
    namespace = cluster.workflows_namespace
    found = workflows.list_templates(clusters.api_client(cluster.name), namespace=namespace)
    mine = [
        t
        for t in found
        if enforcer.can(
            actor.subjects,
            resource=rbac.WORKFLOWS,
            action=rbac.ACTION_RUN,
            obj=rbac.workflow_object(cluster=cluster.name, namespace=namespace, template=t.name),
        )
    ]
    return texts.templates_reply(mine, cluster=cluster.name, namespace=namespace)


def run_template(
    command: grammar.RunCommand,
    *,
    actor: Actor,
    origin: Origin,
    cluster: ClusterSettings,
    clusters: Clusters,
    runs: RunBook,
    tracker: RunTracker,
    now: datetime,
    slash: str,
) -> Reply:
    """Submit a Workflow from a template (permission was checked on its precise object)."""
    namespace = command.namespace or cluster.workflows_namespace
    api = clusters.api_client(cluster.name)
    try:
        template = workflows.get_template(api, namespace=namespace, name=command.template)
    except KubeNotFound:
        raise UserError(
            f"There is no WorkflowTemplate `{command.template}` in `{cluster.name}/{namespace}`. "
            f"Type `{slash} templates --cluster {cluster.name}` to see the ones you may run."
        ) from None
    values = check_parameters(template.params, command.params)
    return _submit(
        template=template.name,
        values=values,
        actor=actor,
        origin=origin,
        cluster=cluster.name,
        namespace=namespace,
        api=api,
        runs=runs,
        tracker=tracker,
        now=now,
    )


def submit_tracked(
    *,
    api: Any,
    runs: RunWriter,
    tracker: RunTracker,
    template: str,
    values: Mapping[str, str],
    cluster: str,
    namespace: str,
    requester_id: str,
    requester_name: str,
    requested_by: str,
    channel_id: str,
    now: datetime,
) -> records.Run:
    """Record a run, submit its Workflow and start following it; the one path for `run`,
    `retry` and scheduled runs.

    The run row comes first, so a crash mid-submit leaves a trace; a refused submission
    marks it Error before the error goes on.
    """
    run = runs.create(
        kind=records.RUN_WORKFLOW,
        cluster=cluster,
        namespace=namespace,
        requester_id=requester_id,
        requester_name=requester_name,
        channel_id=channel_id,
        now=now,
        template=template,
        parameters=dict(values),
    )
    try:
        ref = workflows.submit_workflow(
            api,
            namespace=namespace,
            template=template,
            parameters=values,
            labels={workflows.LABEL_RUN_ID: run.id, workflows.LABEL_REQUESTER: requester_id},
            annotations={
                workflows.ANNOTATION_REQUESTED_BY: requested_by,
                workflows.ANNOTATION_CHANNEL: channel_id,
            },
        )
    except Exception:
        runs.update_progress(run.id, now=now, phase="Error", message="the cluster refused the submission")
        raise
    run = runs.update_progress(run.id, now=now, name=ref.name, k8s_uid=ref.uid)
    return tracker.start_run(run)


def _submit(
    *,
    template: str,
    values: Mapping[str, str],
    actor: Actor,
    origin: Origin,
    cluster: str,
    namespace: str,
    api: Any,
    runs: RunBook,
    tracker: RunTracker,
    now: datetime,
) -> Reply:
    run = submit_tracked(
        api=api,
        runs=runs,
        tracker=tracker,
        template=template,
        values=values,
        cluster=cluster,
        namespace=namespace,
        requester_id=actor.user_id,
        requester_name=actor.name,
        requested_by=actor.email or actor.name,
        channel_id=origin.channel_id,
        now=now,
    )
    return Reply(
        text=f":rocket: Submitted `{run.name}` from `{template}` on `{cluster}/{namespace}`. "
        "Its progress follows in the channel thread."
    )


def show_status(
    command: grammar.StatusCommand,
    *,
    actor: Actor,
    cluster: ClusterSettings,
    enforcer: Enforcer,
    clusters: Clusters,
) -> Reply:
    namespace = command.namespace or cluster.workflows_namespace
    workflow = _lookup(
        api=clusters.api_client(cluster.name),
        enforcer=enforcer,
        actor=actor,
        cluster=cluster.name,
        namespace=namespace,
        name=command.workflow,
        verb="status",
        action=rbac.ACTION_GET,
    )
    state = progress.workflow_state(workflow)
    return texts.status_reply(name=command.workflow, cluster=cluster.name, namespace=namespace, state=state)


def show_logs(
    command: grammar.LogsCommand,
    *,
    actor: Actor,
    cluster: ClusterSettings,
    enforcer: Enforcer,
    clusters: Clusters,
    links: LogLinks | None,
    tail_lines: int,
) -> Reply:
    namespace = command.namespace or cluster.workflows_namespace
    workflow = _lookup(
        api=clusters.api_client(cluster.name),
        enforcer=enforcer,
        actor=actor,
        cluster=cluster.name,
        namespace=namespace,
        name=command.workflow,
        verb="logs",
        action=rbac.ACTION_LOGS,
    )
    if links is None:
        raise UserError("Step logs are not archived for this bot (no `logs` section in its config).")
    state = progress.workflow_state(workflow)
    steps = [s for s in state.steps if command.step is None or s.name == command.step]
    if command.step is not None and not steps:
        known = ", ".join(f"`{s.name}`" for s in state.steps) or "none yet"
        raise UserError(f"`{command.workflow}` has no step `{command.step}`. Its steps: {known}.")
    urls = {s.name: links.presign_get(s.log_key) for s in steps if s.log_key}
    tail = None
    if command.step is not None and steps[0].log_key:
        tail = links.read_tail(steps[0].log_key, lines=tail_lines)
    return texts.logs_reply(name=command.workflow, steps=steps, urls=urls, tail=tail)


def shut_down(
    command: grammar.StopCommand | grammar.TerminateCommand,
    *,
    actor: Actor,
    cluster: ClusterSettings,
    enforcer: Enforcer,
    clusters: Clusters,
) -> Reply:
    namespace = command.namespace or cluster.workflows_namespace
    api = clusters.api_client(cluster.name)
    action = rbac.ACTION_STOP if isinstance(command, grammar.StopCommand) else rbac.ACTION_TERMINATE
    workflow = _lookup(
        api=api,
        enforcer=enforcer,
        actor=actor,
        cluster=cluster.name,
        namespace=namespace,
        name=command.workflow,
        verb=command.verb,
        action=action,
    )
    if progress.workflow_state(workflow).is_final:
        raise UserError(f"`{command.workflow}` has already finished; there is nothing to {command.verb}.")
    strategy: workflows.ShutdownStrategy = "Stop" if action == rbac.ACTION_STOP else "Terminate"
    workflows.set_shutdown(api, namespace=namespace, name=command.workflow, strategy=strategy)
    how = "stop (exit handlers still run)" if strategy == "Stop" else "terminate (nothing more runs)"
    return Reply(
        text=(
            f":octagonal_sign: <@{actor.user_id}> asked `{command.workflow}` "
            f"on `{cluster.name}/{namespace}` to {how}."
        ),
        visibility=Visibility.IN_CHANNEL,
    )


def retry_run(
    command: grammar.RetryCommand,
    *,
    actor: Actor,
    origin: Origin,
    cluster: ClusterSettings,
    enforcer: Enforcer,
    clusters: Clusters,
    runs: RunBook,
    tracker: RunTracker,
    now: datetime,
) -> Reply:
    """Submit the same template again with the parameters the workflow ran with."""
    namespace = command.namespace or cluster.workflows_namespace
    api = clusters.api_client(cluster.name)
    workflow = _lookup(
        api=api,
        enforcer=enforcer,
        actor=actor,
        cluster=cluster.name,
        namespace=namespace,
        name=command.workflow,
        verb="retry",
        action=rbac.ACTION_RETRY,
    )
    template = workflows.template_of(workflow)
    if template is None:
        raise UserError(
            f"`{command.workflow}` was not started from a WorkflowTemplate, so it cannot be retried here."
        )
    return _submit(
        template=template,
        values=workflows.submitted_parameters(workflow),
        actor=actor,
        origin=origin,
        cluster=cluster.name,
        namespace=namespace,
        api=api,
        runs=runs,
        tracker=tracker,
        now=now,
    )


def list_runs(command: grammar.RunsCommand, *, actor: Actor, enforcer: Enforcer, runs: RunBook) -> Reply:
    found = runs.recent(
        requester_id=actor.user_id if command.mine else None,
        template=command.template,
        kind=records.RUN_WORKFLOW,
        limit=100,
    )
    visible: Sequence[records.Run] = [
        run
        for run in found
        if enforcer.can(
            actor.subjects,
            resource=rbac.WORKFLOWS,
            action=rbac.ACTION_GET,
            obj=rbac.workflow_object(
                cluster=run.cluster, namespace=run.namespace, template=run.template or "*"
            ),
        )
    ][: command.limit or RUNS_DEFAULT_LIMIT]
    return texts.runs_reply(visible, mine=command.mine)
