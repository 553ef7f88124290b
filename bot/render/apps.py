"""Argo CD answers and sync threads: `apps`, `app`, `history`, and the progress of a sync.

`apps_reply`, `app_reply` and `history_reply` build platform-neutral `Reply` values (turned into
Block Kit by `render.blocks.render_reply`). `apps` is paginated, 25 applications a page with
"Page 2 of 16"; the footer gives the command for the next page (`/ops apps --project web --page 3`,
repeating the filters that produced the list, with the configured slash command) and says how to
narrow the list (`--project`, `--out-of-sync`, `--degraded`). A page past the end shows the last
page and says so.

`render_sync_parent`, `render_sync_transition` and `render_sync_summary` mirror `render.runs`
for syncs and rollbacks: a parent message kept up to date (phase, `done/total` resources,
revision, health, elapsed time, who asked), one thread line per wave/resource/hook event, and a
closing summary with one line per resource, failed ones first when they do not all fit.

Every output stays inside Slack's limits for any input (50 blocks, 3,000 characters a
section, about 13,200 characters over all blocks). Text from Argo CD (messages, conditions) is
escaped so it cannot ping anyone. Pure: no I/O, no clock (`now` is passed in). Left out: diffs,
resource trees, the approval card (`approvals`). Called by the handlers and the tracker.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.applications import AppDetail, AppSummary, HistoryEntry
from bot.model import Reply
from bot.records import RUN_ROLLBACK, Run
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
from bot.tracking.sync_progress import (
    FINAL_PHASES,
    HEALTH_HEALTHY,
    PHASE_ERROR,
    PHASE_FAILED,
    PHASE_PENDING,
    PHASE_RUNNING,
    PHASE_SUCCEEDED,
    PHASE_TERMINATING,
    SYNC_SYNCED,
    ResourceView,
    SyncState,
    SyncTransition,
)

PAGE_SIZE = 25
MAX_HISTORY = 20
MAX_LINE = 300
MAX_MESSAGE = 600
MAX_NAME = 120
MAX_FIELD = 200
MAX_RESOURCE_LINES = 6000
MAX_TOTAL_TEXT = 12_000  # Slack's msg_blocks_too_long comes at about 13,200
SHORT_REVISION = 10
ACTION_OPEN_UI = "sync_open_ui"
MAX_BUTTON_URL = 3000

_SYNC_EMOJI = {SYNC_SYNCED: ":white_check_mark:", "OutOfSync": ":large_yellow_circle:"}
_HEALTH_EMOJI = {
    HEALTH_HEALTHY: ":green_heart:",
    "Progressing": ":hourglass_flowing_sand:",
    "Degraded": ":broken_heart:",
    "Missing": ":ghost:",
    "Suspended": ":double_vertical_bar:",
}
_PHASE_EMOJI = {
    PHASE_PENDING: ":hourglass_flowing_sand:",
    PHASE_RUNNING: ":arrows_counterclockwise:",
    PHASE_TERMINATING: ":hourglass:",
    PHASE_SUCCEEDED: ":white_check_mark:",
    PHASE_FAILED: ":x:",
    PHASE_ERROR: ":warning:",
}
_UNKNOWN = ":grey_question:"


@dataclass(frozen=True)
class PageInfo:
    """Which page of a list to show, and the filters that produced the list (to repeat them)."""

    page: int = 1
    page_size: int = PAGE_SIZE
    cluster: str = ""
    filters: tuple[str, ...] = ()  # e.g. ("--project payments", "--out-of-sync")


# -- replies ---------------------------------------------------------------------------------------


def apps_reply(
    apps: Sequence[AppSummary],
    page: PageInfo | None = None,
    *,
    unmapped: Collection[AppSummary] = (),
    slash: str = "/ops",
) -> Reply:
    """One page of applications: sync and health at a glance, revision, destination.

    Args:
        apps: every application that matched, sorted as they should be shown.
        page: which page (1-based; past the end shows the last page) and the filters used.
        unmapped: those of `apps` whose destination maps to no configured cluster: shown as
            "unmapped destination <name or URL>" (the bot refuses to sync or roll them back).
        slash: the slash command (`slack.command`), for the page commands the footer gives.
    """
    info = page or PageInfo()
    where = f" on {info.cluster}" if info.cluster else ""
    narrowed = " ".join(info.filters)
    if not apps:
        text = "No application matches" + (f" `{narrowed}`" if narrowed else "") + "."
        return Reply(text=text, title=f"applications{where}")
    size = max(1, info.page_size)
    pages = (len(apps) + size - 1) // size
    number = min(max(1, info.page), pages)
    shown = apps[(number - 1) * size : number * size]
    lines = [_app_line(app, unmapped=app in unmapped) for app in shown]
    out_of_sync = sum(app.sync_status != SYNC_SYNCED for app in apps)
    unhealthy = sum(app.health_status != HEALTH_HEALTHY for app in apps)
    counts = f"{len(apps)} applications · {out_of_sync} out of sync · {unhealthy} not healthy"
    return Reply(
        text="\n".join(lines),
        title=truncate(f"applications{where}" + (f" ({narrowed})" if narrowed else ""), MAX_HEADER),
        sections=(counts,),
        context=_apps_footer(info, number=number, pages=pages, shown=len(shown), slash=slash),
    )


def app_reply(detail: AppDetail) -> Reply:
    """One application: status, destination, source, last operation, latest deploys."""
    app = detail.summary
    fields = (
        ("Sync", f"{_SYNC_EMOJI.get(app.sync_status, _UNKNOWN)} {mrkdwn.escape(app.sync_status)}"),
        ("Health", f"{_HEALTH_EMOJI.get(app.health_status, _UNKNOWN)} {mrkdwn.escape(app.health_status)}"),
        ("Revision", mrkdwn.code(_short(app.revision)) if app.revision else "-"),
        ("Project", mrkdwn.code(app.project)),
        ("Destination", mrkdwn.code(f"{app.cluster}/{app.namespace}")),
        ("Auto-sync", "on" if app.auto_sync else "off"),
        ("Source", mrkdwn.cut(mrkdwn.escape(f"{detail.repo} {detail.path}".strip()) or "-")),
        ("Target revision", mrkdwn.code(detail.target_revision)),
    )
    sections: list[str] = []
    op = detail.last_operation
    if op is not None:
        line = f"*Last operation:* {_PHASE_EMOJI.get(op.phase, _UNKNOWN)} {mrkdwn.escape(op.phase)}"
        if op.revision:
            line += f" to {mrkdwn.code(_short(op.revision))}"
        if op.initiated_by:
            line += f" by {mrkdwn.escape(op.initiated_by)}"
        if op.started_at:
            line += f", {_when(op.started_at)}"
            if op.finished_at:
                line += f" (took {mrkdwn.format_duration((op.finished_at - op.started_at).total_seconds())})"
        if op.message:
            line += "\n" + mrkdwn.quote(op.message)
        sections.append(line)
    if detail.conditions:
        listed = [f"• {mrkdwn.escape(truncate(c, MAX_LINE))}" for c in detail.conditions[:10]]
        listed.extend(_more(len(detail.conditions), 10))
        sections.append("*Conditions:*\n" + "\n".join(listed))
    if detail.history:
        recent = _history_lines(detail.history, limit=3)
        sections.append("*Recent deploys:*\n" + "\n".join(recent))
    hint = f"`history {app.name}` for every deploy, `sync {app.name}` to sync."
    if app.auto_sync:
        hint += " Auto-sync is on: a rollback needs it turned off first."
    return Reply(
        text=f"{mrkdwn.escape(app.name)}: {app.sync_status}, {app.health_status}",
        title=truncate(f"{app.name}", MAX_HEADER),
        fields=fields,
        sections=tuple(sections),
        context=hint,
    )


def history_reply(detail: AppDetail) -> Reply:
    """An application's deploys, newest first, with the ids `rollback` takes."""
    app = detail.summary
    if not detail.history:
        return Reply(text=f"`{app.name}` has no deploy history yet.", title=f"history of {app.name}")
    lines = _history_lines(detail.history, limit=MAX_HISTORY)
    current = detail.current
    hint = f"Roll back with `rollback {app.name} ID`; without an id, to the deploy before the current one."
    if current is not None:
        hint = f"Current: id {current.id}. " + hint
    return Reply(text="\n".join(lines), title=truncate(f"history of {app.name}", MAX_HEADER), context=hint)


