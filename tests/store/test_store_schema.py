"""The migrations build the schema the ORM expects, on every backend, and re-running is harmless."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.store import db
from bot.store.tables import Base, is_owned


def test_upgrade_is_idempotent_and_reports_head(store_url: str) -> None:
    head = db.head_revision()
    assert db.upgrade(store_url) == head
    assert db.upgrade(store_url) == head
    database = db.connect(store_url)
    try:
        assert db.current_revision(database) == head
        assert {"audit_events", "runs", "approvals", "processed_events", "schedules"} <= set(
            db.table_names(database)
        )
    finally:
        database.dispose()


def test_orm_metadata_matches_the_migrations(database: db.Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": is_owned}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], f"tables.py and the migrations disagree: {differences}"
