"""Fixtures for the Slack sandbox tests: a started sandbox, a driver with people and channels,
a small bolt app on the websocket_client Socket Mode adapter, and a raw WebSocket client for
checks that bolt would hide (un-acked envelopes). Every fixture stops what it started and the
sandbox fixture fails the test if a thread is left behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk import WebClient
from slack_stand_in import bolt_app_on, bolt_connector, started_stand_in
from slack_world import ALICE, BOB, OPS, PROD, RawSocket

from bot.sandbox.slack import SlackDriver, SlackSandbox


@pytest.fixture
def slack_sandbox() -> Iterator[SlackSandbox]:
    with started_stand_in() as sandbox:
        yield sandbox


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
    with bolt_app_on(slack_sandbox) as app:
        yield app


@pytest.fixture
def connect_bolt(
    slack_sandbox: SlackSandbox, slack_driver: SlackDriver
) -> Iterator[Callable[[App], SocketModeHandler]]:
    with bolt_connector(slack_sandbox, slack_driver) as connect:
        yield connect


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
