"""The Argo Workflows verbs: templates, run, runs, status, logs, stop, terminate, retry.

Each verb is one record in `VERBS` and one use case, composed from the Argo adapter, the
launcher and the follower. Permission comes before existence: a workflow the person may not
touch and a workflow that does not exist get the same answer, which names the permission
and not the template behind the workflow (`_lookup` asks the pipeline for the precise check
once the workflow is read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot import records
from bot.actions.context import Context
from bot.actions.launcher import Plan
from bot.argo import workflows
from bot.argo.parameters import check_parameters
from bot.commands import values
from bot.commands.registry import Command, Option, Positional, Target, Verb
from bot.config import ClusterSettings
from bot.errors import KubeNotFound, NotEnabled, PermissionDenied, UserError
from bot.model import Reply, Visibility
from bot.rbac import policy as rbac
from bot.render import texts
from bot.tracking import progress

RUNS_DEFAULT_LIMIT = 10
OBJECT_FORM = "<cluster>/<namespace>/<template>"

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class TemplatesCommand(Command):
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunCommand(Command):
    template: str
    params: Params = ()
    cluster: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunsCommand(Command):
    mine: bool = False
    template: str | None = None
    limit: int | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowCommand(Command):
    """A command about one workflow run (status, logs, stop, terminate, retry)."""

    workflow: str
    cluster: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class StatusCommand(WorkflowCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class LogsCommand(WorkflowCommand):
    step: str | None = None


@dataclass(frozen=True, kw_only=True)
class StopCommand(WorkflowCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class TerminateCommand(WorkflowCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class RetryCommand(WorkflowCommand):
    pass


def _clients(ctx: Context) -> Any:
    if ctx.deps.clusters is None:
        raise NotEnabled(f"`{ctx.verb.name}` is not available in this bot's configuration.")
    return ctx.deps.clusters


def _cluster(ctx: Context) -> ClusterSettings:
    assert ctx.cluster is not None, "cluster verbs are resolved by the pipeline"
    return ctx.cluster


def _lookup(ctx: Context, *, name: str, namespace: str, action: str) -> dict[str, Any]:
    """Read a workflow and ask for the precise check, revealing nothing when it fails."""
    cluster = _cluster(ctx)
    denial = (
        f"There is no workflow `{name}` in `{cluster.name}/{namespace}` that you may `{ctx.verb.name}`: "
        f"check the name, or ask an admin for `workflows, {action}`"
    )
    hidden_obj = f"{cluster.name}/{namespace}/{name}"
    try:
        workflow = workflows.get_workflow(
            _clients(ctx).api_client(cluster.name), namespace=namespace, name=name
        )
    except KubeNotFound:
        raise PermissionDenied(denial, resource=rbac.WORKFLOWS, action=action, obj=hidden_obj) from None
    template = workflows.template_of(workflow) or "*"
    obj = rbac.workflow_object(cluster=cluster.name, namespace=namespace, template=template)
    ctx.require(resource=rbac.WORKFLOWS, action=action, obj=obj, cluster=cluster.name, denial=denial)
    return workflow


def list_templates(ctx: Context, command: TemplatesCommand) -> Reply:
    cluster = _cluster(ctx)
    namespace = cluster.workflows_namespace
    found = workflows.list_templates(_clients(ctx).api_client(cluster.name), namespace=namespace)
    mine = [
        t
        for t in found
        if ctx.can(
            resource=rbac.WORKFLOWS,
            action=rbac.ACTION_RUN,
            obj=rbac.workflow_object(cluster=cluster.name, namespace=namespace, template=t.name),
        )
    ]
    return texts.templates_reply(mine, cluster=cluster.name, namespace=namespace)


def run_template(ctx: Context, command: RunCommand) -> Reply:
    """Submit a Workflow from a template (permission was checked on its precise object)."""
    cluster = _cluster(ctx)
    namespace = command.namespace or cluster.workflows_namespace
    api = _clients(ctx).api_client(cluster.name)
    try:
        template = workflows.get_template(api, namespace=namespace, name=command.template)
    except KubeNotFound:
        raise UserError(
            f"There is no WorkflowTemplate `{command.template}` in `{cluster.name}/{namespace}`. "
            f"Type `{ctx.slash} templates --cluster {cluster.name}` to see the ones you may run."
        ) from None
    values_ = check_parameters(template.params, command.params)
    return submit(ctx, template=template.name, values=values_, namespace=namespace, api=api)


def submit(ctx: Context, *, template: str, values: Mapping[str, str], namespace: str, api: Any) -> Reply:
    """Launch a Workflow run from `template` on the context's cluster (run, retry, schedules)."""
    cluster = _cluster(ctx).name
    actor = ctx.actor
    launcher = ctx.deps.launcher
    if launcher is None:
        raise NotEnabled(f"`{ctx.verb.name}` is not available in this bot's configuration.")
    plan = Plan(
        kind=records.RUN_WORKFLOW,
        cluster=cluster,
        namespace=namespace,
        requester_id=actor.user_id,
        requester_name=actor.name,
        channel_id=ctx.origin.channel_id,
        template=template,
        parameters=dict(values),
    )

    def act(run: records.Run) -> str:
        ref = workflows.submit_workflow(
            api,
            namespace=namespace,
            template=template,
            parameters=values,
            labels={workflows.LABEL_RUN_ID: run.id, workflows.LABEL_REQUESTER: actor.user_id},
            annotations={
                workflows.ANNOTATION_REQUESTED_BY: actor.email or actor.name,
                workflows.ANNOTATION_CHANNEL: ctx.origin.channel_id,
            },
        )
        return ref.name

    def written(run: records.Run) -> None:
        ctx.wrote(f"Started `{run.name}` from `{template}` on `{cluster}/{namespace}`.", run_id=run.id)

    run = launcher.launch(plan, act, on_written=written)
    return Reply(
        text=f":rocket: Submitted `{run.name}` from `{template}` on `{cluster}/{namespace}`. "
        "Its progress follows in the channel thread."
    )


