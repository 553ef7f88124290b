"""Socket Mode transport: bolt's websocket_client adapter with a bounded read timeout.

Why not the adapter as shipped: slack_sdk's websocket_client runs each session with
`run_forever()` and no `ping_timeout`, so websocket-client reads with a fixed 10 s `select`
timeout. When Slack asks for a refresh (`{"type": "disconnect"}`), the old session is closed
from another thread; if that thread consumes the close reply, the reader notices only when its
`select` times out, and the new session starts up to 10 s later. Commands typed in that gap
fail in Slack with `dispatch_failed` (seen about one refresh in six against the stand-in).
Passing a `ping_timeout` bounds that wait (and adds a pong check that detects a dead peer).
Everything else — reconnects, acks, bolt dispatch — is the library's own behaviour.
"""

from __future__ import annotations

import time

from slack_bolt import App
from slack_bolt.adapter.socket_mode import websocket_client as bolt_websocket_client
from slack_sdk import WebClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.websocket_client import SocketModeClient

from bot import metrics

DEFAULT_PING_INTERVAL = 10.0
DEFAULT_PING_TIMEOUT = 2.0


class PromptSocketModeClient(SocketModeClient):
    """A SocketModeClient whose sessions read with `ping_timeout` instead of a fixed 10 s."""

    ping_timeout: float = DEFAULT_PING_TIMEOUT

    def _run_current_session(self) -> None:
        session = self.current_session
        if session is None:
            return
        try:
            self.logger.info("Starting to receive messages from a new connection")
            session.run_forever(ping_interval=self.ping_interval, ping_timeout=self.ping_timeout)
            self.logger.info("Stopped receiving messages from a connection")
        except Exception as exc:
            self.logger.exception("Socket Mode session failed: %s", type(exc).__name__)
            # closing lets the monitor see the dead session and reconnect
            if self.current_session is not None:
                self.current_session.close()


class SocketModeHandler(bolt_websocket_client.SocketModeHandler):
    """bolt's websocket_client handler, built on `PromptSocketModeClient`."""

    def __init__(
        self,
        app: App,
        *,
        app_token: str,
        web_client: WebClient,
        ping_interval: float = DEFAULT_PING_INTERVAL,
        ping_timeout: float = DEFAULT_PING_TIMEOUT,
        concurrency: int = 10,
    ) -> None:
        # The parent's __init__ would start a stock client's threads only to replace it,
        # so the same three fields are set here directly.
        if not 0 < ping_timeout < ping_interval:
            raise ValueError("ping_timeout must be positive and shorter than ping_interval")
        self.app = app
        self.app_token = app_token
        self.client = PromptSocketModeClient(
            app_token=app_token,
            logger=app.logger,
            web_client=web_client,
            ping_interval=ping_interval,
            concurrency=concurrency,
        )
        self.client.ping_timeout = ping_timeout
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started = time.perf_counter()
        super().handle(client, req)  # runs the listener, which acks, then sends the ack
        metrics.ACK_SECONDS.observe(time.perf_counter() - started)

    def is_connected(self) -> bool:
        return bool(self.client.is_connected())
