"""`chatops policy can`: yes/no answers a CI job can rely on, and exit 2 on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

POLICY = """\
# deployers sync staging; SRE may do anything to workflows but never terminate in prod
p, role:deployer, applications, sync, staging/*, allow
g, group:payments, role:deployer
p, "group:sre", workflows, *, */*/*, allow
p, group:sre, workflows, terminate, prod/*, deny
g, "email:lead@example.com", role:admin
"""


@pytest.fixture
def policy_csv(tmp_path: Path) -> Path:
    path = tmp_path / "policy.csv"
    path.write_text(POLICY, encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, policy_csv: Path) -> Path:
    path = tmp_path / "chatops.yaml"
    path.write_text(
        "rbac:\n  default_role: role:readonly\n  policy_file: policy.csv\n"
        "  policy: |\n    p, slack:UOPS, applications, rollback, */*/*, allow\n",
        encoding="utf-8",
    )
    return path


CASES = [
    (["group:payments", "applications", "sync", "staging/web/shop"], 0, "yes"),
    (["group:payments", "applications", "sync", "prod/web/shop"], 1, "no"),
    (["slack:U1", "applications", "sync", "staging/web/shop", "--also", "group:payments"], 0, "yes"),
    (["slack:U1", "workflows", "run", "prod/argo/x", "--also", "group:sre"], 0, "yes"),
    (["slack:U1", "workflows", "terminate", "prod/argo/x", "--also", "group:sre"], 1, "no"),
    (["email:LEAD@example.com", "audit", "get", "*"], 0, "yes"),
    (["slack:U1", "applications", "get", "prod/web/shop"], 1, "no"),  # no default role given
    (["slack:U1", "applications", "get", "prod/web/shop", "--default", "role:readonly"], 0, "yes"),
]


@pytest.mark.parametrize(("argv", "code", "answer"), CASES)
def test_can_with_a_policy_file(
    argv: list[str], code: int, answer: str, policy_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "can", *argv, "--policy", str(policy_csv)]) == code
    captured = capsys.readouterr()
    assert captured.out == f"{answer}\n"
    assert captured.err == ""


def test_can_with_the_bots_config(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["policy", "can", "--config", str(config)]
    assert main([*base, "slack:UOPS", "applications", "rollback", "prod/pay/api"]) == 0  # inline rbac.policy
    assert main([*base, "group:payments", "applications", "sync", "staging/a/b"]) == 0  # rbac.policy_file
    assert main([*base, "slack:U1", "applications", "get", "prod/a/b"]) == 0  # rbac.default_role
    assert main([*base, "slack:U1", "applications", "sync", "prod/a/b"]) == 1
    assert capsys.readouterr().out.split() == ["yes", "yes", "yes", "no"]


def test_config_comes_from_the_environment_when_not_given(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATOPS_CONFIG", str(config))
    assert main(["policy", "can", "slack:UOPS", "applications", "rollback", "prod/pay/api"]) == 0
    assert capsys.readouterr().out == "yes\n"


BAD_INPUT = [
    (["alice", "applications", "sync", "x"], "'alice' is not a valid subject"),
    (["slack:U1", "clusters", "get", "x"], "unknown resource 'clusters'"),
    (["slack:U1", "*", "get", "x"], "unknown resource '*'"),
    (["slack:U1", "applications", "run", "x"], "unknown action 'run' for applications: expected one of get"),
    (["slack:U1", "applications", "*", "x"], "unknown action '*'"),
    (["slack:U1", "applications", "get", "a b"], "object 'a b' must be non-empty"),
    (["slack:U1", "applications", "get", "x", "--also", "group:"], "'group:' is not a valid subject"),
    (
        ["slack:U1", "applications", "get", "x", "--default", "readonly"],
        "--default 'readonly' must be a role",
    ),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT)
def test_bad_questions_exit_2_with_the_reason(
    argv: list[str], message: str, policy_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "can", *argv, "--policy", str(policy_csv)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_a_broken_policy_file_names_its_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("p, role:x, workflows, get, *, allow\np, role:x, workflows\ng, slack:U1, role:x, x\n")
    assert main(["policy", "can", "slack:U1", "workflows", "get", "a/b/c", "--policy", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}: line 2: a p line needs 6 fields" in err
    assert f"{broken}: line 3: a g line needs 3 fields" in err


def test_missing_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.csv"
    assert main(["policy", "can", "slack:U1", "workflows", "get", "a", "--policy", str(missing)]) == 2
    assert f"{missing}: policy file not found" in capsys.readouterr().err
    assert (
        main(["policy", "can", "slack:U1", "workflows", "get", "a", "--config", str(tmp_path / "no.yaml")])
        == 2
    )
    assert "no such file" in capsys.readouterr().err


def test_config_and_policy_are_exclusive(
    policy_csv: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "policy",
                "can",
                "slack:U1",
                "workflows",
                "get",
                "a",
                "--policy",
                str(policy_csv),
                "--config",
                str(config),
            ]
        )
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def _chatops(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("CHATOPS_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_as_a_ci_job_would_run_it(policy_csv: Path) -> None:
    allowed = _chatops(
        "policy", "can", "group:payments", "applications", "sync", "staging/a/b", "--policy", str(policy_csv)
    )
    assert (allowed.returncode, allowed.stdout) == (0, "yes\n")
    refused = _chatops(
        "policy", "can", "group:payments", "applications", "sync", "prod/a/b", "--policy", str(policy_csv)
    )
    assert (refused.returncode, refused.stdout) == (1, "no\n")
    bad = _chatops(
        "policy", "can", "group:payments", "applications", "deploy", "prod/a/b", "--policy", str(policy_csv)
    )
    assert bad.returncode == 2
    assert "unknown action 'deploy'" in bad.stderr
    assert "Traceback" not in bad.stderr
