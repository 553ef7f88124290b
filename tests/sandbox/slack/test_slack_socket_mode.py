"""Socket Mode as a bolt app and a bare WebSocket client experience it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from slack_bolt import Ack, App, Respond, Say
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_world import ALICE, BOB, OPS, RawSocket

from bot.sandbox.slack import SlackDriver, SlackSandbox


def _answer_ops(app: App) -> None:
    @app.command("/ops")
    def ops(ack: Ack, respond: Respond, say: Say, command: dict[str, Any]) -> None:
        ack(f"working on `{command['text']}`")
        respond(f"only you see this, {command['user_name']}")
        say(f"<@{command['user_id']}> ran {command['text']}")


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("text", "") for m in messages]


def test_bolt_app_answers_a_slash_command_in_channel_and_ephemerally(
    bolt_app: App,
    connect_bolt: Callable[[App], SocketModeHandler],
    slack_driver: SlackDriver,
    slack_sandbox: SlackSandbox,
) -> None:
    _answer_ops(bolt_app)
    connect_bolt(bolt_app)

    sent = slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text="run nightly -p a=1")

    message = slack_driver.wait_for(lambda: slack_driver.messages(OPS), message="the channel reply")[0]
    assert message["text"] == f"<@{ALICE}> ran run nightly -p a=1"
    assert message["user"] == slack_sandbox.bot_user_id
    assert message["bot_id"] == slack_sandbox.bot_id
    seen = slack_driver.wait_for(
        lambda: len(slack_driver.ephemerals(user=ALICE)) == 2 and slack_driver.ephemerals(user=ALICE),
        message="two ephemerals",
    )
    assert sorted(_texts(seen)) == ["only you see this, alice", "working on `run nightly -p a=1`"]
    assert slack_driver.ephemerals(user=BOB) == []
    ack = next(a for a in slack_driver.acks() if a["envelope_id"] == sent["envelope_id"])
    assert ack["acked"] is True and ack["type"] == "slash_commands"
    assert 0 <= ack["latency_ms"] < 1000


@pytest.mark.parametrize("mode", ["refresh", "close", "abrupt"])
def test_bolt_app_survives_a_forced_disconnect(
    mode: str, bolt_app: App, connect_bolt: Callable[[App], SocketModeHandler], slack_driver: SlackDriver
) -> None:
    _answer_ops(bolt_app)
    connect_bolt(bolt_app)
    opened = slack_driver.connections()["opened_total"]

    assert slack_driver.disconnect(mode) == 1
    # After a refresh, websocket-client sometimes leaves its reader in select() for 10 s before the
    # new socket opens (a race between WebSocketApp.close() and run_forever): wait for the socket.
    slack_driver.wait_for(
        lambda: (
            slack_driver.connections()["opened_total"] > opened
            and any(not c["draining"] for c in slack_driver.connections()["connections"])
        ),
        timeout=15,
        message="the app to reconnect",
    )
    slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text=f"after {mode}")

    slack_driver.wait_for(
        lambda: f"<@{ALICE}> ran after {mode}" in _texts(slack_driver.messages(OPS)), message="the reply"
    )


def test_connection_gets_hello_and_tickets_are_single_use(
    raw_socket: Callable[[], RawSocket], slack_sandbox: SlackSandbox
) -> None:
    first = raw_socket()
    assert first.hello["type"] == "hello"
    assert first.hello["num_connections"] == 1
    assert first.hello["connection_info"] == {"app_id": slack_sandbox.app_id}
    second = raw_socket()
    assert second.hello["num_connections"] == 2

    import websocket

    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(first.url, timeout=5)


def test_each_envelope_goes_to_exactly_one_connection(
    raw_socket: Callable[[], RawSocket], slack_driver: SlackDriver
) -> None:
    sockets = [raw_socket(), raw_socket()]
    sent = {
        slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text=str(i))["envelope_id"]
        for i in range(6)
    }

    received: list[str] = []
    for raw in sockets:
        for _ in range(3):
            envelope = raw.receive()
            raw.ack(envelope["envelope_id"])
            received.append(envelope["envelope_id"])

    assert sorted(received) == sorted(sent)
    slack_driver.wait_for(lambda: all(a["acked"] for a in slack_driver.acks()), message="all acks recorded")


def test_slash_command_envelope_looks_like_slacks(
    raw_socket: Callable[[], RawSocket], slack_driver: SlackDriver, slack_sandbox: SlackSandbox
) -> None:
    raw = raw_socket()
    sent = slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text="whoami")

    envelope = raw.receive()

    assert envelope["type"] == "slash_commands"
    assert envelope["accepts_response_payload"] is True
    payload = envelope["payload"]
    assert {
        k: payload[k]
        for k in (
            "team_id",
            "channel_id",
            "channel_name",
            "user_id",
            "user_name",
            "command",
            "text",
            "api_app_id",
            "is_enterprise_install",
        )
    } == {
        "team_id": slack_sandbox.team_id,
        "channel_id": OPS,
        "channel_name": "ops",
        "user_id": ALICE,
        "user_name": "alice",
        "command": "/ops",
        "text": "whoami",
        "api_app_id": slack_sandbox.app_id,
        "is_enterprise_install": "false",
    }
    assert payload["response_url"] == sent["response_url"]
    assert payload["trigger_id"] == sent["trigger_id"]
    raw.ack(envelope["envelope_id"])


def test_unacked_event_is_redelivered_with_retry_attempt(
    raw_socket: Callable[[], RawSocket], slack_driver: SlackDriver
) -> None:
    raw = raw_socket()
    sent = slack_driver.mention(user=ALICE, channel=OPS, text="status wf-1")

    first = raw.receive()
    retry = raw.receive(timeout=5)  # the sandbox fixture's ack timeout is 1 s
    raw.ack(retry["envelope_id"])

    assert first["type"] == "events_api" and first["retry_attempt"] == 0
    assert retry["retry_attempt"] == 1 and retry["retry_reason"] == "timeout"
    assert retry["envelope_id"] != first["envelope_id"]
    assert retry["payload"]["event_id"] == first["payload"]["event_id"] == sent["event_id"]
    assert retry["payload"]["event"]["type"] == "app_mention"

    def ack_records() -> list[tuple[int, bool]]:
        return [
            (a["retry_attempt"], a["acked"])
            for a in slack_driver.acks()
            if a["type"] == "events_api" and a["outcome"] != "delivered"
        ]

    # the ack travels over the socket while we read: wait for the sandbox to record it
    slack_driver.wait_for(
        lambda: ack_records() == [(0, False), (1, True)],
        message=lambda: f"ack records [(0, False), (1, True)], have {ack_records()}",
    )


def test_event_never_acked_is_retried_three_times(
    raw_socket: Callable[[], RawSocket], slack_driver: SlackDriver
) -> None:
    raw = raw_socket()
    slack_driver.dm(user=ALICE, text="help")

    attempts = [raw.receive(timeout=5)["retry_attempt"] for _ in range(4)]

    assert attempts == [0, 1, 2, 3]
    slack_driver.wait_for(
        lambda: len([a for a in slack_driver.acks() if a["outcome"] == "timeout"]) == 4, message="4 timeouts"
    )


def test_unacked_slash_command_shows_the_user_operation_timeout(
    raw_socket: Callable[[], RawSocket], slack_driver: SlackDriver
) -> None:
    raw = raw_socket()
    slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text="slow")
    envelope = raw.receive()

    seen = slack_driver.wait_for(lambda: slack_driver.ephemerals(user=ALICE), message="Slack's error")
    raw.ack(envelope["envelope_id"])  # too late: Slack has already given up

    assert seen[0]["text"] == '/ops failed with the error "operation_timeout"'
    record = slack_driver.acks()[0]
    assert record["acked"] is False and record["outcome"] == "timeout"


def test_app_token_only_opens_connections_and_at_most_ten(
    raw_socket: Callable[[], RawSocket], slack_sandbox: SlackSandbox
) -> None:
    with pytest.raises(SlackApiError) as bot_token_used:
        WebClient(base_url=slack_sandbox.api_url).apps_connections_open(app_token=slack_sandbox.bot_token)
    assert bot_token_used.value.response["error"] == "not_allowed_token_type"

    for _ in range(10):
        raw_socket()
    with pytest.raises(SlackApiError) as eleventh:
        WebClient(base_url=slack_sandbox.api_url).apps_connections_open(app_token=slack_sandbox.app_token)
    assert eleventh.value.response["error"] == "too_many_websockets"
