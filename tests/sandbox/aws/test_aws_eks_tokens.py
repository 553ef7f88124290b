"""EKS tokens: made by the bot's `bot.clusters.eks`, checked by the sandbox's verifier."""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse

import pytest

from bot.clusters import eks
from bot.sandbox.aws import AwsSandbox
from bot.sandbox.eks_auth import EksTokenVerifier

ACCOUNT = "444455556666"


@pytest.fixture(scope="module")
def role_arn(aws: AwsSandbox) -> str:
    return aws.create_role(ACCOUNT, "chatops-bot")


def _assumed_session(aws: AwsSandbox, role_arn: str) -> object:
    return eks.assume_role_session(
        base=aws.session(), role_arn=role_arn, session_name="chatops", endpoint_url=aws.endpoint_url
    )


def _verifier(aws: AwsSandbox, role_arn: str, **kwargs: object) -> EksTokenVerifier:
    return EksTokenVerifier(
        aws=aws, cluster_name="dev", role_mappings={role_arn: "chatops:{{SessionName}}"}, **kwargs
    )


def _url_of(token: eks.EksToken) -> urllib.parse.SplitResult:
    payload = token.value.removeprefix("k8s-aws-v1.")
    assert "=" not in payload
    return urllib.parse.urlsplit(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode())


def test_token_is_a_presigned_get_caller_identity_pinned_to_the_cluster(
    aws: AwsSandbox, role_arn: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    token = eks.make_token(
        session=_assumed_session(aws, role_arn),
        cluster_name="dev",
        region="us-east-1",
        endpoint_url=aws.endpoint_url,
        expires_in=60,
        now=now,
    )

    assert token.value.startswith("k8s-aws-v1.")
    assert token.expires_at == now + dt.timedelta(seconds=60)
    query = dict(urllib.parse.parse_qsl(_url_of(token).query))
    assert query["Action"] == "GetCallerIdentity"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert "X-Amz-Security-Token" in query
    assert "k8s-aws-v1" not in repr(token).split("value=")[1][14:]  # repr hides the credential


@pytest.mark.parametrize(
    ("seconds_left", "margin", "fresh"),
    [(60, 10, True), (11, 10, True), (10, 10, False), (5, 10, False), (-1, 0, False)],
)
def test_is_fresh_asks_for_a_refresh_before_expiry(seconds_left: int, margin: int, fresh: bool) -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    token = eks.EksToken(value="k8s-aws-v1.x", expires_at=now + dt.timedelta(seconds=seconds_left))

    assert eks.is_fresh(token, now=now, margin=dt.timedelta(seconds=margin)) is fresh


def test_verifier_maps_the_assumed_role_to_its_username(aws: AwsSandbox, role_arn: str) -> None:
    token = eks.make_token(
        session=_assumed_session(aws, role_arn),
        cluster_name="dev",
        region="us-east-1",
        endpoint_url=aws.endpoint_url,
    )

    assert _verifier(aws, role_arn).verify(token.value) == "chatops:chatops"


def test_verifier_refuses_a_token_signed_for_another_cluster(aws: AwsSandbox, role_arn: str) -> None:
    token = eks.make_token(
        session=_assumed_session(aws, role_arn),
        cluster_name="prod",
        region="us-east-1",
        endpoint_url=aws.endpoint_url,
    )

    assert _verifier(aws, role_arn).verify(token.value) is None


def test_verifier_refuses_an_expired_token(aws: AwsSandbox, role_arn: str) -> None:
    token = eks.make_token(
        session=_assumed_session(aws, role_arn),
        cluster_name="dev",
        region="us-east-1",
        endpoint_url=aws.endpoint_url,
        expires_in=60,
    )
    later = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)  # noqa: E731

    assert _verifier(aws, role_arn, clock=later).verify(token.value) is None


def test_verifier_refuses_a_role_the_cluster_does_not_map(aws: AwsSandbox, role_arn: str) -> None:
    other = aws.create_role(ACCOUNT, "someone-else")
    token = eks.make_token(
        session=_assumed_session(aws, other),
        cluster_name="dev",
        region="us-east-1",
        endpoint_url=aws.endpoint_url,
    )

    assert _verifier(aws, role_arn).verify(token.value) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "k8s-aws-v1.",
        "k8s-aws-v1.!!!not-base64!!!",
        "k8s-aws-v1." + base64.urlsafe_b64encode(b"http://evil.example/?Action=GetCallerIdentity").decode(),
        "sandbox-admin",
    ],
)
def test_verifier_refuses_garbage(aws: AwsSandbox, role_arn: str, garbage: str) -> None:
    assert _verifier(aws, role_arn).verify(garbage) is None


def test_verifier_refuses_a_tampered_signature(aws: AwsSandbox, role_arn: str) -> None:
    token = eks.make_token(
        session=_assumed_session(aws, role_arn),
        cluster_name="dev",
        region="us-east-1",
        endpoint_url=aws.endpoint_url,
    )
    url = _url_of(token).geturl()
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    forged = url.replace(signature, "0" * len(signature))
    forged_token = "k8s-aws-v1." + base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")

    assert _verifier(aws, role_arn).verify(forged_token) is None
