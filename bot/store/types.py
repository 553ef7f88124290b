"""Column types that behave the same on SQLite, PostgreSQL and MySQL/MariaDB.

`UtcDateTime` stores UTC wall-clock time without a zone (every backend has that type) and hands
back tz-aware UTC datetimes, so comparisons never mix naive and aware values. `JsonText` keeps
JSON as text, because MariaDB's JSON is a LONGTEXT alias that reflects differently from MySQL's
and the bot never queries inside these documents. Used by `tables` and the migrations.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and returned as aware UTC.

    Naive datetimes are refused on the way in: a naive value is almost always local time by
    mistake, and storing it silently would shift every expiry by the host's offset.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # MySQL's DATETIME drops fractions unless asked for microseconds.
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonText(TypeDecorator[Any]):
    """A JSON document kept as text (keys sorted, so equal documents compare equal as text)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)
