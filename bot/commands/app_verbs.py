"""The Argo CD verbs: apps, app, history, sync.

Each function is one use case, composed from the Argo CD adapter (`bot.argo.cd`), the run store,
the sync tracker and the policy. Argo CD hosts are the configured clusters with an
`argocd_namespace`; an app is looked up on every host. Its RBAC object is
`<destination cluster>/<project>/<app>` (`cd.object_for`, with each host's `in-cluster` mapped
to that host's name), and `--cluster C` always means the app's destination.

Permission before existence: the project is only known once the app is read, so the app is
read, then checked, and a missing app and a forbidden one get the same answer (a
`PermissionDenied`, audited as a deny either way, as for workflows).

A sync is refused with the channel to use when the app's destination cluster is bound to other
channels, and with `ApprovalRequired` when an `approvals.require_for` rule covers it (approved
syncs are not available in this version). Rollback and schedules are not here.
Called by `bot.commands.handlers`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.argo import cd
from bot.commands import grammar, targets
from bot.config import ClusterSettings, Settings
from bot.errors import ApprovalRequired, PermissionDenied, UserError
from bot.model import Actor, Origin, Reply
from bot.rbac import policy as rbac
from bot.rbac.enforcer import Enforcer, glob_match
from bot.render import apps as render_apps
from bot.store import records
from bot.tracking import sync_tracker

RUN_NAME_ID_CHARS = 8


class Clusters(Protocol):
    def api_client(self, name: str) -> Any: ...


class SyncRunBook(Protocol):
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
        revision: str | None = None,
    ) -> records.Run: ...

    def update_progress(
        self,
        run_id: str,
        *,
        now: datetime,
        phase: str = ...,
        message: str = ...,
        name: str | None = ...,
        finished_at: datetime | None = ...,
    ) -> records.Run: ...

    def mark_final_posted(self, run_id: str, *, now: datetime) -> bool: ...


class SyncStarter(Protocol):
    def start_sync(self, run: records.Run) -> records.Run: ...


@dataclass(frozen=True)
class Found:
    """An app the caller may act on: where it lives and its RBAC object."""

    host: ClusterSettings
    detail: cd.AppDetail
    obj: str

    @property
    def destination(self) -> str:
        return self.obj.split("/", 1)[0]


def argocd_hosts(settings: Settings) -> list[ClusterSettings]:
    """The clusters where Argo CD runs (those with `argocd_namespace`)."""
    return [cluster for cluster in settings.clusters if cluster.argocd_namespace]


def destinations_for(host: ClusterSettings, settings: Settings) -> dict[str, str]:
    """Argo CD destination -> the bot's cluster name, for apps of `host`.

    Destination names equal to a configured cluster name map to it; Argo CD's own cluster
    (`in-cluster`, `https://kubernetes.default.svc`) is the host itself.
    """
    mapping = {cluster.name: cluster.name for cluster in settings.clusters}
    mapping[cd.IN_CLUSTER_NAME] = host.name
    mapping[cd.IN_CLUSTER_SERVER] = host.name
    return mapping


def _hosts_or_refuse(settings: Settings) -> list[ClusterSettings]:
    hosts = argocd_hosts(settings)
    if not hosts:
        raise UserError(
            "No Argo CD is configured for this bot yet: ask an admin to set `argocd_namespace` "
            "on the cluster where Argo CD runs."
        )
    return hosts


def list_apps(
    command: grammar.AppsCommand,
    *,
    actor: Actor,
    settings: Settings,
    enforcer: Enforcer,
    clusters: Clusters,
) -> Reply:
    """Every app on every Argo CD host that the caller may `get`, filtered as asked."""
    shown: list[cd.AppSummary] = []
    for host in _hosts_or_refuse(settings):
        assert host.argocd_namespace is not None
        mapping = destinations_for(host, settings)
        found = cd.list_apps(
            clusters.api_client(host.name),
            namespace=host.argocd_namespace,
            project=command.project,
            out_of_sync=command.out_of_sync,
            degraded=command.degraded,
        )
        for app in found:
            obj = cd.object_for(app, cluster_name_of_destination=mapping)
            if command.cluster and obj.split("/", 1)[0] != command.cluster:
                continue
            if enforcer.can(actor.subjects, resource=rbac.APPLICATIONS, action=rbac.ACTION_GET, obj=obj):
                shown.append(app)
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
    return render_apps.apps_reply(shown, render_apps.PageInfo(cluster=command.cluster or "", filters=filters))


def find_app(
    name: str,
    *,
    action: str,
    verb: str,
    destination: str | None,
    actor: Actor,
    settings: Settings,
    enforcer: Enforcer,
    clusters: Clusters,
) -> Found:
    """The one app `name` (on `destination`, when given) the caller may `action`.

    Raises:
        PermissionDenied: no such app, or not allowed: the same sentence either way.
        UserError: the name matches apps on several destinations (say which with `--cluster`).
        KubeError: a host did not answer.
    """
    denial = (
        f"There is no application `{name}`"
        + (f" on `{destination}`" if destination else "")
        + f" that you may `{verb}`: check the name (`apps` lists the ones you may see), "
        f"or ask an admin for `{rbac.APPLICATIONS}, {action}`"
    )
    matches: list[Found] = []
    for host in _hosts_or_refuse(settings):
        assert host.argocd_namespace is not None
        mapping = destinations_for(host, settings)

        def allowed(summary: cd.AppSummary, mapping: Mapping[str, str] = mapping) -> bool:
            obj = cd.object_for(summary, cluster_name_of_destination=mapping)
            if destination and obj.split("/", 1)[0] != destination:
                return False
            return enforcer.can(actor.subjects, resource=rbac.APPLICATIONS, action=action, obj=obj)

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
        obj = rbac.application_object(cluster=destination or rbac.WILDCARD, project=rbac.WILDCARD, app=name)
        raise PermissionDenied(denial, resource=rbac.APPLICATIONS, action=action, obj=obj)
    if len(matches) > 1:
        places = ", ".join(f"`{found.destination}`" for found in matches)
        raise UserError(
            f"More than one application is called `{name}` (destinations {places}): "
            f"add `--cluster` with one of them."
        )
    return matches[0]


def show_app(
    command: grammar.AppCommand | grammar.HistoryCommand,
    *,
    actor: Actor,
    settings: Settings,
    enforcer: Enforcer,
    clusters: Clusters,
    note_object: Callable[[str], None],
) -> Reply:
    """`app APP` (status, source, last operation) or `history APP` (deploys with their ids)."""
    found = find_app(
        command.app,
        action=rbac.ACTION_GET,
        verb=command.verb,
        destination=command.cluster,
        actor=actor,
        settings=settings,
        enforcer=enforcer,
        clusters=clusters,
    )
    note_object(found.obj)
    if isinstance(command, grammar.HistoryCommand):
        return render_apps.history_reply(found.detail)
    return render_apps.app_reply(found.detail)


def approval_rule_for(settings: Settings, *, resource: str, action: str, obj: str) -> str | None:
    """The `approvals.require_for` rule (as "resource, action, object") covering this action, if any."""
    for rule in settings.approvals.require_for:
        if rule.resource == resource and glob_match(action, rule.action) and glob_match(obj, rule.object):
            return f"{rule.resource}, {rule.action}, {rule.object}"
    return None


def sync_app(
    command: grammar.SyncCommand,
    *,
    actor: Actor,
    origin: Origin,
    settings: Settings,
    enforcer: Enforcer,
    clusters: Clusters,
    runs: SyncRunBook,
    tracker: SyncStarter,
    now: datetime,
    note_object: Callable[[str], None],
) -> Reply:
    """Request an Argo CD sync and follow it in a thread of the channel it was asked in."""
    found = find_app(
        command.app,
        action=rbac.ACTION_SYNC,
        verb="sync",
        destination=command.cluster,
        actor=actor,
        settings=settings,
        enforcer=enforcer,
        clusters=clusters,
    )
    note_object(found.obj)
    destination = settings.cluster(found.destination)
    if destination is not None:
        refusal = targets.channel_refusal(destination, origin.channel_id)
        if refusal:
            raise UserError(refusal)
    rule = approval_rule_for(settings, resource=rbac.APPLICATIONS, action=rbac.ACTION_SYNC, obj=found.obj)
    if rule is not None:
        raise ApprovalRequired(
            f"Syncing `{command.app}` needs an approval (rule `{rule}`), and approvals for `sync` "
            "are not enabled yet in this version, so nothing was done. Ask an admin to sync it."
        )
    host = found.host
    assert host.argocd_namespace is not None
    run = runs.create(
        kind=records.RUN_SYNC,
        cluster=host.name,
        namespace=host.argocd_namespace,
        requester_id=actor.user_id,
        requester_name=actor.name,
        channel_id=origin.channel_id,
        now=now,
        template=command.app,
        revision=command.revision,
        parameters={
            sync_tracker.DESTINATION_PARAMETER: found.destination,
            "prune": command.prune,
            "dry_run": command.dry_run,
        },
    )
    try:
        cd.request_sync(
            clusters.api_client(host.name),
            namespace=host.argocd_namespace,
            name=command.app,
            username=actor.email or actor.name,
            revision=command.revision,
            prune=command.prune,
            dry_run=command.dry_run,
            info=sync_tracker.operation_info(run.id),
        )
    except Exception as exc:
        _close(runs, run=run, now=now, message=str(exc))
        raise
    run = runs.update_progress(run.id, now=now, name=f"{command.app}@{run.id[:RUN_NAME_ID_CHARS]}")
    tracker.start_sync(run)
    return Reply(text=_requested(command, destination=found.destination))


def _close(runs: SyncRunBook, *, run: records.Run, now: datetime, message: str) -> None:
    """A sync that was never written: finish its run so no tracker waits for it."""
    runs.update_progress(run.id, now=now, phase="Error", message=message[:500], finished_at=now)
    runs.mark_final_posted(run.id, now=now)


def _requested(command: grammar.SyncCommand, *, destination: str) -> str:
    details: Sequence[str] = [
        f"revision `{command.revision}`" if command.revision else "its target revision",
        *(["with prune"] if command.prune else []),
        *(["as a dry run"] if command.dry_run else []),
    ]
    return (
        f":arrows_counterclockwise: Sync of `{command.app}` on `{destination}` requested "
        f"({', '.join(details)}). Its progress follows in the channel thread."
    )
