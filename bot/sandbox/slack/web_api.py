"""The Web API front door: token check, injected faults, rate limits, dispatch, call log.

`WebApi.call(method, token=..., params=...)` returns the HTTP status, JSON body and headers Slack
would send: `{"ok": false, "error": "..."}` with HTTP 200 for API errors, HTTP 429 with
`Retry-After` and `{"ok":false,"error":"ratelimited"}` when a limit bites, HTTP 404 for unknown
methods. The methods themselves live in `methods_*` modules, one `METHODS` table each.
Not here: HTTP parsing (`server`) or what a method does. Tokens never appear in the call log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.slack import methods_chat, methods_directory, methods_views
from bot.sandbox.slack.context import ApiContext, ApiError, Handler
from bot.sandbox.slack.ratelimits import RateLimiter
from bot.sandbox.slack.workspace import SlackStateError

Json = dict[str, Any]

APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

_log = logging.getLogger(__name__)


@dataclass
class ApiResponse:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


class WebApi:
    """Answers `/api/<method>` calls against the workspace; thread-safe."""

    def __init__(self, *, context: ApiContext, limiter: RateLimiter, bot_token: str, app_token: str) -> None:
        self.context = context
        self.limiter = limiter
        self._bot_token = bot_token
        self._app_token = app_token
        self._methods: dict[str, Handler] = {
            **methods_directory.METHODS,
            **methods_chat.METHODS,
            **methods_views.METHODS,
        }
        self._calls: list[Json] = []
        self._calls_lock = threading.Lock()
        self._clock: Callable[[], float] = time.time

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    def call(self, method: str, *, token: str | None, params: Json) -> ApiResponse:
        response = self._answer(method, token=token, params=params)
        entry: Json = {
            "method": method,
            "status": response.status,
            "ok": bool(response.body.get("ok")),
            "error": response.body.get("error"),
            "time": self._clock(),
        }
        channel = params.get("channel") or params.get("channel_id")
        if isinstance(channel, str):
            entry["channel"] = channel
        with self._calls_lock:
            self._calls.append(entry)
        return response

    def calls(self, method: str | None = None) -> list[Json]:
        with self._calls_lock:
            return [dict(c) for c in self._calls if method is None or c["method"] == method]

    def _answer(self, method: str, *, token: str | None, params: Json) -> ApiResponse:
        handler = self._methods.get(method)
        if handler is None:
            return ApiResponse(404, {"ok": False, "error": "unknown_method", "req_method": method})
        fault = self.limiter.take_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
            return ApiResponse(fault.status, {"ok": False, "error": fault.error}, headers)
        auth_error = self._check_token(method, token)
        if auth_error:
            return ApiResponse(200, {"ok": False, "error": auth_error})
        retry_after = self.limiter.check(method, channel=_channel_key(params))
        if retry_after is not None:
            return ApiResponse(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        try:
            body = handler(self.context, params)
        except ApiError as exc:
            return ApiResponse(200, {"ok": False, "error": exc.error, **exc.extra})
        except SlackStateError as exc:
            return ApiResponse(200, {"ok": False, "error": exc.error})
        except Exception:
            _log.exception("sandbox Web API method %s failed", method)
            return ApiResponse(500, {"ok": False, "error": "internal_error"})
        return ApiResponse(200, {"ok": True, **body})

    def _check_token(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if token == self._app_token:
            return None if method in APP_TOKEN_METHODS else "not_allowed_token_type"
        if token == self._bot_token:
            return "not_allowed_token_type" if method in APP_TOKEN_METHODS else None
        return "invalid_auth"


def _channel_key(params: Json) -> str | None:
    channel = params.get("channel")
    return channel if isinstance(channel, str) else None
