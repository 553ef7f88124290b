"""The people, channels and bare Socket Mode client shared by the Slack sandbox tests."""

from __future__ import annotations

import json
from typing import Any

import websocket
from slack_sdk import WebClient

from bot.sandbox.slack import SlackSandbox

ALICE = "U0ALICE"
BOB = "U0BOB"
OPS = "C0OPS"
PROD = "C0PROD"


class RawSocket:
    """A bare Socket Mode client: opens a ticket URL, reads envelopes, acks only when told to."""

    def __init__(self, sandbox: SlackSandbox) -> None:
        client = WebClient(base_url=sandbox.api_url, token=sandbox.app_token)
        self.url = client.apps_connections_open(app_token=sandbox.app_token)["url"]
        self.ws = websocket.create_connection(self.url, timeout=5)
        self.hello = json.loads(self.ws.recv())

    def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        self.ws.settimeout(timeout)
        return dict(json.loads(self.ws.recv()))

    def ack(self, envelope_id: str, payload: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"envelope_id": envelope_id}
        if payload is not None:
            message["payload"] = payload
        self.ws.send(json.dumps(message))

    def close(self) -> None:
        self.ws.close()
