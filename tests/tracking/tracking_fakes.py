"""Fakes shared by the tracker tests: a sender that records instead of calling Slack."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any


class RecordingSender:
    """Sends nothing: keeps what would have gone to Slack, in order."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self._ts = itertools.count(1)

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Future[str]:
        ts = f"1700000000.{next(self._ts):06d}"
        self.posts.append({"channel": channel, "text": text, "thread_ts": thread_ts, "ts": ts})
        future: Future[str] = Future()
        future.set_result(ts)
        return future

    def update(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]] | None = None
    ) -> Future[None]:
        self.updates.append({"channel": channel, "ts": ts, "text": text, "blocks": list(blocks or [])})
        future: Future[None] = Future()
        future.set_result(None)
        return future

    def replies(self) -> list[str]:
        return [p["text"] for p in self.posts if p["thread_ts"]]
