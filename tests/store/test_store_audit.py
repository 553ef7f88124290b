"""The audit log: what `audit` shows admins, newest first, with long input cut to size."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.errors import StorageError
from bot.records import DECISION_ALLOW, DECISION_DENY, AuditEvent
from bot.store.db import Database
from bot.store.grouping import GroupedAuditLog
from bot.store.repos import AuditRepo

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_recent_lists_newest_first_and_filters_by_person(database: Database) -> None:
    repo = AuditRepo(database)
    first = repo.record(AuditEvent(at=T0, actor_id="U1", command="run", decision=DECISION_ALLOW, result="ok"))
    repo.record(
        AuditEvent(at=T0 + timedelta(minutes=1), actor_id="U2", command="sync", decision=DECISION_DENY)
    )
    third = repo.record(
        AuditEvent(
            at=T0 + timedelta(minutes=2),
            actor_id="U1",
            actor_name="alice",
            channel_id="C1",
            command="rollback",
            text="rollback api 3",
            resource="applications",
            action="rollback",
            object="prod/payments/api",
            decision=DECISION_ALLOW,
            result="pending",
            reference="ab12cd",
            run_id="r-1",
        )
    )
    events = repo.recent()
    assert [e.command for e in events] == ["rollback", "sync", "run"]
    mine = repo.recent(actor_id="U1")
    assert [e.id for e in mine] == [third, first]
    latest = mine[0]
    assert (latest.resource, latest.action, latest.object) == (
        "applications",
        "rollback",
        "prod/payments/api",
    )
    assert (latest.decision, latest.result, latest.reference, latest.run_id) == (
        "allow",
        "pending",
        "ab12cd",
        "r-1",
    )
    assert repo.recent(limit=1)[0].id == third


def test_times_come_back_as_the_same_instant_in_utc(database: Database) -> None:
    repo = AuditRepo(database)
    paris = timezone(timedelta(hours=1))
    at = datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=paris)
    repo.record(AuditEvent(at=at, actor_id="U1", command="whoami"))
    stored = repo.recent()[0].at
    assert stored == at
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.microsecond == 123456


def test_long_command_text_is_truncated_not_refused(database: Database) -> None:
    repo = AuditRepo(database)
    text = "run backfill " + "-p x=" + "y" * 5000
    repo.record(AuditEvent(at=T0, actor_id="U1", command="run", text=text, detail="d" * 2000))
    event = repo.recent()[0]
    assert len(event.text) == 2000
    assert event.text.startswith("run backfill -p x=yyy")
    assert len(event.detail) <= 500


def test_rows_written_by_many_commands_at_once_are_each_stored_once_before_their_writer_goes_on(
    database: Database,
) -> None:
    """Group commit: many concurrent rows share transactions, and each is committed when record returns."""
    log = GroupedAuditLog(AuditRepo(database))
    reader = AuditRepo(database)
    seen: dict[str, bool] = {}

    def command(n: int) -> None:
        log.record(AuditEvent(at=T0, actor_id=f"U{n:03d}", command="whoami", result="ok"))
        seen[f"U{n:03d}"] = len(reader.recent(actor_id=f"U{n:03d}")) == 1  # durable already

    threads = [threading.Thread(target=command, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(seen) == 40 and all(seen.values())
    assert len(reader.recent(limit=100)) == 40


def test_a_failing_store_fails_every_waiting_writer() -> None:
    class Broken:
        def record_many(self, events: object) -> list[int]:
            raise StorageError("database is down")

        def complete(self, event_id: int, *, event: AuditEvent) -> None:
            raise AssertionError("not used")

        def recent(self, *, actor_id: str | None = None, limit: int = 20) -> list[AuditEvent]:
            return []

    with pytest.raises(StorageError, match="database is down"):
        GroupedAuditLog(Broken()).record(AuditEvent(at=T0, actor_id="U1"))