# -- sync threads ----------------------------------------------------------------------------------


def render_sync_parent(
    *, run: Run, state: SyncState | None, now: datetime, ui_url: str | None
) -> tuple[str, list[Block]]:
    """The parent message of a sync or rollback as it should look at `now`.

    Args:
        run: the stored run (`kind` sync/rollback, `name` the application, `revision` asked).
        state: the latest state read from Argo CD; None before the first read.
        now: the current time, for the elapsed time of a sync still going.
        ui_url: a link to the app in the Argo CD UI, or None.
    """
    emoji, label = _outcome(run=run, state=state)
    final = _is_final(run=run, state=state)
    title = _title(run)
    started = mrkdwn.aware(state.started_at if state and state.started_at else run.created_at)
    ended = state.finished_at if state and state.finished_at else run.finished_at
    elapsed = mrkdwn.format_duration(
        ((mrkdwn.aware(ended) if final and ended else now) - started).total_seconds()
    )
    progress = (state.progress if state else run.progress) or "-"
    revision = (state.revision if state and state.revision else run.revision) or "target revision"
    fields = [
        ("Phase", mrkdwn.cut(mrkdwn.escape(label))),
        ("Resources", mrkdwn.cut(progress)),
        ("Duration" if final else "Elapsed", elapsed),
        ("Revision", mrkdwn.code(_short(revision))),
        _requested_by(run),
        ("Cluster / app", mrkdwn.cut(mrkdwn.escape(f"{run.cluster} / {run.name or '-'}"))),
    ]
    approver = (run.parameters or {}).get("approved_by")
    if run.kind == RUN_ROLLBACK and approver:
        target = (run.parameters or {}).get("history_id")
        fields.append(("Approved by", f"<@{mrkdwn.escape(str(approver))}>"))
        if target is not None:
            fields.append(("Back to history", mrkdwn.code(str(target))))
    if state is not None and state.health:
        fields.append(
            ("Health", f"{_HEALTH_EMOJI.get(state.health, _UNKNOWN)} {mrkdwn.escape(state.health)}")
        )
    blocks: list[Block] = [header(f"{emoji} {title}")]
    blocks.extend(fields_section(tuple(fields)))
    if state is not None and state.message:
        blocks.append(section(mrkdwn.quote(state.message)))
    if ui_url and len(ui_url) <= MAX_BUTTON_URL:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_OPEN_UI,
                        "text": {"type": "plain_text", "text": "View in Argo CD", "emoji": True},
                        "url": ui_url,
                    }
                ],
            }
        )
    blocks.append(context(mrkdwn.footer(run=run, started=started)))
    text = truncate(f"{emoji} {title}: {label} ({progress}, {elapsed})", MAX_TEXT)
    return text, blocks


