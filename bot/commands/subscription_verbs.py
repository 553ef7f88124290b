"""The `subscribe`, `unsubscribe` and `subscriptions` verbs: threads for what the bot did not start.

A subscription is typed in the channel that should receive the posts, and shows nobody more
than its creator could see. So subscribing is checked as if the creator asked to `get` what
is subscribed to: `applications, get` on `<cluster>/<project>/<glob>` (`*` for a part not
given) or `workflows, get` on `<cluster>/<namespace>/<glob>`, the object compared literally
(a glob is covered only by a rule at least as wide), plus the channel binding of `--cluster`.
The follower checks the creator again on each precise app or Workflow before posting.

`unsubscribe ID` is for the subscription's creator, or anyone with `subscriptions, delete` on
its id; the ownership rule is recorded in the audit row like any decision. Config-file
subscriptions are removed by editing the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot import labels, records, subscribing
from bot.actions import ports
from bot.actions.context import Context
from bot.commands import values
from bot.commands.registry import Command, Option, Positional, Target, Verb
from bot.config import ClusterSettings
from bot.errors import NotEnabled, UserError
from bot.model import Reply
from bot.rbac import policy as rbac
from bot.render import subscriptions as texts

_GLOB_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.*?")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True, kw_only=True)
class SubscribeAppsCommand(Command):
    name: str
    project: str | None = None
    cluster: str | None = None
    on: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class SubscribeWorkflowsCommand(Command):
    name: str
    cluster: str | None = None
    namespace: str | None = None
    selector: str | None = None
    on: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class UnsubscribeCommand(Command):
    id: str


@dataclass(frozen=True, kw_only=True)
class SubscriptionsCommand(Command):
    pass


def glob(what: str) -> Any:
    """A name glob: lower-case letters, digits, `-`, `.`, and the wildcards `*` and `?`."""

    def check(value: str) -> str:
        if 0 < len(value) <= 253 and set(value) <= _GLOB_CHARS:
            return value
        raise values.Invalid(
            f"`{values.shown(value)}` is not a valid {what} glob: use lower-case letters, digits, "
            "`-`, `.` and the wildcards `*` and `?` (quote it: `'shop-*'`)."
        )

    return check


def subscription_id(value: str) -> str:
    if 0 < len(value) <= 32 and set(value) <= _ID_CHARS:
        return value
    raise values.Invalid(
        f"`{values.shown(value)}` is not a subscription id such as `sub-3f9a1c`: "
        "`subscriptions` lists the ids of this channel."
    )


def selector(value: str) -> str:
    """A label selector as `kubectl get -l` takes it (equality-based terms)."""
    problem = labels.selector_problem(value) if len(value) <= 255 else "longer than 255 characters"
    if problem:
        raise values.Invalid(
            f"`{values.shown(value)}` is not a label selector: {problem} "
            "(for example `--selector 'team=data,tier!=test'`)."
        )
    return value


def _triggers(kind: str) -> Any:
    def check(value: str) -> tuple[str, ...]:
        try:
            return subscribing.parse_triggers(kind, value)
        except subscribing.BadTriggers as exc:
            raise values.Invalid(str(exc)) from None

    return check


def _book(ctx: Context) -> ports.SubscriptionBook:
    if ctx.deps.subscriptions is None:
        raise NotEnabled("Subscriptions are not available in this bot's configuration.")
    return ctx.deps.subscriptions


def list_subscriptions(ctx: Context, command: SubscriptionsCommand) -> Reply:
    """This channel's subscriptions with their ids, triggers and creators."""
    return texts.listing_reply(_book(ctx).for_channel(ctx.origin.channel_id), slash=ctx.slash)


def subscribe_apps(ctx: Context, command: SubscribeAppsCommand) -> Reply:
    """Store a subscription of this channel to apps (the pipeline checked `get` and the binding)."""
    triggers = command.on or subscribing.DEFAULT_TRIGGERS[records.SUBSCRIPTION_APPS]
    return _add(
        ctx,
        kind=records.SUBSCRIPTION_APPS,
        name=command.name,
        triggers=triggers,
        project=command.project,
        cluster=command.cluster,
    )


