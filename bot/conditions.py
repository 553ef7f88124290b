"""What a subscribed channel is told about an app between syncs. Pure.

Three things matter to people on call, and each is told once, not at every resync:

- **Health episodes.** An app that turns Degraded starts an episode: one message. When it is
  Healthy again the episode ends: one reply ("recovered after 12 min"). Progressing, Missing,
  Unknown and Suspended are not verdicts: an episode stays open through them, so a resync that
  passes through Progressing is not a new episode.
- **Flapping.** When an app starts `Rules.flapping_episodes` episodes within
  `Rules.flapping_window`, one "flapping" message replaces the next posts; further changes are
  only counted until the app has held one state for `Rules.settle_after`, then one message
  says how it settled and how many episodes it had.
- **A lasting OutOfSync.** Drift is normal for seconds after a push; `out-of-sync` is told
  only once the app stayed OutOfSync for `Rules.out_of_sync_after`, and a reply says when it is
  Synced again.

Health and sync while an operation runs belong to the sync's own thread, so they are not
judged then. `observe` is called with every event of the app and again periodically (the
time passes, the app does not change) so that debounces end without a new event. What it
returns is stored per channel and app, so a restart or a new leader does not tell anything
twice. Leaves out which channels want which app (`bot.subscribing`), permissions (the
pipeline's `Audience`), storage and Slack (`bot.tracking.conditions`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.config import DebounceSettings

HEALTH_DEGRADED = "health-degraded"
HEALTH_RECOVERED = "health-recovered"
OUT_OF_SYNC = "out-of-sync"
TRIGGERS = (HEALTH_DEGRADED, HEALTH_RECOVERED, OUT_OF_SYNC)

DEGRADED = "Degraded"
HEALTHY = "Healthy"
SYNC_OUT_OF_SYNC = "OutOfSync"
SYNC_SYNCED = "Synced"

# what a notice says
NOTICE_DEGRADED = "degraded"
NOTICE_RECOVERED = "recovered"
NOTICE_FLAPPING = "flapping"
NOTICE_SETTLED = "settled"
NOTICE_OUT_OF_SYNC = "out-of-sync"
NOTICE_IN_SYNC = "in-sync"


@dataclass(frozen=True)
class Rules:
    """How long to wait before telling (config `debounce:`)."""

    out_of_sync_after: timedelta = timedelta(minutes=10)
    flapping_episodes: int = 3
    flapping_window: timedelta = timedelta(minutes=30)
    settle_after: timedelta = timedelta(minutes=15)


def rules_from(settings: DebounceSettings) -> Rules:
    """The config file's `debounce:` as rules."""
    return Rules(
        out_of_sync_after=timedelta(minutes=settings.out_of_sync_minutes),
        flapping_episodes=settings.flapping_episodes,
        flapping_window=timedelta(minutes=settings.flapping_window_minutes),
        settle_after=timedelta(minutes=settings.settle_minutes),
    )


@dataclass(frozen=True)
class Condition:
    """What one channel knows of one app (stored; the empty value for an app not seen yet)."""

    health: str = ""
    health_changed_at: datetime | None = None
    #: the start of the open Degraded episode (None when Healthy or not seen Degraded)
    episode_started_at: datetime | None = None
    #: episodes so far (the open one included): numbers each episode's messages
    episode_count: int = 0
    #: whether the open episode has a message of its own (its recovery replies under it)
    episode_notified: bool = False
    #: starts of recent episodes, inside the flapping window
    recent_episodes: tuple[datetime, ...] = ()
    flapping_since: datetime | None = None
    flapping_episodes: int = 0
    out_of_sync_since: datetime | None = None
    out_of_sync_notified: bool = False
    #: drifts so far (the open one included): numbers each drift's messages
    drift_count: int = 0


@dataclass(frozen=True)
class Seen:
    """The app as one event (or a periodic look) shows it."""

    health: str
    sync: str
    operating: bool
    at: datetime


@dataclass(frozen=True)
class Notice:
    """Something to tell the channel.

    `since` is when what it tells began (the episode, the flapping, the drift). `number` is the
    episode's or drift's ordinal: it names the message, so the same notice computed again
    (after a restart) is the same message, and two episodes within one second are two.
    `episodes` counts a flapping app's episodes; `health` is the state a flapping app settled
    in; `in_thread` says a recovery replies under its episode's message.
    """

    kind: str
    at: datetime
    since: datetime
    number: int
    episodes: int = 0
    health: str = ""
    in_thread: bool = False


def observe(
    condition: Condition, seen: Seen, *, triggers: Collection[str], rules: Rules
) -> tuple[Condition, list[Notice]]:
    """The condition after `seen`, and what to tell a channel that asked for `triggers`."""
    notices: list[Notice] = []
    if not seen.operating:
        condition, told = _health(condition, seen, triggers, rules)
        notices += told
        condition, told = _drift(condition, seen, triggers, rules)
        notices += told
    condition, told = _settle(condition, seen, triggers, rules)
    return condition, notices + told


def _wants_health(triggers: Collection[str]) -> bool:
    return HEALTH_DEGRADED in triggers or HEALTH_RECOVERED in triggers


