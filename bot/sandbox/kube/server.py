"""The Kubernetes API server stand-in: REST paths, auth, watches, discovery and a control API.

Speaks the apiserver's HTTP protocol closely enough for the official `kubernetes` Python
client and a stock `kubectl` to work unchanged: JSON bodies, `Status` errors, chunked
newline-delimited watch streams, Tables for `kubectl get`. Each connection runs on its own
thread (watches are long-lived); `stop()` ends every watch, closes idle keep-alive connections
and joins all threads. The `/_sandbox/...` control paths (no auth) switch faults and add tokens.

Not served: protobuf, server-side apply, OpenAPI, aggregated discovery, `/log`, `/exec`, proxies.
Callers: tests, `chatops demo` and the sandbox world, through `KubeApiServer`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.kube import discovery, tables
from bot.sandbox.kube.faults import Faults
from bot.sandbox.kube.resources import Registry, ResourceType
from bot.sandbox.kube.status import ApiError, forbidden, success
from bot.sandbox.kube.store import DEFAULT_NAMESPACES, Store, WatchClosed
from bot.sandbox.kube.tls import ServerCertificate, make_certificate

log = logging.getLogger(__name__)

Authenticate = Callable[[str], "str | None"]
Authorize = Callable[[str, str, str, str, "str | None"], bool]

_DEFAULT_WATCH_TIMEOUT = 1800.0  # the apiserver picks 30-60 min; clients re-watch anyway
_UNAUTHORIZED = ApiError(401, "Unauthorized")


class _Route:
    """A parsed resource path."""

    def __init__(
        self, *, rtype: ResourceType, namespace: str | None, name: str | None, subresource: str | None
    ) -> None:
        self.rtype = rtype
        self.namespace = namespace
        self.name = name
        self.subresource = subresource


class _HttpServer(ThreadingHTTPServer):
    """Threaded server that remembers open connections so `stop()` can close idle keep-alives."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: KubeApiServer) -> None:
        self.api = api
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Serve one connection, TLS or plain: the first byte of a TLS ClientHello is 0x16."""
        conn: socket.socket = request
        self._track(conn, add=True)
        try:
            # Headers and body go out in separate writes; without this, Nagle + delayed ACK
            # add ~40 ms to every response.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            first = conn.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if first == b"\x16":
                self._track(conn, add=False)
                conn = self.api.tls_context().wrap_socket(conn, server_side=True)
                self._track(conn, add=True)
            super().finish_request(conn, client_address)
        except (OSError, ValueError) as exc:  # handshake failures, resets and sockets cut by stop()
            log.debug("connection from %s ended: %s", client_address, exc)
        finally:
            self._track(conn, add=False)
            if conn is not request:
                with contextlib.suppress(OSError):
                    conn.close()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self.connections_lock:
            if add:
                self.connections.add(conn)
            else:
                self.connections.discard(conn)

    def close_connections(self, only: Iterable[socket.socket] | None = None) -> int:
        with self.connections_lock:
            targets = list(self.connections if only is None else set(only) & self.connections)
        for sock in targets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return len(targets)


class KubeApiServer:
    """A Kubernetes API server on 127.0.0.1 for tests and demos.

    Args:
        name: a label for logs and the control API (e.g. the cluster name).
        tokens: static bearer tokens mapped to usernames.
        authenticate: hook for other tokens (e.g. EKS `k8s-aws-v1.`): returns a username or None
            (401); raising means the authenticator is unavailable (500).
        authorize: hook `(user, verb, group, plural, namespace) -> bool`; False answers 403.
            For subresources `plural` is e.g. `workflows/status`; namespace is None at cluster scope.
        forbidden_users: users refused everything (403), a shortcut for simple tests.
        history_limit: events kept for watches to resume from (older versions get 410).
        bookmark_interval: seconds between BOOKMARK events on watches that allow them.
        namespaces: namespaces that exist at start (objects may be created in others too).
        registry: served kinds (defaults: core, apps, coordination and the Argo CRDs).
        host / port: where to listen; port 0 picks a free one.
    """

    def __init__(
        self,
        *,
        name: str = "sandbox",
        tokens: dict[str, str] | None = None,
        authenticate: Authenticate | None = None,
        authorize: Authorize | None = None,
        forbidden_users: Iterable[str] = (),
        history_limit: int = 1000,
        bookmark_interval: float = 5.0,
        namespaces: tuple[str, ...] = DEFAULT_NAMESPACES,
        registry: Registry | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self._tokens = dict(tokens or {})
        self._tokens_lock = threading.Lock()
        self._authenticate = authenticate
        self._authorize = authorize
        self.forbidden_users: set[str] = set(forbidden_users)
        self.bookmark_interval = bookmark_interval
        self._now = now or (lambda: datetime.now(UTC))
        self.registry = registry or Registry()
        self.store = Store(self.registry, history_limit=history_limit, now=self._now, namespaces=namespaces)
        self._host, self._port = host, port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._watch_sockets: set[socket.socket] = set()
        self._watch_lock = threading.Condition()
        self.faults = Faults(self.store, close_watch_sockets=self._close_watch_sockets)
        self._certificate: ServerCertificate | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> KubeApiServer:
        """Listen and serve in a background thread; returns self."""
        if self._httpd is not None:
            return self
        self._httpd = _HttpServer((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kube-api-{self.name}",
            daemon=True,
        )
        self._thread.start()
        log.info("kubernetes stand-in %s listening on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        """End all watches, close all connections and join every thread this server started."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        self.store.close()
        with self._watch_lock:  # let watches write their final chunk before connections are cut
            self._watch_lock.wait_for(lambda: not self._watch_sockets, timeout=2.0)
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for clients, e.g. `http://127.0.0.1:41234`."""
        return f"http://{self._host}:{self.port}"

    @property
    def host(self) -> str:
        return self._host

    @property
    def https_url(self) -> str:
        """The same server over TLS (`https://127.0.0.1:PORT`): what kubectl needs to send a token."""
        return f"https://{self._host}:{self.port}"

    @property
    def ca_pem(self) -> str:
        """PEM of the CA that signed the server certificate (for `certificate-authority-data`)."""
        return self.certificate.ca_pem

    @property
    def certificate(self) -> ServerCertificate:
        with self._tls_lock:
            if self._certificate is None:
                self._certificate = make_certificate(common_name=f"kube-apiserver-{self.name}")
            return self._certificate

    def tls_context(self) -> ssl.SSLContext:
        """Server-side TLS context, made on first use (plain-http users never pay for it)."""
        certificate = self.certificate
        with self._tls_lock:
            if self._tls_context is None:
                self._tls_context = certificate.server_context()
            return self._tls_context

    def kubeconfig_entry(self, token: str) -> tuple[str, str, str]:
        """`(https_url, token, ca_pem)` for `write_kubeconfig`, so kubectl verifies the server."""
        return (self.https_url, token, self.ca_pem)

    @property
    def open_watches(self) -> int:
        """How many watch streams are open right now."""
        with self._watch_lock:
            return len(self._watch_sockets)

    def add_token(self, token: str, username: str) -> None:
        """Accept one more static bearer token."""
        with self._tokens_lock:
            self._tokens[token] = username

    # ----------------------------------------------------------------- used by the handler

    def authenticate(self, header: str | None) -> str:
        """The username for an `Authorization` header.

        Raises:
            ApiError: 401 for a missing or unknown token, 500 when the hook fails.
        """
        if not header or not header.lower().startswith("bearer "):
            raise _UNAUTHORIZED
        token = header[7:].strip()
        with self._tokens_lock:
            user = self._tokens.get(token)
        if user is not None:
            return user
        if self._authenticate is None:
            raise _UNAUTHORIZED
        try:
            user = self._authenticate(token)
        except Exception as exc:  # the hook failing means "cannot authenticate now", never "allowed"
            log.warning("authenticator of %s failed: %s", self.name, type(exc).__name__)
            raise ApiError(500, "Internal error occurred: authentication service unavailable") from exc
        if not user:
            raise _UNAUTHORIZED
        return user

    def check_access(self, *, user: str, verb: str, route: _Route) -> None:
        """Raise the RBAC-shaped 403 when `user` may not do `verb` on `route`."""
        plural = route.rtype.plural + (f"/{route.subresource}" if route.subresource else "")
        allowed = user not in self.forbidden_users
        if allowed and self._authorize is not None:
            allowed = bool(self._authorize(user, verb, route.rtype.group, plural, route.namespace))
        if not allowed:
            raise forbidden(
                rtype=route.rtype,
                user=user,
                verb=verb,
                namespace=route.namespace,
                name=route.name,
                subresource=route.subresource,
            )

    def now(self) -> datetime:
        return self._now()

    def pause(self, seconds: float) -> None:
        """Injected latency; cut short when the server stops."""
        self._stopping.wait(seconds)

    def watch_started(self, sock: socket.socket) -> None:
        with self._watch_lock:
            self._watch_sockets.add(sock)

    def watch_ended(self, sock: socket.socket) -> None:
        with self._watch_lock:
            self._watch_sockets.discard(sock)
            self._watch_lock.notify_all()

    def _close_watch_sockets(self) -> int:
        with self._watch_lock:
            targets = list(self._watch_sockets)
        if self._httpd is None:
            return 0
        return self._httpd.close_connections(targets)

    def control_state(self) -> dict[str, Any]:
        """What `GET /_sandbox/` reports."""
        return {
            "name": self.name,
            "resourceVersion": self.store.resource_version,
            "oldestResourceVersion": str(self.store.oldest_resource_version),
            "openWatches": self.open_watches,
            "pendingFailures": self.faults.pending_failures(),
            "latencySeconds": self.faults.latency,
        }


class _Handler(BaseHTTPRequestHandler):
    """One connection; handles requests until the client closes or the server stops."""

    protocol_version = "HTTP/1.1"
    server: _HttpServer
    server_version = "kube-apiserver-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ----------------------------------------------------------------- plumbing

    @property
    def api(self) -> KubeApiServer:
        return self.server.api

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        try:
            body = self._read_body()
            if path == "/_sandbox" or path.startswith("/_sandbox/"):
                self._control(method, path, body)
                return
            if path in ("/healthz", "/livez", "/readyz"):
                self._send_text(200, "ok")
                return
            user = self.api.authenticate(self.headers.get("Authorization"))
            route = self._route(path) if path.startswith(("/api/", "/apis/")) else None
            verb = self._verb(method, route, query)
            failure = self.api.faults.take_failure(method=method, verb=verb, path=path)
            if failure is not None:
                raise failure
            latency = self.api.faults.latency
            if latency:
                self.api.pause(latency)
            if route is None:
                self._discovery(method, path)
                return
            self.api.check_access(user=user, verb=verb, route=route)
            self._resource(method, verb, route, query, body)
        except ApiError as exc:
            self._send_status(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            log.exception("kubernetes stand-in failed on %s %s", method, path)
            self._send_status(ApiError(500, f"Internal error occurred: {type(exc).__name__}"))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_status(self, error: ApiError) -> None:
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
        self._send_json(error.code, error.to_status(), headers)

    @staticmethod
    def _json_body(body: bytes) -> Any:
        try:
            return json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the body of the request could not be decoded as JSON: {exc}") from exc

    # ----------------------------------------------------------------- routing

    def _route(self, path: str) -> _Route | None:
        """Parse a resource path; None for discovery paths (`/api/v1`, `/apis/g/v`, ...)."""
        parts = [p for p in path.split("/") if p]
        if parts[0] == "api":
            if len(parts) <= 2:
                return None
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) <= 3:
                return None
            group, version, rest = parts[1], parts[2], parts[3:]
        registry = self.api.registry
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            inner = registry.find(group, version, rest[2])
            if inner is not None and inner.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = registry.find(group, version, rest[0])
        if rtype is None or len(rest) > 3 or (namespace is not None and not rtype.namespaced):
            raise ApiError(404, "the server could not find the requested resource")
        subresource = rest[2] if len(rest) == 3 else None
        if subresource is not None and not (subresource == "status" and rtype.has_status):
            raise ApiError(404, "the server could not find the requested resource")
        return _Route(
            rtype=rtype,
            namespace=namespace,
            name=rest[1] if len(rest) >= 2 else None,
            subresource=subresource,
        )

    @staticmethod
    def _verb(method: str, route: _Route | None, query: dict[str, str]) -> str:
        if route is None:
            return "get"
        if method == "GET":
            if route.name:
                return "get"
            return "watch" if query.get("watch") in ("true", "1") else "list"
        if method == "DELETE":
            return "delete" if route.name else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]

    # ----------------------------------------------------------------- discovery

    def _discovery(self, method: str, path: str) -> None:
        if method != "GET":
            raise ApiError(405, f"the server does not allow this method on the requested resource ({path})")
        registry = self.api.registry
        parts = [p for p in path.split("/") if p]
        answer: Any = None
        if path == "/version":
            answer = discovery.version_info()
        elif path == "/api":
            answer = discovery.core_versions(f"{self.api.host}:{self.api.port}")
        elif path == "/apis":
            answer = discovery.group_list(registry)
        elif len(parts) == 2 and parts[0] == "api":
            answer = discovery.resource_list(registry, "", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            answer = discovery.group(registry, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            answer = discovery.resource_list(registry, parts[1], parts[2])
        if answer is None:
            raise ApiError(404, "the server could not find the requested resource")
        self._send_json(200, answer)

    # ----------------------------------------------------------------- resources

    def _resource(self, method: str, verb: str, route: _Route, query: dict[str, str], body: bytes) -> None:
        store = self.api.store
        rtype = route.rtype
        g, v, plural = rtype.group, rtype.version, rtype.plural
        dry_run = query.get("dryRun") == "All"
        if verb == "watch":
            self._watch(route, query)
        elif verb == "list":
            self._list(route, query)
        elif verb == "get":
            obj = store.get(g, v, plural, route.namespace, route.name or "")
            self._send_object(rtype, obj, query)
        elif verb == "create":
            if route.name:
                raise ApiError(405, "the server does not allow this method on the requested resource")
            if rtype.namespaced and route.namespace is None:
                raise ApiError(405, "the server does not allow this method on the requested resource")
            created = store.create(
                g, v, plural, route.namespace, self._json_body(body), dry_run=dry_run, keep_status=False
            )
            self._send_json(201, created)
        elif verb == "update":
            obj = self._json_body(body)
            if not isinstance(obj, dict):
                raise ApiError(400, "the body of the request was not a JSON object")
            meta = obj.setdefault("metadata", {})
            if meta.get("name") and meta["name"] != route.name:
                raise ApiError(
                    400,
                    f"the name of the object ({meta['name']}) does not match the name on "
                    f"the URL ({route.name})",
                )
            meta["name"] = route.name
            if rtype.namespaced and meta.get("namespace") and meta["namespace"] != route.namespace:
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            self._send_json(
                200,
                store.update(
                    g, v, plural, route.namespace, obj, subresource=route.subresource, dry_run=dry_run
                ),
            )
        elif verb == "patch":
            patch_type = self._patch_type(rtype)
            patched = store.patch(
                g,
                v,
                plural,
                route.namespace,
                route.name or "",
                self._json_body(body),
                patch_type=patch_type,
                subresource=route.subresource,
                dry_run=dry_run,
            )
            self._send_json(200, patched)
        elif verb == "delete":
            options = self._json_body(body) or {}
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            gone = store.delete(
                g,
                v,
                plural,
                route.namespace,
                route.name or "",
                preconditions=options.get("preconditions"),
                dry_run=dry_run,
            )
            pending = bool(gone["metadata"].get("deletionTimestamp") and gone["metadata"].get("finalizers"))
            if rtype.custom or rtype.plural == "pods" or pending:
                self._send_json(202 if pending else 200, gone)
            else:
                self._send_json(200, success(rtype, gone))
        elif verb == "deletecollection":
            items = store.list(
                g,
                v,
                plural,
                route.namespace,
                label_selector=query.get("labelSelector"),
                field_selector=query.get("fieldSelector"),
            )
            deleted = [
                store.delete(
                    g, v, plural, o["metadata"].get("namespace"), o["metadata"]["name"], dry_run=dry_run
                )
                for o in items
            ]
            self._send_json(
                200,
                {
                    "kind": f"{rtype.kind}List",
                    "apiVersion": rtype.api_version,
                    "metadata": {"resourceVersion": store.resource_version},
                    "items": deleted,
                },
            )

    def _patch_type(self, rtype: ResourceType) -> str:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/json-patch+json":
            return "json"
        if content_type == "application/merge-patch+json":
            return "merge"
        if content_type == "application/strategic-merge-patch+json" and not rtype.custom:
            return "merge"
        accepted = "application/json-patch+json, application/merge-patch+json"
        if not rtype.custom:
            accepted += ", application/strategic-merge-patch+json"
        raise ApiError(
            415,
            f"the body of the request was in an unknown format - accepted media types include: {accepted}",
        )

    def _send_object(self, rtype: ResourceType, obj: dict[str, Any], query: dict[str, str]) -> None:
        if tables.wants_table(self.headers.get("Accept") or ""):
            self._send_json(
                200,
                tables.to_table(
                    rtype,
                    [obj],
                    resource_version=obj["metadata"].get("resourceVersion", ""),
                    include_object=query.get("includeObject", "Metadata"),
                    now=self.api.now(),
                ),
            )
        else:
            self._send_json(200, obj)

    def _list(self, route: _Route, query: dict[str, str]) -> None:
        rtype = route.rtype
        items, rv = self.api.store.list_with_version(
            rtype.group,
            rtype.version,
            rtype.plural,
            route.namespace,
            label_selector=query.get("labelSelector"),
            field_selector=query.get("fieldSelector"),
        )
        start = _decode_continue(query.get("continue"))
        if start is not None:
            items = [o for o in items if _key(o) > start]
        limit = int(query.get("limit") or 0)
        token: str | None = None
        remaining = 0
        if limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            token = _encode_continue(_key(items[-1]), rv)
        if tables.wants_table(self.headers.get("Accept") or ""):
            self._send_json(
                200,
                tables.to_table(
                    rtype,
                    items,
                    resource_version=rv,
                    continue_token=token,
                    include_object=query.get("includeObject", "Metadata"),
                    now=self.api.now(),
                ),
            )
            return
        metadata: dict[str, Any] = {"resourceVersion": rv}
        if token:
            metadata["continue"] = token
            metadata["remainingItemCount"] = remaining
        self._send_json(
            200,
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": metadata,
                "items": items,
            },
        )

    # ----------------------------------------------------------------- watches

    def _watch(self, route: _Route, query: dict[str, str]) -> None:
        """Stream events as chunked JSON lines until timeout, drop, 410 or server stop."""
        store = self.api.store
        match = store.matcher(
            route.rtype, label_selector=query.get("labelSelector"), field_selector=query.get("fieldSelector")
        )
        timeout = float(query.get("timeoutSeconds") or _DEFAULT_WATCH_TIMEOUT)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        sock = self.connection
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self._stream(route, query, match=match, timeout=timeout, bookmarks=bookmarks)
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            self.api.watch_ended(sock)

    def _stream(
        self, route: _Route, query: dict[str, str], *, match: Any, timeout: float, bookmarks: bool
    ) -> None:
        store = self.api.store
        rtype = route.rtype
        try:
            initial, cursor = store.open_watch(
                rtype, namespace=route.namespace, resource_version=query.get("resourceVersion"), match=match
            )
        except ApiError as exc:
            self._event("ERROR", exc.to_status())
            return
        # Counted as open only now that its cursor exists: a drop from here on reaches it
        # (counted earlier, a drop between the two went unseen and the watch ran on).
        self.api.watch_started(self.connection)
        for kind, obj in initial:
            self._event(kind, obj)
        deadline = time.monotonic() + timeout
        interval = max(0.05, self.api.bookmark_interval)
        next_bookmark = time.monotonic() + interval
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            wait = min(deadline, next_bookmark if bookmarks else deadline) - now
            try:
                events = cursor.poll(max(0.0, wait))
            except WatchClosed:
                return
            except ApiError as exc:
                self._event("ERROR", exc.to_status())
                return
            for kind, obj in events:
                self._event(kind, obj)
            if bookmarks and time.monotonic() >= next_bookmark:
                self._bookmark(rtype, cursor.position)
                next_bookmark = time.monotonic() + interval
        if bookmarks:
            self._bookmark(rtype, cursor.position)

    def _bookmark(self, rtype: ResourceType, position: int) -> None:
        self._event(
            "BOOKMARK",
            {
                "kind": rtype.kind,
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(position)},
            },
        )

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        line = json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"
        self._chunk(line)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # ----------------------------------------------------------------- control API

    def _control(self, method: str, path: str, body: bytes) -> None:
        api = self.api
        args = self._json_body(body) or {}
        if not isinstance(args, dict):
            raise ApiError(400, "the control API takes a JSON object")
        action = path[len("/_sandbox") :].strip("/")
        if method == "GET" and action == "":
            self._send_json(200, api.control_state())
            return
        if method != "POST":
            raise ApiError(405, f"use POST for /_sandbox/{action}")
        if action == "faults/drop-watches":
            api.faults.drop_watches(abrupt=bool(args.get("abrupt", False)))
        elif action == "faults/compact":
            api.faults.compact()
        elif action == "faults/fail-next":
            api.faults.fail_next(
                int(args.get("count", 1)),
                status=int(args.get("status", 500)),
                path_prefix=args.get("pathPrefix"),
                verb=args.get("verb"),
                retry_after=int(args.get("retryAfter", 1)),
            )
        elif action == "faults/latency":
            api.faults.set_latency(float(args.get("seconds", 0)))
        elif action == "faults/reset":
            api.faults.reset()
        elif action == "tokens":
            if not args.get("token") or not args.get("username"):
                raise ApiError(400, "token and username are required")
            api.add_token(str(args["token"]), str(args["username"]))
        else:
            raise ApiError(404, f"unknown control path /_sandbox/{action}")
        self._send_json(200, api.control_state())


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return (meta.get("namespace") or "", meta.get("name") or "")


def _encode_continue(key: tuple[str, str], rv: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(rv), "start": list(key)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        start = json.loads(raw)["start"]
        return (str(start[0]), str(start[1]))
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as exc:
        raise ApiError(400, "continue key is not valid: incorrect encoded start resourceVersion") from exc
