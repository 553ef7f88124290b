"""Per-method rate limits following Slack's tiers, plus one-shot injected faults.

Each limit is a token bucket: `burst` calls may go at once, then `per_minute / 60` calls per second.
Slack says its tiers "allow bursts", so a tier's burst is its per-minute figure; chat.postMessage is
special (about one message per second per channel, short bursts allowed) and gets a small burst keyed
by channel. `apps.connections.open` is Tier 1 at Slack, but the SDK sleeps 30 s on a 429 there and
reconnect tests open many sockets, so the sandbox leaves it unlimited.
Not here: what a 429 looks like on the wire (`web_api`). Called by `web_api` for every method call.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TIER_1 = 1
TIER_2 = 20
TIER_3 = 50
TIER_4 = 100
POST_MESSAGE_PER_MINUTE = 60
POST_MESSAGE_BURST = 5

DEFAULT_LIMITS: dict[str, int] = {
    "auth.test": TIER_4,
    "chat.postMessage": POST_MESSAGE_PER_MINUTE,
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": TIER_4,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "views.publish": TIER_4,
    "users.info": TIER_4,
    "users.lookupByEmail": TIER_3,
    "usergroups.list": TIER_2,
    "usergroups.users.list": TIER_2,
    "conversations.info": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.open": TIER_3,
    "reactions.add": TIER_3,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
}
# Methods whose bucket is kept per channel rather than per method.
PER_CHANNEL = frozenset({"chat.postMessage"})


@dataclass
class Fault:
    """One injected failure: the next call(s) of `method` answer `status` with Slack error `error`."""

    method: str
    status: int = 429
    retry_after: int = 1
    error: str = "ratelimited"
    remaining: int = 1


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Decides whether a call may pass now; thread-safe."""

    def __init__(self, *, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        self._limits: dict[str, tuple[int, int]] = {
            method: (per_minute, POST_MESSAGE_BURST if method in PER_CHANNEL else per_minute)
            for method, per_minute in DEFAULT_LIMITS.items()
        }
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._faults: list[Fault] = []

    def set_limit(self, method: str, *, per_minute: int, burst: int | None = None) -> None:
        """Change one method's limit; `burst` defaults to the per-minute figure (1 for tiny limits)."""
        with self._lock:
            self._limits[method] = (per_minute, burst if burst is not None else max(1, per_minute))
            for key in [k for k in self._buckets if k[0] == method]:
                del self._buckets[key]

    def limits(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {m: {"per_minute": pm, "burst": b} for m, (pm, b) in self._limits.items()}

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> int:
        """Drop every injected fault not used up yet (an outage ends); returns how many."""
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count

    def take_fault(self, method: str) -> Fault | None:
        """The injected fault for this call, if any (uses it up); faults apply even with limits off."""
        with self._lock:
            for fault in self._faults:
                if fault.method in (method, "*"):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def check(self, method: str, *, channel: str | None = None) -> int | None:
        """Take one token for this call; return None if it may pass, else the Retry-After in whole seconds."""
        with self._lock:
            if not self.enabled or method not in self._limits:
                return None
            per_minute, burst = self._limits[method]
            key = (method, (channel or "") if method in PER_CHANNEL else "")
            now = self._clock()
            rate = per_minute / 60.0
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(burst), updated=now)
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            if rate <= 0:
                return 60
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))
