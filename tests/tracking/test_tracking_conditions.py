"""Health episodes told once across restarts: the condition and its messages are stored together.

`AppConditionWatch` over the real store (SQLite) and outbox table; only the clock is driven.
A new instance over the same database stands for a restart or a new leader: its first look
at an app already Degraded tells nothing again, and the recovery still replies under the
episode's message. `tick()` ends a debounce without a new event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.conditions import Rules
from bot.records import Subscription
from bot.store import db as store_db
from bot.store.conditions import ConditionRepo
from bot.store.db import Database
from bot.store.tables import OutboxRow
from bot.tracking.conditions import AppConditionWatch

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Book:
    def all(self) -> list[Subscription]:
        return [
            Subscription(
                id="sub-1",
                channel_id="C1",
                kind="apps",
                name="shop-*",
                triggers=("health-degraded", "health-recovered", "out-of-sync"),
                created_by="UOPS",
                created_at=T0 - timedelta(days=1),
            )
        ]


class Everyone:
    def may_see(
        self, subscription: Subscription, *, resource: str, obj: str, cluster: str | None, what: str
    ) -> bool:
        return True


def _app(health: str, sync: str = "Synced") -> dict[str, Any]:
    return {
        "metadata": {"name": "shop-prod", "namespace": "argocd"},
        "spec": {"project": "shop", "destination": {"name": "prod", "namespace": "shop"}},
        "status": {"health": {"status": health}, "sync": {"status": sync}},
    }


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = store_db.connect(f"sqlite:///{tmp_path / 'bot.db'}")
    store_db.upgrade_database(database)
    return database


def _watch(database: Database, clock: Clock) -> AppConditionWatch:
    return AppConditionWatch(
        subscriptions=Book(),
        store=ConditionRepo(database),
        audience=Everyone(),
        destinations=lambda host: {"prod": "prod"},
        rules=Rules(out_of_sync_after=timedelta(minutes=10)),
        clock=clock,
    )


def _outbox(database: Database) -> list[tuple[str, str, str | None, str | None]]:
    with database.session() as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id))
        return [(row.key, row.method, row.thread_key, row.target_key) for row in rows]


def test_a_restart_mid_episode_tells_nothing_twice_and_the_recovery_replies_in_its_thread(
    database: Database,
) -> None:
    clock = Clock()
    first = _watch(database, clock)
    first.on_application("hub", _app("Healthy"))
    clock.now += timedelta(minutes=1)
    first.on_application("hub", _app("Degraded"))
    assert [key for key, *_ in _outbox(database)] == ["health:C1:hub/argocd/shop-prod:1"]

    clock.now += timedelta(minutes=5)
    restarted = _watch(database, clock)  # its first list shows the app still Degraded
    restarted.on_application("hub", _app("Degraded"))
    assert len(_outbox(database)) == 1

    clock.now += timedelta(minutes=5)
    restarted.on_application("hub", _app("Healthy"))
    episode = "health:C1:hub/argocd/shop-prod:1"
    assert _outbox(database)[1:] == [
        ("recovered:C1:hub/argocd/shop-prod:1", "post", episode, None),
        (f"edit:{episode}", "update", None, episode),
    ]


def test_a_lasting_drift_is_told_by_the_periodic_look_without_a_new_event(database: Database) -> None:
    clock = Clock()
    watch = _watch(database, clock)
    watch.on_application("hub", _app("Healthy", "OutOfSync"))
    clock.now += timedelta(minutes=9)
    watch.tick()
    assert _outbox(database) == []

    clock.now += timedelta(minutes=1)
    watch.tick()
    assert [key for key, *_ in _outbox(database)] == ["out-of-sync:C1:hub/argocd/shop-prod:1"]
    watch.tick()
    assert len(_outbox(database)) == 1


def test_a_deleted_app_is_no_longer_looked_at(database: Database) -> None:
    clock = Clock()
    watch = _watch(database, clock)
    watch.on_application("hub", _app("Healthy", "OutOfSync"))
    watch.on_deleted("hub", _app("Healthy", "OutOfSync"))
    clock.now += timedelta(hours=1)
    watch.tick()
    assert _outbox(database) == []
