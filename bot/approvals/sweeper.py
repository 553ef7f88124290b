"""Close requests nobody decided in time, and finish those approved but never carried out.

Runs on the leader as one of its streams (`bot.tracking.following.Following`), so each
expired request is closed and its card replaced exactly once. A request left `approved`
(the process died between the click and the write, or before recording the run) is handed
to the `Completing` port, which walks the action pipeline on behalf of its approver: it
completes the rollback, or closes the request with a reason, using the marker on the
Application to know whether the write already happened.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from bot.announcing import Announcer, edit_card
from bot.errors import BotError
from bot.periodic import Periodic
from bot.records import Approval
from bot.render import approvals as render_approvals

log = logging.getLogger(__name__)

#: An approved request this old with no run carried out is completed by the sweep (the click's
#: own worker normally finishes within seconds).
STUCK_AFTER = timedelta(seconds=60)


class Expiring(Protocol):
    def expire_due(self) -> list[Approval]: ...

    def stuck(self, *, older_than: timedelta) -> list[Approval]: ...


class Completing(Protocol):
    def complete(self, approval: Approval) -> None: ...


class ExpirySweeper(Periodic):
    """A leader-only stream: closes expired approval requests and completes stuck approved ones."""

    def __init__(
        self,
        service: Expiring,
        cards: Announcer,
        *,
        completer: Completing | None = None,
        interval: float = 30.0,
    ) -> None:
        super().__init__(self.sweep, interval=interval, name="approval-expiry")
        self._service = service
        self._cards = cards
        self._completer = completer

    def sweep(self) -> int:
        """Close what is due now; returns how many requests were closed."""
        closed = self._service.expire_due()
        for approval in closed:
            text, blocks = render_approvals.render_expired(approval)
            edit_card(
                self._cards,
                approval_id=approval.id,
                channel=approval.channel_id,
                message_ts=approval.message_ts,
                text=text,
                blocks=blocks,
            )
        if self._completer is not None:
            for approval in self._service.stuck(older_than=STUCK_AFTER):
                try:
                    self._completer.complete(approval)
                except BotError as exc:
                    log.error("could not complete approved request %s: %s", approval.id, exc)
        return len(closed)
