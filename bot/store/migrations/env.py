"""Alembic environment for the bot's schema.

Run by `bot.store.db.upgrade_database` (which hands over a `Database` in
`config.attributes["database"]`) or by the `alembic` command line when writing revisions
(then `DATABASE_URL`, else the ini's `sqlalchemy.url`). Tables that are not ours, such as
APScheduler's job store, are left alone by autogenerate.
"""

from __future__ import annotations

import os

from alembic import context

from bot.store.db import Database, connect
from bot.store.tables import Base, is_owned

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    db: Database | None = config.attributes.get("database")
    owned = db is None
    if db is None:
        db = connect(os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url") or "")
    try:
        with db.engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                include_object=is_owned,
                compare_type=True,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        if owned:
            db.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations()
