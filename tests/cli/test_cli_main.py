"""`chatops` itself: help, version, and plain answers for commands that are not built yet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot import __version__
from bot.cli import main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for verb in ("run", "check", "policy", "db", "slack-manifest", "demo"):
        assert f"    {verb}" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"chatops {__version__}"


def test_no_command_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: chatops" in capsys.readouterr().err


def test_slack_manifest_matches_the_shipped_file_and_follows_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["slack-manifest"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    shipped = yaml.safe_load((Path(__file__).parents[2] / "manifests" / "slack-app.yaml").read_text())
    assert printed == shipped
    config = tmp_path / "chatops.yaml"
    config.write_text("slack:\n  command: /deploy\n")
    assert main(["slack-manifest", "--config", str(config)]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    assert manifest["features"]["slash_commands"][0]["command"] == "/deploy"
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_the_console_entry_point_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"chatops {__version__}"
