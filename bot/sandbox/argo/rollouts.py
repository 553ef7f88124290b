"""An Argo Rollouts controller for the Kubernetes stand-in: canary steps, pauses, analysis, abort.

It watches `argoproj.io/v1alpha1` Rollouts and drives `spec.strategy.canary.steps` the way
Argo Rollouts does, as the `kubectl argo rollouts` plugin sees it, writing `/status` merge
patches (conditional on the resourceVersion it read, so a concurrent promote is never lost):

- a new revision starts when `spec.template` changes: a ReplicaSet `<rollout>-<hash>` (label
  `rollouts-pod-template-hash`, annotation `rollout.argoproj.io/revision`, an ownerReference
  to the Rollout, the pod template) is created, or the old one for that template gets the
  next revision number (as Argo does on a rollback); the Rollout's own
  `rollout.argoproj.io/revision` annotation names the current one. The very first revision,
  and a template equal to the stable one (`status.stableRS`), are promoted at once.
- `setWeight: N`: `status.canary.weights.canary.weight` N (stable 100-N), phase Progressing
  for a scripted ~2 s (pods becoming ready), then the next step.
- `pause: {}`: a `CanaryPauseStep` entry in `status.pauseConditions`, `controllerPause`,
  phase Paused, until promoted. `pause: {duration: 30s}` (or seconds as a number) moves on
  by itself once the scripted time has passed. As in Argo, whether the step's pause was
  already added is read from the stored status (`controllerPause`, written with the step
  index), never from memory: so `controllerPause` without `pauseConditions` is a promote,
  even when a status write lost a race (409) with the promote and is decided again.
- `analysis`: an AnalysisRun `<rollout>-<hash>-<revision>-<step>` (phase Running, then after
  a scripted ~5 s Successful, or Failed when an arg `sandbox-result` is `Failed` or a
  template name starts with `fail`); `status.canary.currentStepAnalysisRunStatus`. Failed
  aborts the rollout.
- the end: `stableRS` = `currentPodHash`, weight 100, phase Healthy, `currentStepIndex` = the
  number of steps.

What the plugin writes is obeyed: promote (`status.pauseConditions` cleared and
`spec.paused: false`) ends the current pause; `status.promoteFull: true` skips every
remaining step; `status.abort: true` sets the weight to 0, phase Degraded, `abortedAt`,
message `RolloutAborted: Rollout aborted update to revision N` and the step index to 0;
clearing `abort` (retry) starts the steps again; `spec.paused: true` holds the rollout.

Left out: pods, replica counts and scaling, traffic routers (the weights are written as if
one were configured), blue-green, experiments, background analysis, `maxSurge`,
`progressDeadlineSeconds`, `dynamicStableScale`. Timing uses `TimeScale`, kept in memory
(the stand-in forgets elapsed step time when it restarts).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.argo.timing import TimeScale, now_rfc3339
from bot.sandbox.argo.watching import Informer, build_api_client

log = logging.getLogger(__name__)

GROUP = "argoproj.io"
VERSION = "v1alpha1"
ROLLOUTS = "rollouts"
ANALYSIS_RUNS = "analysisruns"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
HASH_LABEL = "rollouts-pod-template-hash"
PAUSE_REASON = "CanaryPauseStep"
ABORTED = "RolloutAborted"
#: Scripted seconds: canary pods becoming ready after a `setWeight`, an analysis run's measurement.
SET_WEIGHT_SECONDS = 2.0
ANALYSIS_SECONDS = 5.0
#: The analysis arg that scripts a result (`Failed`, else Successful).
RESULT_ARG = "sandbox-result"
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

Key = tuple[str, str]


def template_hash(template: Any) -> str:
    """A stable 10-character hash of a pod template, in the alphabet of Kubernetes hashes."""
    digest = hashlib.sha256(json.dumps(template or {}, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


def pause_seconds(duration: Any) -> float | None:
    """A pause step's `duration` in seconds (`30`, `"30s"`, `"1m"`); None when absent or unreadable."""
    if duration is None or isinstance(duration, bool):
        return None
    if isinstance(duration, int | float):
        return float(duration)
    match = _DURATION.match(str(duration).strip())
    if match is None:
        return None
    return float(match.group(1)) * _UNITS[match.group(2)]


