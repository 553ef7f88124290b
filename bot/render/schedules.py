"""The answers of the `schedule` command: the listing, and the lines for add and remove. Pure.

`schedules_reply` lists every schedule with its kind, cron expression, time zone, channel, next
post (shown in the schedule's own zone, so "09:00 Europe/Paris" reads as the people who asked for
it expect) and where it comes from (the config file or `schedule add`). Long lists are cut at
`MAX_LISTED` with an "…and N more" line; `render.blocks.render_reply` keeps the rest inside Block
Kit's limits.

The entries are read through Protocols, so this module never imports the schedule service (which
brings APScheduler and the database). Left out: fetching the schedules and permission checks
(`commands.schedule_verbs`). Called by `bot.commands.schedule_verbs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.model import Reply, Visibility
from bot.render import mrkdwn

MAX_LISTED = 30
ORIGIN_LABELS = {"config": "config file", "stored": "added in Slack"}


class ScheduleView(Protocol):
    """What a listing shows of one schedule (`bot.schedules.jobs.ScheduleSpec` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def cron(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    @property
    def cluster(self) -> str | None: ...

    @property
    def template(self) -> str | None: ...

    @property
    def parameters(self) -> Mapping[str, str]: ...

    @property
    def origin(self) -> str: ...

    @property
    def created_by(self) -> str | None: ...


class EntryView(Protocol):
    """A schedule and its next fire time (`bot.schedules.jobs.ScheduleEntry` fits)."""

    @property
    def spec(self) -> ScheduleView: ...

    @property
    def next_run(self) -> datetime | None: ...


def format_next_run(moment: datetime | None, *, timezone: str) -> str:
    """`2026-03-02 09:00 CET` in the schedule's zone; "not scheduled" when there is none."""
    if moment is None:
        return "not scheduled"
    try:
        local = moment.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        local = moment
    return local.strftime("%Y-%m-%d %H:%M %Z").strip()


def _what(spec: ScheduleView) -> str:
    """The kind, plus the template and cluster it concerns when it has them."""
    parts = [f"*{spec.kind}*"]
    if spec.template:
        # parameter values are whatever someone typed: code, escaped, so they can ping nobody
        parameters = " ".join(mrkdwn.code(f"{key}={value}") for key, value in spec.parameters.items())
        parts.append(f"`{spec.template}`" + (f" {parameters}" if parameters else ""))
    if spec.cluster:
        parts.append(f"on {spec.cluster}")
    return " ".join(parts)


def schedule_line(entry: EntryView) -> str:
    """One schedule on one line: name, what it posts, when, where, next post, origin."""
    spec = entry.spec
    origin = ORIGIN_LABELS.get(spec.origin, spec.origin)
    return (
        f":calendar: *{spec.name}*: {_what(spec)}, `{spec.cron}` ({spec.timezone}) in <#{spec.channel}>; "
        f"next {format_next_run(entry.next_run, timezone=spec.timezone)}; {origin}"
    )


def schedules_reply(entries: Sequence[EntryView], *, slash: str = "/ops") -> Reply:
    """The answer to `schedule list`: every schedule by name, or how to add the first one."""
    title = "Scheduled posts"
    if not entries:
        return Reply(
            text=f'No schedule yet. Add one with `{slash} schedule add NAME --kind KIND --cron "CRON"`.',
            title=title,
        )
    ordered = sorted(entries, key=lambda entry: entry.spec.name)
    lines = [schedule_line(entry) for entry in ordered[:MAX_LISTED]]
    if len(ordered) > MAX_LISTED:
        lines.append(f"_…and {len(ordered) - MAX_LISTED} more._")
    return Reply(
        text=f"{len(ordered)} schedule(s).",
        title=title,
        sections=("\n".join(lines),),
    )


def added_reply(entry: EntryView, *, user_id: str) -> Reply:
    """Posted in the channel: the team sees what will be posted there and when."""
    spec = entry.spec
    return Reply(
        text=(
            f":calendar: <@{user_id}> added schedule *{spec.name}*: {_what(spec)}, `{spec.cron}` "
            f"({spec.timezone}) in <#{spec.channel}>. "
            f"First post {format_next_run(entry.next_run, timezone=spec.timezone)}."
        ),
        visibility=Visibility.IN_CHANNEL,
    )


def removed_reply(name: str) -> Reply:
    return Reply(text=f":wastebasket: Schedule *{name}* is removed; it will not post again.")
