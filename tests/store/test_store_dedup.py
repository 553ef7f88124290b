"""Slack redeliveries: an event id is handled once, even when two replicas receive it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bot.store.db import Database
from bot.store.repos import EventDedup

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_an_event_is_new_only_the_first_time(database: Database) -> None:
    dedup = EventDedup(database)
    assert dedup.first_time("Ev0123ABCD", T0) is True
    assert dedup.first_time("Ev0123ABCD", T0 + timedelta(seconds=3)) is False
    assert dedup.first_time("envelope-7f3a", T0) is True


def test_concurrent_redeliveries_are_handled_once(database: Database) -> None:
    dedup = EventDedup(database)
    barrier = threading.Barrier(4)
    results: list[bool] = []
    lock = threading.Lock()

    def receive() -> None:
        barrier.wait(timeout=10)
        outcome = dedup.first_time("Ev0999RACE", T0)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=receive) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert sorted(results) == [False, False, False, True]


def test_prune_forgets_old_keys_only(database: Database) -> None:
    dedup = EventDedup(database)
    dedup.first_time("old", T0)
    dedup.first_time("new", T0 + timedelta(hours=2))
    assert dedup.prune(older_than=T0 + timedelta(hours=1)) == 1
    assert dedup.first_time("old", T0 + timedelta(hours=3)) is True
    assert dedup.first_time("new", T0 + timedelta(hours=3)) is False
