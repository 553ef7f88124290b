"""Is a cluster reachable, and may the bot read what it needs there? Answers in plain words.

`ping` asks `/version`; `check_cluster` adds listing Workflows in the workflows namespace
and, when Argo CD runs there, Applications in its namespace. Failures (connection refused,
TLS, 401, 403, a bad configuration) become one short sentence naming the cluster and what to
check, never a token and never a traceback. Left out: writes (a check must change nothing)
and Argo semantics (`bot.argo`). Callers: `ClusterRegistry.ping`, `chatops check --connect`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError, SSLError, TimeoutError

from bot import redaction
from bot.errors import BotError, ConfigError

if TYPE_CHECKING:
    from bot.clusters.clients import ClusterClient
    from bot.clusters.registry import ClusterRegistry

ARGO_GROUP = "argoproj.io"
ARGO_VERSION = "v1alpha1"
_MAX_DETAIL = 200


@dataclass(frozen=True)
class ClusterHealth:
    """The answer of `/version`: the server's version, or why it could not be had."""

    name: str
    ok: bool
    version: str | None = None
    server: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Probe:
    """One line of `chatops check --connect`: what was checked, whether it worked, and a detail."""

    label: str
    ok: bool
    detail: str


def ping(name: str, *, build: Callable[[], ClusterClient], timeout: float) -> ClusterHealth:
    """GET /version through the cluster's client (built by `build` if needed)."""
    try:
        built = build()
    except ConfigError as exc:
        return ClusterHealth(name=name, ok=False, error="; ".join(exc.problems))
    except BotError as exc:
        return ClusterHealth(name=name, ok=False, error=str(exc))
    try:
        info = client.VersionApi(built.api_client).get_code(_request_timeout=timeout)
    except (ApiException, HTTPError, BotError) as exc:
        return ClusterHealth(
            name=name, ok=False, server=built.server, error=explain(name, exc, server=built.server)
        )
    return ClusterHealth(name=name, ok=True, version=str(info.git_version), server=built.server)


def check_cluster(registry: ClusterRegistry, name: str, *, timeout: float = 5.0) -> list[Probe]:
    """Ping the cluster, then check the bot may list what it works with there."""
    spec = registry.spec(name)
    health = registry.ping(name, timeout=timeout)
    label = f"cluster {name}"
    if not health.ok:
        return [Probe(label=label, ok=False, detail=health.error or "unreachable")]
    probes = [Probe(label=label, ok=True, detail=f"Kubernetes {health.version} at {health.server}")]
    api = client.CustomObjectsApi(registry.api_client(name))
    targets = [("workflows", spec.workflows_namespace)]
    if spec.argocd_namespace is not None:
        targets.append(("applications", spec.argocd_namespace))
    for plural, namespace in targets:
        what = f"{plural} in {namespace}"
        try:
            api.list_namespaced_custom_object(
                ARGO_GROUP, ARGO_VERSION, namespace, plural, limit=1, _request_timeout=timeout
            )
        except (ApiException, HTTPError, BotError) as exc:
            detail = explain(name, exc, server=health.server, doing=f"list {what}")
            probes.append(Probe(label=f"{label} {plural}", ok=False, detail=detail))
        else:
            probes.append(Probe(label=f"{label} {plural}", ok=True, detail=f"can list {what}"))
    return probes


def explain(name: str, exc: Exception, *, server: str | None = None, doing: str = "reach it") -> str:
    """One sentence for a failed request: what went wrong and what to check."""
    where = f" at {server}" if server else ""
    if isinstance(exc, ApiException):
        status = exc.status
        if status == 401:
            return (
                f"cluster {name!r}{where} refused the bot's credentials (401 Unauthorized); check the "
                "token (token_env), the kubeconfig user, or that the IAM role is mapped in aws-auth "
                "or an EKS access entry"
            )
        if status == 403:
            return (
                f"cluster {name!r}{where}: the bot may not {doing} (403 Forbidden); check its "
                "Kubernetes RBAC (Role/ClusterRole bindings)"
            )
        if status == 404:
            return (
                f"cluster {name!r}{where}: cannot {doing} (404 Not Found); check the namespace "
                "exists and the Argo CRDs are installed"
            )
        return f"cluster {name!r}{where}: cannot {doing} ({status} {_short(exc.reason)})"
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, SSLError):
        return (
            f"cluster {name!r}{where}: TLS verification failed ({_short(exc)}); check the CA "
            "(ca_file, the kubeconfig's certificate-authority, or EKS's CA)"
        )
    # NewConnectionError (refused, no route) is a subclass of TimeoutError in urllib3 2.
    if isinstance(exc, TimeoutError) and not isinstance(exc, NewConnectionError):
        return f"cluster {name!r}{where} did not answer in time; check the network path to the API server"
    if isinstance(exc, HTTPError):
        return (
            f"cluster {name!r}{where} is unreachable ({_reason(exc)}); check the server URL "
            "and that the API server is reachable from the bot"
        )
    return f"cluster {name!r}{where}: {_short(exc)}"


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if marker in text:
            return marker.lower()
    return _short(text)


def _short(value: object) -> str:
    text = redaction.redact(" ".join(str(value).split()))
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
