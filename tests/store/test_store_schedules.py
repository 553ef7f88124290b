"""Schedules added from Slack: listed by name, unique names, removable."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store.db import Database
from bot.store.repos import ScheduleRepo

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_add_list_and_remove(database: Database) -> None:
    repo = ScheduleRepo(database)
    nightly = repo.add(
        name="nightly-backfill",
        kind="run",
        cron="0 2 * * *",
        timezone="Europe/Paris",
        channel_id="C1",
        cluster="prod-eu",
        template="backfill",
        parameters={"days": "1"},
        created_by="U1",
        now=T0,
    )
    assert nightly is not None
    repo.add(
        name="app-health", kind="app-health", cron="0 9 * * mon-fri", channel_id="C2", created_by="U1", now=T0
    )
    assert [s.name for s in repo.all()] == ["app-health", "nightly-backfill"]
    stored = repo.get("nightly-backfill")
    assert stored == nightly
    assert (stored.timezone, stored.template, stored.parameters) == (
        "Europe/Paris",
        "backfill",
        {"days": "1"},
    )
    assert repo.remove("nightly-backfill") is True
    assert repo.remove("nightly-backfill") is False
    assert [s.name for s in repo.all()] == ["app-health"]


def test_a_taken_name_is_refused(database: Database) -> None:
    repo = ScheduleRepo(database)
    assert repo.add(
        name="digest", kind="workflow-digest", cron="0 8 * * *", channel_id="C1", created_by="U1", now=T0
    )
    again = repo.add(
        name="digest", kind="app-health", cron="0 9 * * *", channel_id="C2", created_by="U2", now=T0
    )
    assert again is None
    assert repo.get("digest").kind == "workflow-digest"
