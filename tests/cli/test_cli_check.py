"""`chatops check`: a summary of what the bot would use, or every problem with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "config.yaml"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL", "CHATOPS_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_summary_of_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert f"{EXAMPLE}: configuration is valid" in out
    assert "command /ops" in out
    assert "prod-eu: EKS cluster prod-eu-1 in eu-west-1 as arn:aws:iam::111122223333:role/chatops-prod" in out
    assert "commands only from C0PRODOPS" in out
    assert "dev: kubeconfig" in out and "ops: in-cluster service account" in out
    assert "database: sqlite:///chatops.db" in out
    assert "logs: s3://argo-artifacts (eu-west-1)" in out
    assert "rbac.policy: 7 lines" in out and "default role role:readonly" in out
    assert "morning-health: app-health on prod-eu at '0 9 * * mon-fri' (Europe/Paris) -> C0PRODOPS" in out
    assert "SLACK_BOT_TOKEN not set" in out


def test_tokens_and_database_password_never_appear(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-999-888-secretvalue")
    monkeypatch.setenv("SLACK_APP_TOKEN", "not-an-app-token-secretvalue")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://chatops:hunter2@db.internal:5432/chatops")
    assert main(["check", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "secretvalue" not in out and "hunter2" not in out
    assert "database: postgresql+psycopg://chatops:***@db.internal:5432/chatops" in out
    assert "SLACK_BOT_TOKEN set" in out
    assert "SLACK_APP_TOKEN set but does not start with xapp-" in out


def test_config_found_through_chatops_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATOPS_CONFIG", str(EXAMPLE))
    assert main(["check"]) == 0
    assert "configuration is valid" in capsys.readouterr().out


def test_every_problem_is_listed_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "slack: {comand: /ops}\n"
        "clusters:\n"
        "  - name: prod\n"
        "    auth: {kind: eks, cluster_name: p, regoin: x}\n"
    )
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: slack.comand is not a known key" in err
    assert f"{path}: clusters[0].auth.regoin is not a known key" in err
    assert f"{path}: clusters[0].auth.region is required but missing" in err


def test_a_broken_policy_line_is_a_configuration_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policy.csv").write_text("p, role:x, workflows, run, */*/*, allow\np, role:y, workflows\n")
    path = tmp_path / "chatops.yaml"
    path.write_text("rbac:\n  policy_file: policy.csv\n")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "policy.csv: line 2" in err and "6 fields" in err


def test_no_traceback_for_a_missing_file_or_bad_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters: [\n")
    for path in (tmp_path / "absent.yaml", bad):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "check", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert str(path) in done.stderr


def test_connect_reports_an_unmigrated_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "chatops.yaml"
    path.write_text(f"database:\n  url: sqlite:///{tmp_path / 'bot.db'}\n")
    assert main(["check", "--config", str(path), "--connect"]) == 1
    assert "run 'chatops db upgrade'" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    assert main(["check", "--config", str(path), "--connect"]) == 0
    assert "(up to date)" in capsys.readouterr().out
