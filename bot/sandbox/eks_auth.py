"""Verify EKS bearer tokens the way an EKS API server's authenticator does, against moto's STS.

`EksTokenVerifier` plugs into `KubeApiServer(authenticate=...)`. For a `k8s-aws-v1.` token it:
decodes the presigned URL; checks it is an STS GetCallerIdentity call to the expected STS
endpoint; checks `X-Amz-Date` + `X-Amz-Expires` against the clock (moto checks neither);
checks `x-k8s-aws-id` is a *signed* header naming this cluster; replays the call to moto
with an `Authorization` header rebuilt from the query (moto routes on that header and would
otherwise answer as S3); and maps the caller ARN to a Kubernetes username like the
`aws-auth` ConfigMap's `mapRoles`/`mapUsers`/`mapAccounts` do.

Signatures: moto checks none, yet the signature is what pins a token to its cluster (the
header's value is not in the URL). So, given a `secret_lookup` (the `AwsSandbox` provides
one that reads moto's in-process keys), the verifier recomputes the SigV4 signature over
`host` and `x-k8s-aws-id: <this cluster>` and refuses a mismatch, as real STS would.
Without a lookup the signature is taken on trust. Any failure answers None, so the API
server says 401. Used by `bot.sandbox.world` and tests.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.sandbox.aws import AwsSandbox

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
#: Real EKS accepts presigned URLs up to 15 minutes old whatever X-Amz-Expires says; the
#: sandbox honours the smaller of the two so short test expiries can be exercised.
MAX_TOKEN_AGE = dt.timedelta(minutes=15)
_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<part>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$"
)
_IAM_ARN = re.compile(
    r"^arn:(?P<part>[\w-]+):iam::(?P<account>\d{12}):(?P<kind>role|user)/(?:.*/)?(?P<name>[^/]+)$"
)
_REQUIRED_PARAMS = (
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)

log = logging.getLogger(__name__)


class EksTokenVerifier:
    """Callable `verify(token) -> username | None` for one cluster.

    Args:
        aws: the `AwsSandbox` (its endpoint and its key lookup are used) or the base URL of
            an STS stand-in; tokens presigned for any other host are refused, as EKS
            refuses non-STS hosts.
        cluster_name: the name that must be signed into the token.
        role_mappings: IAM role ARN (`arn:aws:iam::ACCOUNT:role/NAME`) -> username, like
            `mapRoles`; usernames may use `{{AccountID}}` and `{{SessionName}}`.
        user_mappings: IAM user ARN -> username, like `mapUsers`.
        accounts: accounts whose every identity is let in under its ARN, like `mapAccounts`.
        secret_lookup: access key id -> secret key, to check signatures (see module doc);
            defaults to the sandbox's lookup when `aws` is an `AwsSandbox`.
        clock: returns the current UTC time (injected so tests can age tokens).
    """

    def __init__(
        self,
        *,
        aws: AwsSandbox | str,
        cluster_name: str,
        role_mappings: Mapping[str, str] | None = None,
        user_mappings: Mapping[str, str] | None = None,
        accounts: tuple[str, ...] = (),
        secret_lookup: Callable[[str], str | None] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if isinstance(aws, str):
            self.sts_endpoint = aws.rstrip("/")
        else:
            self.sts_endpoint = aws.endpoint_url
            secret_lookup = secret_lookup or aws.secret_for
        self._secret_lookup = secret_lookup
        self.cluster_name = cluster_name
        self.role_mappings = dict(role_mappings or {})
        self.user_mappings = dict(user_mappings or {})
        self.accounts = accounts
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def __call__(self, token: str) -> str | None:
        return self.verify(token)

    def verify(self, token: str) -> str | None:
        """The Kubernetes username for `token`, or None when it must be refused."""
        query = self._checked_query(token)
        if query is None:
            return None
        arn = self._caller_arn(query)
        if arn is None:
            return None
        return self.username_for(arn)

    def username_for(self, arn: str) -> str | None:
        """Map a caller ARN to a username; assumed-role ARNs match their role's IAM ARN."""
        match = _ASSUMED_ROLE.match(arn)
        if match:
            role_arn = f"arn:{match['part']}:iam::{match['account']}:role/{match['role']}"
            template = self.role_mappings.get(role_arn)
            if template is not None:
                return template.replace("{{AccountID}}", match["account"]).replace(
                    "{{SessionName}}", match["session"]
                )
            return arn if match["account"] in self.accounts else None
        match = _IAM_ARN.match(arn)
        if match and match["kind"] == "user" and arn in self.user_mappings:
            return self.user_mappings[arn].replace("{{AccountID}}", match["account"])
        if match and match["account"] in self.accounts:
            return arn
        return None

    # -- checks ---------------------------------------------------------------------------
    def _checked_query(self, token: str) -> dict[str, str] | None:
        """Decode and validate the presigned URL; None (with a debug reason) when it is not acceptable."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        payload = token[len(TOKEN_PREFIX) :]
        try:
            url = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            _refuse("not base64url")
            return None
        parts = urllib.parse.urlsplit(url)
        expected = urllib.parse.urlsplit(self.sts_endpoint)
        if parts.scheme != expected.scheme or parts.netloc != expected.netloc or parts.path not in ("", "/"):
            _refuse("not the STS endpoint")
            return None
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        if query.get("Action") != "GetCallerIdentity" or query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            _refuse("not a presigned GetCallerIdentity")
            return None
        for key in _REQUIRED_PARAMS:
            if not query.get(key):
                _refuse(f"missing {key}")
                return None
        signed = query["X-Amz-SignedHeaders"].lower().split(";")
        if CLUSTER_ID_HEADER not in signed:
            _refuse("cluster header not signed")
            return None
        try:
            signed_at = dt.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
            lifetime = dt.timedelta(seconds=int(query["X-Amz-Expires"]))
        except ValueError:
            _refuse("bad date or expiry")
            return None
        now = self._clock()
        if now > signed_at + min(lifetime, MAX_TOKEN_AGE) or signed_at > now + dt.timedelta(minutes=5):
            _refuse("expired or from the future")
            return None
        if self._secret_lookup is not None and not self._signature_matches(parts, query):
            _refuse("signature does not match this cluster")
            return None
        return query

    def _signature_matches(self, parts: urllib.parse.SplitResult, query: dict[str, str]) -> bool:
        """Recompute SigV4 as STS would for a request carrying `x-k8s-aws-id: <this cluster>`.

        The header's value is not in the URL: the authenticator sends its own cluster name,
        so a token signed for another cluster fails here, exactly as it fails at real STS.
        """
        assert self._secret_lookup is not None
        key_id, _, scope = query["X-Amz-Credential"].partition("/")
        secret = self._secret_lookup(key_id)
        scope_parts = scope.split("/")
        if secret is None or len(scope_parts) != 4:
            return False
        date, region, service, terminator = scope_parts
        signed = query["X-Amz-SignedHeaders"].lower()
        values = {"host": parts.netloc, CLUSTER_ID_HEADER: self.cluster_name}
        if any(name not in values for name in signed.split(";")):
            return False
        pairs = sorted(
            pair.partition("=")[::2]
            for pair in parts.query.split("&")
            if not pair.startswith("X-Amz-Signature=")
        )
        canonical = "\n".join(
            [
                "GET",
                parts.path or "/",
                "&".join(f"{key}={value}" for key, value in pairs),
                "".join(f"{name}:{values[name]}\n" for name in signed.split(";")),
                signed,
                hashlib.sha256(b"").hexdigest(),
            ]
        )
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", query["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + secret).encode()
        for part in (date, region, service, terminator):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, query["X-Amz-Signature"])

    def _caller_arn(self, query: dict[str, str]) -> str | None:
        """Replay GetCallerIdentity to moto with the token's credentials; the caller ARN or None."""
        auth = (
            f"AWS4-HMAC-SHA256 Credential={query['X-Amz-Credential']}, "
            f"SignedHeaders={query['X-Amz-SignedHeaders']}, Signature={query['X-Amz-Signature']}"
        )
        headers = {
            "Authorization": auth,
            "X-Amz-Date": query["X-Amz-Date"],
            CLUSTER_ID_HEADER: self.cluster_name,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if query.get("X-Amz-Security-Token"):
            headers["X-Amz-Security-Token"] = query["X-Amz-Security-Token"]
        version = query.get("Version", "2011-06-15")
        body = urllib.parse.urlencode({"Action": "GetCallerIdentity", "Version": version}).encode()
        request = urllib.request.Request(self.sts_endpoint + "/", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                document = response.read()
        except urllib.error.HTTPError as exc:
            _refuse(f"STS answered {exc.code}")
            return None
        try:
            root = ET.fromstring(document)
        except ET.ParseError:
            _refuse("STS answer is not XML")
            return None
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1] == "Arn" and element.text:
                return element.text
        _refuse("STS answer has no Arn")
        return None


def _refuse(reason: str) -> None:
    """Log why a token was refused (never the token); the caller then answers None."""
    log.debug("EKS token refused: %s", reason)
