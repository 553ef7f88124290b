"""The Argo CD verbs: apps, app, history, sync.

Each verb is one record in `VERBS` and one use case, composed from the Argo CD adapter
(`bot.argo.cd`), the launcher and the follower. Argo CD hosts are the configured clusters with
an `argocd_namespace`; an app is looked up on every host. Its RBAC object is
`<destination cluster>/<project>/<app>` (`cd.object_for`), and `--cluster C` always means the
app's destination. A destination maps to a configured cluster by its name or `aliases`, or by
its server URL: the cluster's API URL (learned by the cluster registry) or its `server_urls`;
each host's `in-cluster` / `https://kubernetes.default.svc` is that host (`destinations_for`).

A destination that maps to no configured cluster has the object `*/<project>/<app>`: it is
never written to (`sync`, `rollback` are refused, saying how to map it), and it is read only by
those allowed on `*` clusters with no deny on the same app on any configured cluster, since it
may be one of them under a name or URL the bot was not told (`_may`).

Permission before existence: the project is only known once the app is read, so the app is
read, then checked through the pipeline (`Context.require`), and a missing app and a
forbidden one get the same answer (a `PermissionDenied`, audited as a deny either way). The
same check applies the destination's channel binding and, for a sync, the approval rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from bot import records
from bot.actions import ports
from bot.actions.context import Context
from bot.actions.launcher import Plan, run_name
from bot.announcing import PRIORITY_CARD, card_key
from bot.approvals import flow
from bot.argo import cd
from bot.argo.diff import unified_diff
from bot.commands import values
from bot.commands.registry import Command, Option, Positional, Verb
from bot.config import ApprovalRule, ClusterSettings, InClusterAuth, Settings, TokenAuth
from bot.errors import BotError, NotEnabled, PermissionDenied, UserError
from bot.model import Reply, Visibility
from bot.rbac import policy as rbac
from bot.render import approvals as render_approvals
from bot.render import apps as render_apps
from bot.render import changes as render_changes
from bot.render import mrkdwn
from bot.tracking import sync_tracker

OBJECT_FORM = "<cluster>/<project>/<app>"

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AppsCommand(Command):
    cluster: str | None = None
    project: str | None = None
    out_of_sync: bool = False
    degraded: bool = False
    page: int = 1


@dataclass(frozen=True, kw_only=True)
class AppCommand(Command):
    app: str
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class HistoryCommand(Command):
    app: str
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class AutoSyncCommand(Command):
    app: str
    state: str
    cluster: str | None = None


@dataclass(frozen=True, kw_only=True)
class SyncCommand(Command):
    app: str
    revision: str | None = None
    prune: bool = False
    dry_run: bool = False
    cluster: str | None = None


@dataclass(frozen=True)
class Found:
    """An app the caller may act on: where it lives and its RBAC object."""

    host: ClusterSettings
    detail: cd.AppDetail
    obj: str

    @property
    def destination(self) -> str:
        """The bot's cluster the app deploys to (`*`, `cd.UNMAPPED`, when it maps to none)."""
        return self.obj.split("/", 1)[0]

    @property
    def unmapped(self) -> bool:
        return self.destination == cd.UNMAPPED

    @property
    def shown_destination(self) -> str:
        if self.unmapped:
            return f"unmapped destination {self.detail.summary.cluster}"
        return self.destination


def argocd_hosts(settings: Settings) -> list[ClusterSettings]:
    """The clusters where Argo CD runs (those with `argocd_namespace`)."""
    return [cluster for cluster in settings.clusters if cluster.argocd_namespace]


@runtime_checkable
class ApiUrls(Protocol):
    """Knows each configured cluster's API server URL (`ClusterRegistry.api_url`)."""

    def api_url(self, name: str) -> str | None: ...


def configured_api_url(cluster: ClusterSettings) -> str | None:
    """The API URL a cluster's settings alone tell: a `token` cluster's `server`, `in-cluster`'s own."""
    auth = cluster.auth
    if isinstance(auth, TokenAuth):
        return auth.server
    if isinstance(auth, InClusterAuth):
        return cd.IN_CLUSTER_SERVER
    return None


