"""`chatops` itself: help, version, and plain answers for commands that are not built yet."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


@pytest.mark.parametrize("verb", ["slack-manifest", "demo"])
def test_placeholders_say_plainly_they_are_not_available(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([verb]) == 3
    assert f"chatops {verb}: this command is not available yet" in capsys.readouterr().err


def test_the_console_entry_point_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"chatops {__version__}"
