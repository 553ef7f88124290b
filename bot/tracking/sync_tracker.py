"""How Argo CD syncs (and rollbacks) are tied to their runs; followed by `bot.tracking.follower`.

Watch events for Applications (one `ResourceWatcher` per Argo CD host, on the `applications` of
its Argo CD namespace) reach `Follower.on_application` as raw objects; its `SyncPart` turns each
into a `SyncState` (pure `sync_progress`) and the messages to enqueue. This module holds what
the command handlers and the follower share: the operation marker and how a run is shown.

How an event finds its run. The bot writes the run id into the operation it requests, as an
`operation.info` entry named `chatops-run` (`operation_info(run_id)`); Argo CD copies the
operation, info included, into `status.operationState.operation`. So any replica, the leader
included, maps an event to its run from the object alone, like workflows carry the run id in
a label, and a new leader resumes by its first list. While an `operation` is set, only its
own info counts (an operation someone else wrote belongs to nobody here); once it is cleared,
the info of `operationState` names the run that just ended. Runs written without the marker
(by code that only calls `follow`/`start_sync`) are found through an in-memory map from
(host cluster, namespace, app) to the active run, filled by `start_sync` and, on the leader,
by `Follower.resume()` from `RunRepo.unfinished()`.

A sync is finished only when its phase is final **and** `operation` is gone (the controller
writes the final state first and clears `operation` afterwards). Applications with no active
run are ignored. Runs are stored with `kind` sync or rollback, `cluster` and `namespace` where
the Application lives (the Argo CD host and its namespace), `template` the app's name,
`name` `<app>@<first 8 characters of the run id>` (unique, so syncing one app twice never
collides), `parameters["destination"]` the bot's name for the app's destination cluster.
Messages show the app and its destination.

Sync waves: Argo CD keeps them as the `argocd.argoproj.io/sync-wave` annotation of each resource
on the destination cluster, not in its result. The follower's `SyncPart` reads them once per run
and resource from `parameters["destination"]` (`bot.argo.live_waves`); a resource it cannot read
(no `get` permission there, gone, an unmapped destination) shows as wave 0.

Left out: terminating an operation. Callers: the command handlers (`operation_info`,
`DESTINATION_PARAMETER`), the follower.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.records import FOLLOWED_INITIATOR, FOLLOWED_SUBSCRIPTION, RUN_ROLLBACK, RUN_SYNC, Run
from bot.tracking.progress import parse_time

RUN_INFO_NAME = "chatops-run"
SYNC_KINDS = frozenset({RUN_SYNC, RUN_ROLLBACK})
DESTINATION_PARAMETER = "destination"
#: Parameters of a run that follows an operation started outside the bot, for a subscription.
INITIATED_BY_PARAMETER = FOLLOWED_INITIATOR
SUBSCRIPTION_PARAMETER = FOLLOWED_SUBSCRIPTION

AppKey = tuple[str, str, str]  # (host cluster, namespace, app name)


def operation_info(run_id: str) -> tuple[tuple[str, str], ...]:
    """The `info` to write with a sync or rollback operation so its events find the run."""
    return ((RUN_INFO_NAME, run_id),)


def run_id_of(app: Mapping[str, Any]) -> str | None:
    """The run id the bot wrote into the app's current (or, once cleared, last) operation."""
    operation = app.get("operation")
    if isinstance(operation, Mapping):
        return _marker(operation)
    state = (app.get("status") or {}).get("operationState") or {}
    described = state.get("operation") if isinstance(state, Mapping) else None
    return _marker(described) if isinstance(described, Mapping) else None


def ended_before(app: Mapping[str, Any], moment: datetime) -> bool:
    """Whether the app shows no operation under way, only one that ended before `moment`.

    Argo CD writes whole seconds, so `moment` is compared from its whole second.
    """
    if isinstance(app.get("operation"), Mapping):
        return False
    state = (app.get("status") or {}).get("operationState") or {}
    finished = parse_time(state.get("finishedAt")) if isinstance(state, Mapping) else None
    if finished is None:
        return False
    finished = finished if finished.tzinfo else finished.replace(tzinfo=UTC)
    since = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return finished < since.replace(microsecond=0)


def app_name_of(run: Run) -> str:
    """The Application a sync run follows (its `template`; older rows may only have `name`)."""
    return run.template or (run.name or "").split("@", 1)[0]


def key_of(run: Run) -> AppKey:
    return (run.cluster, run.namespace, app_name_of(run))


def display_run(run: Run) -> Run:
    """The run as messages show it: the app's name, and its destination cluster."""
    destination = str((run.parameters or {}).get(DESTINATION_PARAMETER) or run.cluster)
    return replace(run, name=app_name_of(run), cluster=destination)


def _marker(operation: Mapping[str, Any]) -> str | None:
    for item in operation.get("info") or []:
        if isinstance(item, Mapping) and item.get("name") == RUN_INFO_NAME and item.get("value"):
            return str(item["value"])
    return None
