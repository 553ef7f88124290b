"""The Slack stand-in as tests start it, and a bolt app connected to it over Socket Mode.

Shared by the stand-in's own tests (`tests/sandbox/slack`) and the terminal console's
(`tests/demo`): each piece stops what it started, and the stand-in fails the test when a
thread is left behind.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk import WebClient

from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.waiting import wait_until


def _new_threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@contextlib.contextmanager
def started_stand_in(**options: Any) -> Iterator[SlackSandbox]:
    """A started stand-in; stopped afterwards, with every thread it started finished."""
    before = set(threading.enumerate())
    sandbox = SlackSandbox(ack_timeout=1.0, **options)
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


@contextlib.contextmanager
def bolt_app_on(sandbox: SlackSandbox) -> Iterator[App]:
    """A bolt App on the stand-in; its listener pool is ours so the end can join it."""
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bolt-listener")
    app = App(
        client=WebClient(base_url=sandbox.api_url, token=sandbox.bot_token),
        listener_executor=executor,
    )
    yield app
    executor.shutdown(wait=True)


@contextlib.contextmanager
def bolt_connector(
    sandbox: SlackSandbox, driver: SlackDriver
) -> Iterator[Callable[[App], SocketModeHandler]]:
    """Connects bolt apps over Socket Mode (websocket_client adapter), waiting for each to be seen."""
    handlers: list[SocketModeHandler] = []

    def connect(app: App) -> SocketModeHandler:
        opened = driver.connections()["opened_total"]
        handler = SocketModeHandler(app, app_token=sandbox.app_token)
        handlers.append(handler)
        handler.connect()
        driver.wait_for(
            lambda: driver.connections()["opened_total"] > opened, timeout=10, message="bolt to connect"
        )
        return handler

    yield connect
    for handler in handlers:
        # Stop reconnecting first, then let the server drop the socket: a client-side close races
        # with websocket-client's reader thread and can leave it in select() for 10 s
        # (see docs/sandbox-slack.md).
        handler.client.auto_reconnect_enabled = False
        handler.client.default_auto_reconnect_enabled = False
    driver.disconnect("abrupt")
    driver.wait_for(lambda: not driver.connections()["connections"], message="sockets to close")
    for handler in handlers:
        handler.close()
