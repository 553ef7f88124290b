"""Fail-over end to end: `chatops run` stopped or killed mid-run, or a leader lost, and the thread still
ends with one parent per run in the channel and one final summary in its thread, no reply twice.

1. SIGTERM mid-run (a rolling update): the process exits 0 within a bounded time, is started
   again, and the thread continues to its final summary.
2. Two replicas on PostgreSQL: the leader is SIGKILLed mid-run, the other replica takes the Lease
   over and finishes the thread. Runs only when `CHATOPS_TEST_POSTGRES_URL` is set (`.ci/run` sets
   it); the replicas share a fresh PostgreSQL schema of their own.
3. An Argo CD sync whose follower is SIGKILLed mid-sync and started again.

The processes, their logs and the helpers come from `test_e2e_outbox_crash`.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_world import BASE_POLICY, DEV, OPS_CHANNEL, TOKEN_ENV, seed_workspace, write_config
from sqlalchemy import make_url, text
from test_e2e_outbox_crash import Bot, _submit, _text, _workflow_phase

from bot.sandbox.argo.appscript import AppResource
from bot.sandbox.slack import SlackDriver
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld
from bot.store import db as store_db
from bot.store.repos import OutboxRepo

STEP_SECONDS = 80  # scripted; at the world's time_scale of 0.05, four seconds a step, 12 s a run
TERM_SECONDS = 15  # SIGTERM to exit: well inside Kubernetes' default 30 s grace period
POSTGRES_ENV = "CHATOPS_TEST_POSTGRES_URL"
SYNC_POLICY = BASE_POLICY + (
    "p, role:developer, applications, get, dev/*, allow\n"
    "p, role:developer, applications, sync, dev/*, allow\n"
)


def _sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'chatops.db'}"


def _bot(
    directory: Path,
    sandbox: SandboxWorld,
    *,
    policy: str = BASE_POLICY,
    database_url: str | None = None,
    **overrides: Any,
) -> Bot:
    """A `chatops run` process whose config (in `directory`) also carries `overrides`; a database
    URL with a password goes in `DATABASE_URL`, as from a Secret (the file may not hold one)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policy.csv").write_text(policy)
    bot = Bot(directory, sandbox)
    if database_url is not None:
        bot.env["DATABASE_URL"] = database_url
    bot.config = write_config(directory, sandbox, server={"host": "127.0.0.1", "port": bot.port}, **overrides)
    return bot


def _log(bot: Bot) -> str:
    return bot.log.read_text(errors="replace")


