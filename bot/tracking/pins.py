"""Apps a rollback pinned (auto-sync turned off) are recalled to their channel once a day.

A rollback with auto-sync on turns it off, or Argo CD would sync the app straight back to Git.
The app then stays on the rolled-back revision until someone reverts the change in Git and
types `autosync APP on`; people forget. The leader looks at the Applications carrying the pin
note (`bot.argo.cd.PIN_ANNOTATION`, which says when, by whom and in which channel) every few
minutes, and for each whole period since it was pinned posts one reminder in that channel. The
outbox key names the app, the pin and the period, so restarts and new leaders remind once.
Nothing is posted once auto-sync is on again (whoever turned it on).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.announcing import Announcer
from bot.argo import cd
from bot.config import ClusterSettings
from bot.errors import BotError
from bot.render import approvals as render_approvals
from bot.tracking.progress import parse_time

log = logging.getLogger(__name__)


class PinReminders:
    """One round: remind each pinned app's channel once per `every` since it was pinned."""

    def __init__(
        self,
        *,
        hosts: Sequence[ClusterSettings],
        api_client: Callable[[str], Any],
        announcer: Announcer,
        slash: str,
        every: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._hosts = [host for host in hosts if host.argocd_namespace]
        self._api_client = api_client
        self._announcer = announcer
        self._slash = slash
        self.every = every
        self._clock = clock

    @property
    def interval(self) -> float:
        """Seconds between rounds: a tenth of the period, between 1 s and 10 minutes."""
        return max(1.0, min(600.0, self.every.total_seconds() / 10))

    def round(self) -> None:
        now = self._clock()
        for host in self._hosts:
            assert host.argocd_namespace is not None
            try:
                apps = cd.pinned_apps(self._api_client(host.name), namespace=host.argocd_namespace)
            except BotError as exc:
                log.warning("could not look for pinned apps on %s: %s", host.name, exc)
                continue
            for app in apps:
                self._remind(host.name, app, now)

    def _remind(self, host: str, app: dict[str, Any], now: datetime) -> None:
        meta = app.get("metadata") or {}
        try:
            note = json.loads((meta.get("annotations") or {}).get(cd.PIN_ANNOTATION) or "{}")
        except ValueError:
            return
        pinned_at = parse_time(note.get("at")) if isinstance(note, dict) else None
        channel = str(note.get("channel") or "") if isinstance(note, dict) else ""
        if pinned_at is None or not channel:
            return
        periods = int((now - pinned_at) / self.every)
        if periods < 1:
            return
        name = str(meta.get("name") or "")
        self._announcer.post(
            key=f"pin-reminder:{host}:{meta.get('namespace')}:{name}:{note.get('at')}:{periods}",
            channel=channel,
            text=render_approvals.pin_reminder(
                name, since=pinned_at, by=str(note.get("by") or ""), slash=self._slash
            ),
        )
