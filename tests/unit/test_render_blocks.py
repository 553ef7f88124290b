"""Rendering stays inside Block Kit's limits whatever the reply holds."""

from __future__ import annotations

import pytest

from bot.model import Reply
from bot.render import blocks


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("short", 10, "short"), ("0123456789", 10, "0123456789"), ("0123456789abc", 10, "012345678…")],
)
def test_truncate_marks_the_cut(text: str, limit: int, expected: str) -> None:
    assert blocks.truncate(text, limit) == expected


def test_split_text_keeps_lines_whole_when_it_can() -> None:
    text = "\n".join(f"line {i:04d} " + "x" * 90 for i in range(100))
    chunks = blocks.split_text(text, 3000)
    assert all(len(chunk) <= 3000 for chunk in chunks)
    assert "\n".join(chunks) == text


def test_a_huge_reply_fits_one_message() -> None:
    reply = Reply(
        text="y" * 200_000,
        title="t" * 500,
        fields=tuple((f"k{i}", "v") for i in range(25)),
        context="c" * 5000,
    )
    text, rendered = blocks.render_reply(reply)
    assert len(rendered) <= blocks.MAX_BLOCKS
    assert len(text) <= blocks.MAX_TEXT
    assert len(rendered[0]["text"]["text"]) <= blocks.MAX_HEADER
    for block in rendered:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= blocks.MAX_SECTION_TEXT
        if "fields" in block:
            assert len(block["fields"]) <= blocks.MAX_FIELDS
    assert "cut" in rendered[-1]["elements"][0]["text"]


def test_plain_reply_renders_as_one_section() -> None:
    text, rendered = blocks.render_reply(Reply(text="hello"))
    assert text == "hello"
    assert rendered == [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]
