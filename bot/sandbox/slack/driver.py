"""`SlackDriver`: drive the sandbox like people would, over its HTTP control API only.

Tests, the demo and outside scripts use the same calls: add users/channels/groups, act as a user
(command, mention, DM, button click, modal submit), read channels and threads as they look now,
read the ephemerals a user saw, the acks and Web API calls, and switch limits, faults and
disconnects. It never touches the in-process `Workspace`, so it works against a sandbox in
another process just as well. Not here: any assertion; tests assert on what it returns.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from bot.sandbox.waiting import wait_until

Json = dict[str, Any]
T = TypeVar("T")


class SandboxRequestError(Exception):
    """The control API refused a request; `error` is its short code (e.g. `action_not_found`)."""

    def __init__(self, status: int, error: str, path: str) -> None:
        super().__init__(f"{path}: HTTP {status} {error}")
        self.status = status
        self.error = error


class SlackDriver:
    """A thin HTTP client for `/_sandbox/`."""

    def __init__(self, control_url: str, *, timeout: float = 10.0) -> None:
        self.control_url = control_url if control_url.endswith("/") else control_url + "/"
        self.timeout = timeout

    # ----------------------------------------------------------------- transport
    def _request(self, verb: str, path: str, *, body: Json | None = None, query: Json | None = None) -> Any:
        url = self.control_url + path.lstrip("/")
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, method=verb, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read()).get("error", "unknown")
            except ValueError:
                error = "unknown"
            raise SandboxRequestError(exc.code, error, path) from None

    # ----------------------------------------------------------------- setup
    def info(self) -> Json:
        """Ids, URLs and the sandbox's fake tokens (what a bot needs to connect to it)."""
        return dict(self._request("GET", "info"))

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        email: str | None = None,
        real_name: str | None = None,
        tz: str | None = None,
        is_admin: bool | None = None,
    ) -> Json:
        body: Json = {"id": user_id, "name": name, "email": email, "real_name": real_name}
        if tz is not None:
            body["tz"] = tz
        if is_admin is not None:
            body["is_admin"] = is_admin
        return dict(self._request("POST", "users", body=body)["user"])

    def update_user(self, user_id: str, **changes: Any) -> Json:
        """Change a user (e.g. `deleted=True`, `email=...`)."""
        return dict(self._request("POST", "users", body={"id": user_id, **changes})["user"])

    def add_channel(
        self, channel_id: str, *, name: str, is_private: bool = False, bot_is_member: bool = True
    ) -> Json:
        body = {"id": channel_id, "name": name, "is_private": is_private, "bot_is_member": bot_is_member}
        return dict(self._request("POST", "channels", body=body)["channel"])

    def add_usergroup(self, group_id: str, *, handle: str, users: list[str], name: str | None = None) -> Json:
        body = {"id": group_id, "handle": handle, "users": users, "name": name or handle}
        return dict(self._request("POST", "usergroups", body=body)["usergroup"])

    def set_usergroup_users(self, group_id: str, users: list[str]) -> Json:
        return dict(
            self._request("PUT", f"usergroups/{quote(group_id)}/users", body={"users": users})["usergroup"]
        )

    # ----------------------------------------------------------------- act as a user
    def send_command(self, *, user: str, channel: str, command: str, text: str = "") -> Json:
        """Type `/command text`; returns envelope_id, trigger_id and response_url."""
        body = {"user": user, "channel": channel, "command": command, "text": text}
        return _strip_ok(self._request("POST", "act/command", body=body))

    def mention(self, *, user: str, channel: str, text: str, thread_ts: str | None = None) -> Json:
        """Post `<@BOT> text` in a channel (or thread); returns envelope_id, event_id and the message ts."""
        body = {"user": user, "channel": channel, "text": text, "thread_ts": thread_ts}
        return _strip_ok(self._request("POST", "act/mention", body=body))

    def dm(self, *, user: str, text: str) -> Json:
        """Write to the bot in the user's DM; returns envelope_id, event_id, ts and the DM channel id."""
        return _strip_ok(self._request("POST", "act/dm", body={"user": user, "text": text}))

    def post(self, *, user: str, channel: str, text: str, thread_ts: str | None = None) -> Json:
        """Post plain text in a channel or thread (the app is not told); returns ts and channel."""
        body = {"user": user, "channel": channel, "text": text, "thread_ts": thread_ts}
        return _strip_ok(self._request("POST", "act/message", body=body))

    def click(self, *, user: str, channel: str, ts: str, action_id: str, value: str | None = None) -> Json:
        """Click the button `action_id` (optionally the one carrying `value`) on message `ts`.

        Raises:
            SandboxRequestError: `action_not_found` when the message has no such button now.
        """
        body = {"user": user, "channel": channel, "ts": ts, "action_id": action_id, "value": value}
        return _strip_ok(self._request("POST", "act/click", body=body))

    def submit_view(self, *, user: str, view_id: str, values: Json) -> Json:
        body = {"user": user, "view_id": view_id, "values": values}
        return _strip_ok(self._request("POST", "act/submit", body=body))

    # ----------------------------------------------------------------- read
    def messages(self, channel: str) -> list[Json]:
        """Top-level messages, oldest first, as they look now."""
        return list(self._request("GET", f"channels/{quote(channel)}/messages"))

    def replies(self, channel: str, ts: str) -> list[Json]:
        """A thread: parent first, then replies oldest first."""
        return list(self._request("GET", f"channels/{quote(channel)}/threads/{quote(ts)}"))

    def ephemerals(self, *, user: str, channel: str | None = None) -> list[Json]:
        return list(self._request("GET", "ephemerals", query={"user": user, "channel": channel}))

    def views(self, *, user: str | None = None) -> list[Json]:
        """Modals and home tabs: each `{user, open, errors, view}`."""
        return list(self._request("GET", "views", query={"user": user}))

    def acks(self) -> list[Json]:
        """Per envelope: envelope_id, type, payload_type, acked, latency_ms, retry_attempt, outcome."""
        return list(self._request("GET", "acks"))

    def calls(self, method: str | None = None) -> list[Json]:
        """Web API calls received: method, status, ok, error, time (and channel when given)."""
        return list(self._request("GET", "calls", query={"method": method}))

    def connections(self) -> Json:
        """Live Socket Mode connections and how many were ever opened."""
        return dict(self._request("GET", "connections"))

    def file(self, file_id: str) -> Json:
        return dict(self._request("GET", f"files/{quote(file_id)}"))

    def state(self) -> Json:
        return dict(self._request("GET", "state"))

    def directory(self) -> Json:
        """Team, bot, users, groups and channels (no messages): what a client's sidebar shows."""
        return _strip_ok(self._request("GET", "directory"))

    # ----------------------------------------------------------------- limits and faults
    def set_rate_limit(self, method: str, per_minute: int, *, burst: int | None = None) -> None:
        self._request("PUT", f"rate-limits/{quote(method)}", body={"per_minute": per_minute, "burst": burst})

    def set_rate_limits(self, enabled: bool) -> None:
        self._request("POST", "rate-limits", body={"enabled": enabled})

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str = "ratelimited",
        count: int = 1,
    ) -> None:
        """Make the next `count` calls of `method` ("*" for any) fail with this status and error."""
        body = {
            "method": method,
            "status": status,
            "retry_after": retry_after,
            "error": error,
            "count": count,
        }
        self._request("POST", "faults", body=body)

    def clear_faults(self) -> int:
        """End every injected fault at once (how a test ends a Slack outage); returns how many were left."""
        return int(self._request("DELETE", "faults")["cleared"])

    def disconnect(self, mode: str = "refresh") -> int:
        """Force Socket Mode down: `refresh` (disconnect message), `close` (frame), `abrupt` (TCP drop)."""
        return int(self._request("POST", "disconnect", body={"mode": mode})["disconnected"])

    # ----------------------------------------------------------------- waiting
    def wait_for(
        self,
        condition: Callable[[], T | None],
        *,
        timeout: float = 10.0,
        message: str | Callable[[], str] = "condition",
    ) -> T:
        """Poll `condition` until it returns something truthy (and return it), or fail after `timeout`."""
        return wait_until(condition, timeout=timeout, message=message)


def _strip_ok(answer: Json) -> Json:
    return {k: v for k, v in answer.items() if k != "ok"}
