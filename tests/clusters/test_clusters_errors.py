"""Misconfigured or unreachable clusters fail with a message naming the cluster and what to check."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from clusters_world import PROD_TOKEN_ENV, eks_cluster, token_cluster

from bot.clusters.registry import ClusterRegistry
from bot.config import ClusterSettings
from bot.errors import ConfigError


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_role_in_the_wrong_account_is_a_clear_config_error(
    info: dict[str, Any], aws_session: Callable[[], boto3.Session]
) -> None:
    wrong_role = "arn:aws:iam::210000000099:role/chatops-bot"
    with ClusterRegistry(
        [eks_cluster(info, "prod", role_arn=wrong_role)], aws_session_factory=aws_session
    ) as reg:
        with pytest.raises(ConfigError) as caught:
            reg.api_client("prod")
        health = reg.ping("prod")
    message = str(caught.value)
    assert "cluster 'prod'" in message
    assert (
        "EKS cluster 'prod' was not found in eu-west-1 as arn:aws:iam::210000000099:role/chatops-bot"
        in message
    )
    assert "auth.role_arn" in message
    assert not health.ok and health.error == message


def test_a_role_the_cluster_does_not_map_is_refused_at_use(
    info: dict[str, Any], aws_session: Callable[[], boto3.Session]
) -> None:
    account = info["clusters"]["prod"]["eks"]["account_id"]
    unmapped = f"arn:aws:iam::{account}:role/someone-else"
    with ClusterRegistry(
        [eks_cluster(info, "prod", role_arn=unmapped)], aws_session_factory=aws_session
    ) as reg:
        health = reg.ping("prod")
    assert not health.ok
    assert health.error is not None
    assert "cluster 'prod'" in health.error and "401 Unauthorized" in health.error
    assert "aws-auth" in health.error


def test_a_missing_token_variable_names_the_variable(prod_ca_file: Path) -> None:
    cluster = token_cluster(name="lab", server="https://127.0.0.1:6443", ca_file=prod_ca_file)
    with ClusterRegistry([cluster], environ={}) as registry, pytest.raises(ConfigError) as caught:
        registry.api_client("lab")
    assert f"cluster 'lab': the environment variable {PROD_TOKEN_ENV}" in str(caught.value)


def test_an_unreachable_server_is_reported_by_ping(info: dict[str, Any]) -> None:
    server = f"http://127.0.0.1:{_closed_port()}"
    cluster = token_cluster(name="gone", server=server, ca_file=None)
    environ = {PROD_TOKEN_ENV: info["clusters"]["prod"]["token"]}
    with ClusterRegistry([cluster], environ=environ) as registry:
        health = registry.ping("gone", timeout=2)
    assert not health.ok and health.error is not None
    assert f"cluster 'gone' at {server} is unreachable (connection refused)" in health.error
    assert info["clusters"]["prod"]["token"] not in health.error


def test_a_wrong_ca_is_a_tls_error(info: dict[str, Any], tmp_path: Path) -> None:
    import base64

    other_ca = tmp_path / "dev-ca.pem"  # dev's CA does not sign prod's certificate
    other_ca.write_bytes(base64.b64decode(info["clusters"]["dev"]["ca_data"]))
    cluster = token_cluster(name="prod", server=info["clusters"]["prod"]["https_url"], ca_file=other_ca)
    with ClusterRegistry([cluster], environ={PROD_TOKEN_ENV: "x"}) as registry:
        health = registry.ping("prod", timeout=2)
    assert not health.ok and health.error is not None
    assert "TLS verification failed" in health.error


def test_kubeconfig_problems_are_config_errors(info: dict[str, Any], tmp_path: Path) -> None:
    clusters = [
        ClusterSettings.model_validate(
            {"name": "nofile", "auth": {"kind": "kubeconfig", "path": str(tmp_path / "missing")}}
        ),
        ClusterSettings.model_validate(
            {"name": "nocontext", "auth": {"kind": "kubeconfig", "path": info["kubeconfig"], "context": "qa"}}
        ),
        ClusterSettings.model_validate({"name": "notapod", "auth": {"kind": "in-cluster"}}),
    ]
    with ClusterRegistry(clusters, environ={}, service_account_dir=tmp_path) as registry:
        problems = {}
        for name in registry.names():
            with pytest.raises(ConfigError) as caught:
                registry.api_client(name)
            problems[name] = str(caught.value)
    assert "cluster 'nofile': kubeconfig" in problems["nofile"] and "does not exist" in problems["nofile"]
    assert "cluster 'nocontext'" in problems["nocontext"] and "'qa'" in problems["nocontext"]
    assert "in-cluster works only inside a pod" in problems["notapod"]