def subscribe_workflows(ctx: Context, command: SubscribeWorkflowsCommand) -> Reply:
    """Store a subscription of this channel to Workflows of matching templates (namespace, labels)."""
    clusters = ctx.settings.clusters
    if command.cluster is not None:
        found = ctx.settings.cluster(command.cluster)
        if found is None:
            known = ", ".join(f"`{c.name}`" for c in clusters) or "none"
            raise UserError(f"There is no cluster `{command.cluster}`. Configured clusters: {known}.")
        clusters = (found,)
    if command.namespace is not None and not any(c.watches(command.namespace) for c in clusters):
        watched = "; ".join(f"`{c.name}`: {_watched(c)}" for c in clusters) or "none"
        raise UserError(
            f"The bot does not watch Workflows in namespace `{command.namespace}` "
            f"{'on that cluster' if command.cluster else 'on any cluster'}, so nothing was subscribed. "
            f"It watches {watched}; an admin adds namespaces under `clusters[].watch_namespaces`."
        )
    triggers = command.on or subscribing.DEFAULT_TRIGGERS[records.SUBSCRIPTION_WORKFLOWS]
    return _add(
        ctx,
        kind=records.SUBSCRIPTION_WORKFLOWS,
        name=command.name,
        triggers=triggers,
        cluster=command.cluster,
        namespace=command.namespace,
        selector=command.selector,
    )


def _watched(cluster: ClusterSettings) -> str:
    watched = cluster.watched_namespaces()
    return "every namespace" if watched is None else ", ".join(f"`{n}`" for n in watched)


def _add(
    ctx: Context,
    *,
    kind: str,
    name: str,
    triggers: tuple[str, ...],
    project: str | None = None,
    cluster: str | None = None,
    namespace: str | None = None,
    selector: str | None = None,
) -> Reply:
    subscription = _book(ctx).add(
        channel_id=ctx.origin.channel_id,
        kind=kind,
        name=name,
        triggers=triggers,
        created_by=ctx.actor.user_id,
        now=ctx.now(),
        project=project,
        cluster=cluster,
        namespace=namespace,
        selector=selector,
    )
    ctx.wrote(f"Subscription `{subscription.id}` was added.")
    return texts.added_reply(subscription, slash=ctx.slash)


def unsubscribe(ctx: Context, command: UnsubscribeCommand) -> Reply:
    """Remove a subscription added in Slack: its creator may, and so may `subscriptions, delete`.

    Raises:
        PermissionDenied: neither the creator nor allowed (said the same as "no such id").
        UserError: it comes from the config file.
    """
    book = _book(ctx)
    found = book.get(command.id)
    missing = (
        f"There is no subscription `{command.id}` you may remove. "
        f"Type `{ctx.slash} subscriptions` in its channel to see the ids."
    )
    if found is not None and found.created_by == ctx.actor.user_id:
        # the creator's own: an ownership rule, recorded like a policy decision
        ctx.attempt.target = Target(rbac.SUBSCRIPTIONS, rbac.ACTION_DELETE, command.id, None, precise=True)
        ctx.attempt.decision = records.DECISION_ALLOW
    else:
        ctx.require(resource=rbac.SUBSCRIPTIONS, action=rbac.ACTION_DELETE, obj=command.id, denial=missing)
    if found is None:
        raise UserError(missing)
    if found.source == records.SUBSCRIPTION_FROM_CONFIG:
        raise UserError(
            f"Subscription `{found.id}` is defined in the configuration file: "
            "remove it there (an admin's change), then restart the bot."
        )
    if not book.remove(found.id):
        raise UserError(missing)
    ctx.wrote(f"Subscription `{found.id}` was removed.")
    return texts.removed_reply(found, user_id=ctx.actor.user_id)


def _apps_target(command: SubscribeAppsCommand, cluster: ClusterSettings | None) -> Target:
    obj = rbac.application_object(
        cluster=command.cluster or rbac.WILDCARD, project=command.project or rbac.WILDCARD, app=command.name
    )
    return Target(rbac.APPLICATIONS, rbac.ACTION_GET, obj, command.cluster, precise=True)


def _workflows_target(command: SubscribeWorkflowsCommand, cluster: ClusterSettings | None) -> Target:
    # without --namespace: every namespace the cluster watches (one, unless it watches more)
    only_one = cluster is not None and not cluster.watch_namespaces
    namespace = command.namespace or (cluster.workflows_namespace if cluster and only_one else rbac.WILDCARD)
    obj = rbac.workflow_object(
        cluster=command.cluster or rbac.WILDCARD, namespace=namespace, template=command.name
    )
    return Target(rbac.WORKFLOWS, rbac.ACTION_GET, obj, command.cluster, precise=True)


