"""The Argo CD API client for manifest diffs, against a tiny HTTP server that answers like Argo CD.

The server (http.server on 127.0.0.1, a free port) serves
`GET /api/v1/applications/{name}/managed-resources?appNamespace=...` only to the right bearer
token, with items shaped as Argo CD returns them (each state a JSON string).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.argo.diff import ArgoCdApi, ArgoCdApiError, ArgoCdApiForbidden, ArgoCdApiNotFound, unified_diff
from bot.errors import BotError, ConfigError

TOKEN = "argocd-test-token-5f1e9a7c3b"


def _deployment(image: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop", "namespace": "web", "resourceVersion": "123", "uid": "u-1"},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "shop", "image": image}]}},
        },
        "status": {"readyReplicas": replicas},
    }


def _item(live: dict[str, Any] | None, target: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    ref = live or target or {}
    return {
        "group": "apps",
        "kind": ref.get("kind", ""),
        "namespace": ref.get("metadata", {}).get("namespace", ""),
        "name": ref.get("metadata", {}).get("name", ""),
        "normalizedLiveState": json.dumps(live) if live is not None else "null",
        "predictedLiveState": json.dumps(target) if target is not None else "null",
        **extra,
    }


ITEMS = [
    _item(_deployment("registry.example.com/shop:1.4.0"), _deployment("registry.example.com/shop:1.5.0")),
    _item(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "web"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "web"}},
    ),
]


@dataclass
class FakeArgoCd:
    """What the server answers, and what it was asked."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"items": ITEMS})
    delay: float = 0.0
    location: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def argocd() -> Iterator[tuple[FakeArgoCd, str]]:
    fake = FakeArgoCd()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake.requests.append(
                {
                    "path": parts.path,
                    "query": parse_qs(parts.query),
                    "authorization": self.headers.get("Authorization"),
                }
            )
            if fake.delay:
                time.sleep(fake.delay)
            if fake.location:
                self.send_response(fake.status)
                self.send_header("Location", fake.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body = 401, {"error": "no session information", "code": 16, "message": "unauthorized"}
            elif not parts.path.startswith("/api/v1/applications/"):
                status, body = 404, {"error": "not found", "code": 5, "message": "not found"}
            else:
                status, body = fake.status, fake.body
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_sends_the_bearer_token_and_reads_the_items(argocd: tuple[FakeArgoCd, str]) -> None:
    fake, url = argocd
    items = ArgoCdApi(url, TOKEN).managed_resources("shop", "argocd")
    assert [item["kind"] for item in items] == ["Deployment", "Service"]
    (request,) = fake.requests
    assert request["path"] == "/api/v1/applications/shop/managed-resources"
    assert request["query"] == {"appNamespace": ["argocd"]}
    assert request["authorization"] == f"Bearer {TOKEN}"


def test_the_name_is_quoted_into_the_path_and_an_empty_namespace_is_left_out(
    argocd: tuple[FakeArgoCd, str],
) -> None:
    fake, url = argocd
    ArgoCdApi(url + "/", TOKEN).managed_resources("a/b?c", "")
    (request,) = fake.requests
    assert request["path"] == "/api/v1/applications/a%2Fb%3Fc/managed-resources"
    assert request["query"] == {}


def test_the_diff_shows_the_changed_image_line(argocd: tuple[FakeArgoCd, str]) -> None:
    _, url = argocd
    diff = unified_diff(ArgoCdApi(url, TOKEN).managed_resources("shop", "argocd"))
    lines = diff.splitlines()
    assert "--- live/Deployment/web/shop" in lines
    assert "+++ target/Deployment/web/shop" in lines
    assert any(line.startswith("-") and "image: registry.example.com/shop:1.4.0" in line for line in lines)
    assert any(line.startswith("+") and "image: registry.example.com/shop:1.5.0" in line for line in lines)
    assert "Service" not in diff  # unchanged resources are left out
    assert "resourceVersion" not in diff and "readyReplicas" not in diff  # noise is left out


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_is_a_clear_error_without_the_token(argocd: tuple[FakeArgoCd, str], status: int) -> None:
    fake, url = argocd
    fake.status = status
    # a proxy that echoes the request's header back must not leak it into the message either
    fake.body = {"error": "permission denied", "code": 7, "message": f"permission denied: Bearer {TOKEN}"}
    with pytest.raises(ArgoCdApiForbidden) as caught:
        ArgoCdApi(url, TOKEN).managed_resources("shop", "argocd")
    error = caught.value
    assert isinstance(error, BotError)
    assert error.status == status
    text = f"{error} {error!r} {error.args}"
    assert TOKEN not in text
    assert f"HTTP {status}" in str(error) and "shop" in str(error) and "token" in str(error)


def test_a_wrong_token_is_refused_and_not_repeated(argocd: tuple[FakeArgoCd, str]) -> None:
    _, url = argocd
    with pytest.raises(ArgoCdApiForbidden) as caught:
        ArgoCdApi(url, "some-other-token-123456").managed_resources("shop", "argocd")
    assert "some-other-token-123456" not in str(caught.value)
    assert "unauthorized" in str(caught.value)


def test_not_found_and_server_errors(argocd: tuple[FakeArgoCd, str]) -> None:
    fake, url = argocd
    fake.status, fake.body = 404, {"error": "app not found", "code": 5, "message": 'app "shop" not found'}
    with pytest.raises(ArgoCdApiNotFound, match="not found"):
        ArgoCdApi(url, TOKEN).managed_resources("shop", "argocd")
    fake.status, fake.body = 500, b"<html>oops</html>"
    with pytest.raises(ArgoCdApiError, match="HTTP 500") as caught:
        ArgoCdApi(url, TOKEN).managed_resources("shop", "argocd")
    assert not isinstance(caught.value, ArgoCdApiNotFound)
    fake.status, fake.body = 200, b"not json"
    with pytest.raises(ArgoCdApiError, match="not JSON"):
        ArgoCdApi(url, TOKEN).managed_resources("shop", "argocd")


def test_a_redirect_is_not_followed_with_the_token(argocd: tuple[FakeArgoCd, str]) -> None:
    fake, url = argocd
    fake.status, fake.location = 302, url + "/elsewhere"
    with pytest.raises(ArgoCdApiError, match="redirected"):
        ArgoCdApi(url, TOKEN).managed_resources("shop", "argocd")
    assert len(fake.requests) == 1


def test_a_slow_server_times_out(argocd: tuple[FakeArgoCd, str]) -> None:
    fake, url = argocd
    fake.delay = 1.0
    with pytest.raises(ArgoCdApiError, match=r"within 0\.2s") as caught:
        ArgoCdApi(url, TOKEN, timeout=0.2).managed_resources("shop", "argocd")
    assert TOKEN not in str(caught.value)


def test_an_unreachable_server_is_an_error_without_the_token() -> None:
    with pytest.raises(ArgoCdApiError, match="cannot reach") as caught:
        ArgoCdApi("http://127.0.0.1:9", TOKEN, timeout=1).managed_resources("shop", "argocd")
    assert TOKEN not in str(caught.value)


def test_bad_settings_are_config_errors_that_do_not_show_the_token() -> None:
    with pytest.raises(ConfigError, match=r"argocd\.server_url"):
        ArgoCdApi("file:///etc/passwd", TOKEN)
    with pytest.raises(ConfigError, match="ARGOCD_AUTH_TOKEN"):
        ArgoCdApi("https://argocd.example.com", "  ")
    assert TOKEN not in repr(ArgoCdApi("https://argocd.example.com", TOKEN))


def test_created_pruned_hooks_and_secrets_in_the_diff() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "web"}}
    old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "web"}}
    secret_live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}}
    secret_target = {**secret_live, "data": {"k": "bmV3c2VjcmV0"}}
    diff = unified_diff(
        [
            _item(None, config),
            _item(old, None),
            _item(None, _deployment("hook:1"), hook=True),
            _item(secret_live, secret_target),
            {"kind": "Broken", "name": "x", "normalizedLiveState": "{not json", "predictedLiveState": ""},
        ]
    )
    assert "+++ target/ConfigMap/web/new" in diff and "+  name: new" in diff
    assert "--- live/ConfigMap/web/old" in diff and "-  name: old" in diff
    assert "hook:1" not in diff
    assert "c2VjcmV0" not in diff and "bmV3c2VjcmV0" not in diff
    assert "Broken" not in diff


def test_argo_cds_own_secret_mask_still_shows_a_change() -> None:
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "++++++++"}}
    target = {**live, "data": {"k": "+++++++++"}}
    diff = unified_diff([_item(live, target)])
    assert "-  k: ++++++++" in diff.splitlines() and "+  k: +++++++++" in diff.splitlines()


def test_older_servers_live_and_target_state_are_used_when_the_normalized_ones_are_missing() -> None:
    item = {
        "kind": "Deployment",
        "namespace": "web",
        "name": "shop",
        "liveState": json.dumps(_deployment("shop:1")),
        "targetState": json.dumps(_deployment("shop:2")),
    }
    diff = unified_diff([item])
    assert "-      - image: shop:1" in diff.splitlines() and "+      - image: shop:2" in diff.splitlines()
