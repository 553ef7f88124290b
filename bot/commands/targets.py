"""What a command touches: its cluster, and the RBAC (resource, action, object) it needs. Pure.

Objects follow Argo CD's form: `<cluster>/<namespace>/<template>` for workflows and
`<cluster>/<project>/<app>` for applications. Where the precise object is only known after a
lookup (which project an app is in, which template a workflow came from), the target says so
(`precise=False`) and the caller checks that the person may do the action *somewhere* before
looking anything up; the precise check follows the lookup, so "not found" and "not allowed"
read the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import catalog, grammar
from bot.config import ClusterSettings, Settings
from bot.errors import UserError
from bot.rbac import policy as rbac


@dataclass(frozen=True)
class Target:
    resource: str
    action: str
    obj: str
    cluster: str | None
    precise: bool


_CLUSTER_VERBS = (
    grammar.TemplatesCommand,
    grammar.RunCommand,
    grammar.WorkflowCommand,
    grammar.RollbackCommand,
)
#: Argo CD verbs: `--cluster` names the apps' destination, which need not be a cluster the bot
#: talks to (Argo CD may deploy to clusters the bot has no credentials for).
_DESTINATION_VERBS = (
    grammar.AppsCommand,
    grammar.AppCommand,
    grammar.HistoryCommand,
    grammar.SyncCommand,
)


def default_cluster(settings: Settings) -> ClusterSettings | None:
    """The first configured cluster is the default (docs/configuration.md says so)."""
    return settings.clusters[0] if settings.clusters else None


def resolve_cluster(command: grammar.Command, settings: Settings) -> ClusterSettings | None:
    """The cluster a command is aimed at, or None for commands that are not about one.

    Raises:
        UserError: the named cluster is not configured, or none is configured at all.
    """
    if isinstance(command, _DESTINATION_VERBS):
        # No default: an app is looked up on every Argo CD host. Reading apps is not bound to
        # channels (`apps` lists every destination anyway); a sync is bound to the channels of
        # its destination, checked after the lookup, or here already when `--cluster` names it.
        if isinstance(command, grammar.SyncCommand) and command.cluster:
            return settings.cluster(command.cluster)
        return None
    if not isinstance(command, _CLUSTER_VERBS):
        return None
    name: str | None = getattr(command, "cluster", None)
    if name is None:
        cluster = default_cluster(settings)
        if cluster is None:
            raise UserError(
                "No cluster is configured for this bot yet: ask an admin to add one under `clusters`."
            )
        return cluster
    cluster = settings.cluster(name)
    if cluster is None:
        known = ", ".join(f"`{c.name}`" for c in settings.clusters) or "none"
        raise UserError(f"There is no cluster `{name}`. Configured clusters: {known}.")
    return cluster


def target_for(command: grammar.Command, *, cluster: ClusterSettings | None) -> Target | None:
    """The permission a command needs; None for help and whoami."""
    permission = catalog.permission_for(command)
    if permission is None:
        return None
    resource, action = permission
    cluster_name = cluster.name if cluster else None
    if isinstance(command, grammar.RunCommand) and cluster is not None:
        namespace = command.namespace or cluster.workflows_namespace
        obj = rbac.workflow_object(cluster=cluster.name, namespace=namespace, template=command.template)
        return Target(resource, action, obj, cluster_name, precise=True)
    if isinstance(command, grammar.TemplatesCommand) and cluster is not None:
        obj = rbac.workflow_object(cluster=cluster.name, namespace=cluster.workflows_namespace, template="*")
        return Target(resource, action, obj, cluster_name, precise=False)
    if isinstance(command, _DESTINATION_VERBS):
        # the precise `<cluster>/<project>/<app>` is known only after the lookup (app_verbs)
        return Target(resource, action, rbac.WILDCARD, command.cluster, precise=False)
    if isinstance(command, grammar.AuditCommand):
        return Target(resource, action, rbac.WILDCARD, None, precise=True)
    return Target(resource, action, rbac.WILDCARD, cluster_name, precise=False)


def channel_refusal(cluster: ClusterSettings, channel_id: str) -> str | None:
    """Why a cluster may not be used from this channel, or None when it may."""
    if not cluster.channels or channel_id in cluster.channels:
        return None
    places = ", ".join(f"<#{c}>" for c in cluster.channels)
    return f"Commands for cluster `{cluster.name}` are accepted only in {places}. Please ask there."
