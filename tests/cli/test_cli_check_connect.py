"""`chatops check --connect` against the sandbox world: one line per check, exit 1 naming what failed."""

from __future__ import annotations

import base64
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld

PROD_TOKEN_ENV = "CHATOPS_TEST_PROD_TOKEN"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxWorld]:
    before = set(threading.enumerate())
    sandbox = SandboxWorld(
        tmp_path_factory.mktemp("world"), clusters=("dev", "prod"), time_scale=0.01, seed=True
    ).start()
    yield sandbox
    # moto's state is process-wide: forget this world's roles so another world can be built later.
    reset = urllib.request.Request(f"{sandbox.aws.endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10) as answer:
        answer.read()
    sandbox.stop()
    wait_until(
        lambda: not [t for t in set(threading.enumerate()) - before if t.is_alive()],
        timeout=10,
        message=lambda: f"no threads left behind, still: {set(threading.enumerate()) - before}",
    )


@pytest.fixture(scope="module")
def info(world: SandboxWorld) -> dict[str, Any]:
    return world.describe()


@pytest.fixture
def environment(info: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the bot's pod would have: Slack tokens, a cluster token, AWS credentials (as IRSA gives)."""
    for name in ("DATABASE_URL", "CHATOPS_CONFIG", "AWS_PROFILE", "AWS_SESSION_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", info["slack"]["bot_token"])
    monkeypatch.setenv("SLACK_APP_TOKEN", info["slack"]["app_token"])
    monkeypatch.setenv(PROD_TOKEN_ENV, info["clusters"]["prod"]["token"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", info["aws"]["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", info["aws"]["secret_access_key"])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def _write_config(info: dict[str, Any], directory: Path, **overrides: Any) -> Path:
    """A config like production's, pointing at the world: dev via EKS (cross-account), prod via a token."""
    (directory / "prod-ca.pem").write_bytes(base64.b64decode(info["clusters"]["prod"]["ca_data"]))
    dev = info["clusters"]["dev"]["eks"]
    config: dict[str, Any] = {
        "slack": {"api_url": info["slack"]["api_url"], "team_id": info["slack"]["team_id"]},
        "database": {"url": f"sqlite:///{directory / 'bot.db'}"},
        "clusters": [
            {
                "name": "dev",
                "auth": {
                    "kind": "eks",
                    "cluster_name": dev["cluster_name"],
                    "region": dev["region"],
                    "role_arn": dev["role_arn"],
                    "endpoint_url": info["aws"]["endpoint_url"],
                },
                "argocd_namespace": "argocd",
            },
            {
                "name": "prod",
                "auth": {
                    "kind": "token",
                    "server": overrides.pop("prod_server", info["clusters"]["prod"]["https_url"]),
                    "token_env": PROD_TOKEN_ENV,
                    "ca_file": "prod-ca.pem",
                },
            },
        ],
        "logs": {
            "bucket": info["logs"]["bucket"],
            "region": info["logs"]["region"],
            "endpoint_url": info["aws"]["endpoint_url"],
        },
    }
    config["slack"].update(overrides.pop("slack", {}))
    path = directory / "chatops.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _secrets(info: dict[str, Any]) -> list[str]:
    return [
        info["slack"]["bot_token"],
        info["slack"]["app_token"],
        info["clusters"]["prod"]["token"],
        info["aws"]["secret_access_key"],
        "k8s-aws-v1.",
    ]


@pytest.mark.usefixtures("environment")
def test_everything_reachable_prints_ok_lines_and_exits_0(
    info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_config(info, tmp_path)
    capsys.readouterr()

    assert main(["check", "--config", str(path), "--connect"]) == 0

    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()]
    assert any(line.startswith("database: ok - ") and "(up to date)" in line for line in lines)
    assert any(
        line.startswith("slack auth.test: ok - bot ") and line.endswith(f"({info['slack']['team_id']})")
        for line in lines
    )
    assert "slack apps.connections.open: ok - Socket Mode connections can be opened" in lines
    assert "cluster dev: ok - Kubernetes v1." in out and info["clusters"]["dev"]["https_url"] in out
    assert "cluster dev workflows: ok - can list workflows in argo" in lines
    assert "cluster dev applications: ok - can list applications in argocd" in lines
    assert "cluster prod workflows: ok - can list workflows in argo" in lines
    assert not any(line.startswith("cluster prod applications") for line in lines)
    assert f"s3: ok - bucket s3://{info['logs']['bucket']} is reachable (us-east-1)" in lines
    assert "FAILED" not in out
    assert not [secret for secret in _secrets(info) if secret in out]


@pytest.mark.usefixtures("environment")
def test_a_wrong_cluster_url_fails_naming_the_cluster(
    info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = f"https://127.0.0.1:{_closed_port()}"
    path = _write_config(info, tmp_path, prod_server=server)
    capsys.readouterr()

    assert main(["check", "--config", str(path), "--connect"]) == 1

    out = capsys.readouterr().out
    assert f"cluster prod: FAILED - cluster 'prod' at {server} is unreachable (connection refused)" in out
    assert "cluster dev: ok" in out  # one bad cluster does not hide the others
    assert out.rstrip().endswith("1 check failed: cluster prod")
    assert not [secret for secret in _secrets(info) if secret in out]


@pytest.mark.usefixtures("environment")
def test_a_token_of_another_workspace_fails_the_slack_check(
    info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_config(info, tmp_path, slack={"team_id": "T0ELSEWHERE"})
    capsys.readouterr()

    assert main(["check", "--config", str(path), "--connect"]) == 1

    out = capsys.readouterr().out
    assert (
        f"slack auth.test: FAILED - the token belongs to team {info['slack']['team_id']}, "
        "but slack.team_id is T0ELSEWHERE"
    ) in out
    assert out.rstrip().endswith("1 check failed: slack auth.test")
