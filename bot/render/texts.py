"""User-facing answers for the workflow verbs, as platform-neutral `Reply` values. Pure.

Block Kit limits are enforced later by `render.blocks.render_reply`; here lists are capped so
an answer stays readable (a team with 300 templates gets the first ones and a count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot import records
from bot.model import Reply
from bot.render import mrkdwn
from bot.render.runs import log_tail
from bot.tracking.progress import RunState, StepView

if TYPE_CHECKING:
    from bot.argo.parameters import TemplateInfo

MAX_LISTED = 40
MAX_TAIL_CHARS = 2800
EMPTY_VALUE = '""'

PHASE_EMOJI = {
    "Pending": ":hourglass_flowing_sand:",
    "Running": ":arrows_counterclockwise:",
    "Succeeded": ":white_check_mark:",
    "Failed": ":x:",
    "Error": ":warning:",
    "Skipped": ":fast_forward:",
    "Omitted": ":fast_forward:",
    "Stopped": ":octagonal_sign:",
    "Terminated": ":octagonal_sign:",
    "Stopping": ":hourglass:",
    "Terminating": ":hourglass:",
}


def emoji(phase: str) -> str:
    return PHASE_EMOJI.get(phase, ":grey_question:")


def _more(total: int, shown: int) -> list[str]:
    return [f"_…and {total - shown} more._"] if total > shown else []


def templates_reply(templates: Sequence[TemplateInfo], *, cluster: str, namespace: str) -> Reply:
    if not templates:
        return Reply(
            text=f"You may not run any WorkflowTemplate in `{cluster}/{namespace}` (or there is none).",
            title="templates",
        )
    lines = []
    for template in templates[:MAX_LISTED]:
        params = []
        for param in template.params:
            if param.enum:
                shown = f"{param.name}={'|'.join(param.enum)}"
            elif param.default is not None:
                shown = f"{param.name}={param.default or EMPTY_VALUE}"
            else:
                shown = f"{param.name}=…"
            params.append(shown if not param.is_required else f"*{shown}*")
        about = f" — {template.description}" if template.description else ""
        lines.append(f"• `{template.name}`{about}" + (f"\n    {' '.join(params)}" if params else ""))
    lines.extend(_more(len(templates), MAX_LISTED))
    return Reply(
        text="\n".join(lines),
        title=f"templates on {cluster}/{namespace}",
        context="Parameters in *bold* are required. Run one with `run TEMPLATE -p key=value`.",
    )


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "-"
    return mrkdwn.format_duration(((end or datetime.now(UTC)) - start).total_seconds())


def status_reply(*, name: str, cluster: str, namespace: str, state: RunState) -> Reply:
    phase = state.shown_phase
    lines = [
        f"{emoji(phase)} *{phase}*"
        + (f" ({state.step_progress} steps succeeded)" if state.steps else "")
        + f", {_duration(state.started_at, state.finished_at)}"
    ]
    if state.message:
        lines.append(f"> {state.message}")
    for step in state.steps[:MAX_LISTED]:
        detail = f" (exit {step.exit_code})" if step.exit_code not in (None, 0) else ""
        lines.append(f"{emoji(step.phase)} `{step.name}` {step.phase}{detail}")
    lines.extend(_more(len(state.steps), MAX_LISTED))
    return Reply(text="\n".join(lines), title=f"{name} on {cluster}/{namespace}")


def logs_reply(
    *,
    name: str,
    steps: Sequence[StepView],
    urls: Mapping[str, str],
    tail: str | None,
    tail_of: str | None = None,
) -> Reply:
    """The steps with links to their archived logs, and the last lines of one step (`tail_of`)."""
    lines = []
    for step in steps[:MAX_LISTED]:
        url = urls.get(step.name)
        link = f"<{url}|main.log>" if url else "_no archived log yet_"
        lines.append(f"{emoji(step.phase)} `{step.name}`: {link}")
    lines.extend(_more(len(steps), MAX_LISTED))
    if not lines:
        lines.append("No step has started yet.")
    sections: tuple[str, ...] = ()
    if tail and tail.strip():
        # escaped like the run summary's tail: a log line never becomes a mention or a link
        title = f"Last lines of `{mrkdwn.escape(tail_of)}`:" if tail_of else "Last lines:"
        sections = (f"{title}\n```{log_tail(tail, max_chars=MAX_TAIL_CHARS)}```",)
    return Reply(text="\n".join(lines), title=f"logs of {name}", sections=sections, context="Links expire.")


def runs_reply(runs: Sequence[records.Run], *, mine: bool) -> Reply:
    if not runs:
        return Reply(text="No runs yet." if not mine else "You have no runs yet.", title="runs")
    lines = []
    for run in records.distinct_operations(runs):
        when = run.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        progress = f" {run.progress}" if run.progress else ""
        started_by = mrkdwn.cut(run.started_by if run.requester_id else mrkdwn.escape(run.started_by))
        followed = (
            f" (started outside the bot; followed for `{run.followed_for}`)" if run.followed_for else ""
        )
        lines.append(
            f"{emoji(run.phase)} `{mrkdwn.escape(run.shown_name)}` {run.template or ''} on "
            f"`{run.cluster}/{run.namespace}` {run.phase}{progress}, {when} UTC by {started_by}{followed}"
        )
    return Reply(text="\n".join(lines), title="your runs" if mine else "recent runs")
