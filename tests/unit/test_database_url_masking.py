"""Database passwords never show: in `mask_url`, `Database.masked_url` and every `StorageError`,
whether the password sits in the userinfo, in the query or is URL-encoded (PostgreSQL and MySQL
URL forms; engines are built without connecting, except against a closed port)."""

from __future__ import annotations

import socket

import pytest

from bot.cli.run import held_secrets
from bot.config import parse_settings
from bot.errors import StorageError
from bot.store import db

PASSWORD = "S3cr3t@pa/ss+w0rd"
ENCODED = "S3cr3t%40pa%2Fss%2Bw0rd"

URL_FORMS = [
    f"postgresql://chatops:{ENCODED}@db.internal:5432/chatops",
    f"postgres://chatops:{ENCODED}@db.internal/chatops?sslmode=require",
    f"postgresql+psycopg://chatops@db.internal/chatops?password={ENCODED}",
    f"postgresql+psycopg://chatops:{ENCODED}@db.internal/chatops?sslpassword={ENCODED}",
    f"mysql://chatops:{ENCODED}@db.internal:3306/chatops",
    f"mariadb://chatops@db.internal/chatops?charset=utf8mb4&password={ENCODED}",
    f"mysql+pymysql://chatops@db.internal/chatops?passwd={ENCODED}",
]


def _leaks(text: str) -> list[str]:
    return [form for form in (PASSWORD, ENCODED, "S3cr3t") if form in text]


@pytest.mark.parametrize("url", URL_FORMS)
def test_every_url_form_is_masked(url: str) -> None:
    masked = db.mask_url(url)
    assert _leaks(masked) == [], masked
    assert "***" in masked and "db.internal" in masked and "chatops" in masked
    database = db.connect(url)
    try:
        assert _leaks(database.masked_url) == [], database.masked_url
    finally:
        database.dispose()


@pytest.mark.parametrize("url", URL_FORMS)
def test_the_password_is_found_decoded(url: str) -> None:
    assert PASSWORD in db.url_secrets(url)


def test_a_driver_message_quoting_the_password_in_any_encoding_is_scrubbed() -> None:
    database = db.connect(URL_FORMS[2])
    try:
        cause = RuntimeError(
            f"connection to 'host=db.internal password={PASSWORD}' failed; dsn {ENCODED}; "
            f"url postgresql://chatops:{ENCODED}@db.internal/chatops"
        )
        error = database.to_storage_error(cause, doing="reading runs")
    finally:
        database.dispose()
    assert isinstance(error, StorageError)
    assert _leaks(str(error)) == [], str(error)
    assert "while reading runs (RuntimeError)" in str(error)


def test_an_unusable_url_names_the_database_without_its_password() -> None:
    with pytest.raises(StorageError) as raised:
        db.connect(f"sqlite://chatops:{ENCODED}@/tmp/chatops.db?password={ENCODED}")
    assert _leaks(str(raised.value)) == [], str(raised.value)
    assert "Invalid SQLite URL" in str(raised.value)


def test_an_unparseable_url_still_yields_its_password() -> None:
    unparseable = f"postgresql://chatops:{ENCODED}@db:notaport/chatops?password={ENCODED}"
    assert db.mask_url(unparseable) == "(unparseable database URL)"
    assert db.url_secrets(unparseable) == (PASSWORD, PASSWORD)


def test_a_refused_connection_to_postgresql_reports_no_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = db.connect(
        f"postgresql+psycopg://chatops:{ENCODED}@127.0.0.1:{port}/chatops?connect_timeout=2"
    )
    try:
        with pytest.raises(StorageError) as raised, database.session() as session:
            session.connection()
    finally:
        database.dispose()
    assert _leaks(str(raised.value)) == [], str(raised.value)
    assert "OperationalError" in str(raised.value)


def test_run_registers_every_secret_the_bot_holds() -> None:
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-1-bot-token",
        "SLACK_APP_TOKEN": "xapp-1-app-token",
        "DATABASE_URL": URL_FORMS[3],
        "PROD_TOKEN": "prod-cluster-token",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-key",
        "AWS_SESSION_TOKEN": "aws-session-token",
    }
    data = {
        "clusters": [
            {
                "name": "prod",
                "auth": {"kind": "token", "server": "https://prod:6443", "token_env": "PROD_TOKEN"},
            },
            {
                "name": "dev",
                "auth": {
                    "kind": "eks",
                    "cluster_name": "dev",
                    "region": "eu-west-1",
                    "role_arn": "arn:aws:iam::123456789012:role/chatops",
                    "external_id": "shared-external-id",
                },
            },
        ]
    }
    settings = parse_settings(data, source="chatops.yaml", environ=environ)
    held = held_secrets(settings, environ)
    expected = {value for key, value in environ.items() if key != "DATABASE_URL"}
    assert expected | {PASSWORD, "shared-external-id"} <= set(held)
