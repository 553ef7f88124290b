"""Build one `kubernetes.client.ApiClient` for a configured cluster, whatever its auth kind.

`build_client(cluster, ...)` turns a `ClusterSettings` into a `ClusterClient` (the
ApiClient plus what must be released with it):
- `kubeconfig`: the file and context, through `kubernetes.config.new_client_from_config`
  (exec plugins and their token refresh are the library's);
- `in-cluster`: the pod's service account through `InClusterConfigLoader`, which re-reads
  the rotating token file;
- `token`: a fixed server and a bearer token read from the variable `token_env`;
- `eks`: boto3 session -> optional AssumeRole (renewed before it lapses) ->
  `eks:DescribeCluster` for endpoint and CA (written to a 0600 temp file) -> a
  `k8s-aws-v1.` token that `EksBearer` renews, through the Configuration's
  `refresh_api_key_hook`, whenever a request finds it within `margin` of expiry.

Failures that a person fixes in the configuration or in IAM (a missing variable or file, a
refused AssumeRole, an unknown EKS cluster) raise `ConfigError`; an AWS endpoint that does not
answer raises `UpstreamError`. Every message names the cluster and what to check, and never
holds a token. Left out: caching (the registry's) and anything Argo-specific. Only
`bot.clusters.registry` calls this.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from bot import redaction
from bot.clusters import eks
from bot.config import ClusterSettings, EksAuth, InClusterAuth, KubeconfigAuth, TokenAuth
from bot.errors import ConfigError, UpstreamError

Clock = Callable[[], dt.datetime]
SessionFactory = Callable[[], boto3.Session]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: A token is renewed when it has less than this left, so it never expires in flight.
TOKEN_MARGIN = dt.timedelta(seconds=15)
#: Lifetime of the presigned URL inside an EKS token (EKS accepts at most 15 minutes).
TOKEN_LIFETIME_SECONDS = 60
ROLE_SESSION_NAME = "chatops-bot"
_MAX_DETAIL = 200


@dataclass
class ClusterClient:
    """An ApiClient and the clean-ups (temp files) that must run when it is closed."""

    name: str
    api_client: client.ApiClient
    server: str
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Close the connection pool and delete temp files; safe to call twice."""
        self.api_client.close()  # type: ignore[no-untyped-call]
        while self.cleanups:
            self.cleanups.pop()()


class EksBearer:
    """`refresh_api_key_hook` keeping a fresh EKS token in a kubernetes Configuration.

    The kubernetes client calls the hook before each request, from any thread; the lock
    makes concurrent requests share one renewal. The token is never shown by `repr`.
    """

    def __init__(
        self,
        *,
        cluster: str,
        session: boto3.Session,
        cluster_name: str,
        region: str,
        endpoint_url: str | None,
        clock: Clock,
        margin: dt.timedelta = TOKEN_MARGIN,
        lifetime_seconds: int = TOKEN_LIFETIME_SECONDS,
    ) -> None:
        self._cluster = cluster
        self._session = session
        self._cluster_name = cluster_name
        self._region = region
        self._endpoint_url = endpoint_url
        self._clock = clock
        self._margin = margin
        self._lifetime = lifetime_seconds
        self._lock = threading.Lock()
        self._token: eks.EksToken | None = None

    def current(self) -> str:
        """A token valid for at least `margin` more (made now when needed)."""
        with self._lock:
            now = self._clock()
            if self._token is None or not eks.is_fresh(self._token, now=now, margin=self._margin):
                self._token = self._make(now)
            return self._token.value

    def __call__(self, configuration: client.Configuration) -> None:
        configuration.api_key["authorization"] = self.current()

    def __deepcopy__(self, memo: dict[int, Any]) -> EksBearer:
        # kubernetes deep-copies Configurations in places; the copy must share the token cache.
        return self

    def __repr__(self) -> str:
        return f"EksBearer(cluster={self._cluster!r}, eks_cluster={self._cluster_name!r})"

    def _make(self, now: dt.datetime) -> eks.EksToken:
        try:
            return eks.make_token(
                session=self._session,
                cluster_name=self._cluster_name,
                region=self._region,
                endpoint_url=self._endpoint_url,
                expires_in=self._lifetime,
                now=now,
            )
        except (BotoCoreError, ClientError) as exc:
            # Renewing the role's credentials happens here too; STS may be down or refuse.
            raise UpstreamError(
                f"cluster {self._cluster!r}: cannot sign a new EKS token ({_aws_reason(exc)}); "
                "check the bot's AWS credentials and STS reachability"
            ) from exc