def destinations_for(host: ClusterSettings, settings: Settings, clusters: object = None) -> dict[str, str]:
    """Argo CD destination (name, or normalised server URL) -> the bot's cluster name, for apps of `host`.

    Each configured cluster is known by its name and `aliases`, its API URL and its
    `server_urls` (`cd.destination_map`); Argo CD's own cluster (`in-cluster`,
    `https://kubernetes.default.svc`) is the host itself. The API URL of a `kubeconfig` or
    `eks` cluster is learned by the cluster registry (`clusters`, when it knows them:
    `ApiUrls`); without it only the settings' URLs are known.
    """
    urls = clusters if isinstance(clusters, ApiUrls) else None
    known = [
        cd.KnownCluster(
            name=cluster.name,
            api_url=urls.api_url(cluster.name) if urls is not None else configured_api_url(cluster),
            server_urls=cluster.server_urls,
            aliases=cluster.aliases,
        )
        for cluster in settings.clusters
    ]
    return cd.destination_map(host=host.name, clusters=known)


def unmapped_refusal(destination: str, *, app: str, verb: str) -> str:
    """Why a write to an app whose destination maps to no configured cluster is refused."""
    kind = "server_urls" if cd.is_server_url(destination) else "aliases"
    shown = mrkdwn.code(destination)  # from the Application: escaped, so it cannot ping anyone
    return (
        f"`{app}` deploys to {shown}, which is not one of this bot's clusters, so `{verb}` "
        f"is refused (its permissions and channel rules could not be checked). Ask an admin to add "
        f"{shown} to `{kind}` of the right cluster in the bot's configuration "
        "(docs/configuration.md, `clusters`)."
    )


def _may(ctx: Context, *, action: str, obj: str) -> bool:
    """Whether the caller may `action` the app `obj`; for an unmapped destination, everywhere.

    An app whose destination maps to no configured cluster (`*/<project>/<app>`) may be any of
    them under a name or URL the bot was not told, so it takes an allow for `*` clusters and
    no deny on the same app on any configured cluster.
    """
    if not ctx.can(resource=rbac.APPLICATIONS, action=action, obj=obj):
        return False
    cluster, rest = obj.split("/", 1)
    if cluster != cd.UNMAPPED:
        return True
    return all(
        ctx.can(resource=rbac.APPLICATIONS, action=action, obj=f"{configured.name}/{rest}")
        for configured in ctx.settings.clusters
    )


def _hosts_or_refuse(settings: Settings) -> list[ClusterSettings]:
    hosts = argocd_hosts(settings)
    if not hosts:
        raise UserError(
            "No Argo CD is configured for this bot yet: ask an admin to set `argocd_namespace` "
            "on the cluster where Argo CD runs."
        )
    return hosts


def _clients(ctx: Context) -> ports.Clusters:
    if ctx.deps.clusters is None:
        raise NotEnabled(f"`{ctx.verb.name}` is not available in this bot's configuration.")
    return ctx.deps.clusters


def list_apps(ctx: Context, command: AppsCommand) -> Reply:
    """Every app on every Argo CD host that the caller may `get`, filtered as asked: the page asked."""
    shown: list[cd.AppSummary] = []
    unmapped: list[cd.AppSummary] = []
    clusters = _clients(ctx)
    for host in _hosts_or_refuse(ctx.settings):
        assert host.argocd_namespace is not None
        mapping = destinations_for(host, ctx.settings, clusters)
        found = cd.list_apps(
            clusters.api_client(host.name),
            namespace=host.argocd_namespace,
            project=command.project,
            out_of_sync=command.out_of_sync,
            degraded=command.degraded,
        )
        for app in found:
            obj = cd.object_for(app, cluster_name_of_destination=mapping)
            cluster = obj.split("/", 1)[0]
            if command.cluster and cluster != command.cluster:
                continue
            if not _may(ctx, action=rbac.ACTION_GET, obj=obj):
                continue
            if cluster == cd.UNMAPPED:
                unmapped.append(app)
                shown.append(app)
            else:  # shown by the name commands take (`--cluster`), whatever Argo CD calls it
                shown.append(replace(app, cluster=cluster))
    shown.sort(key=lambda app: (app.name, app.cluster))
    filters = tuple(
        flag
        for flag, on in (
            (f"--project {command.project}", bool(command.project)),
            ("--out-of-sync", command.out_of_sync),
            ("--degraded", command.degraded),
        )
        if on
    )
    page = render_apps.PageInfo(page=command.page, cluster=command.cluster or "", filters=filters)
    return render_apps.apps_reply(shown, page, unmapped=unmapped, slash=ctx.slash)


