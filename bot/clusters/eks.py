"""EKS bearer tokens from AWS credentials, as `aws eks get-token` and aws-iam-authenticator make them.

An EKS token is `k8s-aws-v1.` + base64url (no padding) of a presigned STS
`GetCallerIdentity` URL whose signature covers the header `x-k8s-aws-id: <cluster name>`.
The API server replays the URL against STS to learn who signed it, and the signed header
pins the token to one cluster. Cross-account clusters are reached by first assuming a role
in the target account (`assume_role_session`).

Left out: caching tokens. A token lives `expires_in` seconds from when it was signed;
whoever holds one checks `is_fresh(token, now=..., margin=...)` before each use and calls
`make_token` again when it is not (`bot.clusters.clients` does, on every request). The
role's own credentials are refreshed here: `refreshing_role_session` re-assumes the role
before its temporary credentials lapse, so a bot that runs for days keeps signing valid
tokens. Each set of temporary credentials STS hands out is registered with `bot.redaction`,
so no log line shows it (botocore prints STS answers at DEBUG). Discovering the endpoint and
CA (`eks:DescribeCluster`) belongs to the cluster client builder. Only boto3/botocore are
used here; nothing from the sandbox.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials

from bot import redaction

TOKEN_PREFIX = "k8s-aws-v1."
#: The header whose signed value names the cluster a token is meant for.
CLUSTER_ID_HEADER = "x-k8s-aws-id"
_CLUSTER_PARAM = "ClusterName"
_CONTEXT_KEY = "eks_cluster_name"


@dataclass(frozen=True)
class EksToken:
    """A bearer token for one EKS cluster and the moment it stops being accepted."""

    value: str
    expires_at: dt.datetime

    def __repr__(self) -> str:
        # Never show the token itself: it is a credential.
        return f"EksToken(value='{TOKEN_PREFIX}…', expires_at={self.expires_at.isoformat()})"


def make_token(
    *,
    session: boto3.Session,
    cluster_name: str,
    region: str,
    endpoint_url: str | None = None,
    expires_in: int = 60,
    now: dt.datetime | None = None,
) -> EksToken:
    """Presign STS GetCallerIdentity for `cluster_name` with `session`'s credentials.

    Args:
        session: credentials to authenticate as (often from `assume_role_session`).
        cluster_name: the EKS cluster name, signed into the token so it is valid nowhere else.
        region: STS region to sign for (the regional endpoint, as `aws eks get-token` does).
        endpoint_url: an STS endpoint override (tests, VPC endpoints); None for AWS's own.
        expires_in: seconds the presigned URL stays valid.
        now: the clock reading used to compute `expires_at` (taken before signing, so
            `expires_at` is never later than the real expiry).

    Returns:
        The token and its expiry (UTC).
    """
    issued = now or dt.datetime.now(dt.UTC)
    sts = session.client("sts", region_name=region, endpoint_url=endpoint_url)
    # The cluster name travels as a fake parameter through botocore's pipeline: popped
    # into the request context before validation, then written as a header before signing.
    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", _move_cluster_to_context)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", _add_cluster_header)
    url = sts.generate_presigned_url(
        "get_caller_identity",
        Params={_CLUSTER_PARAM: cluster_name},
        ExpiresIn=expires_in,
        HttpMethod="GET",
    )
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return EksToken(value=TOKEN_PREFIX + encoded, expires_at=issued + dt.timedelta(seconds=expires_in))


def is_fresh(token: EksToken, *, now: dt.datetime, margin: dt.timedelta = dt.timedelta(seconds=10)) -> bool:
    """True while `token` stays valid for at least `margin` more: refresh when this is False.

    The margin covers clock skew and the time a request spends in flight, so a token is
    never presented in the last moments of its life.
    """
    return now + margin < token.expires_at


def assume_role_session(
    *,
    base: boto3.Session,
    role_arn: str,
    session_name: str,
    external_id: str | None = None,
    endpoint_url: str | None = None,
    duration_seconds: int = 3600,
) -> boto3.Session:
    """A session acting as `role_arn` (usually in another account), via STS AssumeRole.

    The returned session holds temporary credentials; build a new one before they lapse
    (`duration_seconds`). `external_id` is the shared secret the role's trust policy may demand.
    """
    params: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "DurationSeconds": duration_seconds,
    }
    if external_id is not None:
        params["ExternalId"] = external_id
    sts = base.client("sts", endpoint_url=endpoint_url)
    credentials = sts.assume_role(**params)["Credentials"]
    _register(credentials)
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=base.region_name,
    )


def refreshing_role_session(
    *,
    base: boto3.Session,
    role_arn: str,
    session_name: str,
    region: str,
    external_id: str | None = None,
    endpoint_url: str | None = None,
    duration_seconds: int = 3600,
) -> boto3.Session:
    """Like `assume_role_session`, but the credentials renew themselves before they expire.

    The first AssumeRole happens here, so a refused role fails now (botocore's
    `ClientError`, for the caller to convert); later renewals happen inside botocore when
    the credentials are within 15 minutes of expiry, exactly as the CLI's `role_arn`
    profiles do.
    """
    params: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "DurationSeconds": duration_seconds,
    }
    if external_id is not None:
        params["ExternalId"] = external_id
    sts = base.client("sts", region_name=region, endpoint_url=endpoint_url)

    def fetch() -> dict[str, str]:
        answer = sts.assume_role(**params)["Credentials"]
        _register(answer)
        return {
            "access_key": answer["AccessKeyId"],
            "secret_key": answer["SecretAccessKey"],
            "token": answer["SessionToken"],
            "expiry_time": answer["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method=_AssumedRole.METHOD
    )
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver(providers=[_AssumedRole(credentials)]))
    return boto3.Session(botocore_session=core, region_name=region)


def _register(credentials: dict[str, Any]) -> None:
    """Keep a new set of temporary credentials out of every log line from now on."""
    redaction.register(
        credentials.get("AccessKeyId"),
        credentials.get("SecretAccessKey"),
        credentials.get("SessionToken"),
        rotating=True,
    )


class _AssumedRole(CredentialProvider):  # type: ignore[misc]
    """Hands botocore the refreshable credentials of one assumed role."""

    METHOD = "chatops-assume-role"
    CANONICAL_NAME = "chatops-assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


def _move_cluster_to_context(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if _CLUSTER_PARAM in params:
        context[_CONTEXT_KEY] = params.pop(_CLUSTER_PARAM)


def _add_cluster_header(request: Any, **_: Any) -> None:
    name = request.context.get(_CONTEXT_KEY)
    if name is not None:
        request.headers[CLUSTER_ID_HEADER] = name
