"""An Argo CD application controller for the Kubernetes stand-in: executes `operation`.

It watches `argoproj.io/v1alpha1` Applications and, when one carries an `operation.sync`
(how `argocd app sync`, `argocd app rollback` and the bot request work), runs it on its own
thread as Argo CD does, writing through `/status` merge patches:

- `status.operationState` {operation, phase Running -> Succeeded/Failed/Error, message,
  startedAt, finishedAt, syncResult {revision, source, resources[]}}; the revision is
  resolved to a 40-hex "commit SHA" (a SHA-1 of the asked revision; SHAs pass unchanged).
- resources applied PreSync hooks -> Sync (by `argocd.argoproj.io/sync-wave`, ascending,
  a scripted ~2 s pause between waves, each wave awaited healthy) -> PostSync hooks;
  results carry `hookType`/`hookPhase`/`syncPhase` as Argo CD reports them (plain resources
  keep `hookPhase: Running`, as gitops-engine leaves them) and no wave field.
- `status.health.status` Progressing -> Healthy/Degraded, `status.sync` {status, revision,
  comparedTo}, `status.resources[]`, a new `status.history[]` entry (id increasing, at most
  `revisionHistoryLimit`, default 10), then `operation` is cleared.
- `sync.dryRun` records a result and changes nothing else; `sync.prune` prunes what a
  previous sync deployed and the new one lacks (else PruneSkipped); `sync.source` (rollback)
  replaces the source for this sync and its history entry; `sync.resources` selects.
- `status.operationState.phase: Terminating` (what `argocd app terminate-op` writes) ends a
  running sync as Failed "Operation terminated".
- `replay(app, syncs)` gives an existing app the status a list of past syncs would have left
  (for seeding a demo with history in one write each): every sync runs through the code
  above, instantly, in memory, with the given times; then the app is OutOfSync when its
  `targetRevision` names another commit than the last one deployed, as the next refresh of
  a real Argo CD would find it.

- the resources a sync applies (not hooks: Argo CD deletes those by their hook policy) are
  created or updated on the destination cluster's Kubernetes stand-in, with the label
  `app.kubernetes.io/instance: <app>` and the `argocd.argoproj.io/sync-wave` annotation of
  the script, before the result names them, and pruned ones are deleted (see `deploying`):
  enough for a reader of the live objects, such as the bot reading waves. An app whose
  `spec.destination` is not among the controller's `destinations` deploys nothing (DEBUG
  log); its sync runs all the same.

Left out: automated sync, refresh/diff against live state, multi-source apps, SyncFail
hooks, retries. What is desired is scripted (see `appscript`), not read from git; the live
objects carry no spec or status.
An app seen without a status gets an initial OutOfSync/Missing one (written only if the app
has not changed since, so it never overwrites a status someone wrote meanwhile).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bot.sandbox.argo import appscript
from bot.sandbox.argo.appscript import AppResource, AppScript
from bot.sandbox.argo.deploying import INSTANCE_LABEL, Deployer, Destination
from bot.sandbox.argo.timing import TimeScale, now_rfc3339
from bot.sandbox.argo.watching import Informer, build_api_client

log = logging.getLogger(__name__)

GROUP = "argoproj.io"
VERSION = "v1alpha1"
WAVE_PAUSE_SECONDS = 2.0
HOOK_SECONDS = 1.0
DEFAULT_HISTORY_LIMIT = 10
_SHA = re.compile(r"^[0-9a-f]{40}$")
_HEALTH_ORDER = {"Healthy": 0, "Suspended": 1, "Progressing": 2, "Missing": 3, "Degraded": 4}
#: The kinds whose image or spec a new revision changes: what a moved target makes OutOfSync.
_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Rollout"})


@dataclass(frozen=True)
class PastSync:
    """One sync that happened before the sandbox started, for `ApplicationController.replay`.

    It deploys `revision` as the app's `targetRevision` of the time (what a release bump of the
    target followed by a sync leaves), so its history entry names that revision.

    Args:
        revision: the branch, tag or SHA that was synced.
        finished_at: when it ended (a timezone-aware time).
        initiated_by: the user who asked for it; None for an automated sync.
        seconds: how long it took.
    """

    revision: str
    finished_at: dt.datetime
    initiated_by: str | None = None
    seconds: float = 60.0


class ApplicationController:
    """Executes the operations of every Application of one (Argo CD) cluster.

    Args:
        api_url: the Kubernetes API server where Argo CD's Applications live.
        token: bearer token with rights on applications and configmaps.
        time_scale: factor applied to scripted durations (hooks, waits between waves).
        destinations: the clusters it deploys to, by the names and server URLs Applications
            give as `spec.destination`; others get nothing deployed.
    """

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        time_scale: float = 1.0,
        destinations: Mapping[str, Destination] | None = None,
    ) -> None:
        self._api_client = build_api_client(url=api_url, token=token)
        self.deployer = Deployer(destinations)
        self.api = client.CustomObjectsApi(self._api_client)
        self.core = client.CoreV1Api(self._api_client)
        self.time = TimeScale(time_scale)
        self._lock = threading.Lock()
        self._running: dict[str, _SyncRun] = {}
        #: uid -> resourceVersion at which our last operation was cleared: older events are
        #: echoes of that operation, not new requests (the stand-in's versions are counters).
        self._cleared_at: dict[str, int] = {}
        self._stopping = threading.Event()
        self._informer = Informer(
            api=self.api,
            group=GROUP,
            version=VERSION,
            plural="applications",
            handler=self._on_event,
            name="sandbox-application-controller",
        )

    def start(self) -> ApplicationController:
        self._informer.start()
        return self

    def stop(self) -> None:
        """Stop watching, cancel running syncs and join every thread."""
        self._stopping.set()
        self._informer.stop()
        with self._lock:
            runs = list(self._running.values())
        for run in runs:
            run.cancel()
        for run in runs:
            run.join()
        self.deployer.close()
        self._api_client.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated

    def __enter__(self) -> ApplicationController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_synced(self, timeout: float = 10.0) -> bool:
        return self._informer.synced.wait(timeout)

    def script_app(
        self,
        name: str,
        *,
        resources: list[AppResource] | tuple[AppResource, ...] | None = None,
        fail_revisions: tuple[str, ...] = (),
        namespace: str = "argocd",
    ) -> None:
        """Script app `name` by writing its `sandbox-app-<name>` ConfigMap (create or replace)."""
        body = client.V1ConfigMap(
            api_version="v1",
            kind="ConfigMap",
            metadata=client.V1ObjectMeta(name=appscript.configmap_name(name), namespace=namespace),
            data=appscript.to_configmap_data(
                resources if resources is not None else appscript.default_resources(name), fail_revisions
            ),
        )
        try:
            self.core.create_namespaced_config_map(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.core.replace_namespaced_config_map(appscript.configmap_name(name), namespace, body)

    def replay(self, name: str, syncs: Sequence[PastSync], *, namespace: str = "argocd") -> dict[str, Any]:
        """Give the existing app `name` the status its past `syncs` would have left; returns it.

        Each sync runs through the same code as a requested one (scripted resources, hooks,
        waves, failing revisions, history), instantly and in memory, with the given times;
        nothing is written in between. Then one `/status` write: the last sync's
        `operationState`, `resources`, `health`, `sync` and the `history` of the successful
        ones. The app is OutOfSync, its workloads too, when its `targetRevision` resolves to
        another commit than the last one deployed. For seeding: a sync that would wait forever
        (a resource scripted to stay Progressing) is refused.

        Raises:
            ValueError: a replayed sync would never end.
            ApiException: the app does not exist (404), or the API server refused.
        """
        # The generated client types a custom object as `object`; it is the decoded JSON body.
        app = cast(
            dict[str, Any],
            self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, "applications", name),
        )
        stored = copy.deepcopy(app.get("status") or {})
        app["status"] = copy.deepcopy(stored)
        script = self.script_for(app)
        for sync in syncs:
            run = _ReplayedSync(controller=self, app=app, script=script, sync=sync)
            run.replay()
            app["status"] = run.app["status"]
        status = app["status"]
        source = _source_of(app)
        target = str(source.get("targetRevision") or "HEAD")
        deployed = (status.get("sync") or {}).get("revision")
        if status.get("sync"):
            status["sync"]["comparedTo"] = _compared_to(app, source)  # today's target, not the past one
        if deployed and _commit_sha(target, source) != deployed:
            status["sync"]["status"] = "OutOfSync"
            for resource in status.get("resources") or []:
                if resource.get("kind") in _WORKLOAD_KINDS:
                    resource["status"] = "OutOfSync"
        self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "applications", name, {"status": _replacing(stored, status)}
        )
        return app

    # -- events --------------------------------------------------------------------------
    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata", {})
        uid = meta.get("uid", "")
        with self._lock:
            run = self._running.get(uid)
            if kind == "DELETED":
                if run is not None:
                    run.cancel()
                return
            if run is not None:
                run.observe(obj)
                return
            if not obj.get("operation"):
                run = None
            elif _version(meta) <= self._cleared_at.get(uid, -1) or self._stopping.is_set():
                return
            else:
                run = _SyncRun(controller=self, app=obj)
                self._running[uid] = run
        if run is not None:
            run.start()
        elif not obj.get("status"):
            self._initialise(obj)

    def _initialise(self, app: dict[str, Any]) -> None:
        """Give a brand-new app the status Argo CD's first reconciliation would."""
        meta = app["metadata"]
        status = {
            "sync": {"status": "OutOfSync", "comparedTo": _compared_to(app, _source_of(app))},
            "health": {"status": "Missing"},
            "resources": [],
            "reconciledAt": now_rfc3339(),
        }
        # The resourceVersion makes the write conditional: if anyone changed the app since this
        # event (a sync request, a replayed history), their version wins and this one is dropped.
        body = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": status}
        try:
            self.api.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta.get("namespace", "argocd"), "applications", meta["name"], body
            )
        except ApiException as exc:
            log.debug("could not initialise app %s: HTTP %s", meta["name"], exc.status)

    def finished(self, uid: str, cleared_version: int) -> None:
        with self._lock:
            self._running.pop(uid, None)
            self._cleared_at[uid] = cleared_version

    def script_for(self, app: dict[str, Any]) -> AppScript:
        meta = app["metadata"]
        try:
            configmap = self.core.read_namespaced_config_map(
                appscript.configmap_name(meta["name"]), meta.get("namespace", "argocd")
            )
            data = dict(configmap.data or {})
        except ApiException as exc:
            if exc.status != 404:
                raise
            data = None
        return appscript.from_sources(app=app, configmap_data=data)


