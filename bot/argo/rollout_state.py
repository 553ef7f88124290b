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
from typing import Any, Literal

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


# -- a Rollout followed in a Slack thread ------------------------------------------------------

#: On a Rollout: the run of the bot's last command on it, whose thread follows it (as a
#: Workflow's label `argo-chatops/run-id`); written with (or just before) the command's write.
RUN_ID_ANNOTATION = "argo-chatops/run-id"
PAUSE_STEP_REASON = "CanaryPauseStep"
PHASE_HEALTHY = "Healthy"
PHASE_PAUSED = "Paused"
PHASE_DEGRADED = "Degraded"
ANALYSIS_RUNNING = "Running"
ANALYSIS_SUCCESSFUL = "Successful"

#: What a followed run asked of its Rollout (`Run.parameters["action"]`).
ACTION_PROMOTE = "promote"
ACTION_PROMOTE_FULL = "promote-full"
ACTION_ABORT = "abort"
ACTION_RETRY = "retry"
ACTION_UNDO = "undo"
ACTIONS = (ACTION_PROMOTE, ACTION_PROMOTE_FULL, ACTION_ABORT, ACTION_RETRY, ACTION_UNDO)

#: How a followed run ends: the action's work is done (fully promoted, paused at the next
#: pause step, rolled back to stable), or another command or a new revision took the Rollout over.
OUTCOME_HEALTHY = "healthy"
OUTCOME_PAUSED = "paused"
OUTCOME_ABORTED = "aborted"
OUTCOME_SUPERSEDED = "superseded"
OUTCOME_NEW_REVISION = "new-revision"

_PARAM_ACTION = "action"
_PARAM_STEP = "from_step"
_PARAM_POD_HASH = "from_pod_hash"
_PARAM_ABORTED_AT = "from_aborted_at"


@dataclass(frozen=True)
class Asked:
    """A followed run's command and the Rollout as it was just before it (from the run's parameters)."""

    run_id: str
    action: str
    step: int
    pod_hash: str
    aborted_at: str


def asked_parameters(obj: Mapping[str, Any], *, action: str) -> dict[str, Any]:
    """What a run records before its write: the action and where the Rollout `obj` stood."""
    status = _mapping(obj.get("status"))
    return {
        _PARAM_ACTION: action,
        _PARAM_STEP: summary(obj).step,
        _PARAM_POD_HASH: _text(status.get("currentPodHash")),
        _PARAM_ABORTED_AT: _text(status.get("abortedAt")),
    }


def asked_of(run_id: str, parameters: Mapping[str, Any] | None) -> Asked:
    """The `Asked` of a run from its id and parameters (`asked_parameters`)."""
    values = parameters or {}
    step = values.get(_PARAM_STEP)
    return Asked(
        run_id=run_id,
        action=_text(values.get(_PARAM_ACTION)) or ACTION_PROMOTE,
        step=step if isinstance(step, int) and not isinstance(step, bool) else 0,
        pod_hash=_text(values.get(_PARAM_POD_HASH)),
        aborted_at=_text(values.get(_PARAM_ABORTED_AT)),
    )


@dataclass(frozen=True)
class Analysis:
    """`status.canary.currentStepAnalysisRunStatus`: the analysis run of the current step."""

    name: str
    status: str
    message: str
    step: int  # the step index it was read at


@dataclass(frozen=True)
class FollowedRollout:
    """A Rollout as its run's thread shows it at one moment, with what the run asked."""

    asked: Asked
    summary: RolloutSummary
    labels: tuple[str, ...]  # each step as a thread line names it: `setWeight 50`, `pause 30s`
    templates: tuple[tuple[str, ...], ...]  # each step's analysis templates (empty for others)
    waits_for_promote: bool  # paused at a `pause: {}` step: only a promote moves it on
    manual_pause: bool  # `spec.paused` (someone paused it by hand)
    pod_hash: str
    aborted_at: str
    analysis: Analysis | None
    owner: str  # the run id on the Rollout now

    @property
    def taken_up(self) -> bool:
        """Whether the controller has acted on the command (before that the Rollout is as it was)."""
        asked, now = self.asked, self.summary
        new_revision = bool(asked.pod_hash) and self.pod_hash != asked.pod_hash
        if asked.action == ACTION_UNDO:
            return new_revision
        if asked.action == ACTION_ABORT:
            return now.aborted
        if asked.action == ACTION_RETRY:
            return new_revision or not (now.phase == PHASE_DEGRADED and self.aborted_at == asked.aborted_at)
        return new_revision or now.step != asked.step or now.aborted or self.is_healthy

    @property
    def is_healthy(self) -> bool:
        return self.summary.phase == PHASE_HEALTHY and self.summary.step >= self.summary.steps

    @property
    def outcome(self) -> str | None:
        """How the run ended (an `OUTCOME_*`), or None while its command is still at work."""
        asked, now = self.asked, self.summary
        if self.owner and self.owner != asked.run_id:
            return OUTCOME_SUPERSEDED
        if not self.taken_up:
            return None
        if asked.action in (ACTION_PROMOTE, ACTION_PROMOTE_FULL, ACTION_RETRY) and (
            asked.pod_hash and self.pod_hash != asked.pod_hash
        ):
            return OUTCOME_NEW_REVISION
        if now.aborted:
            return OUTCOME_ABORTED if now.phase == PHASE_DEGRADED else None
        if asked.action == ACTION_ABORT:
            return None
        if self.is_healthy:
            return OUTCOME_HEALTHY
        if self.waits_for_promote and asked.action != ACTION_PROMOTE_FULL:
            return OUTCOME_PAUSED
        return None

    @property
    def succeeded(self) -> bool:
        """Whether the run's command did what it was for (an abort that ended aborted did)."""
        outcome = self.outcome
        if outcome == OUTCOME_ABORTED:
            return self.asked.action == ACTION_ABORT
        return outcome in (OUTCOME_HEALTHY, OUTCOME_PAUSED)


