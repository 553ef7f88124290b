"""Runs: what a restarted leader resumes from, and the guards against duplicate Slack posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import StorageError
from bot.records import RUN_SYNC, RUN_WORKFLOW
from bot.store.db import Database
from bot.store.repos import RunRepo

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _workflow(repo: RunRepo, *, requester: str = "U1", template: str = "backfill", at: datetime = T0):
    return repo.create(
        kind=RUN_WORKFLOW,
        cluster="prod-eu",
        namespace="argo",
        requester_id=requester,
        requester_name="alice",
        channel_id="C1",
        template=template,
        parameters={"date": "2026-03-01", "note": "café ☕"},
        now=at,
    )


def test_a_run_is_found_by_id_and_by_its_workflow_name(database: Database) -> None:
    repo = RunRepo(database)
    run = _workflow(repo)
    assert run.name is None and run.phase == "Pending" and not run.final_posted
    repo.update_progress(run.id, name="backfill-x7k2p", k8s_uid="uid-1", now=T0 + timedelta(seconds=1))
    found = repo.by_name(cluster="prod-eu", namespace="argo", kind=RUN_WORKFLOW, name="backfill-x7k2p")
    assert found is not None and found.id == run.id
    assert found.parameters == {"date": "2026-03-01", "note": "café ☕"}
    assert found.k8s_uid == "uid-1"
    assert repo.by_name(cluster="prod-eu", namespace="argo", kind=RUN_SYNC, name="backfill-x7k2p") is None
    assert repo.get("no-such-run") is None


def test_progress_updates_change_only_what_is_given(database: Database) -> None:
    repo = RunRepo(database)
    run = _workflow(repo)
    repo.update_progress(run.id, phase="Running", progress="1/3", resource_version="10", now=T0)
    repo.update_progress(run.id, progress="2/3", message="step b started", now=T0 + timedelta(seconds=5))
    done = repo.update_progress(
        run.id,
        phase="Failed",
        progress="2/3",
        finished_at=T0 + timedelta(minutes=1),
        now=T0 + timedelta(minutes=1),
    )
    assert (done.phase, done.progress, done.message, done.resource_version) == (
        "Failed",
        "2/3",
        "step b started",
        "10",
    )
    assert done.is_finished and done.updated_at == T0 + timedelta(minutes=1)
    with pytest.raises(StorageError, match="no run"):
        repo.update_progress("missing", phase="Running", now=T0)


def test_two_runs_cannot_claim_the_same_workflow(database: Database) -> None:
    repo = RunRepo(database)
    first, second = _workflow(repo), _workflow(repo)
    repo.update_progress(first.id, name="backfill-abc", now=T0)
    with pytest.raises(StorageError):
        repo.update_progress(second.id, name="backfill-abc", now=T0)
    # Unnamed runs (not yet submitted) never clash.
    assert _workflow(repo).name is None


def test_parent_message_and_final_summary_are_recorded_once(database: Database) -> None:
    repo = RunRepo(database)
    run = _workflow(repo)
    assert repo.set_parent(run.id, parent_ts="1700000000.000100", now=T0) is True
    assert repo.set_parent(run.id, parent_ts="1700000000.000200", now=T0) is False
    assert repo.get(run.id).parent_ts == "1700000000.000100"
    assert repo.mark_final_posted(run.id, now=T0) is True
    assert repo.mark_final_posted(run.id, now=T0) is False


def test_unfinished_lists_runs_whose_final_message_is_missing(database: Database) -> None:
    repo = RunRepo(database)
    running = _workflow(repo, at=T0)
    finished_not_posted = _workflow(repo, at=T0 + timedelta(seconds=1))
    done = _workflow(repo, at=T0 + timedelta(seconds=2))
    repo.update_progress(finished_not_posted.id, phase="Succeeded", finished_at=T0, now=T0)
    repo.mark_final_posted(done.id, now=T0)
    assert [r.id for r in repo.unfinished()] == [running.id, finished_not_posted.id]


def test_recent_filters_as_the_runs_command_does(database: Database) -> None:
    repo = RunRepo(database)
    a = _workflow(repo, requester="U1", template="backfill", at=T0)
    b = _workflow(repo, requester="U2", template="backfill", at=T0 + timedelta(minutes=1))
    c = _workflow(repo, requester="U1", template="migrate", at=T0 + timedelta(minutes=2))
    assert [r.id for r in repo.recent()] == [c.id, b.id, a.id]
    assert [r.id for r in repo.recent(requester_id="U1")] == [c.id, a.id]
    assert [r.id for r in repo.recent(template="backfill")] == [b.id, a.id]
    assert [r.id for r in repo.recent(since=T0 + timedelta(seconds=30))] == [c.id, b.id]
    assert [r.id for r in repo.recent(limit=1)] == [c.id]
