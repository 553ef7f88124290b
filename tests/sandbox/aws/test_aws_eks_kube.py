"""EKS tokens end to end: the bot's token maker, the sandbox verifier, a Kubernetes API server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.clusters import eks
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.aws import AwsSandbox
from bot.sandbox.eks_auth import EksTokenVerifier
from bot.sandbox.kube import KubeApiServer

TARGET_ACCOUNT = "777788889999"


@pytest.fixture(scope="module")
def role_arn(aws: AwsSandbox) -> str:
    return aws.create_role(TARGET_ACCOUNT, "chatops-eks")


class _Clock:
    """The verifier's clock, movable forward to age tokens without waiting."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def kube(aws: AwsSandbox, role_arn: str, clock: _Clock) -> Iterator[KubeApiServer]:
    verifier = EksTokenVerifier(
        aws=aws, cluster_name="prod-eu", role_mappings={role_arn: "chatops-bot"}, clock=clock
    )
    server = KubeApiServer(name="prod-eu", authenticate=verifier).start()
    yield server
    server.stop()


def _token(aws: AwsSandbox, role_arn: str, cluster: str) -> str:
    session = eks.assume_role_session(
        base=aws.session(), role_arn=role_arn, session_name="chatops", endpoint_url=aws.endpoint_url
    )
    token = eks.make_token(
        session=session, cluster_name=cluster, region="eu-west-1", endpoint_url=aws.endpoint_url
    )
    return token.value


def _list_workflows(kube: KubeApiServer, token: str) -> list[dict[str, object]]:
    api_client = build_api_client(url=kube.url, token=token)
    try:
        answer = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "argo", "workflows"
        )
        return list(answer["items"])
    finally:
        api_client.close()


def test_cross_account_eks_token_lists_workflows(aws: AwsSandbox, role_arn: str, kube: KubeApiServer) -> None:
    workflow = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "nightly"}}
    kube.store.create("argoproj.io", "v1alpha1", "workflows", "argo", workflow)

    items = _list_workflows(kube, _token(aws, role_arn, "prod-eu"))

    assert [item["metadata"]["name"] for item in items] == ["nightly"]  # type: ignore[index]


@pytest.mark.parametrize("case", ["garbage", "other-cluster", "expired"])
def test_bad_eks_tokens_get_401(
    aws: AwsSandbox, role_arn: str, kube: KubeApiServer, clock: _Clock, case: str
) -> None:
    if case == "garbage":
        token = "k8s-aws-v1.bm90LWEtdG9rZW4"
    elif case == "other-cluster":
        token = _token(aws, role_arn, "dev-us")
    else:
        token = _token(aws, role_arn, "prod-eu")
        clock.offset = dt.timedelta(minutes=2)  # tokens are presigned for 60 s

    with pytest.raises(ApiException) as caught:
        _list_workflows(kube, token)

    assert caught.value.status == 401
