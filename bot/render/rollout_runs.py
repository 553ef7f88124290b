"""The Slack thread of a Rollout command (promote, abort, retry-rollout, undo): parent, replies, summary.

Mirrors `render.runs` and the sync thread of `render.apps` for a `rollout` run: the parent
message (`render_parent`) is kept up to date with the Rollout, its cluster and namespace, the
step `n/m`, the canary weight, the phase and message, the revision and who asked; each step
reached, analysis result and hand-made pause is one thread line (`render_event`); and
`render_summary` closes the thread with what the command came to: fully promoted, paused at
the next pause step (the promote's work is done), rolled back to stable, or taken over by
another command or a new revision.

Text from the cluster (names, messages) is escaped. Pure: no I/O, no clock (`now` is passed in).
Called by `bot.tracking.rollout_part`.
"""

from __future__ import annotations

from datetime import datetime

from bot.argo.rollout_state import (
    ACTION_ABORT,
    ACTION_PROMOTE,
    ACTION_PROMOTE_FULL,
    ACTION_RETRY,
    ACTION_UNDO,
    OUTCOME_ABORTED,
    OUTCOME_HEALTHY,
    OUTCOME_NEW_REVISION,
    OUTCOME_PAUSED,
    OUTCOME_SUPERSEDED,
    FollowedRollout,
    RolloutEvent,
    asked_of,
)
from bot.records import Run
from bot.render import mrkdwn
from bot.render.blocks import MAX_TEXT, Block, context, fields_section, header, section, truncate

#: The command each action was typed as.
COMMANDS = {
    ACTION_PROMOTE: "promote",
    ACTION_PROMOTE_FULL: "promote --full",
    ACTION_ABORT: "abort",
    ACTION_RETRY: "retry-rollout",
    ACTION_UNDO: "undo",
}
_PHASE_EMOJI = {
    "Healthy": ":white_check_mark:",
    "Progressing": ":arrows_counterclockwise:",
    "Paused": ":double_vertical_bar:",
    "Degraded": ":x:",
}
_ANALYSIS_EMOJI = {
    "Successful": ":white_check_mark:",
    "Failed": ":x:",
    "Error": ":warning:",
    "Inconclusive": ":grey_question:",
}
_WAITING = ":hourglass_flowing_sand:"
_UNKNOWN = ":grey_question:"


def rollout_of(run: Run) -> str:
    """The Rollout a run is about (its `template`; the run's own name carries its id)."""
    return run.template or run.name or "-"


def command_of(run: Run) -> str:
    return COMMANDS.get(asked_of(run.id, run.parameters).action, "promote")


def _emoji(run: Run, state: FollowedRollout | None) -> str:
    if state is None:
        return _WAITING
    outcome = state.outcome
    if outcome in (OUTCOME_SUPERSEDED, OUTCOME_NEW_REVISION):
        return ":arrow_heading_down:"
    if outcome == OUTCOME_ABORTED:
        return ":octagonal_sign:" if state.succeeded else ":x:"
    if outcome == OUTCOME_PAUSED:
        return ":double_vertical_bar:"
    if outcome == OUTCOME_HEALTHY:
        return ":white_check_mark:"
    return _PHASE_EMOJI.get(state.summary.phase, _UNKNOWN) if state.taken_up else _WAITING


def _step(state: FollowedRollout) -> str:
    summary = state.summary
    return "-" if not summary.steps else f"{min(summary.step + 1, summary.steps)}/{summary.steps}"


def _title(run: Run) -> str:
    return f"{command_of(run)} · {rollout_of(run)}"


