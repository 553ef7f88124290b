"""The subscription book: subscriptions added in Slack (stored) and those of the config file.

`subscribe` stores a row; `unsubscribe` deletes one. Config-file subscriptions are read-only
here (removed by editing the file) and come first in listings. One short transaction per call,
like every repository (`bot.store.repos`). Leaves out who may add or remove one (the pipeline
and `bot.commands.subscription_verbs` decide) and what a subscription matches
(`bot.subscribing`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError

from bot import subscribing
from bot.errors import StorageError
from bot.records import SUBSCRIPTION_FROM_COMMAND, Subscription
from bot.store.db import Database
from bot.store.tables import SubscriptionRow

_ID_ATTEMPTS = 5


def _to_subscription(row: SubscriptionRow) -> Subscription:
    return Subscription(
        id=row.id,
        channel_id=row.channel_id,
        kind=row.kind,
        name=row.name,
        project=row.project,
        cluster=row.cluster,
        namespace=row.namespace,
        selector=row.selector,
        triggers=tuple(t for t in row.triggers.split(",") if t),
        created_by=row.created_by,
        created_at=row.created_at,
        source=row.source,
    )


class SubscriptionBook:
    """Every subscription: the config file's (fixed at start) and the stored ones.

    Args:
        db: the database holding the `subscriptions` table.
        configured: the config file's subscriptions (`subscribing.from_settings`).
        new_id: makes a short id (tests pass a predictable one).
    """

    def __init__(
        self,
        db: Database,
        *,
        configured: Sequence[Subscription] = (),
        new_id: Callable[[], str] = subscribing.new_id,
    ) -> None:
        self._db = db
        self._configured = list(configured)
        self._new_id = new_id

    def add(
        self,
        *,
        channel_id: str,
        kind: str,
        name: str,
        triggers: Sequence[str],
        created_by: str,
        now: datetime,
        project: str | None = None,
        cluster: str | None = None,
        namespace: str | None = None,
        selector: str | None = None,
    ) -> Subscription:
        """Store a subscription under a fresh short id (a colliding id is drawn again)."""
        for _ in range(_ID_ATTEMPTS):
            row = SubscriptionRow(
                id=self._new_id(),
                channel_id=channel_id,
                kind=kind,
                name=name,
                project=project,
                cluster=cluster,
                namespace=namespace,
                selector=selector,
                triggers=",".join(triggers),
                created_by=created_by,
                created_at=now,
                source=SUBSCRIPTION_FROM_COMMAND,
            )
            if any(row.id == s.id for s in self._configured):
                continue
            try:
                with self._db.session() as session:
                    session.add(row)
                    session.flush()
                    return _to_subscription(row)
            except StorageError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StorageError("could not find a free subscription id")

    def get(self, subscription_id: str) -> Subscription | None:
        configured = next((s for s in self._configured if s.id == subscription_id), None)
        if configured is not None:
            return configured
        with self._db.session() as session:
            row = session.get(SubscriptionRow, subscription_id)
            return _to_subscription(row) if row is not None else None

    def all(self) -> list[Subscription]:
        """The config file's, in file order, then the stored ones, oldest first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(SubscriptionRow).order_by(SubscriptionRow.created_at, SubscriptionRow.id)
            )
            stored = [_to_subscription(row) for row in rows]
        return [*self._configured, *stored]

    def for_channel(self, channel_id: str) -> list[Subscription]:
        return [s for s in self.all() if s.channel_id == channel_id]

    def remove(self, subscription_id: str) -> bool:
        """Delete a stored subscription; False when there was none (config ones are never deleted)."""
        statement = delete(SubscriptionRow).where(SubscriptionRow.id == subscription_id)
        with self._db.session() as session:
            result = cast("CursorResult[Any]", session.execute(statement))
            return int(result.rowcount) == 1
