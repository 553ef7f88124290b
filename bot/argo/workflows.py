"""Argo Workflows through the Kubernetes API: templates, submit, read, stop/terminate.

Everything goes through `kubernetes.client.CustomObjectsApi` (group `argoproj.io`,
version `v1alpha1`) on the `ApiClient` of one cluster (`ClusterRegistry.api_client`).
A run is always a Workflow that references a WorkflowTemplate, in exactly the shape a
controller with `templateReferencing: Strict` accepts (see `build_workflow`); the user's
parameter values travel as JSON strings in `spec.arguments.parameters` and are never
pasted into YAML text. `spec.shutdown` is set with a merge patch (Stop lets exit
handlers run, Terminate does not), retried on a 409 as Argo's own CLI does.

Left out: ClusterWorkflowTemplates, free-form Workflows, resubmitting via Argo's
`retry`/`resubmit` APIs (the bot's `retry` submits again with `submitted_parameters`),
following progress (`bot.argo.watching` streams the raw objects to the tracker), logs
(`bot.logs`). Every client failure leaves as a `KubeError` (`bot.argo.errors`).
Callers: the command handlers, scheduled `run` jobs, the tracker (`get_workflow`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from kubernetes import client

from bot.argo.errors import kube_errors

# TemplateInfo is defined in the pure `parameters` module so `bot.render` can use it without
# importing the client; it is re-exported here, where templates are read.
from bot.argo.parameters import TemplateInfo as TemplateInfo
from bot.argo.parameters import TemplateParam
from bot.errors import KubeConflict, UserError

GROUP = "argoproj.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
WORKFLOWS = "workflows"
TEMPLATES = "workflowtemplates"

# Set by the bot on every Workflow it submits.
LABEL_RUN_ID = "argo-chatops/run-id"
LABEL_REQUESTER = "argo-chatops/requester"  # the Slack user id (a valid label value)
ANNOTATION_REQUESTED_BY = "argo-chatops/requested-by"  # a display name or email: free text
ANNOTATION_CHANNEL = "argo-chatops/channel"
# Set by Argo's controller.
LABEL_WORKFLOW_TEMPLATE = "workflows.argoproj.io/workflow-template"
LABEL_PHASE = "workflows.argoproj.io/phase"
LABEL_COMPLETED = "workflows.argoproj.io/completed"
# Shown by the Argo UI for a template; read for `templates`.
ANNOTATION_TITLE = "workflows.argoproj.io/title"
ANNOTATION_DESCRIPTION = "workflows.argoproj.io/description"

FINISHED_PHASES = frozenset({"Succeeded", "Failed", "Error"})
ShutdownStrategy = Literal["Stop", "Terminate"]
RawObject = dict[str, Any]

# (connect, read) seconds for every non-watch call: a half-open connection must not hang a
# command forever. Lists of a few hundred objects come back well inside this.
REQUEST_TIMEOUT = (5.0, 30.0)
LIST_PAGE_SIZE = 500
SHUTDOWN_ATTEMPTS = 5
# apimachinery appends 5 characters to generateName and keeps names within 63.
_GENERATE_BASE_MAX = 57
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class WorkflowRef:
    """Where a Workflow lives, and the version of it that was written."""

    name: str
    namespace: str
    uid: str
    resource_version: str


def list_templates(api: client.ApiClient, *, namespace: str) -> list[TemplateInfo]:
    """Every WorkflowTemplate of `namespace`, sorted by name.

    Raises:
        KubeError: the API refused or could not be reached.
    """
    items = _list_all(api, namespace=namespace, plural=TEMPLATES, label_selector=None)
    return sorted((to_template_info(item) for item in items), key=lambda info: info.name)


def get_template(api: client.ApiClient, *, namespace: str, name: str) -> TemplateInfo:
    """One WorkflowTemplate.

    Raises:
        KubeNotFound: no template of that name in `namespace`.
        KubeError: any other failure.
    """
    with kube_errors(f"get WorkflowTemplate {namespace}/{name}"):
        obj = _custom(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, TEMPLATES, name, _request_timeout=REQUEST_TIMEOUT
        )
    return to_template_info(cast(RawObject, obj))


def to_template_info(obj: Mapping[str, Any]) -> TemplateInfo:
    """Parse a WorkflowTemplate object (pure). Values are stringified as Argo does."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    annotations = meta.get("annotations") or {}
    description = annotations.get(ANNOTATION_DESCRIPTION) or annotations.get(ANNOTATION_TITLE) or ""
    params = tuple(
        _to_param(raw) for raw in (spec.get("arguments") or {}).get("parameters") or [] if raw.get("name")
    )
    return TemplateInfo(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        description=str(description),
        entrypoint=str(spec.get("entrypoint", "")),
        params=params,
    )


