"""Each auth kind reaches the sandbox clusters through the real kubernetes client and lists templates."""

from __future__ import annotations

import base64
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from clusters_world import PROD_TOKEN_ENV, eks_cluster, token_cluster
from kubernetes import client

from bot.clusters.registry import ClusterRegistry
from bot.config import ClusterSettings
from bot.sandbox.world import SandboxWorld

SEEDED_TEMPLATES = {"hello", "db-migration", "deploy-report", "nightly-report", "orders-backfill", "release"}


def _template_names(api_client: client.ApiClient) -> set[str]:
    answer = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "argo", "workflowtemplates"
    )
    return {item["metadata"]["name"] for item in answer["items"]}


@pytest.fixture
def service_account(info: dict[str, Any], tmp_path: Path) -> Path:
    """A service account mount as a pod on the prod cluster would see it."""
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text(info["clusters"]["prod"]["token"])
    (directory / "ca.crt").write_bytes(base64.b64decode(info["clusters"]["prod"]["ca_data"]))
    return directory


def test_every_auth_kind_lists_workflow_templates(
    world: SandboxWorld,
    info: dict[str, Any],
    aws_session: Callable[[], boto3.Session],
    prod_ca_file: Path,
    service_account: Path,
) -> None:
    prod_port = info["clusters"]["prod"]["https_url"].rsplit(":", 1)[1]
    clusters = [
        eks_cluster(info, "dev", name="dev-eks"),
        eks_cluster(info, "prod", name="prod-eks"),
        token_cluster(name="prod-token", server=info["clusters"]["prod"]["https_url"], ca_file=prod_ca_file),
        ClusterSettings.model_validate(
            {
                "name": "dev-kubeconfig",
                "auth": {"kind": "kubeconfig", "path": info["kubeconfig"], "context": "dev"},
            }
        ),
        ClusterSettings.model_validate({"name": "prod-pod", "auth": {"kind": "in-cluster"}}),
    ]
    environ = {
        PROD_TOKEN_ENV: info["clusters"]["prod"]["token"],
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": prod_port,
    }
    with ClusterRegistry(
        clusters, aws_session_factory=aws_session, environ=environ, service_account_dir=service_account
    ) as registry:
        for name in registry.names():
            assert _template_names(registry.api_client(name)) == SEEDED_TEMPLATES, name
        assert registry.server("dev-eks") == info["clusters"]["dev"]["https_url"]
        assert registry.server("prod-eks") == info["clusters"]["prod"]["https_url"]


def test_clients_are_built_once_and_specs_carry_no_credentials(
    info: dict[str, Any], aws_session: Callable[[], boto3.Session], prod_ca_file: Path
) -> None:
    clusters = [
        eks_cluster(info, "dev"),
        token_cluster(name="prod", server=info["clusters"]["prod"]["https_url"], ca_file=prod_ca_file),
    ]
    environ = {PROD_TOKEN_ENV: info["clusters"]["prod"]["token"]}
    with ClusterRegistry(clusters, aws_session_factory=aws_session, environ=environ) as registry:
        assert registry.names() == ("dev", "prod")
        assert registry.default_name() == "dev"
        assert registry.api_client("dev") is registry.api_client("dev")
        dev = registry.spec("dev")
        assert (dev.auth_kind, dev.workflows_namespace, dev.argocd_namespace) == ("eks", "argo", "argocd")
        assert registry.get("nope") is None and "nope" not in registry
        with pytest.raises(KeyError, match="known: dev, prod"):
            registry.api_client("nope")
        shown = repr(registry) + repr(list(registry))
        assert info["clusters"]["prod"]["token"] not in shown and "k8s-aws-v1." not in shown


def test_ping_reports_the_server_version(
    info: dict[str, Any], aws_session: Callable[[], boto3.Session]
) -> None:
    with ClusterRegistry([eks_cluster(info, "prod")], aws_session_factory=aws_session) as registry:
        health = registry.ping("prod")
    assert health.ok and health.error is None
    assert health.version and health.version.startswith("v1.")
    assert health.server == info["clusters"]["prod"]["https_url"]


def test_eks_ca_lives_in_a_private_temp_file_removed_on_close(
    info: dict[str, Any], aws_session: Callable[[], boto3.Session]
) -> None:
    registry = ClusterRegistry([eks_cluster(info, "dev")], aws_session_factory=aws_session)
    ca_file = Path(registry.api_client("dev").configuration.ssl_ca_cert)
    assert ca_file.read_bytes() == base64.b64decode(info["clusters"]["dev"]["ca_data"])
    assert stat.S_IMODE(ca_file.stat().st_mode) == 0o600

    registry.close()

    assert not ca_file.exists()
    with pytest.raises(RuntimeError, match="closed"):
        registry.api_client("dev")