def build_client(
    cluster: ClusterSettings,
    *,
    environ: Mapping[str, str],
    aws_session_factory: SessionFactory,
    clock: Clock,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    base_dir: Path | None = None,
) -> ClusterClient:
    """Build the client for `cluster` (see the module docstring for each auth kind).

    Raises:
        ConfigError: the settings, environment or IAM setup are wrong (message says what to check).
        UpstreamError: AWS could not be reached.
    """
    auth = cluster.auth
    if isinstance(auth, KubeconfigAuth):
        return _from_kubeconfig(cluster.name, auth, environ=environ, base_dir=base_dir)
    if isinstance(auth, InClusterAuth):
        return _in_cluster(cluster.name, environ=environ, service_account_dir=service_account_dir)
    if isinstance(auth, TokenAuth):
        return _from_token(cluster.name, auth, environ=environ, base_dir=base_dir)
    return _from_eks(cluster.name, auth, aws_session_factory=aws_session_factory, clock=clock)


def _from_kubeconfig(
    name: str, auth: KubeconfigAuth, *, environ: Mapping[str, str], base_dir: Path | None
) -> ClusterClient:
    path = _resolve(auth.path, base_dir) if auth.path else environ.get("KUBECONFIG") or "~/.kube/config"
    files = [os.path.expanduser(part) for part in str(path).split(os.pathsep) if part]
    if not any(os.path.exists(part) for part in files):
        raise ConfigError(
            [f"cluster {name!r}: kubeconfig {path} does not exist; check auth.path or $KUBECONFIG"]
        )
    try:
        api_client = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(path), context=auth.context, persist_config=False
        )
    except (ConfigException, OSError, ValueError) as exc:
        context = f"context {auth.context!r}" if auth.context else "its current context"
        raise ConfigError(
            [f"cluster {name!r}: cannot use kubeconfig {path} with {context}: {_short(exc)}"]
        ) from None
    return ClusterClient(name=name, api_client=api_client, server=str(api_client.configuration.host))


def _in_cluster(name: str, *, environ: Mapping[str, str], service_account_dir: Path) -> ClusterClient:
    configuration = client.Configuration()
    loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
        token_filename=str(service_account_dir / "token"),
        cert_filename=str(service_account_dir / "ca.crt"),
        environ=environ,
    )
    try:
        loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise ConfigError(
            [
                f"cluster {name!r}: auth kind in-cluster works only inside a pod with a service "
                f"account token ({_short(exc)}); use kind kubeconfig, token or eks elsewhere"
            ]
        ) from None
    return ClusterClient(
        name=name, api_client=client.ApiClient(configuration), server=str(configuration.host)
    )


def _from_token(
    name: str, auth: TokenAuth, *, environ: Mapping[str, str], base_dir: Path | None
) -> ClusterClient:
    token = environ.get(auth.token_env, "").strip()
    if not token:
        raise ConfigError(
            [
                f"cluster {name!r}: the environment variable {auth.token_env} (auth.token_env) is not set "
                "or empty; set it to the API server's bearer token"
            ]
        )
    configuration = client.Configuration(host=auth.server.rstrip("/"))
    if auth.ca_file:
        ca_file = _resolve(auth.ca_file, base_dir)
        if not ca_file.is_file():
            raise ConfigError([f"cluster {name!r}: auth.ca_file {ca_file} does not exist"])
        configuration.ssl_ca_cert = str(ca_file)
    configuration.verify_ssl = not auth.insecure_skip_tls_verify
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return ClusterClient(name=name, api_client=client.ApiClient(configuration), server=configuration.host)


