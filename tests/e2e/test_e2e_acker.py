"""The Socket Mode acker process: killed, it is started again; the bot killed, it goes too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from e2e_world import ADMIN, BASE_POLICY, OPS_CHANNEL, World, seed_workspace, write_config

from bot.sandbox.slack import SlackDriver
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld
from bot.slack.ack_process import AckProcess


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def _answered(world: World, text: str) -> str:
    before = len(world.driver.ephemerals(user=ADMIN))
    world.driver.send_command(user=ADMIN, channel=OPS_CHANNEL, command="/ops", text=text)
    answers = wait_until(
        lambda: world.driver.ephemerals(user=ADMIN)[before:], timeout=15, message=f"the {text} answer"
    )
    return str(answers[0]["text"]) + str(answers[0].get("blocks"))


def test_a_killed_acker_is_started_again_and_commands_are_answered(world: World) -> None:
    socket = world.bot.socket
    assert isinstance(socket, AckProcess)  # the default transport
    assert "role:admin" in _answered(world, "whoami")
    first = socket.pid
    assert first is not None and _alive(first)

    os.kill(first, signal.SIGKILL)

    wait_until(
        lambda: socket.pid != first and world.bot.is_connected(),
        timeout=20,
        message="a new acker, connected",
    )
    assert socket.restarts == 1
    assert "role:admin" in _answered(world, "whoami")


def test_the_acker_exits_when_the_bot_is_killed(tmp_path: Path, sandbox: SandboxWorld) -> None:
    slack = sandbox.slack
    driver = SlackDriver(slack.control_url)
    seed_workspace(driver)
    (tmp_path / "policy.csv").write_text(BASE_POLICY)
    config = write_config(tmp_path, sandbox)
    environ = {**os.environ, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: driver.connections()["connections"], timeout=30, message="the bot's connection")
        children = _children(process.pid)
        assert len(children) == 1, children  # the acker
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        wait_until(lambda: not _alive(children[0]), timeout=10, message="the acker to exit")
        wait_until(lambda: not driver.connections()["connections"], timeout=10, message="the socket to close")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_refused_app_token_stops_run_with_one_clear_line(tmp_path: Path, sandbox: SandboxWorld) -> None:
    slack = sandbox.slack
    (tmp_path / "policy.csv").write_text(BASE_POLICY)
    config = write_config(tmp_path, sandbox)
    wrong = "xapp-1-A0WRONG-1-" + "f" * 32
    environ = {**os.environ, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": wrong}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == ["chatops run: Slack refused the app token: invalid_auth"], lines
    assert wrong not in result.stderr and slack.bot_token not in result.stderr
