"""Spend Slack's rate budget where people look: a scheduler in front of `chat.postMessage` and
`chat.update`.

Progress tracking produces bursts: a watch may deliver a dozen status changes of one Workflow in
a second, and many runs may end at once. Slack allows `chat.postMessage` about once a second per
channel (short bursts allowed) and `chat.update` about 50 times a minute per workspace (Tier 3).
`PacedSender` owns one worker thread and one token bucket per budget:

- posts: a bucket per channel (`post_burst` at once, then one per `post_interval`); within a
  channel the lowest `priority` goes first, then first in first out, so posts of one priority (the
  replies of a thread) keep the order they were queued in; a progress reply goes only while the
  channel has more than `post_progress_reserve` tokens, so a busy channel always has one ready
  for the next summary or failure;
- updates: one bucket for the workspace (`update_burst` at once, then `updates_per_minute`),
  coalesced per message (only the newest content waiting for a `(channel, ts)` is sent, at most
  once per `update_interval` per message), lowest `priority` first. An update queued with
  `skippable=True` (intermediate progress, made stale by the next one anyway) is sent only while
  the bucket holds more than `progress_reserve` tokens and no final edit waits; otherwise it is
  skipped, not sent, and its Future gives False. An update that is not skippable (a final
  state, an approval card) is never skipped: it waits for the budget;
- after a 429 (`RateLimited`, which the WebClient raises once its own Retry-After retries are
  spent) the item goes back and waits out Retry-After; the pause holds only that method (and for
  posts only that channel). Nothing that is not skippable is dropped. A transient `SlackError`
  (a 5xx, a dropped connection) is tried again with a growing pause (1 s ... 60 s,
  `TRANSIENT_ATTEMPTS` times); an item queued with `retry_transient=False` (outbox traffic, which
  retries durably itself) fails its Future at the first transient error instead. Any other
  `SlackError` (`channel_not_found`, `invalid_blocks`, ...) is logged and that one item is dropped
  (its Future carries the error), so one bad message cannot block a channel.

It leaves out persistence (durable messages go through `bot.slack.outbox`, whose deliverer sends
them through here, with their priority) and the content itself. The clock and the pacing sleep
are injectable for tests. Called by the outbox deliverer and the schedules; built in the
composition root around `bot.slack.client.Messenger`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.announcing import PRIORITY_PROGRESS
from bot.errors import RateLimited, SlackError

log = logging.getLogger(__name__)

POST_INTERVAL = 1.0  # chat.postMessage: about one per second per channel
POST_BURST = 3  # ... with short bursts (Slack tolerates a few more; keep a margin)
UPDATE_INTERVAL = 1.2  # per message: a parent edited more often than this only flickers
TRANSIENT_ATTEMPTS = 8  # a Slack outage of about four minutes is ridden out; longer ones drop
UPDATES_PER_MINUTE = 50  # chat.update is Tier 3: 50 a minute per workspace, refilled steadily ...
UPDATE_BURST = 45  # ... after a burst; ours is 5 short of Slack's, so our bucket never runs ahead
PROGRESS_RESERVE = 40  # intermediate edits go only above this many tokens: finals keep the rest
POST_PROGRESS_RESERVE = 1  # progress replies leave this many of a channel's post tokens for finals
DEFAULT_PRIORITY = 30
_MAX_KEYS = 4096  # idempotency keys remembered for deduplicating posts
Blocks = Sequence[dict[str, Any]]


class _Bucket:
    """A token bucket: `capacity` at once, then `rate` per second; `pause_until` after a 429."""

    __slots__ = ("capacity", "pause_until", "rate", "stamp", "tokens")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = max(1.0, capacity)
        self.rate = rate
        self.tokens = self.capacity
        self.stamp = now
        self.pause_until = -math.inf

    def level(self, now: float) -> float:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens

    def ready_at(self, now: float, *, above: float = 0.0) -> float:
        """When a call may go that leaves at least `above` tokens behind."""
        need = 1.0 + above - self.level(now)
        at = now if need <= 0 else now + need / self.rate
        return max(at, self.pause_until)

    def take(self, now: float) -> None:
        self.level(now)
        self.tokens -= 1.0

    def idle(self, now: float) -> bool:
        return self.level(now) >= self.capacity and self.pause_until <= now


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
    priority: int = DEFAULT_PRIORITY
    seq: int = 0
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
    priority: int = DEFAULT_PRIORITY
    skippable: bool = False
    seq: int = 0
    futures: list[Future[bool]] = field(default_factory=list)
    failures: int = 0
    retry_transient: bool = True


class PacedSender:
    """A paced, prioritised, coalescing, order-keeping queue in front of `chat.postMessage` and
    `chat.update`.

    Thread-safe: `post` and `update` may be called from any thread and return at once. Do not call
    `flush` or `close` from a Future's callback (they run on the worker thread).
    """

    def __init__(
        self,
        messenger: Sender,
        *,
        post_interval: float = POST_INTERVAL,
        post_burst: int = POST_BURST,
        update_interval: float = UPDATE_INTERVAL,
        updates_per_minute: int = UPDATES_PER_MINUTE,
        update_burst: int = UPDATE_BURST,
        progress_reserve: int = PROGRESS_RESERVE,
        post_progress_reserve: int = POST_PROGRESS_RESERVE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        name: str = "slack-pacer",
    ) -> None:
        """Start the worker thread.

        Args:
            messenger: sends one message; raises `RateLimited` or `SlackError`.
            post_interval: seconds per post to one channel, once its burst is spent.
            post_burst: posts one channel may get at once.
            update_interval: seconds between two updates of one message.
            updates_per_minute: chat.update calls refilled per minute, all messages together.
            update_burst: chat.update calls that may go at once (at most `updates_per_minute`).
            progress_reserve: tokens of the update budget kept for updates that are not skippable;
                a skippable update goes only when more are left (clipped below `update_burst`).
            post_progress_reserve: tokens of a channel's post budget kept for posts more urgent
                than progress (priority below `PRIORITY_PROGRESS`): a progress reply waits until
                more are left, so a run's summary or a failure finds a token ready.
            clock: monotonic seconds.
            sleep: how the worker waits for the next send slot; by default a wait that new work
                cuts short. A test may pass a function that advances a fake `clock`.
            name: the worker thread's name.
        """
        self._messenger = messenger
        self._post_interval = max(post_interval, 1e-6)
        self._post_burst = max(1, post_burst)
        self._update_interval = update_interval
        per_minute = max(1, updates_per_minute)
        self._update_burst = max(1, min(update_burst, per_minute))
        self._reserve = max(0, min(progress_reserve, self._update_burst - 1))
        self._post_reserve = max(0, min(post_progress_reserve, self._post_burst - 1))
        self._clock = clock
        self._wake = threading.Event()
        self._sleep: Callable[[float], object] = sleep or self._wake.wait
        self._cond = threading.Condition()
        self._seq = 0
        self._posts: dict[str, list[_Post]] = {}
        self._post_buckets: dict[str, _Bucket] = {}
        self._updates: dict[tuple[str, str], _Update] = {}
        self._update_ready: dict[tuple[str, str], float] = {}
        self._update_bucket = _Bucket(self._update_burst, per_minute / 60.0, clock())
        self._keys: OrderedDict[str, Future[str]] = OrderedDict()
        self._in_flight = 0
        self._closed = False
        self.skipped = 0  # skippable updates not sent because the budget was short
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
        priority: int = DEFAULT_PRIORITY,
    ) -> Future[str]:
        """Queue a message (a reply when `thread_ts` is given); the Future gives its ts.

        `key` makes the post idempotent within this process: while a post with the same key is
        queued or was sent, the same Future is returned instead of posting twice (a parent message
        per run, say). A post that failed frees its key. `metadata` goes to Slack with the
        message. With `retry_transient=False` a transient failure fails the Future at once (the
        caller retries); 429s are still waited out here. Within a channel a lower `priority`
        goes first; posts of one priority keep their order.
        """
        item = _Post(
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            key=key,
            priority=priority,
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
            self._seq += 1
            item.seq = self._seq
            self._posts.setdefault(channel, []).append(item)
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
        priority: int = DEFAULT_PRIORITY,
        skippable: bool = False,
    ) -> Future[bool]:
        """Queue new content for a message; content queued earlier and not sent yet is replaced.

        The Future gives True when this content, or newer content for the same message, landed.
        With `skippable=True` (intermediate progress) the content is not sent when the update
        budget is short: the Future then gives False. New content that is not skippable
        makes the whole waiting update final. `retry_transient` as for `post`.
        """
        future: Future[bool] = Future()
        with self._cond:
            if self._closed:
                future.set_exception(SlackError("the Slack sender is closed", transient=True))
                return future
            waiting = self._updates.get((channel, ts))
            if waiting is not None:
                seq = waiting.seq  # the message keeps its place in the queue
                futures = [*waiting.futures, future]
                priority = min(priority, waiting.priority)
                retry_transient = retry_transient and waiting.retry_transient
            else:
                self._seq += 1
                seq = self._seq
                futures = [future]
            self._updates[(channel, ts)] = _Update(
                channel=channel,
                ts=ts,
                text=text,
                blocks=blocks,
                priority=priority,
                skippable=skippable,
                seq=seq,
                futures=futures,
                retry_transient=retry_transient,
            )
            self._wake.set()
        return future

    def refresh_post(self, future: Future[str], *, text: str, blocks: Blocks | None, priority: int) -> bool:
        """Give a post still waiting here newer content, and its priority if more urgent.

        A run that ended while its parent waited behind other runs' finals must not stay
        behind them with its old content: the newest state goes out in the one post, as soon
        as its priority allows. False once the post was taken for sending (or is unknown).
        """
        with self._cond:
            for queue in self._posts.values():
                for item in queue:
                    if item.future is future:
                        item.text, item.blocks = text, blocks
                        item.priority = min(item.priority, priority)
                        self._wake.set()
                        return True
        return False

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
            skipped: list[_Update] = []
            with self._cond:
                self._wake.clear()
                if self._closed:
                    return
                job, wait = self._pick(self._clock(), skipped)
                if job is not None:
                    self._in_flight += 1
                if skipped:
                    self.skipped += len(skipped)
                    self._cond.notify_all()
            for item in skipped:
                for future in item.futures:
                    future.set_result(False)
            if job is None:
                if skipped:
                    continue
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

    def _post_bucket(self, channel: str, now: float) -> _Bucket:
        bucket = self._post_buckets.get(channel)
        if bucket is None:
            bucket = self._post_buckets[channel] = _Bucket(self._post_burst, 1.0 / self._post_interval, now)
        return bucket

    def _pick(self, now: float, skipped: list[_Update]) -> tuple[_Post | _Update | None, float | None]:
        """The next item due now, or how long until one is due (None: nothing queued). Lock held.

        Among items due now the lowest priority goes first, then the oldest; skippable updates
        that cannot go now are moved to `skipped`.
        """
        best: tuple[float, int, int, str | tuple[str, str]] | None = None  # (due, priority, seq, what)
        for channel, queue in self._posts.items():
            if not queue:
                continue
            item = min(queue, key=lambda p: (p.priority, p.seq))
            above = self._post_reserve if item.priority >= PRIORITY_PROGRESS else 0
            due = max(now, self._post_bucket(channel, now).ready_at(now, above=above))
            candidate: tuple[float, int, int, str | tuple[str, str]] = (due, item.priority, item.seq, channel)
            if best is None or candidate < best:
                best = candidate
        if self._updates:
            bucket = self._update_bucket
            finals = sum(1 for u in self._updates.values() if not u.skippable)
            for message, upd in list(self._updates.items()):
                ready = max(now, self._update_ready.get(message, -math.inf))
                if upd.skippable:
                    # intermediate content: now, above the reserve and behind no final, or never
                    short = bucket.ready_at(now, above=self._reserve + finals) > now
                    if short and ready <= now:
                        skipped.append(self._updates.pop(message))
                        continue
                    due = max(ready, bucket.ready_at(now, above=self._reserve + finals))
                else:
                    due = max(ready, bucket.ready_at(now))
                option: tuple[float, int, int, str | tuple[str, str]] = (due, upd.priority, upd.seq, message)
                if best is None or option < best:
                    best = option
        if best is None:
            return None, None
        due, _, _, what = best
        if due > now:
            return None, due - now
        self._forget_idle_buckets(now)
        if isinstance(what, str):
            queue = self._posts[what]
            post = min(queue, key=lambda p: (p.priority, p.seq))
            queue.remove(post)
            self._post_bucket(what, now).take(now)
            return post, None
        self._update_bucket.take(now)
        return self._updates.pop(what), None

    def _forget_idle_buckets(self, now: float) -> None:
        """Drop pacing records that no longer hold anything back, so long runs do not grow them."""
        if len(self._update_ready) > 1024:
            for message in [m for m, due in self._update_ready.items() if due <= now]:
                del self._update_ready[message]
        if len(self._post_buckets) > 1024:
            for channel in [c for c, b in self._post_buckets.items() if b.idle(now)]:
                if not self._posts.get(channel):
                    self._posts.pop(channel, None)
                    del self._post_buckets[channel]

    def _requeue_post(self, item: _Post) -> None:
        self._posts.setdefault(item.channel, []).append(item)  # its seq keeps its place

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
                self._requeue_post(item)
                # posts are limited per channel: only this channel waits
                bucket = self._post_bucket(item.channel, self._clock())
                bucket.pause_until = self._clock() + max(exc.retry_after, self._post_interval)
            return
        except SlackError as exc:
            if exc.transient and item.retry_transient and item.failures < TRANSIENT_ATTEMPTS:
                item.failures += 1
                delay = _backoff(item.failures)
                log.warning("chat.postMessage to %s failed (%s); again in %.0fs", item.channel, exc, delay)
                with self._cond:
                    self._requeue_post(item)
                    self._post_bucket(item.channel, self._clock()).pause_until = self._clock() + delay
                return
            self._drop_post(item, exc)
            return
        except Exception as exc:
            self._drop_post(item, exc)
            return
        item.future.set_result(ts)

    def _drop_post(self, item: _Post, exc: Exception) -> None:
        self._log_drop("chat.postMessage", item.channel, exc)
        with self._cond:
            if item.key is not None and self._keys.get(item.key) is item.future:
                del self._keys[item.key]
        item.future.set_exception(exc)

    def _put_back(self, item: _Update) -> None:
        """An update that did not go: it waits again, unless newer content came meanwhile. Lock held."""
        message = (item.channel, item.ts)
        newer = self._updates.get(message)
        if newer is not None:  # newer content came meanwhile: it goes instead, for both
            newer.futures[:0] = item.futures
            newer.priority = min(newer.priority, item.priority)
            newer.seq = min(newer.seq, item.seq)
        else:
            self._updates[message] = item

    def _send_update(self, item: _Update) -> None:
        message = (item.channel, item.ts)
        try:
            self._messenger.update(channel=item.channel, ts=item.ts, text=item.text, blocks=item.blocks)
        except RateLimited as exc:
            log.warning("chat.update of %s rate limited; again in %.1fs", item.channel, exc.retry_after)
            with self._cond:
                self._put_back(item)
                # chat.update is limited per workspace: every update waits, posts go on.
                self._update_bucket.pause_until = self._clock() + exc.retry_after
            return
        except SlackError as exc:
            if exc.transient and item.retry_transient and item.failures < TRANSIENT_ATTEMPTS:
                item.failures += 1
                delay = _backoff(item.failures)
                log.warning("chat.update of %s failed (%s); again in %.0fs", item.channel, exc, delay)
                with self._cond:
                    self._put_back(item)
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
            future.set_result(True)

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
