"""Fixtures for the store tests: one fresh schema per backend per test session.

SQLite always; PostgreSQL and MariaDB/MySQL when `CHATOPS_TEST_POSTGRES_URL` /
`CHATOPS_TEST_MYSQL_URL` are set (`.ci/run` sets both). A configured server that does not
answer fails the tests: it is never skipped, so CI cannot pass without having tested it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, delete

from bot.errors import StorageError
from bot.store import db
from bot.store.tables import Base

BACKEND_ENV = {"postgresql": "CHATOPS_TEST_POSTGRES_URL", "mysql": "CHATOPS_TEST_MYSQL_URL"}


def _backends() -> list[str]:
    return ["sqlite"] + [name for name, env in BACKEND_ENV.items() if os.environ.get(env)]


def _fresh_schema(url: str) -> None:
    """Drop every table in the test database, then run the migrations from scratch."""
    database = db.connect(url)
    try:
        with database.engine.begin() as connection:
            existing = MetaData()
            existing.reflect(connection)
            existing.drop_all(connection)
        db.upgrade_database(database)
    except Exception as exc:  # a configured server must work: fail loudly, never skip
        pytest.fail(f"cannot prepare the test database {db.mask_url(url)}: {exc}", pytrace=False)
    finally:
        database.dispose()


@pytest.fixture(scope="session", params=_backends())
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a freshly migrated database, one per backend."""
    backend = request.param
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("store") / "chatops.db"
        url = f"sqlite:///{path}"
    else:
        url = os.environ[BACKEND_ENV[backend]]
    _fresh_schema(url)
    return url


@pytest.fixture
def database(store_url: str) -> Iterator[db.Database]:
    """A connected `Database` whose tables are empty at the start of each test."""
    database = db.connect(store_url)
    try:
        with database.session() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))
    except StorageError as exc:
        pytest.fail(f"cannot empty the test database: {exc}", pytrace=False)
    yield database
    database.dispose()
