"""User-facing answers for the Argo Rollouts verbs, as platform-neutral `Reply` values. Pure.

Names and messages come from the cluster, so they are escaped (`mrkdwn.code`, `mrkdwn.escape`):
a Rollout's message can never ping anyone. Lists are capped like the other lists.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.argo.rollout_state import RolloutDetail, RolloutSummary
from bot.model import Reply, Visibility
from bot.render import mrkdwn

MAX_LISTED = 40
MAX_MESSAGE = 160

PHASE_EMOJI = {
    "Healthy": ":white_check_mark:",
    "Progressing": ":arrows_counterclockwise:",
    "Paused": ":double_vertical_bar:",
    "Degraded": ":x:",
}
ANALYSIS_EMOJI = {
    "Successful": ":white_check_mark:",
    "Failed": ":x:",
    "Error": ":warning:",
    "Inconclusive": ":grey_question:",
    "Running": ":arrows_counterclockwise:",
    "Pending": ":hourglass_flowing_sand:",
}


def emoji(phase: str) -> str:
    return PHASE_EMOJI.get(phase, ":grey_question:")


def _message(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > MAX_MESSAGE:
        flat = flat[: MAX_MESSAGE - 1] + "…"
    return mrkdwn.escape(flat)


def _line(rollout: RolloutSummary) -> str:
    parts = [
        f"{emoji(rollout.phase)} {mrkdwn.code(rollout.name)} in {mrkdwn.code(rollout.namespace)}",
        f"step {rollout.step_shown}",
        f"weight {rollout.weight}%",
        rollout.phase,
    ]
    if rollout.message:
        parts.append(_message(rollout.message))
    return " · ".join(parts)


def rollouts_reply(rollouts: Sequence[RolloutSummary], *, cluster: str, namespace: str | None) -> Reply:
    """`rollouts`: one line per Rollout (name, step n/m, weight, phase, message)."""
    where = f"{cluster}/{namespace}" if namespace else cluster
    if not rollouts:
        return Reply(text=f"There is no Rollout on `{where}` that you may see.", title="rollouts")
    lines = [_line(rollout) for rollout in rollouts[:MAX_LISTED]]
    if len(rollouts) > MAX_LISTED:
        lines.append(f"_…and {len(rollouts) - MAX_LISTED} more._")
    return Reply(
        text="\n".join(lines),
        title=f"rollouts on {where}",
        context="Details of one: `rollout NAME`. A paused canary goes on with `promote NAME`.",
    )


def rollout_reply(detail: RolloutDetail, *, cluster: str) -> Reply:
    """`rollout NAME`: the steps with the current one marked, analysis runs, revision."""
    summary = detail.summary
    steps = []
    for index, text in enumerate(detail.step_texts):
        if index < summary.step:
            mark = ":white_check_mark:"
        elif index == summary.step and not summary.aborted:
            mark = ":arrow_right:"
        else:
            mark = ":white_circle:"
        steps.append(f"{mark} {index + 1}. {mrkdwn.escape(text)}")
    sections = ["*Steps*\n" + ("\n".join(steps) if steps else "no canary steps")]
    if detail.analysis_runs:
        runs = [
            f"{ANALYSIS_EMOJI.get(run.phase, ':grey_question:')} {mrkdwn.code(run.name)}: {run.phase}"
            + (f" — {_message(run.message)}" if run.message else "")
            for run in detail.analysis_runs[-10:]
        ]
        sections.append("*Analysis runs*\n" + "\n".join(runs))
    fields = [
        ("Phase", f"{emoji(summary.phase)} {summary.phase}"),
        ("Step", summary.step_shown),
        ("Weight", f"{summary.weight}%"),
        ("Revision", str(summary.revision) if summary.revision is not None else "-"),
    ]
    if detail.images:
        fields.append(("Image", ", ".join(mrkdwn.code(image) for image in detail.images)))
    name = mrkdwn.code(summary.name)
    text = f"{emoji(summary.phase)} {name} on `{cluster}/{summary.namespace}`: {summary.phase}"
    if summary.message:
        text += f" ({_message(summary.message)})"
    return Reply(
        text=text,
        title=f"rollout {summary.name}",
        sections=tuple(sections),
        fields=tuple(fields),
        context=f"stable {detail.stable_hash or '-'} · current {detail.current_hash or '-'}",
    )


def action_reply(*, user_id: str, emoji_name: str, what: str) -> Reply:
    """The channel answer to a write: who asked what, so the channel sees it."""
    return Reply(text=f":{emoji_name}: <@{user_id}> {what}", visibility=Visibility.IN_CHANNEL)
