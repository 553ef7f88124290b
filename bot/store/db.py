"""Engine, sessions, error translation and schema upgrades.

`connect(url)` returns a `Database` (engine + sessionmaker) tuned per backend: SQLite gets WAL,
a busy timeout and `BEGIN IMMEDIATE` so threads queue for the write lock instead of failing;
PostgreSQL and MySQL get pre-ping so a restarted server costs one retry, not an error.
`upgrade(url)` runs the packaged alembic migrations (what `chatops db upgrade` calls).
Every SQLAlchemy error leaving `Database.session()` becomes `StorageError` with the password
masked: in the userinfo (`u:PASS@`), in the query (`?password=PASS`) and URL-encoded
(`%40`...), in `mask_url`, `Database.masked_url` and every error message. Leaves out query
logic (see `repos`). Called by the CLI, the app wiring and tests.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Iterator
from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from bot import redaction
from bot.errors import StorageError

VERSION_TABLE = "alembic_version"  # alembic's own record of the schema revision

SQLITE_BUSY_TIMEOUT_MS = 30_000
MESSAGE_MAX = 300

# Plain scheme names people paste (from RDS consoles, Heroku-style URLs) mapped to the drivers we ship.
_DRIVER_ALIASES = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
}


def parse_url(url: str | URL) -> URL:
    """Parse a database URL and pick our driver for bare `postgresql://` or `mysql://`.

    Raises:
        StorageError: the URL does not parse; the message never repeats the URL (it may hold a password).
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StorageError(
            "the database URL does not parse; expected e.g. sqlite:///chatops.db, "
            "postgresql+psycopg://user:pass@host/db or mysql+pymysql://user:pass@host/db"
        ) from exc
    driver = _DRIVER_ALIASES.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def _secret_key(key: str) -> bool:
    """A query parameter that carries a credential (`password`, `sslpassword`, `secret`, ...)."""
    lowered = key.lower()
    return any(word in lowered for word in ("password", "passwd", "pwd", "secret", "token"))


def _masked(url: URL) -> str:
    """`url` rendered with its password and every credential-like query value replaced by `***`."""
    if not any(_secret_key(key) for key in url.query):
        return url.render_as_string(hide_password=True)
    pairs = []
    for key, value in url.query.items():
        for item in [value] if isinstance(value, str) else value:
            shown = "***" if _secret_key(key) else urllib.parse.quote_plus(item)
            pairs.append(f"{urllib.parse.quote_plus(key)}={shown}")
    return f"{url.set(query={}).render_as_string(hide_password=True)}?{'&'.join(pairs)}"


def mask_url(url: str | URL) -> str:
    """The URL with its password (userinfo or query, e.g. `?password=`) shown as `***`, safe for logs."""
    try:
        return _masked(parse_url(url))
    except StorageError:
        return "(unparseable database URL)"


