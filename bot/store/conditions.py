"""The app conditions each subscribed channel was told about (`bot.conditions`), stored.

A condition changes together with the messages it decided to send, in one transaction
(`save`), so a crash either tells and remembers, or does neither: a restart or a new leader
computes the same notice again under the same outbox key, and Slack sees it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.conditions import Condition
from bot.records import OutboxEntry
from bot.store.db import Database
from bot.store.repos import enqueue_in
from bot.store.tables import AppConditionRow


def _times(text: str) -> tuple[datetime, ...]:
    return tuple(datetime.fromtimestamp(int(part), UTC) for part in text.split(",") if part)


def _text(times: Sequence[datetime]) -> str:
    return ",".join(str(int(moment.timestamp())) for moment in times)


def _to_condition(row: AppConditionRow) -> Condition:
    return Condition(
        health=row.health,
        health_changed_at=row.health_changed_at,
        episode_started_at=row.episode_started_at,
        episode_count=row.episode_count,
        episode_notified=row.episode_notified,
        recent_episodes=_times(row.recent_episodes),
        flapping_since=row.flapping_since,
        flapping_episodes=row.flapping_episodes,
        out_of_sync_since=row.out_of_sync_since,
        out_of_sync_notified=row.out_of_sync_notified,
        drift_count=row.drift_count,
    )


def _whole_seconds(moment: datetime | None) -> datetime | None:
    """Stored to the second on every backend (MySQL keeps none finer by default)."""
    return moment.replace(microsecond=0) if moment is not None else None


class ConditionRepo:
    """One row per (channel, app): what that channel was last told about that app."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, channel_id: str, app_key: str) -> Condition:
        """The stored condition, or the empty one for an app this channel has not seen."""
        with self._db.session() as session:
            row = session.get(AppConditionRow, (channel_id, app_key))
            return _to_condition(row) if row is not None else Condition()

    def save(
        self,
        channel_id: str,
        app_key: str,
        condition: Condition,
        *,
        messages: Sequence[OutboxEntry] = (),
        now: datetime,
    ) -> None:
        """Store `condition` and enqueue `messages`, both or neither."""
        values = {
            "health": condition.health[:32],
            "health_changed_at": _whole_seconds(condition.health_changed_at),
            "episode_started_at": _whole_seconds(condition.episode_started_at),
            "episode_count": condition.episode_count,
            "episode_notified": condition.episode_notified,
            "recent_episodes": _text(condition.recent_episodes)[:1000],
            "flapping_since": _whole_seconds(condition.flapping_since),
            "flapping_episodes": condition.flapping_episodes,
            "out_of_sync_since": _whole_seconds(condition.out_of_sync_since),
            "out_of_sync_notified": condition.out_of_sync_notified,
            "drift_count": condition.drift_count,
        }
        with self._db.session() as session:
            row = session.get(AppConditionRow, (channel_id, app_key))
            if row is None:
                session.add(AppConditionRow(channel_id=channel_id, app_key=app_key, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            for entry in messages:
                enqueue_in(session, entry, now=now)
            session.flush()
