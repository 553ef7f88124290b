"""The worker behind the ack: deduplication of Slack redeliveries and where replies land."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.actions.context import Deps
from bot.commands.verbs import build_registry
from bot.config import parse_settings
from bot.model import Origin, Reply, Surface, Visibility
from bot.rbac.source import PolicySource
from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.slack.client import Messenger, build_web_client
from bot.slack.directory import SlackDirectory
from bot.slack.worker import CommandWorker
from bot.store import db as store_db
from bot.store.repos import AuditRepo, EventDedup


@pytest.fixture
def sandbox() -> Iterator[tuple[SlackSandbox, SlackDriver]]:
    slack = SlackSandbox()
    slack.start()
    driver = SlackDriver(slack.control_url)
    driver.add_user("UALICE01", name="alice", email="alice@example.com")
    driver.add_channel("COPS0001", name="ops")
    try:
        yield slack, driver
    finally:
        slack.stop()


@pytest.fixture
def worker(tmp_path: Path, sandbox: tuple[SlackSandbox, SlackDriver]) -> Iterator[CommandWorker]:
    slack, _ = sandbox
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store_db.upgrade(url)
    database = store_db.connect(url)
    settings = parse_settings(
        {"rbac": {"policy": "g, slack:UALICE01, role:admin\n"}, "database": {"url": url}},
        source="test.yaml",
        environ={},
    )
    client = build_web_client(token=slack.bot_token, base_url=slack.api_url)
    command_worker = CommandWorker(
        deps=Deps(
            settings=settings,
            policy=PolicySource.from_settings(settings),
            audit=AuditRepo(database),
            registry=build_registry(),
        ),
        directory=SlackDirectory(client, ttl=60),
        dedup=EventDedup(database),
        messenger=Messenger(client),
    )
    try:
        yield command_worker
    finally:
        command_worker.shutdown()
        database.dispose()


def test_a_redelivered_event_is_answered_once(
    worker: CommandWorker, sandbox: tuple[SlackSandbox, SlackDriver]
) -> None:
    _, driver = sandbox
    origin = Origin(
        surface=Surface.MENTION,
        channel_id="COPS0001",
        user_id="UALICE01",
        text="whoami",
        delivery_id="Ev0001",
    )
    worker.process(origin)
    worker.process(origin)  # Slack's retry of the same event (bolt hides retry_attempt)
    assert len(driver.ephemerals(user="UALICE01")) == 1


def test_in_channel_replies_are_posted_and_private_ones_stay_private(
    worker: CommandWorker, sandbox: tuple[SlackSandbox, SlackDriver]
) -> None:
    _, driver = sandbox
    origin = Origin(surface=Surface.MENTION, channel_id="COPS0001", user_id="UALICE01", text="x")
    worker.deliver(origin, Reply(text="for the team", visibility=Visibility.IN_CHANNEL))
    worker.deliver(origin, Reply(text="only for alice"))
    assert [m["text"] for m in driver.messages("COPS0001")] == ["for the team"]
    assert [e["text"] for e in driver.ephemerals(user="UALICE01")] == ["only for alice"]


def test_slack_outage_gives_a_reference_not_a_stack_trace(
    worker: CommandWorker, sandbox: tuple[SlackSandbox, SlackDriver]
) -> None:
    _, driver = sandbox
    driver.fail_next("users.info", status=500, error="internal_error", count=10)
    worker.process(Origin(surface=Surface.MENTION, channel_id="COPS0001", user_id="UALICE01", text="whoami"))
    answer = driver.ephemerals(user="UALICE01")[-1]["text"]
    assert "reference" in answer and "Traceback" not in answer


class _HeldDedup:
    """A dedup that holds the first command in the worker until released (a slow command)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def first_time(self, key: str, now: datetime) -> bool:
        self.entered.set()
        self.release.wait(timeout=30)
        return True


def test_a_full_work_queue_answers_busy_at_once_instead_of_growing(
    sandbox: tuple[SlackSandbox, SlackDriver], tmp_path: Path
) -> None:
    slack, driver = sandbox
    settings = parse_settings(
        {"rbac": {"policy": "g, slack:UALICE01, role:admin\n"}}, source="t.yaml", environ={}
    )
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store_db.upgrade(url)
    database = store_db.connect(url)
    client = build_web_client(token=slack.bot_token, base_url=slack.api_url)
    held = _HeldDedup()
    worker = CommandWorker(
        deps=Deps(
            settings=settings,
            policy=PolicySource.from_settings(settings),
            audit=AuditRepo(database),
            registry=build_registry(),
        ),
        directory=SlackDirectory(client, ttl=60),
        dedup=held,
        messenger=Messenger(client),
        max_workers=1,
        queue_limit=1,
    )
    try:
        first = Origin(
            surface=Surface.MENTION,
            channel_id="COPS0001",
            user_id="UALICE01",
            text="whoami",
            delivery_id="Ev1",
        )
        worker.submit(first)
        assert held.entered.wait(timeout=10)
        second = Origin(surface=Surface.MENTION, channel_id="COPS0001", user_id="UALICE01", text="whoami")
        busy = worker.submit(second)
        assert busy is not None
        busy.result(timeout=10)  # answered without waiting for the held command
        assert "busy" in driver.ephemerals(user="UALICE01")[-1]["text"]
        held.release.set()
        driver.wait_for(
            lambda: len(driver.ephemerals(user="UALICE01")) == 2, timeout=10, message="the first answer"
        )
        assert "You are *alice*" in driver.ephemerals(user="UALICE01")[-1]["text"]
    finally:
        held.release.set()
        worker.shutdown()
        database.dispose()
