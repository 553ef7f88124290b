"""What a subscription means: its triggers, what it matches, and its ids. Pure.

A subscription asks for threads about operations the bot did not start (a sync started from
Git, automated sync or the Argo CD UI; a Workflow a CronWorkflow or a CI job submitted). The
grammar, the config file and the follower all read triggers and globs through this module, so
"what does this subscription cover" has one answer. Leaves out storage (`bot.store`) and
permissions (the pipeline, and the follower's check of the creator before each post).
"""

from __future__ import annotations

import fnmatch
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.config import SUBSCRIPTION_TRIGGERS, SubscriptionSettings
from bot.labels import selector_matches
from bot.records import (
    SUBSCRIPTION_APPS,
    SUBSCRIPTION_FROM_CONFIG,
    SUBSCRIPTION_WORKFLOWS,
    Subscription,
)

KINDS = (SUBSCRIPTION_APPS, SUBSCRIPTION_WORKFLOWS)

SYNC_STARTED = "sync-started"
SYNC_SUCCEEDED = "sync-succeeded"
SYNC_FAILED = "sync-failed"
WORKFLOW_STARTED = "started"
WORKFLOW_SUCCEEDED = "succeeded"
WORKFLOW_FAILED = "failed"
#: The triggers a sync thread answers to (the others are about an app's condition, `bot.conditions`).
SYNC_TRIGGERS = (SYNC_STARTED, SYNC_SUCCEEDED, SYNC_FAILED)

#: Triggers each kind accepts today, and the default when `--on` is not given.
TRIGGERS = SUBSCRIPTION_TRIGGERS
DEFAULT_TRIGGERS = {
    SUBSCRIPTION_APPS: (SYNC_SUCCEEDED, SYNC_FAILED),
    SUBSCRIPTION_WORKFLOWS: (WORKFLOW_FAILED,),
}

ID_PREFIX = "sub-"
CONFIG_ID_PREFIX = "config-"


def glob_match(value: str, pattern: str) -> bool:
    """The policy's glob (`*` matches any run of characters, `/` included), case-sensitive."""
    return fnmatch.fnmatchcase(value, pattern)


class BadTriggers(ValueError):
    """The `--on` list named something this kind does not (yet) support; the message says what."""


def parse_triggers(kind: str, text: str | None) -> tuple[str, ...]:
    """`--on a,b` for a subscription of `kind`, in the canonical order; the default when None.

    Raises:
        BadTriggers: empty, or a trigger this kind does not have.
    """
    known = TRIGGERS[kind]
    if text is None:
        return DEFAULT_TRIGGERS[kind]
    asked = [part.strip() for part in text.split(",") if part.strip()]
    if not asked:
        raise BadTriggers(f"`--on` needs at least one of {_listed(known)}.")
    for trigger in asked:
        if trigger not in known:
            raise BadTriggers(f"`{trigger[:60]}` is not a trigger for {kind}. Choose from {_listed(known)}.")
    return tuple(trigger for trigger in known if trigger in asked)


def _listed(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def new_id() -> str:
    """A short id people can type back: `sub-` and six hexadecimal digits."""
    return ID_PREFIX + secrets.token_hex(3)


@dataclass(frozen=True)
class AppOperation:
    """What a subscription to apps is matched against: an app and what happened to its sync."""

    name: str
    project: str
    cluster: str | None
    trigger: str


@dataclass(frozen=True)
class WorkflowOperation:
    """What a subscription to workflows is matched against."""

    template: str
    cluster: str
    trigger: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


def matches_app(subscription: Subscription, app: AppOperation) -> bool:
    """Whether `subscription` asks for this app and this trigger (name glob, project, cluster)."""
    return (
        subscription.kind == SUBSCRIPTION_APPS
        and app.trigger in subscription.triggers
        and glob_match(app.name, subscription.name)
        and (subscription.project is None or subscription.project == app.project)
        and (subscription.cluster is None or subscription.cluster == app.cluster)
    )


def about_app(subscription: Subscription, *, name: str, project: str, cluster: str | None) -> bool:
    """Whether `subscription` is about this app (name glob, project, cluster), whatever it asks."""
    return (
        subscription.kind == SUBSCRIPTION_APPS
        and glob_match(name, subscription.name)
        and (subscription.project is None or subscription.project == project)
        and (subscription.cluster is None or subscription.cluster == cluster)
    )


def matches_workflow(subscription: Subscription, workflow: WorkflowOperation) -> bool:
    """Whether `subscription` asks for Workflows like this one, for this trigger."""
    return workflow.trigger in subscription.triggers and about_workflow(subscription, workflow)


def about_workflow(subscription: Subscription, workflow: WorkflowOperation) -> bool:
    """Whether `subscription` is about Workflows like this one (template glob, cluster, namespace,
    labels), whatever it asks."""
    return (
        subscription.kind == SUBSCRIPTION_WORKFLOWS
        and glob_match(workflow.template, subscription.name)
        and (subscription.cluster is None or subscription.cluster == workflow.cluster)
        and (subscription.namespace is None or subscription.namespace == workflow.namespace)
        and (subscription.selector is None or selector_matches(subscription.selector, workflow.labels))
    )


def followed_run_id(subscription_channel: str, *parts: str) -> str:
    """The run id of one followed operation for one channel, the same on every replica and restart.

    Built from the channel and what identifies the operation (cluster, app, the operation's
    start time; or cluster, namespace, Workflow uid), so a re-list after a restart or on a new
    leader finds the run it already has and continues its thread.
    """
    digest = hashlib.sha256("\x1f".join((subscription_channel, *parts)).encode()).hexdigest()
    return digest[:32]


def from_settings(entries: Iterable[SubscriptionSettings]) -> list[Subscription]:
    """The config file's subscriptions as records, with ids `config-1`, `config-2`, ... in file order."""
    found = []
    for index, entry in enumerate(entries, start=1):
        found.append(
            Subscription(
                id=entry.id or f"{CONFIG_ID_PREFIX}{index}",
                channel_id=entry.channel,
                kind=entry.kind,
                name=entry.name,
                project=entry.project,
                cluster=entry.cluster,
                namespace=entry.namespace,
                selector=entry.selector,
                triggers=parse_triggers(entry.kind, ",".join(entry.triggers) if entry.triggers else None),
                created_by=entry.owner,
                created_at=datetime.fromtimestamp(0, UTC),
                source=SUBSCRIPTION_FROM_CONFIG,
            )
        )
    return found
