"""Small pieces of Slack mrkdwn shared by the run, sync and approval renderings. Pure.

Escaping (`&`, `<`, `>` are Slack's control characters, so upstream text can ping nobody),
inline code that keeps its closing backtick, block quotes, durations as people read them, and
the two budget keepers: `fit_lines` for long tables and `within_total` for the combined text
limit Slack enforces across all blocks (`msg_blocks_too_long`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.records import Run
from bot.render.blocks import Block, truncate

MAX_TOTAL_TEXT = 12_000  # Slack refuses a message past about 13,200 characters of block text
MAX_FIELD = 200
MAX_MESSAGE = 600
MAX_NAME = 120
_MORE_RESERVE = 80  # room for the "…and N more" line


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn: `&`, `<`, `>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str, *, limit: int = MAX_NAME) -> str:
    """Inline code, cut before it is wrapped so the closing backtick survives.

    A backtick inside would end it early, so it becomes a quote.
    """
    body = escape(truncate(text, limit)).replace("`", "'") or " "
    return f"`{body}`"


def cut(text: str) -> str:
    return truncate(text, MAX_FIELD)


def quote(text: str) -> str:
    """A block quote of upstream text (an operation's message), cut to `MAX_MESSAGE` once escaped."""
    quoted = "\n".join(f"> {line}" for line in escape(text).split("\n"))
    return truncate(quoted, MAX_MESSAGE)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_duration(seconds: float) -> str:
    """A duration as people read it: "42s", "2m 05s", "1h 02m", "3d 04h"."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def footer(*, run: Run, started: datetime) -> str:
    """The context line of a run's messages: its id and when it started, in the reader's time zone."""
    epoch = int(started.timestamp())
    fallback = started.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return truncate(
        f"run {code(run.id)} · started <!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>",
        MAX_FIELD * 2,
    )


def fit_lines(lines: list[str], *, must_keep: set[int], budget: int, noun: str = "") -> str:
    """Join lines within `budget` characters; failed rows go in first, the rest in order, then a count."""
    if sum(len(line) + 1 for line in lines) <= budget:
        return "\n".join(lines)
    room = budget - _MORE_RESERVE
    kept: set[int] = set()
    for index in sorted(must_keep):  # failed rows first, taking at most about half the space
        cost = len(lines[index]) + 1
        if cost <= room - budget // 2:
            kept.add(index)
            room -= cost
    for index in range(len(lines)):
        if index in kept or index in must_keep:
            continue
        cost = len(lines[index]) + 1
        if cost > room:
            break
        kept.add(index)
        room -= cost
    hidden = len(lines) - len(kept)
    hidden_failed = len(must_keep - kept)
    rows = [lines[index] for index in sorted(kept)]
    more = f"_…and {hidden} more {noun + ' ' if noun else ''}not shown"
    more += f" ({hidden_failed} of them failed)_" if hidden_failed else "_"
    return "\n".join([*rows, more])


def text_length(item: Any) -> int:
    """All the `text` of a block structure together, as Slack counts it for its total limit."""
    if isinstance(item, dict):
        return sum(
            len(value) if key == "text" and isinstance(value, str) else text_length(value)
            for key, value in item.items()
        )
    if isinstance(item, list):
        return sum(text_length(value) for value in item)
    return 0


def within_total(blocks: list[Block], *, limit: int = MAX_TOTAL_TEXT) -> list[Block]:
    """Drop middle blocks (never the header or the end) while all text together is still too long."""
    while len(blocks) > 2 and text_length(blocks) > limit:
        del blocks[-2]
    return blocks
