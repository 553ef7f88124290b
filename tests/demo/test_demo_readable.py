"""Slack markup as the terminal console prints it: every construct the bot writes, read by a person."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.demo.emoji import parse_table, shortcodes
from bot.demo.readable import Names, Readable

TOKYO = ZoneInfo("Asia/Tokyo")
WHEN = 1700000000  # 2023-11-14 22:13:20 UTC: Wednesday 2023-11-15 07:13:20 in Tokyo
NAMES = Names(
    users={"U0ALICE": "alice", "U0SANDBOT": "chatops"},
    channels={"C0OPS": "ops", "C0PRODOPS": "prod-ops"},
    groups={"S0SRE": "sre"},
)
ROOT = Path(__file__).resolve().parents[2]
STARTED = f"<!date^{WHEN}^{{date_short_pretty}} {{time}}|2023-11-14 22:13 UTC>"


def reader(*, now: datetime | None = None, ansi: bool = False) -> Readable:
    return Readable(names=NAMES, tz=TOKYO, now=now or datetime(2023, 11, 15, 12, 0, tzinfo=TOKYO), ansi=ansi)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<@U0ALICE> asked", "@alice asked"),
        ("<@U0NOBODY|nobody>", "@nobody"),
        ("<@U0NOBODY>", "@U0NOBODY"),
        ("accepted only in <#C0PRODOPS>", "accepted only in #prod-ops"),
        ("<#C0OPS|old-name>", "#ops"),
        ("<#C0GONE|gone>", "#gone"),
        ("<!subteam^S0SRE|@sre-old> on call", "@sre on call"),
        ("<!subteam^S0OTHER|@devs>", "@devs"),
        ("<!subteam^S0OTHER>", "@S0OTHER"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
    ],
)
def test_mentions_read_as_names_from_the_directory(text: str, shown: str) -> None:
    assert reader().mrkdwn(text) == shown


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("{date_num}", "2023-11-15"),
        ("{date}", "November 15th, 2023"),
        ("{date_short}", "Nov 15, 2023"),
        ("{date_long}", "Wednesday, November 15th, 2023"),
        ("{date_pretty}", "Today"),
        ("{date_short_pretty} {time}", "Today 07:13"),
        ("{date_long_pretty} at {time_secs}", "Today at 07:13:20"),
        ("started {date_short_pretty}", "started today"),
        ("{ago}", "5 hours ago"),
    ],
)
def test_dates_read_in_the_readers_time_zone(template: str, shown: str) -> None:
    assert reader().mrkdwn(f"<!date^{WHEN}^{template}|2023-11-14 22:13 UTC>") == shown


def test_pretty_dates_say_yesterday_and_tomorrow_and_the_date_further_away() -> None:
    text = f"<!date^{WHEN}^{{date_pretty}}|fallback>"
    assert reader(now=datetime(2023, 11, 16, 9, 0, tzinfo=TOKYO)).mrkdwn(text) == "Yesterday"
    assert reader(now=datetime(2023, 11, 14, 9, 0, tzinfo=TOKYO)).mrkdwn(text) == "Tomorrow"
    assert reader(now=datetime(2024, 1, 1, tzinfo=TOKYO)).mrkdwn(text) == "November 15th, 2023"


def test_a_date_falls_back_to_its_text_when_it_cannot_be_read() -> None:
    assert reader().mrkdwn(f"<!date^{WHEN}^{{no_such_token}}|the fallback>") == "the fallback"
    assert reader().mrkdwn("<!date^soon^{date}|next week>") == "next week"
    assert reader().mrkdwn(f"<!date^{WHEN}>") == "Nov 15, 2023 07:13"  # Slack's default format
    linked = reader().mrkdwn(f"<!date^{WHEN}^{{date_num}}^https://example.com/a|x>")
    assert linked == "2023-11-15 (https://example.com/a)"


def test_dates_default_to_the_machines_local_zone() -> None:
    local = datetime.fromtimestamp(WHEN).astimezone()
    assert (
        Readable(names=NAMES).mrkdwn(f"<!date^{WHEN}^{{date_num}} {{time}}|x>") == f"{local:%Y-%m-%d %H:%M}"
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<https://argo.example/runs/1|the run>", "the run (https://argo.example/runs/1)"),
        ("see <https://argo.example/runs/1>", "see https://argo.example/runs/1"),
        ("<https://x.example/?a=1&amp;b=2|a &amp; b>", "a & b (https://x.example/?a=1&b=2)"),
        ("<mailto:ops@example.com>", "ops@example.com"),
        ("<mailto:ops@example.com|write to ops>", "write to ops (mailto:ops@example.com)"),
        ("<not a link>", "<not a link>"),
    ],
)
def test_links_read_as_label_and_address(text: str, shown: str) -> None:
    assert reader().mrkdwn(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (":white_check_mark: done", "✅ done"),
        (":x: :warning: :hourglass_flowing_sand:", "❌ ⚠️ ⏳"),
        (":+1::skin-tone-3:", "👍"),
        (":no_such_emoji_here: stays", ":no_such_emoji_here: stays"),
        ("at 10:30:45 nothing changes", "at 10:30:45 nothing changes"),
    ],
)
def test_emoji_shortcodes_become_characters(text: str, shown: str) -> None:
    assert reader().mrkdwn(text) == shown


def test_plain_text_draws_emoji_unless_told_not_to_and_never_reads_markup() -> None:
    r = reader()
    assert r.text_object({"type": "plain_text", "text": ":rocket: *Deploy*"}) == "🚀 *Deploy*"
    assert r.text_object({"type": "plain_text", "text": ":rocket:", "emoji": False}) == ":rocket:"


def test_style_markers_are_dropped_off_a_terminal() -> None:
    text = "You are *alice*, _maybe_ ~not~ *_both_*"
    assert reader().mrkdwn(text) == "You are alice, maybe not both"


def test_style_markers_become_ansi_on_a_terminal() -> None:
    shown = reader(ansi=True).mrkdwn("*bold* _italic_ ~strike~")
    assert shown == "\x1b[1mbold\x1b[22m \x1b[3mitalic\x1b[23m \x1b[9mstrike\x1b[29m"


def test_words_with_underscores_and_stars_inside_stay_as_written() -> None:
    text = "db_migration_v2 uses 2*3*4 and :large_yellow_circle: is yellow"
    assert reader().mrkdwn(text) == "db_migration_v2 uses 2*3*4 and 🟡 is yellow"


def test_code_keeps_its_backticks_and_its_content_but_mentions_read_as_names() -> None:
    assert reader().mrkdwn("Submitted `db-migration-x7k2p` by `<@U0ALICE>`") == (
        "Submitted `db-migration-x7k2p` by `@alice`"
    )
    assert reader().mrkdwn("ask an admin for `audit, get` and `*not bold* :x:`") == (
        "ask an admin for `audit, get` and `*not bold* :x:`"
    )


def test_escapes_are_undone_once() -> None:
    assert reader().mrkdwn("a &lt;b&gt; &amp; c &amp;lt;") == "a <b> & c &lt;"


def test_quotes_and_preformatted_blocks_are_set_off() -> None:
    text = "Failed:\n```\nERROR: violates foreign key constraint\n*not bold*\n```\n&gt; last words\nafter"
    assert reader().mrkdwn(text) == (
        "Failed:\n    ERROR: violates foreign key constraint\n    *not bold*\n│ last words\nafter"
    )
    assert reader().mrkdwn("&gt;&gt;&gt; all\nof this") == "│ all\n│ of this"


PARENT: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": ":arrows_counterclockwise: hello-x7k2p"}},
    {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": "*Phase*\nRunning"},
            {"type": "mrkdwn", "text": "*Requested by*\n<@U0ALICE>"},
        ],
    },
    {"type": "divider"},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "run_stop", "text": {"type": "plain_text", "text": "Stop"}},
            {"type": "button", "action_id": "run_logs", "text": {"type": "plain_text", "text": "Logs"}},
            {
                "type": "button",
                "action_id": "run_open_ui",
                "text": {"type": "plain_text", "text": "View in Argo"},
                "url": "https://argo.example/w/1",
            },
        ],
    },
    {
        "type": "context",
        "elements": [
            {"type": "image", "image_url": "https://x/a.png", "alt_text": "argo"},
            {
                "type": "mrkdwn",
                "text": f"run `hello-x7k2p` · started <!date^{WHEN}^{{date_short_pretty}} {{time}}|x>",
            },
        ],
    },
]


def test_blocks_read_as_lines_with_buttons_people_can_press() -> None:
    assert reader().blocks(PARENT) == [
        "🔄 hello-x7k2p",
        "Phase: Running",
        "Requested by: @alice",
        "────────────────────────",
        "[ Stop ] [ Logs ] [ View in Argo ] (https://argo.example/w/1)",
        "run `hello-x7k2p` · started Today 07:13",
    ]


def test_headers_are_bold_and_context_dim_on_a_terminal() -> None:
    lines = reader(ansi=True).blocks([PARENT[0], PARENT[-1]])
    assert lines[0] == "\x1b[1m🔄 hello-x7k2p\x1b[22m"
    assert lines[1].startswith("\x1b[2mrun `hello-x7k2p`") and lines[1].endswith("\x1b[22m")


def test_a_section_shows_its_accessory_and_other_controls_are_named() -> None:
    block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Rollback requested:* shop-dev"},
        "accessory": {
            "type": "button",
            "action_id": "approve",
            "text": {"type": "plain_text", "text": "Approve"},
        },
    }
    assert reader().block(block) == ["Rollback requested: shop-dev", "[ Approve ]"]
    select = {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Pick a cluster"}}
    assert reader().control(select) == "[ Pick a cluster ▾ ]"
    assert reader().control({"type": "overflow", "options": []}) == "[ ⋯ ]"
    assert reader().block({"type": "image", "image_url": "https://x/y.png", "alt_text": "a graph"}) == [
        "[image: a graph]"
    ]


def test_rich_text_reads_like_the_same_words_in_mrkdwn() -> None:
    block = {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "hi "},
                    {"type": "user", "user_id": "U0ALICE"},
                    {"type": "text", "text": " see ", "style": {"bold": True}},
                    {"type": "channel", "channel_id": "C0OPS"},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "name": "rocket"},
                    {"type": "text", "text": " "},
                    {"type": "link", "url": "https://x.example", "text": "docs"},
                ],
            },
            {
                "type": "rich_text_list",
                "style": "bullet",
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "one"}]}],
            },
        ],
    }
    assert reader().block(block) == ["hi @alice see #ops 🚀 docs (https://x.example)", "• one"]


def test_a_message_without_blocks_reads_its_text_and_its_attachments() -> None:
    message = {
        "text": ":warning: <@U0ALICE> *look*",
        "attachments": [{"title": "Logs", "title_link": "https://s3/x", "text": "last _lines_"}],
    }
    assert reader().message(message) == "⚠️ @alice look\n│ Logs (https://s3/x)\n│ last lines"
    assert reader().message({"text": "fallback", "blocks": [{"type": "divider"}]}) == "─" * 24


def test_the_terminal_and_the_web_page_share_one_emoji_table() -> None:
    source = (ROOT / "bot" / "sandbox" / "slack" / "ui" / "emoji.js").read_text(encoding="utf-8")
    entries = re.findall(r'^\s+"([^"]+)": "', source, re.M)
    table = shortcodes()
    assert sorted(table) == sorted(entries)
    assert table["white_check_mark"] == "✅" and table["+1"] == "👍"


def test_every_emoji_the_bot_writes_reads_as_a_character() -> None:
    written: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r"(?<![\w:])(?<!:):([a-z][a-z0-9_+-]*):(?![\w:])", text))
    written -= {"memory"}  # SQLite's ":memory:" database, not an emoji
    assert {"white_check_mark", "x", "hourglass_flowing_sand", "arrows_counterclockwise"} <= written
    assert all(reader().mrkdwn(f":{name}:") != f":{name}:" for name in written), sorted(
        name for name in written if reader().mrkdwn(f":{name}:") == f":{name}:"
    )


def test_an_emoji_table_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_table("window.SLACK_EMOJI = Object.freeze({ smile: '😄', });")
    with pytest.raises(ValueError):
        parse_table("// nothing here")


def test_a_long_link_address_becomes_a_numbered_note_under_the_message() -> None:
    presigned = "http://127.0.0.1:9000/argo-logs/argo/run/main.log?X-Amz-Signature=" + "f" * 64
    failed = {"type": "mrkdwn", "text": f"step `main` failed · <{presigned}|log>"}
    argo = {"type": "mrkdwn", "text": "<https://argo.example/w/1|in Argo>"}
    message = {
        "text": "x",
        "blocks": [{"type": "section", "text": failed}, {"type": "context", "elements": [argo]}],
    }
    assert reader().message(message) == (
        f"step `main` failed · log [1]\nin Argo (https://argo.example/w/1)\n[1] {presigned}"
    )
    assert reader().mrkdwn(f"<{presigned}|log>") == f"log ({presigned})"  # outside a message: inline