class _Cancelled(Exception):
    """Controller stopping or app deleted: write nothing more."""


class _SyncRun:
    """One sync operation on its own thread."""

    def __init__(self, *, controller: ApplicationController, app: dict[str, Any]) -> None:
        self._controller = controller
        self._api = controller.api
        self.app = app
        meta = app["metadata"]
        self.name: str = meta["name"]
        self.namespace: str = meta.get("namespace", "argocd")
        self.uid: str = meta.get("uid", "")
        self._cancelled = threading.Event()
        self._terminating = threading.Event()
        self._interrupt = threading.Event()  # either of the above
        self._thread = threading.Thread(target=self._run, name=f"sandbox-sync-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def cancel(self) -> None:
        self._cancelled.set()
        self._interrupt.set()

    def observe(self, app: dict[str, Any]) -> None:
        if app.get("status", {}).get("operationState", {}).get("phase") == "Terminating":
            self._terminating.set()
            self._interrupt.set()

    # -- main ----------------------------------------------------------------------------
    def _run(self) -> None:
        cleared = -1
        try:
            self._sync()
            cleared = self._clear_operation()
        except _Cancelled:
            pass
        except Exception:
            log.exception("sync of %s crashed the sandbox controller", self.name)
            try:
                self._write(
                    {
                        "operationState": {
                            **self.state,
                            "phase": "Error",
                            "finishedAt": now_rfc3339(),
                            "message": "sandbox controller error",
                        }
                    }
                )
                cleared = self._clear_operation()
            except Exception:
                log.debug("could not record the error of %s", self.name)
        finally:
            self._controller.finished(self.uid, cleared)

    def _now(self, *, end: bool) -> str:
        """The time written as the sync's start (`end=False`) or end."""
        return now_rfc3339()

    def _script(self) -> AppScript:
        return self._controller.script_for(self.app)

    def _sync(self) -> None:
        operation = self.app["operation"]
        sync = operation.get("sync") or {}
        dry_run = bool(sync.get("dryRun"))
        source = sync.get("source") or _source_of(self.app)
        asked = str(sync.get("revision") or source.get("targetRevision") or "HEAD")
        revision = _commit_sha(asked, source)
        started = self._now(end=False)
        self.results: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {
            "operation": operation,
            "phase": "Running",
            "message": "",
            "startedAt": started,
            "syncResult": {"revision": revision, "source": source, "resources": self.results},
        }
        # Argo CD replaces the whole operationState: null what the previous operation left
        # (its revision, its info), or a merge patch would keep it.
        previous = (self.app.get("status") or {}).get("operationState") or {}
        first: dict[str, Any] = {"operationState": _replacing(previous, self.state)}
        if not dry_run:
            first["health"] = {"status": "Progressing"}
        self._write(first)

        script = self._script()
        default_ns = self.app.get("spec", {}).get("destination", {}).get("namespace") or "default"
        desired = [r for r in script.resources if _selected(r, sync.get("resources"))]
        failing = script.fails(asked, revision)
        # where a failing revision fails: the first resource that says why, else the first one
        fails_anywhere = failing and not any(r.revision_error for r in desired)
        try:
            failure = self._apply_all(
                desired=desired,
                default_ns=default_ns,
                dry_run=dry_run,
                failing_revision=failing,
                fails_anywhere=fails_anywhere,
            )
        except _Terminated:
            failure = "Operation terminated"
        if not failure and sync.get("resources") is None:
            self._prune(
                desired=desired, default_ns=default_ns, prune=bool(sync.get("prune")), dry_run=dry_run
            )
        finished = self._now(end=True)
        if failure:
            self.state.update(phase="Failed", message=failure, finishedAt=finished)
        else:
            self.state.update(
                phase="Succeeded", message="successfully synced (all tasks run)", finishedAt=finished
            )
        update: dict[str, Any] = {"operationState": self.state}
        if not dry_run:
            update.update(
                self._outcome(
                    desired=desired,
                    default_ns=default_ns,
                    source=source,
                    revision=revision,
                    failed=bool(failure),
                    started=started,
                    finished=finished,
                )
            )
        self._write(update)

    def _apply_all(
        self,
        *,
        desired: list[AppResource],
        default_ns: str,
        dry_run: bool,
        failing_revision: bool,
        fails_anywhere: bool,
    ) -> str | None:
        """Apply hooks and resources phase by phase, wave by wave; the failure message or None."""
        for phase in appscript.HOOK_TYPES:
            in_phase = [r for r in desired if (r.hook or "Sync") == phase]
            for index, wave in enumerate(sorted({r.wave for r in in_phase})):
                if index or phase != "PreSync":
                    self._pause(WAVE_PAUSE_SECONDS if index else 0.0)
                members = [r for r in in_phase if r.wave == wave]
                for resource in members:
                    fails_here = failing_revision and (fails_anywhere or bool(resource.revision_error))
                    failure = self._apply(
                        resource, default_ns=default_ns, dry_run=dry_run, failing_revision=fails_here
                    )
                    if failure:
                        return failure
                if not dry_run:
                    self._await_healthy([r for r in members if not r.hook], default_ns=default_ns)
        return None

    def _apply(
        self, resource: AppResource, *, default_ns: str, dry_run: bool, failing_revision: bool
    ) -> str | None:
        ns = resource.namespace or default_ns
        suffix = " (dry run)" if dry_run else ""
        result: dict[str, Any] = {
            "group": resource.group,
            "version": resource.version,
            "kind": resource.kind,
            "namespace": ns,
            "name": resource.name,
            "syncPhase": resource.hook or "Sync",
        }
        revision_error = resource.revision_error or "revision is scripted to fail"
        error = resource.sync_error or (revision_error if failing_revision else None)
        if resource.hook:
            result.update(
                status="",
                hookType=resource.hook,
                hookPhase="Running",
                message=f"{_ref(resource)} created{suffix}",
            )
            self.results.append(result)
            self._write({"operationState": self.state})
            if not dry_run:
                self._pause(HOOK_SECONDS)
            if error and not dry_run:
                result.update(hookPhase="Failed", message=error)
                self._write({"operationState": self.state})
                return "one or more synchronization tasks completed unsuccessfully"
            result.update(hookPhase="Succeeded", message=f"{_ref(resource)} completed{suffix}")
            self._write({"operationState": self.state})
            return None
        if error:
            result.update(status="SyncFailed", hookPhase="Failed", message=error)
            self.results.append(result)
            self._write({"operationState": self.state})
            return f"one or more objects failed to apply, reason: {error}"
        verb = "configured" if self._was_deployed(resource, ns) else "created"
        if not dry_run:
            self._deploy(resource, ns)
        result.update(status="Synced", hookPhase="Running", message=f"{_ref(resource)} {verb}{suffix}")
        self.results.append(result)
        self._write({"operationState": self.state})
        return None

    def _await_healthy(self, members: list[AppResource], *, default_ns: str) -> None:
        """Argo CD waits for a wave to be healthy before the next; Progressing forever blocks."""
        waiting = [r for r in members if r.progressing_seconds or r.health == "Progressing"]
        if not waiting:
            return
        blocking = next((r for r in waiting if r.health == "Progressing"), None)
        target = blocking or max(waiting, key=lambda r: r.progressing_seconds)
        self.state["message"] = (
            f"waiting for healthy state of {target.group or ''}/{target.kind}/{target.name}"
        )
        self._write({"operationState": self.state})
        if blocking is not None:
            self._pause(float("inf"))
        self._pause(target.progressing_seconds)
        self.state["message"] = ""

    def _prune(self, *, desired: list[AppResource], default_ns: str, prune: bool, dry_run: bool) -> None:
        wanted = {(r.kind, r.namespace or default_ns, r.name) for r in desired if not r.hook}
        for live in self.app.get("status", {}).get("resources") or []:
            key = (live.get("kind"), live.get("namespace"), live.get("name"))
            if key in wanted:
                continue
            ref = f"{live.get('kind', '').lower()}/{live.get('name')}"
            result = {k: live.get(k, "") for k in ("group", "version", "kind", "namespace", "name")}
            if prune:
                if not dry_run:
                    self._undeploy(live)
                result.update(
                    status="Pruned", message="pruned" + (" (dry run)" if dry_run else ""), syncPhase="Sync"
                )
            else:
                result.update(
                    status="PruneSkipped", message=f"ignored (requires pruning): {ref}", syncPhase="Sync"
                )
            self.results.append(result)

    def _outcome(
        self,
        *,
        desired: list[AppResource],
        default_ns: str,
        source: dict[str, Any],
        revision: str,
        failed: bool,
        started: str,
        finished: str,
    ) -> dict[str, Any]:
        """The app-level status after a real (not dry) sync."""
        status = self.app.get("status") or {}
        applied = {
            (r["kind"], r["namespace"], r["name"]) for r in self.results if r.get("status") == "Synced"
        }
        pruned = {(r["kind"], r["namespace"], r["name"]) for r in self.results if r.get("status") == "Pruned"}
        summary: list[dict[str, Any]] = []
        for resource in desired:
            if resource.hook:
                continue
            ns = resource.namespace or default_ns
            deployed = (resource.kind, ns, resource.name) in applied
            summary.append(
                {
                    "group": resource.group,
                    "version": resource.version,
                    "kind": resource.kind,
                    "namespace": ns,
                    "name": resource.name,
                    "status": "Synced" if deployed else "OutOfSync",
                    "health": {"status": resource.health if deployed else "Missing"},
                }
            )
        for live in status.get("resources") or []:
            key = (live.get("kind"), live.get("namespace"), live.get("name"))
            if key not in pruned and not any((s["kind"], s["namespace"], s["name"]) == key for s in summary):
                summary.append({**live, "status": "OutOfSync"})
        health = max(
            (s["health"]["status"] for s in summary), key=lambda h: _HEALTH_ORDER.get(h, 0), default="Healthy"
        )
        if failed:
            health = "Degraded"
        update: dict[str, Any] = {
            "resources": summary,
            "health": {"status": health},
            "reconciledAt": finished,
            "sync": {
                "status": "OutOfSync"
                if failed or any(s["status"] != "Synced" for s in summary)
                else "Synced",
                "revision": revision if not failed else status.get("sync", {}).get("revision", revision),
                "comparedTo": _compared_to(self.app, source),
            },
        }
        if not failed:
            history = list(status.get("history") or [])
            entry = {
                "id": max((int(h.get("id", 0)) for h in history), default=-1) + 1,
                "revision": revision,
                "deployedAt": finished,
                "deployStartedAt": started,
                "source": source,
                "initiatedBy": self.app["operation"].get("initiatedBy") or {},
            }
            limit = int(self.app.get("spec", {}).get("revisionHistoryLimit") or DEFAULT_HISTORY_LIMIT)
            update["history"] = [*history, entry][-limit:]
        return update

    # -- the destination cluster ---------------------------------------------------------
    def _destination(self) -> Destination | None:
        destination = self.app.get("spec", {}).get("destination") or {}
        where = self._controller.deployer.target(destination)
        if where is None:
            log.debug(
                "app %s: destination %s is not one this Argo CD reaches; not deployed", self.name, destination
            )
        return where

    def _deploy(self, resource: AppResource, ns: str) -> None:
        """Apply one resource as Argo CD would: its wave annotation, the app's instance label."""
        where = self._destination()
        if where is None:
            return
        try:
            self._controller.deployer.apply(
                where,
                api_version=resource.api_version,
                kind=resource.kind,
                namespace=ns,
                name=resource.name,
                labels={INSTANCE_LABEL: self.name},
                annotations={appscript.WAVE_ANNOTATION: str(resource.wave)},
            )
        except (ApiException, HTTPError, OSError) as exc:
            log.warning(
                "app %s: could not deploy %s to %s: %s", self.name, _ref(resource), where.api_url, exc
            )

    def _undeploy(self, live: dict[str, Any]) -> None:
        """Delete a pruned resource from the destination."""
        where = self._destination()
        if where is None:
            return
        group, version = str(live.get("group") or ""), str(live.get("version") or "v1")
        try:
            self._controller.deployer.delete(
                where,
                api_version=f"{group}/{version}" if group else version,
                kind=str(live.get("kind")),
                namespace=str(live.get("namespace") or ""),
                name=str(live.get("name")),
            )
        except (ApiException, HTTPError, OSError) as exc:
            log.warning(
                "app %s: could not prune %s/%s: %s", self.name, live.get("kind"), live.get("name"), exc
            )

    # -- helpers -------------------------------------------------------------------------
    def _was_deployed(self, resource: AppResource, ns: str) -> bool:
        return any(
            (r.get("kind"), r.get("namespace"), r.get("name")) == (resource.kind, ns, resource.name)
            for r in self.app.get("status", {}).get("resources") or []
        )

    def _pause(self, seconds: float) -> None:
        """Wait scripted seconds; a terminate request or cancellation cuts it short."""
        if seconds == float("inf"):
            self._interrupt.wait()
        elif seconds:
            self._controller.time.wait(seconds, cancel=self._interrupt)
        if self._cancelled.is_set():
            raise _Cancelled
        if self._terminating.is_set():
            raise _Terminated

    def _write(self, status: dict[str, Any]) -> None:
        if self._cancelled.is_set():
            raise _Cancelled
        try:
            self._api.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, "applications", self.name, {"status": status}
            )
        except ApiException as exc:
            if exc.status == 404:
                raise _Cancelled from exc
            raise

    def _clear_operation(self) -> int:
        # The generated client types a custom object as `object`; it is the decoded JSON body.
        answer = cast(
            dict[str, Any],
            self._api.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "applications", self.name, {"operation": None}
            ),
        )
        return _version(answer.get("metadata", {}))


