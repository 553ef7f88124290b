"""The Argo Rollouts verbs: rollouts, rollout, promote, abort, retry, undo.

Each verb is one record in `VERBS` and one use case over the Rollouts adapter
(`bot.argo.rollouts`), which writes what `kubectl argo rollouts` writes. The RBAC object is
`<cluster>/<namespace>/<rollout>`. A name given without `--namespace` is looked up in every
namespace of the cluster, so the namespace, and with it the precise object, is known only
after the lookup: the pipeline first checks that the person may do the action somewhere, the
use case then asks for the precise check (`Context.require`), and a Rollout that does not
exist and one the person may not touch get the same answer, which names the permission.

The writes (promote, promote --full, abort, retry-rollout, undo) start a followed run through
`Launcher.launch`: the run is recorded with what it asks and where the Rollout stood
(`rollout_state.asked_parameters`), then the adapter writes, marking the Rollout with the run
id (annotation `argo-chatops/run-id`), and the run's thread follows the Rollout until the
command's work is done (`bot.tracking.rollout_part`). A write the adapter refuses closes its run.

Approval rules: an `approvals.require_for` rule on `rollouts, promote` (for `--full`),
`rollouts, abort` or `rollouts, undo` turns the command into an approval card; the approved
request is carried out by `carry_out`, as the requester's, and followed like any write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot import records
from bot.actions.context import Context
from bot.actions.launcher import Plan, run_name
from bot.announcing import PRIORITY_CARD, card_key
from bot.approvals import flow
from bot.argo import rollout_state, rollouts
from bot.commands import values
from bot.commands.registry import Command, Option, Positional, Target, Verb
from bot.config import ClusterSettings
from bot.errors import KubeNotFound, NotEnabled, PermissionDenied, UserError
from bot.model import Actor, Reply
from bot.rbac import policy as rbac
from bot.render import approvals as render_approvals
from bot.render import rollouts as render

OBJECT_FORM = "<cluster>/<namespace>/<rollout>"
_REVISION = re.compile(r"[0-9]{1,9}", re.ASCII)


@dataclass(frozen=True, kw_only=True)
class RolloutsCommand(Command):
    cluster: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class RolloutCommand(Command):
    """A command about one Rollout."""

    rollout: str
    cluster: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class ShowCommand(RolloutCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class PromoteCommand(RolloutCommand):
    full: bool = False


@dataclass(frozen=True, kw_only=True)
class AbortCommand(RolloutCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class RetryCommand(RolloutCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class UndoCommand(RolloutCommand):
    revision: int | None = None


def revision_number(value: str) -> int:
    """A Rollout revision, as `rollout NAME` shows it (`rollout.argoproj.io/revision`)."""
    if _REVISION.fullmatch(value) and int(value) > 0:
        return int(value)
    raise values.Invalid(
        f"`{values.shown(value)}` is not a revision: use a number from `rollout NAME`, e.g. `2`."
    )


def _cluster(ctx: Context) -> ClusterSettings:
    assert ctx.cluster is not None, "cluster verbs are resolved by the pipeline"
    return ctx.cluster


def _api(ctx: Context) -> Any:
    if ctx.deps.clusters is None:
        raise NotEnabled(f"`{ctx.verb.name}` is not available in this bot's configuration.")
    return ctx.deps.clusters.api_client(_cluster(ctx).name)


def _find(
    ctx: Context, command: RolloutCommand, *, action: str, approval_gate: bool = True
) -> dict[str, Any]:
    """Read the Rollout and ask for the precise check; "missing" and "not allowed" read the same.

    Raises:
        PermissionDenied: no such Rollout, or not allowed (the permission is named).
        UserError: Rollouts of that name in several namespaces (say which with `--namespace`).
    """
    cluster = _cluster(ctx).name
    name = command.rollout
    where = f"`{cluster}/{command.namespace}`" if command.namespace else f"`{cluster}`"
    denial = (
        f"There is no Rollout `{name}` on {where} that you may `{ctx.verb.name}`: check the name "
        f"(`rollouts` lists the ones you may see), or ask an admin for `{rbac.ROLLOUTS}, {action}`."
    )
    api = _api(ctx)
    namespaces = [command.namespace] if command.namespace else rollouts.find_namespaces(api, name=name)

    def obj(namespace: str) -> str:
        return rbac.rollout_object(cluster=cluster, namespace=namespace, rollout=name)

    allowed = [ns for ns in namespaces if ctx.can(resource=rbac.ROLLOUTS, action=action, obj=obj(ns))]
    if not allowed:
        asked = obj(namespaces[0]) if len(namespaces) == 1 else obj(rbac.WILDCARD)
        raise PermissionDenied(denial, resource=rbac.ROLLOUTS, action=action, obj=asked)
    if len(allowed) > 1:
        listed = ", ".join(f"`{ns}`" for ns in allowed)
        raise UserError(
            f"More than one Rollout is called `{name}` on `{cluster}` (namespaces {listed}): "
            "add `--namespace` with one of them."
        )
    namespace = allowed[0]
    try:
        found = rollouts.get_rollout(api, namespace=namespace, name=name)
    except KubeNotFound:
        raise PermissionDenied(denial, resource=rbac.ROLLOUTS, action=action, obj=obj(namespace)) from None
    ctx.require(
        resource=rbac.ROLLOUTS,
        action=action,
        obj=obj(namespace),
        cluster=cluster,
        denial=denial,
        approval_gate=approval_gate,
    )
    return found


def _namespace_of(rollout: dict[str, Any]) -> str:
    return str(rollout["metadata"].get("namespace", ""))


def list_rollouts(ctx: Context, command: RolloutsCommand) -> Reply:
    """Every Rollout of the cluster (or namespace) the caller may `get`."""
    cluster = _cluster(ctx).name
    found = rollouts.list_rollouts(_api(ctx), namespace=command.namespace)
    visible = [
        rollout
        for rollout in found
        if ctx.can(
            resource=rbac.ROLLOUTS,
            action=rbac.ACTION_GET,
            obj=rbac.rollout_object(cluster=cluster, namespace=rollout.namespace, rollout=rollout.name),
        )
    ]
    return render.rollouts_reply(visible, cluster=cluster, namespace=command.namespace)


def show_rollout(ctx: Context, command: ShowCommand) -> Reply:
    found = _find(ctx, command, action=rbac.ACTION_GET)
    return render.rollout_reply(rollouts.get_detail(_api(ctx), found), cluster=_cluster(ctx).name)


FOLLOWS = "Its progress follows in the thread."


def _followed(
    ctx: Context,
    found: dict[str, Any],
    *,
    action: str,
    emoji_name: str,
    write: Callable[[str], str],
) -> Reply:
    """Record a `rollout` run, do `write(run_id)` (it returns what was done), follow the run.

    Raises:
        whatever `write` raised (the run is closed first), e.g. `UserError` for nothing to do.
    """
    said = _launch(
        ctx,
        found,
        action=action,
        cluster=_cluster(ctx).name,
        requester=ctx.actor,
        channel_id=ctx.origin.channel_id,
        write=write,
    )[1]
    return render.action_reply(user_id=ctx.actor.user_id, emoji_name=emoji_name, what=f"{said} {FOLLOWS}")


def _launch(
    ctx: Context,
    found: dict[str, Any],
    *,
    action: str,
    cluster: str,
    requester: Actor,
    channel_id: str,
    write: Callable[[str], str],
) -> tuple[records.Run, str]:
    launcher = ctx.deps.launcher
    if launcher is None:
        raise NotEnabled(f"`{ctx.verb.name}` is not available in this bot's configuration.")
    name = str(found["metadata"].get("name", ""))
    plan = Plan(
        kind=records.RUN_ROLLOUT,
        cluster=cluster,
        namespace=_namespace_of(found),
        requester_id=requester.user_id,
        requester_name=requester.name,
        channel_id=channel_id,
        template=name,
        parameters=rollout_state.asked_parameters(found, action=action),
    )
    said: list[str] = []

    def act(run: records.Run) -> str:
        said.append(write(run.id))
        return run_name(name, run)

    run = launcher.launch(plan, act, on_written=lambda run: ctx.wrote(said[0], run_id=run.id))
    return run, said[0]


#: The rollout commands an approval rule can guard: the rule's action, and the card's action.
GUARDED = {
    rollout_state.ACTION_PROMOTE_FULL: rbac.ACTION_PROMOTE,
    rollout_state.ACTION_ABORT: rbac.ACTION_ABORT,
    rollout_state.ACTION_UNDO: rbac.ACTION_UNDO,
}
APPROVAL_PREFIX = "rollout-"


def _guarded(
    ctx: Context, command: RolloutCommand, *, action: str, asked: str, revision: int | None = None
) -> Reply | None:
    """With an `approvals.require_for` rule on this command, its approval card instead of the write."""
    found = _find(ctx, command, action=action, approval_gate=False)
    obj = rbac.rollout_object(
        cluster=_cluster(ctx).name, namespace=_namespace_of(found), rollout=command.rollout
    )
    rule = flow.rule_for(ctx.settings.approvals.require_for, resource=rbac.ROLLOUTS, action=action, obj=obj)
    if rule is None:
        return None
    approvals, cards = ctx.deps.approvals, ctx.deps.cards
    if approvals is None or cards is None:
        raise NotEnabled(f"`{ctx.verb.name}` under an approval rule is not available in this configuration.")
    channel = ctx.settings.slack.approvals_channel or ctx.origin.channel_id
    approval = approvals.request_rollout(
        actor=ctx.actor,
        channel_id=channel,
        cluster=_cluster(ctx).name,
        namespace=_namespace_of(found),
        rollout=command.rollout,
        action=APPROVAL_PREFIX + asked,
        revision=revision,
        rule=rule,
    )
    ctx.wrote(f"`{ctx.verb.name} {command.rollout}` was requested; it waits for approval.")
    text, blocks = render_approvals.render_request(approval, now=ctx.now())
    cards.post(key=card_key(approval.id), channel=channel, text=text, blocks=blocks, priority=PRIORITY_CARD)
    needed = f"{approval.required_approvals} approvals" if approval.required_approvals > 1 else "an approval"
    return Reply(
        text=(
            f":hourglass: `{ctx.verb.name} {command.rollout}` runs only after {needed} "
            f"(rule `{rule.resource}, {rule.action}, {rule.object}`). The card is in <#{channel}>."
        )
    )


def carry_out(ctx: Context, approval: records.Approval, *, requester: Actor) -> records.Run:
    """Do an approved rollout command as `requester` would have (their permission checked again)."""
    asked = approval.action.removeprefix(APPROVAL_PREFIX)
    action = GUARDED.get(asked)
    if action is None:
        raise UserError(f"`{approval.action}` is not a rollout command this bot carries out.")
    obj = rbac.rollout_object(cluster=approval.cluster, namespace=approval.project, rollout=approval.app)
    if not ctx.enforcer.can(requester.subjects, resource=rbac.ROLLOUTS, action=action, obj=obj):
        raise UserError(
            f"<@{approval.requester_id}> may no longer {action} `{approval.app}` "
            f"(`{rbac.ROLLOUTS}, {action}` on `{obj}`), so nothing was done."
        )
    if ctx.deps.clusters is None:
        raise NotEnabled("Rollouts are not available in this bot's configuration.")
    api = ctx.deps.clusters.api_client(approval.cluster)
    found = rollouts.get_rollout(api, namespace=approval.project, name=approval.app)
    name, namespace = approval.app, approval.project

    def write(run_id: str) -> str:
        if asked == rollout_state.ACTION_PROMOTE_FULL:
            rollouts.promote(api, namespace=namespace, name=name, full=True, run_id=run_id)
            return f"promoted `{name}` fully (approved)."
        if asked == rollout_state.ACTION_ABORT:
            rollouts.abort(api, namespace=namespace, name=name, run_id=run_id)
            return f"aborted `{name}` (approved): all traffic goes back to the stable version."
        revision = int(approval.target) if approval.target.isdigit() else None
        done = rollouts.undo(api, namespace=namespace, name=name, revision=revision, run_id=run_id)
        return f"rolled `{name}` back to revision {done} (approved)."

    run, _ = _launch(
        ctx,
        found,
        action=asked,
        cluster=approval.cluster,
        requester=requester,
        channel_id=approval.channel_id,
        write=write,
    )
    return run


def promote(ctx: Context, command: PromoteCommand) -> Reply:
    """End the current pause (or skip the current step); `--full` skips every step left."""
    if command.full:
        card = _guarded(ctx, command, action=rbac.ACTION_PROMOTE, asked=rollout_state.ACTION_PROMOTE_FULL)
        if card is not None:
            return card
    found = _find(ctx, command, action=rbac.ACTION_PROMOTE, approval_gate=False)
    namespace = _namespace_of(found)
    where = f"`{command.rollout}` on `{_cluster(ctx).name}/{namespace}`"
    steps = len((((found.get("spec") or {}).get("strategy") or {}).get("canary") or {}).get("steps") or [])

    def write(run_id: str) -> str:
        done = rollouts.promote(
            _api(ctx), namespace=namespace, name=command.rollout, full=command.full, run_id=run_id
        )
        at = f"step {done.step + 1}/{steps}" if steps else "its current step"
        return {
            "full": f"promoted {where} fully: every step left is skipped and the new version takes "
            "all traffic.",
            "pause": f"promoted {where}: the pause at {at} ended and the canary goes on.",
            "step": f"promoted {where}: {at} was skipped and the canary goes on.",
        }[done.how]

    action = rollout_state.ACTION_PROMOTE_FULL if command.full else rollout_state.ACTION_PROMOTE
    return _followed(ctx, found, action=action, emoji_name="fast_forward", write=write)


def abort(ctx: Context, command: AbortCommand) -> Reply:
    card = _guarded(ctx, command, action=rbac.ACTION_ABORT, asked=rollout_state.ACTION_ABORT)
    if card is not None:
        return card
    found = _find(ctx, command, action=rbac.ACTION_ABORT)
    namespace = _namespace_of(found)

    def write(run_id: str) -> str:
        rollouts.abort(_api(ctx), namespace=namespace, name=command.rollout, run_id=run_id)
        return (
            f"aborted `{command.rollout}` on `{_cluster(ctx).name}/{namespace}`: all traffic goes back to "
            "the stable version (canary weight 0). `retry-rollout` starts the canary again, `undo` goes "
            "back a revision."
        )

    return _followed(ctx, found, action=rollout_state.ACTION_ABORT, emoji_name="octagonal_sign", write=write)


def retry(ctx: Context, command: RetryCommand) -> Reply:
    found = _find(ctx, command, action=rbac.ACTION_RETRY)
    namespace = _namespace_of(found)

    def write(run_id: str) -> str:
        rollouts.retry(_api(ctx), namespace=namespace, name=command.rollout, run_id=run_id)
        return (
            f"retried `{command.rollout}` on `{_cluster(ctx).name}/{namespace}`: "
            "the canary starts again from its first step."
        )

    return _followed(ctx, found, action=rollout_state.ACTION_RETRY, emoji_name="repeat", write=write)


def undo(ctx: Context, command: UndoCommand) -> Reply:
    card = _guarded(
        ctx, command, action=rbac.ACTION_UNDO, asked=rollout_state.ACTION_UNDO, revision=command.revision
    )
    if card is not None:
        return card
    found = _find(ctx, command, action=rbac.ACTION_UNDO)
    namespace = _namespace_of(found)

    def write(run_id: str) -> str:
        revision = rollouts.undo(
            _api(ctx), namespace=namespace, name=command.rollout, revision=command.revision, run_id=run_id
        )
        return (
            f"rolled `{command.rollout}` on `{_cluster(ctx).name}/{namespace}` back to the pod template of "
            f"revision {revision}: it deploys as a new revision, through the canary steps "
            "unless it is the stable one."
        )

    return _followed(ctx, found, action=rollout_state.ACTION_UNDO, emoji_name="rewind", write=write)


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
    "the namespace (default: every namespace of the cluster)",
    metavar="N",
    check=values.label("namespace"),
)
_ROLLOUT = Positional("ROLLOUT", "rollout", values.subdomain("rollout"))


def _list_target(command: RolloutsCommand, cluster: ClusterSettings | None) -> Target:
    if cluster is None:
        return Target(rbac.ROLLOUTS, rbac.ACTION_GET, rbac.WILDCARD, None, precise=False)
    obj = rbac.rollout_object(cluster=cluster.name, namespace=command.namespace or rbac.WILDCARD, rollout="*")
    return Target(rbac.ROLLOUTS, rbac.ACTION_GET, obj, cluster.name, precise=False)


def _asked(action: str) -> Any:
    """The Rollout as asked (`cluster/namespace-or-*/name`); the namespace may be known only later."""

    def target(command: RolloutCommand, cluster: ClusterSettings | None) -> Target:
        if cluster is None:
            return Target(rbac.ROLLOUTS, action, rbac.WILDCARD, None, precise=False)
        obj = rbac.rollout_object(
            cluster=cluster.name, namespace=command.namespace or rbac.WILDCARD, rollout=command.rollout
        )
        return Target(rbac.ROLLOUTS, action, obj, cluster.name, precise=False)

    return target


def _verb(
    name: str,
    command: type[RolloutCommand],
    action: str,
    summary: str,
    *,
    execute: Any,
    examples: tuple[str, ...],
    writes: bool,
    extra_positionals: tuple[Positional, ...] = (),
    extra_options: tuple[Option, ...] = (),
) -> Verb:
    return Verb(
        name=name,
        command=command,
        summary=summary,
        area="rollouts",
        execute=execute,
        positionals=(_ROLLOUT, *extra_positionals),
        options=(*extra_options, _CLUSTER, _NAMESPACE),
        examples=examples,
        permission=(rbac.ROLLOUTS, action),
        object_form=OBJECT_FORM,
        scope="cluster",
        target=_asked(action),
        writes=writes,
    )


VERBS = (
    Verb(
        name="rollouts",
        command=RolloutsCommand,
        summary="List Argo Rollouts: step, canary weight, phase and message of each.",
        area="rollouts",
        execute=list_rollouts,
        options=(_CLUSTER, _NAMESPACE),
        examples=("{command} rollouts", "{command} rollouts --cluster prod-eu --namespace shop"),
        permission=(rbac.ROLLOUTS, rbac.ACTION_GET),
        object_form=OBJECT_FORM,
        scope="cluster",
        target=_list_target,
    ),
    _verb(
        "rollout",
        ShowCommand,
        rbac.ACTION_GET,
        "Show a Rollout: its canary steps with the current one marked, analysis runs, revision.",
        execute=show_rollout,
        examples=("{command} rollout checkout-canary",),
        writes=False,
    ),
    _verb(
        "promote",
        PromoteCommand,
        rbac.ACTION_PROMOTE,
        "Promote a canary: end its pause (or skip its current step); `--full` skips every step left.",
        execute=promote,
        examples=("{command} promote checkout-canary", "{command} promote checkout-canary --full"),
        writes=True,
        extra_options=(Option(("--full",), "full", "skip every remaining step and analysis", kind="flag"),),
    ),
    _verb(
        "abort",
        AbortCommand,
        rbac.ACTION_ABORT,
        "Abort a canary: all traffic back to the stable version (Argo `status.abort`).",
        execute=abort,
        examples=("{command} abort checkout-canary",),
        writes=True,
    ),
    _verb(
        "retry-rollout",
        RetryCommand,
        rbac.ACTION_RETRY,
        "Start an aborted canary's steps again.",
        execute=retry,
        examples=("{command} retry-rollout checkout-canary",),
        writes=True,
    ),
    _verb(
        "undo",
        UndoCommand,
        rbac.ACTION_UNDO,
        "Roll a Rollout back to the pod template of an earlier revision (default: the one before).",
        execute=undo,
        examples=("{command} undo search-api", "{command} undo search-api 1"),
        writes=True,
        extra_positionals=(Positional("REVISION", "revision", revision_number, required=False),),
    ),
)
