"""A run's state as people see it, read from an Argo Workflow object, and what changed between two reads.

`workflow_state` turns the Workflow's `status` (and `spec.shutdown`) into a frozen `RunState` that
keeps only what the progress thread shows: phase, progress, times, message and the steps (`Pod`
nodes; Steps/DAG/StepGroup/Retry nodes are scaffolding nobody asked to watch). `diff` compares two
states and lists the `Transition`s worth a thread reply, each exactly once and in the order they
happened, so a watch that delivers many small updates, or one that skipped several, posts the same
thread.

Pure: no I/O, no clock (times come from the object), no Kubernetes types (a plain `Mapping`).
It leaves out Argo CD syncs (their waves live in `operationState`, not in nodes) and persistence
of states. Called by the tracker, and by the renderer for types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bot.config import LogsSettings

PHASE_PENDING = "Pending"
PHASE_RUNNING = "Running"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASE_ERROR = "Error"
# What people are shown for a run someone stopped or terminated: Argo itself calls it Failed.
PHASE_STOPPED = "Stopped"
PHASE_TERMINATED = "Terminated"
FINAL_PHASES = frozenset({PHASE_SUCCEEDED, PHASE_FAILED, PHASE_ERROR, PHASE_STOPPED, PHASE_TERMINATED})
# Node phases that end a step without it having run (a `when` that was false, a shutdown first).
NOT_RUN_PHASES = frozenset({"Skipped", "Omitted"})

NODE_TYPE_POD = "Pod"
NODE_TYPE_SUSPEND = "Suspend"
#: On a Workflow (Argo copies it from its WorkflowTemplate's `spec.workflowMetadata`): the
#: suspend steps to announce as approval cards, by name, comma-separated, or `*` for all.
APPROVAL_STEPS_ANNOTATION = "argo-chatops/approval-steps"
LOG_ARTIFACT = "main-logs"
# What Argo's controller writes on a pod it interrupted for `spec.shutdown`.
SHUTDOWN_MESSAGE = "workflow shutdown with strategy"

TransitionKind = Literal["step-started", "step-succeeded", "step-failed", "finished"]


@dataclass(frozen=True)
class StepView:
    """One step (an Argo `Pod` node) as the thread shows it."""

    node_id: str
    name: str
    template: str
    phase: str
    started_at: datetime | None
    finished_at: datetime | None
    message: str
    exit_code: int | None
    log_key: str | None

    @property
    def is_failed(self) -> bool:
        return self.phase in (PHASE_FAILED, PHASE_ERROR)

    @property
    def is_final(self) -> bool:
        return self.phase in FINAL_PHASES or self.phase in NOT_RUN_PHASES

    @property
    def is_interrupted(self) -> bool:
        """Failed because the workflow was stopped or terminated, not through a fault of its own."""
        return self.is_failed and self.message.startswith(SHUTDOWN_MESSAGE)


@dataclass(frozen=True)
class WaitingStep:
    """A suspend step the Workflow waits at, announced for approval (`APPROVAL_STEPS_ANNOTATION`)."""

    node_id: str
    name: str


@dataclass(frozen=True)
class RunState:
    """What the parent message shows about one run at one moment."""

    phase: str
    progress: str
    started_at: datetime | None
    finished_at: datetime | None
    message: str
    shutdown: str | None
    steps: tuple[StepView, ...]
    waiting: tuple[WaitingStep, ...] = ()

    @property
    def is_final(self) -> bool:
        return self.phase in FINAL_PHASES

    @property
    def is_stopped(self) -> bool:
        """Ended (or ending) because someone asked for `spec.shutdown`, not on its own."""
        return self.shutdown is not None

    @property
    def shown_phase(self) -> str:
        """The phase as every message shows it: a run someone stopped ends Stopped, never Failed."""
        if self.shutdown is None:
            return self.phase or PHASE_PENDING
        terminate = self.shutdown == "Terminate"
        if self.is_final:
            return PHASE_TERMINATED if terminate else PHASE_STOPPED
        return "Terminating" if terminate else "Stopping"

    @property
    def step_progress(self) -> str:
        """`succeeded/steps`, the one count `runs`, `status`, the parent and the summary all show."""
        if not self.steps:
            return self.progress
        succeeded = sum(step.phase == PHASE_SUCCEEDED for step in self.steps)
        # Argo's own `progress` (done/total) knows steps that have not started yet
        _, _, argo_total = self.progress.partition("/")
        total = max(len(self.steps), int(argo_total) if argo_total.isdigit() else 0)
        return f"{succeeded}/{total}"


@dataclass(frozen=True)
class Transition:
    """Something worth a thread reply: a step started/succeeded/failed, or the run finished."""

    kind: TransitionKind
    step: StepView | None


@dataclass(frozen=True)
class LogScope:
    """Where the bot's runs archive their logs: only keys there are ever linked or read.

    A Workflow's status is written by whatever runs in it, so an artifact could name another
    run's log or another bucket; a step's log key is kept only when it lies in `bucket` under
    the run's own prefix of `key_format` (Argo's `keyFormat`).
    """

    bucket: str
    key_format: str


def log_scope(logs: LogsSettings | None) -> LogScope | None:
    """The scope of the configured log archive, or None when logs are not archived."""
    return LogScope(bucket=logs.bucket, key_format=logs.key_format) if logs is not None else None


_KEY_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


def own_log_prefix(key_format: str, obj: Mapping[str, Any]) -> str:
    """The start of every log key of this Workflow: `key_format` up to its first per-step variable.

    `{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}` gives `argo/hello-x7k2p/`.
    """
    meta = _mapping(obj.get("metadata"))
    created = parse_time(meta.get("creationTimestamp"))
    known = {
        "workflow.namespace": _text(meta.get("namespace")),
        "workflow.name": _text(meta.get("name")),
        "workflow.uid": _text(meta.get("uid")),
    }
    if created is not None:
        for part, fmt in (("Y", "%Y"), ("m", "%m"), ("d", "%d"), ("H", "%H"), ("M", "%M"), ("S", "%S")):
            known[f"workflow.creationTimestamp.{part}"] = created.strftime(fmt)
    prefix, at = [], 0
    for match in _KEY_VARIABLE.finditer(key_format):
        value = known.get(match.group(1))
        prefix.append(key_format[at : match.start()])
        if not value:
            return "".join(prefix).lstrip("/")
        prefix.append(value)
        at = match.end()
    prefix.append(key_format[at:])
    return "".join(prefix).lstrip("/")


def workflow_state(obj: Mapping[str, Any], *, logs: LogScope | None = None) -> RunState:
    """Read a Workflow object (as the API returns it) into a `RunState`.

    Tolerant of anything missing or malformed: a Workflow the controller has not touched yet is
    `Pending` with no steps. Steps are ordered by `startedAt`, then name, then node id. With
    `logs`, a step's log key outside the run's own place in the archive is dropped.
    """
    spec = _mapping(obj.get("spec"))
    status = _mapping(obj.get("status"))
    nodes = _mapping(status.get("nodes"))
    scope = (logs.bucket, own_log_prefix(logs.key_format, obj)) if logs is not None else None
    steps = [
        _step(node_id=str(key), node=_mapping(node), scope=scope)
        for key, node in nodes.items()
        if _mapping(node).get("type") == NODE_TYPE_POD
    ]
    steps.sort(key=_step_order)
    shutdown = spec.get("shutdown")
    announced = {
        name.strip()
        for name in _text(
            _mapping(_mapping(obj.get("metadata")).get("annotations")).get(APPROVAL_STEPS_ANNOTATION)
        ).split(",")
        if name.strip()
    }
    waiting = sorted(
        (
            WaitingStep(node_id=str(key), name=_text(_mapping(node).get("displayName")))
            for key, node in nodes.items()
            if _mapping(node).get("type") == NODE_TYPE_SUSPEND
            and _text(_mapping(node).get("phase")) == PHASE_RUNNING
            and ("*" in announced or _text(_mapping(node).get("displayName")) in announced)
        ),
        key=lambda step: (step.name, step.node_id),
    )
    return RunState(
        phase=_text(status.get("phase")) or PHASE_PENDING,
        progress=_text(status.get("progress")),
        started_at=parse_time(status.get("startedAt")),
        finished_at=parse_time(status.get("finishedAt")),
        message=_text(status.get("message")),
        shutdown=str(shutdown) if shutdown else None,
        steps=tuple(steps),
        waiting=tuple(waiting) if shutdown is None else (),
    )


def diff(old: RunState | None, new: RunState) -> list[Transition]:
    """The transitions from `old` (None: nothing seen yet) to `new`, in the order they happened.

    A step reported `Running` yields `step-started`; one that reached Succeeded or Failed/Error
    yields its end event once. A step first seen already ended (the watch skipped its Running)
    yields only the end event, so the thread never says "started" after the fact. `finished`
    comes last, once, when the run's phase becomes final.
    """
    seen = {step.node_id: step for step in old.steps} if old else {}
    timed: list[tuple[datetime, int, int, Transition]] = []
    for index, step in enumerate(new.steps):
        before = seen.get(step.node_id)
        was = _stage(before.phase) if before else _NOT_STARTED
        if _stage(step.phase) == _STARTED and was == _NOT_STARTED:
            timed.append((_when(step.started_at), index, 0, Transition("step-started", step)))
        elif _stage(step.phase) == _ENDED and was != _ENDED:
            kind: TransitionKind = "step-succeeded" if step.phase == PHASE_SUCCEEDED else "step-failed"
            moment = step.finished_at or step.started_at
            timed.append((_when(moment), index, 1, Transition(kind, step)))
    # Seconds are all Argo records, so ties are common: step order (start time, then name) breaks
    # them, which puts a step's end before the start of the next step of a sequence.
    timed.sort(key=lambda item: item[:3])
    transitions = [item[3] for item in timed]
    if new.is_final and (old is None or not old.is_final):
        transitions.append(Transition("finished", None))
    return transitions


def first_failed_step(state: RunState) -> StepView | None:
    """The step that failed first: the one whose log tail the final summary shows."""
    failed = [step for step in state.steps if step.is_failed]
    if not failed:
        return None
    return min(failed, key=lambda step: (_when(step.finished_at), _step_order(step)))


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (`2024-01-02T03:04:05Z`) as an aware datetime; None if absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_NOT_STARTED, _STARTED, _ENDED = 0, 1, 2


def _stage(phase: str) -> int:
    """Pending (or Skipped/Omitted: never ran) < Running < Succeeded/Failed/Error."""
    if phase == PHASE_RUNNING:
        return _STARTED
    if phase in FINAL_PHASES:
        return _ENDED
    return _NOT_STARTED


_LATEST = datetime.max.replace(tzinfo=UTC)


def _when(moment: datetime | None) -> datetime:
    return moment or _LATEST


def _step_order(step: StepView) -> tuple[datetime, str, str]:
    return (_when(step.started_at), step.name, step.node_id)


def _step(*, node_id: str, node: Mapping[str, Any], scope: tuple[str, str] | None) -> StepView:
    outputs = _mapping(node.get("outputs"))
    return StepView(
        node_id=_text(node.get("id")) or node_id,
        name=_text(node.get("displayName")) or _text(node.get("name")) or node_id,
        template=_text(node.get("templateName")),
        phase=_text(node.get("phase")) or PHASE_PENDING,
        started_at=parse_time(node.get("startedAt")),
        finished_at=parse_time(node.get("finishedAt")),
        message=_text(node.get("message")),
        exit_code=_exit_code(outputs.get("exitCode")),
        log_key=_log_key(outputs.get("artifacts"), scope=scope),
    )


def _exit_code(value: Any) -> int | None:
    """Argo writes the exit code as a string ("1"); anything unreadable is unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _log_key(artifacts: Any, *, scope: tuple[str, str] | None) -> str | None:
    if not isinstance(artifacts, list):
        return None
    for artifact in artifacts:
        item = _mapping(artifact)
        if item.get("name") == LOG_ARTIFACT:
            s3 = _mapping(item.get("s3"))
            key = _text(s3.get("key"))
            if not key:
                return None
            if scope is not None:
                bucket, prefix = scope
                named = _text(s3.get("bucket"))
                if (named and named != bucket) or not key.startswith(prefix):
                    return None  # not this run's log: never linked, never read
            return key
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