def show_status(ctx: Context, command: StatusCommand) -> Reply:
    cluster = _cluster(ctx)
    namespace = command.namespace or cluster.workflows_namespace
    workflow = _lookup(ctx, name=command.workflow, namespace=namespace, action=rbac.ACTION_GET)
    state = progress.workflow_state(workflow)
    return texts.status_reply(name=command.workflow, cluster=cluster.name, namespace=namespace, state=state)


def show_logs(ctx: Context, command: LogsCommand) -> Reply:
    cluster = _cluster(ctx)
    namespace = command.namespace or cluster.workflows_namespace
    workflow = _lookup(ctx, name=command.workflow, namespace=namespace, action=rbac.ACTION_LOGS)
    links = ctx.deps.links
    if links is None:
        raise UserError("Step logs are not archived for this bot (no `logs` section in its config).")
    tail_lines = ctx.settings.logs.tail_lines if ctx.settings.logs else 30
    state = progress.workflow_state(workflow, logs=progress.log_scope(ctx.settings.logs))
    steps = [s for s in state.steps if command.step is None or s.name == command.step]
    if command.step is not None and not steps:
        known = ", ".join(f"`{s.name}`" for s in state.steps) or "none yet"
        raise UserError(f"`{command.workflow}` has no step `{command.step}`. Its steps: {known}.")
    urls = {s.name: links.presign_get(s.log_key) for s in steps if s.log_key}
    # the step asked for, or else the first that failed: what someone opening the logs wants
    shown = steps[0] if command.step is not None else progress.first_failed_step(state)
    tail = links.read_tail(shown.log_key, lines=tail_lines) if shown is not None and shown.log_key else None
    return texts.logs_reply(
        name=command.workflow, steps=steps, urls=urls, tail=tail, tail_of=shown.name if shown else None
    )


def shut_down(ctx: Context, command: StopCommand | TerminateCommand) -> Reply:
    cluster = _cluster(ctx)
    namespace = command.namespace or cluster.workflows_namespace
    stop = isinstance(command, StopCommand)
    action = rbac.ACTION_STOP if stop else rbac.ACTION_TERMINATE
    workflow = _lookup(ctx, name=command.workflow, namespace=namespace, action=action)
    if progress.workflow_state(workflow).is_final:
        raise UserError(f"`{command.workflow}` has already finished; there is nothing to {ctx.verb.name}.")
    strategy: workflows.ShutdownStrategy = "Stop" if stop else "Terminate"
    api = _clients(ctx).api_client(cluster.name)
    workflows.set_shutdown(api, namespace=namespace, name=command.workflow, strategy=strategy)
    how = "stop (exit handlers still run)" if stop else "terminate (nothing more runs)"
    ctx.wrote(f"`{command.workflow}` on `{cluster.name}/{namespace}` was asked to {how}.")
    return Reply(
        text=(
            f":octagonal_sign: <@{ctx.actor.user_id}> asked `{command.workflow}` "
            f"on `{cluster.name}/{namespace}` to {how}."
        ),
        visibility=Visibility.IN_CHANNEL,
    )


