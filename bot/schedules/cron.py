"""Crontab expressions read the way cron reads them, turned into APScheduler `CronTrigger` fields. Pure.

Why not `CronTrigger.from_crontab`: APScheduler 3.x numbers weekdays from Monday (0 = Monday),
so `"0 9 * * 1-5"` fired Tuesday to Saturday. Here the day-of-week field is read in cron's
convention (0 and 7 = Sunday, 1 = Monday, names `sun`..`sat`, ranges, lists and steps) and
written back as day *names* (`mon-fri`), which APScheduler cannot misread. The other four
fields mean the same thing in both and pass through unchanged.

One more difference is refused instead of translated: when both day-of-month and day-of-week
are restricted, cron fires when *either* matches and APScheduler only when *both* do.

Leaves out seconds, years and `@daily`-style macros (five fields only). Called by
`bot.schedules.jobs`, the `schedule` command (validation, next runs) and the docs' tests.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

FIELD_NAMES = ("minute", "hour", "day", "month", "day_of_week")
# Cron's numbering: index = cron number (0 = Sunday); 7 is Sunday again.
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# APScheduler's order (Monday first), used to write contiguous days back as ranges.
_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_NEXT = 50


class CivilCronTrigger(CronTrigger):  # type: ignore[misc]  # apscheduler ships no types
    """`CronTrigger` that does not skip a day next to a daylight-saving change.

    APScheduler 3.11 moves to the next day by adding 24 wall-clock hours in UTC, so across a
    23-hour spring-forward day it lands an hour late and skips the day (apscheduler#529):
    `"0 0 * * *"` in Europe/Paris fired Sunday 29 March 2026 and next on Tuesday 31. When the
    answer lies across a UTC-offset change, this asks again from each local midnight in
    between and keeps the earliest. It lives in this importable module because the job store
    pickles triggers by class reference.
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        candidate: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        if candidate is None:
            return None
        start = now
        if previous_fire_time is not None:
            start = min(now, previous_fire_time + timedelta(microseconds=1))
        start = start.astimezone(self.timezone)
        if start.utcoffset() == candidate.utcoffset():
            return candidate
        day: date = start.date() + timedelta(days=1)
        while day < candidate.date():
            midnight = datetime.combine(day, time(0), tzinfo=self.timezone)
            earlier: datetime | None = super().get_next_fire_time(None, midnight)
            if earlier is not None and earlier < candidate:
                return earlier
            day += timedelta(days=1)
        return candidate


class CronError(ValueError):
    """The expression is not a valid 5-field crontab; the message says what to fix."""


def _day_number(token: str) -> int:
    """Cron day number 0..7 for a digit or a three-letter name."""
    lowered = token.strip().lower()
    if lowered.isdigit():
        number = int(lowered)
        if 0 <= number <= 7:
            return number
        raise CronError(f"day of week {token!r} is out of range: use 0-7 (0 and 7 = Sunday) or sun-sat")
    if lowered in _CRON_DAYS:
        return _CRON_DAYS.index(lowered)
    raise CronError(f"day of week {token!r} is not a number 0-7 or a name sun-sat")


def _expand_item(item: str) -> set[int]:
    """Cron days (0 = Sunday .. 6) named by one comma-separated item of the field."""
    base, _, step_text = item.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) < 1:
            raise CronError(f"step {step_text!r} in day of week must be a positive number")
        step = int(step_text)
    if base == "*":
        first, last = 0, 6
    elif "-" in base:
        start_text, _, end_text = base.partition("-")
        first, last = _day_number(start_text), _day_number(end_text)
        if first > last:
            raise CronError(f"day-of-week range {base!r} runs backwards; write it as a list instead")
    else:
        first = _day_number(base)
        # `5/2` in cron means "from 5 to the end of the week, every 2nd day".
        last = 7 if step_text else first
    return {day % 7 for day in range(first, last + 1, step)}


def _to_names(days: set[int]) -> str:
    """Days written as APScheduler names, Monday first, contiguous runs as ranges (`mon-fri`)."""
    if len(days) == 7:
        return "*"
    positions = sorted(_WEEK.index(_CRON_DAYS[day]) for day in days)
    parts: list[str] = []
    start = previous = positions[0]
    tail: list[int | None] = [*positions[1:], None]
    for position in tail:
        if position is not None and position == previous + 1:
            previous = position
            continue
        if start == previous:
            parts.append(_WEEK[start])
        elif previous == start + 1:
            parts.extend((_WEEK[start], _WEEK[previous]))
        else:
            parts.append(f"{_WEEK[start]}-{_WEEK[previous]}")
        if position is not None:
            start = previous = position
    return ",".join(parts)


def translate_day_of_week(field: str) -> str:
    """A cron day-of-week field (0/7 = Sunday) as APScheduler day names.

    Raises:
        CronError: the field does not parse.
    """
    if field == "*" or field == "?":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        if not item:
            raise CronError(f"day of week {field!r} has an empty list item")
        days |= _expand_item(item)
    return _to_names(days)


def _split(expr: str) -> list[str]:
    parts = expr.split()
    if len(parts) != 5:
        raise CronError(
            f"{expr!r} has {len(parts)} field(s); a cron expression has 5: "
            "minute hour day-of-month month day-of-week, e.g. '0 9 * * mon-fri'"
        )
    return parts


def to_trigger_fields(expr: str) -> dict[str, str]:
    """The `CronTrigger` keyword arguments for a 5-field crontab, weekdays read as cron reads them.

    Raises:
        CronError: the expression is malformed (the values are checked by `validate`).
    """
    minute, hour, day, month, day_of_week = _split(expr)
    if day not in ("*", "?") and day_of_week not in ("*", "?"):
        raise CronError(
            "restrict either the day of month or the day of week, not both "
            "(cron fires when either matches, the scheduler only when both do)"
        )
    return {
        "minute": minute,
        "hour": hour,
        "day": "*" if day == "?" else day,
        "month": month,
        "day_of_week": translate_day_of_week(day_of_week),
    }


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris") from exc


def build_trigger(expr: str, timezone: str = "UTC") -> CivilCronTrigger:
    """A `CronTrigger` for `expr` in `timezone`.

    Raises:
        CronError: the expression or the time zone is invalid.
    """
    fields = to_trigger_fields(expr)
    zone = _zone(timezone)
    try:
        options: dict[str, Any] = dict(fields)
        return CivilCronTrigger(timezone=zone, **options)
    except ValueError as exc:
        raise CronError(f"{expr!r} does not parse: {exc}") from exc


def validate(expr: str, timezone: str = "UTC") -> str | None:
    """None when `expr` (in `timezone`) is usable, otherwise a sentence saying what is wrong."""
    try:
        build_trigger(expr, timezone)
    except CronError as exc:
        return str(exc)
    return None


def next_fire_times(expr: str, tz: str, start: datetime, n: int) -> list[datetime]:
    """The next `n` (at most 50) times `expr` fires in zone `tz`, at or after `start`.

    Raises:
        CronError: the expression or the time zone is invalid.
        ValueError: `start` is naive (a naive time has no meaning across time zones).
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    trigger = build_trigger(expr, tz)
    out: list[datetime] = []
    now = start
    for _ in range(max(0, min(n, MAX_NEXT))):
        fire = trigger.get_next_fire_time(None, now)
        if fire is None:
            break
        out.append(fire)
        now = fire + timedelta(seconds=1)
    return out