def analysis_fails(step: dict[str, Any]) -> bool:
    """Whether an `analysis` step is scripted to fail (arg `sandbox-result: Failed`, a `fail*` template)."""
    for arg in step.get("args") or []:
        if arg.get("name") == RESULT_ARG and str(arg.get("value", "")).lower() == "failed":
            return True
    return any(str(t.get("templateName", "")).startswith("fail") for t in step.get("templates") or [])


@dataclass
class _Timer:
    """Scripted time spent in one step of one revision (in memory, monotonic)."""

    pod_hash: str
    index: int
    started: float


class RolloutController:
    """Drives every Rollout of one cluster through its canary steps.

    Args:
        api_url: the Kubernetes API server the Rollouts live on.
        token: bearer token with rights on rollouts, analysisruns and replicasets.
        time_scale: factor applied to scripted durations (pauses, readiness, analysis).
    """

    def __init__(self, *, api_url: str, token: str, time_scale: float = 1.0) -> None:
        self._api_client = build_api_client(url=api_url, token=token)
        self.api = client.CustomObjectsApi(self._api_client)
        self.apps = client.AppsV1Api(self._api_client)
        self.time = TimeScale(time_scale)
        self._cond = threading.Condition()
        self._queue: list[Key] = []
        self._wakeups: list[tuple[float, Key]] = []
        self._timers: dict[Key, _Timer] = {}
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._work, name="sandbox-rollout-controller", daemon=True)
        self._informer = Informer(
            api=self.api,
            group=GROUP,
            version=VERSION,
            plural=ROLLOUTS,
            handler=self._on_event,
            name="sandbox-rollout-informer",
        )

    def start(self) -> RolloutController:
        self._worker.start()
        self._informer.start()
        return self

    def stop(self) -> None:
        """Stop watching and join the worker."""
        self._stopping.set()
        self._informer.stop()
        with self._cond:
            self._cond.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout=10)
        self._api_client.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated

    def __enter__(self) -> RolloutController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_synced(self, timeout: float = 10.0) -> bool:
        return self._informer.synced.wait(timeout)

    # -- queue ---------------------------------------------------------------------------
    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata", {})
        key = (str(meta.get("namespace", "default")), str(meta.get("name", "")))
        with self._cond:
            if kind == "DELETED":
                self._timers.pop(key, None)
                return
            if key not in self._queue:
                self._queue.append(key)
            self._cond.notify_all()

    def _wake_after(self, key: Key, scripted_seconds: float) -> None:
        deadline = time.monotonic() + max(0.0, scripted_seconds * self.time.factor)
        with self._cond:
            heapq.heappush(self._wakeups, (deadline, key))
            self._cond.notify_all()

    def _next(self) -> Key | None:
        with self._cond:
            while not self._stopping.is_set():
                now = time.monotonic()
                while self._wakeups and self._wakeups[0][0] <= now:
                    _, key = heapq.heappop(self._wakeups)
                    if key not in self._queue:
                        self._queue.append(key)
                if self._queue:
                    return self._queue.pop(0)
                timeout = self._wakeups[0][0] - now if self._wakeups else 1.0
                self._cond.wait(min(timeout, 1.0))
        return None

    def _work(self) -> None:
        while (key := self._next()) is not None:
            try:
                self._reconcile(key)
            except ApiException as exc:
                if exc.status == 409:  # someone (the plugin) wrote meanwhile: read again
                    self._wake_after(key, 0)
                elif exc.status != 404:
                    log.debug("rollout %s/%s: HTTP %s", *key, exc.status)
                    self._wake_after(key, 1.0)
            except Exception:  # a bug in one rollout must not stop the others
                log.exception("reconciling rollout %s/%s failed", *key)

    # -- reconcile -----------------------------------------------------------------------
    def _reconcile(self, key: Key) -> None:
        namespace, name = key
        # The generated client types a custom object as `object`; it is the decoded JSON body.
        rollout = cast(
            dict[str, Any], self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, ROLLOUTS, name)
        )
        meta = rollout["metadata"]
        spec = rollout.get("spec") or {}
        old = rollout.get("status") or {}
        status = json.loads(json.dumps(old))
        steps = list(((spec.get("strategy") or {}).get("canary") or {}).get("steps") or [])
        pod_hash = template_hash(spec.get("template"))
        annotations = dict(meta.get("annotations") or {})
        revision = int(annotations.get(REVISION_ANNOTATION, "0") or 0)

        annotate = False
        if status.get("currentPodHash") != pod_hash:
            revision = self._new_revision(rollout, pod_hash, revision)
            annotate = True
            self._timers.pop(key, None)
            first = not status.get("stableRS")
            status.update(
                {
                    "currentPodHash": pod_hash,
                    "currentStepIndex": 0,
                    "abort": None,
                    "abortedAt": None,
                    "pauseConditions": None,
                    "controllerPause": None,
                    "promoteFull": None,
                    "canary": {},
                }
            )
            if first or status.get("stableRS") == pod_hash:
                status["currentStepIndex"] = len(steps)  # nothing to canary: promoted at once
        status["currentStepHash"] = template_hash(steps)
        status["observedGeneration"] = str(meta.get("generation", 1))

        if status.get("abort"):
            self._timers.pop(key, None)
            self._aborted(status, revision)
        elif status.get("promoteFull"):
            status["promoteFull"] = None
            status["pauseConditions"] = None
            status["controllerPause"] = None
            status["currentStepIndex"] = len(steps)
            self._complete(status)
        else:
            self._advance(rollout, status, steps, revision, key)
        self._write_status(rollout, old, status)
        if annotate:  # after the status: a write before it would make the status write conflict
            self.api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, ROLLOUTS, name,
                {"metadata": {"annotations": {REVISION_ANNOTATION: str(revision)}}},
            )  # fmt: skip

    def _advance(
        self,
        rollout: dict[str, Any],
        status: dict[str, Any],
        steps: list[dict[str, Any]],
        revision: int,
        key: Key,
    ) -> None:
        """Walk the steps from `currentStepIndex` as far as nothing waits."""
        spec = rollout.get("spec") or {}
        pod_hash = status["currentPodHash"]
        status["abortedAt"] = None
        while True:
            index = int(status.get("currentStepIndex") or 0)
            if index >= len(steps):
                self._complete(status)
                return
            if spec.get("paused"):
                self._set_phase(status, "Paused", "manually paused")
                return
            step = steps[index]
            timer = self._timers.get(key)
            if timer is None or (timer.pod_hash, timer.index) != (pod_hash, index):
                timer = _Timer(pod_hash=pod_hash, index=index, started=time.monotonic())
                self._timers[key] = timer
            elapsed = (time.monotonic() - timer.started) / max(self.time.factor, 1e-9)
            done = False
            if "setWeight" in step:
                self._set_weight(status, int(step["setWeight"]))
                done = elapsed >= SET_WEIGHT_SECONDS
                if not done:
                    self._set_phase(status, "Progressing", "more replicas need to be updated")
                    self._wake_after(key, SET_WEIGHT_SECONDS - elapsed)
            elif "pause" in step:
                done = self._pause(status, step.get("pause") or {}, elapsed=elapsed, key=key)
            elif "analysis" in step:
                done = self._analysis(rollout, status, step["analysis"] or {}, index, revision, elapsed, key)
                if status.get("abort"):
                    self._aborted(status, revision)
                    return
            else:  # a step kind the stand-in does not model (experiment, setCanaryScale, ...): passes
                done = True
            if not done:
                return
            status["currentStepIndex"] = index + 1
            status.setdefault("canary", {}).pop("currentStepAnalysisRunStatus", None)

    def _pause(self, status: dict[str, Any], pause: dict[str, Any], *, elapsed: float, key: Key) -> bool:
        """Add the step's pause once; True when it is over (promoted, or its duration passed).

        `controllerPause` in the status just read says the pause was added (the in-memory timer
        may already be on the next step after a write that conflicted with a promote).
        """
        conditions = status.get("pauseConditions") or []
        seconds = pause_seconds(pause.get("duration"))
        if not status.get("controllerPause"):
            status["pauseConditions"] = [{"reason": PAUSE_REASON, "startTime": now_rfc3339()}]
            status["controllerPause"] = True
            self._set_phase(status, "Paused", PAUSE_REASON)
            if seconds is not None:
                self._wake_after(key, seconds)
            return False
        if not conditions:  # promoted: the plugin cleared them
            status["controllerPause"] = None
            return True
        if seconds is not None and elapsed >= seconds:
            status["pauseConditions"] = None
            status["controllerPause"] = None
            return True
        self._set_phase(status, "Paused", PAUSE_REASON)
        return False

    def _analysis(
        self,
        rollout: dict[str, Any],
        status: dict[str, Any],
        analysis: dict[str, Any],
        index: int,
        revision: int,
        elapsed: float,
        key: Key,
    ) -> bool:
        meta = rollout["metadata"]
        namespace = meta.get("namespace", "default")
        run_name = f"{meta['name']}-{status['currentPodHash']}-{revision}-{index}"
        fails = analysis_fails(analysis)
        finished = elapsed >= ANALYSIS_SECONDS
        phase = ("Failed" if fails else "Successful") if finished else "Running"
        message = 'Metric "sandbox" assessed Failed due to failed (1) > failureLimit (0)' if fails else ""
        self._ensure_run(
            rollout, run_name, status["currentPodHash"], analysis, phase, message if finished else ""
        )
        run_status: dict[str, Any] = {"name": run_name, "status": phase}
        if finished and message:
            run_status["message"] = message
        status.setdefault("canary", {})["currentStepAnalysisRunStatus"] = run_status
        if not finished:
            self._set_phase(status, "Progressing", f"waiting for analysis run {run_name}")
            self._wake_after(key, ANALYSIS_SECONDS - elapsed)
            return False
        if fails:
            status["abort"] = True
            status["abortMessage"] = message
            return False
        log.debug("analysis %s/%s succeeded", namespace, run_name)
        return True

    def _ensure_run(
        self,
        rollout: dict[str, Any],
        name: str,
        pod_hash: str,
        analysis: dict[str, Any],
        phase: str,
        message: str,
    ) -> None:
        """Create the step's AnalysisRun (once) and give it `phase`."""
        meta = rollout["metadata"]
        namespace = meta.get("namespace", "default")
        try:
            current = cast(
                dict[str, Any],
                self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, ANALYSIS_RUNS, name),
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "AnalysisRun",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {HASH_LABEL: pod_hash},
                    "ownerReferences": [_owner(rollout)],
                },
                "spec": {
                    "metrics": [
                        {"name": t.get("templateName", "sandbox"), "provider": {"job": {}}}
                        for t in analysis.get("templates") or [{"templateName": "sandbox"}]
                    ],
                    "args": analysis.get("args") or [],
                },
            }
            self.api.create_namespaced_custom_object(GROUP, VERSION, namespace, ANALYSIS_RUNS, body)
            current = {"status": {}}
        if (current.get("status") or {}).get("phase") == phase:
            return
        status: dict[str, Any] = {
            "phase": phase,
            "startedAt": (current.get("status") or {}).get("startedAt") or now_rfc3339(),
        }
        if message:
            status["message"] = message
        self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, ANALYSIS_RUNS, name, {"status": status}
        )

    # -- status pieces -------------------------------------------------------------------
    @staticmethod
    def _set_phase(status: dict[str, Any], phase: str, message: str | None) -> None:
        status["phase"] = phase
        status["message"] = message

    @staticmethod
    def _set_weight(status: dict[str, Any], weight: int) -> None:
        status.setdefault("canary", {})["weights"] = {
            "canary": {"weight": weight, "podTemplateHash": status.get("currentPodHash")},
            "stable": {"weight": 100 - weight, "podTemplateHash": status.get("stableRS")},
        }

    def _complete(self, status: dict[str, Any]) -> None:
        status["stableRS"] = status.get("currentPodHash")
        status["pauseConditions"] = None
        status["controllerPause"] = None
        status["canary"] = {
            "weights": {
                "canary": {"weight": 100, "podTemplateHash": status.get("currentPodHash")},
                "stable": {"weight": 0, "podTemplateHash": status.get("currentPodHash")},
            }
        }
        self._set_phase(status, "Healthy", None)

    def _aborted(self, status: dict[str, Any], revision: int) -> None:
        reason = status.pop("abortMessage", None)
        status["abortedAt"] = status.get("abortedAt") or now_rfc3339()
        status["currentStepIndex"] = 0
        status["pauseConditions"] = None
        status["controllerPause"] = None
        status["canary"] = {**status.get("canary", {}), "weights": {
            "canary": {"weight": 0, "podTemplateHash": status.get("currentPodHash")},
            "stable": {"weight": 100, "podTemplateHash": status.get("stableRS")},
        }}  # fmt: skip
        message = f"{ABORTED}: Rollout aborted update to revision {revision}"
        if reason:
            message += f": {reason}"
        elif (status.get("message") or "").startswith(
            f"{ABORTED}: Rollout aborted update to revision {revision}"
        ):
            message = status["message"]  # keep the analysis's reason across reconciles
        self._set_phase(status, "Degraded", message)

    def _write_status(self, rollout: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
        patch = merge_diff(old, new)
        if not patch:
            return
        meta = rollout["metadata"]
        body = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": patch}
        self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, meta.get("namespace", "default"), ROLLOUTS, meta["name"], body
        )

    # -- revisions -----------------------------------------------------------------------
    def _new_revision(self, rollout: dict[str, Any], pod_hash: str, current: int) -> int:
        """Give template `pod_hash` the next revision on its ReplicaSet (made, or reused as on a rollback).

        Idempotent: a ReplicaSet that already holds the highest revision keeps it (a retried
        reconcile after a conflict must not count twice).
        """
        meta = rollout["metadata"]
        namespace = meta.get("namespace", "default")
        name = f"{meta['name']}-{pod_hash}"
        revisions = self._revisions(rollout)
        highest = max([current, *revisions.values()])
        mine = revisions.get(name)
        if mine is not None and mine == highest and mine > current:
            return mine
        revision = highest + 1
        annotations = {REVISION_ANNOTATION: str(revision)}
        if mine is not None:
            self.apps.patch_namespaced_replica_set(
                name, namespace, {"metadata": {"annotations": annotations}}
            )
            return revision
        template = json.loads(json.dumps((rollout.get("spec") or {}).get("template") or {}))
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = dict(((rollout.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [_owner(rollout)],
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {**selector, HASH_LABEL: pod_hash}},
                "template": template,
            },
        }
        self.apps.create_namespaced_replica_set(namespace, cast(Any, body))  # a dict body is sent as is
        return revision

    def _revisions(self, rollout: dict[str, Any]) -> dict[str, int]:
        """ReplicaSet name -> revision, for the ReplicaSets this Rollout owns."""
        meta = rollout["metadata"]
        # the raw JSON, not the generated models: what `kubectl argo rollouts` reads too
        answer = cast(
            Any,
            self.apps.list_namespaced_replica_set(meta.get("namespace", "default"), _preload_content=False),
        )
        revisions: dict[str, int] = {}
        for replica_set in json.loads(answer.data).get("items", []):
            rs_meta = replica_set.get("metadata", {})
            if any(owner.get("uid") == meta.get("uid") for owner in rs_meta.get("ownerReferences") or []):
                value = str((rs_meta.get("annotations") or {}).get(REVISION_ANNOTATION, "0"))
                revisions[str(rs_meta.get("name"))] = int(value) if value.isdigit() else 0
        return revisions


def merge_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that turns `old` into `new` (None values in `new` mean absent)."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if value is None:
            if old.get(key) is not None:
                patch[key] = None
        elif isinstance(value, dict) and isinstance(old.get(key), dict):
            inner = merge_diff(old[key], value)
            if inner:
                patch[key] = inner
        elif old.get(key) != value:
            patch[key] = value
    for key in old.keys() - new.keys():
        if old[key] is not None:
            patch[key] = None
    return patch


def _owner(rollout: dict[str, Any]) -> dict[str, Any]:
    meta = rollout["metadata"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