def render_sync_transition(t: SyncTransition) -> str:
    """One thread reply (mrkdwn) for one sync event, e.g. ":x: `Service/shop` failed: ..."."""
    if t.kind == "finished":
        return ":checkered_flag: sync finished"
    if t.kind == "wave-started":
        phase = f" of {t.sync_phase}" if t.sync_phase and t.sync_phase != "Sync" else ""
        return f":ocean: wave {t.wave}{phase} started"
    resource = t.resource
    if resource is None:
        return ":grey_question: sync event"
    name = _resource_name(resource)
    if t.kind == "hook-started":
        return f":arrow_forward: {mrkdwn.escape(resource.hook_type)} hook {name} started"
    if t.kind == "hook-finished":
        return f":white_check_mark: {mrkdwn.escape(resource.hook_type)} hook {name} succeeded"
    if t.kind == "hook-failed":
        line = f":x: {mrkdwn.escape(resource.hook_type)} hook {name} failed"
    elif t.kind == "resource-failed":
        line = f":x: {name} failed to sync"
    else:
        word = resource.status.lower() if resource.status else "synced"
        line = f":white_check_mark: {name} {mrkdwn.escape(word)}"
        if resource.message:
            line += f" · {mrkdwn.escape(truncate(resource.message, MAX_LINE))}"
        return truncate(line, MAX_SECTION_TEXT)
    if resource.message:
        line += f": {mrkdwn.escape(truncate(resource.message, MAX_MESSAGE))}"
    return truncate(line, MAX_SECTION_TEXT)


