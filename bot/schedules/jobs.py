"""Run the scheduled posts with APScheduler: one persistent cron job per schedule, fired by the leader.

`ScheduleService` merges the schedules of the config file (`settings.schedules`, declarative)
with those added from Slack (`ScheduleRepo`), keeps one job per schedule in APScheduler's
SQLAlchemy job store (table `apscheduler_jobs`, job id `schedule:<name>`), and on each fire builds
the report (`reports`) from its `ReportSources` and posts it through the `Sender`.

How a fire finds the service: the job store pickles a job's callable *by reference*
("module:function"), never a bound method or a closure, and a restarted process must be able to
load it. So every job calls the module function `fire_scheduled(scope, name)`, which looks the
running service up in this module's registry (`start()` registers it under `scope`, `stop()`
removes it). The job carries only the scope and the schedule's name; the definition itself is
read from the service at fire time, so an edited schedule never runs a stale copy.

Guarantees: `coalesce` folds missed runs into one; `max_instances=1` plus a per-schedule
lock keep a schedule from overlapping itself (also against `fire_now`); the service is a
`Following` stream, started only while this replica leads. A job whose definition did not change
is left as stored across restarts, so a run missed while no replica led still fires once within
`misfire_grace_seconds`; a changed one is replaced. Schedules added on another replica reach the
leader through a periodic resync (`sync_seconds`).

A schedule of kind `run` is carried out by the `ScheduledRunner` (the action pipeline, on
behalf of the schedule's owner, with the owner's permissions as they are at firing time).
Leaves out the report contents (`reports`), Slack pacing (the sender) and permission checks
(the pipeline). Built by the composition root; used by the `schedule` command.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from bot import records
from bot.config import SCHEDULE_KINDS, ScheduleSettings
from bot.errors import ConfigError, UserError
from bot.model import Reply
from bot.rbac import policy as rbac
from bot.render.blocks import render_reply
from bot.schedules import cron as crontab
from bot.schedules import reports
from bot.store.db import create_db_engine

log = logging.getLogger(__name__)

JOB_PREFIX = "schedule:"
JOB_FUNC = "bot.schedules.jobs:fire_scheduled"
JOB_TABLE = "apscheduler_jobs"
DEFAULT_SCOPE = "default"
MISFIRE_GRACE_SECONDS = 3600  # a morning report still posts after a short outage, not at night
SYNC_SECONDS = 60.0
WORKERS = 4
_JOBSTORE = "default"
_INTERNAL = "internal"

Blocks = Sequence[dict[str, Any]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Sender(Protocol):
    """What a fire needs from Slack (`bot.slack.pacing.PacedSender` fits)."""

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Future[str]: ...


class ScheduleStore(Protocol):
    """The stored schedules (`bot.store.repos.ScheduleRepo` fits)."""

    def add(
        self,
        *,
        name: str,
        kind: str,
        cron: str,
        channel_id: str,
        created_by: str,
        now: datetime,
        timezone: str = ...,
        cluster: str | None = ...,
        template: str | None = ...,
        parameters: Mapping[str, Any] | None = ...,
    ) -> records.Schedule | None: ...

    def all(self) -> list[records.Schedule]: ...

    def remove(self, name: str) -> bool: ...


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule, whichever place it came from."""

    name: str
    kind: str
    cron: str
    channel: str
    timezone: str = "UTC"
    cluster: str | None = None
    template: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    window_hours: int = 24
    origin: Literal["config", "stored"] = "stored"
    created_by: str | None = None

    @property
    def owner(self) -> str | None:
        """The Slack user on whose behalf it acts: who added it, or the config file's `owner`."""
        return self.created_by

    @property
    def job_id(self) -> str:
        return f"{JOB_PREFIX}{self.name}"

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that decides *when* it fires changes; stored as the job's name."""
        digest = hashlib.sha256(f"{self.cron}\n{self.timezone}".encode()).hexdigest()[:12]
        return f"{self.name}@{digest}"