def _from_eks(
    name: str, auth: EksAuth, *, aws_session_factory: SessionFactory, clock: Clock
) -> ClusterClient:
    session = _eks_session(name, auth, aws_session_factory=aws_session_factory)
    endpoint, ca_pem = _describe(name, auth, session=session)
    ca_path = _write_ca(ca_pem)
    bearer = EksBearer(
        cluster=name,
        session=session,
        cluster_name=auth.cluster_name,
        region=auth.region,
        endpoint_url=auth.endpoint_url,
        clock=clock,
    )
    configuration = client.Configuration(host=endpoint.rstrip("/"))
    configuration.ssl_ca_cert = str(ca_path)
    try:
        configuration.api_key = {"authorization": bearer.current()}
    except UpstreamError:
        ca_path.unlink(missing_ok=True)
        raise
    configuration.api_key_prefix = {"authorization": "Bearer"}
    configuration.refresh_api_key_hook = bearer  # type: ignore[assignment]  # typed as None upstream
    return ClusterClient(
        name=name,
        api_client=client.ApiClient(configuration),
        server=configuration.host,
        cleanups=[lambda: ca_path.unlink(missing_ok=True)],
    )


def _eks_session(name: str, auth: EksAuth, *, aws_session_factory: SessionFactory) -> boto3.Session:
    base = aws_session_factory()
    if auth.role_arn is None:
        return base
    try:
        return eks.refreshing_role_session(
            base=base,
            role_arn=auth.role_arn,
            session_name=ROLE_SESSION_NAME,
            region=auth.region,
            external_id=auth.external_id,
            endpoint_url=auth.endpoint_url,
        )
    except NoCredentialsError:
        raise ConfigError([f"cluster {name!r}: {_NO_CREDENTIALS}"]) from None
    except ClientError as exc:
        raise ConfigError(
            [
                f"cluster {name!r}: AssumeRole into {auth.role_arn} was refused ({_aws_reason(exc)}); "
                "check auth.role_arn, the role's trust policy and auth.external_id"
            ]
        ) from None
    except (EndpointConnectionError, BotoCoreError) as exc:
        raise UpstreamError(f"cluster {name!r}: AWS STS did not answer ({_aws_reason(exc)})") from exc


def _describe(name: str, auth: EksAuth, *, session: boto3.Session) -> tuple[str, str]:
    """The cluster's endpoint and CA (PEM), from `eks:DescribeCluster`."""
    who = f" as {auth.role_arn}" if auth.role_arn else ""
    try:
        eks_client = session.client("eks", region_name=auth.region, endpoint_url=auth.endpoint_url)
        answer = eks_client.describe_cluster(name=auth.cluster_name)["cluster"]
    except NoCredentialsError:
        raise ConfigError([f"cluster {name!r}: {_NO_CREDENTIALS}"]) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            problem = (
                f"EKS cluster {auth.cluster_name!r} was not found in {auth.region}{who}; "
                "check auth.cluster_name, auth.region and that auth.role_arn is in the cluster's account"
            )
        else:
            problem = (
                f"eks:DescribeCluster on {auth.cluster_name!r} failed{who} ({_aws_reason(exc)}); "
                "check the role's IAM permissions"
            )
        raise ConfigError([f"cluster {name!r}: {problem}"]) from None
    except (EndpointConnectionError, BotoCoreError) as exc:
        raise UpstreamError(f"cluster {name!r}: AWS EKS did not answer ({_aws_reason(exc)})") from exc
    endpoint = str(answer.get("endpoint") or "")
    ca_data = str((answer.get("certificateAuthority") or {}).get("data") or "")
    if not endpoint or not ca_data:
        raise UpstreamError(
            f"cluster {name!r}: EKS cluster {auth.cluster_name!r} has no endpoint or CA yet "
            f"(status {answer.get('status', 'unknown')}); wait until it is ACTIVE"
        )
    try:
        ca_pem = base64.b64decode(ca_data, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise UpstreamError(f"cluster {name!r}: EKS returned a CA that is not base64 PEM") from None
    return endpoint, ca_pem


def _write_ca(ca_pem: str) -> Path:
    """Write the CA where urllib3 can read it: mode 0600 (mkstemp's), deleted on close."""
    fd, path = tempfile.mkstemp(prefix="chatops-eks-ca-", suffix=".pem")
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(ca_pem)
    return Path(path)


def _resolve(path: str, base_dir: Path | None) -> Path:
    candidate = Path(path).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    return candidate


_NO_CREDENTIALS = (
    "no AWS credentials were found; give the pod an IAM role (IRSA) or set the usual "
    "AWS_* variables or profile"
)


def _aws_reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        message = error.get("Message", "")
        return _short(f"{code}: {message}" if message else code)
    return _short(exc)


def _short(value: object) -> str:
    text = redaction.redact(" ".join(str(value).split()))
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
