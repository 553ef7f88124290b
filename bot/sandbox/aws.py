"""AWS stand-in: moto's server mode (S3, STS, IAM, EKS) on 127.0.0.1 with a free port.

`AwsSandbox` starts `moto.server.ThreadedMotoServer` in this process and hands out boto3
clients pointed at it, plus the few helpers the test world needs: buckets, cross-account
roles, AssumeRole, and EKS clusters whose endpoint and CA are the *real* ones of a local
Kubernetes stand-in (moto invents both; since moto runs in this process we overwrite them).

Left out: moto keeps its state in module globals, so every `AwsSandbox` in one process
shares one set of accounts. Callers use distinct names; `stop()` does not reset anything.
Used by `bot.sandbox.world`, `bot.sandbox.eks_auth` tests and the integration tests.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

#: moto's default account, the one plain (non-assumed) credentials act in.
DEFAULT_ACCOUNT_ID = "123456789012"
ACCESS_KEY_ID = "sandbox-access-key"
SECRET_ACCESS_KEY = "sandbox-secret-key"
#: The role every cross-account role created here trusts, so the default account can assume it.
_BOOTSTRAP_ROLE = "sandbox-bootstrap"


class _QuietHandler(MotoRequestHandler):
    """moto's handler without one stderr line per request (the standalone keeps stderr readable)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class AwsSandbox:
    """moto in server mode on an ephemeral port, with boto3 clients wired to it.

    Usable as a context manager. Credentials passed around are dicts shaped like STS's
    `Credentials` (`AccessKeyId`, `SecretAccessKey`, `SessionToken`); None means the
    sandbox's own key pair, which moto maps to account 123456789012.
    """

    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.access_key_id = ACCESS_KEY_ID
        self.secret_access_key = SECRET_ACCESS_KEY
        self.account_id = DEFAULT_ACCOUNT_ID

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> AwsSandbox:
        """Bind 127.0.0.1:0 and serve moto in a background thread."""
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the server thread (moto's global state is left as is)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> AwsSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """`http://127.0.0.1:PORT`, the endpoint for every service (moto routes by signature)."""
        if self._server is None:
            raise RuntimeError("AwsSandbox is not started")
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes | bytearray):  # typeshed allows bytes; a bound AF_INET socket gives str
            host = host.decode()
        return f"http://{host}:{port}"

    # -- clients ---------------------------------------------------------------------------
    def session(
        self, *, region: str = "us-east-1", credentials: dict[str, Any] | None = None
    ) -> boto3.Session:
        """A boto3 session holding the given credentials (or the sandbox's key pair)."""
        if credentials is None:
            return boto3.Session(
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                region_name=region,
            )
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials.get("SessionToken"),
            region_name=region,
        )

    def client(
        self, service: str, *, region: str = "us-east-1", credentials: dict[str, Any] | None = None
    ) -> Any:
        """A boto3 client for `service` at the sandbox endpoint.

        S3 clients sign with SigV4: with a custom endpoint botocore would otherwise presign
        SigV2 URLs, which is not what real S3 in modern regions accepts.
        """
        config = Config(signature_version="s3v4") if service == "s3" else None
        return self.session(region=region, credentials=credentials).client(
            service, endpoint_url=self.endpoint_url, config=config
        )

    # -- helpers ---------------------------------------------------------------------------
    def create_bucket(
        self, name: str, *, region: str = "us-east-1", credentials: dict[str, Any] | None = None
    ) -> str:
        """Create a bucket (in the credentials' account: moto keeps buckets per account)."""
        s3 = self.client("s3", region=region, credentials=credentials)
        params: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**params)
        return name

    def assume_role(
        self,
        arn: str,
        *,
        session_name: str = "sandbox",
        external_id: str | None = None,
        credentials: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """STS AssumeRole from the given (default: sandbox) credentials; returns `Credentials`."""
        params: dict[str, Any] = {"RoleArn": arn, "RoleSessionName": session_name}
        if external_id is not None:
            params["ExternalId"] = external_id
        answer = self.client("sts", credentials=credentials).assume_role(**params)
        return dict(answer["Credentials"])

    def create_role(self, account_id: str, name: str) -> str:
        """Create IAM role `name` in `account_id`, trusting the sandbox account; return its ARN.

        moto lets anyone assume any ARN, which is how we first get credentials inside the
        other account to create the role there (IAM is per account too).
        """
        bootstrap = self.assume_role(
            f"arn:aws:iam::{account_id}:role/{_BOOTSTRAP_ROLE}", session_name="sandbox-bootstrap"
        )
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{self.account_id}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam = self.client("iam", credentials=bootstrap)
        answer = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        return str(answer["Role"]["Arn"])

    def secret_for(self, access_key_id: str) -> str | None:
        """The secret key behind `access_key_id` (ours, or one STS issued), for signature checks.

        moto never checks signatures; the EKS verifier does, with the keys moto keeps in
        this process. IAM users' long-term keys are not looked up (the sandbox uses roles).
        """
        if access_key_id == self.access_key_id:
            return self.secret_access_key
        from moto.sts.models import sts_backends

        for account_backends in list(sts_backends.values()):
            for backend in list(account_backends.values()):
                role = backend.get_assumed_role_from_access_key(access_key_id)
                if role is not None:
                    return str(role.secret_access_key)
        return None

    def account_of(self, credentials: dict[str, Any] | None) -> str:
        """The account the credentials act in, as STS GetCallerIdentity reports it."""
        return str(self.client("sts", credentials=credentials).get_caller_identity()["Account"])

    def create_eks_cluster(
        self,
        *,
        name: str,
        region: str,
        account_credentials: dict[str, Any] | None,
        endpoint: str,
        ca_data: str = "",
    ) -> dict[str, Any]:
        """Create an EKS cluster whose DescribeCluster answers the given endpoint and CA.

        `ca_data` is the base64 PEM bundle as EKS returns it (empty for an http endpoint).
        Returns the cluster as `describe_cluster` now reports it.
        """
        account = self.account_of(account_credentials)
        eks = self.client("eks", region=region, credentials=account_credentials)
        eks.create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::{account}:role/eks-cluster-{name}",
            resourcesVpcConfig={"subnetIds": ["subnet-sandbox"]},
        )
        from moto.eks.models import eks_backends  # same process: patch what moto invented

        cluster = eks_backends[account][region].clusters[name]
        cluster.endpoint = endpoint
        cluster.certificate_authority = {"data": ca_data}
        return dict(eks.describe_cluster(name=name)["cluster"])
