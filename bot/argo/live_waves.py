"""Read the sync waves of an operation's resources from their live objects on the destination.

Argo CD does not report waves in `syncResult`: a wave is the `argocd.argoproj.io/sync-wave`
annotation of the resource as it lives on the destination cluster. `LiveWaves.waves` reads each
resource once per run (an operation) through the official `kubernetes` client on the bot's
client for that cluster (`ClusterRegistry.api_client`): discovery (`/api/v1`,
`/apis/{group}/{version}`, cached per cluster) turns a kind into its plural and scope, then a GET
of the object. The bot needs `get` on those kinds in the destination's namespaces.

It runs on the watch thread, so it never holds it for long: each call has short timeouts, the
first time a cluster cannot be reached the rest of that event's resources are not tried, and a
budget bounds one call. What cannot be read (403, 404, a cluster the bot does not know, a
destination it does not map, a timeout) counts as wave 0, is remembered as such for the run, and
is logged once per run at INFO; it is never an error in Slack. Runs are remembered in a bounded
LRU. Used by `bot.tracking.follower.SyncPart`, wired in `bot.app`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.argo.errors import kube_errors
from bot.errors import BotError, KubeError
from bot.tracking.sync_progress import LiveResource, ResourceKey, wave_of

log = logging.getLogger(__name__)

#: (connect, read) seconds of one request, and the most one call may spend reading.
REQUEST_TIMEOUT = (2.0, 3.0)
CALL_BUDGET_SECONDS = 6.0
REMEMBERED_RUNS = 512


class ApiClients(Protocol):
    """The bot's clients by cluster name (`bot.clusters.registry.ClusterRegistry` fits)."""

    def api_client(self, name: str) -> client.ApiClient: ...


@dataclass(frozen=True)
class _Kind:
    plural: str
    namespaced: bool


@dataclass
class _RunWaves:
    """What one run has read: the waves so far, and whether a failure was already logged."""

    waves: dict[ResourceKey, int] = field(default_factory=dict)
    logged: bool = False


class _Unreachable(Exception):
    """The cluster cannot be used (unknown, unmapped, no client, no answer): try no more there now."""


class LiveWaves:
    """Sync waves read from the destination cluster, once per run and resource.

    Args:
        clusters: the bot's API clients by cluster name.
        remembered_runs: how many runs keep their waves (oldest forgotten first).
        budget: seconds one call may spend reading before the rest counts as wave 0.
        clock: monotonic seconds, for the budget.
    """

    def __init__(
        self,
        clusters: ApiClients,
        *,
        remembered_runs: int = REMEMBERED_RUNS,
        budget: float = CALL_BUDGET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clusters = clusters
        self._remembered = remembered_runs
        self._budget = budget
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _RunWaves] = OrderedDict()
        self._kinds: dict[tuple[str, str], dict[str, _Kind]] = {}

    def waves(
        self, run_id: str, cluster: str | None, resources: Sequence[LiveResource]
    ) -> dict[ResourceKey, int]:
        """`(kind, namespace, name) -> wave` for `resources` of run `run_id` on `cluster`.

        Only resources not read before for this run are read; never raises.
        """
        with self._lock:
            run = self._runs.pop(run_id, None) or _RunWaves()
            self._runs[run_id] = run  # the most recently used last
            while len(self._runs) > self._remembered:
                self._runs.popitem(last=False)
            todo = [r for r in resources if r.key not in run.waves]
        failures: list[tuple[LiveResource, str]] = []
        deadline = self._clock() + self._budget
        unreachable = ""
        for resource in todo:
            reason = unreachable
            wave = 0
            if not reason and self._clock() > deadline:
                reason = unreachable = f"reading took longer than {self._budget:g}s"
            if not reason:
                try:
                    wave = self._read(cluster, resource)
                except _Unreachable as exc:
                    reason = unreachable = str(exc)
                except BotError as exc:
                    reason = str(exc)
            if reason:
                failures.append((resource, reason))
            with self._lock:
                run.waves[resource.key] = wave
        if failures:
            self._report(run_id, run, cluster, failures)
        with self._lock:
            return {r.key: run.waves.get(r.key, 0) for r in resources}

    # -- reading -------------------------------------------------------------------------
    def _read(self, cluster: str | None, resource: LiveResource) -> int:
        """The wave of one live object. Raises BotError or _Unreachable when it cannot."""
        if not cluster:
            raise _Unreachable("the app's destination is not a configured cluster")
        try:
            api = self._clusters.api_client(cluster)
        except (BotError, KeyError) as exc:
            raise _Unreachable(f"no client for it: {exc}") from exc
        api_version = f"{resource.group}/{resource.version}" if resource.group else resource.version
        kind = self._kind(cluster, api, api_version, resource.kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        where = f"{base}/namespaces/{resource.namespace}" if kind.namespaced else base
        obj = _get(api, f"{where}/{kind.plural}/{resource.name}", what=f"get {resource.kind} {resource.name}")
        metadata = obj.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        return wave_of(annotations if isinstance(annotations, dict) else None)

    def _kind(self, cluster: str, api: client.ApiClient, api_version: str, kind: str) -> _Kind:
        with self._lock:
            kinds = self._kinds.get((cluster, api_version))
        if kinds is None:
            listing = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            answer = _get(api, listing, what=f"discover {api_version}")
            kinds = {
                str(entry.get("kind")): _Kind(str(entry.get("name")), bool(entry.get("namespaced")))
                for entry in answer.get("resources") or []
                if isinstance(entry, dict) and "/" not in str(entry.get("name", "/"))
            }
            with self._lock:
                self._kinds[(cluster, api_version)] = kinds
        found = kinds.get(kind)
        if found is None:
            raise KubeError(f"the cluster serves no {kind} in {api_version}")
        return found

    def _report(
        self, run_id: str, run: _RunWaves, cluster: str | None, failures: list[tuple[LiveResource, str]]
    ) -> None:
        """One INFO line per run, naming the first resource that could not be read and why."""
        with self._lock:
            if run.logged:
                return
            run.logged = True
        resource, reason = failures[0]
        log.info(
            "run %s: could not read the sync wave of %s %s/%s on cluster %s (%s); it and any other "
            "unreadable resource of this operation show as wave 0",
            run_id,
            resource.kind,
            resource.namespace,
            resource.name,
            cluster or "(unmapped destination)",
            reason,
        )


def _get(api: client.ApiClient, path: str, *, what: str) -> dict[str, Any]:
    """GET `path` as JSON with short timeouts; `_Unreachable` when the server did not answer."""
    try:
        with kube_errors(what):
            request = api.param_serialize(
                "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
            )
            response = api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            data = response.response.data  # the urllib3 body (`read()` is unannotated)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
            if not 200 <= response.status <= 299:
                raise ApiException.from_response(http_resp=response, body=text, data=None)
    except KubeError as exc:
        if exc.status is None:
            raise _Unreachable(str(exc)) from exc
        raise
    try:
        decoded = json.loads(text) if text else {}
    except ValueError as exc:
        raise KubeError(f"{what}: the answer is not JSON") from exc
    return decoded if isinstance(decoded, dict) else {}
