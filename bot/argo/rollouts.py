"""Argo Rollouts through the Kubernetes API, writing what `kubectl argo rollouts` writes.

Rollouts (`argoproj.io/v1alpha1`) are read and written with `CustomObjectsApi` on one
cluster's `ApiClient`; no Rollouts API server or dashboard is involved. The writes are the
plugin's own, so a real controller and the sandbox's stand-in react the same way:

- promote: a pause is ended by clearing `status.pauseConditions` (the `/status`
  subresource) and setting `spec.paused: false`; without a pause the current step is skipped
  (`status.currentStepIndex` + 1). `--full`: `status.promoteFull: true`.
- abort: `status.abort: true`; retry: `status.abort: false`.
- undo: the pod template of the ReplicaSet holding the revision asked for (by default the one
  before the current), without its `rollouts-pod-template-hash` label, replaces
  `spec.template` (a JSON patch, so nothing of the newer template survives).

With `run_id`, a write also marks the Rollout with the bot's run that follows it (the
annotation `argo-chatops/run-id`, `rollout_state.RUN_ID_ANNOTATION`), after its checks passed:
in the same patch where the write is a patch of the Rollout itself (`spec.paused`, undo's JSON
patch), else in a metadata patch just before the `/status` write (the `/status` subresource
keeps no metadata). The leader's watch maps each event of the Rollout to that run.

Every client failure leaves as a `KubeError` (`bot.argo.errors`). Callers: the rollout verbs.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from typing import Any, cast

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.argo import rollout_state
from bot.argo.errors import kube_errors
from bot.argo.rollout_state import RolloutDetail as RolloutDetail
from bot.argo.rollout_state import RolloutSummary as RolloutSummary
from bot.errors import UserError

log = logging.getLogger(__name__)

GROUP = "argoproj.io"
VERSION = "v1alpha1"
ROLLOUTS = "rollouts"
ANALYSIS_RUNS = "analysisruns"
REQUEST_TIMEOUT = (5.0, 30.0)
RawObject = dict[str, Any]


@dataclass(frozen=True)
class Promoted:
    """What a promote did: ended a pause, skipped a step, or promoted fully."""

    how: str  # "pause", "step", "full"
    step: int  # the step index it was at


def served(api: client.ApiClient) -> bool:
    """Whether the cluster serves Argo Rollouts (its CRD is installed); False when it cannot tell.

    A cluster without Rollouts is common: the leader watches Rollouts only where they exist,
    instead of retrying a watch that can only fail.
    """
    try:
        resources = client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION, _request_timeout=10)
    except ApiException as exc:
        if exc.status != 404:
            log.warning("could not tell whether the cluster serves Argo Rollouts: HTTP %s", exc.status)
        return False
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        log.warning("could not tell whether the cluster serves Argo Rollouts: %s", type(exc).__name__)
        return False
    return any(getattr(r, "name", "") == ROLLOUTS for r in getattr(resources, "resources", None) or [])


def list_rollouts(api: client.ApiClient, *, namespace: str | None = None) -> list[RolloutSummary]:
    """Every Rollout of `namespace` (every namespace when None), sorted by namespace and name."""
    custom = client.CustomObjectsApi(api)
    where = namespace or "all namespaces"
    with kube_errors(f"list Rollouts in {where}"):
        if namespace:
            answer = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, ROLLOUTS, _request_timeout=REQUEST_TIMEOUT
            )
        else:
            answer = custom.list_cluster_custom_object(
                GROUP, VERSION, ROLLOUTS, _request_timeout=REQUEST_TIMEOUT
            )
    items = cast(dict[str, Any], answer).get("items", [])
    found = [rollout_state.summary(item) for item in items]
    return sorted(found, key=lambda r: (r.namespace, r.name))


def find_namespaces(api: client.ApiClient, *, name: str) -> list[str]:
    """The namespaces holding a Rollout called `name` (for a name given without `--namespace`)."""
    custom = client.CustomObjectsApi(api)
    with kube_errors(f"find Rollout {name}"):
        answer = custom.list_cluster_custom_object(
            GROUP, VERSION, ROLLOUTS, field_selector=f"metadata.name={name}", _request_timeout=REQUEST_TIMEOUT
        )
    items = cast(dict[str, Any], answer).get("items", [])
    return sorted(str(item["metadata"].get("namespace", "")) for item in items)


def get_rollout(api: client.ApiClient, *, namespace: str, name: str) -> RawObject:
    """One Rollout as the API returns it.

    Raises:
        KubeNotFound: there is no such Rollout.
    """
    with kube_errors(f"get Rollout {namespace}/{name}"):
        obj = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, ROLLOUTS, name, _request_timeout=REQUEST_TIMEOUT
        )
    return cast(RawObject, obj)


def get_detail(api: client.ApiClient, rollout: RawObject) -> RolloutDetail:
    """The detail of a Rollout already read: its steps and the AnalysisRuns it owns."""
    meta = rollout["metadata"]
    namespace = str(meta.get("namespace", ""))
    with kube_errors(f"list AnalysisRuns in {namespace}"):
        answer = client.CustomObjectsApi(api).list_namespaced_custom_object(
            GROUP, VERSION, namespace, ANALYSIS_RUNS, _request_timeout=REQUEST_TIMEOUT
        )
    runs = [run for run in cast(dict[str, Any], answer).get("items", []) if _owned_by(run, meta)]
    return rollout_state.detail(rollout, runs)


def promote(
    api: client.ApiClient, *, namespace: str, name: str, full: bool = False, run_id: str | None = None
) -> Promoted:
    """Promote as the plugin does: end the pause, else skip the current step; `full` skips them all.

    Raises:
        UserError: nothing to promote (every step is done, or the rollout is aborted).
    """
    rollout = get_rollout(api, namespace=namespace, name=name)
    current = rollout_state.summary(rollout)
    if current.aborted:
        raise UserError(f"`{name}` is aborted: `retry` it first, then promote.")
    if current.step >= current.steps and not current.paused:
        raise UserError(f"`{name}` has no step left to promote: it is {current.phase}.")
    custom = client.CustomObjectsApi(api)
    what = f"promote Rollout {namespace}/{name}"
    with kube_errors(what):
        if rollout.get("spec", {}).get("paused"):
            custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                ROLLOUTS,
                name,
                {"spec": {"paused": False}, **_marked(run_id)},
                _request_timeout=REQUEST_TIMEOUT,
            )
        else:
            _mark(api, namespace=namespace, name=name, run_id=run_id)
        if full:
            status: dict[str, Any] = {"promoteFull": True}
            how = "full"
        elif (rollout.get("status") or {}).get("pauseConditions"):
            status = {"pauseConditions": None}
            how = "pause"
        else:
            status = {"currentStepIndex": current.step + 1}
            how = "step"
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, ROLLOUTS, name, {"status": status}, _request_timeout=REQUEST_TIMEOUT
        )
    return Promoted(how=how, step=current.step)


def abort(api: client.ApiClient, *, namespace: str, name: str, run_id: str | None = None) -> None:
    """`status.abort: true`: the controller sends all traffic back to the stable version."""
    _mark(api, namespace=namespace, name=name, run_id=run_id)
    _patch_status(api, namespace=namespace, name=name, status={"abort": True}, what="abort")


def retry(api: client.ApiClient, *, namespace: str, name: str, run_id: str | None = None) -> None:
    """`status.abort: false`: the controller starts the canary steps of the aborted revision again.

    Raises:
        UserError: the rollout is not aborted.
    """
    if not rollout_state.summary(get_rollout(api, namespace=namespace, name=name)).aborted:
        raise UserError(f"`{name}` is not aborted; there is nothing to retry.")
    _mark(api, namespace=namespace, name=name, run_id=run_id)
    _patch_status(api, namespace=namespace, name=name, status={"abort": False}, what="retry")


def revisions(api: client.ApiClient, rollout: RawObject) -> dict[int, RawObject]:
    """Revision number -> the ReplicaSet (raw) the Rollout owns for it."""
    meta = rollout["metadata"]
    namespace = str(meta.get("namespace", ""))
    with kube_errors(f"list ReplicaSets in {namespace}"):
        # raw JSON, not the generated models: the template goes back into the Rollout as it is
        response = cast(
            Any,
            client.AppsV1Api(api).list_namespaced_replica_set(
                namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        items = json.loads(response.data).get("items", [])
    found: dict[int, RawObject] = {}
    for raw in items:
        if not _owned_by(raw, meta):
            continue
        value = str((raw["metadata"].get("annotations") or {}).get(rollout_state.REVISION_ANNOTATION, ""))
        if value.isdigit():
            found[int(value)] = raw
    return found


def undo(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    revision: int | None = None,
    run_id: str | None = None,
) -> int:
    """Put the pod template of `revision` (default: the one before the current) back; returns it.

    Raises:
        UserError: no such revision, or it is the current one.
    """
    rollout = get_rollout(api, namespace=namespace, name=name)
    known = revisions(api, rollout)
    current = max(known, default=0)
    if revision is None:
        older = [number for number in known if number < current]
        if not older:
            raise UserError(f"`{name}` has no revision before its current one ({current}) to go back to.")
        revision = max(older)
    if revision not in known:
        listed = ", ".join(str(n) for n in sorted(known)) or "none"
        raise UserError(f"`{name}` has no revision {revision}. Its revisions: {listed}.")
    if revision == current:
        raise UserError(f"Revision {revision} is already the current revision of `{name}`.")
    template = copy.deepcopy(known[revision]["spec"]["template"])
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(rollout_state.HASH_LABEL, None)
    patch: list[dict[str, Any]] = [{"op": "replace", "path": "/spec/template", "value": template}]
    if run_id is not None:
        if isinstance(rollout["metadata"].get("annotations"), dict):
            key = rollout_state.RUN_ID_ANNOTATION.replace("~", "~0").replace("/", "~1")
            patch.append({"op": "add", "path": f"/metadata/annotations/{key}", "value": run_id})
        else:
            annotations = {rollout_state.RUN_ID_ANNOTATION: run_id}
            patch.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
    with kube_errors(f"undo Rollout {namespace}/{name} to revision {revision}"):
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            ROLLOUTS,
            name,
            patch,
            _content_type="application/json-patch+json",
            _request_timeout=REQUEST_TIMEOUT,
        )
    return revision


def _marked(run_id: str | None) -> RawObject:
    """The metadata part of a merge patch naming the run that follows the Rollout (none without one)."""
    if run_id is None:
        return {}
    return {"metadata": {"annotations": {rollout_state.RUN_ID_ANNOTATION: run_id}}}


def _mark(api: client.ApiClient, *, namespace: str, name: str, run_id: str | None) -> None:
    """Mark the Rollout with the run that follows it, before a `/status` write (which keeps no metadata)."""
    if run_id is None:
        return
    with kube_errors(f"mark Rollout {namespace}/{name} with its run"):
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, ROLLOUTS, name, _marked(run_id), _request_timeout=REQUEST_TIMEOUT
        )


def _patch_status(api: client.ApiClient, *, namespace: str, name: str, status: RawObject, what: str) -> None:
    with kube_errors(f"{what} Rollout {namespace}/{name}"):
        client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, ROLLOUTS, name, {"status": status}, _request_timeout=REQUEST_TIMEOUT
        )


def _owned_by(obj: RawObject, owner_meta: dict[str, Any]) -> bool:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(
        owner.get("uid") == owner_meta.get("uid") and owner.get("kind") == "Rollout" for owner in owners
    )
