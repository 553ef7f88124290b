"""EKS tokens renew themselves before they expire, and a stand-in that rejects expired tokens still answers.

The stand-in here verifies tokens against a clock the test moves forward. botocore signs
with its own clock, so it is moved with the same offset (the only mock: the clock).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from clusters_world import MovableClock
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.clusters.registry import ClusterRegistry
from bot.config import ClusterSettings
from bot.sandbox.eks_auth import EksTokenVerifier
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.world import SandboxWorld

ACCOUNT = "210000000077"
CLUSTER = "refresh-eu"
REGION = "eu-west-1"
TEMPLATE = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "nightly"}}


@pytest.fixture(scope="module")
def verifier_clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def clock(verifier_clock: MovableClock) -> Iterator[MovableClock]:
    """The one clock of this module's world: the registry's, the stand-in's and botocore's."""
    movable = verifier_clock
    movable.offset = dt.timedelta()

    def botocore_now(remove_tzinfo: bool = True) -> dt.datetime:
        now = movable()
        return now.replace(tzinfo=None) if remove_tzinfo else now

    with mock.patch("botocore.auth.get_current_datetime", botocore_now):
        yield movable


@pytest.fixture(scope="module")
def eks_server(world: SandboxWorld, verifier_clock: MovableClock) -> Iterator[tuple[KubeApiServer, str]]:
    """An EKS cluster in its own account whose API server checks token expiry against `clock`."""
    role_arn = world.aws.create_role(ACCOUNT, "chatops-bot")
    verifier = EksTokenVerifier(
        aws=world.aws, cluster_name=CLUSTER, role_mappings={role_arn: "bot"}, clock=verifier_clock
    )
    server = KubeApiServer(name=CLUSTER, authenticate=verifier).start()
    server.store.create("argoproj.io", "v1alpha1", "workflowtemplates", "argo", TEMPLATE)
    world.aws.create_eks_cluster(
        name=CLUSTER,
        region=REGION,
        account_credentials=world.aws.assume_role(role_arn, session_name="setup"),
        endpoint=server.https_url,
        ca_data=base64.b64encode(server.ca_pem.encode()).decode(),
    )
    yield server, role_arn
    server.stop()


def _settings(info: dict[str, Any], role_arn: str) -> ClusterSettings:
    auth = {
        "kind": "eks",
        "cluster_name": CLUSTER,
        "region": REGION,
        "role_arn": role_arn,
        "endpoint_url": info["aws"]["endpoint_url"],
    }
    return ClusterSettings.model_validate({"name": "refresh", "auth": auth})


def _templates(api_client: client.ApiClient) -> list[str]:
    answer = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "argo", "workflowtemplates"
    )
    return [item["metadata"]["name"] for item in answer["items"]]


def _bearer(api_client: client.ApiClient) -> str:
    return str(api_client.configuration.api_key["authorization"])


def test_a_request_after_the_token_expired_still_succeeds_with_a_new_token(
    info: dict[str, Any],
    aws_session: Callable[[], boto3.Session],
    clock: MovableClock,
    eks_server: tuple[KubeApiServer, str],
) -> None:
    _, role_arn = eks_server
    with ClusterRegistry(
        [_settings(info, role_arn)], aws_session_factory=aws_session, clock=clock
    ) as registry:
        api_client = registry.api_client("refresh")
        assert _templates(api_client) == ["nightly"]
        first = _bearer(api_client)

        clock.offset = dt.timedelta(minutes=2)  # tokens are presigned for 60 s

        configuration = client.Configuration(host=api_client.configuration.host)  # same server
        configuration.ssl_ca_cert = api_client.configuration.ssl_ca_cert
        configuration.api_key = {"authorization": first}  # the old token
        configuration.api_key_prefix = {"authorization": "Bearer"}
        stale = client.ApiClient(configuration)
        with stale, pytest.raises(ApiException) as refused:
            _templates(stale)
        assert refused.value.status == 401

        assert _templates(api_client) == ["nightly"]
        assert _bearer(api_client) != first


def test_a_token_near_expiry_is_renewed_before_use_and_reused_while_fresh(
    info: dict[str, Any],
    aws_session: Callable[[], boto3.Session],
    clock: MovableClock,
    eks_server: tuple[KubeApiServer, str],
) -> None:
    _, role_arn = eks_server
    with ClusterRegistry(
        [_settings(info, role_arn)], aws_session_factory=aws_session, clock=clock
    ) as registry:
        api_client = registry.api_client("refresh")
        _templates(api_client)
        first = _bearer(api_client)

        clock.offset = dt.timedelta(seconds=20)
        _templates(api_client)
        assert _bearer(api_client) == first  # 40 s left: still fresh, no new signature

        clock.offset = dt.timedelta(seconds=50)  # 10 s left, inside the 15 s margin
        assert _templates(api_client) == ["nightly"]
        assert _bearer(api_client) != first


def test_no_token_reaches_the_logs(
    info: dict[str, Any],
    aws_session: Callable[[], boto3.Session],
    clock: MovableClock,
    eks_server: tuple[KubeApiServer, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, role_arn = eks_server
    caplog.set_level(logging.DEBUG)
    with ClusterRegistry(
        [_settings(info, role_arn)], aws_session_factory=aws_session, clock=clock
    ) as registry:
        api_client = registry.api_client("refresh")
        _templates(api_client)
        token = _bearer(api_client)
        hook = api_client.configuration.refresh_api_key_hook
        assert token.startswith("k8s-aws-v1.")
        assert token not in caplog.text and token[11:51] not in caplog.text
        assert "k8s-aws-v1" not in repr(hook) and "k8s-aws-v1" not in repr(registry)
