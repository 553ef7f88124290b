"""An Argo CD API server stand-in: the one REST call the bot makes, the app's managed resources.

The bot asks Argo CD's API server for the manifest diff of an app
(`GET /api/v1/applications/{name}/managed-resources?appNamespace=...`, bearer token), because
the rendered target manifests exist only inside Argo CD. This stand-in answers that call for
the Applications in its Argo CD namespace, over plain HTTP on 127.0.0.1 (a free port), so the
bot's real client can be tested over a socket and `chatops demo` can show diffs.

For each resource of the app's script (`ApplicationController.script_for`, the same script
the sandbox's syncs apply), an item with `group`, `kind`, `namespace`, `name`, `hook`, and
`liveState`/`normalizedLiveState` and `targetState`/`predictedLiveState` as JSON strings
(`"null"` when absent), as Argo CD gives them:

- live: the object as it is on the destination cluster now, read through that cluster's
  Kubernetes stand-in, or null when absent. The sandbox deploys metadata only (see
  `deploying`), so a workload's pod template is filled in as the revision the app last
  deployed (`status.sync.revision`, by the tag or branch that resolves to it) would have left it;
- predicted: the live object with the manifest the script renders for the app's
  `spec.source.targetRevision` applied: the instance label, the sync-wave annotation and, for
  workloads, one container whose image tag is the revision (`shop:v1.5.0`). So a Synced app
  shows no change, and an OutOfSync one shows the image line changing, as the sandbox's
  controller marks only workloads OutOfSync when the target moves.

Errors have Argo CD's JSON shape (`{"error", "code", "message"}`, gRPC codes): 401 (code 16)
without the right `Authorization: Bearer <token>`, 404 (code 5) for an unknown app or path.
The token is sandbox-only and never logged. Left out: every other endpoint, resources to be
pruned (live but no longer in the script), `diff`/`modified`, multi-source apps, RBAC.
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bot.sandbox.argo.applications import GROUP, VERSION, ApplicationController
from bot.sandbox.argo.applications import _commit_sha as commit_sha  # the controller's fake SHAs
from bot.sandbox.argo.appscript import WAVE_ANNOTATION, AppResource
from bot.sandbox.argo.deploying import INSTANCE_LABEL, Destination
from bot.sandbox.argo.watching import build_api_client

log = logging.getLogger(__name__)

#: connect and read seconds of each call to a cluster: a stopped one must not hold up an answer.
REQUEST_TIMEOUT = (2.0, 5.0)
#: kinds with a pod template: what a new revision changes (the image), as in the controller.
_POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Rollout"})
_SHA = re.compile(r"^[0-9a-f]{40}$")
_PATH = re.compile(r"^/api/v1/applications/([^/]+)/managed-resources/?$")
# gRPC status codes, as Argo CD's grpc-gateway puts them in `code`
_UNAUTHENTICATED = 16
_NOT_FOUND = 5


@dataclass(frozen=True)
class _Kind:
    plural: str
    namespaced: bool


class _NotFound(Exception):
    """An unknown app: 404."""


class ArgoCdApiServer:
    """Answers `managed-resources` for the Applications `controller` runs in `namespace`.

    Args:
        controller: the sandbox's application controller (its scripts, its Kubernetes client
            for the Applications, and its destinations).
        namespace: Argo CD's own namespace, where its Applications live.
        token: the bearer token it accepts; a fresh random one when None.
    """

    def __init__(
        self, *, controller: ApplicationController, namespace: str = "argocd", token: str | None = None
    ) -> None:
        self.controller = controller
        self.namespace = namespace
        self.token = token or f"sandbox-argocd-{secrets.token_hex(16)}"
        self._lock = threading.Lock()
        self._clients: dict[Destination, client.ApiClient] = {}
        self._kinds: dict[tuple[Destination, str], dict[str, _Kind]] = {}
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never the token
        return f"ArgoCdApiServer({self.url if self._httpd else 'stopped'!r})"

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("start() the Argo CD API stand-in first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ArgoCdApiServer:
        self._httpd = _HttpServer(("127.0.0.1", 0), _Handler)
        self._httpd.stand_in = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="sandbox-argocd-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wait for requests in flight and join the server's thread; safe twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for api in clients:
            api.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated

    def __enter__(self) -> ArgoCdApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def authorized(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())

    # -- the answer ----------------------------------------------------------------------
    def managed_resources(self, name: str, app_namespace: str) -> dict[str, Any]:
        """Argo CD's `ManagedResourcesResponse` (`{"items": [...]}`) for app `name`.

        Raises:
            _NotFound: no such Application in this Argo CD's namespace.
        """
        if app_namespace not in ("", self.namespace):
            raise _NotFound
        try:
            # The generated client types a custom object as `object`; it is the decoded JSON body.
            app = cast(
                dict[str, Any],
                self.controller.api.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, "applications", name
                ),
            )
        except ApiException as exc:
            if exc.status == 404:
                raise _NotFound from None
            raise
        spec = app.get("spec") or {}
        destination = spec.get("destination") or {}
        where = self.controller.deployer.target(destination)
        source = _source(spec)
        target = str(source.get("targetRevision") or "HEAD")
        deployed = _deployed_revision(app.get("status") or {}, source, target)
        items = []
        for resource in self.controller.script_for(app).resources:
            namespace = resource.namespace or str(destination.get("namespace") or "")
            kind = self._kind(where, resource) if where is not None else None
            if kind is not None and not kind.namespaced:
                namespace = ""
            live = self._live(where, kind, resource, namespace) if where and kind else None
            if live is not None and deployed is not None and resource.kind in _POD_TEMPLATE_KINDS:
                live = _merged(live, {"spec": _pod_spec(resource, deployed)})
            predicted = _merged(
                live or {},
                _manifest(resource, app=app["metadata"]["name"], namespace=namespace, revision=target),
            )
            items.append(
                {
                    "group": resource.group,
                    "kind": resource.kind,
                    "namespace": namespace,
                    "name": resource.name,
                    "hook": resource.hook is not None,
                    "liveState": json.dumps(live),
                    "normalizedLiveState": json.dumps(live),
                    "targetState": json.dumps(predicted),
                    "predictedLiveState": json.dumps(predicted),
                }
            )
        return {"items": items}

    # -- the destination cluster ---------------------------------------------------------
    def _client(self, where: Destination) -> client.ApiClient:
        with self._lock:
            api = self._clients.get(where)
            if api is None:
                api = build_api_client(url=where.api_url, token=where.token, ca_file=where.ca_file)
                self._clients[where] = api
            return api

    def _kind(self, where: Destination, resource: AppResource) -> _Kind | None:
        """The plural and scope of the resource's kind from the cluster's discovery; None if not served."""
        with self._lock:
            kinds = self._kinds.get((where, resource.api_version))
        if kinds is None:
            listing = "/api/v1" if resource.api_version == "v1" else f"/apis/{resource.api_version}"
            answer = self._get(where, listing) or {}
            kinds = {
                str(entry.get("kind")): _Kind(str(entry["name"]), bool(entry.get("namespaced")))
                for entry in answer.get("resources") or []
                if "/" not in str(entry.get("name", "/"))
            }
            with self._lock:
                self._kinds[(where, resource.api_version)] = kinds
        return kinds.get(resource.kind)

    def _live(
        self, where: Destination, kind: _Kind, resource: AppResource, namespace: str
    ) -> dict[str, Any] | None:
        base = "/api/v1" if resource.api_version == "v1" else f"/apis/{resource.api_version}"
        collection = (
            f"{base}/namespaces/{namespace}/{kind.plural}" if kind.namespaced else f"{base}/{kind.plural}"
        )
        return self._get(where, f"{collection}/{resource.name}")

    def _get(self, where: Destination, path: str) -> dict[str, Any] | None:
        """GET `path` on the cluster: the decoded object, or None when it is not there (404)."""
        api = self._client(where)
        request = api.param_serialize(
            "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        response = api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
        data = response.response.data  # the urllib3 body (`read()` is unannotated)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
        if response.status == 404:
            return None
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        decoded = json.loads(text) if text else {}
        return decoded if isinstance(decoded, dict) else None


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the request threads
    stand_in: ArgoCdApiServer


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_GET(self) -> None:  # http.server names it so
        stand_in = self.server.stand_in
        if not stand_in.authorized(self.headers.get("Authorization")):
            self._error(401, _UNAUTHENTICATED, "no session information")
            return
        parts = urlsplit(self.path)
        matched = _PATH.match(parts.path)
        if matched is None:
            self._error(404, _NOT_FOUND, "Not Found")
            return
        name = unquote(matched.group(1))
        app_namespace = (parse_qs(parts.query).get("appNamespace") or [""])[0]
        try:
            answer = stand_in.managed_resources(name, app_namespace)
        except _NotFound:
            self._error(404, _NOT_FOUND, f'applications.argoproj.io "{name}" not found')
            return
        except (ApiException, HTTPError, OSError) as exc:
            log.warning("Argo CD API stand-in: managed resources of %s: %s", name, exc)
            self._error(500, 13, "internal error reading the app's resources")
            return
        self._send(200, answer)

    def _error(self, status: int, code: int, message: str) -> None:
        self._send(status, {"error": message, "code": code, "message": message})

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines at DEBUG (path and status only: headers, and so the token, never)."""
        log.debug("Argo CD API stand-in: " + format, *args)


