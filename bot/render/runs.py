"""Block Kit for runs: the parent message kept up to date, thread lines for steps, the final summary.

The parent message (`render_parent`) is edited in place with `chat.update` as the run moves: phase,
progress, elapsed time, who asked, where it runs, its parameters, and buttons (Stop and Logs while
it runs, Logs and the Argo UI link always). Thread replies are one line per step event
(`render_transition`), and `render_summary` closes the thread with the outcome, a line per step and
the last lines of the failed step's log.

Every output stays inside Slack's limits for any input (see docs/progress.md): 50 blocks, 3,000 characters per
section, 150 per header, and about 13,200 characters of text over all blocks (`msg_blocks_too_long`),
so parameters, step lists and logs are cut with a visible mark instead of being refused. Text that
comes from people or pods is escaped (`&`, `<`, `>`), so a parameter such as `<!channel>` cannot
ping anyone.

Pure: no I/O, no clock (`now` is passed in). Buttons carry only the run id; the click handler
reads everything else from the database. Called by the tracker; golden-tested in `tests/render/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from bot.records import Run
from bot.render import mrkdwn
from bot.render.blocks import (
    MAX_HEADER,
    MAX_SECTION_TEXT,
    MAX_TEXT,
    Block,
    context,
    fields_section,
    header,
    section,
    split_text,
    truncate,
)
from bot.tracking.progress import (
    FINAL_PHASES,
    PHASE_ERROR,
    PHASE_FAILED,
    PHASE_PENDING,
    PHASE_RUNNING,
    PHASE_SUCCEEDED,
    RunState,
    StepView,
    Transition,
    first_failed_step,
)

ACTION_STOP = "run_stop"
ACTION_LOGS = "run_logs"
# A link button still sends a block_actions payload: the listener only has to ack it.
ACTION_OPEN_UI = "run_open_ui"

# Slack refuses a message whose blocks carry about 13,200 characters of text in total
# (msg_blocks_too_long) even when each block is within its own limit; stay well below.
MAX_TOTAL_TEXT = 12_000
MAX_BUTTON_URL = 3000
MAX_FIELD = 200
MAX_MESSAGE = 600
MAX_PARAMETERS = 1000
MAX_PARAMETER = 250
MAX_NAME = 120
MAX_RUNNING = 400
MAX_STEP_LINES = 6000
MAX_STEP_LINE = 300
MAX_STEP_LINK = 400  # a row of a step that went fine keeps its log link only when the link is short
MAX_FAILED_LINK = 2000
MAX_LOG_LINES = 50
MAX_LOG = MAX_SECTION_TEXT - 20  # room for the code fences and the cut mark

_PHASE_EMOJI = {
    PHASE_PENDING: ":hourglass_flowing_sand:",
    PHASE_RUNNING: ":arrows_counterclockwise:",
    PHASE_SUCCEEDED: ":white_check_mark:",
    PHASE_FAILED: ":x:",
    PHASE_ERROR: ":warning:",
    "Skipped": ":fast_forward:",
    "Omitted": ":fast_forward:",
}
_STOPPED_EMOJI = ":octagonal_sign:"
_UNKNOWN_EMOJI = ":grey_question:"


def render_parent(
    *, run: Run, state: RunState | None, now: datetime, ui_url: str | None
) -> tuple[str, list[Block]]:
    """The run's parent message as it should look at `now`.

    Args:
        run: the stored run (who asked, where, parameters, ids).
        state: the latest state read from the cluster; None before the first read.
        now: the current time, for the elapsed time of a run still going.
        ui_url: a link to the run in the Argo UI, or None when no UI is configured.

    Returns:
        The notification text and the blocks for `chat.postMessage` / `chat.update`.
    """
    emoji, label = _outcome(run=run, state=state)
    final = _is_final(run=run, state=state)
    title = _title(run)
    progress = (state.step_progress if state else run.progress) or "-"
    started = _started(run=run, state=state)
    ended = _ended(run=run, state=state)
    elapsed = mrkdwn.format_duration(((ended if final and ended else now) - started).total_seconds())

    blocks: list[Block] = [header(f"{emoji} {title}")]
    blocks.extend(
        fields_section(
            (
                ("Phase", mrkdwn.cut(mrkdwn.escape(label))),
                ("Progress", mrkdwn.cut(mrkdwn.escape(progress))),
                ("Duration" if final else "Elapsed", elapsed),
                _requested_by(run),
                ("Cluster / namespace", mrkdwn.cut(mrkdwn.escape(f"{run.cluster} / {run.namespace}"))),
            )
        )
    )
    message = state.message if state else run.message
    if message and (final or (state is not None and state.is_stopped)):
        blocks.append(section(mrkdwn.quote(message)))
    if state is not None and not final:
        running = [step.name for step in state.steps if step.phase == PHASE_RUNNING]
        if running:
            blocks.append(
                section(_cut_list("*Running now:* ", [mrkdwn.code(n) for n in running], MAX_RUNNING))
            )
    if run.parameters:
        pairs = [mrkdwn.code(f"{key}={value}", limit=MAX_PARAMETER) for key, value in run.parameters.items()]
        blocks.append(section(_cut_list("*Parameters:* ", pairs, MAX_PARAMETERS)))
    buttons = _buttons(run=run, state=state, final=final, ui_url=ui_url)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append(context(mrkdwn.footer(run=run, started=started)))
    text = truncate(f"{emoji} {title}: {label} ({progress}, {elapsed})", MAX_TEXT)
    return text, blocks


def render_transition(t: Transition, *, log_url: str | None) -> str:
    """One thread reply (mrkdwn text) for one step event, e.g. ":x: step `migrate` failed (exit 1)"."""
    step = t.step
    if t.kind == "finished" or step is None:
        return ":checkered_flag: run finished"
    name = mrkdwn.code(step.name)
    if t.kind == "step-started":
        return f":arrow_forward: step {name} started"
    took = _step_duration(step)
    if t.kind == "step-succeeded":
        return f":white_check_mark: step {name} succeeded" + (f" in {took}" if took else "")
    if step.is_interrupted:
        line = f"{_STOPPED_EMOJI} step {name} was stopped"
    else:
        line = f"{_PHASE_EMOJI.get(step.phase, ':x:')} step {name} failed"
    if step.exit_code is not None:
        line += f" (exit {step.exit_code})"
    if step.message:
        line += f": {mrkdwn.escape(truncate(step.message, MAX_MESSAGE))}"
    link = _link(log_url, "log") if log_url else ""
    budget = MAX_SECTION_TEXT - len(link) - 3
    if link and budget < 200:  # a URL too long to be of use: keep the words
        link, budget = "", MAX_SECTION_TEXT
    line = truncate(line, budget)
    return f"{line} · {link}" if link else line


def _requested_by(run: Run) -> tuple[str, str]:
    """Who asked in Slack, else who submitted it outside the bot (a run a subscription follows)."""
    initiated = str((run.parameters or {}).get("initiated_by") or "")
    if initiated and not run.requester_id:
        return "Submitted by", mrkdwn.cut(mrkdwn.escape(initiated))
    return "Requested by", mrkdwn.cut(f"<@{run.requester_id}>" if run.requester_id else "someone")


def render_summary(
    *,
    run: Run,
    state: RunState,
    failed_log_tail: str | None,
    log_urls: Mapping[str, str],
) -> tuple[str, list[Block]]:
    """The final reply in the run's thread: outcome, duration, one line per step, the failed log's end.

    Args:
        run: the stored run.
        state: its final state.
        failed_log_tail: the end of the log of `first_failed_step(state)`, or None.
        log_urls: links to step logs, keyed by node id (a step's name works too).

    Returns:
        The notification text and the blocks, within Slack's limits however many steps and log lines.
    """
    emoji, label = _outcome(run=run, state=state)
    title = _title(run)
    started = _started(run=run, state=state)
    ended = _ended(run=run, state=state) or started
    took = mrkdwn.format_duration((ended - started).total_seconds())

    blocks: list[Block] = [header(f"{emoji} {title}: {label.lower()}")]
    outcome = [f"*{label}* in {took}", f"{state.step_progress or '0/0'} steps succeeded"]
    asked, who = _requested_by(run)
    if run.requester_id or (run.parameters or {}).get("initiated_by"):
        outcome.append(f"{asked.lower()} {who}")
    outcome.append(mrkdwn.code(f"{run.cluster}/{run.namespace}"))
    blocks.append(section(" · ".join(outcome)))
    if state.message and state.phase != PHASE_SUCCEEDED:
        blocks.append(section(mrkdwn.quote(state.message)))
    lines = [_step_line(step, url=_url_for(step, log_urls)) for step in state.steps]
    failed_rows = {index for index, step in enumerate(state.steps) if step.is_failed}
    table = mrkdwn.fit_lines(lines, must_keep=failed_rows, budget=MAX_STEP_LINES, noun="steps")
    blocks.extend(section(chunk) for chunk in split_text(table) if chunk.strip())
    failed = first_failed_step(state)
    if failed is not None and failed_log_tail and failed_log_tail.strip():
        blocks.append(section(f"*Last lines of the {mrkdwn.code(failed.name)} log*"))
        blocks.append(section(f"```{log_tail(failed_log_tail)}```"))
    blocks.append(context(mrkdwn.footer(run=run, started=started)))
    text = truncate(f"{emoji} {title}: {label.lower()} in {took}", MAX_TEXT)
    return text, mrkdwn.within_total(blocks)


def log_tail(text: str, *, max_lines: int = MAX_LOG_LINES, max_chars: int = MAX_LOG) -> str:
    """The last lines of a log, escaped for a code block and cut at a line start to fit `max_chars`."""
    lines = text.replace("\r\n", "\n").rstrip().split("\n")
    cut = len(lines) > max_lines
    body = mrkdwn.escape("\n".join(lines[-max_lines:])).replace("```", "'''")
    if len(body) > max_chars:
        cut = True
        body = body[-max_chars:]
        newline = body.find("\n")
        if 0 <= newline < len(body) - 1:
            body = body[newline + 1 :]
    if cut:
        body = truncate("…\n" + body, max_chars)
    return body


# -- pieces ----------------------------------------------------------------------------------------


def _outcome(*, run: Run, state: RunState | None) -> tuple[str, str]:
    """The emoji and the word for the run's phase ("Stopping"/"Stopped" when someone asked)."""
    phase = state.phase if state else (run.phase or PHASE_PENDING)
    shutdown = state.shutdown if state else None
    if shutdown:
        word = "Terminated" if shutdown == "Terminate" else "Stopped"
        if _is_final(run=run, state=state):
            return _STOPPED_EMOJI, word
        return ":hourglass:", "Terminating" if shutdown == "Terminate" else "Stopping"
    return _PHASE_EMOJI.get(phase, _UNKNOWN_EMOJI), phase


def _is_final(*, run: Run, state: RunState | None) -> bool:
    if state is not None:
        return state.is_final
    return run.phase in FINAL_PHASES


def _title(run: Run) -> str:
    """`template · workflow-name`; for syncs and rollbacks, the kind and the application."""
    label = run.template or run.kind
    name = run.name or "(submitting)"
    return truncate(f"{label} · {name}", MAX_HEADER - 30)


def _started(*, run: Run, state: RunState | None) -> datetime:
    started = state.started_at if state and state.started_at else run.created_at
    return mrkdwn.aware(started)


def _ended(*, run: Run, state: RunState | None) -> datetime | None:
    ended = state.finished_at if state and state.finished_at else run.finished_at
    return mrkdwn.aware(ended) if ended else None


def _buttons(*, run: Run, state: RunState | None, final: bool, ui_url: str | None) -> list[Block]:
    buttons: list[Block] = []
    stopping = state is not None and state.is_stopped
    if not final and not stopping and run.name:
        buttons.append(
            {
                "type": "button",
                "action_id": ACTION_STOP,
                "text": {"type": "plain_text", "text": "Stop", "emoji": True},
                "style": "danger",
                "value": run.id,
                "confirm": {
                    "title": {"type": "plain_text", "text": "Stop this run?"},
                    "text": {
                        "type": "mrkdwn",
                        "text": truncate(
                            f"Argo stops {mrkdwn.code(run.name)}: running steps are interrupted, "
                            "exit handlers still run.",
                            300,
                        ),
                    },
                    "confirm": {"type": "plain_text", "text": "Stop"},
                    "deny": {"type": "plain_text", "text": "Keep running"},
                    "style": "danger",
                },
            }
        )
    if run.name:
        buttons.append(
            {
                "type": "button",
                "action_id": ACTION_LOGS,
                "text": {"type": "plain_text", "text": "Logs", "emoji": True},
                "value": run.id,
            }
        )
    if ui_url and len(ui_url) <= MAX_BUTTON_URL:
        buttons.append(
            {
                "type": "button",
                "action_id": ACTION_OPEN_UI,
                "text": {"type": "plain_text", "text": "View in Argo", "emoji": True},
                "url": ui_url,
            }
        )
    return buttons


def _step_line(step: StepView, *, url: str | None) -> str:
    """One row of the summary; presigned URLs are long, so only failed rows may carry a long one."""
    emoji = _STOPPED_EMOJI if step.is_interrupted else _PHASE_EMOJI.get(step.phase, _UNKNOWN_EMOJI)
    parts = [f"{emoji} {mrkdwn.code(step.name)}"]
    took = _step_duration(step)
    if took:
        parts.append(took)
    if step.is_failed and step.exit_code is not None:
        parts.append(f"exit {step.exit_code}")
    line = truncate(" · ".join(parts), MAX_STEP_LINE)
    link = _link(url, "log") if url else ""
    if link and len(link) <= (MAX_FAILED_LINK if step.is_failed else MAX_STEP_LINK):
        line = f"{line} · {link}"
    return line


def _step_duration(step: StepView) -> str:
    if step.started_at and step.finished_at:
        return mrkdwn.format_duration((step.finished_at - step.started_at).total_seconds())
    return ""


def _url_for(step: StepView, urls: Mapping[str, str]) -> str | None:
    return urls.get(step.node_id) or urls.get(step.name)


def _cut_list(prefix: str, items: Iterable[str], limit: int) -> str:
    """`prefix` and items separated by spaces, with "+N more" when they do not all fit in `limit`."""
    items = list(items)
    shown: list[str] = []
    used = len(prefix)
    for index, item in enumerate(items):
        left = len(items) - index - 1
        tail = len(f" _+{left} more_") if left else 0
        if used + len(item) + 1 + tail > limit:
            return prefix + " ".join(shown) + f" _+{len(items) - index} more_"
        shown.append(item)
        used += len(item) + 1
    return prefix + " ".join(shown)


def _link(url: str, label: str) -> str:
    """A mrkdwn link; `|`, `<` and `>` would end Slack's link syntax, so they are percent-encoded."""
    safe = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe}|{label}>"


format_duration = mrkdwn.format_duration  # public here too: callers and tests use it