def find_app(
    ctx: Context, name: str, *, action: str, destination: str | None, approval_gate: bool = True
) -> Found:
    """The one app `name` (on `destination`, when given) the caller may `action`.

    The lookup filters by the caller's permission on each candidate, so a forbidden app is
    never told apart from a missing one; the one found is then checked through the pipeline,
    which records its precise object and applies its destination's channel binding.

    Raises:
        PermissionDenied: no such app, or not allowed: the same sentence either way.
        UserError: the name matches apps on several destinations (say which with `--cluster`).
        KubeError: a host did not answer.
    """
    verb = ctx.verb.name
    denial = (
        f"There is no application `{name}`"
        + (f" on `{destination}`" if destination else "")
        + f" that you may `{verb}`: check the name (`apps` lists the ones you may see), "
        f"or ask an admin for `{rbac.APPLICATIONS}, {action}`"
    )
    clusters = _clients(ctx)
    writes = action != rbac.ACTION_GET
    matches: list[Found] = []
    refused: list[str] = []  # objects of apps found but not allowed: for the audit row only
    for host in _hosts_or_refuse(ctx.settings):
        assert host.argocd_namespace is not None
        mapping = destinations_for(host, ctx.settings, clusters)

        def allowed(summary: cd.AppSummary, mapping: Mapping[str, str] = mapping) -> bool:
            obj = cd.object_for(summary, cluster_name_of_destination=mapping)
            cluster = obj.split("/", 1)[0]
            if destination and cluster != destination:
                return False
            if writes and cluster == cd.UNMAPPED:
                # never written to; whoever may see it is told why (below), others hear "no such app"
                may = _may(ctx, action=rbac.ACTION_GET, obj=obj)
            else:
                may = _may(ctx, action=action, obj=obj)
            if not may:
                refused.append(obj)
            return may

        try:
            detail = cd.require_app(
                clusters.api_client(host.name),
                namespace=host.argocd_namespace,
                name=name,
                allowed=allowed,
                denial=denial,
            )
        except UserError:
            continue
        obj = cd.object_for(detail.summary, cluster_name_of_destination=mapping)
        matches.append(Found(host=host, detail=detail, obj=obj))
    if not matches:
        # the person reads the same sentence either way; the audit row names the app refused
        obj = (
            refused[0]
            if len(refused) == 1
            else rbac.application_object(
                cluster=destination or rbac.WILDCARD, project=rbac.WILDCARD, app=name
            )
        )
        raise PermissionDenied(denial, resource=rbac.APPLICATIONS, action=action, obj=obj)
    if len(matches) > 1:
        places = ", ".join(mrkdwn.code(found.shown_destination) for found in matches)
        raise UserError(
            f"More than one application is called `{name}` (destinations {places}): "
            f"add `--cluster` with one of them."
        )
    found = matches[0]
    if writes and found.unmapped:
        raise PermissionDenied(
            unmapped_refusal(found.detail.summary.cluster, app=name, verb=verb),
            resource=rbac.APPLICATIONS,
            action=action,
            obj=found.obj,
        )
    ctx.require(
        resource=rbac.APPLICATIONS,
        action=action,
        obj=found.obj,
        cluster=None if found.unmapped else found.destination,
        denial=denial,
        approval_gate=approval_gate,
    )
    return found


def show_app(ctx: Context, command: AppCommand | HistoryCommand) -> Reply:
    """`app APP` (status, source, last operation) or `history APP` (deploys with their ids)."""
    found = find_app(ctx, command.app, action=rbac.ACTION_GET, destination=command.cluster)
    if isinstance(command, HistoryCommand):
        return render_apps.history_reply(found.detail)
    return render_apps.app_reply(found.detail)


def sync_app(ctx: Context, command: SyncCommand) -> Reply:
    """Request an Argo CD sync and follow it in a thread of the channel it was asked in.

    Under an `approvals.require_for` rule (a dry run changes nothing and needs none), the sync
    is not written: an approval card is posted instead, and the approved sync runs then.
    """
    found = find_app(
        ctx, command.app, action=rbac.ACTION_SYNC, destination=command.cluster, approval_gate=False
    )
    rule = flow.rule_for(
        ctx.settings.approvals.require_for, resource=rbac.APPLICATIONS, action=rbac.ACTION_SYNC, obj=found.obj
    )
    if rule is not None and not command.dry_run:
        return _request_approval(ctx, command, found, rule)
    launcher = ctx.deps.launcher
    if launcher is None:
        raise NotEnabled("`sync` is not available in this bot's configuration.")
    host = found.host
    assert host.argocd_namespace is not None
    namespace = host.argocd_namespace
    actor = ctx.actor
    api = _clients(ctx).api_client(host.name)
    plan = Plan(
        kind=records.RUN_SYNC,
        cluster=host.name,
        namespace=namespace,
        requester_id=actor.user_id,
        requester_name=actor.name,
        channel_id=ctx.origin.channel_id,
        template=command.app,
        revision=command.revision,
        parameters={
            sync_tracker.DESTINATION_PARAMETER: found.destination,
            "prune": command.prune,
            "dry_run": command.dry_run,
        },
    )

    def act(run: records.Run) -> str:
        cd.request_sync(
            api,
            namespace=namespace,
            name=command.app,
            username=actor.email or actor.name,
            revision=command.revision,
            prune=command.prune,
            dry_run=command.dry_run,
            info=sync_tracker.operation_info(run.id),
        )
        return run_name(command.app, run)

    requested = _requested(command, destination=found.destination)
    launcher.launch(plan, act, on_written=lambda run: ctx.wrote(requested, run_id=run.id))
    return Reply(text=f":arrows_counterclockwise: {requested} Its progress follows in the channel thread.")