EventKind = Literal["step", "analysis", "manual-pause"]


@dataclass(frozen=True)
class RolloutEvent:
    """Something worth a thread reply; `identity` names it within its run (for its outbox key)."""

    kind: EventKind
    identity: str
    step: int  # 0-based
    label: str  # the step's label, or the analysis templates
    analysis: Analysis | None = None


def step_label(step: Mapping[str, Any]) -> str:
    """A step as a thread line names it: `setWeight 40`, `pause until promoted`, `pause 30s`, `analysis x`."""
    if "setWeight" in step:
        return f"setWeight {step['setWeight']}"
    if "pause" in step:
        duration = _mapping(step.get("pause")).get("duration")
        return f"pause {duration}" if duration is not None else "pause until promoted"
    if "analysis" in step:
        return "analysis " + (", ".join(_templates(step)) or "(no template)")
    return next(iter(step), "step")


def _templates(step: Mapping[str, Any]) -> tuple[str, ...]:
    if "analysis" not in step:
        return ()
    listed = _mapping(step.get("analysis")).get("templates") or []
    found = [_text(_mapping(template).get("templateName")) for template in listed]
    return tuple(name for name in found if name)


def followed(obj: Mapping[str, Any], asked: Asked) -> FollowedRollout:
    """Read a Rollout for the run that `asked` something of it. Tolerant of anything missing."""
    status = _mapping(obj.get("status"))
    steps = _steps(obj)
    now = summary(obj)
    conditions = status.get("pauseConditions") or []
    at_pause_step = any(_mapping(c).get("reason") == PAUSE_STEP_REASON for c in conditions)
    current = steps[now.step] if now.step < len(steps) else {}
    until_promoted = "pause" in current and _mapping(current.get("pause")).get("duration") is None
    raw = _mapping(_mapping(status.get("canary")).get("currentStepAnalysisRunStatus"))
    analysis = (
        Analysis(
            name=_text(raw.get("name")),
            status=_text(raw.get("status")),
            message=_text(raw.get("message")),
            step=now.step,
        )
        if raw.get("name")
        else None
    )
    return FollowedRollout(
        asked=asked,
        summary=now,
        labels=tuple(step_label(step) for step in steps),
        templates=tuple(_templates(step) for step in steps),
        waits_for_promote=at_pause_step and until_promoted and not now.aborted,
        manual_pause=bool(_mapping(obj.get("spec")).get("paused")),
        pod_hash=_text(status.get("currentPodHash")),
        aborted_at=_text(status.get("abortedAt")),
        analysis=analysis,
        owner=_text(_mapping(_mapping(obj.get("metadata")).get("annotations")).get(RUN_ID_ANNOTATION)),
    )


def events(old: FollowedRollout | None, new: FollowedRollout) -> list[RolloutEvent]:
    """The thread replies from `old` (None: nothing seen yet, as after a restart) to `new`, in order.

    Nothing before the controller took the command up, nor once another command owns the
    Rollout. A step reached gets one reply (the current one only: the status does not say which
    steps were passed and which skipped); an analysis step left forward after it was seen
    Running succeeded; a failed analysis is said once; a hand-made pause (`spec.paused`) once.
    Identities derive from the revision (pod hash), the step and the analysis run, so the same
    report read again (each event, a new leader) is the same reply.
    """
    if new.outcome == OUTCOME_SUPERSEDED or not new.taken_up:
        return []
    was = old if old is not None and old.taken_up and old.pod_hash == new.pod_hash else None
    now = new.summary
    out: list[RolloutEvent] = []
    before = was.analysis if was is not None else None
    if (
        was is not None
        and before is not None
        and before.status == ANALYSIS_RUNNING
        and now.step > was.summary.step
        and not now.aborted
    ):
        done = Analysis(name=before.name, status=ANALYSIS_SUCCESSFUL, message="", step=before.step)
        out.append(_analysis_event(new, done))
    current = new.analysis
    # a result is news when it aborted the rollout, or holds it at its analysis step
    # (Inconclusive); a result left over from an earlier attempt is neither
    if (
        current is not None
        and current.status not in ("", ANALYSIS_RUNNING, "Pending")
        and (now.aborted or (now.step < len(new.templates) and bool(new.templates[now.step])))
        and (before is None or (before.name, before.status) != (current.name, current.status))
    ):
        out.append(_analysis_event(new, current))
    if now.step < now.steps and not now.aborted and (was is None or was.summary.step != now.step):
        out.append(
            RolloutEvent(
                kind="step",
                identity=f"{new.pod_hash}/step/{now.step}",
                step=now.step,
                label=new.labels[now.step],
            )
        )
    if new.manual_pause and not now.aborted and not (was is not None and was.manual_pause):
        out.append(
            RolloutEvent(
                kind="manual-pause",
                identity=f"{new.pod_hash}/manual-pause/{now.step}",
                step=now.step,
                label=new.labels[now.step] if now.step < now.steps else "",
            )
        )
    return out


def _analysis_event(state: FollowedRollout, analysis: Analysis) -> RolloutEvent:
    step = analysis.step
    templates = state.templates[step] if 0 <= step < len(state.templates) else ()
    if not templates:  # after an abort the step index is back at 0: find the analysis step
        templates = next((names for names in state.templates if names), ())
    return RolloutEvent(
        kind="analysis",
        identity=f"analysis:{analysis.name}:{analysis.status}",
        step=step,
        label=", ".join(templates) or analysis.name,
        analysis=analysis,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