def _health(
    condition: Condition, seen: Seen, triggers: Collection[str], rules: Rules
) -> tuple[Condition, list[Notice]]:
    if seen.health not in (DEGRADED, HEALTHY) or seen.health == condition.health:
        return condition, []  # no verdict yet, or nothing new
    first_look = not condition.health
    condition = replace(condition, health=seen.health, health_changed_at=seen.at)
    if seen.health == DEGRADED:
        return _episode_starts(condition, seen.at, triggers, rules)
    started, told = condition.episode_started_at, condition.episode_notified
    condition = replace(condition, episode_started_at=None, episode_notified=False)
    if first_look or started is None or condition.flapping_since is not None:
        return condition, []
    if HEALTH_RECOVERED not in triggers:
        return condition, []
    notice = Notice(
        NOTICE_RECOVERED, at=seen.at, since=started, number=condition.episode_count, in_thread=told
    )
    return condition, [notice]


def _episode_starts(
    condition: Condition, at: datetime, triggers: Collection[str], rules: Rules
) -> tuple[Condition, list[Notice]]:
    recent = (*(t for t in condition.recent_episodes if at - t < rules.flapping_window), at)
    number = condition.episode_count + 1
    condition = replace(
        condition, episode_started_at=at, episode_notified=False, recent_episodes=recent, episode_count=number
    )
    if condition.flapping_since is not None:
        return replace(condition, flapping_episodes=condition.flapping_episodes + 1), []
    if len(recent) >= rules.flapping_episodes:
        condition = replace(condition, flapping_since=recent[0], flapping_episodes=len(recent))
        if not _wants_health(triggers):
            return condition, []
        return condition, [
            Notice(NOTICE_FLAPPING, at=at, since=recent[0], number=number, episodes=len(recent))
        ]
    if HEALTH_DEGRADED not in triggers:
        return condition, []
    return replace(condition, episode_notified=True), [
        Notice(NOTICE_DEGRADED, at=at, since=at, number=number)
    ]


def _settle(
    condition: Condition, seen: Seen, triggers: Collection[str], rules: Rules
) -> tuple[Condition, list[Notice]]:
    """A flapping app that held one state for `settle_after` is told once, with its count."""
    since, changed = condition.flapping_since, condition.health_changed_at
    if since is None or changed is None or seen.operating or seen.at - changed < rules.settle_after:
        return condition, []
    degraded = condition.health == DEGRADED
    settled = replace(
        condition,
        flapping_since=None,
        flapping_episodes=0,
        recent_episodes=(),
        # settled Degraded: the settling message is the open episode's message
        episode_notified=degraded and _wants_health(triggers),
    )
    if not _wants_health(triggers):
        return settled, []
    anchor = condition.episode_started_at if degraded and condition.episode_started_at else since
    notice = Notice(
        NOTICE_SETTLED,
        at=seen.at,
        since=anchor,
        number=condition.episode_count,
        episodes=condition.flapping_episodes,
        health=condition.health,
    )
    return settled, [notice]


def _drift(
    condition: Condition, seen: Seen, triggers: Collection[str], rules: Rules
) -> tuple[Condition, list[Notice]]:
    if seen.sync == SYNC_OUT_OF_SYNC:
        if condition.out_of_sync_since is None:
            condition = replace(condition, out_of_sync_since=seen.at, drift_count=condition.drift_count + 1)
        since = condition.out_of_sync_since or seen.at
        due = seen.at - since >= rules.out_of_sync_after
        if condition.out_of_sync_notified or OUT_OF_SYNC not in triggers or not due:
            return condition, []
        notice = Notice(NOTICE_OUT_OF_SYNC, at=seen.at, since=since, number=condition.drift_count)
        return replace(condition, out_of_sync_notified=True), [notice]
    if seen.sync == SYNC_SYNCED and condition.out_of_sync_since is not None:
        since, told = condition.out_of_sync_since, condition.out_of_sync_notified
        condition = replace(condition, out_of_sync_since=None, out_of_sync_notified=False)
        if not told:
            return condition, []
        return condition, [
            Notice(NOTICE_IN_SYNC, at=seen.at, since=since, number=condition.drift_count, in_thread=True)
        ]
    return condition, []


def notice_key(kind: str, *, channel_id: str, app_key: str, number: int) -> str:
    """The outbox key of a notice's message: the same notice computed again is the same message."""
    return f"{kind}:{channel_id}:{app_key}:{number}"


def message_key(notice: Notice, *, channel_id: str, app_key: str) -> str:
    """Where a notice is posted: an episode's opening message (degraded, or settled Degraded)
    is the episode's message, which its recovery replies under."""
    opens_episode = notice.kind == NOTICE_DEGRADED or (
        notice.kind == NOTICE_SETTLED and notice.health == DEGRADED
    )
    kind = "health" if opens_episode else notice.kind
    return notice_key(kind, channel_id=channel_id, app_key=app_key, number=notice.number)


def thread_of(notice: Notice, *, channel_id: str, app_key: str) -> str | None:
    """The key of the message a notice replies under, if it is a reply."""
    if not notice.in_thread:
        return None
    opened_by = {NOTICE_RECOVERED: "health", NOTICE_IN_SYNC: NOTICE_OUT_OF_SYNC}.get(notice.kind)
    if opened_by is None:
        return None
    return notice_key(opened_by, channel_id=channel_id, app_key=app_key, number=notice.number)
