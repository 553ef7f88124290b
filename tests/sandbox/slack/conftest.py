"""Fixtures for the Slack sandbox tests: a started sandbox, a driver with people and channels,
a small bolt app on the websocket_client Socket Mode adapter, and a raw WebSocket client for
checks that bolt would hide (un-acked envelopes). Every fixture stops what it started and the
sandbox fixture fails the test if a thread is left behind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk import WebClient
from slack_world import ALICE, BOB, OPS, PROD, RawSocket

from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until


def _new_threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.fixture
def slack_sandbox() -> Iterator[SlackSandbox]:
    before = set(threading.enumerate())
    sandbox = SlackSandbox(ack_timeout=1.0)
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
def slack_driver(slack_sandbox: SlackSandbox) -> SlackDriver:
    driver = SlackDriver(slack_sandbox.control_url)
    driver.add_user(ALICE, name="alice", email="alice@example.com", real_name="Alice Liddell")
    driver.add_user(BOB, name="bob", email="bob@example.com")
    driver.add_channel(OPS, name="ops")
    driver.add_channel(PROD, name="prod-ops")
    driver.add_usergroup("S0SRE", handle="sre", users=[ALICE])
    return driver


@pytest.fixture
def web_client(slack_sandbox: SlackSandbox, slack_driver: SlackDriver) -> WebClient:
    """The bot's view: a WebClient on the sandbox, after the people and channels exist."""
    return WebClient(base_url=slack_sandbox.api_url, token=slack_sandbox.bot_token)


@pytest.fixture
def bolt_app(slack_sandbox: SlackSandbox) -> Iterator[App]:
    """A bolt App wired to the sandbox; its listener pool is ours so teardown can join it."""
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bolt-listener")
    app = App(
        client=WebClient(base_url=slack_sandbox.api_url, token=slack_sandbox.bot_token),
        listener_executor=executor,
    )
    yield app
    executor.shutdown(wait=True)


@pytest.fixture
def connect_bolt(
    slack_sandbox: SlackSandbox, slack_driver: SlackDriver
) -> Iterator[Callable[[App], SocketModeHandler]]:
    """Connect a bolt app over Socket Mode (websocket_client adapter) and wait for its `hello`."""
    handlers: list[SocketModeHandler] = []

    def connect(app: App) -> SocketModeHandler:
        opened = slack_driver.connections()["opened_total"]
        handler = SocketModeHandler(app, app_token=slack_sandbox.app_token)
        handlers.append(handler)
        handler.connect()
        slack_driver.wait_for(
            lambda: slack_driver.connections()["opened_total"] > opened, timeout=10, message="bolt to connect"
        )
        return handler

    yield connect
    for handler in handlers:
        # Stop reconnecting first, then let the server drop the socket: a client-side close races
        # with websocket-client's reader thread and can leave it in select() for 10 s.
        handler.client.auto_reconnect_enabled = False
        handler.client.default_auto_reconnect_enabled = False
    slack_driver.disconnect("abrupt")
    slack_driver.wait_for(lambda: not slack_driver.connections()["connections"], message="sockets to close")
    for handler in handlers:
        handler.close()


@pytest.fixture
def raw_socket(slack_sandbox: SlackSandbox, slack_driver: SlackDriver) -> Iterator[Callable[[], RawSocket]]:
    sockets: list[RawSocket] = []

    def open_socket() -> RawSocket:
        raw = RawSocket(slack_sandbox)
        sockets.append(raw)
        return raw

    yield open_socket
    for raw in sockets:
        raw.close()
    slack_driver.wait_for(
        lambda: not slack_driver.connections()["connections"], message="raw sockets to close"
    )
