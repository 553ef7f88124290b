"""Scaled, interruptible waiting for the sandbox controllers, plus RFC 3339 timestamps.

A controller step that "takes 60 s" waits `60 * time_scale` real seconds, and wakes early
when its run is cancelled (shutdown, controller stop), so tests neither sleep guessed
amounts nor leave threads behind. Timestamps stay wall-clock (the bot computes elapsed
time from them). Used by `workflows` and `applications`.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class TimeScale:
    """Multiply every scripted duration by `factor` (0.01 makes `sleep 60` take 0.6 s)."""

    factor: float = 1.0

    def wait(self, seconds: float, *, cancel: threading.Event) -> bool:
        """Wait `seconds` of scripted time; False when `cancel` was set first."""
        return not cancel.wait(max(0.0, seconds * self.factor))


def now_rfc3339() -> str:
    """The current UTC time as Kubernetes writes it (`2024-01-02T03:04:05Z`)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> dt.datetime:
    """Parse a Kubernetes timestamp; now when it is missing or malformed."""
    if text:
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    return dt.datetime.now(dt.UTC)