def url_secrets(url: str | URL) -> tuple[str, ...]:
    """The credentials a database URL holds: its password and credential-like query values.

    Decoded, as the driver sees them; `scrub` also masks their URL-encoded forms. A URL that
    does not parse yields the passwords a plain pattern finds, so they can still be masked.
    """
    try:
        parsed = parse_url(url)
    except StorageError:
        text = str(url)
        found = re.findall(r"://[^/@:]*:([^@/]+)@", text)
        found += re.findall(r"(?i)[?&][a-z_]*(?:password|passwd|pwd|secret|token)[a-z_]*=([^&#]+)", text)
        return tuple(urllib.parse.unquote(value) for value in found)
    values = [parsed.password] if isinstance(parsed.password, str) and parsed.password else []
    for key, value in parsed.query.items():
        if _secret_key(key):
            values.extend([value] if isinstance(value, str) else list(value))
    return tuple(v for v in values if v)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` without the given secrets (in any URL encoding) nor any secret-shaped string."""
    every = {form for value in secrets for form in redaction.forms(value)}
    for secret in sorted(every, key=len, reverse=True):
        text = text.replace(secret, "***")
    return redaction.redact(text)


class Database:
    """An engine plus a session factory; the only handle repositories need.

    Args:
        engine: a configured engine, normally from `connect`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.masked_url = _masked(engine.url)
        self._secrets = url_secrets(engine.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        Raises:
            StorageError: any database failure, with the cause chained and the password masked.
        """
        try:
            with self.sessions() as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise self.to_storage_error(exc) from exc

    def to_storage_error(self, exc: BaseException, *, doing: str = "") -> StorageError:
        """Describe a driver failure without SQL parameters or the password."""
        cause = getattr(exc, "orig", None) or exc
        text = scrub(" ".join(str(cause).split()), self._secrets)
        if len(text) > MESSAGE_MAX:
            text = text[: MESSAGE_MAX - 3] + "..."
        what = f" while {doing}" if doing else ""
        return StorageError(f"database error{what} ({type(cause).__name__}) on {self.masked_url}: {text}")

    def dispose(self) -> None:
        """Close pooled connections (tests and shutdown)."""
        self.engine.dispose()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
        # another thread wrote meanwhile (the busy timeout does not apply to that upgrade).
        # Taking the write lock up front makes threads queue on the busy timeout instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """Build an engine for any supported backend (see `connect`)."""
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            in_memory = parsed.database in (None, "", ":memory:")
            kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
            if in_memory:
                # One shared connection, or each thread would see its own empty database.
                kwargs["poolclass"] = StaticPool
            engine = create_engine(parsed, echo=echo, **kwargs)
            _tune_sqlite(engine)
            return engine
        return create_engine(parsed, echo=echo, pool_pre_ping=True, pool_recycle=1800)
    except (ArgumentError, ImportError) as exc:
        detail = scrub(f"{type(exc).__name__}: {exc}", url_secrets(parsed))
        raise StorageError(f"cannot use database {mask_url(parsed)}: {detail}"[:MESSAGE_MAX]) from exc


def connect(url: str | URL, *, echo: bool = False) -> Database:
    """Open (lazily) the database at `url`; no connection is made until first use."""
    return Database(create_db_engine(url, echo=echo))


def _alembic_config(db: Database | None) -> Any:
    from alembic.config import Config

    ini = resources.files("bot.store").joinpath("alembic.ini")
    config = Config(str(ini))
    config.set_main_option("script_location", "bot.store:migrations")
    # The URL is passed as an attribute, not through the ini, so '%' in passwords needs no escaping.
    if db is not None:
        config.attributes["database"] = db
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this version of the bot."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StorageError("no migrations are packaged with the bot")
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None when it has never been upgraded.

    Read with one query rather than through alembic's migration context, which logs two INFO
    lines per call: the readiness probe asks every few seconds.
    """
    try:
        with db.engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            value = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
            return str(value) if value is not None else None
    except SQLAlchemyError as exc:
        raise db.to_storage_error(exc, doing="reading the schema revision") from exc


def upgrade_database(db: Database, *, revision: str = "head") -> str:
    """Apply the migrations up to `revision` (idempotent) and return the revision reached."""
    from alembic import command

    try:
        command.upgrade(_alembic_config(db), revision)
    except SQLAlchemyError as exc:
        raise db.to_storage_error(exc, doing="upgrading the schema") from exc
    reached = current_revision(db)
    if reached is None:  # pragma: no cover - alembic always stamps
        raise StorageError("the schema upgrade finished without recording a revision")
    return reached


def upgrade(url: str | URL, *, revision: str = "head") -> str:
    """Create or update the schema at `url`; returns the revision reached."""
    db = connect(url)
    try:
        return upgrade_database(db, revision=revision)
    finally:
        db.dispose()


def table_names(db: Database) -> list[str]:
    """The tables present in the database (used by `check` and the tests)."""
    try:
        with db.engine.connect() as connection:
            return sorted(inspect(connection).get_table_names())
    except SQLAlchemyError as exc:
        raise db.to_storage_error(exc, doing="listing tables") from exc
