"""Rate limits, injected faults and Block Kit limits, as a Slack client runs into them."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_world import ALICE, OPS, PROD

from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.slack import blocks as block_kit


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(text: str = "Approve", value: str = "a1", action_id: str = "approve") -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "value": value,
        "action_id": action_id,
    }


def test_a_429_carries_retry_after_and_slacks_body(web_client: WebClient, slack_driver: SlackDriver) -> None:
    slack_driver.fail_next("chat.update", retry_after=7)
    posted = web_client.chat_postMessage(channel=OPS, text="Running")

    with pytest.raises(SlackApiError) as limited:
        web_client.chat_update(channel=OPS, ts=posted["ts"], text="Succeeded")

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert limited.value.response.data == {"ok": False, "error": "ratelimited"}
    assert [c["status"] for c in slack_driver.calls("chat.update")] == [429]


def test_retry_handler_rides_through_a_429(slack_sandbox: SlackSandbox, slack_driver: SlackDriver) -> None:
    client = WebClient(
        base_url=slack_sandbox.api_url,
        token=slack_sandbox.bot_token,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    slack_driver.fail_next("chat.postMessage", retry_after=1)

    posted = client.chat_postMessage(channel=OPS, text="final: Succeeded")

    assert posted["ok"] is True
    assert [c["status"] for c in slack_driver.calls("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in slack_driver.messages(OPS)] == ["final: Succeeded"]


def test_post_message_is_limited_per_channel_after_a_burst(
    web_client: WebClient, slack_driver: SlackDriver
) -> None:
    for i in range(5):
        web_client.chat_postMessage(channel=OPS, text=f"burst {i}")

    with pytest.raises(SlackApiError) as limited:
        web_client.chat_postMessage(channel=OPS, text="one too many")

    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    assert web_client.chat_postMessage(channel=PROD, text="other channel is fine")["ok"] is True
    slack_driver.set_rate_limits(False)
    assert web_client.chat_postMessage(channel=OPS, text="limits off")["ok"] is True


def test_tier_limit_can_be_tightened(web_client: WebClient, slack_driver: SlackDriver) -> None:
    slack_driver.set_rate_limit("users.info", 2)

    web_client.users_info(user=ALICE)
    web_client.users_info(user=ALICE)
    with pytest.raises(SlackApiError) as limited:
        web_client.users_info(user=ALICE)

    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["Retry-After"]) == 30


def test_injected_server_error(web_client: WebClient, slack_driver: SlackDriver) -> None:
    slack_driver.fail_next("conversations.history", status=500, error="internal_error")

    with pytest.raises(SlackApiError) as failed:
        web_client.conversations_history(channel=OPS)

    assert failed.value.response.status_code == 500
    assert web_client.conversations_history(channel=OPS)["ok"] is True


def test_invalid_blocks_are_refused_with_slacks_errors(
    web_client: WebClient, slack_driver: SlackDriver
) -> None:
    with pytest.raises(SlackApiError) as refused:
        web_client.chat_postMessage(channel=OPS, text="x", blocks=[_section("y" * 3001)])

    assert refused.value.response["error"] == "invalid_blocks"
    assert refused.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    assert slack_driver.messages(OPS) == []


def test_blocks_too_long_together_and_long_text_truncated(
    web_client: WebClient, slack_driver: SlackDriver
) -> None:
    with pytest.raises(SlackApiError) as refused:
        web_client.chat_postMessage(channel=OPS, text="x", blocks=[_section("z" * 2900) for _ in range(5)])
    assert refused.value.response["error"] == "msg_blocks_too_long"

    web_client.chat_postMessage(channel=OPS, text="a" * 45000)
    assert len(slack_driver.messages(OPS)[0]["text"]) == 40000
    with pytest.raises(SlackApiError) as ephemeral:
        web_client.chat_postEphemeral(channel=OPS, user=ALICE, text="a" * 45000)
    assert ephemeral.value.response["error"] == "msg_too_long"


def test_modal_limits_are_checked_on_views_open(
    web_client: WebClient, slack_driver: SlackDriver, raw_socket: Any
) -> None:
    raw = raw_socket()
    trigger = slack_driver.send_command(user=ALICE, channel=OPS, command="/ops", text="rollback")[
        "trigger_id"
    ]
    raw.ack(raw.receive()["envelope_id"])
    too_long_title = {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []}

    with pytest.raises(SlackApiError) as refused:
        web_client.views_open(trigger_id=trigger, view=too_long_title)

    assert refused.value.response["error"] == "invalid_arguments"
    assert refused.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([_section("ok")] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
            "must be one of: plain_text [json-pointer:/blocks/0/text/type]",
        ),
        (
            [{"type": "actions", "elements": [_button(text="b" * 76)]}],
            "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
        ),
        (
            [{"type": "actions", "elements": [_button(value="v" * 2001)]}],
            "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
        ),
        (
            [{"type": "actions", "elements": [_button(action_id="a" * 256)]}],
            "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
        ),
        (
            [{**_section("x"), "block_id": "b" * 256}],
            "must be less than 256 characters [json-pointer:/blocks/0/block_id]",
        ),
        ([{"type": "carousel"}], "failed to match all allowed schemas [json-pointer:/blocks/0]"),
        ([_section("")], "must be more than 0 characters [json-pointer:/blocks/0/text/text]"),
    ],
)
def test_message_block_limits(blocks: list[dict[str, Any]], problem: str) -> None:
    assert block_kit.check_message_blocks(blocks) == [problem]


def test_limits_at_the_edge_pass() -> None:
    blocks = [_section("s" * 3000)] * 49 + [{"type": "actions", "elements": [_button("b" * 75, "v" * 2000)]}]

    assert block_kit.check_message_blocks(blocks) == []
    assert (
        block_kit.check_view(
            {
                "type": "modal",
                "title": {"type": "plain_text", "text": "t" * 24},
                "private_metadata": "m" * 3000,
                "blocks": [_section("x")] * 100,
            }
        )
        == []
    )
    assert block_kit.check_view(
        {
            "type": "modal",
            "title": {"type": "plain_text", "text": "t"},
            "private_metadata": "m" * 3001,
            "blocks": [_section("x")] * 101,
        }
    ) == [
        "must be less than 3001 characters [json-pointer:/view/private_metadata]",
        "no more than 100 items allowed [json-pointer:/view/blocks]",
    ]
