"""Database failures reach callers as StorageError, and never show the password."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from bot.errors import StorageError
from bot.records import AuditEvent
from bot.store import db
from bot.store.repos import AuditRepo

SECRET = "s3cr3t-Pa55"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"], ids=["closed-pg-port", "closed-mariadb-port"])
def test_unreachable_server_gives_storage_error_without_password(scheme: str) -> None:
    url = f"{scheme}://chatops:{SECRET}@127.0.0.1:{_closed_port()}/chatops"
    database = db.connect(url)
    try:
        with pytest.raises(StorageError) as caught:
            AuditRepo(database).record(AuditEvent(at=datetime.now(UTC), actor_id="U1"))
    finally:
        database.dispose()
    message = str(caught.value)
    assert SECRET not in message
    assert "***" in message and "127.0.0.1" in message


def test_bare_scheme_names_use_the_shipped_drivers_and_masking_hides_the_password() -> None:
    assert db.mask_url(f"postgresql://u:{SECRET}@db:5432/x") == "postgresql+psycopg://u:***@db:5432/x"
    assert db.mask_url(f"mysql://u:{SECRET}@db/x") == "mysql+pymysql://u:***@db/x"
    assert db.mask_url("sqlite:///chatops.db") == "sqlite:///chatops.db"


def test_a_garbled_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(StorageError) as caught:
        db.connect(f"not a url {SECRET}")
    assert SECRET not in str(caught.value)
    assert "sqlite:///chatops.db" in str(caught.value)


def test_naive_timestamps_are_refused(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'naive.db'}"
    db.upgrade(url)
    database = db.connect(url)
    try:
        with pytest.raises(StorageError, match="naive datetime"):
            AuditRepo(database).record(AuditEvent(at=datetime(2026, 1, 1), actor_id="U1"))
    finally:
        database.dispose()