def _request_approval(ctx: Context, command: SyncCommand, found: Found, rule: ApprovalRule) -> Reply:
    """Record a sync request under `rule` and post its card; nothing is written to Argo CD yet."""
    approvals, cards = ctx.deps.approvals, ctx.deps.cards
    if approvals is None or cards is None:
        raise NotEnabled("Syncs under an approval rule are not available in this bot's configuration.")
    channel = ctx.settings.slack.approvals_channel or ctx.origin.channel_id
    summary = found.detail.summary
    approval = approvals.request_sync(
        actor=ctx.actor,
        channel_id=channel,
        cluster=found.destination,
        project=summary.project,
        app=command.app,
        rule=rule,
        deployed_revision=summary.revision,
        revision=command.revision,
        target_revision=found.detail.target_revision,
        prune=command.prune,
    )
    ctx.wrote(f"A sync of `{command.app}` was requested; it waits for approval.")
    assert found.host.argocd_namespace is not None
    changes = what_changes(
        ctx,
        host=found.host.name,
        namespace=found.host.argocd_namespace,
        app=command.app,
        from_revision=approval.from_revision,
        to_revision=approval.to_revision,
    )
    text, blocks = render_approvals.render_request(approval, now=ctx.now(), changes=changes)
    # through the outbox: the card appears once, even if Slack is down right now
    cards.post(key=card_key(approval.id), channel=channel, text=text, blocks=blocks, priority=PRIORITY_CARD)
    needed = f"{approval.required_approvals} approvals" if approval.required_approvals > 1 else "an approval"
    return Reply(
        text=(
            f":hourglass: `{command.app}` on `{found.destination}` syncs only after {needed} "
            f"(rule `{rule.resource}, {rule.action}, {rule.object}`). The card is in <#{channel}>."
        )
    )


def what_changes(
    ctx: Context, *, host: str, namespace: str, app: str, from_revision: str, to_revision: str
) -> list[dict[str, Any]]:
    """The card's "what will change": the app's out-of-sync and to-be-pruned resources, from -> to
    revisions with a Compare link, and Argo CD's manifest diff when its API server is configured.

    Best effort: what cannot be read is left out (logged), the card is posted anyway.
    """
    clusters = ctx.deps.clusters
    if clusters is None:
        return []
    try:
        obj = cd.get_app_object(clusters.api_client(host), namespace=namespace, name=app)
    except BotError as exc:
        log.info("no changes shown for %s: %s", app, exc)
        return []
    changes = render_changes.pending_changes(obj)
    diff = diff_url = None
    diffs = ctx.deps.diffs
    if diffs is not None:
        try:
            diff = unified_diff(diffs.managed_resources(app, namespace))
            diff_url = f"{diffs.server_url}/applications/{namespace}/{app}"
        except BotError as exc:
            log.warning("no manifest diff on the card of %s: %s", app, exc)
    return render_changes.changes_blocks(
        changes,
        from_revision=from_revision,
        to_revision=to_revision,
        repo_url=changes.repo_url or None,
        manifest_diff=diff or None,
        diff_url=diff_url,
    )


def set_auto_sync(ctx: Context, command: AutoSyncCommand) -> Reply:
    """`autosync APP on|off`: Argo CD's automated sync (on restores what a rollback turned off)."""
    found = find_app(ctx, command.app, action=rbac.ACTION_UPDATE, destination=command.cluster)
    host = found.host
    assert host.argocd_namespace is not None
    on = command.state == "on"
    changed = cd.set_auto_sync(
        _clients(ctx).api_client(host.name), namespace=host.argocd_namespace, name=command.app, on=on
    )
    where = f"`{command.app}` on `{found.destination}`"
    if not changed:
        return Reply(text=f"Auto-sync is already {command.state} for {where}: nothing was changed.")
    ctx.wrote(f"Auto-sync was turned {command.state} for `{command.app}`.")
    if on:
        text = f":arrows_counterclockwise: Auto-sync is on again for {where}: Argo CD syncs it from Git."
    else:
        text = f":pause_button: Auto-sync is off for {where}: it changes only when someone syncs it."
    return Reply(text=text, visibility=Visibility.IN_CHANNEL)