def _requested_by(run: Run) -> tuple[str, str]:
    """Who asked: the Slack person, else who started it outside the bot (with them @-mentioned
    when their e-mail is a Slack user's), as the run's `initiated_by` parameter says."""
    initiated = str((run.parameters or {}).get("initiated_by") or "")
    if not initiated:
        return "Requested by", f"<@{run.requester_id}>" if run.requester_id else "someone"
    shown = mrkdwn.escape(initiated)
    return "Started by", f"<@{run.requester_id}> ({shown})" if run.requester_id else shown


def render_sync_summary(*, run: Run, state: SyncState) -> tuple[str, list[Block]]:
    """The final reply in a sync's thread: outcome, duration, revision, one line per resource."""
    emoji, label = _outcome(run=run, state=state)
    title = _title(run)
    started = mrkdwn.aware(state.started_at or run.created_at)
    ended = mrkdwn.aware(state.finished_at) if state.finished_at else started
    took = mrkdwn.format_duration((ended - started).total_seconds())
    done = sum(resource.is_done for resource in state.resources)
    blocks: list[Block] = [header(f"{emoji} {title}: {label.lower()}")]
    outcome = [f"*{label}* in {took}", f"{done}/{len(state.resources)} resources and hooks done"]
    if state.revision:
        outcome.append(f"revision {mrkdwn.code(_short(state.revision))}")
    label_, who = _requested_by(run)
    if run.requester_id or (run.parameters or {}).get("initiated_by"):
        outcome.append(f"{label_.lower()} {who}")
    if state.health:
        outcome.append(f"health {mrkdwn.escape(state.health)}")
    blocks.append(section(" · ".join(outcome)))
    if state.message and state.phase != PHASE_SUCCEEDED:
        blocks.append(section(mrkdwn.quote(state.message)))
    ordered = sorted(
        range(len(state.resources)),
        key=lambda i: (_phase_rank(state.resources[i].sync_phase), state.resources[i].wave, i),
    )
    rows = [state.resources[i] for i in ordered]
    lines = [_resource_line(resource) for resource in rows]
    failed = {index for index, resource in enumerate(rows) if resource.is_failed}
    if lines:
        table = mrkdwn.fit_lines(lines, must_keep=failed, budget=MAX_RESOURCE_LINES)
        blocks.extend(section(chunk) for chunk in split_text(table) if chunk.strip())
    blocks.append(context(mrkdwn.footer(run=run, started=started)))
    text = truncate(f"{emoji} {title}: {label.lower()} in {took}", MAX_TEXT)
    return text, mrkdwn.within_total(blocks)


# -- pieces ----------------------------------------------------------------------------------------


def _apps_footer(info: PageInfo, *, number: int, pages: int, shown: int, slash: str) -> str:
    """Which page this is (saying so when the page asked is past the end), how to reach the others."""
    past = info.page > pages
    if pages == 1:
        where = f"Page 1 of 1: page {info.page} is past the end. " if past else ""
        return where + "See one app with `app APP`, its deploys with `history APP`."
    where = f"Page {number} of {pages} ({shown} shown)"
    if past:
        where += f": page {info.page} is past the end, so this is the last page"
    if number < pages:
        move = f"Next page: {_apps_command(info, number + 1, slash)}."
    else:
        move = f"Previous page: {_apps_command(info, number - 1, slash)}."
    return (
        f"{where}. {move} Narrow the list with `--project P`, `--out-of-sync` or `--degraded`, "
        "or see one app with `app APP`."
    )


def _apps_command(info: PageInfo, number: int, slash: str) -> str:
    """`/ops apps --cluster C --project P --page N`: the same list, another page."""
    words = [slash, "apps", *([f"--cluster {info.cluster}"] if info.cluster else []), *info.filters]
    return mrkdwn.code(" ".join([*words, f"--page {number}"]), limit=MAX_MESSAGE)