@pytest.fixture
def bots(sandbox: SandboxWorld) -> Iterator[list[Bot]]:
    """The processes a test starts (append them); stopped at the end, their logs free of the token."""
    seed_workspace(SlackDriver(sandbox.slack.control_url))
    sandbox.workflow_controllers["dev"].script(step="*", workflow="hello-*", duration=STEP_SECONDS)
    started: list[Bot] = []
    try:
        yield started
    finally:
        for bot in started:
            bot.stop()
        for bot in started:
            assert sandbox.slack.bot_token not in _log(bot)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL database, migrated, dropped afterwards.

    A schema of its own (through `search_path`) instead of emptied tables: the store tests empty
    the shared tables at every test, and nothing else may write into this test's rows.
    """
    base = make_url(os.environ[POSTGRES_ENV])
    schema = f"failover_{secrets.token_hex(4)}"
    url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    admin = store_db.connect(base)
    try:
        try:
            with admin.engine.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            migrated = store_db.connect(url)
            try:
                store_db.upgrade_database(migrated)  # once, before two replicas start on it
                with migrated.engine.connect() as connection:
                    tables = connection.execute(
                        text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                        {"s": schema},
                    ).scalar_one()
            finally:
                migrated.dispose()
        except Exception as exc:  # a configured server must work: fail loudly, never skip
            pytest.fail(f"cannot prepare PostgreSQL {store_db.mask_url(base)}: {exc}", pytrace=False)
        assert tables > 0, f"the migrations created no table in schema {schema}"
        yield url
        with admin.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    finally:
        admin.dispose()


def _outbox_drained(url: str) -> None:
    database = store_db.connect(url)
    try:
        outbox = OutboxRepo(database)
        wait_until(lambda: outbox.backlog()[0] == 0, timeout=30, message="the outbox to drain")
    finally:
        database.dispose()


def _one_parent_one_final(driver: SlackDriver, *, marker: str, summary: str, url: str) -> list[str]:
    """Wait for the end of the run whose parent contains `marker`, then assert what people see:
    one parent (final, Succeeded), one summary (the last reply), no reply twice. The replies."""

    def parents() -> list[dict[str, Any]]:
        return [m for m in driver.messages(OPS_CHANNEL) if marker in _text(m)]

    def finished() -> bool:
        found = parents()
        return bool(found) and any(
            summary in _text(m) for m in driver.replies(OPS_CHANNEL, found[0]["ts"])[1:]
        )

    wait_until(finished, timeout=60, message=f"the final summary {summary!r}")
    _outbox_drained(url)
    found = parents()
    assert len(found) == 1, f"{len(found)} parent messages for {marker!r}"
    parent = found[0]
    assert "Succeeded" in _text(parent), _text(parent)
    thread = driver.replies(OPS_CHANNEL, parent["ts"])[1:]
    replies = [_text(m) for m in thread]
    assert sum(summary in r for r in replies) == 1, replies
    assert summary in replies[-1], replies
    assert [r for r, n in Counter(replies).items() if n > 1] == [], "a reply posted twice"
    keys = [(m.get("metadata") or {}).get("event_payload", {}).get("key") for m in [parent, *thread]]
    assert [k for k, n in Counter(keys).items() if k and n > 1] == [], "an outbox key posted twice"
    return replies


def test_sigterm_mid_run_exits_cleanly_and_the_restarted_bot_finishes_the_thread(
    tmp_path: Path, sandbox: SandboxWorld, bots: list[Bot]
) -> None:
    driver = SlackDriver(sandbox.slack.control_url)
    bot = _bot(tmp_path, sandbox)
    bots.append(bot)
    bot.start()
    name, parent = _submit(driver, sandbox)
    assert _workflow_phase(sandbox, name) == "Running"
    shown = len(driver.replies(OPS_CHANNEL, parent["ts"]))

    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)
    begun = time.monotonic()
    try:
        code = bot.process.wait(timeout=TERM_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chatops run still running {TERM_SECONDS}s after SIGTERM:\n{_log(bot)[-3000:]}")
    took = time.monotonic() - begun
    assert code == 0, f"exit code {code} after SIGTERM:\n{_log(bot)[-3000:]}"
    assert "received SIGTERM: shutting down" in _log(bot)
    assert _workflow_phase(sandbox, name) == "Running", f"the run ended during the {took:.1f}s shutdown"

    bot.start()
    replies = _one_parent_one_final(
        driver, marker=name, summary=f"{name}: succeeded", url=_sqlite_url(tmp_path)
    )
    assert len(replies) + 1 > shown, "the thread went on after the restart"


@pytest.mark.parametrize(
    "backend", ["postgresql"] if os.environ.get(POSTGRES_ENV) else [], ids=lambda backend: str(backend)
)
def test_a_leader_killed_mid_run_is_replaced_and_the_successor_finishes_the_thread(
    backend: str, postgres_url: str, tmp_path: Path, sandbox: SandboxWorld, bots: list[Bot]
) -> None:
    # postgres_url before bots: the replicas stop before their schema is dropped
    assert backend == "postgresql"
    url = postgres_url
    driver = SlackDriver(sandbox.slack.control_url)
    election = {
        "enabled": True,
        "cluster": "dev",
        "namespace": "default",
        "lease_name": f"failover-{secrets.token_hex(3)}",
        "lease_seconds": 3,
        "renew_seconds": 0.5,
    }
    replicas = {
        identity: _bot(
            tmp_path / identity,
            sandbox,
            database_url=url,
            leader_election={**election, "identity": identity},
        )
        for identity in ("replica-a", "replica-b")
    }
    for replica in replicas.values():
        bots.append(replica)
        replica.start()

    def leaders() -> list[str]:
        return [i for i, r in replicas.items() if "took leadership" in _log(r)]

    leader_id = wait_until(leaders, timeout=15, message="a leader")[0]
    assert len(leaders()) == 1, leaders()
    leader = replicas[leader_id]
    successor_id = next(i for i in replicas if i != leader_id)
    successor = replicas[successor_id]

    name, _ = _submit(driver, sandbox)
    assert _workflow_phase(sandbox, name) == "Running"
    leader.kill()
    wait_until(
        lambda: "took leadership" in _log(successor),
        timeout=15,
        message=f"{successor_id} to take the Lease over from the killed {leader_id}",
    )
    assert _workflow_phase(sandbox, name) == "Running", "the run ended before the successor led"
    _one_parent_one_final(driver, marker=name, summary=f"{name}: succeeded", url=url)


def test_a_sync_whose_follower_is_killed_mid_sync_ends_with_one_parent_and_one_final(
    tmp_path: Path, sandbox: SandboxWorld, bots: list[Bot]
) -> None:
    assert sandbox.app_controller is not None
    sandbox.app_controller.script_app(
        "billing-dev",
        resources=[
            AppResource(
                kind="Job",
                name="billing-migrate",
                api_version="batch/v1",
                hook="PreSync",
                progressing_seconds=60,
            ),
            AppResource(kind="Deployment", name="billing", api_version="apps/v1", progressing_seconds=60),
            AppResource(
                kind="Deployment", name="worker", api_version="apps/v1", wave=1, progressing_seconds=60
            ),
        ],
    )
    driver = SlackDriver(sandbox.slack.control_url)
    auth = {"kind": "token", "server": sandbox.clusters["dev"]["api_url"], "token_env": TOKEN_ENV["dev"]}
    bot = _bot(
        tmp_path,
        sandbox,
        policy=SYNC_POLICY,
        clusters=[{"name": "dev", "auth": auth, "argocd_namespace": ARGOCD_NAMESPACE}],
    )
    bots.append(bot)
    bot.start()
    marker = "sync · billing-dev"
    driver.send_command(user=DEV, channel=OPS_CHANNEL, command="/ops", text="sync billing-dev")

    def hook_running() -> dict[str, Any] | None:
        for message in driver.messages(OPS_CHANNEL):
            replies = driver.replies(OPS_CHANNEL, message["ts"]) if marker in _text(message) else []
            if any("hook `Job/billing-migrate` started" in _text(r) for r in replies[1:]):
                return message
        return None

    parent = wait_until(hook_running, timeout=30, message="the sync's parent and its PreSync hook started")
    bot.kill()
    still = next(m for m in driver.messages(OPS_CHANNEL) if m["ts"] == parent["ts"])
    assert "Succeeded" not in _text(still), "the sync ended before the kill"
    shown = len(driver.replies(OPS_CHANNEL, parent["ts"]))
    bot.start()
    replies = _one_parent_one_final(
        driver, marker=marker, summary="billing-dev: succeeded", url=_sqlite_url(tmp_path)
    )
    assert len(replies) + 1 > shown, "the thread went on after the restart"
