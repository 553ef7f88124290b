"""`chatops run` as an SRE starts it: a process, tokens in the environment, SIGTERM to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from e2e_world import ADMIN, BASE_POLICY, OPS_CHANNEL, seed_workspace, write_config

from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(config: Path, slack: SlackSandbox, **env: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_run_serves_commands_reports_health_and_stops_on_sigterm(
    tmp_path: Path, sandbox: SandboxWorld
) -> None:
    slack = sandbox.slack
    driver = SlackDriver(slack.control_url)
    seed_workspace(driver)
    (tmp_path / "policy.csv").write_text(BASE_POLICY)
    port = _free_port()
    config = write_config(tmp_path, sandbox, server={"host": "127.0.0.1", "port": port})
    process = _start(config, slack)
    try:
        wait_until(
            lambda: _get(f"http://127.0.0.1:{port}/readyz")[0] == 200,
            timeout=30,
            message="/readyz to answer 200",
        )
        driver.send_command(user=ADMIN, channel=OPS_CHANNEL, command="/ops", text="whoami")
        answers = wait_until(lambda: driver.ephemerals(user=ADMIN), timeout=15, message="the whoami answer")
        assert "role:admin" in answers[0]["text"] + str(answers[0].get("blocks"))
        status, metrics = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert 'chatops_commands_total{decision="none",verb="whoami"} 1.0' in metrics
        assert "chatops_ack_seconds_count" in metrics
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "SIGTERM" in stderr
    assert slack.bot_token not in stderr and slack.app_token not in stderr
    wait_until(lambda: not driver.connections()["connections"], timeout=10, message="the socket to be closed")


def test_run_refuses_to_start_without_tokens_or_with_the_wrong_workspace(
    tmp_path: Path, sandbox: SandboxWorld
) -> None:
    slack = sandbox.slack
    (tmp_path / "policy.csv").write_text(BASE_POLICY)
    config = write_config(tmp_path, sandbox)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "SLACK_APP_TOKEN is not set" in result.stderr  # both named at once
    assert "Traceback" not in result.stderr

    wrong = write_config(
        tmp_path,
        sandbox,
        slack={"command": "/ops", "team_id": "TOTHER999", "api_url": slack.api_url},
    )
    process = _start(wrong, slack)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "TOTHER999" in stderr and "Traceback" not in stderr
    assert slack.bot_token not in stderr


def test_run_with_slack_unreachable_exits_1_with_one_clear_line(
    tmp_path: Path, sandbox: SandboxWorld
) -> None:
    (tmp_path / "policy.csv").write_text(BASE_POLICY)
    closed = f"http://127.0.0.1:{_free_port()}/api/"
    config = write_config(tmp_path, sandbox, slack={"command": "/ops", "api_url": closed})
    process = _start(config, sandbox.slack)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 1
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines  # no traceback, no library progress lines
    assert lines[0].startswith(f"chatops run: cannot reach Slack at {closed}"), lines
    assert sandbox.slack.bot_token not in stderr
