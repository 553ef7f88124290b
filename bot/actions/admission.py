"""Who may use the bot right now: a per-person command rate limit. Pure, with an injected clock.

One person (or one script with their token) cannot crowd everyone else out: past
`per_minute` commands in any rolling minute, the next one is answered "slow down" (and
audited) instead of carried out. Counted per replica: with N replicas behind Socket Mode a
person gets at most N times the limit, still bounded.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
_MAX_PEOPLE = 10_000  # people remembered at once; the quietest are forgotten first


class RateLimiter:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    @property
    def per_minute(self) -> int:
        return self._per_minute

    def wait_for(self, person: str) -> float:
        """Count one command of `person`; 0 when it may go on, else the seconds until it may."""
        if self._per_minute <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            times = self._seen.pop(person, None) or deque()
            while times and times[0] <= now - WINDOW_SECONDS:
                times.popleft()
            self._seen[person] = times  # most recent last, for forgetting the quietest
            if len(times) >= self._per_minute:
                return max(0.1, times[0] + WINDOW_SECONDS - now)
            times.append(now)
            while len(self._seen) > _MAX_PEOPLE:
                del self._seen[next(iter(self._seen))]
            return 0.0
