"""A workflow controller for the Kubernetes stand-in: runs Argo Workflows with scripted pods.

It watches `argoproj.io/v1alpha1` Workflows in every namespace and, for each new one, on its
own thread: resolves `spec.workflowTemplateRef` (namespaced or `clusterScope`), merges the
arguments with the template's defaults (checking `enum`), walks the entrypoint's `steps`
(sequential groups, parallel steps) or `dag` (tasks after their `dependencies`/`depends`),
and writes Argo's `status` through `/status` merge patches: `phase` Pending -> Running ->
Succeeded/Failed/Error, `nodes` keyed by node id (ids and pod names as Argo v3.4+ derive
them), `progress`, `startedAt`/`finishedAt`, `message`, plus the `workflows.argoproj.io/phase`
and `completed` labels. Each pod's log goes to S3 at `<keyFormat>/main.log` and is recorded
as the node's `main-logs` output artifact (Argo's `archiveLogs`). `spec.shutdown: Terminate`
stops everything and skips the exit handler; `Stop` stops everything but runs `onExit`.

A `suspend` template makes a node of type `Suspend` that stays `Running` (and with it the
workflow) until it is resumed as `argo resume` does it (its phase set to `Succeeded` in
`status.nodes` through `/status`; `Failed` works too), its `duration` has passed (scaled), or
the workflow is stopped or terminated (the node fails, `Stopped with strategy '<S>'`). The
controller never writes the phase of a waiting Suspend node again, so a resume written between
two of its own status writes is not undone.

`spec.workflowMetadata` (the Workflow's own, or its WorkflowTemplate's) adds its labels and
annotations to the Workflow, as Argo does when it admits it.

Left out: real pods (no Pod objects are created), retries, `when`, loops (`withItems`),
`spec.suspend` (suspending a whole workflow with `argo suspend`), artifacts other than logs,
`activeDeadlineSeconds`. A workflow that is already finished is ignored; one found unfinished
at start is run from the beginning.
Used by `bot.sandbox.world` and tests; behaviour is scripted with `script()` or magic
inputs (see `scripts`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import boto3
from botocore.config import Config
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.argo import scripts
from bot.sandbox.argo.keyformat import render_key
from bot.sandbox.argo.timing import TimeScale, now_rfc3339, parse_rfc3339
from bot.sandbox.argo.watching import Informer, build_api_client

log = logging.getLogger(__name__)

GROUP = "argoproj.io"
VERSION = "v1alpha1"
LABEL_PHASE = "workflows.argoproj.io/phase"
LABEL_COMPLETED = "workflows.argoproj.io/completed"
LABEL_TEMPLATE = "workflows.argoproj.io/workflow-template"
LABEL_CLUSTER_TEMPLATE = "workflows.argoproj.io/cluster-workflow-template"
FINISHED = frozenset({"Succeeded", "Failed", "Error"})
_NODE_DONE = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})
_VARIABLE = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class ArtifactRepository:
    """The S3 artifact repository, as the workflow-controller ConfigMap declares it."""

    bucket: str
    key_format: str = "{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def to_status(self) -> dict[str, Any]:
        """How Argo reports the repository in `status.artifactRepositoryRef.artifactRepository`."""
        s3: dict[str, Any] = {"bucket": self.bucket, "keyFormat": self.key_format, "region": self.region}
        if self.endpoint_url:
            s3["endpoint"] = self.endpoint_url.split("://", 1)[-1]
            s3["insecure"] = self.endpoint_url.startswith("http://")
        return {"archiveLogs": True, "s3": s3}

    def build_client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(signature_version="s3v4"),
        )


class WorkflowController:
    """Runs every Workflow of one cluster. Start it, script outcomes, stop it.

    Args:
        api_url: the Kubernetes API server URL.
        token: bearer token with rights on workflows and templates.
        artifacts: where logs are archived; None archives nothing.
        time_scale: factor applied to every scripted duration (0.01: `sleep 60` takes 0.6 s).
    """

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        artifacts: ArtifactRepository | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self._api_client = build_api_client(url=api_url, token=token)
        self._api = client.CustomObjectsApi(self._api_client)
        self.artifacts = artifacts
        self._s3 = artifacts.build_client() if artifacts else None
        self.time = TimeScale(time_scale)
        self.scripts = scripts.ScriptBook()
        self._runs: dict[str, _WorkflowRun] = {}
        self._lock = threading.Lock()
        self._informer = Informer(
            api=self._api,
            group=GROUP,
            version=VERSION,
            plural="workflows",
            handler=self._on_event,
            name="sandbox-workflow-controller",
        )

    def start(self) -> WorkflowController:
        self._informer.start()
        return self

    def stop(self) -> None:
        """Stop watching, cancel running workflows and join every thread."""
        self._informer.stop()
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.cancel()
        for run in runs:
            run.join()
        self._api_client.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated

    def __enter__(self) -> WorkflowController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_synced(self, timeout: float = 10.0) -> bool:
        """True once the first list has been handled (objects created later are seen by the watch)."""
        return self._informer.synced.wait(timeout)

    def script(
        self,
        *,
        step: str,
        workflow: str = "*",
        logs: tuple[str, ...] | list[str] = (),
        exit_code: int = 0,
        duration: float = scripts.DEFAULT_DURATION,
    ) -> None:
        """Script pods whose step (display name) or template name matches the glob `step`.

        `workflow` is a glob on the workflow name. Newest rule wins; rules beat magic inputs.
        """
        self.scripts.add(
            step=step,
            workflow=workflow,
            script=scripts.StepScript(logs=tuple(logs), exit_code=exit_code, duration=duration),
        )

    # -- events --------------------------------------------------------------------------
    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        uid = obj.get("metadata", {}).get("uid", "")
        with self._lock:
            run = self._runs.get(uid)
            if kind == "DELETED":
                if run is not None:
                    run.cancel()
                return
            if run is not None:
                run.observe(obj)
                return
            if obj.get("status", {}).get("phase") in FINISHED:
                return
            run = _WorkflowRun(controller=self, workflow=obj)
            self._runs[uid] = run
        run.start()

    # -- used by runs --------------------------------------------------------------------
    @property
    def api(self) -> client.CustomObjectsApi:
        return self._api

    def archive_log(self, *, key: str, text: str) -> None:
        if self._s3 is None or self.artifacts is None:
            return
        self._s3.put_object(Bucket=self.artifacts.bucket, Key=key, Body=text.encode("utf-8"))


class _Halted(Exception):
    """The run was cancelled (workflow deleted or controller stopping): write nothing more."""


class _WorkflowRun:
    """One workflow's execution on its own thread."""

    def __init__(self, *, controller: WorkflowController, workflow: dict[str, Any]) -> None:
        self._controller = controller
        self._api = controller.api
        meta = workflow["metadata"]
        self.name: str = meta["name"]
        self.namespace: str = meta.get("namespace", "default")
        self.uid: str = meta.get("uid", "")
        self.created = parse_rfc3339(meta.get("creationTimestamp"))
        self.workflow = workflow
        self.status: dict[str, Any] = {"nodes": {}}
        self._lock = threading.RLock()
        self._cancelled = threading.Event()  # controller stop or workflow deleted
        self._halt = threading.Event()  # cancelled, or shutdown requested: interrupt running pods
        self.shutdown: str | None = None
        self.parameters: dict[str, str] = {}
        #: Suspend nodes waiting to be resumed, by node id (guarded by `_suspend_lock`).
        self._suspended: dict[str, _Suspension] = {}
        self._suspend_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"sandbox-wf-{self.name}", daemon=True)
        self.observe(workflow)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def cancel(self) -> None:
        self._cancelled.set()
        self._halt.set()
        self._wake_suspended()

    def observe(self, workflow: dict[str, Any]) -> None:
        """A new version of the Workflow arrived: pick up `spec.shutdown` and resumed Suspend nodes."""
        shutdown = workflow.get("spec", {}).get("shutdown")
        if shutdown in ("Stop", "Terminate") and self.shutdown is None:
            self.shutdown = shutdown
            self._halt.set()
            self._wake_suspended()
        nodes = (workflow.get("status") or {}).get("nodes") or {}
        with self._suspend_lock:
            for node_id, suspension in self._suspended.items():
                node = nodes.get(node_id) or {}
                if suspension.outcome is None and node.get("phase") in FINISHED:
                    suspension.outcome = (str(node["phase"]), node.get("message"))
                    suspension.wake.set()

    def _wake_suspended(self) -> None:
        """Let every waiting Suspend node look again (set its reason to wake first)."""
        with self._suspend_lock:
            for suspension in self._suspended.values():
                suspension.wake.set()

    def _strategy(self) -> str | None:
        """`shutdown` read afresh: `observe` may set it from the controller's thread at any time.

        (A plain `self.shutdown` after an `if self.shutdown: return` looks constant to a type
        checker, but the entrypoint may have run for minutes in between.)
        """
        return self.shutdown

    # -- main ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._execute_workflow()
        except _Halted:
            return
        except Exception as exc:  # a controller bug shows up as an Error workflow, not a dead thread
            log.exception("workflow %s/%s crashed the sandbox controller", self.namespace, self.name)
            try:
                self._finish("Error", f"sandbox controller error: {type(exc).__name__}")
            except _Halted:
                return

    def _execute_workflow(self) -> None:
        spec = self.workflow.get("spec", {})
        labels = {LABEL_COMPLETED: "false"}
        ref = spec.get("workflowTemplateRef")
        if ref:
            labels[LABEL_CLUSTER_TEMPLATE if ref.get("clusterScope") else LABEL_TEMPLATE] = ref.get(
                "name", ""
            )
        self._patch_labels(labels)
        self._update(phase="Pending", startedAt=now_rfc3339(), progress="0/0")
        try:
            merged = self._effective_spec(spec)
            self.parameters = _merge_parameters(
                declared=merged.get("arguments", {}).get("parameters", []),
                given=spec.get("arguments", {}).get("parameters", []),
            )
        except _SpecError as exc:
            self._finish("Error", str(exc))
            return
        self._apply_workflow_metadata(merged.get("workflowMetadata") or {})
        self._templates: dict[str, dict[str, Any]] = {t.get("name"): t for t in merged.get("templates", [])}
        entrypoint = spec.get("entrypoint") or merged.get("entrypoint")
        if entrypoint not in self._templates:
            self._finish("Error", f"invalid spec: template name '{entrypoint}' undefined")
            return
        if self.shutdown:
            self._finish("Failed", f"Stopped with strategy '{self.shutdown}'")
            return
        self._update(phase="Running")
        phase = self._execute(
            template_name=entrypoint,
            node_name=self.name,
            display_name=self.name,
            boundary=None,
            parent=None,
            inputs={},
            interrupt=self._halt,
        )
        exit_handler = merged.get("onExit")
        if exit_handler and self._strategy() != "Terminate" and exit_handler in self._templates:
            self._workflow_status = phase
            self._execute(
                template_name=exit_handler,
                node_name=f"{self.name}.onExit",
                display_name=f"{self.name}.onExit",
                boundary=None,
                parent=None,
                inputs={},
                interrupt=self._cancelled,
            )
        if self.shutdown:
            self._finish("Failed", f"Stopped with strategy '{self.shutdown}'")
        elif phase == "Succeeded":
            self._finish("Succeeded", None)
        else:
            root = self.status["nodes"].get(self.name, {})
            self._finish(phase, root.get("message") or f"child '{self.name}' failed")

    def _effective_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The template's spec overlaid with the workflow's own (arguments merged separately)."""
        ref = spec.get("workflowTemplateRef")
        if not ref:
            return spec
        name = ref.get("name", "")
        try:
            if ref.get("clusterScope"):
                # The generated client types a custom object as `object`; it is the decoded JSON body.
                template = cast(
                    dict[str, Any],
                    self._api.get_cluster_custom_object(GROUP, VERSION, "clusterworkflowtemplates", name),
                )
            else:
                template = cast(
                    dict[str, Any],
                    self._api.get_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, "workflowtemplates", name
                    ),
                )
        except ApiException as exc:
            if exc.status == 404:
                plural = "clusterworkflowtemplates" if ref.get("clusterScope") else "workflowtemplates"
                raise _SpecError(f'{plural}.argoproj.io "{name}" not found') from exc
            raise
        merged = dict(template.get("spec", {}))
        for key, value in spec.items():
            if key not in ("workflowTemplateRef", "arguments"):
                merged[key] = value
        return merged

    # -- nodes ---------------------------------------------------------------------------
    def _execute(
        self,
        *,
        template_name: str,
        node_name: str,
        display_name: str,
        boundary: str | None,
        parent: str | None,
        inputs: dict[str, str],
        interrupt: threading.Event,
    ) -> str:
        """Run one template as one node (and its children); returns the node's final phase."""
        template = self._templates.get(template_name)
        node_id = self.name if node_name == self.name else _node_id(self.name, node_name)
        if template is None:
            node = _node(node_id, node_name, display_name, "Pod", template_name, boundary)
            self._set_node(node_id, node, parent=parent)
            return self._end_node(node_id, "Error", f"templates.{template_name} not found")
        scope = self._scope(template, inputs)
        if self._cancelled.is_set():
            raise _Halted
        if interrupt.is_set():
            return "Omitted"
        if "steps" in template or "dag" in template:
            kind = "Steps" if "steps" in template else "DAG"
            node = _node(node_id, node_name, display_name, kind, template["name"], boundary)
            self._set_node(node_id, node, parent=parent)
            self._node_running(node_id)
            walk = self._run_steps if kind == "Steps" else self._run_dag
            return walk(
                template=template, node_id=node_id, node_name=node_name, scope=scope, interrupt=interrupt
            )
        if "suspend" in template:
            return self._run_suspend(
                template=_substitute(template, scope),
                node_id=node_id,
                node_name=node_name,
                display_name=display_name,
                boundary=boundary,
                parent=parent,
                interrupt=interrupt,
            )
        return self._run_pod(
            template=_substitute(template, scope),
            node_id=node_id,
            node_name=node_name,
            display_name=display_name,
            boundary=boundary,
            parent=parent,
            interrupt=interrupt,
        )

    def _run_steps(
        self,
        *,
        template: dict[str, Any],
        node_id: str,
        node_name: str,
        scope: dict[str, str],
        interrupt: threading.Event,
    ) -> str:
        """Step groups one after another; the steps of a group in parallel."""
        for index, group in enumerate(template.get("steps") or []):
            if interrupt.is_set():
                break
            group_name = f"{node_name}[{index}]"
            group_id = _node_id(self.name, group_name)
            group_node = _node(group_id, group_name, f"[{index}]", "StepGroup", template["name"], node_id)
            self._set_node(group_id, group_node, parent=node_id)
            self._node_running(group_id)
            steps = group if isinstance(group, list) else [group]
            results = self._parallel(
                [
                    self._step_call(
                        step=step,
                        parent_name=group_name,
                        parent_id=group_id,
                        boundary=node_id,
                        scope=scope,
                        interrupt=interrupt,
                    )
                    for step in steps
                ]
            )
            failed = [
                (step, phase)
                for step, phase in zip(steps, results, strict=True)
                if phase != "Succeeded" and not _continues_on(step, phase)
            ]
            if failed:
                child_id = _node_id(self.name, f"{group_name}.{failed[0][0].get('name')}")
                message = f"child '{child_id}' failed"
                self._end_node(group_id, "Failed", message)
                return self._end_node(node_id, "Failed", message)
            self._end_node(group_id, "Succeeded", None)
        if interrupt.is_set():
            return self._end_node(
                node_id, "Failed", f"Stopped with strategy '{self.shutdown or 'Terminate'}'"
            )
        return self._end_node(node_id, "Succeeded", None)

    def _run_dag(
        self,
        *,
        template: dict[str, Any],
        node_id: str,
        node_name: str,
        scope: dict[str, str],
        interrupt: threading.Event,
    ) -> str:
        """Start each task once all its dependencies succeeded; dependents of a failure never run."""
        tasks = {task["name"]: task for task in template["dag"].get("tasks", [])}
        phases: dict[str, str] = {}
        running: dict[str, threading.Thread] = {}
        done = threading.Condition()

        def run_task(task: dict[str, Any]) -> None:
            try:
                phase = self._step_call(
                    step=task,
                    parent_name=node_name,
                    parent_id=node_id,
                    boundary=node_id,
                    scope=scope,
                    interrupt=interrupt,
                    separator=".",
                )()
            except _Halted:
                phase = "Error"
            with done:
                phases[task["name"]] = phase
                done.notify_all()

        with done:
            while True:
                finished = set(phases)
                blocked = {
                    name
                    for name, task in tasks.items()
                    if any(
                        phases.get(dep, "Succeeded") != "Succeeded"
                        for dep in _dependencies(task)
                        if dep in finished
                    )
                }
                ready = [
                    name
                    for name, task in tasks.items()
                    if name not in running
                    and name not in blocked
                    and all(phases.get(dep) == "Succeeded" for dep in _dependencies(task))
                ]
                if not interrupt.is_set():
                    for name in ready:
                        thread = threading.Thread(target=run_task, args=(tasks[name],), daemon=True)
                        running[name] = thread
                        thread.start()
                if len(phases) == len(running) and (interrupt.is_set() or not ready):
                    break
                done.wait(0.5)
        for thread in running.values():
            thread.join()
        if self._cancelled.is_set():
            raise _Halted
        failed = [
            name
            for name, phase in phases.items()
            if phase != "Succeeded" and not _continues_on(tasks[name], phase)
        ]
        if failed:
            child_id = _node_id(self.name, f"{node_name}.{failed[0]}")
            return self._end_node(node_id, "Failed", f"child '{child_id}' failed")
        if interrupt.is_set() or len(phases) < len(tasks):
            return self._end_node(
                node_id, "Failed", f"Stopped with strategy '{self.shutdown or 'Terminate'}'"
            )
        return self._end_node(node_id, "Succeeded", None)

    def _step_call(
        self,
        *,
        step: dict[str, Any],
        parent_name: str,
        parent_id: str,
        boundary: str,
        scope: dict[str, str],
        interrupt: threading.Event,
        separator: str = ".",
    ) -> Callable[[], str]:
        """A callable running one step/task node under `parent_id`."""
        node_name = f"{parent_name}{separator}{step['name']}"
        arguments = {
            p["name"]: _substitute_text(str(p.get("value", "")), scope)
            for p in step.get("arguments", {}).get("parameters", [])
        }

        def call() -> str:
            return self._execute(
                template_name=step.get("template", ""),
                node_name=node_name,
                display_name=step["name"],
                boundary=boundary,
                parent=parent_id,
                inputs=arguments,
                interrupt=interrupt,
            )

        return call

    def _parallel(self, calls: list[Callable[[], str]]) -> list[str]:
        """Run calls on their own threads (steps of one group run in parallel) and join them all."""
        results = ["Error"] * len(calls)

        def runner(index: int, call: Callable[[], str]) -> None:
            try:
                results[index] = call()
            except _Halted:
                results[index] = "Error"

        threads = [threading.Thread(target=runner, args=(i, c), daemon=True) for i, c in enumerate(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._cancelled.is_set():
            raise _Halted
        return results

    def _run_suspend(
        self,
        *,
        template: dict[str, Any],
        node_id: str,
        node_name: str,
        display_name: str,
        boundary: str | None,
        parent: str | None,
        interrupt: threading.Event,
    ) -> str:
        """A Suspend node: Running until resumed, until its duration has passed, or until a shutdown."""
        node = _node(node_id, node_name, display_name, "Suspend", template.get("name", ""), boundary)
        raw_duration = (template.get("suspend") or {}).get("duration")
        try:
            duration = _duration_seconds(raw_duration)
        except ValueError:
            self._set_node(node_id, node, parent=parent)
            return self._end_node(node_id, "Error", f"invalid suspend duration '{raw_duration}'")
        node["phase"] = "Running"  # Argo creates a suspended node Running, never Pending
        suspension = _Suspension()
        with self._suspend_lock:
            self._suspended[node_id] = suspension
        try:
            self._set_node(node_id, node, parent=parent)
            with self._suspend_lock:
                suspension.written = True  # from now on, only a resume writes this node's phase
            scaled = None if duration is None else duration * self._controller.time.factor
            deadline = None if scaled is None else time.monotonic() + scaled
            while True:
                if self._cancelled.is_set():
                    raise _Halted
                with self._suspend_lock:
                    outcome = suspension.outcome
                if outcome is not None or interrupt.is_set():
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                suspension.wake.wait(remaining)
                suspension.wake.clear()  # every reason to wake is set before the event, so none is lost
        finally:
            with self._suspend_lock:
                self._suspended.pop(node_id, None)
        if outcome is not None:
            return self._end_node(node_id, outcome[0], outcome[1])
        if interrupt.is_set():
            return self._end_node(
                node_id, "Failed", f"Stopped with strategy '{self.shutdown or 'Terminate'}'"
            )
        return self._end_node(node_id, "Succeeded", None)

    def _run_pod(
        self,
        *,
        template: dict[str, Any],
        node_id: str,
        node_name: str,
        display_name: str,
        boundary: str | None,
        parent: str | None,
        interrupt: threading.Event,
    ) -> str:
        """Play the pod's script, archive its log, record exit code and artifact."""
        if self._cancelled.is_set():
            raise _Halted
        if interrupt.is_set():
            return "Omitted"  # shutdown came first: Argo creates no pod (and no node) for it
        node = _node(node_id, node_name, display_name, "Pod", template.get("name", ""), boundary)
        self._set_node(node_id, node, parent=parent)
        script = self._controller.scripts.find(
            workflow=self.name, step=display_name, template=template.get("name", "")
        ) or scripts.script_from_template(template)
        self._node_running(node_id)
        lines: list[str] = []
        interrupted = False
        for delay, line in script.events():
            if delay and not self._controller.time.wait(delay, cancel=interrupt):
                interrupted = True
                break
            if line is not None:
                lines.append(line)
        if self._cancelled.is_set():
            raise _Halted
        pod_name = _pod_name(self.name, node_name, template.get("name", ""))
        outputs: dict[str, Any] = {"exitCode": "143" if interrupted else str(script.exit_code)}
        if self._controller.artifacts is not None:
            key = (
                render_key(
                    self._controller.artifacts.key_format,
                    namespace=self.namespace,
                    workflow_name=self.name,
                    pod_name=pod_name,
                    created=self.created,
                    workflow_uid=self.uid,
                )
                + "/main.log"
            )
            self._controller.archive_log(key=key, text="".join(f"{line}\n" for line in lines))
            outputs["artifacts"] = [{"name": "main-logs", "s3": {"key": key}}]
        with self._lock:
            self.status["nodes"][node_id]["outputs"] = outputs
        if interrupted:
            return self._end_node(node_id, "Failed", f"workflow shutdown with strategy: {self.shutdown}")
        if script.exit_code != 0:
            return self._end_node(node_id, "Failed", f"Error (exit code {script.exit_code})")
        return self._end_node(node_id, "Succeeded", None)

    # -- status writing ------------------------------------------------------------------
    def _scope(self, template: dict[str, Any], inputs: dict[str, str]) -> dict[str, str]:
        scope = {f"workflow.parameters.{k}": v for k, v in self.parameters.items()}
        scope["workflow.name"] = self.name
        scope["workflow.namespace"] = self.namespace
        scope["workflow.uid"] = self.uid
        scope["workflow.status"] = getattr(self, "_workflow_status", "Running")
        for declared in template.get("inputs", {}).get("parameters", []):
            value = inputs.get(declared["name"], declared.get("value", declared.get("default", "")))
            scope[f"inputs.parameters.{declared['name']}"] = str(value)
        return scope

    def _set_node(self, node_id: str, node: dict[str, Any], *, parent: str | None) -> None:
        """Record a new node and list it among its parent's children."""
        with self._lock:
            self.status["nodes"][node_id] = node
            if parent is not None:
                children = self.status["nodes"][parent].setdefault("children", [])
                if node_id not in children:
                    children.append(node_id)
            self._write()

    def _node_running(self, node_id: str) -> None:
        with self._lock:
            self.status["nodes"][node_id]["phase"] = "Running"
            self._write()

    def _end_node(self, node_id: str, phase: str, message: str | None) -> str:
        with self._lock:
            node = self.status["nodes"][node_id]
            node["phase"] = phase
            node["finishedAt"] = now_rfc3339()
            if message:
                node["message"] = message
            self._write()
        return phase

    def _update(self, **fields: Any) -> None:
        with self._lock:
            old_phase = self.status.get("phase")
            self.status.update(fields)
            self._write()
            if fields.get("phase") and fields["phase"] != old_phase:
                self._patch_labels({LABEL_PHASE: fields["phase"]})

    def _finish(self, phase: str, message: str | None) -> None:
        """Labels first, then the final status, so whoever sees the final phase sees both."""
        with self._lock:
            self._patch_labels({LABEL_PHASE: phase, LABEL_COMPLETED: "true"})
            if message:
                self.status["message"] = message
            self.status["finishedAt"] = now_rfc3339()
            self.status["phase"] = phase
            self._write()

    def _write(self) -> None:
        """Send the whole status (merge patch on /status); a vanished workflow halts the run."""
        if self._cancelled.is_set():
            raise _Halted
        pods = [n for n in self.status["nodes"].values() if n["type"] == "Pod"]
        self.status["progress"] = f"{sum(n['phase'] in _NODE_DONE for n in pods)}/{len(pods)}"
        if self._controller.artifacts is not None:
            self.status["artifactRepositoryRef"] = {
                "default": True,
                "artifactRepository": self._controller.artifacts.to_status(),
            }
        status = self.status
        with self._suspend_lock:
            waiting = [node_id for node_id, s in self._suspended.items() if s.written]
        if waiting:
            # A merge patch without `phase` leaves the stored one alone: a resume written by
            # someone else since our last write stays.
            nodes = dict(status["nodes"])
            for node_id in waiting:
                nodes[node_id] = {k: v for k, v in nodes[node_id].items() if k != "phase"}
            status = {**status, "nodes": nodes}
        try:
            self._api.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, "workflows", self.name, {"status": status}
            )
        except ApiException as exc:
            if exc.status == 404:
                self.cancel()
                raise _Halted from exc
            raise

    def _apply_workflow_metadata(self, metadata: dict[str, Any]) -> None:
        """`spec.workflowMetadata` (its own, or its WorkflowTemplate's) on the Workflow, as Argo
        writes it: labels and annotations the Workflow does not set itself."""
        own = self.workflow.get("metadata", {})
        patch: dict[str, dict[str, str]] = {}
        for key in ("labels", "annotations"):
            given = {k: str(v) for k, v in (metadata.get(key) or {}).items() if k not in (own.get(key) or {})}
            if given:
                patch[key] = given
        if not patch:
            return
        try:
            self._api.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "workflows", self.name, {"metadata": patch}
            )
        except ApiException as exc:
            if exc.status == 404:
                self.cancel()
                raise _Halted from exc
            raise

    def _patch_labels(self, labels: dict[str, str]) -> None:
        try:
            self._api.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "workflows", self.name, {"metadata": {"labels": labels}}
            )
        except ApiException as exc:
            if exc.status == 404:
                self.cancel()
                raise _Halted from exc
            raise