def from_settings(settings: ScheduleSettings) -> ScheduleSpec:
    return ScheduleSpec(
        name=settings.name,
        kind=settings.kind,
        cron=settings.cron,
        channel=settings.channel,
        timezone=settings.timezone,
        cluster=settings.cluster,
        template=settings.template,
        parameters=dict(settings.parameters),
        window_hours=settings.window_hours,
        origin="config",
        created_by=settings.owner,
    )


def from_record(record: records.Schedule) -> ScheduleSpec:
    return ScheduleSpec(
        name=record.name,
        kind=record.kind,
        cron=record.cron,
        channel=record.channel_id,
        timezone=record.timezone,
        cluster=record.cluster,
        template=record.template,
        parameters={str(key): str(value) for key, value in record.parameters.items()},
        origin="stored",
        created_by=record.created_by,
    )


class ReportSources(Protocol):
    """Where the reports get their data; implemented in the composition root over store and clusters."""

    def recent_runs(self, since: datetime) -> Sequence[records.Run]: ...

    def pending_approvals(self, now: datetime) -> Sequence[records.Approval]: ...

    def app_health(self, cluster: str | None) -> Sequence[reports.AppSummary]:
        """Every application on `cluster` (every cluster when None)."""
        ...

    def log_link(self, run: records.Run) -> str | None:
        """The URL of a run's archived logs, when there is one."""
        ...


#: May the schedule's owner `get` this? (resource, object) -> bool
Viewer = Callable[[str, str], bool]


class ScheduledRunner(Protocol):
    """Acts for a schedule's owner: carries out a `run` schedule through the action pipeline, and
    says what the owner may see, so a report shows nobody more than its owner could `get`."""

    def fire(self, schedule: ScheduleSpec) -> Reply: ...

    def viewer(self, schedule: ScheduleSpec) -> Viewer | None:
        """What the owner may `get` now; None when the schedule has no owner (the config's own)."""
        ...


@dataclass(frozen=True)
class ScheduleEntry:
    """A schedule and when it fires next, for `schedule list`."""

    spec: ScheduleSpec
    next_run: datetime | None


# scope -> the service whose scheduler is running in this process (see the module docstring).
_RUNNING: dict[str, ScheduleService] = {}
_RUNNING_LOCK = threading.Lock()


def workflow_object_of(run: records.Run) -> str:
    return rbac.workflow_object(cluster=run.cluster, namespace=run.namespace, template=run.template or "*")


def application_object_of(approval: records.Approval) -> str:
    return rbac.application_object(
        cluster=approval.cluster, project=approval.project or "*", app=approval.app
    )


def fire_scheduled(scope: str, name: str) -> None:
    """The job function APScheduler stores by reference: fire schedule `name` of the running service."""
    with _RUNNING_LOCK:
        service = _RUNNING.get(scope)
    if service is None:
        log.warning("schedule %r is due but no schedule service runs here (scope %r)", name, scope)
        return
    service.fire_due(name)