# -- rendering -------------------------------------------------------------------------------
def _source(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    if spec.get("source"):
        return cast(Mapping[str, Any], spec["source"])
    sources = spec.get("sources") or [{}]
    return cast(Mapping[str, Any], sources[0])


def _deployed_revision(status: Mapping[str, Any], source: Mapping[str, Any], target: str) -> str | None:
    """The revision the app last deployed, by the name it was asked by (a tag rather than its SHA).

    `status.sync.revision` is the commit the controller resolved; a name resolving to it (the
    target, a history entry's source, the last operation's revision) is preferred, else the SHA.
    """
    sha = (status.get("sync") or {}).get("revision")
    if not sha:
        return None
    operation = status.get("operationState") or {}
    names = [
        target,
        *(
            (entry.get("source") or {}).get("targetRevision")
            for entry in reversed(status.get("history") or [])
        ),
        ((operation.get("operation") or {}).get("sync") or {}).get("revision"),
        ((operation.get("syncResult") or {}).get("source") or {}).get("targetRevision"),
    ]
    for name in names:
        if name and commit_sha(str(name), dict(source)) == sha:
            return str(name)
    return str(sha)


def _image_tag(revision: str) -> str:
    return revision[:7] if _SHA.match(revision) else revision


def _pod_spec(resource: AppResource, revision: str) -> dict[str, Any]:
    """A workload's spec at `revision`: one container whose image tag is the revision."""
    container = {"name": resource.name, "image": f"{resource.name}:{_image_tag(revision)}"}
    return {"template": {"spec": {"containers": [container]}}}


def _manifest(resource: AppResource, *, app: str, namespace: str, revision: str) -> dict[str, Any]:
    """What a sync to `revision` applies: the deployer's metadata, and a workload's pod spec."""
    metadata: dict[str, Any] = {
        "name": resource.name,
        "labels": {INSTANCE_LABEL: app},
        "annotations": {WAVE_ANNOTATION: str(resource.wave)},
    }
    if namespace:
        metadata["namespace"] = namespace
    manifest: dict[str, Any] = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
    }
    if resource.kind in _POD_TEMPLATE_KINDS:
        manifest["spec"] = _pod_spec(resource, revision)
    return manifest


def _merged(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `patch` laid over it: objects merge, everything else (lists too) replaces."""
    result = copy.deepcopy(dict(base))
    for key, value in patch.items():
        before = result.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            result[key] = _merged(before, value)
        else:
            result[key] = copy.deepcopy(value)
    return result
