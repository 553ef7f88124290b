"""Buttons, modals, mentions, DMs and response_url, driven as a person would and answered by bolt."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from slack_bolt import Ack, App, Respond, Say
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk import WebClient
from slack_world import ALICE, BOB, OPS, RawSocket

from bot.sandbox.slack import SandboxRequestError, SlackDriver, SlackSandbox

APPROVAL_BLOCKS = [
    {"type": "section", "block_id": "card", "text": {"type": "mrkdwn", "text": "Rollback *payments* to 41?"}},
    {
        "type": "actions",
        "block_id": "decide",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "value": "apr-7",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "reject",
                "value": "apr-7",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    },
]

MODAL = {
    "type": "modal",
    "callback_id": "rollback-reason",
    "private_metadata": "apr-7",
    "title": {"type": "plain_text", "text": "Rollback"},
    "submit": {"type": "plain_text", "text": "Request"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        },
    ],
}


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_button_click_reaches_bolt_and_respond_replaces_the_card(
    bolt_app: App,
    connect_bolt: Callable[[App], SocketModeHandler],
    slack_driver: SlackDriver,
    web_client: WebClient,
) -> None:
    clicks: list[dict[str, Any]] = []

    @bolt_app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        clicks.append(body)
        respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")

    connect_bolt(bolt_app)
    card = web_client.chat_postMessage(channel=OPS, text="Rollback payments?", blocks=APPROVAL_BLOCKS)["ts"]

    slack_driver.click(user=BOB, channel=OPS, ts=card, action_id="approve")

    slack_driver.wait_for(
        lambda: slack_driver.messages(OPS)[0]["text"] == f"Approved by <@{BOB}>",
        message="the card to be replaced",
    )
    assert "blocks" not in slack_driver.messages(OPS)[0]  # the buttons are gone
    body = clicks[0]
    assert body["actions"][0] | {"action_ts": "-"} == {
        "action_id": "approve",
        "block_id": "decide",
        "type": "button",
        "value": "apr-7",
        "style": "primary",
        "text": {"type": "plain_text", "text": "Approve"},
        "action_ts": "-",
    }
    assert body["container"] == {
        "type": "message",
        "message_ts": card,
        "channel_id": OPS,
        "is_ephemeral": False,
    }
    assert body["message"]["blocks"] == APPROVAL_BLOCKS
    with pytest.raises(SandboxRequestError) as gone:
        slack_driver.click(user=ALICE, channel=OPS, ts=card, action_id="approve")
    assert gone.value.error == "action_not_found"


def test_response_url_works_five_times_then_says_used_url(
    raw_socket: Callable[[], RawSocket], slack_driver: SlackDriver
) -> None:
    raw = raw_socket()
    url = slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text="runs")["response_url"]
    raw.ack(raw.receive()["envelope_id"])

    answers = [_post(url, {"text": f"page {i}"}) for i in range(5)]
    sixth = _post(url, {"text": "page 6"})
    in_channel = _post(
        slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text="x")["response_url"],
        {"text": "for everyone", "response_type": "in_channel"},
    )

    assert [status for status, _ in answers] == [200] * 5
    assert sixth == (404, {"ok": False, "error": "used_url"})
    assert in_channel[0] == 200
    assert [e["text"] for e in slack_driver.ephemerals(user=ALICE)] == [f"page {i}" for i in range(5)]
    assert [m["text"] for m in slack_driver.messages(OPS)] == ["for everyone"]


def test_response_url_refuses_invalid_blocks(
    raw_socket: Callable[[], RawSocket], slack_driver: SlackDriver
) -> None:
    raw = raw_socket()
    url = slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text="x")["response_url"]
    raw.ack(raw.receive()["envelope_id"])

    status, answer = _post(
        url, {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 200}}]}
    )

    assert (status, answer["error"]) == (400, "invalid_blocks")
    assert slack_driver.ephemerals(user=ALICE) == []


def test_modal_submission_with_errors_then_success(
    bolt_app: App, connect_bolt: Callable[[App], SocketModeHandler], slack_driver: SlackDriver
) -> None:
    submitted: list[dict[str, Any]] = []

    @bolt_app.command("/ops")
    def open_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @bolt_app.view("rollback-reason")
    def on_submit(ack: Ack, view: dict[str, Any]) -> None:
        reason = view["state"]["values"]["reason"]["text"]["value"]
        submitted.append(view)
        if len(reason) < 5:
            ack(response_action="errors", errors={"reason": "Say a little more"})
        else:
            ack()

    connect_bolt(bolt_app)
    slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text="rollback payments")
    modal = slack_driver.wait_for(lambda: slack_driver.views(user=ALICE), message="the modal")[0]
    assert modal["open"] is True and modal["view"]["callback_id"] == "rollback-reason"

    slack_driver.submit_view(user=ALICE, view_id=modal["view"]["id"], values={"reason": {"text": "bad"}})
    slack_driver.wait_for(lambda: slack_driver.views(user=ALICE)[0]["errors"], message="the field error")
    assert slack_driver.views(user=ALICE)[0] | {"view": None} == {
        "user": ALICE,
        "open": True,
        "errors": {"reason": "Say a little more"},
        "view": None,
    }

    slack_driver.submit_view(
        user=ALICE, view_id=modal["view"]["id"], values={"reason": {"text": "bad deploy 42"}}
    )
    slack_driver.wait_for(lambda: not slack_driver.views(user=ALICE)[0]["open"], message="the modal to close")
    assert submitted[-1]["private_metadata"] == "apr-7"
    assert submitted[-1]["state"]["values"]["reason"]["text"] == {
        "type": "plain_text_input",
        "value": "bad deploy 42",
    }


def test_mention_and_dm_reach_bolt_and_bot_posts_echo_in_dm(
    bolt_app: App,
    connect_bolt: Callable[[App], SocketModeHandler],
    slack_driver: SlackDriver,
    slack_sandbox: SlackSandbox,
) -> None:
    events: list[dict[str, Any]] = []

    @bolt_app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Say) -> None:
        events.append(event)
        say(text="on it", thread_ts=event["ts"])

    @bolt_app.event("message")
    def on_dm(event: dict[str, Any], say: Say) -> None:
        events.append(event)
        if event.get("channel_type") == "im" and not event.get("bot_id"):
            say(f"you said {event['text']}")

    connect_bolt(bolt_app)
    mention = slack_driver.mention(user=ALICE, channel=OPS, text="status nightly-x7")
    dm = slack_driver.dm(user=BOB, text="help")

    thread = slack_driver.wait_for(
        lambda: (
            len(slack_driver.replies(OPS, mention["ts"])) == 2 and slack_driver.replies(OPS, mention["ts"])
        ),
        message="the threaded answer",
    )
    assert thread[0]["text"] == f"<@{slack_sandbox.bot_user_id}> status nightly-x7"
    assert thread[1]["text"] == "on it"
    slack_driver.wait_for(
        lambda: [m["text"] for m in slack_driver.messages(dm["channel"])] == ["help", "you said help"],
        message="the DM answer",
    )
    # Slack also tells the app about its own DM post: bolt acks it and its self-event filter drops it.
    acks = slack_driver.wait_for(
        lambda: (
            len(slack_driver.acks()) == 3
            and all(a["acked"] for a in slack_driver.acks())
            and slack_driver.acks()
        ),
        message="three events acked",
    )
    assert sorted(a["payload_type"] for a in acks) == [
        "event_callback/app_mention",
        "event_callback/message",
        "event_callback/message",
    ]
    assert not any(e.get("bot_id") for e in events)
