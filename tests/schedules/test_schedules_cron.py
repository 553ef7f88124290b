"""Crontab expressions fire on the days cron means, in the schedule's time zone, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.schedules import cron

PARIS = "Europe/Paris"
# Friday 27 March 2026, 00:00 UTC; Paris moves from +01:00 to +02:00 on Sunday 29 March.
BEFORE_SPRING = datetime(2026, 3, 27, tzinfo=UTC)
# Friday 23 October 2026; Paris moves back to +01:00 on Sunday 25 October.
BEFORE_AUTUMN = datetime(2026, 10, 23, tzinfo=UTC)


def _days(expr: str, start: datetime, n: int) -> list[str]:
    return [moment.strftime("%a %m-%d %H:%M%z") for moment in cron.next_fire_times(expr, PARIS, start, n)]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("1-5", "mon-fri"),
        ("mon-fri", "mon-fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("5-7", "fri-sun"),
        ("0-6", "*"),
        ("*", "*"),
        ("1,3,5", "mon,wed,fri"),
        ("6,0", "sat,sun"),
        ("*/2", "tue,thu,sat,sun"),
        ("1-5/2", "mon,wed,fri"),
        ("sun,mon", "mon,sun"),
        ("SAT", "sat"),
    ],
)
def test_day_of_week_is_read_the_way_cron_reads_it(field: str, expected: str) -> None:
    assert cron.to_trigger_fields(f"0 9 * * {field}")["day_of_week"] == expected


def test_weekdays_fire_monday_to_friday_across_the_spring_change() -> None:
    assert _days("0 9 * * 1-5", BEFORE_SPRING, 6) == [
        "Fri 03-27 09:00+0100",
        "Mon 03-30 09:00+0200",
        "Tue 03-31 09:00+0200",
        "Wed 04-01 09:00+0200",
        "Thu 04-02 09:00+0200",
        "Fri 04-03 09:00+0200",
    ]


def test_weekdays_fire_monday_to_friday_across_the_autumn_change() -> None:
    assert _days("0 9 * * mon-fri", BEFORE_AUTUMN, 3) == [
        "Fri 10-23 09:00+0200",
        "Mon 10-26 09:00+0100",
        "Tue 10-27 09:00+0100",
    ]


@pytest.mark.parametrize("expr", ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun"])
def test_sunday_is_zero_or_seven(expr: str) -> None:
    assert _days(expr, BEFORE_SPRING, 2) == ["Sun 03-29 00:00+0100", "Sun 04-05 00:00+0200"]


def test_midnight_daily_does_not_skip_the_day_after_the_spring_change() -> None:
    # APScheduler alone jumps from Sunday 29 to Tuesday 31 here (apscheduler#529).
    assert _days("0 0 * * *", BEFORE_SPRING, 4) == [
        "Sat 03-28 00:00+0100",
        "Sun 03-29 00:00+0100",
        "Mon 03-30 00:00+0200",
        "Tue 03-31 00:00+0200",
    ]


def test_every_quarter_hour() -> None:
    times = cron.next_fire_times("*/15 * * * *", "UTC", datetime(2026, 1, 1, 10, 7, tzinfo=UTC), 4)
    assert [moment.strftime("%H:%M") for moment in times] == ["10:15", "10:30", "10:45", "11:00"]


@pytest.mark.parametrize(
    ("expr", "timezone", "fragment"),
    [
        ("0 9 * *", "UTC", "has 4 field(s)"),
        ("0 25 * * *", "UTC", "does not parse"),
        ("0 9 * * 8", "UTC", "out of range"),
        ("0 9 * * 5-1", "UTC", "runs backwards"),
        ("0 9 1 * mon", "UTC", "either the day of month or the day of week"),
        ("0 9 * * *", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_validate_says_what_is_wrong(expr: str, timezone: str, fragment: str) -> None:
    error = cron.validate(expr, timezone)
    assert error is not None and fragment in error


def test_validate_accepts_good_expressions() -> None:
    assert cron.validate("0 9 * * mon-fri", PARIS) is None
    assert cron.validate("30 6 1 * *") is None
