"""What a use case is handed while the pipeline carries one action: who, where, and the checks.

A use case never checks permissions its own way: it calls `Context.require` (the precise check
once a lookup found the object; it also applies the channel binding and, for writes, the
approval rules) or `Context.can` (to filter a listing). `Context.wrote` tells the pipeline the
cluster write happened, so a later failure is reported as "done, announcement delayed" and
never as "nothing was done".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot import records
from bot.actions import ports
from bot.actions.admission import RateLimiter
from bot.announcing import Announcer
from bot.commands.registry import Registry, Target, Verb
from bot.config import ClusterSettings, Settings
from bot.errors import ApprovalRequired, PermissionDenied, UserError
from bot.model import Actor, Origin
from bot.rbac.enforcer import Enforcer, glob_match

if TYPE_CHECKING:
    from bot.actions.launcher import Launcher
    from bot.approvals.service import ApprovalService


class PolicyProvider(Protocol):
    def current(self) -> Enforcer: ...


@dataclass(frozen=True)
class Workspace:
    """Where the bot is installed (from `auth.test`): requests from elsewhere are refused."""

    team_id: str
    enterprise_id: str | None = None


@dataclass(frozen=True)
class Deps:
    """What the use cases need. The cluster parts are None where a bot runs without clusters."""

    settings: Settings
    policy: PolicyProvider
    audit: ports.AuditLog
    registry: Registry
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    directory: ports.Directory | None = None
    clusters: ports.Clusters | None = None
    runs: ports.RunBook | None = None
    launcher: Launcher | None = None
    links: ports.LogLinks | None = None
    schedules: ports.ScheduleBook | None = None
    subscriptions: ports.SubscriptionBook | None = None
    approvals: ApprovalService | None = None
    cards: Announcer | None = None
    diffs: ports.ManifestDiffs | None = None
    limiter: RateLimiter | None = None
    workspace: Workspace | None = None


@dataclass
class Attempt:
    """What was decided and done so far, so the audit row says it whatever happens next."""

    target: Target | None = None
    decision: str = records.DECISION_NONE
    written: str | None = None
    run_id: str | None = None


def channel_refusal(cluster: ClusterSettings, channel_id: str) -> str | None:
    """Why a cluster may not be used from this channel, or None when it may."""
    if not cluster.channels or channel_id in cluster.channels:
        return None
    places = ", ".join(f"<#{c}>" for c in cluster.channels)
    return f"Commands for cluster `{cluster.name}` are accepted only in {places}. Please ask there."


def default_cluster(settings: Settings, channel_id: str = "") -> ClusterSettings | None:
    """The cluster a command without `--cluster` is for.

    In a channel that exactly one cluster is bound to, that cluster (typing `run x` in the prod
    channel means prod); anywhere else, the first configured cluster (docs/configuration.md).
    """
    bound = [cluster for cluster in settings.clusters if channel_id and channel_id in cluster.channels]
    if len(bound) == 1:
        return bound[0]
    return settings.clusters[0] if settings.clusters else None


def resolve_cluster(
    verb: Verb, command: Any, settings: Settings, *, channel_id: str = ""
) -> ClusterSettings | None:
    """The cluster a command is aimed at, or None for commands that are not about one.

    Raises:
        UserError: the named cluster is not configured, or none is configured at all.
    """
    name: str | None = getattr(command, "cluster", None)
    if verb.scope == "none" or (verb.scope == "destination" and name is None):
        return None
    if verb.scope == "destination":
        # an app's destination need not be a cluster the bot talks to; bound channels apply
        # when it is one (and once more after the lookup, in `Context.require`)
        return settings.cluster(name) if name else None
    if name is None:
        cluster = default_cluster(settings, channel_id)
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


def binds_channels(verb: Verb) -> bool:
    """Channel bindings apply to every cluster verb, and to Argo CD verbs only when they write.

    Reading apps is not bound (`apps` lists every destination anyway); workflows are read and
    changed only in the channels of their cluster.
    """
    return verb.writes or verb.scope == "cluster"


def approval_rule_for(settings: Settings, *, resource: str, action: str, obj: str) -> str | None:
    """The `approvals.require_for` rule (as "resource, action, object") covering this action, if any."""
    for rule in settings.approvals.require_for:
        if rule.resource == resource and glob_match(action, rule.action) and glob_match(obj, rule.object):
            return f"{rule.resource}, {rule.action}, {rule.object}"
    return None


@dataclass
class Context:
    """One action in progress. Built by the pipeline, handed to `Verb.execute`."""

    verb: Verb
    actor: Actor
    origin: Origin
    deps: Deps
    enforcer: Enforcer
    reference: str
    cluster: ClusterSettings | None = None
    attempt: Attempt = field(default_factory=Attempt)

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    @property
    def slash(self) -> str:
        return self.deps.settings.slack.command

    def now(self) -> datetime:
        return self.deps.clock()

    def can(self, *, resource: str, action: str, obj: str) -> bool:
        """Whether the person may act on `obj` (to filter what a listing shows)."""
        return self.enforcer.can(self.actor.subjects, resource=resource, action=action, obj=obj)

    def require(
        self,
        *,
        resource: str,
        action: str,
        obj: str,
        cluster: str | None = None,
        denial: str | None = None,
        approval_gate: bool = True,
    ) -> None:
        """The precise check on an object found by a lookup; records it for the audit row.

        For a write it also applies the channel binding of `cluster` (when it is a configured
        cluster) and the `approvals.require_for` rules (`approval_gate=False` for verbs that
        are approval requests themselves).

        Raises:
            PermissionDenied: with `denial` when given (so "not found" and "not allowed" read
                the same), else a sentence naming the permission.
            UserError: the cluster is bound to other channels.
            ApprovalRequired: an approval rule covers this write.
        """
        self.attempt.target = Target(resource, action, obj, cluster, precise=True)
        if denial is not None:
            if not self.can(resource=resource, action=action, obj=obj):
                self.attempt.decision = records.DECISION_DENY
                raise PermissionDenied(denial, resource=resource, action=action, obj=obj)
        else:
            self.enforcer.require(self.actor.subjects, resource=resource, action=action, obj=obj)
        self.attempt.decision = records.DECISION_ALLOW
        settings = self.deps.settings
        configured = settings.cluster(cluster) if cluster else None
        if configured is not None and binds_channels(self.verb):
            refusal = channel_refusal(configured, self.origin.channel_id)
            if refusal:
                raise UserError(refusal)
        if self.verb.writes and approval_gate:
            rule = approval_rule_for(settings, resource=resource, action=action, obj=obj)
            if rule is not None:
                raise ApprovalRequired(
                    f"`{self.verb.name}` on `{obj}` needs an approval (rule `{rule}`), and approvals "
                    f"for `{action}` are not enabled yet in this version, so nothing was done. "
                    "Ask an admin to do it."
                )

    def wrote(self, what: str, *, run_id: str | None = None) -> None:
        """The cluster (or store) write happened: from now on, failures are announce failures."""
        self.attempt.written = what
        if run_id is not None:
            self.attempt.run_id = run_id
