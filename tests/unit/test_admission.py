"""The per-person rate limit: a rolling minute, per person, with a clock the test moves."""

from __future__ import annotations

from bot.actions.admission import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_past_the_limit_a_person_waits_until_the_oldest_command_leaves_the_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.wait_for("U1") for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 20
    assert limiter.wait_for("U1") == 40.0  # the first of the three leaves the window in 40 s
    assert limiter.wait_for("U2") == 0.0  # someone else is not slowed down
    clock.now += 40
    assert limiter.wait_for("U1") == 0.0


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0, clock=Clock())
    assert all(limiter.wait_for("U1") == 0.0 for _ in range(1000))
