"""Close rollback requests nobody decided in time, and take the buttons off their cards.

Runs on the leader as one of its streams (`bot.tracking.following.Following`), so each
expired request is closed and its card replaced exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from bot.errors import BotError
from bot.render import approvals as render_approvals
from bot.store.records import Approval

log = logging.getLogger(__name__)


class Expiring(Protocol):
    def expire_due(self) -> list[Approval]: ...


class CardUpdater(Protocol):
    def update(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]] | None = None
    ) -> None: ...


class ExpirySweeper:
    def __init__(self, service: Expiring, cards: CardUpdater, *, interval: float = 30.0) -> None:
        self._service = service
        self._cards = cards
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ExpirySweeper:
        self._thread = threading.Thread(target=self._run, name="approval-expiry", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sweep(self) -> int:
        """Close what is due now; returns how many requests were closed."""
        closed = self._service.expire_due()
        for approval in closed:
            if not approval.message_ts:
                continue
            text, blocks = render_approvals.render_expired(approval)
            try:
                self._cards.update(
                    channel=approval.channel_id, ts=approval.message_ts, text=text, blocks=blocks
                )
            except BotError as exc:
                log.warning("could not replace the card of expired request %s: %s", approval.id, exc)
        return len(closed)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sweep()
            except BotError as exc:
                log.error("approval expiry sweep failed: %s", exc)
