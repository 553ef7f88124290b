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