def _app_line(app: AppSummary, *, unmapped: bool = False) -> str:
    sync = _SYNC_EMOJI.get(app.sync_status, _UNKNOWN)
    health = _HEALTH_EMOJI.get(app.health_status, _UNKNOWN)
    parts = [
        f"{sync}{health} {mrkdwn.code(app.name)}",
        f"{mrkdwn.escape(app.sync_status)}/{mrkdwn.escape(app.health_status)}",
    ]
    if app.revision:
        parts.append(mrkdwn.code(_short(app.revision)))
    if unmapped:
        parts.append(mrkdwn.escape(f"{app.project} → unmapped destination {app.cluster} ({app.namespace})"))
    else:
        parts.append(mrkdwn.escape(f"{app.project} → {app.cluster}/{app.namespace}"))
    if app.operation_phase in (PHASE_RUNNING, PHASE_PENDING, PHASE_TERMINATING):
        parts.append(f"_{mrkdwn.escape(app.operation_phase or '')}_")
    if app.auto_sync:
        parts.append("auto")
    return truncate(" · ".join(parts), MAX_LINE)


def _history_lines(history: Sequence[HistoryEntry], *, limit: int) -> list[str]:
    newest = sorted(history, key=lambda entry: entry.id, reverse=True)
    lines = []
    for index, entry in enumerate(newest[:limit]):
        mark = " _(current)_" if index == 0 else ""
        when = _when(entry.deployed_at) if entry.deployed_at else "-"
        who = mrkdwn.escape(entry.initiated_by) if entry.initiated_by else "someone"
        source = f" ({mrkdwn.escape(entry.target_revision)})" if entry.target_revision else ""
        lines.append(
            truncate(
                f"*{entry.id}*{mark} · {mrkdwn.code(_short(entry.revision))}{source} · {when} · {who}",
                MAX_LINE,
            )
        )
    lines.extend(_more(len(newest), limit))
    return lines


def _resource_line(resource: ResourceView) -> str:
    emoji = ":x:" if resource.is_failed else (":white_check_mark:" if resource.is_done else ":hourglass:")
    parts = [f"{emoji} {_resource_name(resource)}"]
    if resource.is_hook:
        parts.append(f"{mrkdwn.escape(resource.hook_type)} hook {mrkdwn.escape(resource.hook_phase or '-')}")
    else:
        parts.append(f"wave {resource.wave}")
        parts.append(mrkdwn.escape(resource.status or "-"))
    if resource.health:
        parts.append(mrkdwn.escape(resource.health))
    if resource.is_failed and resource.message:
        parts.append(mrkdwn.escape(truncate(resource.message, MAX_LINE)))
    return truncate(" · ".join(parts), MAX_LINE)


def _resource_name(resource: ResourceView) -> str:
    return mrkdwn.code(f"{resource.kind}/{resource.name}")


def _phase_rank(phase: str) -> int:
    order = ("PreSync", "Sync", "PostSync", "SyncFail")
    return order.index(phase) if phase in order else len(order)


def _outcome(*, run: Run, state: SyncState | None) -> tuple[str, str]:
    phase = state.phase if state else (run.phase or PHASE_PENDING)
    if state is not None and state.phase in FINAL_PHASES and not state.is_final:
        return ":hourglass:", "Finishing"
    return _PHASE_EMOJI.get(phase, _UNKNOWN), phase


def _is_final(*, run: Run, state: SyncState | None) -> bool:
    if state is not None:
        return state.is_final
    return run.phase in FINAL_PHASES


def _title(run: Run) -> str:
    kind = f"{run.kind} (dry run)" if (run.parameters or {}).get("dry_run") else run.kind
    return truncate(f"{kind} · {run.name or '(requesting)'}", MAX_HEADER - 30)


def _when(moment: datetime) -> str:
    moment = mrkdwn.aware(moment)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _more(total: int, shown: int) -> list[str]:
    return [f"_…and {total - shown} more._"] if total > shown else []


def _short(revision: str) -> str:
    """A commit SHA cut to 10 characters as Argo CD's UI shows it; tags and branches stay whole."""
    is_sha = len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)
    return revision[:SHORT_REVISION] if is_sha else revision


format_duration = mrkdwn.format_duration  # public here too: callers and tests use it
