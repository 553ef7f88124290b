"""What the web page needs from the stand-in's server, without a browser: its files with the right
content types (and nothing else of the package), the directory for its sidebar, plain posts, and
an emoji table that draws every shortcode the bot writes."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from slack_world import ALICE, OPS

from bot.sandbox.slack import SandboxRequestError, SlackDriver, SlackSandbox

ROOT = Path(__file__).resolve().parents[3]
UI = ROOT / "bot" / "sandbox" / "slack" / "ui"


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def test_the_page_and_its_files_are_served_with_their_content_types(slack_sandbox: SlackSandbox) -> None:
    status, kind, body = _get(slack_sandbox.web_url)
    assert (status, kind) == (200, "text/html; charset=utf-8")
    page = body.decode()
    scripts = re.findall(r'src="/ui/([^"]+)"', page)
    styles = re.findall(r'href="/ui/([^"]+\.css)"', page)
    assert scripts == ["emoji.js", "mrkdwn.js", "blocks.js", "app.js"]
    assert styles == ["app.css"]
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page fetches nothing from elsewhere"
    for name in scripts:
        assert _get(f"{slack_sandbox.web_url}ui/{name}")[:2] == (200, "text/javascript; charset=utf-8")
    assert _get(f"{slack_sandbox.web_url}ui/app.css")[:2] == (200, "text/css; charset=utf-8")
    assert _get(f"{slack_sandbox.web_url}ui/favicon.svg")[:2] == (200, "image/svg+xml")


@pytest.mark.parametrize(
    "path",
    ["ui/missing.js", "ui/../server.py", "ui/%2e%2e/server.py", "ui/..%2fserver.py", "ui/index", "ui/"],
)
def test_nothing_else_of_the_package_is_served(slack_sandbox: SlackSandbox, path: str) -> None:
    assert _get(slack_sandbox.web_url + path)[0] == 404


def test_the_directory_lists_people_channels_and_the_workspace_without_messages(
    slack_sandbox: SlackSandbox, slack_driver: SlackDriver
) -> None:
    slack_driver.post(user=ALICE, channel=OPS, text="morning")
    directory = slack_driver.directory()
    assert directory["team"] == {"id": "T0SANDBOX", "domain": "sandbox", "name": "Sandbox"}
    assert directory["bot"]["name"] == "chatops"
    assert {"U0ALICE", "U0BOB", "U0SANDBOT"} <= {u["id"] for u in directory["users"]}
    ops = next(c for c in directory["channels"] if c["id"] == OPS)
    assert ops["name"] == "ops" and "messages" not in ops
    assert [g["handle"] for g in directory["usergroups"]] == ["sre"]
    assert slack_driver.info()["web_url"] == slack_sandbox.web_url


def test_a_plain_post_is_stored_as_the_person_wrote_it_and_the_app_is_not_told(
    slack_sandbox: SlackSandbox, slack_driver: SlackDriver
) -> None:
    parent = slack_driver.post(user=ALICE, channel=OPS, text="is prod ok?")
    reply = slack_driver.post(user=ALICE, channel=OPS, text="never mind", thread_ts=parent["ts"])
    messages = slack_driver.messages(OPS)
    assert [(m["user"], m["text"], m["reply_count"]) for m in messages] == [(ALICE, "is prod ok?", 1)]
    assert slack_driver.replies(OPS, parent["ts"])[1]["ts"] == reply["ts"]
    assert slack_driver.acks() == []  # no envelope: the app subscribes to mentions and DMs only
    with pytest.raises(SandboxRequestError) as refused:
        slack_driver.post(user=ALICE, channel=ALICE, text="hi")  # a DM goes through dm()
    assert refused.value.error == "use_dm"


def test_a_named_workspace_shows_its_name() -> None:
    with SlackSandbox(team_name="Acme Ops") as sandbox:
        assert SlackDriver(sandbox.control_url).directory()["team"]["name"] == "Acme Ops"


def test_every_emoji_the_bot_writes_has_a_picture_on_the_page() -> None:
    table = set(re.findall(r'^\s+"([^"]+)": "', (UI / "emoji.js").read_text(encoding="utf-8"), re.M))
    written: set[str] = set()
    for source in (ROOT / "bot").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        # `:name:` standing alone (not inside an ARN such as arn:aws:iam::...)
        written |= set(re.findall(r"(?<![\w:])(?<!:):([a-z][a-z0-9_+-]*):(?![\w:])", text))
    written -= {"memory"}  # SQLite's ":memory:" database, not an emoji
    assert {"white_check_mark", "x", "hourglass_flowing_sand", "arrows_counterclockwise"} <= written
    assert written <= table, f"shortcodes the page would show as text: {sorted(written - table)}"
