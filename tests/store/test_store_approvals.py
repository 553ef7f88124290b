"""Approvals: exactly one decision wins, even when two people click at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bot.records import (
    APPROVAL_APPROVED,
    APPROVAL_EXECUTED,
    APPROVAL_EXPIRED,
    APPROVAL_PENDING,
    APPROVAL_REJECTED,
)
from bot.store.db import Database
from bot.store.repos import ApprovalRepo

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _request(repo: ApprovalRepo, *, expires_in: timedelta = timedelta(hours=1)):
    return repo.create(
        action="rollback",
        cluster="prod-eu",
        project="payments",
        app="api",
        target="41",
        from_revision="9f1c2ab",
        to_revision="1a2b3c4",
        reason="bad deploy",
        requester_id="U1",
        requester_name="alice",
        channel_id="C1",
        expires_at=T0 + expires_in,
        now=T0,
    )


def test_request_is_stored_with_everything_the_card_shows(database: Database) -> None:
    repo = ApprovalRepo(database)
    created = _request(repo)
    repo.set_message(created.id, message_ts="1700000000.000300")
    stored = repo.get(created.id)
    assert stored is not None
    assert (stored.app, stored.from_revision, stored.to_revision, stored.reason) == (
        "api",
        "9f1c2ab",
        "1a2b3c4",
        "bad deploy",
    )
    assert stored.status == APPROVAL_PENDING and stored.version == 1
    assert stored.message_ts == "1700000000.000300"
    assert stored.expires_at == T0 + timedelta(hours=1)
    assert repo.get("unknown") is None


def test_second_decision_loses_and_the_first_is_kept(database: Database) -> None:
    repo = ApprovalRepo(database)
    approval = _request(repo)
    later = T0 + timedelta(minutes=5)
    assert repo.decide(approval.id, new_status=APPROVAL_APPROVED, decided_by="U2", now=later) is True
    assert repo.decide(approval.id, new_status=APPROVAL_REJECTED, decided_by="U3", now=later) is False
    decided = repo.get(approval.id)
    assert (decided.status, decided.decided_by, decided.decided_at, decided.version) == (
        "approved",
        "U2",
        later,
        2,
    )
    # Executing it afterwards keeps who approved it.
    assert repo.decide(
        approval.id,
        expected_status=APPROVAL_APPROVED,
        new_status=APPROVAL_EXECUTED,
        decided_by=None,
        now=later,
    )
    repo.set_run(approval.id, run_id="run-1")
    executed = repo.get(approval.id)
    assert (executed.status, executed.decided_by, executed.run_id) == ("executed", "U2", "run-1")


def test_two_approvers_clicking_at_once_produce_exactly_one_winner(database: Database) -> None:
    repo = ApprovalRepo(database)
    for _attempt in range(5):
        approval = _request(repo)
        barrier = threading.Barrier(2)
        results: dict[str, bool] = {}

        def click(
            user: str,
            approval_id: str = approval.id,
            barrier: threading.Barrier = barrier,
            results: dict[str, bool] = results,
        ) -> None:
            barrier.wait(timeout=10)
            results[user] = repo.decide(
                approval_id, new_status=APPROVAL_APPROVED, decided_by=user, now=T0 + timedelta(minutes=1)
            )

        threads = [threading.Thread(target=click, args=(user,)) for user in ("U2", "U3")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in threads)
        assert sorted(results.values()) == [False, True], results
        winner = next(user for user, won in results.items() if won)
        assert repo.get(approval.id).decided_by == winner


def test_an_expired_request_can_no_longer_be_approved(database: Database) -> None:
    repo = ApprovalRepo(database)
    approval = _request(repo, expires_in=timedelta(minutes=10))
    after_expiry = T0 + timedelta(minutes=11)
    assert repo.decide(approval.id, new_status=APPROVAL_APPROVED, decided_by="U2", now=after_expiry) is False
    assert repo.get(approval.id).status == APPROVAL_PENDING


def test_expiry_sweep_closes_each_due_request_once(database: Database) -> None:
    repo = ApprovalRepo(database)
    due = _request(repo, expires_in=timedelta(minutes=10))
    fresh = _request(repo, expires_in=timedelta(hours=2))
    decided = _request(repo, expires_in=timedelta(minutes=10))
    repo.decide(decided.id, new_status=APPROVAL_REJECTED, decided_by="U2", now=T0 + timedelta(minutes=1))
    now = T0 + timedelta(minutes=30)
    assert [a.id for a in repo.pending(now=now)] == [fresh.id]
    closed = repo.expire_due(now)
    assert [a.id for a in closed] == [due.id]
    assert closed[0].status == APPROVAL_EXPIRED
    assert repo.expire_due(now) == []
    assert repo.get(fresh.id).status == APPROVAL_PENDING
    assert repo.get(decided.id).status == APPROVAL_REJECTED
