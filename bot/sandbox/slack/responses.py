"""response_url handling, and the one place where "a reply to the user" becomes messages.

Slack gives every slash command and interaction a `response_url`: POST JSON `{text, blocks,
response_type: ephemeral|in_channel, replace_original, delete_original, thread_ts}`, at most 5 times
within 30 minutes (then 404 `used_url` / `expired_url`). A slash command's ack payload is the same
kind of reply, so `deliver` serves both.
Not here: building the interaction payloads (`acting`). Owned by `server.SlackSandbox`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.slack.content import message_content
from bot.sandbox.slack.context import ApiError
from bot.sandbox.slack.methods_chat import bot_message
from bot.sandbox.slack.workspace import Channel, SlackStateError, Workspace

Json = dict[str, Any]

MAX_USES = 5
LIFETIME_SECONDS = 30 * 60


@dataclass
class _Origin:
    """Where a response_url came from: who clicked or typed, in which channel, on which message."""

    kind: str
    user: str
    channel: str
    message_ts: str | None
    ephemeral_ts: str | None
    thread_ts: str | None
    created: float
    uses: int = 0


class ResponseUrls:
    """Issues response URLs and applies what is posted to them."""

    def __init__(
        self,
        *,
        workspace: Workspace,
        http_base: Callable[[], str],
        on_bot_message: Callable[[Channel, Json], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ws = workspace
        self._http_base = http_base
        self._on_bot_message = on_bot_message
        self._clock = clock
        self._lock = threading.Lock()
        self._origins: dict[str, _Origin] = {}

    def issue(
        self,
        *,
        kind: str,
        user: str,
        channel: str,
        message_ts: str | None = None,
        ephemeral_ts: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        key = f"{secrets.randbelow(10**13)}/{secrets.token_urlsafe(18)}"
        with self._lock:
            self._origins[key] = _Origin(
                kind=kind,
                user=user,
                channel=channel,
                message_ts=message_ts,
                ephemeral_ts=ephemeral_ts,
                thread_ts=thread_ts,
                created=self._clock(),
            )
        return f"{self._http_base()}/hooks/{kind}/{self._ws.team_id}/{key}"

    def post(self, key: str, body: Json) -> tuple[int, Json]:
        """Answer a POST to a response_url (key = the part after `/hooks/<kind>/<team>/`)."""
        with self._lock:
            origin = self._origins.get(key)
            if origin is None:
                return 404, {"ok": False, "error": "no_service"}
            if self._clock() - origin.created > LIFETIME_SECONDS:
                return 404, {"ok": False, "error": "expired_url"}
            if origin.uses >= MAX_USES:
                return 404, {"ok": False, "error": "used_url"}
            origin.uses += 1
        try:
            self.deliver(origin=origin, payload=body, source="response_url")
        except ApiError as exc:
            return 400, {"ok": False, "error": exc.error, **exc.extra}
        except SlackStateError as exc:
            return 404, {"ok": False, "error": exc.error}
        return 200, {"ok": True}

    def origin_for_ack(self, *, user: str, channel: str) -> _Origin:
        """A response origin for a slash command's ack payload (no URL use is counted)."""
        return _Origin(
            kind="commands",
            user=user,
            channel=channel,
            message_ts=None,
            ephemeral_ts=None,
            thread_ts=None,
            created=self._clock(),
        )

    def deliver(self, *, origin: _Origin, payload: Json, source: str) -> None:
        """Apply one reply as Slack does: delete/replace the original, post in channel, or show ephemerally.

        Raises:
            ApiError: the reply's content breaks Slack's rules (invalid_blocks, no_text, ...).
        """
        ws = self._ws
        channel = ws.get_channel(origin.channel)
        if _truthy(payload.get("delete_original")):
            if origin.message_ts:
                ws.delete_message(channel=channel, ts=origin.message_ts)
            elif origin.ephemeral_ts:
                ws.delete_ephemeral(origin.ephemeral_ts)
            return
        content = message_content(payload, truncate=False)
        if _truthy(payload.get("replace_original")) and (origin.message_ts or origin.ephemeral_ts):
            if origin.message_ts:
                ws.update_message(channel=channel, ts=origin.message_ts, changes=_replacement(content))
            else:
                ws.replace_ephemeral(str(origin.ephemeral_ts), _replacement(content))
            return
        thread_ts = payload.get("thread_ts") or origin.thread_ts
        if payload.get("response_type") == "in_channel":
            stored = ws.add_message(channel=channel, message=bot_message(ws, content), thread_ts=thread_ts)
            if self._on_bot_message is not None:
                self._on_bot_message(channel, stored)
            return
        ws.add_ephemeral(
            user=origin.user,
            channel=channel.id,
            text=content.get("text") or "",
            blocks=content.get("blocks"),
            thread_ts=thread_ts,
            source=source,
        )

    def uses(self) -> dict[str, int]:
        with self._lock:
            return {key: origin.uses for key, origin in self._origins.items()}


def _replacement(content: Json) -> Json:
    """A replace_original drops fields the new payload leaves out, as Slack does."""
    return {
        "text": content.get("text", ""),
        "blocks": content.get("blocks"),
        "attachments": content.get("attachments"),
    }


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")
