"""`chatops db upgrade` / `db current`: create the schema, idempotently, wherever the config points."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.cli import main
from bot.store import db


def _config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "chatops.yaml"
    path.write_text(f"database:\n  url: {url}\n")
    return str(path)


def test_upgrade_creates_the_schema_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    config = _config(tmp_path, url)
    head = db.head_revision()
    assert main(["db", "current", "--config", config]) == 1
    assert f"revision none, expected {head}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", config]) == 0
    assert f"upgraded from an empty database to revision {head}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", config]) == 0
    assert f"already at revision {head}" in capsys.readouterr().out
    assert main(["db", "current", "--config", config]) == 0
    assert f"revision {head} (up to date)" in capsys.readouterr().out


def test_database_url_in_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'from-file.db'}")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    assert main(["db", "upgrade", "--config", config]) == 0
    assert "from-env.db" in capsys.readouterr().out
    assert (tmp_path / "from-env.db").exists()
    assert not (tmp_path / "from-file.db").exists()


def test_an_unreachable_database_fails_without_showing_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://chatops:hunter2@127.0.0.1:{port}/chatops")
    assert main(["db", "upgrade", "--config", _config(tmp_path, "sqlite:///unused.db")]) == 1
    err = capsys.readouterr().err
    assert "database error" in err and f"127.0.0.1:{port}" in err
    assert "hunter2" not in err and "Traceback" not in err
