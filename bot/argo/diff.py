"""Argo CD's API server, for the one thing the Kubernetes API cannot give: the manifest diff.

The Application object says which resources are out of sync, not how; the rendered target
manifests exist only inside Argo CD. Its REST API returns them per resource
(`GET /api/v1/applications/{name}/managed-resources`, as `argocd app diff` uses): JSON strings
`normalizedLiveState` and `predictedLiveState` (the live object after Argo CD's normalisation,
and what it will look like after the sync), or, from older servers, `liveState` and
`targetState`. `unified_diff` turns them into one unified diff of YAML, for an approval card.

Used only when `argocd.server_url` is configured, with a token the caller reads from the
environment (`ARGOCD_AUTH_TOKEN`, as the argocd CLI does). The standard library is enough
(`urllib.request`), with short timeouts: an approval card must not wait on a slow server.
The token goes only in the Authorization header, which is never forwarded on a redirect
(redirects are refused), and no error message carries it. Secret data is masked by Argo CD
itself; `unified_diff` masks any value it left plain, in case a server does not.

Left out: TLS options (the system trust store is used), paging (the endpoint has none),
multi-source apps. Callers: the approval card's builder, when the API server is configured.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from difflib import unified_diff as _difflib_unified
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import yaml

from bot.errors import ConfigError, UpstreamError
from bot.redaction import redact

DEFAULT_TIMEOUT = 5.0
MAX_BODY = 32 * 1024 * 1024  # a managed-resources answer of a large app runs to a few MB
MAX_DETAIL = 300
SECRET_MASK = "++++++++"  # what Argo CD itself shows for Secret values
_NOISE = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink")


class ArgoCdApiError(UpstreamError):
    """Argo CD's API server failed or refused; `status` is the HTTP status, None if never reached."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ArgoCdApiForbidden(ArgoCdApiError):
    """401 or 403: the token is missing, expired, or its account may not read the app."""


class ArgoCdApiNotFound(ArgoCdApiError):
    """404: no such app (Argo CD also answers so when RBAC hides the app)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would send the request elsewhere; refuse it rather than follow with the token."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ArgoCdApi:
    """A read-only client of Argo CD's REST API, authenticated with a bearer token."""

    def __init__(self, server_url: str, token: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urlsplit(server_url.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(
                ["argocd.server_url: must be an http(s) URL such as https://argocd.example.com"]
            )
        if not token.strip():
            raise ConfigError(["ARGOCD_AUTH_TOKEN: empty, but argocd.server_url is set"])
        self.server_url = server_url.strip().rstrip("/")
        self._token = token.strip()
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:  # never the token
        return f"ArgoCdApi({self.server_url!r})"

    def managed_resources(self, app_name: str, app_namespace: str) -> list[dict[str, Any]]:
        """The `items` of the app's managed resources, each with its live and target state strings.

        Args:
            app_name: the Application's name.
            app_namespace: the namespace of the Application object ("" for Argo CD's own).
        """
        path = f"/api/v1/applications/{quote(app_name, safe='')}/managed-resources"
        if app_namespace:
            path += "?" + urlencode({"appNamespace": app_namespace})
        what = f"read the managed resources of app {app_name!r}"
        answer = self._get(path, what=what)
        items = answer.get("items") if isinstance(answer, dict) else None
        if items is None:
            return []
        if not isinstance(items, list):
            raise ArgoCdApiError(f"Argo CD API: {what}: the answer has no list of items")
        return [item for item in items if isinstance(item, dict)]

    def _get(self, path: str, *, what: str) -> Any:
        request = urllib.request.Request(self.server_url + path, method="GET")
        request.add_header("Accept", "application/json")
        request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, what=what) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                raise ArgoCdApiError(
                    f"Argo CD API: {what}: no answer from {self.server_url} within {self.timeout:g}s"
                ) from None
            raise ArgoCdApiError(
                f"Argo CD API: {what}: cannot reach {self.server_url}: {self._clean(str(reason))}"
            ) from None
        if len(body) > MAX_BODY:
            raise ArgoCdApiError(f"Argo CD API: {what}: the answer is larger than {MAX_BODY} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise ArgoCdApiError(f"Argo CD API: {what}: the answer is not JSON") from None

    def _http_error(self, exc: urllib.error.HTTPError, *, what: str) -> ArgoCdApiError:
        """The error for an HTTP status, with Argo CD's own `message` (scrubbed) when it gave one."""
        status = exc.code
        try:
            raw = exc.read(64 * 1024).decode("utf-8", "replace")
        except OSError:
            raw = ""
        finally:
            exc.close()
        try:
            parsed = json.loads(raw)
            detail = (parsed.get("message") or parsed.get("error") or "") if isinstance(parsed, dict) else raw
        except ValueError:
            detail = raw
        detail = self._clean(str(detail))
        if status in (401, 403):
            hint = "the token is missing, expired, or its account lacks `applications, get` on this app"
            return ArgoCdApiForbidden(
                f"Argo CD API refused to {what} (HTTP {status}): {hint}" + (f" ({detail})" if detail else ""),
                status=status,
            )
        if 300 <= status < 400:
            return ArgoCdApiError(
                f"Argo CD API: {what}: redirected (HTTP {status}); set argocd.server_url to the API "
                "server's own address",
                status=status,
            )
        message = f"Argo CD API: {what}: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 404:
            return ArgoCdApiNotFound(message, status=status)
        return ArgoCdApiError(message, status=status)

    def _clean(self, text: str) -> str:
        """One line, no token (as sent, or any bearer-shaped credential), at most `MAX_DETAIL` long."""
        text = " ".join(text.replace(self._token, "***").split())
        text = redact(text)
        return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def unified_diff(items: Iterable[Mapping[str, Any]]) -> str:
    """One unified diff (live → after sync) of the YAML of every managed resource that changes.

    Hooks are left out, as `argocd app diff` does. A resource the sync creates diffs from
    nothing; one it prunes diffs to nothing. Unparseable states read as absent.
    """
    chunks: list[str] = []
    for item in items:
        if item.get("hook") is True:
            continue
        live = _state(item, "normalizedLiveState", "liveState")
        target = _state(item, "predictedLiveState", "targetState")
        if live == target:
            continue
        parts = (_str(item.get("kind")), _str(item.get("namespace")), _str(item.get("name")))
        ref = "/".join(part for part in parts if part)
        lines = _difflib_unified(
            _yaml(live),
            _yaml(target),
            fromfile=f"live/{ref}",
            tofile=f"target/{ref}",
            lineterm="",
        )
        chunks.append("\n".join(lines))
    return "\n".join(chunk for chunk in chunks if chunk)


def _state(item: Mapping[str, Any], preferred: str, fallback: str) -> Any:
    """The parsed state, noise removed, Secret values masked; None when absent or not JSON."""
    raw = item.get(preferred) or item.get(fallback)
    if not isinstance(raw, str) or not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    value.pop("status", None)
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        for key in _NOISE:
            metadata.pop(key, None)
    if value.get("kind") == "Secret" and value.get("apiVersion") == "v1":
        for key in ("data", "stringData"):
            if isinstance(value.get(key), dict):
                value[key] = {name: _masked(text) for name, text in value[key].items()}
    return value


def _masked(value: Any) -> str:
    """Argo CD's own mask (`+` repeated, longer or shorter to show a value changed) is kept."""
    return value if isinstance(value, str) and value and set(value) == {"+"} else SECRET_MASK


def _yaml(value: Any) -> list[str]:
    if value is None:
        return []
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True).splitlines()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
