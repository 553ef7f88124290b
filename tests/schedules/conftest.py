"""Fixtures for the schedule service: a migrated SQLite file, a recording sender, scriptable sources.

The sender and the sources are fakes implementing the service's Protocols; the database, the
job store and APScheduler are real. Every service built here is stopped in teardown, and the
test fails if a scheduler or worker thread outlives it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from schedules_fakes import CONFIG_SCHEDULES, NOW, RecordingSender, ScriptedSources, ServiceFactory

from bot.schedules.jobs import ScheduleService
from bot.store import db
from bot.store.repos import ScheduleRepo


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'chatops.db'}"
    db.upgrade(url)
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[db.Database]:
    database = db.connect(database_url)
    yield database
    database.dispose()


@pytest.fixture
def schedule_repo(database: db.Database) -> ScheduleRepo:
    return ScheduleRepo(database)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def sources() -> ScriptedSources:
    return ScriptedSources()


@pytest.fixture
def make_service(
    database_url: str, schedule_repo: ScheduleRepo, sender: RecordingSender, sources: ScriptedSources
) -> Iterator[ServiceFactory]:
    """Build services over the same database; all are stopped at teardown and no thread may remain."""
    before = set(threading.enumerate())
    built: list[ScheduleService] = []

    def build(**overrides: Any) -> ScheduleService:
        options: dict[str, Any] = {
            "database_url": database_url,
            "settings_schedules": CONFIG_SCHEDULES,
            "schedule_repo": schedule_repo,
            "sender": sender,
            "sources": sources,
            "runner": sources,
            "clock": lambda: NOW,
        }
        options.update(overrides)
        service = ScheduleService(**options)
        built.append(service)
        return service

    yield build
    if sources.gate is not None:
        sources.gate.set()
    for service in built:
        service.stop()
    left = [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]
    assert not left, f"threads left behind: {left}"
