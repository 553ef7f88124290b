"""The clusters the bot may act on: name -> `ClusterSpec`, and one cached API client each.

`ClusterRegistry(settings.clusters, aws_session_factory=..., clock=...)` knows every
configured cluster. `api_client(name)` builds the cluster's `kubernetes.client.ApiClient`
on first use (see `bot.clusters.clients` for each auth kind) and hands the same one out
afterwards; the kubernetes client is thread-safe per request, and EKS tokens renew
themselves inside it. `ping(name)` asks `/version`, for `chatops check --connect` and
readiness. `api_url(name)` is the API server URL Argo CD may name the cluster by (from the
settings, the kubeconfig context or EKS's DescribeCluster, then kept). `close()` closes
every client and deletes the temp files (EKS CAs).

Left out: Argo operations (`bot.argo` takes an ApiClient from here), channel and RBAC
checks (the handlers'), and reloading settings (a new registry is built instead).
Callers: the composition root (`bot.app`), `chatops check --connect`, tests.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3
from kubernetes import client

from bot.clusters import clients, probes
from bot.clusters.clients import Clock, SessionFactory
from bot.config import ClusterSettings, InClusterAuth, TokenAuth
from bot.errors import ConfigError, UpstreamError

log = logging.getLogger(__name__)

#: The API server of the cluster a pod runs in, as pods (and Argo CD) name it.
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"


@dataclass(frozen=True)
class ClusterSpec:
    """What the rest of the bot needs to know about a cluster (never its credentials)."""

    name: str
    auth_kind: str
    workflows_namespace: str
    argocd_namespace: str | None
    channels: tuple[str, ...]
    argo_ui_url: str | None
    argocd_ui_url: str | None
    server_urls: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, cluster: ClusterSettings) -> ClusterSpec:
        return cls(
            name=cluster.name,
            auth_kind=cluster.auth.kind,
            workflows_namespace=cluster.workflows_namespace,
            argocd_namespace=cluster.argocd_namespace,
            channels=cluster.channels,
            argo_ui_url=cluster.argo_ui_url,
            argocd_ui_url=cluster.argocd_ui_url,
            server_urls=cluster.server_urls,
            aliases=cluster.aliases,
        )

    @property
    def has_argocd(self) -> bool:
        return self.argocd_namespace is not None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClusterRegistry:
    """Configured clusters and their lazily built, cached API clients.

    Args:
        clusters: `settings.clusters`.
        aws_session_factory: returns the base boto3 session for EKS clusters (default: the
            standard credential chain, i.e. IRSA in a pod).
        clock: current UTC time, used to renew EKS tokens (injected by tests).
        environ: where `token_env` variables and in-cluster settings are read (default: os.environ).
        service_account_dir: the service account mount, for `in-cluster`.
        base_dir: relative kubeconfig and CA paths are resolved against it (the config file's folder).
    """

    def __init__(
        self,
        clusters: Sequence[ClusterSettings],
        *,
        aws_session_factory: SessionFactory = boto3.Session,
        clock: Clock = _utc_now,
        environ: Mapping[str, str] | None = None,
        service_account_dir: Path = clients.SERVICE_ACCOUNT_DIR,
        base_dir: Path | None = None,
    ) -> None:
        self._settings = {cluster.name: cluster for cluster in clusters}
        self._specs = {name: ClusterSpec.from_settings(cluster) for name, cluster in self._settings.items()}
        self._aws_session_factory = aws_session_factory
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._service_account_dir = service_account_dir
        self._base_dir = base_dir
        self._clients: dict[str, clients.ClusterClient] = {}
        self._api_urls: dict[str, str] = {}
        self._locks = {name: threading.Lock() for name in self._settings}
        self._closed = False

    # -- what is configured --------------------------------------------------------------
    def names(self) -> tuple[str, ...]:
        """Cluster names in configuration order."""
        return tuple(self._specs)

    def default_name(self) -> str | None:
        """The cluster a command means when it names none: the first configured one."""
        return next(iter(self._specs), None)

    def get(self, name: str) -> ClusterSpec | None:
        return self._specs.get(name)

    def spec(self, name: str) -> ClusterSpec:
        """The spec of `name`; raises KeyError naming the known clusters."""
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs) or "none configured"
            raise KeyError(f"no cluster named {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ClusterSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    # -- clients -------------------------------------------------------------------------
    def api_client(self, name: str) -> client.ApiClient:
        """The cluster's ApiClient, built on first call and cached.

        Raises:
            KeyError: no such cluster.
            ConfigError: the cluster's auth settings, environment or IAM setup are wrong.
            UpstreamError: AWS could not be reached while building an EKS client.
        """
        return self._client(name).api_client

    def server(self, name: str) -> str:
        """The API server URL the client talks to (builds the client if needed)."""
        return self._client(name).server

    def api_url(self, name: str) -> str | None:
        """The cluster's API server URL, as Argo CD may name it in a `destination.server`.

        A `token` cluster's `server`; a `kubeconfig` cluster's context's server; an `eks`
        cluster's endpoint from `eks:DescribeCluster` (asked when its client is built, then
        kept: asking again needs no AWS call); `in-cluster`: `https://kubernetes.default.svc`.
        None when it cannot be learned now (the client cannot be built: AWS down, a missing
        kubeconfig), so that a destination with this URL stays unmapped, never guessed.

        Raises:
            KeyError: no such cluster.
        """
        self.spec(name)
        cluster = self._settings[name]
        auth = cluster.auth
        if isinstance(auth, TokenAuth):
            return auth.server
        if isinstance(auth, InClusterAuth):
            return IN_CLUSTER_SERVER
        known = self._api_urls.get(name)
        if known is not None:
            return known
        try:
            return self._client(name).server
        except (ConfigError, UpstreamError, RuntimeError) as exc:
            log.warning("cluster %s: its API URL is not known (%s)", name, exc)
            return None

    def ping(self, name: str, *, timeout: float = 5.0) -> probes.ClusterHealth:
        """GET /version on the cluster; never raises for a cluster that is down or misconfigured."""
        self.spec(name)
        return probes.ping(name, build=lambda: self._client(name), timeout=timeout)

    def close(self) -> None:
        """Close every client and delete the temp files; the registry is unusable afterwards."""
        self._closed = True
        for name in list(self._clients):
            with self._locks[name]:
                built = self._clients.pop(name, None)
            if built is not None:
                built.close()

    def __enter__(self) -> ClusterRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ClusterRegistry({', '.join(f'{s.name}:{s.auth_kind}' for s in self._specs.values())})"

    def _client(self, name: str) -> clients.ClusterClient:
        cluster = self._settings.get(name)
        if cluster is None:
            self.spec(name)  # raises the KeyError with the known names
            raise AssertionError("unreachable")
        # One lock per cluster: building an EKS client talks to AWS, and a slow or failing
        # cluster must not hold up requests to the others.
        with self._locks[name]:
            if self._closed:
                raise RuntimeError("the cluster registry is closed")
            built = self._clients.get(name)
            if built is None:
                built = clients.build_client(
                    cluster,
                    environ=self._environ,
                    aws_session_factory=self._aws_session_factory,
                    clock=self._clock,
                    service_account_dir=self._service_account_dir,
                    base_dir=self._base_dir,
                )
                self._clients[name] = built
                self._api_urls[name] = built.server
            return built