def retry_run(ctx: Context, command: RetryCommand) -> Reply:
    """Submit the same template again with the parameters the workflow ran with."""
    cluster = _cluster(ctx)
    namespace = command.namespace or cluster.workflows_namespace
    workflow = _lookup(ctx, name=command.workflow, namespace=namespace, action=rbac.ACTION_RETRY)
    template = workflows.template_of(workflow)
    if template is None:
        raise UserError(
            f"`{command.workflow}` was not started from a WorkflowTemplate, so it cannot be retried here."
        )
    api = _clients(ctx).api_client(cluster.name)
    try:
        current = workflows.get_template(api, namespace=namespace, name=template)
    except KubeNotFound:
        raise UserError(
            f"`{command.workflow}` came from the WorkflowTemplate `{template}`, which no longer exists "
            f"in `{cluster.name}/{namespace}`, so it cannot be retried."
        ) from None
    # the template may have changed since: its parameters are checked as they are now
    submitted = tuple(workflows.submitted_parameters(workflow).items())
    checked = check_parameters(current.params, submitted)
    return submit(ctx, template=template, values=checked, namespace=namespace, api=api)


def list_runs(ctx: Context, command: RunsCommand) -> Reply:
    runs = ctx.deps.runs
    if runs is None:
        raise NotEnabled("`runs` is not available in this bot's configuration.")
    found = runs.recent(
        requester_id=ctx.actor.user_id if command.mine else None,
        template=command.template,
        kind=records.RUN_WORKFLOW,
        limit=100,
    )
    visible: Sequence[records.Run] = [
        run
        for run in found
        if ctx.can(
            resource=rbac.WORKFLOWS,
            action=rbac.ACTION_GET,
            obj=rbac.workflow_object(
                cluster=run.cluster, namespace=run.namespace, template=run.template or "*"
            ),
        )
    ][: command.limit or RUNS_DEFAULT_LIMIT]
    return texts.runs_reply(visible, mine=command.mine)


# --- the records ------------------------------------------------------------------------

_CLUSTER = Option(
    ("--cluster",),
    "cluster",
    "the cluster (default: the one bound to this channel, else the first configured)",
    metavar="C",
    check=values.label("cluster"),
)
_NAMESPACE = Option(
    ("--namespace",),
    "namespace",
    "the namespace (default: the cluster's workflows namespace)",
    metavar="N",
    check=values.label("namespace"),
)
_PARAMS = Option(
    ("-p", "--param"),
    "params",
    "a template parameter; repeat for more (also --param key=value)",
    kind="param",
)
_WORKFLOW = Positional("WORKFLOW", "workflow", values.subdomain("workflow"))


def _run_target(command: RunCommand, cluster: ClusterSettings | None) -> Target:
    if cluster is None:
        return Target(rbac.WORKFLOWS, rbac.ACTION_RUN, rbac.WILDCARD, None, precise=False)
    namespace = command.namespace or cluster.workflows_namespace
    obj = rbac.workflow_object(cluster=cluster.name, namespace=namespace, template=command.template)
    return Target(rbac.WORKFLOWS, rbac.ACTION_RUN, obj, cluster.name, precise=True)


def _templates_target(command: TemplatesCommand, cluster: ClusterSettings | None) -> Target:
    if cluster is None:
        return Target(rbac.WORKFLOWS, rbac.ACTION_RUN, rbac.WILDCARD, None, precise=False)
    obj = rbac.workflow_object(cluster=cluster.name, namespace=cluster.workflows_namespace, template="*")
    return Target(rbac.WORKFLOWS, rbac.ACTION_RUN, obj, cluster.name, precise=False)


def _asked(action: str) -> Any:
    """The workflow as asked (`cluster/namespace/name`): its template is known only after the lookup.

    Not precise (the pipeline first checks the action is allowed somewhere), but it is what the
    audit row records when that first check refuses, never `*`.
    """

    def target(command: WorkflowCommand, cluster: ClusterSettings | None) -> Target:
        if cluster is None:
            return Target(rbac.WORKFLOWS, action, rbac.WILDCARD, None, precise=False)
        namespace = command.namespace or cluster.workflows_namespace
        return Target(rbac.WORKFLOWS, action, f"{cluster.name}/{namespace}/{command.workflow}", cluster.name,
                      precise=False)  # fmt: skip

    return target


