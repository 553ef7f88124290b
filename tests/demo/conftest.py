"""Fixtures for the terminal console's tests: a started Slack stand-in with people and channels,
the bot's WebClient on it, consoles that are always closed, and a small bolt app playing the bot.
Every fixture stops what it started; the stand-in's fixture fails the test if a thread is left."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from console_world import ALICE, BOB, CHANNELS, OPS, PROD, USERS
from slack_bolt import App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk import WebClient

from bot.demo.console import Console
from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until


def _new_threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.fixture
def slack_sandbox() -> Iterator[SlackSandbox]:
    before = set(threading.enumerate())
    sandbox = SlackSandbox(ack_timeout=1.0, rate_limits=False)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
        wait_until(
            lambda: not _new_threads(before),
            timeout=15,
            message=lambda: f"threads to finish: {_new_threads(before)}",
        )


@pytest.fixture
def driver(slack_sandbox: SlackSandbox) -> SlackDriver:
    driver = SlackDriver(slack_sandbox.control_url)
    driver.add_user(ALICE, name="alice", email="alice@example.com")
    driver.add_user(BOB, name="bob", email="bob@example.com")
    driver.add_channel(OPS, name="ops")
    driver.add_channel(PROD, name="prod-ops")
    driver.add_usergroup("S0SRE", handle="sre", users=[ALICE])
    return driver


@pytest.fixture
def web_client(slack_sandbox: SlackSandbox, driver: SlackDriver) -> WebClient:
    """What the bot posts with: a WebClient on the stand-in, after the people and channels exist."""
    return WebClient(base_url=slack_sandbox.api_url, token=slack_sandbox.bot_token)


@pytest.fixture
def make_console(driver: SlackDriver) -> Iterator[Callable[..., Console]]:
    consoles: list[Console] = []

    def make(**options: float) -> Console:
        console = Console(
            driver=driver, users=USERS, channels=CHANNELS, user="alice", channel="ops", **options
        )
        consoles.append(console)
        return console

    yield make
    for console in consoles:
        console.close()


@pytest.fixture
def bolt_app(slack_sandbox: SlackSandbox) -> Iterator[App]:
    """A bolt App on the stand-in; its listener pool is ours so teardown can join it."""
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bolt-listener")
    app = App(
        client=WebClient(base_url=slack_sandbox.api_url, token=slack_sandbox.bot_token),
        listener_executor=executor,
    )
    yield app
    executor.shutdown(wait=True)


@pytest.fixture
def connect_bolt(slack_sandbox: SlackSandbox, driver: SlackDriver) -> Iterator[Callable[[App], None]]:
    """Connect a bolt app over Socket Mode and wait until the stand-in sees it."""
    handlers: list[SocketModeHandler] = []

    def connect(app: App) -> None:
        opened = driver.connections()["opened_total"]
        handler = SocketModeHandler(app, app_token=slack_sandbox.app_token)
        handlers.append(handler)
        handler.connect()
        driver.wait_for(lambda: driver.connections()["opened_total"] > opened, message="bolt to connect")

    yield connect
    for handler in handlers:
        # Stop reconnecting, then let the server drop the socket: a client-side close races with
        # websocket-client's reader thread (see docs/sandbox-slack.md).
        handler.client.auto_reconnect_enabled = False
        handler.client.default_auto_reconnect_enabled = False
    driver.disconnect("abrupt")
    driver.wait_for(lambda: not driver.connections()["connections"], message="sockets to close")
    for handler in handlers:
        handler.close()