def _state(value: str) -> str:
    if value in ("on", "off"):
        return value
    raise values.Invalid(f"`{values.shown(value)}` is neither `on` nor `off`.")


def _requested(command: SyncCommand, *, destination: str) -> str:
    details: Sequence[str] = [
        f"revision `{command.revision}`" if command.revision else "its target revision",
        *(["with prune"] if command.prune else []),
        *(["as a dry run"] if command.dry_run else []),
    ]
    return f"Sync of `{command.app}` on `{destination}` requested ({', '.join(details)})."


# --- the records ------------------------------------------------------------------------

DESTINATION = Option(
    ("--cluster",),
    "cluster",
    "the cluster the application deploys to (its Argo CD destination)",
    metavar="C",
    check=values.label("cluster"),
)
APP = Positional("APP", "app", values.subdomain("application"))

VERBS = (
    Verb(
        name="apps",
        command=AppsCommand,
        summary="List Argo CD applications, optionally only those out of sync or degraded.",
        area="apps",
        execute=list_apps,
        options=(
            DESTINATION,
            Option(
                ("--project",),
                "project",
                "only applications of that Argo CD project",
                metavar="P",
                check=values.subdomain("project"),
            ),
            Option(("--out-of-sync",), "out_of_sync", "only applications not Synced", kind="flag"),
            Option(("--degraded",), "degraded", "only applications whose health is Degraded", kind="flag"),
            Option(
                ("--page",),
                "page",
                f"which page of the list, {render_apps.PAGE_SIZE} applications a page (default 1; "
                "past the last page shows the last)",
                metavar="N",
                check=values.page,
            ),
        ),
        examples=(
            "{command} apps --out-of-sync",
            "{command} apps --project payments --degraded",
            "{command} apps --page 2",
        ),
        permission=(rbac.APPLICATIONS, rbac.ACTION_GET),
        object_form=OBJECT_FORM,
        scope="destination",
    ),
    Verb(
        name="app",
        command=AppCommand,
        summary="Show an application: sync and health status, revision, last operation.",
        area="apps",
        execute=show_app,
        positionals=(APP,),
        options=(DESTINATION,),
        examples=("{command} app payments-api",),
        permission=(rbac.APPLICATIONS, rbac.ACTION_GET),
        object_form=OBJECT_FORM,
        scope="destination",
    ),
    Verb(
        name="history",
        command=HistoryCommand,
        summary="Show an application's deploy history with the ids `rollback` takes.",
        area="apps",
        execute=show_app,
        positionals=(APP,),
        options=(DESTINATION,),
        examples=("{command} history payments-api",),
        permission=(rbac.APPLICATIONS, rbac.ACTION_GET),
        object_form=OBJECT_FORM,
        scope="destination",
    ),
    Verb(
        name="sync",
        command=SyncCommand,
        summary="Sync an Argo CD application and follow the sync in a thread.",
        area="apps",
        execute=sync_app,
        positionals=(APP,),
        options=(
            Option(
                ("--revision",),
                "revision",
                "a commit SHA, tag or branch (default: the app's target revision)",
                metavar="R",
                check=values.revision,
            ),
            Option(("--prune",), "prune", "delete resources no longer in Git", kind="flag"),
            Option(("--dry-run",), "dry_run", "show what would change without applying it", kind="flag"),
            DESTINATION,
        ),
        examples=("{command} sync payments-api", "{command} sync payments-api --revision v1.4.2 --prune"),
        permission=(rbac.APPLICATIONS, rbac.ACTION_SYNC),
        object_form=OBJECT_FORM,
        scope="destination",
        writes=True,
    ),
    Verb(
        name="autosync",
        command=AutoSyncCommand,
        summary="Turn Argo CD's automated sync on (after a rollback pinned the app) or off.",
        area="apps",
        execute=set_auto_sync,
        positionals=(APP, Positional("on|off", "state", _state)),
        options=(DESTINATION,),
        examples=("{command} autosync payments-api on", "{command} autosync payments-api off"),
        permission=(rbac.APPLICATIONS, rbac.ACTION_UPDATE),
        object_form=OBJECT_FORM,
        scope="destination",
        writes=True,
    ),
)