def render_parent(*, run: Run, state: FollowedRollout | None, now: datetime) -> tuple[str, list[Block]]:
    """The parent message as it should look at `now` (`state` None before the first read)."""
    emoji = _emoji(run, state)
    started = mrkdwn.aware(run.created_at)
    final = state is not None and state.outcome is not None
    ended = mrkdwn.aware(run.finished_at) if final and run.finished_at else now
    elapsed = mrkdwn.format_duration((ended - started).total_seconds())
    phase = state.summary.phase if state is not None else (run.phase or "Pending")
    step = _step(state) if state is not None else (run.progress or "-")
    fields: list[tuple[str, str]] = [
        ("Phase", mrkdwn.cut(f"{_PHASE_EMOJI.get(phase, _UNKNOWN)} {mrkdwn.escape(phase)}")),
        ("Step", mrkdwn.cut(mrkdwn.escape(step))),
    ]
    if state is not None:
        fields.append(("Canary weight", f"{state.summary.weight}%"))
        revision = state.summary.revision
        fields.append(("Revision", str(revision) if revision is not None else "-"))
    fields += [
        ("Requested by", f"<@{run.requester_id}>" if run.requester_id else "someone"),
        ("Cluster / namespace", mrkdwn.cut(mrkdwn.escape(f"{run.cluster} / {run.namespace}"))),
        ("Duration" if final else "Elapsed", elapsed),
    ]
    blocks: list[Block] = [header(f"{emoji} {_title(run)}")]
    blocks.extend(fields_section(tuple(fields)))
    message = state.summary.message if state is not None else run.message
    if message:
        blocks.append(section(mrkdwn.quote(message)))
    blocks.append(context(mrkdwn.footer(run=run, started=started)))
    weight = f", weight {state.summary.weight}%" if state is not None else ""
    where = mrkdwn.escape(f"{rollout_of(run)} on {run.cluster}/{run.namespace}: {phase}")
    text = f"{emoji} {command_of(run)} {where}, step {mrkdwn.escape(step)}{weight}"
    return truncate(text, MAX_TEXT), mrkdwn.within_total(blocks)


def render_event(event: RolloutEvent, state: FollowedRollout) -> str:
    """One thread line: `step 3/5: setWeight 40`, `analysis `success-rate` Successful`, a pause."""
    steps = state.summary.steps
    at = f"step {event.step + 1}/{steps}"
    if event.kind == "analysis" and event.analysis is not None:
        status = event.analysis.status
        emoji = _ANALYSIS_EMOJI.get(status, _UNKNOWN)
        line = f"{emoji} analysis {mrkdwn.code(event.label)} {mrkdwn.escape(status)}"
        if event.analysis.message:
            line += f": {mrkdwn.escape(' '.join(event.analysis.message.split()))}"
        return truncate(line, MAX_TEXT)
    if event.kind == "manual-pause":
        return (
            f":double_vertical_bar: paused by hand (`spec.paused`) at {at}: it goes on once resumed "
            "or promoted"
        )
    label = mrkdwn.escape(event.label)
    if event.label == "pause until promoted":
        return f":double_vertical_bar: {at}: paused until promoted"
    return f":arrow_right: {at}: {label}"


def render_summary(*, run: Run, state: FollowedRollout) -> tuple[str, list[Block]]:
    """The final reply: what the command came to, with who asked and how long it took."""
    name = mrkdwn.code(rollout_of(run))
    summary = state.summary
    command = command_of(run)
    outcome = state.outcome
    if outcome == OUTCOME_HEALTHY:
        revision = f" at revision {summary.revision}" if summary.revision is not None else ""
        line = f"{name} is fully promoted: Healthy{revision}, canary weight {summary.weight}%."
    elif outcome == OUTCOME_PAUSED:
        line = (
            f"`{command}` is done: {name} is paused at step {_step(state)} (canary weight "
            f"{summary.weight}%) until the next `promote`."
        )
    elif outcome == OUTCOME_ABORTED and state.succeeded:
        line = f"{name} rolled back to stable: canary weight {summary.weight}%, phase {summary.phase}."
    elif outcome == OUTCOME_ABORTED:
        line = (
            f"{name} was aborted and rolled back to stable (canary weight {summary.weight}%): "
            f"`{command}` did not get through."
        )
    elif outcome == OUTCOME_SUPERSEDED:
        line = (
            f"Another command on {name} (run {mrkdwn.code(state.owner)}) took it over; its own "
            "thread follows it from there."
        )
    elif outcome == OUTCOME_NEW_REVISION:
        line = f"{name} started a new revision (its pod template changed); this thread ends here."
    else:
        line = f"{name}: {mrkdwn.escape(summary.phase)} at step {_step(state)}."
    emoji = _emoji(run, state)
    started = mrkdwn.aware(run.created_at)
    ended = mrkdwn.aware(run.finished_at) if run.finished_at else started
    took = mrkdwn.format_duration((ended - started).total_seconds())
    who = f"<@{run.requester_id}>" if run.requester_id else "someone"
    blocks: list[Block] = [
        section(f"{emoji} {line}"),
    ]
    if summary.message and outcome in (OUTCOME_ABORTED, None):
        blocks.append(section(mrkdwn.quote(summary.message)))
    blocks.append(context(f"`{command}` asked by {who} · {took} · {mrkdwn.footer(run=run, started=started)}"))
    return truncate(f"{emoji} {line}", MAX_TEXT), mrkdwn.within_total(blocks)
