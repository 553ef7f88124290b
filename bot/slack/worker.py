"""The bot's own work queue: everything that happens after Slack got its ack.

Listeners only parse the envelope into an `Origin` and hand it here; bolt's listener pool is
never occupied by Slack, database or Kubernetes calls (measured: a listener that blocks before
acking caps throughput and delays acks past Slack's 3 s). Here each command is deduplicated
(Slack redelivers events and bolt hides `retry_attempt`), its author resolved, carried out,
and the reply delivered on the surface it came from.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from bot import metrics
from bot.actions import pipeline
from bot.actions.context import Deps
from bot.actions.pipeline import new_reference
from bot.errors import BotError, UserError
from bot.model import Actor, Origin, Reply, Surface, Visibility
from bot.render.blocks import render_reply
from bot.slack.client import Messenger

log = logging.getLogger(__name__)


class Directory(Protocol):
    def actor(self, user_id: str) -> Actor: ...


BUSY_REPLY = (
    ":hourglass: The bot is busy with many commands right now, so this one was not taken. "
    "Please try again in a moment."
)


class Dedup(Protocol):
    def first_time(self, key: str, now: datetime) -> bool: ...


class CommandWorker:
    def __init__(
        self,
        *,
        deps: Deps,
        directory: Directory,
        dedup: Dedup,
        messenger: Messenger,
        max_workers: int = 8,
        queue_limit: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deps = deps
        self._directory = directory
        self._dedup = dedup
        self._messenger = messenger
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="command")
        # answers "busy" when the queue is full: its own thread, so a full queue never delays them
        self._busy = ThreadPoolExecutor(max_workers=1, thread_name_prefix="command-busy")
        self._queue_limit = queue_limit
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, origin: Origin) -> Future[None] | None:
        """Queue one command; returns at once (called from the ack path)."""
        with self._lock:
            if self._closed:
                log.warning("shutting down: dropped a command from %s", origin.user_id)
                return None
            if self._pending >= self._queue_limit:
                metrics.COMMANDS_REFUSED_BUSY.inc()
                return self._busy.submit(self._answer_busy, origin)
            self._pending += 1
            metrics.WORK_QUEUE.set(self._pending)
        return self._executor.submit(self._process_safely, origin)

    def _answer_busy(self, origin: Origin) -> None:
        log.warning("work queue full (%d): answered busy to %s", self._queue_limit, origin.user_id)
        try:
            self.deliver(origin, Reply(text=BUSY_REPLY))
        except BotError as exc:
            log.error("could not answer busy: %s", exc)

    def shutdown(self, *, timeout: float = 20.0) -> None:
        """Stop taking work and let in-flight commands finish."""
        with self._lock:
            self._closed = True
        done = threading.Event()

        def wait() -> None:
            self._executor.shutdown(wait=True)
            self._busy.shutdown(wait=True)
            done.set()

        threading.Thread(target=wait, name="command-drain", daemon=True).start()
        if not done.wait(timeout):
            log.warning("in-flight commands still running after %.0fs; exiting anyway", timeout)

    def _process_safely(self, origin: Origin) -> None:
        try:
            self.process(origin)
        finally:
            with self._lock:
                self._pending -= 1
                metrics.WORK_QUEUE.set(self._pending)

    def process(self, origin: Origin) -> None:
        """Deduplicate, resolve the person, carry out the command, deliver the reply."""
        reference = new_reference()
        try:
            if origin.delivery_id and not self._dedup.first_time(origin.delivery_id, self._clock()):
                log.info("dropped a redelivered Slack event %s", origin.delivery_id)
                return
            refusal = pipeline.foreign_refusal(origin, self._deps)
            if refusal is not None:
                self.deliver(
                    origin,
                    pipeline.refuse_foreign(
                        origin=origin, reason=refusal, deps=self._deps, reference=reference
                    ),
                )
                return
            actor = self._directory.actor(origin.user_id)
            if actor.is_bot:
                return
            if origin.surface is Surface.BUTTON:
                reply = pipeline.handle_button(
                    origin=origin, actor=actor, deps=self._deps, reference=reference
                )
            else:
                reply = pipeline.handle_text(origin=origin, actor=actor, deps=self._deps, reference=reference)
        except UserError as exc:
            reply = Reply(text=f":warning: {exc}")
        except BotError as exc:
            log.error("command failed (ref %s): %s", reference, exc, exc_info=True)
            reply = Reply(
                text=f":x: Something went wrong on our side (reference `{reference}`). Please try again."
            )
        except Exception:
            log.exception("command crashed (ref %s)", reference)
            reply = Reply(
                text=f":x: Something went wrong on our side (reference `{reference}`). Please try again."
            )
        try:
            self.deliver(origin, reply)
        except BotError as exc:
            log.error("could not deliver a reply (ref %s): %s", reference, exc)

    def deliver(self, origin: Origin, reply: Reply) -> None:
        """Private answers stay private on every surface; team answers go to the channel."""
        text, blocks = render_reply(reply)
        public = reply.visibility is Visibility.IN_CHANNEL
        if origin.surface is Surface.DM:
            self._messenger.post(
                channel=origin.channel_id, text=text, blocks=blocks, thread_ts=origin.thread_ts
            )
        elif origin.surface is Surface.SLASH and origin.response_url and not public:
            self._messenger.respond(response_url=origin.response_url, text=text, blocks=blocks)
        elif public:
            self._messenger.post(
                channel=origin.channel_id, text=text, blocks=blocks, thread_ts=origin.thread_ts
            )
        else:
            # a click's private answer goes to the channel view, where the person is looking
            thread = None if origin.surface is Surface.BUTTON else origin.thread_ts
            self._messenger.post_ephemeral(
                channel=origin.channel_id, user=origin.user_id, text=text, blocks=blocks, thread_ts=thread
            )
