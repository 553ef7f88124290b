"""Fakes and record builders shared by the schedule tests (a uniquely named module, imported by basename).

`RecordingSender` and `ScriptedSources` implement the service's `Sender` and `ReportSources`
Protocols; `make_run` and `make_approval` build store records as the repositories return them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import records
from bot.config import ScheduleSettings
from bot.model import Reply, Visibility
from bot.schedules import reports
from bot.schedules.jobs import ScheduleService, ScheduleSpec

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


CONFIG_SCHEDULES = (
    ScheduleSettings(
        name="morning-digest",
        kind="workflow-digest",
        cron="0 9 * * 1-5",
        timezone="Europe/Paris",
        channel="C0OPS0001",
        window_hours=24,
    ),
)


@dataclass(frozen=True)
class Posted:
    channel: str
    text: str
    blocks: Sequence[dict[str, Any]] | None


class RecordingSender:
    """Implements the service's `Sender`: remembers every post and answers with a ts at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.posts: list[Posted] = []

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Future[str]:
        with self._lock:
            self.posts.append(Posted(channel=channel, text=text, blocks=blocks))
            ts = f"1700000000.{len(self.posts):06d}"
        future: Future[str] = Future()
        future.set_result(ts)
        return future

    def snapshot(self) -> list[Posted]:
        with self._lock:
            return list(self.posts)


@dataclass
class ScriptedSources:
    """`ReportSources` and `ScheduledRunner` from plain lists; `gate` holds a fire until released."""

    runs: list[records.Run] = field(default_factory=list)
    approvals: list[records.Approval] = field(default_factory=list)
    apps: list[reports.AppStatus] = field(default_factory=list)
    gate: threading.Event | None = None
    entered: int = 0
    submitted: list[str] = field(default_factory=list)

    def recent_runs(self, since: datetime) -> Sequence[records.Run]:
        self.entered += 1
        if self.gate is not None:
            self.gate.wait(timeout=10)
        return [run for run in self.runs if run.created_at >= since]

    def pending_approvals(self, now: datetime) -> Sequence[records.Approval]:
        return self.approvals

    def app_health(self, cluster: str | None) -> Sequence[reports.AppSummary]:
        return [app for app in self.apps if cluster is None or app.cluster == cluster]

    def viewer(self, schedule: ScheduleSpec) -> None:
        """Every report shows everything here (the pipeline's viewer is tested in tests/commands)."""
        return None

    def fire(self, schedule: ScheduleSpec) -> Reply:
        """The `ScheduledRunner` side: what the pipeline would answer for a `run` schedule."""
        self.submitted.append(schedule.name)
        return Reply(
            text=f":calendar: Schedule *{schedule.name}* (for <@{schedule.owner}>): "
            f"`{schedule.template}-abc12`",
            visibility=Visibility.IN_CHANNEL,
        )

    def log_link(self, run: records.Run) -> str | None:
        return f"https://logs.example/{run.id}" if run.phase == "Failed" else None


def make_run(index: int, phase: str, *, kind: str = records.RUN_WORKFLOW) -> records.Run:
    return records.Run(
        id=f"r{index}",
        kind=kind,
        cluster="prod-eu",
        namespace="argo",
        name=f"backfill-{index}",
        template="backfill",
        parameters={},
        revision=None,
        requester_id="U1",
        requester_name="alice",
        channel_id="C1",
        parent_ts=None,
        phase=phase,
        progress="1/1",
        message="",
        created_at=NOW - timedelta(hours=1),
        updated_at=NOW,
        finished_at=NOW,
        final_posted=True,
        resource_version=None,
        k8s_uid=None,
    )


def make_approval(index: int, *, expires_in: timedelta) -> records.Approval:
    return records.Approval(
        id=f"a{index}",
        action="rollback",
        cluster="prod-eu",
        project="shop",
        app=f"cart-{index}",
        target="prod-eu/cart",
        from_revision="abc",
        to_revision="def",
        reason="",
        requester_id="U2",
        requester_name="bob",
        channel_id="C1",
        message_ts=None,
        status=records.APPROVAL_PENDING,
        decided_by=None,
        decided_at=None,
        expires_at=NOW + expires_in,
        created_at=NOW,
        run_id=None,
        version=1,
    )


# What the `make_service` fixture returns: builds a ScheduleService with the fakes above.
ServiceFactory = Callable[..., ScheduleService]
