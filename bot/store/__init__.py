"""Persistence for the bot: runs, approvals, the audit log, Slack event de-duplication, schedules.

SQLAlchemy 2 (typed ORM) over SQLite, PostgreSQL or MySQL/MariaDB, with the schema managed by
the alembic migrations shipped in `bot/store/migrations/`. Callers use `db.connect(url)` and the
repository classes in `repos`, which return the frozen dataclasses of `records`; ORM objects and
SQLAlchemy exceptions never leave this package (failures become `bot.errors.StorageError`).
"""

from __future__ import annotations
