"""The schedule service against a real SQLite job store: jobs, fires, overlaps, restarts, shutdown."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from schedules_fakes import CONFIG_SCHEDULES, NOW, RecordingSender, ScriptedSources, ServiceFactory, make_run
from sqlalchemy import text

from bot.config import ScheduleSettings
from bot.errors import ConfigError, UserError
from bot.sandbox.waiting import wait_until
from bot.schedules import cron, jobs, reports
from bot.store import db
from bot.store.repos import ScheduleRepo

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def _add_nightly(service: jobs.ScheduleService) -> jobs.ScheduleEntry:
    return service.add(
        name="nightly",
        kind="run",
        cron="30 2 * * *",
        timezone="America/New_York",
        channel="C0DEV0001",
        created_by="U1",
        cluster="prod-eu",
        template="backfill",
    )


def _job_rows(database_url: str) -> list[str]:
    database = db.connect(database_url)
    try:
        with database.engine.connect() as connection:
            return sorted(row[0] for row in connection.execute(text("SELECT id FROM apscheduler_jobs")))
    finally:
        database.dispose()


def test_config_and_stored_schedules_fire_at_their_local_time(make_service: ServiceFactory) -> None:
    service = make_service()
    _add_nightly(service)
    expected_digest = cron.next_fire_times("0 9 * * 1-5", "Europe/Paris", datetime.now(UTC), 1)[0]
    expected_nightly = cron.next_fire_times("30 2 * * *", "America/New_York", datetime.now(UTC), 1)[0]
    service.start()

    digest = service.next_run_time("morning-digest")
    nightly = service.next_run_time("nightly")
    assert digest == expected_digest and nightly == expected_nightly
    local_digest = digest.astimezone(PARIS)
    assert (local_digest.hour, local_digest.minute) == (9, 0) and local_digest.weekday() < 5
    local_nightly = nightly.astimezone(NEW_YORK)
    assert (local_nightly.hour, local_nightly.minute) == (2, 30)
    listed = {entry.spec.name: entry for entry in service.list()}
    assert set(listed) == {"morning-digest", "nightly"}
    assert listed["morning-digest"].spec.origin == "config" and listed["nightly"].spec.origin == "stored"
    assert listed["nightly"].next_run == nightly


def test_add_refuses_what_cannot_run(make_service: ServiceFactory) -> None:
    service = make_service()
    _add_nightly(service)
    with pytest.raises(UserError, match="already exists"):
        _add_nightly(service)
    with pytest.raises(UserError, match="configuration file"):
        service.add(
            name="morning-digest", kind="app-health", cron="0 9 * * *", channel="C0ANY0001", created_by="U1"
        )
    with pytest.raises(UserError, match="out of range"):
        service.add(name="x", kind="app-health", cron="0 9 * * 9", channel="C0ANY0001", created_by="U1")
    with pytest.raises(UserError, match="--template"):
        service.add(name="y", kind="run", cron="0 9 * * *", channel="C0ANY0001", created_by="U1")


def test_a_bad_config_cron_stops_startup(make_service: ServiceFactory) -> None:
    bad = ScheduleSettings(name="bad", kind="app-health", cron="0 9 * * 8", channel="C0BAD0001")
    with pytest.raises(ConfigError, match="'bad'"):
        make_service(settings_schedules=(bad,))


def test_removing_a_schedule_removes_its_job(make_service: ServiceFactory, database_url: str) -> None:
    service = make_service()
    service.start()
    _add_nightly(service)
    assert service.next_run_time("nightly") is not None
    assert _job_rows(database_url) == ["schedule:morning-digest", "schedule:nightly"]

    assert service.remove("nightly") is True
    assert service.next_run_time("nightly") is None
    assert _job_rows(database_url) == ["schedule:morning-digest"]
    assert [entry.spec.name for entry in service.list()] == ["morning-digest"]
    with pytest.raises(UserError, match="remove it there"):
        service.remove("morning-digest")


def test_a_schedule_removed_on_another_replica_disappears_on_resync(
    make_service: ServiceFactory, schedule_repo: ScheduleRepo
) -> None:
    service = make_service(sync_seconds=0.1)
    _add_nightly(service)
    service.start()
    assert service.next_run_time("nightly") is not None
    schedule_repo.remove("nightly")  # what `schedule remove` on another replica does
    wait_until(lambda: service.next_run_time("nightly") is None, timeout=10, message="nightly job removed")


def test_fire_now_posts_the_digest(
    make_service: ServiceFactory, sender: RecordingSender, sources: ScriptedSources
) -> None:
    sources.runs = [make_run(1, "Succeeded"), make_run(2, "Failed")]
    service = make_service()
    reply = service.fire_now("morning-digest")

    assert reply is not None and reply.title == "Workflow digest: last 24h"
    [posted] = sender.snapshot()
    assert posted.channel == "C0OPS0001"
    assert posted.text.startswith("Workflow digest: last 24h: 2 workflow run(s)")
    rendered = "\n".join(block["text"]["text"] for block in posted.blocks or () if "text" in block)
    assert "<https://logs.example/r2|backfill-2> from `backfill` on prod-eu, by alice" in rendered


def test_fire_now_of_a_run_schedule_submits_and_says_so(
    make_service: ServiceFactory, sender: RecordingSender, sources: ScriptedSources
) -> None:
    service = make_service()
    _add_nightly(service)
    service.fire_now("nightly")
    assert sources.submitted == ["nightly"]
    [posted] = sender.snapshot()
    assert (posted.channel, posted.text) == (
        "C0DEV0001",
        ":calendar: Schedule *nightly* (for <@U1>): `backfill-abc12`",
    )


def test_app_health_and_pending_reminders(
    make_service: ServiceFactory, sender: RecordingSender, sources: ScriptedSources
) -> None:
    sources.apps = [
        reports.AppStatus("cart", "shop", "prod-eu", "OutOfSync", "Healthy"),
        reports.AppStatus("pay", "shop", "prod-us", "Synced", "Degraded"),
    ]
    service = make_service()
    service.add(
        name="eu-health",
        kind="app-health",
        cron="0 9 * * *",
        channel="C0EU00001",
        created_by="U1",
        cluster="prod-eu",
    )
    service.add(
        name="reminder", kind="pending-approvals", cron="0 * * * *", channel="C0OPS0001", created_by="U1"
    )
    service.fire_now("eu-health")
    service.fire_now("reminder")
    health, reminder = sender.snapshot()
    assert health.channel == "C0EU00001" and "1 of 1 application(s) are not Synced and Healthy" in health.text
    assert reminder.text.endswith("No approval is waiting.")


def test_a_report_that_fails_posts_a_short_notice(
    make_service: ServiceFactory, sender: RecordingSender, sources: ScriptedSources
) -> None:
    class Broken(ScriptedSources):
        def pending_approvals(self, now: datetime) -> list:  # type: ignore[override]
            raise RuntimeError("database is down: password=hunter2")

    service = make_service(sources=Broken())
    service.add(
        name="reminder", kind="pending-approvals", cron="0 * * * *", channel="C0OPS0001", created_by="U1"
    )
    service.fire_now("reminder")
    [posted] = sender.snapshot()
    assert "could not build its report" in posted.text and "hunter2" not in posted.text


def test_a_long_fire_does_not_overlap_itself(
    make_service: ServiceFactory, sender: RecordingSender, sources: ScriptedSources
) -> None:
    sources.gate = threading.Event()
    service = make_service()
    service.start()
    service.run_soon("morning-digest")
    wait_until(lambda: sources.entered == 1, timeout=10, message="first fire started")

    service.run_soon("morning-digest")  # the scheduler refuses a second instance
    wait_until(lambda: service.overlaps_skipped >= 1, timeout=10, message="second fire skipped")
    assert service.fire_now("morning-digest") is None  # and so does a manual fire meanwhile

    sources.gate.set()
    wait_until(lambda: len(sender.snapshot()) == 1, timeout=10, message="the one digest posted")
    assert sources.entered == 1
    assert service.next_run_time("morning-digest") > datetime.now(UTC)


def test_jobs_survive_a_restart_without_duplicates(make_service: ServiceFactory, database_url: str) -> None:
    first = make_service()
    _add_nightly(first)
    first.start()
    before = {name: first.next_run_time(name) for name in ("morning-digest", "nightly")}
    first.stop()
    assert not first.running

    second = make_service()
    second.start()
    after = {name: second.next_run_time(name) for name in ("morning-digest", "nightly")}
    assert after == before
    assert _job_rows(database_url) == ["schedule:morning-digest", "schedule:nightly"]


def test_a_changed_schedule_replaces_its_job_on_restart(make_service: ServiceFactory) -> None:
    first = make_service()
    first.start()
    first.stop()
    moved = ScheduleSettings(
        name="morning-digest",
        kind="workflow-digest",
        cron="0 7 * * 0",
        timezone="Europe/Paris",
        channel="C0OPS0001",
    )
    second = make_service(settings_schedules=(moved,))
    second.start()
    local = second.next_run_time("morning-digest").astimezone(PARIS)
    assert (local.weekday(), local.hour) == (6, 7)  # Sunday, 07:00 Paris


def test_stop_leaves_no_scheduler_thread(make_service: ServiceFactory) -> None:
    service = make_service()
    service.start()
    assert any(thread.name == "APScheduler" for thread in threading.enumerate())
    service.stop()
    assert not any(thread.name == "APScheduler" for thread in threading.enumerate())
    service.start()  # leadership may come back: the same service starts again
    assert service.next_run_time("morning-digest") is not None
    service.stop()


def test_only_one_running_service_per_scope(make_service: ServiceFactory) -> None:
    first = make_service()
    first.start()
    with pytest.raises(RuntimeError, match="already runs"):
        make_service().start()
    make_service(scope="other").start()  # another scope (another bot in one process) is fine


def test_the_job_function_is_a_stored_reference(
    make_service: ServiceFactory, sender: RecordingSender
) -> None:
    service = make_service()
    service.start()
    jobs.fire_scheduled(jobs.DEFAULT_SCOPE, "morning-digest")
    assert len(sender.snapshot()) == 1
    service.stop()
    jobs.fire_scheduled(jobs.DEFAULT_SCOPE, "morning-digest")  # nobody runs here: nothing is posted
    assert len(sender.snapshot()) == 1
    assert NOW - timedelta(hours=24) < NOW


def test_runs_missed_while_nobody_led_post_once(
    make_service: ServiceFactory, database_url: str, sender: RecordingSender
) -> None:
    # What a leader that died three days ago left in the job table: the digest still due then.
    spec = jobs.from_settings(CONFIG_SCHEDULES[0])
    owner = BackgroundScheduler()  # never started: only lends the job its scheduler reference
    store = SQLAlchemyJobStore(url=database_url, tablename=jobs.JOB_TABLE)
    store.start(owner, "default")
    store.add_job(
        Job(
            owner,
            id=spec.job_id,
            func=jobs.JOB_FUNC,
            trigger=cron.build_trigger(spec.cron, spec.timezone),
            executor="default",
            args=(jobs.DEFAULT_SCOPE, spec.name),
            kwargs={},
            name=spec.fingerprint,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC) - timedelta(days=3),
        )
    )
    store.shutdown()

    service = make_service()
    service.start()
    wait_until(lambda: sender.snapshot(), timeout=10, message="the missed digest posted")
    wait_until(
        lambda: service.next_run_time("morning-digest") > datetime.now(UTC), timeout=10, message="rescheduled"
    )
    assert len(sender.snapshot()) == 1  # three missed weekday mornings, one post
