"""`chatops demo` from a new user's point of view: one command, real bot, sandboxed world."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_answers_typed_commands_and_applies_the_policy(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "bot", "demo", "--state-dir", str(tmp_path),
            "--run", "whoami",
            "--run", "run db-migration --cluster dev",
            "--run", "run hello --cluster prod",
            "--run", "rollback shop-dev --reason 'demo'",
            "--run", ":click approve",  # alice may not approve her own request
            "--run", ":as carol",
            "--run", ":click approve",
            "--run", ":as bob",
            "--run", "audit",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "You are *alice*" in out and "group:sre" in out
    assert "Submitted `db-migration-" in out
    assert "violates foreign key constraint" in out  # the failed step's last lines, in the thread
    assert "accepted only in <#C0PRODOPS>" in out
    assert "Rollback requested: shop-dev" in out and "rollback · shop-dev: succeeded" in out
    assert "bob@#ops> audit" in out and "ask an admin for `audit, get`" in out
    assert "kubectl --kubeconfig" in result.stderr
    assert (tmp_path / "kubeconfig").exists() and (tmp_path / "chatops-demo.db").exists()