def _no_target(command: UnsubscribeCommand, cluster: ClusterSettings | None) -> None:
    """Decided by the use case once it knows whose subscription it is."""
    return None


_CLUSTER = Option(
    ("--cluster",),
    "cluster",
    "only this destination cluster (default: every cluster)",
    metavar="C",
    check=values.label("cluster"),
)

VERBS = (
    Verb(
        name="subscribe apps",
        command=SubscribeAppsCommand,
        summary="Follow in this channel the syncs of matching Argo CD apps, whoever started them.",
        area="subscriptions",
        execute=subscribe_apps,
        positionals=(Positional("GLOB", "name", glob("app name")),),
        options=(
            Option(
                ("--project",),
                "project",
                "only apps of this Argo CD project",
                metavar="P",
                check=values.subdomain("project"),
            ),
            _CLUSTER,
            Option(
                ("--on",),
                "on",
                "sync-started, sync-succeeded, sync-failed, health-degraded, health-recovered, "
                "out-of-sync, comma-separated (default sync-succeeded,sync-failed)",
                metavar="TRIGGERS",
                check=_triggers(records.SUBSCRIPTION_APPS),
            ),
        ),
        examples=(
            "{command} subscribe apps 'shop-*' --cluster prod",
            "{command} subscribe apps payments-api --on sync-started,sync-succeeded,sync-failed",
            "{command} subscribe apps 'shop-*' --cluster prod --on health-degraded,out-of-sync",
        ),
        permission=(rbac.APPLICATIONS, rbac.ACTION_GET),
        object_form="<cluster>/<project>/<glob>",
        scope="destination",
        target=_apps_target,
        writes=True,
    ),
    Verb(
        name="subscribe workflows",
        command=SubscribeWorkflowsCommand,
        summary="Hear in this channel about Workflows from matching templates, whoever submitted them.",
        area="subscriptions",
        execute=subscribe_workflows,
        positionals=(Positional("TEMPLATE_GLOB", "name", glob("template")),),
        options=(
            _CLUSTER,
            Option(
                ("--namespace",),
                "namespace",
                "only Workflows of this namespace (one the bot watches; default: every watched one)",
                metavar="NS",
                check=values.label("namespace"),
            ),
            Option(
                ("--selector", "-l"),
                "selector",
                "only Workflows whose labels match, as kubectl -l takes it: k=v,k!=v,k,!k",
                metavar="SELECTOR",
                check=selector,
            ),
            Option(
                ("--on",),
                "on",
                "failed, succeeded, started, comma-separated (default failed)",
                metavar="TRIGGERS",
                check=_triggers(records.SUBSCRIPTION_WORKFLOWS),
            ),
        ),
        examples=(
            "{command} subscribe workflows 'nightly-*' --cluster prod",
            "{command} subscribe workflows db-migration --on failed,succeeded",
            "{command} subscribe workflows '*' --cluster prod --selector 'team=data'",
            "{command} subscribe workflows '*' --cluster prod --namespace batch --on failed,succeeded",
        ),
        permission=(rbac.WORKFLOWS, rbac.ACTION_GET),
        object_form="<cluster>/<namespace>/<glob>",
        scope="destination",
        target=_workflows_target,
        writes=True,
    ),
    Verb(
        name="subscriptions",
        command=SubscriptionsCommand,
        summary="List this channel's subscriptions, with their ids and who created them.",
        area="subscriptions",
        execute=list_subscriptions,
        examples=("{command} subscriptions",),
        permission=(rbac.SUBSCRIPTIONS, rbac.ACTION_GET),
        object_form="*",
    ),
    Verb(
        name="unsubscribe",
        command=UnsubscribeCommand,
        summary="Remove a subscription: your own, or any with `subscriptions, delete` on its id.",
        area="subscriptions",
        execute=unsubscribe,
        positionals=(Positional("ID", "id", subscription_id),),
        examples=("{command} unsubscribe sub-3f9a1c",),
        object_form="<id> (its creator needs no permission; others need subscriptions, delete)",
        target=_no_target,
        writes=True,
    ),
)
