"""`chatops demo` from a new user's point of view: one command, real bot, sandboxed world."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_demo_answers_typed_commands_and_applies_the_policy(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "bot", "demo", "--state-dir", str(tmp_path), "--time-scale", "0.1",
            "--run", "whoami",
            "--run", "run db-migration --cluster staging",
            "--run", "run hello --cluster production",
            "--run", ":in prod-ops",
            "--run", "rollback shop-production --reason 'demo'",
            "--run", ":click approve",  # alice may not approve her own request
            "--run", ":as carol",
            "--run", ":click approve",
            "--run", ":as dave",
            "--run", "audit",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "You are alice" in out and "role:admin" in out
    assert "Submitted `db-migration-" in out
    assert "violates foreign key constraint" in out  # the failed step's last lines, in the thread
    assert "accepted only in #prod-ops" in out  # a channel mention, as Slack shows it
    assert "Rollback requested: shop-production" in out
    assert "cannot approve your own request" in out
    assert "rollback · shop-production: succeeded" in out
    assert "dave@#prod-ops> audit" in out and "ask an admin for `audit, get`" in out
    assert "<@U0" not in out and "<#C0" not in out and "<!date" not in out  # markup is rendered
    assert "kubectl --kubeconfig" in result.stderr
    assert (tmp_path / "kubeconfig").exists() and (tmp_path / "chatops-demo.db").exists()


def test_demo_refuses_a_busy_port_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "bot", "demo", "--port", str(port), "--state-dir", str(tmp_path / "s")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr and f"--port {port + 1}" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "s").exists()
