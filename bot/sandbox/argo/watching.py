"""List-then-watch loops over the Kubernetes API, for the sandbox's Argo controllers.

`Informer` lists a custom resource across namespaces, hands every object to a callback,
then watches from the list's resourceVersion. It lists again on `410 Gone` and when a
stream ends (the `kubernetes` client may end a watch silently; see its `Watch.stream`
docstring), and retries after connection errors until stopped. Streams use a short
`timeout_seconds` so `stop()` takes effect quickly.

Left out: resync periods, shared caches, bookmarks. Used by `workflows` and `applications`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

EventHandler = Callable[[str, dict[str, Any]], None]


def build_api_client(*, url: str, token: str, ca_file: str | None = None) -> client.ApiClient:
    """An `ApiClient` for `url` authenticating with a bearer token (and verifying TLS with `ca_file`)."""
    configuration = client.Configuration(host=url)
    if ca_file is not None:
        configuration.ssl_ca_cert = ca_file
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration)


class Informer:
    """Follow one resource (`group/version/plural`, all namespaces) until `stop()`.

    `handler(event_type, obj)` is called for ADDED (including every object of each list),
    MODIFIED and DELETED, on the informer's own thread; it must not block for long.
    """

    def __init__(
        self,
        *,
        api: client.CustomObjectsApi,
        group: str,
        version: str,
        plural: str,
        handler: EventHandler,
        name: str,
        stream_timeout: int = 2,
    ) -> None:
        self._api = api
        self._target = (group, version, plural)
        self._handler = handler
        self._stream_timeout = stream_timeout
        self._stopped = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.synced = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        current = self._watch
        if current is not None:
            current.stop()  # type: ignore[no-untyped-call]  # kubernetes.watch is unannotated
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                version = self._list()
                self.synced.set()
                self._follow(version)
            except ApiException as exc:
                if exc.status != 410:  # 410: our resourceVersion is too old; list again at once
                    log.warning("watch of %s failed: HTTP %s", self._target[2], exc.status)
                    self._stopped.wait(0.2)
            except Exception as exc:  # connection refused/reset while the API server restarts
                log.debug("watch of %s interrupted: %s", self._target[2], type(exc).__name__)
                self._stopped.wait(0.2)

    def _list(self) -> str:
        group, version, plural = self._target
        # The generated client types a custom-object list as `object`; it is the decoded JSON body.
        answer = cast(dict[str, Any], self._api.list_cluster_custom_object(group, version, plural))
        for item in answer.get("items", []):
            self._dispatch("ADDED", item)
        return str(answer.get("metadata", {}).get("resourceVersion", ""))

    def _follow(self, resource_version: str) -> None:
        """Watch until the stream ends; the caller then lists again (a stream can end without an error)."""
        group, version, plural = self._target
        while not self._stopped.is_set():
            self._watch = watch.Watch()  # type: ignore[no-untyped-call]
            received = False
            for event in self._watch.stream(  # type: ignore[no-untyped-call]
                self._api.list_cluster_custom_object,
                group,
                version,
                plural,
                resource_version=resource_version,
                timeout_seconds=self._stream_timeout,
                allow_watch_bookmarks=True,
            ):
                if self._stopped.is_set():
                    break
                kind = event.get("type", "")
                obj = event.get("object") or {}
                rv = obj.get("metadata", {}).get("resourceVersion") if isinstance(obj, dict) else None
                if rv:
                    resource_version = rv
                if kind == "ERROR":
                    return
                if kind != "BOOKMARK":
                    received = True
                    self._dispatch(kind, obj)
            if not received and not resource_version:
                return

    def _dispatch(self, kind: str, obj: dict[str, Any]) -> None:
        try:
            self._handler(kind, obj)
        except Exception:  # a bug in one object's handling must not kill the informer
            log.exception("handler failed for %s event", kind)
