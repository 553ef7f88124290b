"""The emoji shortcodes the terminal console draws, read from the table the stand-in's web page uses.

One table for the page and the terminal, so a shortcode the bot starts writing is added once
(`bot/sandbox/slack/ui/emoji.js`; a test checks that every shortcode the bot writes is in it). The
file is a JavaScript assignment whose object literal is strict JSON, so it is read here as JSON;
it ships in the package with the page, so this works from a wheel as well as from a checkout.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


def parse_table(source: str) -> dict[str, str]:
    """The shortcode -> character table in `emoji.js`'s text (its one `{...}` object literal).

    Raises:
        ValueError: the file no longer holds a JSON object literal.
    """
    start, end = source.find("{"), source.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no object literal in the emoji table")
    table = json.loads(source[start : end + 1])
    if not isinstance(table, dict):
        raise ValueError("the emoji table is not an object")
    return {str(name): str(picture) for name, picture in table.items()}


@cache
def shortcodes() -> dict[str, str]:
    """The shared table, read once per process."""
    resource = resources.files("bot.sandbox") / "slack" / "ui" / "emoji.js"
    return parse_table(resource.read_text(encoding="utf-8"))