def _workflow_verb(
    name: str,
    command: type[WorkflowCommand],
    action: str,
    summary: str,
    *,
    execute: Any,
    example: str,
    writes: bool,
    extra: tuple[Positional, ...] = (),
    examples: tuple[str, ...] = (),
) -> Verb:
    return Verb(
        name=name,
        command=command,
        summary=summary,
        area="workflows",
        execute=execute,
        positionals=(_WORKFLOW, *extra),
        options=(_CLUSTER, _NAMESPACE),
        examples=(example, *examples),
        permission=(rbac.WORKFLOWS, action),
        object_form=OBJECT_FORM,
        scope="cluster",
        target=_asked(action),
        writes=writes,
    )


VERBS = (
    Verb(
        name="templates",
        command=TemplatesCommand,
        summary="List the WorkflowTemplates you may run, with their parameters.",
        area="workflows",
        execute=list_templates,
        options=(_CLUSTER,),
        examples=("{command} templates", "{command} templates --cluster prod-eu"),
        permission=(rbac.WORKFLOWS, rbac.ACTION_RUN),
        object_form=OBJECT_FORM,
        scope="cluster",
        target=_templates_target,
    ),
    Verb(
        name="run",
        command=RunCommand,
        summary="Submit a Workflow from a WorkflowTemplate and follow it in a thread.",
        area="workflows",
        execute=run_template,
        positionals=(Positional("TEMPLATE", "template", values.subdomain("template")),),
        options=(_PARAMS, _CLUSTER, _NAMESPACE),
        examples=(
            "{command} run db-migrate -p env=staging -p dry_run=true",
            '{command} run report --cluster prod-eu -p title="weekly report"',
        ),
        permission=(rbac.WORKFLOWS, rbac.ACTION_RUN),
        object_form=OBJECT_FORM,
        scope="cluster",
        target=_run_target,
        writes=True,
    ),
    Verb(
        name="runs",
        command=RunsCommand,
        summary="List recent runs: those started through the bot, and those subscriptions follow.",
        area="workflows",
        execute=list_runs,
        options=(
            Option(("--mine",), "mine", "only runs you started", kind="flag"),
            Option(
                ("--template",),
                "template",
                "only runs of that template",
                metavar="T",
                check=values.subdomain("template"),
            ),
            Option(("--limit",), "limit", "how many (1-100, default 10)", metavar="N", check=values.limit),
        ),
        examples=("{command} runs --mine", "{command} runs --template db-migrate --limit 5"),
        permission=(rbac.WORKFLOWS, rbac.ACTION_GET),
        object_form=OBJECT_FORM,
    ),
    _workflow_verb(
        "status",
        StatusCommand,
        rbac.ACTION_GET,
        "Show the state of a workflow run.",
        execute=show_status,
        example="{command} status db-migrate-x7k2p",
        writes=False,
    ),
    _workflow_verb(
        "logs",
        LogsCommand,
        rbac.ACTION_LOGS,
        "Link the archived logs of a run (or one step) and show the last lines of failed steps.",
        execute=show_logs,
        example="{command} logs db-migrate-x7k2p",
        writes=False,
        extra=(Positional("STEP", "step", values.step, required=False),),
        examples=("{command} logs db-migrate-x7k2p migrate",),
    ),
    _workflow_verb(
        "stop",
        StopCommand,
        rbac.ACTION_STOP,
        "Stop a run: nothing more starts, exit handlers still run (Argo `spec.shutdown: Stop`).",
        execute=shut_down,
        example="{command} stop db-migrate-x7k2p",
        writes=True,
    ),
    _workflow_verb(
        "terminate",
        TerminateCommand,
        rbac.ACTION_TERMINATE,
        "Terminate a run at once, skipping exit handlers (Argo `spec.shutdown: Terminate`).",
        execute=shut_down,
        example="{command} terminate db-migrate-x7k2p",
        writes=True,
    ),
    _workflow_verb(
        "retry",
        RetryCommand,
        rbac.ACTION_RETRY,
        "Submit the same template again with the same parameters.",
        execute=retry_run,
        example="{command} retry db-migrate-x7k2p",
        writes=True,
    ),
)
