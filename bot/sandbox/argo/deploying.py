"""Where the sandbox's Argo CD deploys: the destination clusters and a generic apply and delete.

Argo CD knows its destination clusters by name and by API server URL (its cluster secrets;
`in-cluster` / `https://kubernetes.default.svc` is its own). `Deployer` gets that map and
writes what a sync applies to the destination's Kubernetes stand-in, through the official
`kubernetes` client like any other client: discovery (`/api/v1`, `/apis/{group}/{version}`)
turns a kind into its plural and scope, then a create, or a JSON merge patch of the labels and
annotations when the object exists, and a delete for a pruned resource. It writes only the
metadata Argo CD adds or takes from the manifest (the sync-wave annotation, the
`app.kubernetes.io/instance` label): enough for a reader of the live objects, nothing more.

A destination missing from the map, or a kind its server does not serve, is skipped (logged
at DEBUG), so a sandbox without destinations behaves as before. Used by `applications`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.argo.watching import build_api_client

log = logging.getLogger(__name__)

INSTANCE_LABEL = "app.kubernetes.io/instance"
IN_CLUSTER_NAME = "in-cluster"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
#: connect and read seconds of each call: a stopped destination must not hold up a sync.
REQUEST_TIMEOUT = (2.0, 5.0)


@dataclass(frozen=True)
class Destination:
    """A cluster Argo CD deploys to: its API server and a token allowed to write there."""

    api_url: str
    token: str
    ca_file: str | None = None


@dataclass(frozen=True)
class _Kind:
    plural: str
    namespaced: bool


class Deployer:
    """Applies and deletes resources on the destination clusters of Applications.

    Args:
        destinations: Argo CD's names and server URLs of the clusters it can reach.
    """

    def __init__(self, destinations: Mapping[str, Destination] | None = None) -> None:
        self._destinations = {_normal(key): value for key, value in (destinations or {}).items()}
        self._lock = threading.Lock()
        self._clients: dict[Destination, client.ApiClient] = {}
        self._kinds: dict[tuple[Destination, str], dict[str, _Kind]] = {}

    def target(self, destination: Mapping[str, Any]) -> Destination | None:
        """The cluster an Application's `spec.destination` (name, else server) names, or None."""
        for key in (destination.get("name"), destination.get("server")):
            if key and (found := self._destinations.get(_normal(str(key)))) is not None:
                return found
        return None

    def apply(
        self,
        where: Destination,
        *,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
    ) -> None:
        """Create the object, or set these labels and annotations on the one already there."""
        found = self._kind(where, api_version, kind)
        if found is None:
            return
        metadata: dict[str, Any] = {"name": name, "labels": dict(labels), "annotations": dict(annotations)}
        if found.namespaced:
            metadata["namespace"] = namespace
        body = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
        collection = _path(api_version, found, namespace)
        try:
            self._call(where, "POST", collection, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            patch = {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}}
            self._call(where, "PATCH", f"{collection}/{name}", patch, merge=True)

    def delete(self, where: Destination, *, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete the object; one already gone is fine."""
        found = self._kind(where, api_version, kind)
        if found is None:
            return
        try:
            self._call(where, "DELETE", f"{_path(api_version, found, namespace)}/{name}")
        except ApiException as exc:
            if exc.status != 404:
                raise

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for api in clients:
            api.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated

    # -- helpers -------------------------------------------------------------------------
    def _client(self, where: Destination) -> client.ApiClient:
        with self._lock:
            api = self._clients.get(where)
            if api is None:
                api = build_api_client(url=where.api_url, token=where.token, ca_file=where.ca_file)
                self._clients[where] = api
            return api

    def _kind(self, where: Destination, api_version: str, kind: str) -> _Kind | None:
        """The plural and scope of `kind` from the destination's discovery, or None if not served."""
        with self._lock:
            kinds = self._kinds.get((where, api_version))
        if kinds is None:
            listing = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            try:
                answer = self._call(where, "GET", listing)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                answer = {}
            kinds = {
                str(entry.get("kind")): _Kind(str(entry["name"]), bool(entry.get("namespaced")))
                for entry in answer.get("resources") or []
                if "/" not in str(entry.get("name", "/"))
            }
            with self._lock:
                self._kinds[(where, api_version)] = kinds
        found = kinds.get(kind)
        if found is None:
            log.debug("destination %s does not serve %s %s: not deployed", where.api_url, api_version, kind)
        return found

    def _call(
        self, where: Destination, method: str, path: str, body: Any = None, *, merge: bool = False
    ) -> dict[str, Any]:
        api = self._client(where)
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/merge-patch+json" if merge else "application/json",
        }
        request = api.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
        data = response.response.data  # the urllib3 body (`read()` is unannotated)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        decoded = json.loads(text) if text else {}
        return decoded if isinstance(decoded, dict) else {}


def _path(api_version: str, kind: _Kind, namespace: str) -> str:
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{kind.plural}" if kind.namespaced else f"{base}/{kind.plural}"


def _normal(key: str) -> str:
    """Server URLs compare without a trailing slash, as Argo CD compares them."""
    return key.rstrip("/")