def _to_param(raw: Mapping[str, Any]) -> TemplateParam:
    value = raw.get("value")
    return TemplateParam(
        name=str(raw["name"]),
        default=None if value is None else str(value),
        enum=tuple(str(choice) for choice in raw.get("enum") or ()),
        description=str(raw.get("description") or ""),
        has_value_from=bool(raw.get("valueFrom")),
    )


def build_workflow(
    *,
    namespace: str,
    template: str,
    parameters: Mapping[str, str],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    generate_name: str | None = None,
) -> RawObject:
    """The Workflow to create (pure): exactly the Strict-mode shape, nothing else.

    Under `workflowRestrictions.templateReferencing: Strict` Argo runs only Workflows that
    reference a template and override no more than a short list of fields; the bot sets
    just `workflowTemplateRef.name` and `arguments.parameters`, so the template's author
    stays in charge of everything the workflow does.

    Raises:
        ValueError: a label value Kubernetes would refuse (a caller bug, never user input).
    """
    for key, value in labels.items():
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(f"label {key} has a value Kubernetes refuses: {value[:70]!r}")
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "generateName": generate_name or default_generate_name(template),
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": dict(annotations),
        },
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {
                "parameters": [{"name": name, "value": str(value)} for name, value in parameters.items()]
            },
        },
    }


def default_generate_name(template: str) -> str:
    """`<template>-`, shortened so the generated name stays a valid 63-character label value."""
    return template[:_GENERATE_BASE_MAX].rstrip("-.") + "-"


def submit_workflow(
    api: client.ApiClient,
    *,
    namespace: str,
    template: str,
    parameters: Mapping[str, str],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    generate_name: str | None = None,
) -> WorkflowRef:
    """Create a Workflow from `template` (see `build_workflow` for the exact body).

    The template's existence is not checked here: the caller has already read it with
    `get_template` to check the parameters, and Argo itself fails a Workflow whose
    template has gone since.

    Raises:
        KubeForbidden: the bot's identity may not create Workflows there.
        KubeError: any other failure (a 422 names the invalid field).
    """
    body = build_workflow(
        namespace=namespace,
        template=template,
        parameters=parameters,
        labels=labels,
        annotations=annotations,
        generate_name=generate_name,
    )
    with kube_errors(f"submit Workflow from template {namespace}/{template}"):
        created = _custom(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, WORKFLOWS, body, _request_timeout=REQUEST_TIMEOUT
        )
    return to_workflow_ref(cast(RawObject, created))


def to_workflow_ref(obj: Mapping[str, Any]) -> WorkflowRef:
    """The `WorkflowRef` of a Workflow object (pure)."""
    meta = obj.get("metadata") or {}
    return WorkflowRef(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
    )


def get_workflow(api: client.ApiClient, *, namespace: str, name: str) -> RawObject:
    """One Workflow as the API returns it (raw: the tracker parses it).

    Raises:
        KubeNotFound: no such Workflow (never existed, or deleted/garbage-collected).
        KubeError: any other failure.
    """
    with kube_errors(f"get Workflow {namespace}/{name}"):
        obj = _custom(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, WORKFLOWS, name, _request_timeout=REQUEST_TIMEOUT
        )
    return cast(RawObject, obj)


def list_workflows(
    api: client.ApiClient, *, namespace: str, label_selector: str | None = None
) -> list[RawObject]:
    """The Workflows of `namespace` matching `label_selector` (all pages), raw.

    Raises:
        KubeError: the API refused or could not be reached.
    """
    return _list_all(api, namespace=namespace, plural=WORKFLOWS, label_selector=label_selector)


def set_shutdown(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    strategy: ShutdownStrategy,
    attempts: int = SHUTDOWN_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> WorkflowRef:
    """Ask Argo to stop (`Stop`: exit handlers still run) or terminate a Workflow.

    Writes `spec.shutdown` with a merge patch, which touches nothing else. The Workflow
    is read first on each attempt so a finished one is refused plainly instead of being
    patched for nothing; a 409 (someone else wrote in between) is retried with a short
    growing pause, as Argo's `argo stop` retries conflicts.

    Returns:
        the patched Workflow's reference.

    Raises:
        UserError: the Workflow has already finished.
        KubeNotFound: no such Workflow.
        KubeConflict: still conflicting after `attempts` tries.
        KubeError: any other failure.
    """
    verb = strategy.lower()
    patch = {"spec": {"shutdown": strategy}}
    for attempt in range(1, attempts + 1):
        workflow = get_workflow(api, namespace=namespace, name=name)
        phase = (workflow.get("status") or {}).get("phase")
        if phase in FINISHED_PHASES:
            raise UserError(f"Workflow `{name}` has already finished ({phase}): there is nothing to {verb}.")
        try:
            with kube_errors(f"{verb} Workflow {namespace}/{name}"):
                patched = _custom(api).patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, WORKFLOWS, name, patch, _request_timeout=REQUEST_TIMEOUT
                )
        except KubeConflict:
            if attempt == attempts:
                raise
            sleep(0.05 * 2**attempt)
            continue
        return to_workflow_ref(cast(RawObject, patched))
    raise AssertionError("unreachable: the loop returns or raises")


