"""Convert Kubernetes client failures into the bot's `KubeError` tree.

This is the only module of the bot that catches `kubernetes.client.ApiException`: every
call into the `kubernetes` client from `bot.argo` runs inside `kube_errors(what)`, so no
library exception type leaves the adapter. The mapping follows the apiserver's status
codes (404 not found, 409 conflict, 401/403 refused, 410 gone) and keeps the `Status`
object's own `message`, which names the object and says what went wrong, truncated and
scrubbed of anything that looks like a credential.

Left out: retries (the caller decides: `workflows.set_shutdown` retries a 409, the watcher
re-lists on a 410) and user-facing wording (the handlers and `bot.render` own that).
Callers: `bot.argo.workflows`, `bot.argo.watching`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bot.errors import KubeConflict, KubeError, KubeForbidden, KubeGone, KubeNotFound

MAX_DETAIL = 300

# Bearer tokens, EKS tokens and Slack tokens: an upstream message should never carry one, but
# a proxy or a misconfigured webhook may echo a header back, and these messages reach logs.
_SECRETS = re.compile(
    r"(?i)bearer\s+[^\s\"',]+|k8s-aws-v1\.[A-Za-z0-9_\-]+|xox[a-z]-[A-Za-z0-9\-]+|xapp-[A-Za-z0-9\-]+"
)


def to_bot_error(exc: BaseException, *, what: str) -> KubeError:
    """The `KubeError` that describes `exc`, a failure while doing `what`.

    Args:
        exc: an `ApiException`, a urllib3 `HTTPError` or an `OSError` from the client.
        what: the operation, e.g. `get WorkflowTemplate argo/hello`; it starts the message.

    Returns:
        `KubeNotFound` (404), `KubeConflict` (409), `KubeForbidden` (401/403), `KubeGone`
        (410), else a plain `KubeError` whose `status` is the HTTP status (422 invalid,
        429 throttled, 5xx server trouble) or None when the server was never reached.
    """
    if isinstance(exc, ApiException):
        status = exc.status if isinstance(exc.status, int) and exc.status > 0 else None
        detail = _status_message(exc)
        message = f"{what}: {_clean(detail)}" if detail else f"{what}: HTTP {status}"
        if status == 404:
            return KubeNotFound(message, status=status)
        if status == 409:
            return KubeConflict(message, status=status)
        if status in (401, 403):
            return KubeForbidden(message, status=status)
        if status == 410:
            return KubeGone(message, status=status)
        return KubeError(message, status=status)
    # Connection refused, reset, TLS or read timeouts: the server was not (fully) reached.
    detail = _clean(str(exc)) or "no detail"
    return KubeError(f"{what}: cannot reach the Kubernetes API ({type(exc).__name__}: {detail})")


@contextmanager
def kube_errors(what: str) -> Iterator[None]:
    """Run a block of `kubernetes` client calls; re-raise their failures as `KubeError`.

    `with kube_errors("submit Workflow argo/hello-"): api.create_...(...)`. The original
    exception stays reachable as `__cause__` for the logs.
    """
    try:
        yield
    except (ApiException, HTTPError, OSError) as exc:
        raise to_bot_error(exc, what=what) from exc


def _status_message(exc: ApiException) -> str:
    """The `message` of the `Status` body when there is one, else the HTTP reason phrase.

    A watch's 410 arrives without a body: the client puts `Expired: too old resource
    version ...` into `reason`, which is then the useful part.
    """
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body.strip():
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str) and decoded["message"]:
            return str(decoded["message"])
    return str(exc.reason or "")


def _clean(text: str) -> str:
    """One line, no credentials, at most `MAX_DETAIL` characters."""
    flat = " ".join(_SECRETS.sub("[redacted]", text).split())
    if len(flat) > MAX_DETAIL:
        return flat[: MAX_DETAIL - 1] + "…"
    return flat
