"""Golden files for rendering: compare with `tests/render/golden/*.json`, or rewrite them.

`pytest tests/render --update-golden` (or `UPDATE_GOLDEN=1`) rewrites the files instead of comparing,
and the change is then reviewed in the diff, as botkube does with its slack_renderer golden files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/render/golden/*.json from the current rendering instead of comparing",
    )


def _updating(config: pytest.Config) -> bool:
    try:
        option = bool(config.getoption("--update-golden"))
    except ValueError:  # the option is registered only when pytest starts in or above tests/render
        option = False
    return option or os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """`golden(name, value)`: assert `value` equals `golden/<name>.json` (or rewrite it when updating)."""

    def check(name: str, value: Any) -> None:
        path = GOLDEN_DIR / f"{name}.json"
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
        if _updating(request.config):
            GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"{path} is missing: run pytest tests/render --update-golden and review it"
        expected = json.loads(path.read_text(encoding="utf-8"))
        assert value == expected, f"{path.name} differs: run pytest tests/render --update-golden and review"

    return check


# Leftovers that must never reach a person: unfilled placeholders, Python reprs, escaped controls.
_LEAKS = (
    "{command}",
    "{where}",
    "{reference}",
    "{written}",
    "object at 0x",
    "datetime.datetime(",
    "Reply(",
    "\\n",
    "\\u",
)


@pytest.fixture
def golden_message(golden: Callable[[str, Any], None]) -> Callable[..., None]:
    """`golden_message(name, text, blocks, visibility=None)`: one Slack message, checked, then compared.

    The blocks must pass the Slack stand-in's Block Kit validator and stay under the combined
    text limit; the text and blocks must not carry placeholders or Python reprs.
    """
    from bot.sandbox.slack.blocks import MAX_COMBINED_BLOCK_TEXT, check_message_blocks, combined_text_length

    def check(name: str, text: str, blocks: list[dict[str, Any]], visibility: str | None = None) -> None:
        assert text.strip(), f"{name}: a message needs its notification text"
        assert check_message_blocks(blocks) == [], check_message_blocks(blocks)
        assert combined_text_length(blocks) < MAX_COMBINED_BLOCK_TEXT
        message: dict[str, Any] = {"text": text, "blocks": blocks}
        if visibility is not None:
            message["visibility"] = visibility
        for value in _strings(message):
            for leak in _LEAKS:
                assert leak not in value, f"{name}: {leak!r} in {value!r}"
        golden(name, message)

    return check


def _strings(item: Any) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict):
        return [text for value in item.values() for text in _strings(value)]
    if isinstance(item, list):
        return [text for value in item for text in _strings(value)]
    return []


@pytest.fixture
def golden_reply(golden_message: Callable[..., None]) -> Callable[[str, Any], None]:
    """`golden_reply(name, reply)`: a `Reply` rendered as Slack gets it, with whom it is shown to."""
    from bot.render.blocks import render_reply

    def check(name: str, reply: Any) -> None:
        text, blocks = render_reply(reply)
        golden_message(name, text, blocks, str(reply.visibility))

    return check
