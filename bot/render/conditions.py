"""Messages about an app between syncs: a health episode, flapping, a lasting OutOfSync.

One message per `bot.conditions.Notice`; an episode's recovery is a reply under its message
(and the message is edited to say it ended), so a channel reads one thread per episode. Text
from Argo CD (resource messages) is escaped so it cannot ping anyone; everything stays inside
Slack's limits. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.conditions import (
    DEGRADED,
    NOTICE_DEGRADED,
    NOTICE_FLAPPING,
    NOTICE_IN_SYNC,
    NOTICE_OUT_OF_SYNC,
    NOTICE_RECOVERED,
    NOTICE_SETTLED,
    Notice,
)
from bot.render import mrkdwn
from bot.render.blocks import MAX_SECTION_TEXT, Block, context, section, truncate

MAX_RESOURCES = 8
MAX_MESSAGE = 300


@dataclass(frozen=True)
class UnhealthyResource:
    kind: str
    name: str
    namespace: str
    health: str
    message: str


@dataclass(frozen=True)
class AppFacts:
    """What the messages show of the app, read from its Application object."""

    name: str
    project: str
    destination: str
    sync: str = ""
    revision: str = ""
    unhealthy: tuple[UnhealthyResource, ...] = ()
    ui_url: str | None = None
    subscription_id: str = ""


def render_notice(notice: Notice, app: AppFacts) -> tuple[str, list[Block]]:
    """The message (fallback text and blocks) for `notice`."""
    name = f"*{mrkdwn.escape(truncate(app.name, 120))}* ({mrkdwn.escape(app.destination)})"
    duration = mrkdwn.format_duration((notice.at - notice.since).total_seconds())
    lines: list[str]
    if notice.kind == NOTICE_DEGRADED:
        lines = [f":broken_heart: {name} is *Degraded*", *_unhealthy(app.unhealthy)]
    elif notice.kind == NOTICE_RECOVERED:
        lines = [f":green_heart: {name} is *Healthy* again, after {duration} Degraded"]
    elif notice.kind == NOTICE_FLAPPING:
        lines = [
            f":warning: {name} is *flapping*: Degraded {notice.episodes} times in {duration}.",
            "Further changes are counted, not posted, until it holds one state; then one message "
            "says how it settled.",
        ]
    elif notice.kind == NOTICE_SETTLED:
        verdict = "*Degraded*" if notice.health == DEGRADED else "*Healthy*"
        emoji = ":broken_heart:" if notice.health == DEGRADED else ":green_heart:"
        lines = [
            f"{emoji} {name} stopped flapping and is {verdict}: {notice.episodes} Degraded episodes "
            f"in {duration}.",
        ]
        if notice.health == DEGRADED:
            lines += _unhealthy(app.unhealthy)
    elif notice.kind == NOTICE_OUT_OF_SYNC:
        target = f" (wants {mrkdwn.code(app.revision, limit=40)})" if app.revision else ""
        lines = [f":large_yellow_circle: {name} has been *OutOfSync* for {duration}{target}"]
    elif notice.kind == NOTICE_IN_SYNC:
        lines = [f":white_check_mark: {name} is *Synced* again, after {duration} OutOfSync"]
    else:
        raise ValueError(f"unknown notice {notice.kind!r}")
    text = truncate("\n".join(lines), MAX_SECTION_TEXT)
    blocks: list[Block] = [section(text)]
    footer = [f"project {mrkdwn.escape(app.project)}"]
    if app.ui_url:
        footer.append(f"<{app.ui_url}|open in Argo CD>")
    if app.subscription_id:
        footer.append(f"subscription {mrkdwn.escape(app.subscription_id)}")
    blocks.append(context(" · ".join(footer)))
    return lines[0], blocks


def render_episode_ended(notice: Notice, app: AppFacts) -> tuple[str, list[Block]]:
    """The episode's message once it ended (edited in place, the thread holds the details)."""
    name = f"*{mrkdwn.escape(truncate(app.name, 120))}* ({mrkdwn.escape(app.destination)})"
    duration = mrkdwn.format_duration((notice.at - notice.since).total_seconds())
    if notice.kind == NOTICE_IN_SYNC:
        text = f":white_check_mark: {name} was OutOfSync for {duration}; Synced again"
    else:
        text = f":green_heart: {name} was Degraded for {duration}; Healthy again"
    return text, [section(text), context(f"project {mrkdwn.escape(app.project)}")]


def _unhealthy(resources: Sequence[UnhealthyResource]) -> list[str]:
    lines = []
    for resource in resources[:MAX_RESOURCES]:
        what = f"{resource.kind}/{resource.name}"
        message = f": {mrkdwn.escape(truncate(resource.message, MAX_MESSAGE))}" if resource.message else ""
        lines.append(f"• {mrkdwn.code(what)} {mrkdwn.escape(resource.health)}{message}")
    if len(resources) > MAX_RESOURCES:
        lines.append(f"_…and {len(resources) - MAX_RESOURCES} more._")
    return lines
