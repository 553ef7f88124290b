"""Send progress messages at the pace Slack accepts, without losing the last word.

Progress tracking produces bursts: a watch may deliver a dozen status changes of one Workflow in
a second, and many runs may report at once. Slack allows `chat.postMessage` about once a second
per channel and `chat.update` about 50 times a minute per workspace (Slack's Tier 3). `PacedSender` owns one
worker thread that sends:

- posts FIFO per channel, at most one per `post_interval` per channel, so thread replies stay in
  the order they were queued;
- updates coalesced per message: only the newest content waiting for a `(channel, ts)` is sent, at
  most once per `update_interval` per message and at most `updates_per_minute` overall;
- after a 429 (`RateLimited`, which the WebClient raises once its own Retry-After retries are spent)
  the same item waits out Retry-After and goes again, as often as needed: nothing is dropped and the
  final content of a message always lands. A transient `SlackError` (a 5xx, a dropped
  connection) is tried again with a growing pause (1 s ... 60 s, `TRANSIENT_ATTEMPTS` times), so a
  short Slack outage loses nothing either; an item queued with `retry_transient=False` (outbox
  traffic, which retries durably itself, however long Slack is down) fails its Future at the first
  transient error instead. Any other `SlackError` (`channel_not_found`,
  `invalid_blocks`, ...) is logged and that one item is dropped (its Future carries the error), so
  one bad message cannot block a channel.

It leaves out persistence (a crash loses what is queued: durable messages go through
`bot.slack.outbox`, whose deliverer sends them through here) and the content itself. The clock and
the pacing sleep are injectable for tests. Called by the outbox deliverer and the schedules; built in
the composition root around `bot.slack.client.Messenger`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.errors import RateLimited, SlackError

log = logging.getLogger(__name__)

POST_INTERVAL = 1.0  # chat.postMessage: about one per second per channel
UPDATE_INTERVAL = 1.2  # per message: a parent edited more often than this only flickers
TRANSIENT_ATTEMPTS = 8  # a Slack outage of about four minutes is ridden out; longer ones drop
UPDATES_PER_MINUTE = 45  # chat.update is Tier 3 (~50/min); keep a margin for other callers
_WINDOW = 60.0
_MAX_KEYS = 4096  # idempotency keys remembered for deduplicating posts
Blocks = Sequence[dict[str, Any]]


def _backoff(failures: int) -> float:
    """Seconds before trying a message again after its `failures`-th transient failure: 1, 2, 4 ... 60."""
    return float(min(2 ** (failures - 1), 60))


class Sender(Protocol):
    """What the pacer needs from a Slack client (`bot.slack.client.Messenger` fits)."""

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str: ...

    def update(self, *, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None: ...


@dataclass
class _Post:
    channel: str
    text: str
    blocks: Blocks | None
    thread_ts: str | None
    key: str | None
    future: Future[str] = field(default_factory=Future)
    failures: int = 0
    metadata: Mapping[str, Any] | None = None
    retry_transient: bool = True


@dataclass
class _Update:
    channel: str
    ts: str
    text: str
    blocks: Blocks | None
    futures: list[Future[None]] = field(default_factory=list)
    failures: int = 0
    retry_transient: bool = True


class PacedSender:
    """A paced, coalescing, order-keeping queue in front of `chat.postMessage` and `chat.update`.

    Thread-safe: `post` and `update` may be called from any thread and return at once. Do not call
    `flush` or `close` from a Future's callback (they run on the worker thread).
    """

    def __init__(
        self,
        messenger: Sender,
        *,
        post_interval: float = POST_INTERVAL,
        update_interval: float = UPDATE_INTERVAL,
        updates_per_minute: int = UPDATES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        name: str = "slack-pacer",
    ) -> None:
        """Start the worker thread.

        Args:
            messenger: sends one message; raises `RateLimited` or `SlackError`.
            post_interval: seconds between two posts to one channel.
            update_interval: seconds between two updates of one message.
            updates_per_minute: chat.update calls allowed in any 60 s window, all messages together.
            clock: monotonic seconds.
            sleep: how the worker waits for the next send slot; by default a wait that new work
                cuts short. A test may pass a function that advances a fake `clock`.
            name: the worker thread's name.
        """
        self._messenger = messenger
        self._post_interval = post_interval
        self._update_interval = update_interval
        self._updates_per_minute = max(1, updates_per_minute)
        self._clock = clock
        self._wake = threading.Event()
        self._sleep: Callable[[float], object] = sleep or self._wake.wait
        self._cond = threading.Condition()
        self._posts: dict[str, deque[_Post]] = {}
        self._post_ready: dict[str, float] = {}
        self._updates: dict[tuple[str, str], _Update] = {}
        self._update_ready: dict[tuple[str, str], float] = {}
        self._update_pause_until = -math.inf
        self._update_times: deque[float] = deque()
        self._keys: OrderedDict[str, Future[str]] = OrderedDict()
        self._in_flight = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- public --------------------------------------------------------------------------------

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        retry_transient: bool = True,
    ) -> Future[str]:
        """Queue a message (a reply when `thread_ts` is given); the Future gives its ts.

        `key` makes the post idempotent within this process: while a post with the same key is
        queued or was sent, the same Future is returned instead of posting twice (a parent message
        per run, say). A post that failed frees its key. `metadata` goes to Slack with the
        message. With `retry_transient=False` a transient failure fails the Future at once (the
        caller retries); 429s are still waited out here.
        """
        item = _Post(
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            key=key,
            metadata=metadata,
            retry_transient=retry_transient,
        )
        with self._cond:
            if self._closed:
                item.future.set_exception(SlackError("the Slack sender is closed", transient=True))
                return item.future
            if key is not None:
                known = self._keys.get(key)
                if known is not None:
                    return known
                self._keys[key] = item.future
                while len(self._keys) > _MAX_KEYS:
                    self._keys.popitem(last=False)
            self._posts.setdefault(channel, deque()).append(item)
            self._wake.set()
        return item.future

    def update(
        self,
        *,
        channel: str,
        ts: str,
        text: str,
        blocks: Blocks | None = None,
        retry_transient: bool = True,
    ) -> Future[None]:
        """Queue new content for a message; content queued earlier and not sent yet is replaced.

        The Future resolves when this content, or newer content for the same message, landed.
        `retry_transient` as for `post`.
        """
        future: Future[None] = Future()
        with self._cond:
            if self._closed:
                future.set_exception(SlackError("the Slack sender is closed", transient=True))
                return future
            waiting = self._updates.get((channel, ts))
            futures = [*waiting.futures, future] if waiting else [future]
            # Replacing the value keeps the message's place in the queue (dicts keep first insertion).
            self._updates[(channel, ts)] = _Update(
                channel=channel,
                ts=ts,
                text=text,
                blocks=blocks,
                futures=futures,
                retry_transient=retry_transient and (waiting.retry_transient if waiting else True),
            )
            self._wake.set()
        return future

    def pending(self) -> int:
        """Posts and message updates not sent yet (including one being sent)."""
        with self._cond:
            return self._pending_locked() + self._in_flight

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far was sent (or dropped); False if `timeout` came first."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._pending_locked() == 0 and self._in_flight == 0, timeout=timeout
            )

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to `timeout` seconds), then stop the worker thread.

        Whatever is still queued after that fails its Future with `SlackError`.
        """
        self.flush(timeout)
        with self._cond:
            self._closed = True
            leftovers_posts = [item for queue in self._posts.values() for item in queue]
            leftovers_updates = list(self._updates.values())
            self._posts.clear()
            self._updates.clear()
            self._wake.set()
            self._cond.notify_all()
        self._thread.join(timeout)
        closed = SlackError("the Slack sender closed before this message was sent", transient=True)
        for post in leftovers_posts:
            post.future.set_exception(closed)
        for update in leftovers_updates:
            for future in update.futures:
                future.set_exception(closed)
        if leftovers_posts or leftovers_updates:
            log.warning(
                "Slack sender closed with %d posts and %d updates unsent",
                len(leftovers_posts),
                len(leftovers_updates),
            )

    # -- worker --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._wake.clear()
                if self._closed:
                    return
                job, wait = self._pick(self._clock())
                if job is not None:
                    self._in_flight += 1
            if job is None:
                if wait is None:
                    self._wake.wait()  # idle until new work or close
                else:
                    self._sleep(wait)
                continue
            try:
                if isinstance(job, _Post):
                    self._send_post(job)
                else:
                    self._send_update(job)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _pick(self, now: float) -> tuple[_Post | _Update | None, float | None]:
        """The next item due now, or how long until one is due (None: nothing queued). Lock held."""
        best: tuple[str, str] | str | None = None
        best_due = math.inf
        for channel, queue in self._posts.items():
            if queue:
                due = self._post_ready.get(channel, -math.inf)
                if due < best_due:
                    best, best_due = channel, due
        if self._updates:
            while self._update_times and self._update_times[0] <= now - _WINDOW:
                self._update_times.popleft()
            floor = self._update_pause_until
            if len(self._update_times) >= self._updates_per_minute:
                floor = max(floor, self._update_times[0] + _WINDOW)
            for message in self._updates:
                due = max(floor, self._update_ready.get(message, -math.inf))
                if due < best_due:  # posts win ties: thread replies read best when prompt
                    best, best_due = message, due
        if best is None:
            return None, None
        if best_due > now:
            return None, best_due - now
        self._forget_old_slots(now)
        if isinstance(best, str):
            return self._posts[best].popleft(), None
        return self._updates.pop(best), None

    def _forget_old_slots(self, now: float) -> None:
        """Drop pacing records that no longer hold anything back, so long runs do not grow them."""
        if len(self._update_ready) > 1024:
            for message in [m for m, due in self._update_ready.items() if due <= now]:
                del self._update_ready[message]
        if len(self._post_ready) > 1024:
            for channel in [c for c, due in self._post_ready.items() if due <= now]:
                if not self._posts.get(channel):
                    self._posts.pop(channel, None)
                    del self._post_ready[channel]

    def _send_post(self, item: _Post) -> None:
        try:
            if item.metadata is not None:
                ts = self._messenger.post(
                    channel=item.channel,
                    text=item.text,
                    blocks=item.blocks,
                    thread_ts=item.thread_ts,
                    metadata=item.metadata,
                )
            else:
                ts = self._messenger.post(
                    channel=item.channel, text=item.text, blocks=item.blocks, thread_ts=item.thread_ts
                )
        except RateLimited as exc:
            log.warning("chat.postMessage to %s rate limited; again in %.1fs", item.channel, exc.retry_after)
            with self._cond:
                self._posts.setdefault(item.channel, deque()).appendleft(item)  # keeps the order
                self._post_ready[item.channel] = self._clock() + max(exc.retry_after, self._post_interval)
            return
        except SlackError as exc:
            if exc.transient and item.retry_transient and item.failures < TRANSIENT_ATTEMPTS:
                item.failures += 1
                delay = _backoff(item.failures)
                log.warning("chat.postMessage to %s failed (%s); again in %.0fs", item.channel, exc, delay)
                with self._cond:
                    self._posts.setdefault(item.channel, deque()).appendleft(item)  # keeps the order
                    self._post_ready[item.channel] = self._clock() + delay
                return
            self._drop_post(item, exc)
            return
        except Exception as exc:
            self._drop_post(item, exc)
            return
        with self._cond:
            self._post_ready[item.channel] = self._clock() + self._post_interval
        item.future.set_result(ts)

    def _drop_post(self, item: _Post, exc: Exception) -> None:
        self._log_drop("chat.postMessage", item.channel, exc)
        with self._cond:
            self._post_ready[item.channel] = self._clock() + self._post_interval
            if item.key is not None and self._keys.get(item.key) is item.future:
                del self._keys[item.key]
        item.future.set_exception(exc)

    def _send_update(self, item: _Update) -> None:
        message = (item.channel, item.ts)
        with self._cond:
            self._update_times.append(self._clock())
        try:
            self._messenger.update(channel=item.channel, ts=item.ts, text=item.text, blocks=item.blocks)
        except RateLimited as exc:
            log.warning("chat.update of %s rate limited; again in %.1fs", item.channel, exc.retry_after)
            with self._cond:
                newer = self._updates.get(message)
                if newer is not None:  # newer content came meanwhile: it goes instead, for both
                    newer.futures[:0] = item.futures
                else:
                    self._updates[message] = item
                # chat.update is limited per workspace, so every message waits, not just this one.
                self._update_pause_until = self._clock() + exc.retry_after
            return
        except SlackError as exc:
            if exc.transient and item.retry_transient and item.failures < TRANSIENT_ATTEMPTS:
                item.failures += 1
                delay = _backoff(item.failures)
                log.warning("chat.update of %s failed (%s); again in %.0fs", item.channel, exc, delay)
                with self._cond:
                    newer = self._updates.get(message)
                    if newer is not None:  # newer content came meanwhile: it goes instead, for both
                        newer.futures[:0] = item.futures
                    else:
                        self._updates[message] = item
                    self._update_ready[message] = self._clock() + delay
                return
            self._drop_update(item, exc)
            return
        except Exception as exc:
            self._drop_update(item, exc)
            return
        with self._cond:
            self._update_ready[message] = self._clock() + self._update_interval
        for future in item.futures:
            future.set_result(None)

    def _drop_update(self, item: _Update, exc: Exception) -> None:
        self._log_drop("chat.update", item.channel, exc)
        with self._cond:
            self._update_ready[(item.channel, item.ts)] = self._clock() + self._update_interval
        for future in item.futures:
            future.set_exception(exc)

    def _pending_locked(self) -> int:
        return sum(len(queue) for queue in self._posts.values()) + len(self._updates)

    @staticmethod
    def _log_drop(method: str, channel: str, exc: Exception) -> None:
        if isinstance(exc, SlackError):
            log.warning("%s to %s failed, message dropped: %s", method, channel, exc)
        else:  # a bug, not Slack: keep the traceback, keep the worker alive
            log.error("%s to %s failed, message dropped", method, channel, exc_info=exc)
