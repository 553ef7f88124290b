"""The outbox on every backend: idempotent posts, coalesced edits, due order, threads wait for
their parent, and delivering a parent records the run's thread in the same transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.records import (
    OUTBOX_DELIVERED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_POST,
    OUTBOX_SENDING,
    OUTBOX_UPDATE,
    RUN_WORKFLOW,
    OutboxEntry,
)
from bot.sandbox.waiting import wait_until
from bot.store.db import Database
from bot.store.repos import OutboxRepo, RunRepo, enqueue_in

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _post(key: str, *, priority: int = 30, thread_key: str | None = None, text: str = "hi") -> OutboxEntry:
    return OutboxEntry(
        key=key, method=OUTBOX_POST, channel_id="C1", text=text, thread_key=thread_key, priority=priority
    )


def _edit(key: str, *, target_key: str, text: str, priority: int = 30) -> OutboxEntry:
    return OutboxEntry(
        key=key, method=OUTBOX_UPDATE, channel_id="C1", text=text, target_key=target_key, priority=priority
    )


def _deliver(repo: OutboxRepo, key: str, ts: str, *, at: datetime = T0) -> None:
    row = repo.get(key)
    assert row is not None
    assert repo.claim(row.id, status=OUTBOX_PENDING, now=at)
    assert repo.mark_delivered(row.id, ts=ts, now=at)


def _due_keys(repo: OutboxRepo, *, at: datetime = T0, exclude: tuple[int, ...] = ()) -> list[str]:
    return [row.key for row in repo.due(now=at, exclude=exclude)]


def test_a_post_with_a_known_key_is_a_no_op(database: Database) -> None:
    repo = OutboxRepo(database)
    assert repo.enqueue(_post("parent:r1", text="first"), now=T0)
    assert not repo.enqueue(_post("parent:r1", text="second"), now=T0)
    row = repo.get("parent:r1")
    assert row is not None and row.text == "first" and row.status == OUTBOX_PENDING
    assert repo.backlog() == (1, T0)


def test_an_edit_replaces_the_content_waiting_for_the_same_message(database: Database) -> None:
    repo = OutboxRepo(database)
    repo.enqueue(_post("parent:r1"), now=T0)
    _deliver(repo, "parent:r1", "100.000001")
    repo.enqueue(_edit("edit:parent:r1", target_key="parent:r1", text="Running 1/3"), now=T0)
    repo.enqueue(_edit("edit:parent:r1", target_key="parent:r1", text="Running 2/3"), now=T0)
    due = repo.due(now=T0)
    assert [(row.key, row.text, row.target_ts) for row in due] == [
        ("edit:parent:r1", "Running 2/3", "100.000001")
    ]
    # an edit in flight that is replaced: the old row is gone, the new content goes next
    assert repo.claim(due[0].id, status=OUTBOX_PENDING, now=T0)
    repo.enqueue(_edit("edit:parent:r1", target_key="parent:r1", text="Succeeded 3/3"), now=T0)
    assert not repo.mark_delivered(due[0].id, ts=None, now=T0)
    assert [row.text for row in repo.due(now=T0)] == ["Succeeded 3/3"]


def test_due_rows_come_by_priority_then_age_and_not_before_their_time(database: Database) -> None:
    repo = OutboxRepo(database)
    repo.enqueue(_post("progress", priority=40), now=T0)
    repo.enqueue(_post("normal", priority=30), now=T0)
    repo.enqueue(_post("final-a", priority=10), now=T0)
    repo.enqueue(_post("final-b", priority=10), now=T0)
    assert _due_keys(repo) == ["final-a", "final-b", "normal", "progress"]
    row = repo.get("final-a")
    assert row is not None and repo.claim(row.id, status=OUTBOX_PENDING, now=T0)
    later = T0 + timedelta(seconds=30)
    assert repo.retry_later(row.id, status=OUTBOX_PENDING, error="HTTP 503", at=later, now=T0)
    assert _due_keys(repo) == ["final-b", "normal", "progress"]
    assert repo.next_due_at() == T0
    assert _due_keys(repo, at=later) == ["final-a", "final-b", "normal", "progress"]
    assert _due_keys(repo, at=later, exclude=(row.id,)) == ["final-b", "normal", "progress"]
    stored = repo.get("final-a")
    assert stored is not None and stored.attempts == 1 and stored.last_error == "HTTP 503"


def test_replies_wait_for_their_parent_and_older_replies_and_an_edit_only_for_its_parent(
    database: Database,
) -> None:
    repo = OutboxRepo(database)
    repo.enqueue(_post("parent:r1"), now=T0)
    repo.enqueue(_post("step:r1:a", thread_key="parent:r1", priority=40), now=T0)
    repo.enqueue(_post("summary:r1", thread_key="parent:r1", priority=10), now=T0)
    repo.enqueue(_edit("edit:parent:r1", target_key="parent:r1", text="done", priority=10), now=T0)
    assert _due_keys(repo) == ["parent:r1"]
    _deliver(repo, "parent:r1", "100.000001")
    due = repo.due(now=T0)
    # the parent's final edit goes on its own budget at once; the summary waits for the step
    assert [(row.key, row.thread_ts, row.target_ts) for row in due] == [
        ("edit:parent:r1", None, "100.000001"),
        ("step:r1:a", "100.000001", None),
    ]
    _deliver(repo, "step:r1:a", "100.000002")
    assert _due_keys(repo) == ["summary:r1", "edit:parent:r1"]
    _deliver(repo, "summary:r1", "100.000003")
    assert _due_keys(repo) == ["edit:parent:r1"]
    assert repo.delivered_ts("summary:r1") == "100.000003"
    assert repo.delivered_ts("edit:parent:r1") is None


def test_the_leader_forgets_rows_done_with_a_week_ago_but_not_a_running_runs_parent(
    database: Database,
) -> None:
    runs = RunRepo(database)
    repo = OutboxRepo(database)
    ended = runs.create(
        kind=RUN_WORKFLOW, cluster="dev", namespace="argo", requester_id="U1", channel_id="C1", now=T0
    )
    running = runs.create(
        kind=RUN_WORKFLOW, cluster="dev", namespace="argo", requester_id="U1", channel_id="C1", now=T0
    )
    assert runs.mark_final_posted(ended.id, now=T0)
    for run in (ended, running):
        repo.enqueue(
            OutboxEntry(key=f"parent:{run.id}", method=OUTBOX_POST, channel_id="C1", text="x", run_id=run.id),
            now=T0,
        )
        _deliver(repo, f"parent:{run.id}", "100.000001")
    repo.enqueue(_post("answer:1"), now=T0)
    _deliver(repo, "answer:1", "100.000002")
    repo.enqueue(_post("answer:2"), now=T0)  # still waiting: never forgotten

    assert repo.prune(older_than=T0) == 0  # nothing is older than a moment ago
    assert repo.prune(older_than=T0 + timedelta(days=7)) == 2

    assert repo.get(f"parent:{ended.id}") is None and repo.get("answer:1") is None
    assert repo.get(f"parent:{running.id}") is not None  # its next reply needs the ts
    assert repo.get("answer:2") is not None


def test_a_failed_parent_fails_what_waits_for_it(database: Database) -> None:
    repo = OutboxRepo(database)
    repo.enqueue(_post("parent:r1"), now=T0)
    repo.enqueue(_post("step:r1:a", thread_key="parent:r1"), now=T0)
    repo.enqueue(_edit("edit:parent:r1", target_key="parent:r1", text="x"), now=T0)
    row = repo.get("parent:r1")
    assert row is not None and repo.claim(row.id, status=OUTBOX_PENDING, now=T0)
    assert repo.mark_failed(row.id, error="channel_not_found", now=T0) == 3
    assert repo.backlog() == (0, None)
    step = repo.get("step:r1:a")
    assert step is not None and step.status == OUTBOX_FAILED and "parent:r1" in step.last_error


def test_delivering_a_parent_records_the_runs_thread(database: Database) -> None:
    runs = RunRepo(database)
    outbox = OutboxRepo(database)
    run = runs.create(
        kind=RUN_WORKFLOW, cluster="dev", namespace="argo", requester_id="U1", channel_id="C1", now=T0
    )
    outbox.enqueue(
        OutboxEntry(key=f"parent:{run.id}", method=OUTBOX_POST, channel_id="C1", text="x", run_id=run.id),
        now=T0,
    )
    row = outbox.get(f"parent:{run.id}")
    assert row is not None and outbox.claim(row.id, status=OUTBOX_PENDING, now=T0)
    stored = outbox.get(f"parent:{run.id}")
    assert stored is not None and stored.status == OUTBOX_SENDING
    assert outbox.mark_delivered(row.id, ts="100.000001", now=T0)
    assert not outbox.mark_delivered(row.id, ts="100.000009", now=T0)  # once
    found = runs.get(run.id)
    assert found is not None and found.parent_ts == "100.000001"
    delivered = outbox.get(f"parent:{run.id}")
    assert delivered is not None and delivered.status == OUTBOX_DELIVERED and delivered.ts == "100.000001"


def test_advance_writes_the_final_state_the_messages_and_the_flag_together_once(database: Database) -> None:
    runs = RunRepo(database)
    outbox = OutboxRepo(database)
    run = runs.create(
        kind=RUN_WORKFLOW, cluster="dev", namespace="argo", requester_id="U1", channel_id="C1", now=T0
    )
    summary = OutboxEntry(
        key=f"summary:{run.id}",
        method=OUTBOX_POST,
        channel_id="C1",
        text="done",
        thread_key=f"parent:{run.id}",
        run_id=run.id,
    )
    done = runs.advance(run.id, now=T0, phase="Succeeded", finished_at=T0, messages=[summary], final=True)
    assert done is not None and done.final_posted and done.phase == "Succeeded"
    again = runs.advance(run.id, now=T0, phase="Failed", messages=[summary], final=True)
    assert again is None
    stored = runs.get(run.id)
    assert stored is not None and stored.phase == "Succeeded"
    assert [row.key for row in outbox.for_run(run.id)] == [f"summary:{run.id}"]
    assert run.id not in {r.id for r in runs.unfinished()}


def _a_transaction_waits_on_a_lock(database: Database) -> bool:
    """Whether another session of this database is held inside its outbox insert.

    SQLite serialises writers at BEGIN, so there is nothing to wait for. MySQL shows a
    session's own threads without extra privileges: the insert still running is the one held.
    """
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            return bool(connection.execute(text(query)).scalar())
        if database.dialect == "mysql":
            rows = connection.execute(text("SHOW FULL PROCESSLIST")).all()
            return any(str(row[7] or "").upper().startswith("INSERT INTO OUTBOX") for row in rows)
    return True


def test_two_transactions_enqueueing_one_key_keep_one_row_and_lose_no_other_write(database: Database) -> None:
    """The leader's first event and the submitting replica may both enqueue a run's parent at once.

    Transaction A holds the parent's row uncommitted while B, a run's state change that also
    enqueues the parent and a step reply, starts: B must end with its state and its reply
    stored and the parent stored once, whichever way the backend orders the two.
    """
    runs = RunRepo(database)
    run = runs.create(
        kind=RUN_WORKFLOW, cluster="dev", namespace="argo", requester_id="U1", channel_id="C1", now=T0
    )
    holding, b_started = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def transaction_a() -> None:
        with database.session() as session:
            enqueue_in(session, _post(f"parent:{run.id}", text="from A"), now=T0)
            holding.set()
            b_started.wait(timeout=10)
            # commit only once B waits on A's row (it did not see it, and its insert is held by
            # the unique key): the race itself, on the servers that allow it
            wait_until(
                lambda: _a_transaction_waits_on_a_lock(database),
                timeout=10,
                message="transaction B to wait on A's row",
            )

    def transaction_b() -> None:
        holding.wait(timeout=10)
        b_started.set()
        outcome["run"] = runs.advance(
            run.id,
            now=T0,
            phase="Running",
            messages=[
                _post(f"parent:{run.id}", text="from B"),
                _post(f"step:{run.id}:1", thread_key=f"parent:{run.id}"),
            ],
        )

    threads = [threading.Thread(target=transaction_a), threading.Thread(target=transaction_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    stored = runs.get(run.id)
    assert stored is not None and stored.phase == "Running"
    repo = OutboxRepo(database)
    parent = repo.get(f"parent:{run.id}")
    assert parent is not None and parent.text == "from A"
    assert repo.get(f"step:{run.id}:1") is not None


def test_an_edit_waiting_for_an_unposted_message_lends_it_its_urgency_and_its_content(
    database: Database,
) -> None:
    repo = OutboxRepo(database)
    repo.enqueue(_post("parent:r1", priority=30), now=T0)
    repo.enqueue(_edit("edit:parent:r1", target_key="parent:r1", text="r1: step 1/3", priority=40), now=T0)
    parent = repo.get("parent:r1")
    assert parent is not None and parent.priority == 30  # progress does not hurry a parent
    repo.enqueue(_edit("edit:parent:r1", target_key="parent:r1", text="r1: Succeeded", priority=10), now=T0)
    parent = repo.get("parent:r1")
    assert parent is not None and parent.priority == 10  # a final state does
    carried = repo.pending_edit("parent:r1")
    assert carried is not None and carried.text == "r1: Succeeded"

    # the edit is replaced while the post carrying the older content is in flight: the newer one stays
    repo.enqueue(
        _edit("edit:parent:r1", target_key="parent:r1", text="r1: Succeeded (2)", priority=10), now=T0
    )
    assert not repo.settle_edit(carried, ts="100.000001", now=T0)
    newest = repo.pending_edit("parent:r1")
    assert newest is not None and newest.text == "r1: Succeeded (2)"
    assert repo.settle_edit(newest, ts="100.000001", now=T0)
    assert repo.pending_edit("parent:r1") is None
