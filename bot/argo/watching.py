"""List-then-watch one kind of Kubernetes object, forever, on one daemon thread.

`ResourceWatcher` lists the objects (all pages), hands them over (`on_relist(items)`, or
one synthetic `SYNC` event per item), then watches from the list's resourceVersion with
bookmarks on and a server-side `timeout_seconds`, passing every ADDED / MODIFIED /
DELETED event to `on_event(type, raw_object)`. The raw object is passed on purpose: the
pure tracker (`bot.tracking.progress`) parses it.

Why it restarts the way it does (measured against the stand-in, and the `kubernetes` client's
`Watch.stream` docstring): the client never yields ERROR events; a resourceVersion that
the server has compacted away raises `ApiException(410)` (here `KubeGone`), and a stream
may also simply end (server timeout, load balancer, apiserver restart). So:

- stream ended cleanly -> watch again from the last resourceVersion seen (events and
  BOOKMARKs both move it), metric reason `ended`;
- 410 Gone -> events were lost: list again, which hands the whole current state to the
  consumer, and watch from the new list, reason `gone`;
- any other failure -> pause with exponential backoff, then list again, reason `error`.

Restarts are counted in `bot.metrics.WATCH_RESTARTS{cluster, reason}`. A callback that
raises is logged and the watch goes on. `stop()` ends the stream at once (the client's
`Watch.stop()` shuts the socket) and joins the thread.

Left out: caching objects (the consumer keeps what it needs), resync timers, sharing one
stream between consumers (the tracker runs a few watchers per cluster, one per kind and
namespace). Callers: `bot.tracking.follower` (through `bot.app`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, watch

from bot import metrics
from bot.argo.errors import kube_errors
from bot.errors import KubeError, KubeGone

log = logging.getLogger(__name__)

RawObject = dict[str, Any]
EventCallback = Callable[[str, RawObject], None]
RelistCallback = Callable[[list[RawObject]], None]

SYNC = "SYNC"
REASON_GONE = "gone"
REASON_ENDED = "ended"
REASON_ERROR = "error"
LIST_PAGE_SIZE = 500
_CONNECT_TIMEOUT = 5.0
# The server ends each stream after `timeout_seconds`; a read that stays silent much longer
# than that means a half-open connection, which only a client-side timeout can detect.
_READ_GRACE = 30.0
_LIST_READ_TIMEOUT = 60.0


class ResourceWatcher:
    """Follow `group/version/plural` (in `namespace`, or all namespaces) until `stop()`.

    Args:
        api: the cluster's `kubernetes.client.ApiClient` (`ClusterRegistry.api_client`).
        cluster: cluster name, for the metric label and the logs.
        group, version, plural: the resource, e.g. `argoproj.io`, `v1alpha1`, `workflows`.
        namespace: one namespace, or None for all.
        label_selector: e.g. `argo-chatops/run-id` to follow only the bot's runs.
        on_event: `(type, raw_object)` for ADDED / MODIFIED / DELETED, and `SYNC` for each
            listed object when there is no `on_relist`. Called on the watcher's thread: keep
            it quick.
        on_relist: receives the full list after every (re-)list; objects missing from it
            were deleted while the watch was down.
        timeout_seconds: server-side lifetime of one watch stream.
        backoff: (first, longest) pause in seconds after consecutive failures.
        clock: monotonic seconds, for `last_contact` and pacing streams that end at once.
        sleep: how to pause between failures; by default a wait that `stop()` interrupts.
        name: the thread's name.
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        cluster: str,
        group: str,
        version: str,
        plural: str,
        on_event: EventCallback,
        namespace: str | None = None,
        label_selector: str | None = None,
        on_relist: RelistCallback | None = None,
        timeout_seconds: int = 300,
        backoff: tuple[float, float] = (0.2, 5.0),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        name: str | None = None,
    ) -> None:
        self._custom = client.CustomObjectsApi(api)
        self.cluster = cluster
        self._target = (group, version, plural)
        self._namespace = namespace
        self._label_selector = label_selector
        self._on_event = on_event
        self._on_relist = on_relist
        self._timeout_seconds = int(timeout_seconds)
        self._backoff = backoff
        self._clock = clock
        self._stopped = threading.Event()
        self._sleep = sleep or self._interruptible_sleep
        self._watch: watch.Watch | None = None
        self._resource_version: str | None = None
        self._failures = 0
        self.last_contact: float | None = None
        self.synced = threading.Event()
        where = namespace or "*"
        self._what = f"{plural}.{group} in {cluster}/{where}"
        self._thread = threading.Thread(
            target=self._run, name=name or f"watch-{cluster}-{plural}-{where}", daemon=True
        )

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> ResourceWatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """End the stream and join the thread (within `timeout` seconds).

        `Watch.stop()` only reaches a stream whose response has arrived, and a new stream
        may be opening right now, so it is repeated until the thread has ended.
        """
        self._stopped.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive():
            current = self._watch
            if current is not None:
                current.stop()  # type: ignore[no-untyped-call]  # kubernetes.watch is unannotated
            self._thread.join(0.05)
            if time.monotonic() >= deadline:
                log.warning("watch of %s did not stop within %.1fs", self._what, timeout)
                return

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def resource_version(self) -> str | None:
        """The last resourceVersion seen (list, event or bookmark)."""
        return self._resource_version

    # -- loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        must_list = True
        while not self._stopped.is_set():
            try:
                if must_list:
                    self._relist()
                    must_list = False
                self._follow()
            except KubeGone:
                if self._stopped.is_set():
                    return
                # Our resourceVersion was compacted away: events are lost, only a list
                # gives the consumer the true current state again.
                log.info("watch of %s expired (410 Gone); listing again", self._what)
                self._count(REASON_GONE)
                must_list = True
            except Exception as exc:
                if self._stopped.is_set():
                    return
                self._count(REASON_ERROR)
                must_list = True
                delay = self._next_delay()
                log.warning(
                    "watch of %s failed (%s); listing again in %.1fs",
                    self._what,
                    exc,
                    delay,
                    exc_info=not isinstance(exc, KubeError),  # a bug deserves its traceback
                )
                self._sleep(delay)
            else:
                if self._stopped.is_set():
                    return
                self._count(REASON_ENDED)

    def _relist(self) -> None:
        """List every page; remember the snapshot's resourceVersion; hand the items over.

        The first page's resourceVersion is the one to watch from: a real apiserver serves
        later pages from the same snapshot, and a server that does not (the sandbox) at
        worst makes the watch replay a few events the consumer has already seen.
        """
        group, version, plural = self._target
        items: list[RawObject] = []
        token: str | None = None
        snapshot: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "limit": LIST_PAGE_SIZE,
                "_request_timeout": (_CONNECT_TIMEOUT, _LIST_READ_TIMEOUT),
            }
            if self._label_selector:
                kwargs["label_selector"] = self._label_selector
            if token:
                kwargs["_continue"] = token
            with kube_errors(f"list {self._what}"):
                if self._namespace is None:
                    page = self._custom.list_cluster_custom_object(group, version, plural, **kwargs)
                else:
                    page = self._custom.list_namespaced_custom_object(
                        group, version, self._namespace, plural, **kwargs
                    )
            body = cast(RawObject, page)
            meta = body.get("metadata") or {}
            if snapshot is None:
                snapshot = str(meta.get("resourceVersion") or "") or None
            items.extend(body.get("items") or [])
            token = meta.get("continue") or None
            if not token:
                break
        self._resource_version = snapshot
        self.last_contact = self._clock()
        on_relist = self._on_relist
        if on_relist is not None:
            self._call(on_relist, items, what="relist")
        else:
            for item in items:
                self._call(self._on_event, SYNC, item, what=SYNC)
        self.synced.set()

    def _follow(self) -> None:
        """One watch stream from the last resourceVersion, until it ends or fails."""
        group, version, plural = self._target
        kwargs: dict[str, Any] = {
            "allow_watch_bookmarks": True,
            "timeout_seconds": self._timeout_seconds,
            "_request_timeout": (_CONNECT_TIMEOUT, self._timeout_seconds + _READ_GRACE),
        }
        if self._resource_version:
            kwargs["resource_version"] = self._resource_version
        if self._label_selector:
            kwargs["label_selector"] = self._label_selector
        if self._namespace is None:
            func: Callable[..., object] = self._custom.list_cluster_custom_object
            args: tuple[str, ...] = (group, version, plural)
        else:
            func = self._custom.list_namespaced_custom_object
            args = (group, version, self._namespace, plural)
        stream = watch.Watch()  # type: ignore[no-untyped-call]  # kubernetes.watch is unannotated
        self._watch = stream
        if self._stopped.is_set():  # stop() may have run while the list was in flight
            return
        opened = self._clock()
        delivered = False
        with kube_errors(f"watch {self._what}"):
            events = stream.stream(func, *args, **kwargs)  # type: ignore[no-untyped-call]
            try:
                for event in events:
                    if self._stopped.is_set():
                        return
                    kind = str(event.get("type", ""))
                    obj = event.get("raw_object")
                    if not isinstance(obj, dict):
                        continue
                    version_seen = (obj.get("metadata") or {}).get("resourceVersion")
                    if version_seen:
                        self._resource_version = str(version_seen)
                    self.last_contact = self._clock()
                    self._failures = 0  # the server answers again: the next failure starts afresh
                    delivered = True
                    if kind == "BOOKMARK":
                        continue  # only moves the resourceVersion forward
                    self._call(self._on_event, kind, obj, what=kind)
            finally:
                events.close()  # releases the response now, not when the generator is collected
        if not delivered and self._clock() - opened < self._backoff[0] and not self._stopped.is_set():
            # A stream that ends at once with nothing in it, again and again, would spin.
            self._sleep(self._next_delay())

    # -- small parts ---------------------------------------------------------------------
    def _call(self, callback: Callable[..., object], *args: Any, what: str) -> None:
        """Run a consumer callback; its bug is logged, never allowed to end the watch."""
        try:
            callback(*args)
        except Exception:
            log.exception("callback for %s event of %s failed", what, self._what)

    def _next_delay(self) -> float:
        first, longest = self._backoff
        delay = min(longest, first * 2**self._failures)
        self._failures += 1
        return float(delay)

    def _count(self, reason: str) -> None:
        metrics.WATCH_RESTARTS.labels(cluster=self.cluster, reason=reason).inc()

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopped.wait(seconds)
