"""What every sandbox Web API method gets to work with, and how it reads its parameters.

`ApiContext` bundles the workspace, the Socket Mode server (for apps.connections.open), the public
base URL (for permalinks, upload and response URLs) and a hook called when the bot posts a message
(so DMs can echo back as `message.im` events, as Slack does). `ApiError` is a Slack error with extra
fields (`invalid_blocks` carries `errors`). Param helpers accept both form strings and JSON values.
Used by the `methods_*` modules and built by `server.SlackSandbox`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.slack.socket_mode import SocketModeServer
from bot.sandbox.slack.workspace import Channel, Workspace

Json = dict[str, Any]


class ApiError(Exception):
    """A Slack `ok:false` answer; `extra` holds fields beside `error` (e.g. `errors`, `response_metadata`)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class ApiContext:
    workspace: Workspace
    socket_mode: SocketModeServer
    http_base: Callable[[], str]
    on_bot_message: Callable[[Channel, Json], None] | None = None


Handler = Callable[[ApiContext, Json], Json]


def require(params: Json, name: str) -> str:
    """A required string parameter; Slack answers `invalid_arguments` when it is missing."""
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] missing required field: {name}"]}
        )
    return str(value)


def optional(params: Json, name: str) -> str | None:
    value = params.get(name)
    return None if value is None or value == "" else str(value)


def flag(params: Json, name: str, *, default: bool = False) -> bool:
    """Booleans arrive as true/false (JSON) or "1"/"0"/"true"/"false" (form, as slack_sdk converts them)."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


def number(params: Json, name: str, *, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError("invalid_arguments") from exc


def json_value(params: Json, name: str) -> Any:
    """Form-encoded calls send blocks/views/files as JSON text; JSON calls send them as objects."""
    value = params.get(name)
    if isinstance(value, str):
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            errors = {"blocks": "invalid_blocks_format", "attachments": "invalid_attachments"}
            raise ApiError(errors.get(name, "invalid_arguments")) from exc
    return value
