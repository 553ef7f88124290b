"""The `schedule` verbs: list, add and remove scheduled posts.

A schedule acts on behalf of its creator: `schedule add` checks what it will do as if the
creator typed it (for kind `run`: `workflows, run` on the precise template, the template's
parameters, and the cluster's channel binding for the channel it posts in), and each firing
goes through the same pipeline with the creator's permissions as they are then (see
`bot.actions.scheduled`). The RBAC object of `schedules` is the schedule's name, so
`schedule remove X` needs `schedules, delete` on `X`.

Each use case works on any replica (the service stores the schedule and the leader picks it
up). The service's validation errors (unknown kind, bad cron expression or time zone, a name
already taken or defined in the config file) come back as `UserError`s with the usage line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.actions import ports
from bot.actions.context import Context, default_cluster
from bot.argo import workflows
from bot.argo.parameters import check_parameters
from bot.commands import values
from bot.commands.registry import Command, Option, Positional, Target, Verb
from bot.config import SCHEDULE_KINDS, ClusterSettings
from bot.errors import KubeNotFound, NotEnabled, UserError
from bot.model import Reply
from bot.rbac import policy as rbac
from bot.render import schedules as texts

EXAMPLE_CRON = '--cron "0 9 * * mon-fri" --timezone Europe/Paris'
KIND_RUN = "run"


@dataclass(frozen=True, kw_only=True)
class ScheduleListCommand(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class ScheduleAddCommand(Command):
    name: str
    kind: str
    cron: str
    timezone: str = "UTC"
    cluster: str | None = None
    template: str | None = None
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class ScheduleRemoveCommand(Command):
    name: str


def _service(ctx: Context) -> ports.ScheduleBook:
    if ctx.deps.schedules is None:
        raise NotEnabled("Schedules are not available in this bot's configuration.")
    return ctx.deps.schedules


def list_schedules(ctx: Context, command: ScheduleListCommand) -> Reply:
    """Every schedule, config and stored, with its next post."""
    return texts.schedules_reply(_service(ctx).list(), slash=ctx.slash)


def add_schedule(ctx: Context, command: ScheduleAddCommand) -> Reply:
    """Store a schedule that posts in the channel where the command was typed.

    Raises:
        PermissionDenied: the creator may not do what the schedule would do.
        UserError: the service refused it; the message says why and shows the usage.
    """
    service = _service(ctx)
    if command.kind == KIND_RUN:
        _check_run(ctx, command)
    elif command.cluster is not None and ctx.settings.cluster(command.cluster) is None:
        raise UserError(_unknown_cluster(ctx, command.cluster))
    try:
        entry = service.add(
            name=command.name,
            kind=command.kind,
            cron=command.cron,
            channel=ctx.origin.channel_id,
            created_by=ctx.actor.user_id,
            timezone=command.timezone,
            cluster=command.cluster,
            template=command.template,
            parameters=dict(command.params),
        )
    except UserError as exc:
        usage = ctx.deps.registry["schedule add"].usage(ctx.slash)
        raise UserError(
            f"Cannot add schedule `{command.name}`: {exc}.\n"
            f"Usage: `{usage}`\n"
            f"For example `{ctx.slash} schedule add {command.name} --kind {command.kind} {EXAMPLE_CRON}`; "
            f"`{ctx.slash} schedule list` shows the names already in use."
        ) from exc
    ctx.wrote(f"Schedule `{command.name}` was added.")
    return texts.added_reply(entry, user_id=ctx.actor.user_id)


def _check_run(ctx: Context, command: ScheduleAddCommand) -> None:
    """What a `run` schedule will do, checked now as if its creator typed `run`."""
    settings = ctx.settings
    cluster: ClusterSettings | None
    if command.cluster is None:
        cluster = default_cluster(settings, ctx.origin.channel_id)
        if cluster is None:
            raise UserError("No cluster is configured for this bot yet: a `run` schedule needs one.")
    else:
        cluster = settings.cluster(command.cluster)
        if cluster is None:
            raise UserError(_unknown_cluster(ctx, command.cluster))
    template = command.template or ""
    namespace = cluster.workflows_namespace
    obj = rbac.workflow_object(cluster=cluster.name, namespace=namespace, template=template)
    ctx.require(
        resource=rbac.WORKFLOWS, action=rbac.ACTION_RUN, obj=obj, cluster=cluster.name, approval_gate=False
    )
    # back to the schedule's own object for the audit row, now that the run is allowed too
    ctx.attempt.target = Target(rbac.SCHEDULES, rbac.ACTION_CREATE, command.name, cluster.name, precise=True)
    if ctx.deps.clusters is None:
        return
    try:
        found = workflows.get_template(
            ctx.deps.clusters.api_client(cluster.name), namespace=namespace, name=template
        )
    except KubeNotFound:
        raise UserError(
            f"There is no WorkflowTemplate `{template}` in `{cluster.name}/{namespace}`. "
            f"Type `{ctx.slash} templates --cluster {cluster.name}` to see the ones you may run."
        ) from None
    check_parameters(found.params, command.params)


def _unknown_cluster(ctx: Context, name: str) -> str:
    known = ", ".join(f"`{c.name}`" for c in ctx.settings.clusters) or "none"
    return f"There is no cluster `{name}`. Configured clusters: {known}."


def remove_schedule(ctx: Context, command: ScheduleRemoveCommand) -> Reply:
    """Forget a schedule added in Slack; a config-file schedule is removed from the file instead."""
    try:
        removed = _service(ctx).remove(command.name)
    except UserError as exc:
        raise UserError(f"Cannot remove schedule `{command.name}`: {exc}.") from exc
    if not removed:
        raise UserError(
            f"There is no schedule `{command.name}` added in Slack. "
            f"Type `{ctx.slash} schedule list` to see the schedules and their names."
        )
    ctx.wrote(f"Schedule `{command.name}` was removed.")
    return texts.removed_reply(command.name)


def _finish_add(found: dict[str, Any]) -> dict[str, Any]:
    if found["kind"] == KIND_RUN and "template" not in found:
        raise values.Invalid("A schedule of kind `run` needs `--template T`.")
    if found["kind"] != KIND_RUN and (found.get("params") or "template" in found):
        raise values.Invalid("`--template` and `-p` only apply to schedules of kind `run`.")
    return found


def _named(action: str) -> Any:
    def target(command: ScheduleAddCommand | ScheduleRemoveCommand, cluster: Any) -> Target:
        return Target(rbac.SCHEDULES, action, command.name, None, precise=True)

    return target


_NAME = Positional("NAME", "name", values.label("schedule"))

VERBS = (
    Verb(
        name="schedule list",
        command=ScheduleListCommand,
        summary="List the scheduled posts and when each posts next.",
        area="schedules",
        execute=list_schedules,
        examples=("{command} schedule list",),
        permission=(rbac.SCHEDULES, rbac.ACTION_GET),
        object_form="*",
    ),
    Verb(
        name="schedule add",
        command=ScheduleAddCommand,
        summary="Add a scheduled post in this channel; a `run` schedule acts with your permissions.",
        area="schedules",
        execute=add_schedule,
        positionals=(_NAME,),
        options=(
            Option(
                ("--kind",),
                "kind",
                "app-health, workflow-digest, pending-approvals or run",
                metavar="KIND",
                check=values.choice("schedule kind", SCHEDULE_KINDS),
                required=True,
            ),
            Option(
                ("--cron",),
                "cron",
                "five fields, quoted; use day names (mon-fri) for weekdays",
                metavar='"CRON"',
                check=values.cron,
                required=True,
            ),
            Option(
                ("--timezone", "--tz"),
                "timezone",
                "an IANA time zone such as Europe/Paris (default UTC)",
                metavar="TZ",
                check=values.timezone,
            ),
            Option(
                ("--cluster",),
                "cluster",
                "the cluster (default: the one bound to this channel, else the first configured)",
                metavar="C",
                check=values.label("cluster"),
            ),
            Option(
                ("--template",),
                "template",
                "the WorkflowTemplate a schedule of kind run submits",
                metavar="T",
                check=values.subdomain("template"),
            ),
            Option(("-p", "--param"), "params", "a parameter for kind run; repeat for more", kind="param"),
        ),
        examples=(
            '{command} schedule add morning-health --kind app-health --cron "0 9 * * mon-fri" '
            "--timezone Europe/Paris",
            '{command} schedule add nightly-report --kind run --template report --cron "0 2 * * *"',
        ),
        permission=(rbac.SCHEDULES, rbac.ACTION_CREATE),
        object_form="<schedule name>",
        target=_named(rbac.ACTION_CREATE),
        writes=True,
        finish=_finish_add,
    ),
    Verb(
        name="schedule remove",
        command=ScheduleRemoveCommand,
        summary="Remove a scheduled post added in Slack.",
        area="schedules",
        execute=remove_schedule,
        positionals=(_NAME,),
        examples=("{command} schedule remove morning-health",),
        permission=(rbac.SCHEDULES, rbac.ACTION_DELETE),
        object_form="<schedule name>",
        target=_named(rbac.ACTION_DELETE),
        writes=True,
    ),
)
