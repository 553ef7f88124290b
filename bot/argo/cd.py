"""Argo CD through the Kubernetes API: list and read Applications, request syncs and rollbacks.

The same operations as `argocd --core`: everything is a `CustomObjectsApi` call on the
`applications` of `argoproj.io/v1alpha1` in Argo CD's namespace, on the `ApiClient` of the
cluster where Argo CD runs. A sync (and a rollback, which is a sync to a `status.history[]`
entry's revision and source) is a write of the Application's `operation`, as Argo CD's own
`SetAppOperation` does it: read the app, refuse when an operation is already set ("another
operation is already in progress"), write it with a PUT that carries the resourceVersion just
read, and on a 409 (someone wrote in between) read again and retry. Argo CD's controller then
runs it and clears `operation`.

Permissions are the caller's job and come first: "not found" and "not allowed" must read the
same (Argo CD's `getAppEnforceRBAC`), so a handler reads the app, then checks the RBAC object
`object_for(summary, ...)`, and answers both failures with one sentence (`require_app` does
exactly that). The cluster part of that object is the configured cluster the app's destination
maps to, by name or alias, or by server URL compared normalised (`destination_map`,
`normalise_server`); `*` when it maps to none (docs/argocd.md).

Left out: multi-source applications, ApplicationSets, `terminate-op`, reading sync-wave
annotations from destination clusters (the tracker's job), and the parsing of Application
objects, which is pure and lives in `bot.tracking.sync_progress` (re-exported here).
Every client failure leaves as a `KubeError` (`bot.argo.errors`). Callers: the command
handlers, the approval service (rollbacks), scheduled `app-health` posts, the tracker.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from kubernetes import client

from bot.applications import (
    AppDetail,
    AppSummary,
    HistoryEntry,
    is_auto_sync,
    to_app_detail,
    to_app_summary,
    to_history_entry,
)
from bot.argo.errors import kube_errors
from bot.errors import KubeConflict, KubeNotFound, OperationInProgress, UserError
from bot.tracking.sync_progress import HEALTH_DEGRADED, PHASE_RUNNING, SYNC_SYNCED

__all__ = [
    "AppDetail",
    "AppSummary",
    "HistoryEntry",
    "KnownCluster",
    "RollbackRequest",
    "destination_cluster",
    "destination_map",
    "get_app",
    "get_app_object",
    "is_auto_sync",
    "is_server_url",
    "list_apps",
    "normalise_server",
    "object_for",
    "request_rollback",
    "request_sync",
    "require_app",
]

GROUP = "argoproj.io"
VERSION = "v1alpha1"
APPLICATIONS = "applications"

REQUEST_TIMEOUT = (5.0, 30.0)
LIST_PAGE_SIZE = 500
WRITE_ATTEMPTS = 5

# Argo CD's own words, so people who know `argocd` recognise them.
MESSAGE_IN_PROGRESS = "another operation is already in progress"
MESSAGE_AUTO_SYNC = "rollback cannot be initiated when auto-sync is enabled"
# Argo CD's name for the cluster it runs in (`https://kubernetes.default.svc`).
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
#: The cluster part of the RBAC object of an app whose destination maps to no configured cluster.
UNMAPPED = "*"
_DEFAULT_PORTS = {"https": 443, "http": 80}

RawObject = dict[str, Any]


@dataclass(frozen=True)
class RollbackRequest:
    """What a rollback asked for: from the current history entry to an older one.

    `auto_sync_disabled` is True when automated sync was on and the bot removed it (with
    `disable_auto_sync=True`), so the answer can say that it did.
    """

    current: HistoryEntry
    target: HistoryEntry
    auto_sync_disabled: bool = False


def list_apps(
    api: client.ApiClient,
    *,
    namespace: str,
    project: str | None = None,
    out_of_sync: bool = False,
    degraded: bool = False,
) -> list[AppSummary]:
    """Every Application of `namespace` (all pages), filtered, sorted by name.

    Args:
        project: keep only apps of this Argo CD project.
        out_of_sync: keep only apps whose sync status is not `Synced`.
        degraded: keep only apps whose health is `Degraded`.

    Raises:
        KubeError: the API refused or could not be reached.
    """
    apps = [to_app_summary(item) for item in _list_all(api, namespace=namespace)]
    if project:
        apps = [app for app in apps if app.project == project]
    if out_of_sync:
        apps = [app for app in apps if app.sync_status != SYNC_SYNCED]
    if degraded:
        apps = [app for app in apps if app.health_status == HEALTH_DEGRADED]
    return sorted(apps, key=lambda app: app.name)


def pinned_apps(api: client.ApiClient, *, namespace: str) -> list[RawObject]:
    """The Applications of `namespace` a rollback pinned (auto-sync off, `PIN_ANNOTATION` set)."""
    return [
        app
        for app in _list_all(api, namespace=namespace)
        if PIN_ANNOTATION in ((app.get("metadata") or {}).get("annotations") or {}) and not is_auto_sync(app)
    ]


def get_app_object(api: client.ApiClient, *, namespace: str, name: str) -> RawObject:
    """One Application as the API returns it (raw, for the tracker).

    Raises:
        KubeNotFound: no such Application.
        KubeError: any other failure.
    """
    with kube_errors(f"get Application {namespace}/{name}"):
        obj = _custom(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, APPLICATIONS, name, _request_timeout=REQUEST_TIMEOUT
        )
    return cast(RawObject, obj)


def get_app(api: client.ApiClient, *, namespace: str, name: str) -> AppDetail:
    """One Application's detail: status, source, last operation and history.

    Raises:
        KubeNotFound: no such Application.
        KubeError: any other failure.
    """
    return to_app_detail(get_app_object(api, namespace=namespace, name=name))


def require_app(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    allowed: Callable[[AppSummary], bool],
    denial: str,
) -> AppDetail:
    """Read an app and check the caller may act on it, answering "missing" and "refused" alike.

    As Argo CD's `getAppEnforceRBAC`: the RBAC object needs the app's project, so the app is
    read first, but a missing app and a refused one raise the same `UserError(denial)`, so the
    answer never tells which apps exist.

    Args:
        allowed: the permission check on the app (e.g. the enforcer on `object_for(summary, ...)`).
        denial: the one sentence shown in both cases.

    Raises:
        UserError: missing or not allowed (the same text).
        KubeError: any other failure.
    """
    try:
        detail = get_app(api, namespace=namespace, name=name)
    except KubeNotFound:
        raise UserError(denial) from None
    if not allowed(detail.summary):
        raise UserError(denial)
    return detail


def build_operation(
    *,
    username: str,
    revision: str | None = None,
    prune: bool = False,
    dry_run: bool = False,
    resources: Sequence[Mapping[str, str]] = (),
    sync_options: Sequence[str] = (),
    source: Mapping[str, Any] | None = None,
    info: Sequence[tuple[str, str]] = (),
) -> RawObject:
    """The `operation` to write (pure), in Argo CD's shape.

    `sync` {`revision`, `prune`, `dryRun`, `syncStrategy`, `resources`, `syncOptions`,
    `source`}, `initiatedBy` {`username`, `automated`}, `info` [{name, value}]. Empty lists and
    an absent source are left out, as Argo CD's `omitempty` leaves them out: an empty
    `resources` would otherwise mean "sync nothing". The strategy is Argo CD's default
    (`hook`), spelled out.
    """
    sync: RawObject = {
        "revision": revision or "",
        "prune": prune,
        "dryRun": dry_run,
        "syncStrategy": {"hook": {}},
    }
    if resources:
        sync["resources"] = [dict(resource) for resource in resources]
    if sync_options:
        sync["syncOptions"] = list(sync_options)
    if source is not None:
        sync["source"] = copy.deepcopy(dict(source))
    operation: RawObject = {"sync": sync, "initiatedBy": {"username": username, "automated": False}}
    if info:
        operation["info"] = [{"name": name, "value": value} for name, value in info]
    return operation


def request_sync(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    username: str,
    revision: str | None = None,
    prune: bool = False,
    dry_run: bool = False,
    info: Sequence[tuple[str, str]] = (),
    attempts: int = WRITE_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> RawObject:
    """Ask Argo CD to sync `name` (to `revision`, else the app's target revision).

    Args:
        username: who asked, as Argo CD records it in `initiatedBy` and the history.
        info: extra name/value pairs shown by Argo CD with the operation (e.g. the Slack thread).

    Returns:
        the Application as written (its `metadata.resourceVersion` is where a watch can start).

    Raises:
        OperationInProgress: an operation is already set or running.
        KubeNotFound: no such Application.
        KubeConflict: still conflicting after `attempts` tries.
        KubeError: any other failure.
    """
    operation = build_operation(username=username, revision=revision, prune=prune, dry_run=dry_run, info=info)

    def change(app: RawObject) -> None:
        app["operation"] = operation

    return _set_operation(api, namespace=namespace, name=name, change=change, attempts=attempts, sleep=sleep)


def request_rollback(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    history_id: int | None,
    username: str,
    prune: bool = False,
    disable_auto_sync: bool = False,
    info: Sequence[tuple[str, str]] = (),
    expected_revision: str | None = None,
    pin: Mapping[str, str] | None = None,
    attempts: int = WRITE_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> RollbackRequest:
    """Roll `name` back to the history entry `history_id` (None: the one before the current).

    A sync to that entry's `revision` with its `source`, as `argocd app rollback` writes it.
    Argo CD refuses it while automated sync is on (auto-sync would undo it at once); with
    `disable_auto_sync` the bot removes `spec.syncPolicy.automated` instead, in the same
    write as the operation, so auto-sync cannot fire in between, and records in the
    annotation `PIN_ANNOTATION` what it removed and `pin` (who, where), so `autosync APP on`
    can restore it and the app can be reminded of until then.

    Raises:
        UserError: no such history entry (the message lists the ids), not enough history, or
            auto-sync is on (Argo CD's message, and how to turn it off), or the entry no longer
            deploys `expected_revision` (history rewritten since the request was shown).
        OperationInProgress: an operation is already set or running.
        KubeNotFound: no such Application.
        KubeError: any other failure.
    """
    plan: list[RollbackRequest] = []

    def change(app: RawObject) -> None:
        plan.clear()
        history = _history(app)
        current, target_raw = _pick(history, history_id=history_id, app_name=name)
        target = to_history_entry(target_raw)
        if expected_revision is not None and target.revision != expected_revision:
            raise UserError(
                f"History entry {target.id} of `{name}` now deploys `{target.revision[:12]}`, not the "
                f"`{expected_revision[:12]}` that was shown for approval, so nothing was rolled back. "
                "Ask for the rollback again."
            )
        disabled = False
        if is_auto_sync(app):
            if not disable_auto_sync:
                raise UserError(
                    f"Argo CD says: {MESSAGE_AUTO_SYNC}. Turn automated sync off for `{name}` "
                    "(`argocd app set " + name + " --sync-policy none`) and ask again."
                )
            removed = app["spec"]["syncPolicy"].pop("automated", None)
            disabled = True
            note = {**(pin or {}), "automated": removed if isinstance(removed, dict) else {}}
            annotations = app.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[PIN_ANNOTATION] = json.dumps(note, sort_keys=True)
        source = target_raw.get("source")
        if not isinstance(source, Mapping) or not source.get("repoURL"):
            raise UserError(
                f"History entry {target.id} of `{name}` has no source to roll back to "
                "(it was deployed by a multi-source app or a very old Argo CD)."
            )
        app["operation"] = build_operation(
            username=username, revision=target.revision, prune=prune, source=source, info=info
        )
        plan.append(RollbackRequest(current=current, target=target, auto_sync_disabled=disabled))

    _set_operation(api, namespace=namespace, name=name, change=change, attempts=attempts, sleep=sleep)
    return plan[-1]


#: On an Application rolled back with auto-sync on: the automated policy the bot removed, and
#: when, by whom, where (JSON); `autosync APP on` restores the policy and removes the note.
PIN_ANNOTATION = "argo-chatops/auto-sync-pinned"


def set_auto_sync(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    on: bool,
    attempts: int = WRITE_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Turn automated sync on (restoring the policy a rollback removed, if any) or off.

    Returns whether anything changed. A conditional write (the read resourceVersion), retried
    on 409, like every write of the bot to an Application.

    Raises:
        KubeNotFound: no such Application.
        KubeError: any other failure.
    """

    def change(app: RawObject) -> bool:
        annotations = (app.get("metadata") or {}).get("annotations") or {}
        policy = app.setdefault("spec", {}).setdefault("syncPolicy", {})
        if on:
            if is_auto_sync(app) and PIN_ANNOTATION not in annotations:
                return False
            policy["automated"] = pinned_policy(annotations.get(PIN_ANNOTATION))
            annotations.pop(PIN_ANNOTATION, None)
        else:
            if not is_auto_sync(app):
                return False
            policy.pop("automated", None)
        app.setdefault("metadata", {})["annotations"] = annotations
        return True

    what = f"set the sync policy of Application {namespace}/{name}"
    written = _replace_app(
        api, namespace=namespace, name=name, change=change, what=what, attempts=attempts, sleep=sleep
    )
    return written is not None


def pinned_policy(note: object) -> dict[str, Any]:
    """The automated policy a rollback removed, from its pin note (`{}` when unknown)."""
    try:
        parsed = json.loads(note) if isinstance(note, str) else {}
    except ValueError:
        return {}
    automated = parsed.get("automated") if isinstance(parsed, dict) else None
    return dict(automated) if isinstance(automated, dict) else {}


def normalise_server(url: str) -> str:
    """An API server URL in one spelling, so two spellings of one server compare equal.

    Scheme and host in lower case, the default port (443 for https, 80 for http) left out,
    no user info, query, fragment or trailing slash: `HTTPS://ABC.eks.amazonaws.com:443/` ->
    `https://abc.eks.amazonaws.com`. A path is kept as it is (some API servers sit under one,
    e.g. behind Rancher). Text that is not a URL with a host is only stripped of spaces and a
    trailing slash.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text.rstrip("/")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return text.rstrip("/")
    if ":" in host:  # an IPv6 literal goes back between brackets
        host = f"[{host}]"
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


def is_server_url(destination: str) -> bool:
    """Whether an app's destination is a `server` URL (else it is a cluster `name`)."""
    return "://" in destination


@dataclass(frozen=True)
class KnownCluster:
    """What is known of one configured cluster to recognise it as an Argo CD destination.

    Attributes:
        name: the bot's name for it (also a destination name that means it).
        api_url: its API server as the bot reaches it (a token cluster's `server`, a
            kubeconfig context's server, an EKS endpoint from DescribeCluster); None unknown.
        server_urls: more URLs Argo CD may know it by (`server_urls:` in the config).
        aliases: more destination names Argo CD may know it by (`aliases:` in the config).
    """

    name: str
    api_url: str | None = None
    server_urls: Sequence[str] = ()
    aliases: Sequence[str] = ()


def destination_map(*, host: str, clusters: Iterable[KnownCluster]) -> dict[str, str]:
    """Argo CD destination (name, or normalised server URL) -> the bot's cluster name.

    For the apps of the Argo CD that runs on the configured cluster `host`: every cluster is
    known by its name, its aliases, its API URL and its `server_urls`; Argo CD's own cluster
    (`in-cluster`, `https://kubernetes.default.svc`) is always `host`, whatever else claims it.
    A name or URL that two clusters claim maps to neither (it stays unmapped, so it is refused
    for writes rather than given to the wrong cluster).
    """
    claims: dict[str, set[str]] = {}
    for cluster in clusters:
        names = {cluster.name, *cluster.aliases}
        urls = {normalise_server(url) for url in (cluster.api_url, *cluster.server_urls) if url}
        for key in names | urls:
            claims.setdefault(key, set()).add(cluster.name)
    mapping = {key: next(iter(owners)) for key, owners in claims.items() if len(owners) == 1}
    mapping[IN_CLUSTER_NAME] = host
    mapping[normalise_server(IN_CLUSTER_SERVER)] = host
    return mapping


def destination_cluster(destination: str, *, cluster_name_of_destination: Mapping[str, str]) -> str | None:
    """The configured cluster an Argo CD destination (name or server URL) maps to, or None.

    Server URLs are compared normalised (`normalise_server`), on both sides; names exactly.
    """
    if is_server_url(destination):
        wanted = normalise_server(destination)
        for key, cluster in cluster_name_of_destination.items():
            if is_server_url(key) and normalise_server(key) == wanted:
                return cluster
        return None
    if not destination:  # Argo CD refuses an app without a destination; so does the bot
        return None
    return cluster_name_of_destination.get(destination)


def object_for(app: AppSummary, *, cluster_name_of_destination: Mapping[str, str]) -> str:
    """The RBAC object of an app: `<cluster>/<project>/<app>`.

    The cluster is the bot's name for the app's destination (`destination_cluster`: its
    destination name or alias, or its server URL, mapped by `destination_map`). A destination
    that maps to no configured cluster gets `*` (`UNMAPPED`) as its cluster: only rules whose
    cluster part is `*` can match it, so a rule on a named cluster never grants it. Such an app
    is never written to (`sync`, `rollback`), and the commands read it only when no rule denies
    the same app on any configured cluster either (`bot.commands.app_verbs`), since it may be
    one of them under a name or URL the bot was not told.
    """
    cluster = destination_cluster(app.cluster, cluster_name_of_destination=cluster_name_of_destination)
    return f"{cluster or UNMAPPED}/{app.project}/{app.name}"


# -- pieces ----------------------------------------------------------------------------------------


def _set_operation(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    change: Callable[[RawObject], None],
    attempts: int,
    sleep: Callable[[float], None],
) -> RawObject:
    """Read, refuse if busy, apply `change`, PUT with the read resourceVersion; retry a 409.

    A PUT (not a merge patch) makes the write conditional on the version read, so the
    "already in progress" check cannot race with another writer: if anyone wrote in between,
    the server answers 409 and the check runs again on the fresh object.
    """

    def busy_then_change(app: RawObject) -> bool:
        state = (app.get("status") or {}).get("operationState") or {}
        if app.get("operation") is not None or state.get("phase") == PHASE_RUNNING:
            raise OperationInProgress(
                f"Argo CD says: {MESSAGE_IN_PROGRESS} on `{name}`. "
                "Wait for it to finish (see `app " + name + "`), then ask again."
            )
        app.setdefault("spec", {}).setdefault("syncPolicy", {})
        change(app)
        if not app["spec"]["syncPolicy"]:
            del app["spec"]["syncPolicy"]
        return True

    what = f"write the operation of Application {namespace}/{name}"
    written = _replace_app(
        api,
        namespace=namespace,
        name=name,
        change=busy_then_change,
        what=what,
        attempts=attempts,
        sleep=sleep,
    )
    assert written is not None  # busy_then_change always writes
    return written


def _replace_app(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    change: Callable[[RawObject], bool],
    what: str,
    attempts: int,
    sleep: Callable[[float], None],
) -> RawObject | None:
    """Read, `change` (False: nothing to write), PUT with the read resourceVersion; retry a 409.

    A PUT (not a merge patch) makes the write conditional on the version read, so a check in
    `change` cannot race with another writer: if anyone wrote in between, the server answers
    409 and `change` runs again on the fresh object. None when `change` wrote nothing.
    """
    for attempt in range(1, attempts + 1):
        app = get_app_object(api, namespace=namespace, name=name)
        if not change(app):
            return None
        try:
            with kube_errors(what):
                written = _custom(api).replace_namespaced_custom_object(
                    GROUP, VERSION, namespace, APPLICATIONS, name, app, _request_timeout=REQUEST_TIMEOUT
                )
        except KubeConflict:
            if attempt == attempts:
                raise
            sleep(0.05 * 2**attempt)
            continue
        return cast(RawObject, written)
    raise AssertionError("unreachable: the loop returns or raises")


def _history(app: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = (app.get("status") or {}).get("history") or []
    entries = [entry for entry in raw if isinstance(entry, Mapping)]
    return sorted(entries, key=lambda entry: to_history_entry(entry).id)


def _pick(
    history: list[Mapping[str, Any]], *, history_id: int | None, app_name: str
) -> tuple[HistoryEntry, Mapping[str, Any]]:
    """The current entry and the raw entry to roll back to."""
    if not history:
        raise UserError(f"`{app_name}` has no deploy history yet: there is nothing to roll back to.")
    current = to_history_entry(history[-1])
    if history_id is None:
        if len(history) < 2:
            raise UserError(
                f"`{app_name}` has only one entry in its history (id {current.id}): "
                "there is no earlier deploy to roll back to."
            )
        return current, history[-2]
    for entry in history:
        if to_history_entry(entry).id == history_id:
            return current, entry
    ids = ", ".join(str(to_history_entry(entry).id) for entry in reversed(history))
    raise UserError(
        f"`{app_name}` has no history entry {history_id}. Its ids, newest first: {ids} "
        f"(see `history {app_name}`)."
    )


def _custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def _list_all(api: client.ApiClient, *, namespace: str) -> list[RawObject]:
    """Every Application of `namespace`, following `continue` tokens page by page."""
    items: list[RawObject] = []
    token: str | None = None
    custom = _custom(api)
    while True:
        kwargs: dict[str, Any] = {"limit": LIST_PAGE_SIZE, "_request_timeout": REQUEST_TIMEOUT}
        if token:
            kwargs["_continue"] = token
        with kube_errors(f"list Applications in {namespace}"):
            page = cast(
                RawObject,
                custom.list_namespaced_custom_object(GROUP, VERSION, namespace, APPLICATIONS, **kwargs),
            )
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return items
