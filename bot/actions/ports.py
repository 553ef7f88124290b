"""What the use cases need from the adapters, as small Protocols the adapters happen to fit.

The run store (`bot.store.repos.RunRepo`), the follower (`bot.tracking`), the log archive
(`bot.logs.archive.LogArchive`), the schedule service, the cluster registry and the Slack
directory are handed in by the composition root; tests hand in the same real objects over
the stand-ins. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot import records
from bot.model import Actor
from bot.render.schedules import EntryView


class Clusters(Protocol):
    def api_client(self, name: str) -> Any: ...


class RunBook(Protocol):
    """Runs: recording, progress and the queries `runs` and buttons need."""

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

    def get(self, run_id: str) -> records.Run | None: ...

    def update_progress(
        self,
        run_id: str,
        *,
        now: datetime,
        phase: str = ...,
        message: str = ...,
        name: str | None = ...,
        k8s_uid: str | None = ...,
        finished_at: datetime | None = ...,
    ) -> records.Run: ...

    def mark_final_posted(self, run_id: str, *, now: datetime) -> bool: ...

    def recent(
        self,
        *,
        requester_id: str | None = None,
        template: str | None = None,
        kind: str | None = None,
        limit: int = 20,
    ) -> list[records.Run]: ...


class Follower(Protocol):
    """Follows a run in its Slack thread once the cluster write happened."""

    def follow(self, run: records.Run) -> object: ...


class LogLinks(Protocol):
    def presign_get(self, key: str, *, expires: int | None = None) -> str: ...

    def read_tail(self, key: str, *, lines: int) -> str: ...


class ScheduleBook(Protocol):
    """The schedule service's command side (`ScheduleService` fits)."""

    def add(
        self,
        *,
        name: str,
        kind: str,
        cron: str,
        channel: str,
        created_by: str,
        timezone: str = ...,
        cluster: str | None = ...,
        template: str | None = ...,
        parameters: Mapping[str, str] | None = ...,
    ) -> EntryView: ...

    def remove(self, name: str) -> bool: ...

    def list(self) -> Sequence[EntryView]: ...


class SubscriptionBook(Protocol):
    """Subscriptions, stored and from the config file (`bot.store.subscriptions.SubscriptionBook` fits)."""

    def add(
        self,
        *,
        channel_id: str,
        kind: str,
        name: str,
        triggers: Sequence[str],
        created_by: str,
        now: datetime,
        project: str | None = ...,
        cluster: str | None = ...,
        namespace: str | None = ...,
        selector: str | None = ...,
    ) -> records.Subscription: ...

    def get(self, subscription_id: str) -> records.Subscription | None: ...

    def for_channel(self, channel_id: str) -> list[records.Subscription]: ...

    def remove(self, subscription_id: str) -> bool: ...


class Directory(Protocol):
    """Who a Slack user is (name, e-mail, groups): `bot.slack.directory.SlackDirectory` fits."""

    def actor(self, user_id: str) -> Actor: ...


class ManifestDiffs(Protocol):
    """Argo CD's API server, for what a sync would change (`bot.argo.diff.ArgoCdApi` fits)."""

    server_url: str

    def managed_resources(self, app_name: str, app_namespace: str) -> list[dict[str, Any]]: ...


class AuditLog(Protocol):
    def record(self, event: records.AuditEvent) -> int: ...

    def complete(self, event_id: int, *, event: records.AuditEvent) -> None: ...

    def recent(self, *, actor_id: str | None = None, limit: int = 20) -> list[records.AuditEvent]: ...
