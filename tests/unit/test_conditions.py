"""What a subscribed channel is told about an app between syncs: one message per episode."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.conditions import (
    Condition,
    Notice,
    Rules,
    Seen,
    message_key,
    observe,
    thread_of,
)

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
ALL = ("health-degraded", "health-recovered", "out-of-sync")
RULES = Rules(
    out_of_sync_after=timedelta(minutes=10),
    flapping_episodes=3,
    flapping_window=timedelta(minutes=30),
    settle_after=timedelta(minutes=15),
)


def _run(
    looks: Sequence[tuple[float, str, str]],
    *,
    triggers: Sequence[str] = ALL,
    operating: bool = False,
    start: Condition | None = None,
) -> tuple[Condition, list[Notice]]:
    """Feed (minutes after T0, health, sync) looks; return the last condition and every notice."""
    condition = start or Condition()
    told: list[Notice] = []
    for minutes, health, sync in looks:
        seen = Seen(health=health, sync=sync, operating=operating, at=T0 + timedelta(minutes=minutes))
        condition, notices = observe(condition, seen, triggers=triggers, rules=RULES)
        told += notices
    return condition, told


def _kinds(notices: Sequence[Notice]) -> list[str]:
    return [notice.kind for notice in notices]


def test_one_message_per_episode_not_per_resync_and_progressing_keeps_it_open() -> None:
    _, told = _run(
        [
            (0, "Healthy", "Synced"),
            (1, "Degraded", "Synced"),
            (4, "Degraded", "Synced"),  # a resync
            (5, "Progressing", "Synced"),
            (6, "Degraded", "Synced"),
            (13, "Healthy", "Synced"),
            (16, "Healthy", "Synced"),
        ]
    )
    assert _kinds(told) == ["degraded", "recovered"]
    recovered = told[1]
    assert recovered.since == T0 + timedelta(minutes=1) and recovered.in_thread
    key = message_key(told[0], channel_id="C1", app_key="dev/argocd/shop")
    assert thread_of(recovered, channel_id="C1", app_key="dev/argocd/shop") == key


def test_healthy_at_first_look_is_not_news_but_degraded_at_first_look_is() -> None:
    assert _run([(0, "Healthy", "Synced")])[1] == []
    assert _kinds(_run([(0, "Degraded", "Synced")])[1]) == ["degraded"]


def test_only_the_asked_triggers_are_told_and_a_recovery_alone_is_not_a_reply() -> None:
    looks = [(0, "Healthy", "Synced"), (1, "Degraded", "Synced"), (2, "Healthy", "Synced")]
    _, told = _run(looks, triggers=("health-recovered",))
    assert _kinds(told) == ["recovered"] and not told[0].in_thread
    assert _run(looks, triggers=("health-degraded",))[1][0].kind == "degraded"
    assert len(_run(looks, triggers=("health-degraded",))[1]) == 1


def test_health_while_a_sync_runs_belongs_to_the_sync_thread() -> None:
    assert _run([(0, "Healthy", "Synced"), (1, "Degraded", "OutOfSync")], operating=True)[1] == []


def test_a_flapping_app_gets_one_flapping_message_then_one_when_it_settles() -> None:
    looks: list[tuple[float, str, str]] = [(0, "Healthy", "Synced")]
    for n in range(6):  # six episodes, two minutes apart
        looks += [(1 + 2 * n, "Degraded", "Synced"), (2 + 2 * n, "Healthy", "Synced")]
    looks += [(20, "Healthy", "Synced"), (12 + 15, "Healthy", "Synced")]  # holds Healthy 15 min
    condition, told = _run(looks)
    assert _kinds(told) == ["degraded", "recovered", "degraded", "recovered", "flapping", "settled"]
    flapping, settled = told[4], told[5]
    assert flapping.episodes == 3 and flapping.since == T0 + timedelta(minutes=1)
    assert settled.episodes == 6 and settled.health == "Healthy"
    assert condition.flapping_since is None and condition.recent_episodes == ()


def test_a_flapping_app_that_settles_degraded_opens_an_episode_its_recovery_replies_to() -> None:
    looks: list[tuple[float, str, str]] = [(0, "Healthy", "Synced")]
    for n in range(3):
        looks += [(1 + 2 * n, "Degraded", "Synced"), (2 + 2 * n, "Healthy", "Synced")]
    looks += [(7, "Degraded", "Synced"), (22, "Degraded", "Synced"), (30, "Healthy", "Synced")]
    _, told = _run(looks)
    assert _kinds(told)[-2:] == ["settled", "recovered"]
    settled, recovered = told[-2], told[-1]
    assert settled.health == "Degraded" and settled.episodes == 4
    key = message_key(settled, channel_id="C1", app_key="a")
    assert thread_of(recovered, channel_id="C1", app_key="a") == key


def test_episodes_further_apart_than_the_window_are_not_flapping() -> None:
    looks: list[tuple[float, str, str]] = [(0, "Healthy", "Synced")]
    for n in range(4):  # one episode every 20 minutes: at most 2 in any 30 minutes
        looks += [(1 + 20 * n, "Degraded", "Synced"), (2 + 20 * n, "Healthy", "Synced")]
    assert _kinds(_run(looks)[1]) == ["degraded", "recovered"] * 4


def test_out_of_sync_is_told_once_after_it_lasted_and_its_end_replies_in_the_thread() -> None:
    _, told = _run(
        [
            (0, "Healthy", "OutOfSync"),
            (9, "Healthy", "OutOfSync"),
            (10, "Healthy", "OutOfSync"),
            (14, "Healthy", "OutOfSync"),
            (15, "Healthy", "Synced"),
        ]
    )
    assert _kinds(told) == ["out-of-sync", "in-sync"]
    assert told[0].since == T0 and told[0].at == T0 + timedelta(minutes=10)
    assert thread_of(told[1], channel_id="C", app_key="a") == message_key(
        told[0], channel_id="C", app_key="a"
    )


def test_a_short_drift_is_not_told() -> None:
    looks = [(0, "Healthy", "OutOfSync"), (3, "Healthy", "Synced"), (20, "Healthy", "Synced")]
    assert _run(looks)[1] == []


def test_the_same_notice_computed_again_has_the_same_message_key() -> None:
    looks = [(0, "Healthy", "Synced"), (1, "Degraded", "Synced")]
    first = _run(looks)[1][0]
    again = _run(looks)[1][0]
    assert message_key(first, channel_id="C", app_key="a") == message_key(again, channel_id="C", app_key="a")


def test_two_episodes_within_one_second_are_two_messages() -> None:
    looks = [
        (0, "Healthy", "Synced"),
        (1, "Degraded", "Synced"),
        (1, "Healthy", "Synced"),
        (1, "Degraded", "Synced"),
    ]
    first, _, second = _run(looks)[1]
    assert message_key(first, channel_id="C", app_key="a") != message_key(second, channel_id="C", app_key="a")
