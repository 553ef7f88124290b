"""The stand-in's web page in a real browser (Debian's chromium, headless, through Playwright).

A bolt app on Socket Mode answers `/ops` with a Block Kit card; a person picks who they are,
types the command in the page's message box, sees the card drawn as Slack draws it, clicks its
primary button, and sees the app's thread reply and edit arrive live through the event stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from slack_bolt import Ack, App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk import WebClient
from slack_world import ALICE, OPS

from bot.sandbox.slack import SlackDriver, SlackSandbox

CHROMIUM = "/usr/bin/chromium"
WHEN = 1700000000  # 2023-11-14 22:13:20 UTC, 2023-11-15 07:13 in Tokyo

CARD_BLOCKS: list[dict[str, Any]] = [
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Deploy *payments* for <@U0ALICE> :rocket:"},
    },
    {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"asked <!date^{WHEN}^{{date_short}} {{time}}|2023-11-14 22:13 UTC>"}
        ],
    },
    {
        "type": "actions",
        "block_id": "decide",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "value": "deploy-1",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "reject",
                "value": "deploy-1",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    },
]


@pytest.fixture
def browser(slack_sandbox: SlackSandbox) -> Iterator[Browser]:
    """Started after the sandbox and stopped before it, so its thread check sees no browser threads."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, slack_sandbox: SlackSandbox) -> Iterator[Page]:
    # A fixed locale and time zone: the page must show dates in the viewer's zone, not the server's.
    context = browser.new_context(
        locale="en-US", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(slack_sandbox.web_url) else elsewhere.append(r.url))
    yield page
    context.close()
    assert elsewhere == [], f"the page fetched from outside the sandbox: {elsewhere}"


def test_a_command_typed_in_the_page_shows_the_card_and_a_click_brings_the_reply_live(
    page: Page,
    slack_sandbox: SlackSandbox,
    slack_driver: SlackDriver,
    bolt_app: App,
    connect_bolt: Callable[[App], SocketModeHandler],
    tmp_path: Path,
) -> None:
    commands: list[dict[str, Any]] = []
    clicks: list[dict[str, Any]] = []

    @bolt_app.command("/ops")
    def ops(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack(text=f":hourglass_flowing_sand: Working on `{command['text']}`")  # ephemeral, for the typist
        commands.append(command)
        client.chat_postMessage(channel=command["channel_id"], text="Deploy payments?", blocks=CARD_BLOCKS)

    @bolt_app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        clicks.append(body)
        card = body["container"]["message_ts"]
        who = body["user"]["id"]
        client.chat_postMessage(channel=OPS, thread_ts=card, text=f":white_check_mark: Approved by <@{who}>")
        client.chat_update(channel=OPS, ts=card, text="Deploying payments", blocks=CARD_BLOCKS[:2])

    connect_bolt(bolt_app)
    page.goto(slack_sandbox.web_url)
    expect(page.locator("#team-name")).to_have_text("Sandbox")
    expect(page.locator("#live")).to_have_class("live live-on")
    page.select_option("#me-picker", ALICE)
    page.locator("[data-open-channel='C0OPS']").click()
    expect(page.locator("#channel-title")).to_contain_text("ops")

    box = page.locator("#composer-input")
    box.fill("/ops hello")
    box.press("Enter")

    card = page.locator("#messages .message:not(.message-ephemeral)", has_text="Deploy")
    expect(card).to_be_visible()
    assert commands[0]["command"] == "/ops" and commands[0]["text"] == "hello"
    assert commands[0]["user_id"] == ALICE and commands[0]["channel_id"] == OPS
    expect(card.locator(".author")).to_have_text("chatops")
    expect(card.locator(".badge")).to_have_text("APP")
    expect(card.locator(".section-text b")).to_have_text("payments")
    expect(card.locator(".section-text .mention")).to_have_text("@alice")
    expect(card.locator(".section-text .emoji")).to_have_text("🚀")
    expect(card.locator(".block-context time")).to_have_text("Nov 15, 2023 7:13 AM")
    assert "<!date" not in card.inner_text() and "{date_short}" not in card.inner_text()
    expect(card.locator(".btn-primary")).to_have_text("Approve")
    expect(card.locator(".btn-danger")).to_have_text("Reject")

    ephemeral = page.locator("#messages .message-ephemeral")
    expect(ephemeral).to_contain_text("Only visible to you")
    expect(ephemeral.locator(".text")).to_contain_text("⏳ Working on hello")
    expect(ephemeral.locator("code")).to_have_text("hello")

    card.locator(".btn-primary").click()

    # The app's reply and edit arrive through the event stream: the page is not reloaded.
    expect(card.locator(".thread-count")).to_have_text("1 reply")
    expect(card.locator(".edited")).to_have_text("(edited)")
    expect(card.locator(".btn")).to_have_count(0)
    assert clicks[0]["actions"][0]["action_id"] == "approve" and clicks[0]["user"]["id"] == ALICE
    card.locator(".thread-link").click()
    reply = page.locator("#thread-pane .message", has_text="Approved by")
    expect(reply).to_be_visible()
    expect(reply.locator(".mention")).to_have_text("@alice")
    expect(reply.locator(".emoji")).to_have_text("✅")

    # A reply posted while the thread is open shows in the pane too.
    slack_driver.post(user=ALICE, channel=OPS, text="thanks!", thread_ts=clicks[0]["container"]["message_ts"])
    expect(page.locator("#thread-pane .message", has_text="thanks!")).to_be_visible()

    page.screenshot(path=str(tmp_path / "slack-web-page.png"), full_page=True)
    assert (tmp_path / "slack-web-page.png").stat().st_size > 10_000