class ScheduleService:
    """The scheduler as a leader-only stream, plus `add/remove/list` for the `schedule` command.

    `add`, `remove` and `list` work on any replica (they go through the store); the scheduler
    itself runs between `start()` and `stop()`, which may alternate as leadership comes and goes.
    """

    def __init__(
        self,
        *,
        database_url: str,
        settings_schedules: Sequence[ScheduleSettings],
        schedule_repo: ScheduleStore,
        sender: Sender,
        sources: ReportSources,
        runner: ScheduledRunner | None = None,
        clock: Callable[[], datetime] = _utc_now,
        timezone: str = "UTC",
        scope: str = DEFAULT_SCOPE,
        misfire_grace_seconds: int = MISFIRE_GRACE_SECONDS,
        sync_seconds: float = SYNC_SECONDS,
    ) -> None:
        """Check the config schedules; nothing starts until `start()`.

        Raises:
            ConfigError: a config schedule's cron expression cannot be used.
        """
        problems = []
        for settings in settings_schedules:
            error = crontab.validate(settings.cron, settings.timezone)
            if error:
                problems.append(f"schedules: {settings.name!r}: {error}")
        if problems:
            raise ConfigError(problems)
        self._config = {settings.name: from_settings(settings) for settings in settings_schedules}
        self._database_url = database_url
        self._repo = schedule_repo
        self._sender = sender
        self._sources = sources
        self._runner = runner
        self._clock = clock
        self._timezone = timezone
        self._scope = scope
        self._misfire_grace = misfire_grace_seconds
        self._sync_seconds = sync_seconds
        self._lock = threading.RLock()
        self._scheduler: Any = None
        self._firing: dict[str, threading.Lock] = {}
        self._firing_lock = threading.Lock()
        self._overlaps_skipped = 0

    # -- stream ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    @property
    def overlaps_skipped(self) -> int:
        """How many fires were skipped because the same schedule was still running."""
        return self._overlaps_skipped

    def start(self) -> None:
        """Start the scheduler (leader only): register, reconcile the job table, then let jobs fire.

        The scheduler starts paused so that no stored job fires before the table matches the
        current schedules. Raises `RuntimeError` when another service already runs in `scope`.
        """
        with self._lock:
            if self._scheduler is not None:
                return
            with _RUNNING_LOCK:
                if _RUNNING.get(self._scope) not in (None, self):
                    raise RuntimeError(f"a schedule service already runs in scope {self._scope!r}")
                _RUNNING[self._scope] = self
            store = SQLAlchemyJobStore(engine=create_db_engine(self._database_url), tablename=JOB_TABLE)
            scheduler = BackgroundScheduler(
                jobstores={_JOBSTORE: store, _INTERNAL: MemoryJobStore()},
                executors={"default": ThreadPoolExecutor(max_workers=WORKERS)},
                job_defaults={
                    "coalesce": True,
                    "max_instances": 1,
                    "misfire_grace_time": self._misfire_grace,
                },
                timezone=self._timezone,
            )
            scheduler.add_listener(
                self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_ERROR
            )
            try:
                scheduler.start(paused=True)
                self._scheduler = scheduler
                self._reconcile()
                scheduler.add_job(
                    self._resync,
                    "interval",
                    seconds=self._sync_seconds,
                    id="resync",
                    jobstore=_INTERNAL,
                )
                scheduler.resume()
            except Exception:
                self._scheduler = None
                self._shutdown(scheduler)
                raise
        log.info("schedules: firing %d schedule(s)", len(self._jobs()))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop firing and wait for fires in progress.

        `timeout` is accepted for the `Following` stream protocol and unused: APScheduler's
        shutdown has none, and leaving a fire half-done would post a partial report.
        """
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            self._shutdown(scheduler)

    def _shutdown(self, scheduler: Any) -> None:
        try:
            scheduler.shutdown(wait=True)
        finally:
            with _RUNNING_LOCK:
                if _RUNNING.get(self._scope) is self:
                    del _RUNNING[self._scope]

    # -- the schedule command ----------------------------------------------------------------

    def schedules(self) -> list[ScheduleSpec]:
        """Every schedule by name: the config file's, then stored ones whose name it does not use."""
        specs = dict(self._config)
        for record in self._repo.all():
            specs.setdefault(record.name, from_record(record))
        return [specs[name] for name in sorted(specs)]

    def add(
        self,
        *,
        name: str,
        kind: str,
        cron: str,
        channel: str,
        created_by: str,
        timezone: str = "UTC",
        cluster: str | None = None,
        template: str | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> ScheduleEntry:
        """Store a schedule and, on the leader, start firing it.

        Raises:
            UserError: bad kind or cron, a `run` without template, or the name is taken.
        """
        if kind not in SCHEDULE_KINDS:
            raise UserError(f"unknown schedule kind {kind!r}; use one of {', '.join(SCHEDULE_KINDS)}")
        error = crontab.validate(cron, timezone)
        if error:
            raise UserError(error)
        if kind == "run" and not template:
            raise UserError("a schedule of kind run needs --template")
        if name in self._config:
            raise UserError(f"schedule {name!r} is defined in the configuration file")
        record = self._repo.add(
            name=name,
            kind=kind,
            cron=cron,
            channel_id=channel,
            created_by=created_by,
            now=self._clock(),
            timezone=timezone,
            cluster=cluster,
            template=template,
            parameters=dict(parameters or {}),
        )
        if record is None:
            raise UserError(f"a schedule called {name!r} already exists")
        spec = from_record(record)
        with self._lock:
            if self._scheduler is not None:
                self._register(spec, replace=True)
        return ScheduleEntry(spec=spec, next_run=self._next_run(spec))

    def remove(self, name: str) -> bool:
        """Forget a stored schedule and its job; False when no stored schedule has that name.

        Raises:
            UserError: the schedule comes from the configuration file (remove it there).
        """
        if name in self._config:
            raise UserError(f"schedule {name!r} is defined in the configuration file; remove it there")
        removed = self._repo.remove(name)
        with self._lock:
            if self._scheduler is not None:
                self._unregister(f"{JOB_PREFIX}{name}")
        return removed

    def list(self) -> builtins.list[ScheduleEntry]:
        """Every schedule with its next fire time (from the job table when running here)."""
        return [ScheduleEntry(spec=spec, next_run=self._next_run(spec)) for spec in self.schedules()]

    def next_run_time(self, name: str) -> datetime | None:
        """When the running scheduler will fire `name` next; None when it has no such job."""
        job = self._job(f"{JOB_PREFIX}{name}")
        return job.next_run_time if job is not None else None

    def run_soon(self, name: str) -> None:
        """Ask the running scheduler to fire `name` now, on its own threads (overlap rules apply).

        Raises:
            UserError: no running job for that name.
        """
        with self._lock:
            scheduler = self._scheduler
            job = self._job(f"{JOB_PREFIX}{name}")
            if scheduler is None or job is None:
                raise UserError(f"no schedule called {name!r} is running here")
            scheduler.modify_job(job.id, jobstore=_JOBSTORE, next_run_time=datetime.now(UTC))

    def fire_now(self, name: str) -> Reply | None:
        """Build and post schedule `name` in the calling thread (tests, an admin).

        Returns the posted reply, or None when the schedule was already being fired.

        Raises:
            UserError: no schedule has that name.
        """
        spec = self._spec(name)
        if spec is None:
            raise UserError(f"no schedule called {name!r}")
        return self._fire(spec)

    def fire_due(self, name: str) -> None:
        """What a job runs (via `fire_scheduled`); a schedule removed meanwhile is skipped."""
        spec = self._spec(name)
        if spec is None:
            log.warning("schedule %r fired but no longer exists; removing its job", name)
            with self._lock:
                if self._scheduler is not None:
                    self._unregister(f"{JOB_PREFIX}{name}")
            return
        self._fire(spec)

    # -- firing ------------------------------------------------------------------------------

    def _spec(self, name: str) -> ScheduleSpec | None:
        for spec in self.schedules():
            if spec.name == name:
                return spec
        return None

    def _fire(self, spec: ScheduleSpec) -> Reply | None:
        with self._firing_lock:
            guard = self._firing.setdefault(spec.name, threading.Lock())
        if not guard.acquire(blocking=False):
            self._overlaps_skipped += 1
            log.warning("schedule %r is still running; this fire is skipped", spec.name)
            return None
        try:
            try:
                reply = self._build(spec)
            except Exception:
                log.exception("schedule %r (%s) failed to build its report", spec.name, spec.kind)
                reply = reports.failed(schedule=spec.name, kind=spec.kind)
            text, blocks = render_reply(reply)
            self._sender.post(channel=spec.channel, text=text, blocks=blocks)
            log.info("schedule %r posted its %s report to %s", spec.name, spec.kind, spec.channel)
            return reply
        finally:
            guard.release()

    def _build(self, spec: ScheduleSpec) -> Reply:
        now = self._clock()
        may = self._runner.viewer(spec) if self._runner is not None and spec.kind != "run" else None
        if spec.kind == "workflow-digest":
            runs = self._sources.recent_runs(now - timedelta(hours=spec.window_hours))
            if may is not None:
                runs = [run for run in runs if may(rbac.WORKFLOWS, workflow_object_of(run))]
            links = {run.id: link for run in runs if (link := self._sources.log_link(run))}
            return reports.workflow_digest(runs, window_hours=spec.window_hours, now=now, log_links=links)
        if spec.kind == "pending-approvals":
            approvals = self._sources.pending_approvals(now)
            if may is not None:
                approvals = [a for a in approvals if may(rbac.APPLICATIONS, application_object_of(a))]
            return reports.pending_approvals(approvals, now=now)
        if spec.kind == "app-health":
            apps = self._sources.app_health(spec.cluster)
            if may is not None:
                apps = [
                    app
                    for app in apps
                    if may(
                        rbac.APPLICATIONS,
                        rbac.application_object(cluster=app.cluster, project=app.project, app=app.name),
                    )
                ]
            clusters = [spec.cluster] if spec.cluster else sorted({app.cluster for app in apps})
            return reports.app_health(apps, clusters=clusters)
        if spec.kind == "run":
            if self._runner is None:
                raise ValueError("schedules of kind run need a runner")
            return self._runner.fire(spec)
        raise ValueError(f"unknown schedule kind {spec.kind!r}")

    # -- the job table -----------------------------------------------------------------------

    def _jobs(self) -> builtins.list[Any]:
        with self._lock:
            if self._scheduler is None:
                return []
            jobs: builtins.list[Any] = self._scheduler.get_jobs(jobstore=_JOBSTORE)
            return [job for job in jobs if job.id.startswith(JOB_PREFIX)]

    def _job(self, job_id: str) -> Any:
        with self._lock:
            if self._scheduler is None:
                return None
            return self._scheduler.get_job(job_id, jobstore=_JOBSTORE)

    def _next_run(self, spec: ScheduleSpec) -> datetime | None:
        job = self._job(spec.job_id)
        if job is not None:
            return job.next_run_time  # type: ignore[no-any-return]
        try:
            upcoming = crontab.next_fire_times(spec.cron, spec.timezone, self._clock(), 1)
        except crontab.CronError:
            return None
        return upcoming[0] if upcoming else None

    def _register(self, spec: ScheduleSpec, *, replace: bool) -> None:
        """Add the job for `spec`; an unchanged stored job is kept so its pending (missed) run survives."""
        existing = self._job(spec.job_id)
        if (
            not replace
            and existing is not None
            and existing.name == spec.fingerprint
            and tuple(existing.args) == (self._scope, spec.name)
        ):
            return
        try:
            trigger = crontab.build_trigger(spec.cron, spec.timezone)
        except crontab.CronError as exc:
            log.error("schedule %r is not fired: %s", spec.name, exc)
            self._unregister(spec.job_id)
            return
        self._scheduler.add_job(
            JOB_FUNC,
            trigger=trigger,
            args=(self._scope, spec.name),
            id=spec.job_id,
            name=spec.fingerprint,
            jobstore=_JOBSTORE,
            replace_existing=True,
        )

    def _unregister(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(job_id, jobstore=_JOBSTORE)

    def _reconcile(self) -> None:
        """Make the job table match the schedules: add new or changed ones, drop vanished ones."""
        with self._lock:
            if self._scheduler is None:
                return
            wanted = {spec.job_id: spec for spec in self.schedules()}
            for job in self._jobs():
                if job.id not in wanted:
                    log.info("schedules: %s disappeared; removing its job", job.id)
                    self._unregister(job.id)
            for spec in wanted.values():
                self._register(spec, replace=False)

    def _resync(self) -> None:
        """The periodic reconcile that brings in schedules added or removed on other replicas."""
        try:
            self._reconcile()
        except Exception:
            log.exception("schedules: resync failed; trying again in %s s", self._sync_seconds)

    def _on_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self._overlaps_skipped += 1
            log.warning("schedules: %s is still running; this fire is skipped", event.job_id)
        elif event.code == EVENT_JOB_MISSED:
            log.warning("schedules: %s missed its time by more than the grace period", event.job_id)
        elif event.code == EVENT_JOB_ERROR:
            log.error("schedules: %s failed", event.job_id, exc_info=getattr(event, "exception", None))