#: On a Workflow: who approved each of its approval steps (`.<step>` appended), and when.
APPROVED_BY_ANNOTATION = "argo-chatops/approved-by"


def resume_node(
    api: client.ApiClient,
    *,
    namespace: str,
    name: str,
    node_id: str,
    step: str,
    approved_by: str,
    now: str,
) -> None:
    """Resume one waiting Suspend node, as `argo resume --node-field-selector` does it.

    The node's phase becomes Succeeded (with a message naming who approved) in `status.nodes`;
    the approver is also written into the Workflow's annotations, so `kubectl` and the Argo UI
    show the person (Argo itself records only the account that resumed, here the bot's).

    Raises:
        UserError: the node no longer waits (resumed, stopped, or the Workflow finished).
        KubeNotFound: no such Workflow.
        KubeError: any other failure.
    """
    workflow = get_workflow(api, namespace=namespace, name=name)
    key = approved_by_key(step)
    if ((workflow.get("metadata") or {}).get("annotations") or {}).get(key, "").startswith(approved_by):
        pass  # resumed by this approval already (a crash after the write): write the node again
    elif not waits_at(workflow, node_id):
        raise UserError(f"Step `{step}` of `{name}` no longer waits for an approval, so nothing was resumed.")
    annotations = {key: f"{approved_by} at {now}"}
    with kube_errors(f"annotate Workflow {namespace}/{name}"):
        _custom(api).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            WORKFLOWS,
            name,
            {"metadata": {"annotations": annotations}},
            _request_timeout=REQUEST_TIMEOUT,
        )
    resumed = {"phase": "Succeeded", "message": f"Resumed by {approved_by}", "finishedAt": now}
    with kube_errors(f"resume step {step} of Workflow {namespace}/{name}"):
        _custom(api).patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            WORKFLOWS,
            name,
            {"status": {"nodes": {node_id: resumed}}},
            _request_timeout=REQUEST_TIMEOUT,
        )


def approved_by_key(step: str) -> str:
    """The annotation naming who approved `step` (`argo-chatops/approved-by.<step>`)."""
    return f"{APPROVED_BY_ANNOTATION}.{re.sub(r'[^A-Za-z0-9_.-]', '-', step)[:40].strip('-._') or 'step'}"


def waits_at(workflow: Mapping[str, Any], node_id: str) -> bool:
    """Whether the Workflow is running and its node `node_id` still waits (pure)."""
    status = workflow.get("status") or {}
    node = (status.get("nodes") or {}).get(node_id) or {}
    return node.get("phase") == "Running" and status.get("phase") not in FINISHED_PHASES


def submitted_parameters(workflow: Mapping[str, Any]) -> dict[str, str]:
    """The parameters a Workflow was submitted with (pure), for `retry`.

    Reads `spec.arguments.parameters`, i.e. what the submitter gave, not the values the
    controller later resolved, so a retry resubmits the same request (a changed template
    default then applies, as it would to any new run).
    """
    spec = workflow.get("spec") or {}
    parameters = (spec.get("arguments") or {}).get("parameters") or []
    return {
        str(p["name"]): str(p.get("value", ""))
        for p in parameters
        if isinstance(p, Mapping) and p.get("name")
    }


def template_of(workflow: Mapping[str, Any]) -> str | None:
    """The WorkflowTemplate a Workflow was submitted from (pure): its ref, else Argo's label."""
    spec = workflow.get("spec") or {}
    ref = spec.get("workflowTemplateRef") or {}
    if ref.get("name"):
        return str(ref["name"])
    labels = (workflow.get("metadata") or {}).get("labels") or {}
    name = labels.get(LABEL_WORKFLOW_TEMPLATE)
    return str(name) if name else None


def _custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def _list_all(
    api: client.ApiClient, *, namespace: str, plural: str, label_selector: str | None
) -> list[RawObject]:
    """Every object of `plural` in `namespace`, following `continue` tokens page by page."""
    items: list[RawObject] = []
    token: str | None = None
    custom = _custom(api)
    while True:
        kwargs: dict[str, Any] = {"limit": LIST_PAGE_SIZE, "_request_timeout": REQUEST_TIMEOUT}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if token:
            kwargs["_continue"] = token
        with kube_errors(f"list {plural} in {namespace}"):
            page = cast(
                RawObject, custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural, **kwargs)
            )
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return items
