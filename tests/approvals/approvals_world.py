"""Shared values of the approval tests: the start time and a clock tests move by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.approvals.service import ApprovalService

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """The service's clock; tests move it forward instead of waiting."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


ServiceFactory = Callable[..., ApprovalService]