class _ReplayedSync(_SyncRun):
    """A past sync for `ApplicationController.replay`: no waiting, no writes, the given times."""

    def __init__(
        self, *, controller: ApplicationController, app: dict[str, Any], script: AppScript, sync: PastSync
    ) -> None:
        operation: dict[str, Any] = {"sync": {"revision": sync.revision}}
        operation["initiatedBy"] = (
            {"username": sync.initiated_by} if sync.initiated_by else {"automated": True}
        )
        then = copy.deepcopy(app)
        spec = then.setdefault("spec", {})
        if spec.get("source"):
            spec["source"]["targetRevision"] = sync.revision
        elif spec.get("sources"):
            spec["sources"][0]["targetRevision"] = sync.revision
        super().__init__(controller=controller, app={**then, "operation": operation})
        self._replayed_script = script
        self._times = (
            _rfc3339(sync.finished_at - dt.timedelta(seconds=sync.seconds)),
            _rfc3339(sync.finished_at),
        )

    def replay(self) -> None:
        """Run the sync; `self.app["status"]` is then the status it leaves."""
        self._sync()

    def _now(self, *, end: bool) -> str:
        return self._times[1] if end else self._times[0]

    def _script(self) -> AppScript:
        return self._replayed_script

    def _deploy(self, resource: AppResource, ns: str) -> None:
        """A past sync deployed nothing that is still to be written: seeding stays in memory."""

    def _undeploy(self, live: dict[str, Any]) -> None:
        """Nothing to prune: a past sync deployed nothing."""

    def _pause(self, seconds: float) -> None:
        if seconds == float("inf"):
            raise ValueError(f"a replayed sync of {self.name} would never end (a resource stays Progressing)")

    def _write(self, status: dict[str, Any]) -> None:
        self.app["status"] = _merged(self.app.get("status") or {}, copy.deepcopy(status))


