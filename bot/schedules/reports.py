"""What a scheduled post says: one builder per schedule kind, each returning a `Reply`. Pure.

- `workflow_digest`: workflow runs started in the window, counted by phase, failures listed
  with name, template, requester and a log link when one is known.
- `pending_approvals`: a reminder of requests still waiting, with their expiry.
- `app_health`: Argo CD applications not Synced/Healthy, grouped by cluster.
- `run_submitted`: the line posted when a schedule of kind `run` submitted its template.

Lists are capped (`MAX_LISTED`) with an "…and N more" line, and `render.blocks.render_reply`
enforces Block Kit's limits on top, so a window with thousands of runs still posts. Leaves out
fetching the data (`jobs` asks its `ReportSources`) and Slack formatting beyond mrkdwn text.
Called by `bot.schedules.jobs`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot import records
from bot.model import Reply, Visibility
from bot.render.texts import emoji

MAX_LISTED = 30
FAILED_PHASES = ("Failed", "Error")
SYNCED = "Synced"
HEALTHY = "Healthy"


class AppSummary(Protocol):
    """What the health report needs to know about one Argo CD Application."""

    @property
    def name(self) -> str: ...

    @property
    def project(self) -> str: ...

    @property
    def cluster(self) -> str: ...

    @property
    def sync_status(self) -> str: ...

    @property
    def health_status(self) -> str: ...


@dataclass(frozen=True)
class AppStatus:
    """A plain `AppSummary`, for sources that have no richer type at hand."""

    name: str
    project: str
    cluster: str
    sync_status: str
    health_status: str


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def _more(total: int, shown: int) -> list[str]:
    return [f"_…and {total - shown} more._"] if total > shown else []


def workflow_digest(
    runs: Sequence[records.Run],
    *,
    window_hours: int,
    now: datetime,
    log_links: Mapping[str, str] | None = None,
) -> Reply:
    """Counts by phase and the failures of the workflow runs started in the last `window_hours`.

    Args:
        runs: runs from the store; anything not a workflow (syncs, rollbacks) is left out.
        window_hours: the window the runs were selected for, repeated in the title.
        now: the end of the window, shown in the footer.
        log_links: run id -> URL of its archived logs, for the failures that have one.
    """
    links = log_links or {}
    # a Workflow started outside the bot and followed in several channels counts once
    workflows = [run for run in records.distinct_operations(runs) if run.kind == records.RUN_WORKFLOW]
    title = f"Workflow digest: last {window_hours}h"
    footer = f"Window ending {_when(now)}"
    if not workflows:
        return Reply(
            text="No workflow ran in this window.",
            title=title,
            context=footer,
            visibility=Visibility.IN_CHANNEL,
        )
    counts = Counter(run.phase or "Unknown" for run in workflows)
    summary = "  ".join(f"{emoji(phase)} {phase}: *{count}*" for phase, count in sorted(counts.items()))
    failures = [run for run in workflows if run.phase in FAILED_PHASES]
    sections: list[str] = []
    if failures:
        lines = [f"*Failures ({len(failures)})*"]
        for run in failures[:MAX_LISTED]:
            name = run.shown_name
            link = links.get(run.id)
            label = f"<{link}|{name}>" if link else f"`{name}`"
            template = f" from `{run.template}`" if run.template else ""
            who = f"{run.started_by} (outside the bot)" if run.followed_for else run.requester_name
            lines.append(f"{emoji(run.phase)} {label}{template} on {run.cluster}, by {who}")
        lines.extend(_more(len(failures), MAX_LISTED))
        sections.append("\n".join(lines))
    text = f"{len(workflows)} workflow run(s): {summary}"
    return Reply(
        text=text, title=title, sections=tuple(sections), context=footer, visibility=Visibility.IN_CHANNEL
    )


def pending_approvals(approvals: Sequence[records.Approval], *, now: datetime) -> Reply:
    """A reminder listing the requests still waiting for a decision, soonest expiry first."""
    title = "Pending approvals"
    if not approvals:
        return Reply(text="No approval is waiting.", title=title, visibility=Visibility.IN_CHANNEL)
    ordered = sorted(approvals, key=lambda approval: approval.expires_at)
    lines = []
    for approval in ordered[:MAX_LISTED]:
        left = approval.expires_at - now
        minutes = max(0, int(left.total_seconds() // 60))
        remaining = f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
        lines.append(
            f":hourglass: `{approval.id}` {approval.action} *{approval.app}* on {approval.cluster} "
            f"to `{approval.to_revision}`, asked by {approval.requester_name}, expires in {remaining}"
        )
    lines.extend(_more(len(ordered), MAX_LISTED))
    return Reply(
        text=f"{len(ordered)} request(s) waiting for a decision.",
        title=title,
        sections=("\n".join(lines),),
        visibility=Visibility.IN_CHANNEL,
    )


def is_unwell(app: AppSummary) -> bool:
    """True when an application needs attention: not Synced or not Healthy."""
    return app.sync_status != SYNCED or app.health_status != HEALTHY


def app_health(apps: Sequence[AppSummary], *, clusters: Sequence[str]) -> Reply:
    """Applications not Synced/Healthy, per cluster; "all healthy" when none.

    Args:
        apps: every application seen (healthy ones are counted, not listed).
        clusters: the clusters that were asked, so a cluster with no problem is still named.
    """
    title = "Argo CD application health"
    unwell = [app for app in apps if is_unwell(app)]
    names = ", ".join(clusters) if clusters else "no cluster"
    if not unwell:
        return Reply(
            text=f":white_check_mark: All {len(apps)} application(s) are Synced and Healthy ({names}).",
            title=title,
            visibility=Visibility.IN_CHANNEL,
        )
    by_cluster: dict[str, list[AppSummary]] = {}
    for app in sorted(unwell, key=lambda item: (item.cluster, item.project, item.name)):
        by_cluster.setdefault(app.cluster, []).append(app)
    sections = []
    budget = MAX_LISTED
    for cluster, items in by_cluster.items():
        shown = items[: max(1, budget)]
        budget -= len(shown)
        lines = [f"*{cluster}* ({len(items)} need attention)"]
        lines.extend(
            f":warning: *{app.name}* ({app.project}): {app.sync_status} / {app.health_status}"
            for app in shown
        )
        lines.extend(_more(len(items), len(shown)))
        sections.append("\n".join(lines))
    return Reply(
        text=f"{len(unwell)} of {len(apps)} application(s) are not Synced and Healthy.",
        title=title,
        sections=tuple(sections),
        visibility=Visibility.IN_CHANNEL,
    )


def run_submitted(*, schedule: str, template: str, cluster: str, run_name: str) -> Reply:
    """The line a `run` schedule posts; the run's progress follows in its thread."""
    return Reply(
        text=f":calendar: Schedule *{schedule}* submitted `{template}` on {cluster}: `{run_name}`",
        visibility=Visibility.IN_CHANNEL,
    )


def failed(*, schedule: str, kind: str) -> Reply:
    """Posted instead of the report when building it failed; the detail goes to the log only."""
    return Reply(
        text=f":warning: Schedule *{schedule}* ({kind}) could not build its report this time; see the log.",
        visibility=Visibility.IN_CHANNEL,
    )
