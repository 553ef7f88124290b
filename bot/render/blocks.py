"""Turn a platform-neutral `Reply` into Slack's `text` + `blocks`, inside Block Kit's limits.

Slack's limits: 50 blocks per message, section text 3,000 characters, 10 fields per section,
header 150 characters, message text truncated by Slack past 40,000. Rendering cuts long content
with a visible marker instead of letting Slack refuse the whole message with `invalid_blocks`.
"""

from __future__ import annotations

from typing import Any

from bot.model import Reply

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_TEXT = 3900  # the notification/fallback text; Slack truncates far later, people read far less
CUT_MARK = "…"

Block = dict[str, Any]


def truncate(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, ending with a visible mark when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(CUT_MARK))] + CUT_MARK


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Split long text at line breaks into chunks that each fit one section."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        while len(line) > limit:
            chunks.append(line[:limit])
            line = line[limit:]
        current = line
    if current or not chunks:
        chunks.append(current)
    return chunks


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER), "emoji": True},
    }


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def fields_section(pairs: tuple[tuple[str, str], ...]) -> list[Block]:
    blocks: list[Block] = []
    for start in range(0, len(pairs), MAX_FIELDS):
        chunk = pairs[start : start + MAX_FIELDS]
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": truncate(f"*{name}*\n{value}", MAX_FIELD_TEXT)}
                    for name, value in chunk
                ],
            }
        )
    return blocks


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}]}


def render_reply(reply: Reply) -> tuple[str, list[Block]]:
    """The fallback text and the blocks for one reply, never more than Slack accepts."""
    blocks: list[Block] = []
    if reply.title:
        blocks.append(header(reply.title))
    for chunk in split_text(reply.text):
        if chunk.strip():
            blocks.append(section(chunk))
    for extra in reply.sections:
        blocks.extend(section(chunk) for chunk in split_text(extra) if chunk.strip())
    if reply.fields:
        blocks.extend(fields_section(reply.fields))
    if reply.context:
        blocks.append(context(reply.context))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], context("_(more content was cut to fit one Slack message)_")]
    fallback = truncate(f"{reply.title}: {reply.text}" if reply.title else reply.text, MAX_TEXT)
    return fallback, blocks