class _SpecError(Exception):
    """The workflow cannot run as written: it ends in phase Error with this message."""


@dataclass
class _Suspension:
    """A Suspend node waiting: woken by a resume (`outcome`), a shutdown or a cancellation."""

    wake: threading.Event = field(default_factory=threading.Event)
    #: (phase, message) written by whoever resumed the node; None while it waits.
    outcome: tuple[str, str | None] | None = None
    #: The node's Running phase has been written; later status writes leave the phase out.
    written: bool = False


def _duration_seconds(value: Any) -> float | None:
    """A suspend `duration` in seconds: `"20"` (seconds), `"30s"`, `"2m"`, `"1h30m"`; None: no limit.

    Raises:
        ValueError: for anything else.
    """
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not re.fullmatch(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+", text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))


def _node(
    node_id: str, name: str, display_name: str, node_type: str, template_name: str, boundary: str | None
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": node_id,
        "name": name,
        "displayName": display_name,
        "type": node_type,
        "templateName": template_name,
        "phase": "Pending",
        "startedAt": now_rfc3339(),
    }
    if boundary:
        node["boundaryID"] = boundary
    return node


def _fnv32a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def _node_id(workflow_name: str, node_name: str) -> str:
    """Argo's node id: `<workflow>-<fnv32a(node name)>` (the root node's id is the workflow name)."""
    return f"{workflow_name}-{_fnv32a(node_name)}"


def _pod_name(workflow_name: str, node_name: str, template_name: str) -> str:
    """Pod names as Argo v3.4+ (POD_NAMES=v2): `<workflow>-<template>-<fnv32a(node name)>`."""
    if node_name == workflow_name:
        return workflow_name
    prefix = f"{workflow_name}-{template_name}"
    if len(prefix) > 242:  # keep room for the hash within the 253-character name limit
        prefix = prefix[:242]
    return f"{prefix}-{_fnv32a(node_name)}"


def _merge_parameters(*, declared: list[dict[str, Any]], given: list[dict[str, Any]]) -> dict[str, str]:
    """Template defaults overridden by the submitted values; refuse missing values and enum misses."""
    values = {p["name"]: p.get("value") for p in given if "name" in p}
    merged: dict[str, str] = {}
    for param in declared:
        name = param.get("name", "")
        value = values.pop(name, param.get("value", param.get("default")))
        if value is None:
            raise _SpecError(f"invalid spec: spec.arguments.{name}.value is required")
        enum = [str(v) for v in param.get("enum") or []]
        if enum and str(value) not in enum:
            raise _SpecError(
                f"invalid spec: spec.arguments.{name}.value: '{value}' is not one of the enum values "
                f"[{' '.join(enum)}]"
            )
        merged[name] = str(value)
    merged.update({k: str(v) for k, v in values.items() if v is not None})
    return merged


def _dependencies(task: dict[str, Any]) -> list[str]:
    """`dependencies`, or the task names in a simple `depends` expression (`a && b.Succeeded`)."""
    if task.get("dependencies"):
        return list(task["dependencies"])
    depends = str(task.get("depends", ""))
    names = re.findall(r"[A-Za-z0-9][\w-]*(?:\.\w+)?", depends)
    return [name.split(".")[0] for name in names]


def _continues_on(step: dict[str, Any], phase: str) -> bool:
    continue_on = step.get("continueOn") or {}
    return bool(continue_on.get("failed") and phase == "Failed") or bool(
        continue_on.get("error") and phase == "Error"
    )


def _substitute_text(text: str, scope: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: scope.get(m.group(1), m.group(0)), text)


def _substitute(value: Any, scope: dict[str, str]) -> Any:
    """Replace `{{...}}` variables in every string of a template (never evaluated as code)."""
    if isinstance(value, str):
        return _substitute_text(value, scope)
    if isinstance(value, list):
        return [_substitute(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, scope) for k, v in value.items()}
    return value
