"""Create the run row, write to the cluster, follow: the one way a run starts.

Workflow runs, retries, scheduled runs, syncs and approved rollbacks all start here, so a
refused or failed write always closes its row (no follower waits for it, no new leader
retries it forever), and a write that happened is always followed. The row comes first and
its id is written onto the object (a Workflow label, an Argo CD `operation.info` entry): that
marker tells a restarted leader whether the write happened.

`Launcher.launch` calls `Context.wrote` right after the write, so a failure of the follower
(Slack, the database) is reported as "started, the progress message will follow".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import records
from bot.actions import ports

log = logging.getLogger(__name__)

RUN_NAME_ID_CHARS = 8


@dataclass(frozen=True)
class Plan:
    """What a run is before it starts: where, what, for whom."""

    kind: str
    cluster: str
    namespace: str
    requester_id: str
    requester_name: str
    channel_id: str
    template: str | None = None
    parameters: Mapping[str, Any] | None = None
    revision: str | None = None


#: The write itself: given the new run, write to the cluster and return the object's name.
Act = Callable[[records.Run], str]


class Launcher:
    def __init__(
        self,
        *,
        runs: ports.RunBook,
        follower: ports.Follower,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._runs = runs
        self._follower = follower
        self._clock = clock

    def launch(self, plan: Plan, act: Act, *, on_written: Callable[[records.Run], None]) -> records.Run:
        """Record the run, act, then follow it.

        Args:
            plan: the run to record.
            act: the cluster write; raises when the cluster refused it.
            on_written: told once the write happened (before following), with the named run.

        Raises:
            whatever `act` raised (the row is closed first); errors of the follower after
            `on_written` (the run is then followed by the leader from the database).
        """
        now = self._clock()
        run = self._runs.create(
            kind=plan.kind,
            cluster=plan.cluster,
            namespace=plan.namespace,
            requester_id=plan.requester_id,
            requester_name=plan.requester_name,
            channel_id=plan.channel_id,
            now=now,
            template=plan.template,
            parameters=dict(plan.parameters or {}),
            revision=plan.revision,
        )
        try:
            name = act(run)
        except Exception as exc:
            self.close(run, message=_short(exc))
            raise
        run = self._runs.update_progress(run.id, now=self._clock(), name=name)
        on_written(run)
        self._follower.follow(run)
        return run

    def follow(self, run: records.Run) -> None:
        """Follow a run whose write already happened (the leader's completion of an approval)."""
        self._follower.follow(run)

    def close(self, run: records.Run, *, message: str) -> None:
        """A run whose write never happened: finish it so no follower or new leader waits for it."""
        now = self._clock()
        try:
            self._runs.update_progress(run.id, now=now, phase="Error", message=message[:500], finished_at=now)
            self._runs.mark_final_posted(run.id, now=now)
        except Exception as exc:  # the original error matters more; the row stays Pending
            log.error("could not close run %s: %s", run.id, exc)


def run_name(app: str, run: records.Run) -> str:
    """The name a sync or rollback run is shown under: unique, so syncing twice never collides."""
    return f"{app}@{run.id[:RUN_NAME_ID_CHARS]}"


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:500]