class _Terminated(Exception):
    """`argocd app terminate-op`: the sync ends Failed."""


def _merged(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`target` with a JSON merge patch applied (RFC 7386: objects merge, None deletes)."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            before = result.get(key)
            result[key] = _merged(before if isinstance(before, dict) else {}, value)
        else:
            result[key] = value
    return result


def _replacing(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch that turns `old` into exactly `new`: keys `new` lacks are set to None."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        patch[key] = (
            _replacing(before, value) if isinstance(value, dict) and isinstance(before, dict) else value
        )
    return patch


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(meta: dict[str, Any]) -> int:
    try:
        return int(meta.get("resourceVersion", "0"))
    except ValueError:
        return 0


def _source_of(app: dict[str, Any]) -> dict[str, Any]:
    spec = app.get("spec", {})
    if spec.get("source"):
        return dict(spec["source"])
    sources = spec.get("sources") or [{}]
    return dict(sources[0])


def _compared_to(app: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    return {"source": source, "destination": app.get("spec", {}).get("destination", {})}


def _commit_sha(revision: str, source: dict[str, Any]) -> str:
    """A stable fake commit SHA for a branch/tag/short SHA; full SHAs are kept."""
    if _SHA.match(revision):
        return revision
    return hashlib.sha1(f"{source.get('repoURL', '')}@{revision}".encode()).hexdigest()


def _ref(resource: AppResource) -> str:
    kind = resource.kind.lower()
    return f"{kind}.{resource.group}/{resource.name}" if resource.group else f"{kind}/{resource.name}"


def _selected(resource: AppResource, selection: list[dict[str, Any]] | None) -> bool:
    if selection is None:
        return True
    return any(
        s.get("kind") == resource.kind
        and s.get("name") == resource.name
        and s.get("group", "") == resource.group
        for s in selection
    )
