"""Fixtures for the approval tests: a migrated SQLite file, a settable clock, services over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from approvals_world import Clock, ServiceFactory

from bot.approvals.service import ApprovalService
from bot.config import ApprovalSettings
from bot.store import db
from bot.store.repos import ApprovalRepo


@pytest.fixture
def database(tmp_path: Path) -> Iterator[db.Database]:
    url = f"sqlite:///{tmp_path / 'approvals.db'}"
    db.upgrade(url)
    database = db.connect(url)
    yield database
    database.dispose()


@pytest.fixture
def repo(database: db.Database) -> ApprovalRepo:
    return ApprovalRepo(database)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_service(repo: ApprovalRepo, clock: Clock) -> ServiceFactory:
    """`make_service(allow_self_approval=True, expiry_minutes=5)`: a service over the test database."""

    def make(**settings: object) -> ApprovalService:
        return ApprovalService(repo=repo, settings=ApprovalSettings.model_validate(settings), clock=clock)

    return make
