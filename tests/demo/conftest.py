"""Fixtures for the terminal console's tests: a started Slack stand-in with people and channels,
the bot's WebClient on it, consoles that are always closed, and a small bolt app playing the bot.
Every fixture stops what it started; the stand-in's fixture fails the test if a thread is left."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from console_world import ALICE, BOB, CHANNELS, OPS, PROD, USERS
from slack_bolt import App
from slack_sdk import WebClient
from slack_stand_in import bolt_app_on, bolt_connector, started_stand_in

from bot.demo.console import Console
from bot.sandbox.slack import SlackDriver, SlackSandbox


@pytest.fixture
def slack_sandbox() -> Iterator[SlackSandbox]:
    with started_stand_in(rate_limits=False) as sandbox:
        yield sandbox


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
    with bolt_app_on(slack_sandbox) as app:
        yield app


@pytest.fixture
def connect_bolt(slack_sandbox: SlackSandbox, driver: SlackDriver) -> Iterator[Callable[[App], object]]:
    """Connect a bolt app over Socket Mode and wait until the stand-in sees it."""
    with bolt_connector(slack_sandbox, driver) as connect:
        yield connect
