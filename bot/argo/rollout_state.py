"""What a person sees of an Argo Rollout, read from its raw object. Pure.

Kept apart from the adapter (`bot.argo.rollouts`) so `bot.render` can use these records
without importing the Kubernetes client. The reading follows `kubectl argo rollouts get`:
the step shown is `status.currentStepIndex` of `spec.strategy.canary.steps`; the weight is
the traffic router's `status.canary.weights.canary.weight` when Argo wrote one, else the
last `setWeight` step reached (100 once every step is done, 0 after an abort).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REVISION_ANNOTATION = "rollout.argoproj.io/revision"
HASH_LABEL = "rollouts-pod-template-hash"


@dataclass(frozen=True)
class RolloutSummary:
    """One line of `rollouts`."""

    name: str
    namespace: str
    step: int  # currentStepIndex, 0-based; == steps when done
    steps: int
    weight: int
    phase: str
    message: str
    revision: int | None
    aborted: bool
    paused: bool  # waiting for a promote (pause conditions, or spec.paused)

    @property
    def step_shown(self) -> str:
        """`2/5` as people count steps (1-based), `5/5` when done, `-` without steps."""
        if not self.steps:
            return "-"
        return f"{min(self.step + 1, self.steps)}/{self.steps}"


@dataclass(frozen=True)
class AnalysisInfo:
    name: str
    phase: str
    message: str


@dataclass(frozen=True)
class RolloutDetail:
    """`rollout NAME`: the summary, its steps, its analysis runs and images."""

    summary: RolloutSummary
    step_texts: tuple[str, ...]
    analysis_runs: tuple[AnalysisInfo, ...]
    images: tuple[str, ...]
    stable_hash: str
    current_hash: str


def _steps(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    strategy = (obj.get("spec") or {}).get("strategy") or {}
    return [dict(step) for step in (strategy.get("canary") or {}).get("steps") or []]


def describe_step(step: Mapping[str, Any]) -> str:
    """`setWeight: 20`, `pause` / `pause: 30s`, `analysis: success-rate`, as the plugin lists steps."""
    if "setWeight" in step:
        return f"setWeight: {step['setWeight']}"
    if "pause" in step:
        duration = (step.get("pause") or {}).get("duration")
        return f"pause: {duration}" if duration is not None else "pause (until promoted)"
    if "analysis" in step:
        names = [str(t.get("templateName", "")) for t in (step.get("analysis") or {}).get("templates") or []]
        return "analysis: " + (", ".join(n for n in names if n) or "(no template)")
    return next(iter(step), "step")


def summary(obj: Mapping[str, Any]) -> RolloutSummary:
    """The summary of a raw Rollout."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    steps = _steps(obj)
    index = status.get("currentStepIndex")
    step = int(index) if isinstance(index, int) else 0
    aborted = bool(status.get("abort"))
    revision_text = str((meta.get("annotations") or {}).get(REVISION_ANNOTATION, ""))
    return RolloutSummary(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        step=step,
        steps=len(steps),
        weight=_weight(status, steps, step, aborted=aborted),
        phase=str(status.get("phase") or "Unknown"),
        message=str(status.get("message") or ""),
        revision=int(revision_text) if revision_text.isdigit() else None,
        aborted=aborted,
        paused=bool(status.get("pauseConditions")) or bool((obj.get("spec") or {}).get("paused")),
    )


def _weight(status: Mapping[str, Any], steps: list[dict[str, Any]], step: int, *, aborted: bool) -> int:
    weights = (status.get("canary") or {}).get("weights") or {}
    written = (weights.get("canary") or {}).get("weight")
    if isinstance(written, int):
        return written
    if aborted:
        return 0
    if step >= len(steps):
        return 100
    reached = [int(s["setWeight"]) for s in steps[: step + 1] if "setWeight" in s]
    return reached[-1] if reached else 0


def detail(obj: Mapping[str, Any], analysis_runs: list[Mapping[str, Any]]) -> RolloutDetail:
    """The detail of a raw Rollout and its raw AnalysisRuns (oldest first)."""
    status = obj.get("status") or {}
    template = (obj.get("spec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    runs = tuple(
        AnalysisInfo(
            name=str((run.get("metadata") or {}).get("name", "")),
            phase=str((run.get("status") or {}).get("phase") or "Pending"),
            message=str((run.get("status") or {}).get("message") or ""),
        )
        for run in sorted(
            analysis_runs, key=lambda r: str((r.get("metadata") or {}).get("creationTimestamp", ""))
        )
    )
    return RolloutDetail(
        summary=summary(obj),
        step_texts=tuple(describe_step(step) for step in _steps(obj)),
        analysis_runs=runs,
        images=tuple(str(c.get("image", "")) for c in containers),
        stable_hash=str(status.get("stableRS") or ""),
        current_hash=str(status.get("currentPodHash") or ""),
    )
