"""The web page's static files (`ui/`), shipped in the package and served by the stand-in's server.

`GET /` is `ui/index.html`; `GET /ui/<name>` is any other file in `ui/`. Files are read through
`importlib.resources`, so the page works from a wheel as well as from a checkout, and nothing is
fetched from anywhere else. Only plain names of known types are served (no path, no dot-dot), each
with its content type. Not here: HTTP (`server`); what the page does (`ui/app.js`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.[a-z]+")


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


def asset(name: str) -> Asset | None:
    """The file `ui/<name>` and its content type, or None for anything not servable."""
    if not _NAME.fullmatch(name):
        return None
    content_type = CONTENT_TYPES.get("." + name.rsplit(".", 1)[-1])
    if content_type is None:
        return None
    resource = resources.files(__package__ or "bot.sandbox.slack") / "ui" / name
    if not resource.is_file():
        return None
    return Asset(body=resource.read_bytes(), content_type=content_type)
