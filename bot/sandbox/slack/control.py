"""The control API under `/_sandbox/`: JSON over HTTP to set up, act in and inspect the workspace.

Everything a test, the demo page or an outside script does to the sandbox goes through here:
users, groups and channels; acting as a user (command, mention, DM, click, modal submit); reading
channels, threads, ephemerals, views, acks and Web API calls; switching rate limits, injecting
faults, forcing Socket Mode disconnects; `GET /_sandbox/state` for a whole snapshot. Reads here are
not rate limited and not logged as Web API calls, so watching the sandbox never disturbs the bot.
Documented with curl examples in docs/sandbox-slack.md. Not here: HTTP parsing (`server`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.sandbox.slack.ratelimits import Fault
from bot.sandbox.slack.workspace import SlackStateError

if TYPE_CHECKING:
    from bot.sandbox.slack.server import SlackSandbox

Json = dict[str, Any]
Route = Callable[["SlackSandbox", Json, dict[str, str]], Any]


class ControlError(Exception):
    """A bad control request: HTTP `status` and a short `error` code."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass(frozen=True)
class _Rule:
    verb: str
    pattern: re.Pattern[str]
    route: Route


_RULES: list[_Rule] = []


def _route(verb: str, path: str) -> Callable[[Route], Route]:
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")

    def register(func: Route) -> Route:
        _RULES.append(_Rule(verb, regex, func))
        return func

    return register


def handle(sandbox: SlackSandbox, *, verb: str, path: str, body: Json) -> tuple[int, Any]:
    """Run one control request (`path` is relative to `/_sandbox`); returns HTTP status and JSON."""
    known_path = False
    for rule in _RULES:
        match = rule.pattern.match(path)
        if match is None:
            continue
        known_path = True
        if rule.verb != verb:
            continue
        try:
            return 200, rule.route(sandbox, body, match.groupdict())
        except ControlError as exc:
            return exc.status, {"ok": False, "error": exc.error}
        except SlackStateError as exc:
            return 404, {"ok": False, "error": exc.error}
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"ok": False, "error": "invalid_request", "detail": str(exc)[:200]}
    if known_path:
        return 405, {"ok": False, "error": "method_not_allowed"}
    return 404, {"ok": False, "error": "unknown_path"}


def _field(body: Json, name: str) -> Any:
    if body.get(name) in (None, ""):
        raise ControlError(400, f"missing_{name}")
    return body[name]


# ------------------------------------------------------------------- inspect
@_route("GET", "/info")
def _info(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    return {
        "ok": True,
        "team_id": sb.team_id,
        "bot_user_id": sb.bot_user_id,
        "bot_id": sb.bot_id,
        "app_id": sb.app_id,
        "api_url": sb.api_url,
        "control_url": sb.control_url,
        "bot_token": sb.bot_token,
        "app_token": sb.app_token,
        "ack_timeout": sb.socket_mode.ack_timeout,
        "rate_limits": sb.limiter.enabled,
    }


@_route("GET", "/state")
def _state(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    snapshot = sb.workspace.snapshot()
    snapshot["connections"] = sb.socket_mode.connections()
    snapshot["acks"] = sb.socket_mode.acks()
    snapshot["calls"] = sb.web_api.calls()
    return snapshot


@_route("GET", "/channels/{channel}/messages")
def _messages(sb: SlackSandbox, body: Json, args: dict[str, str]) -> list[Json]:
    ws = sb.workspace
    return ws.history(ws.get_channel(args["channel"]))


@_route("GET", "/channels/{channel}/threads/{ts}")
def _thread(sb: SlackSandbox, body: Json, args: dict[str, str]) -> list[Json]:
    ws = sb.workspace
    return ws.thread(ws.get_channel(args["channel"]), args["ts"])


@_route("GET", "/ephemerals")
def _ephemerals(sb: SlackSandbox, body: Json, args: dict[str, str]) -> list[Json]:
    return sb.workspace.ephemerals_for(user=_field(body, "user"), channel=body.get("channel") or None)


@_route("GET", "/views")
def _views(sb: SlackSandbox, body: Json, args: dict[str, str]) -> list[Json]:
    ws = sb.workspace
    with ws.lock:
        return [
            {"user": v["user"], "open": v["open"], "errors": v["errors"], "view": v["view"]}
            for v in ws.views.values()
            if not body.get("user") or v["user"] == body["user"]
        ]


@_route("GET", "/acks")
def _acks(sb: SlackSandbox, body: Json, args: dict[str, str]) -> list[Json]:
    return sb.socket_mode.acks()


@_route("GET", "/calls")
def _calls(sb: SlackSandbox, body: Json, args: dict[str, str]) -> list[Json]:
    return sb.web_api.calls(body.get("method") or None)


@_route("GET", "/connections")
def _connections(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    return {
        "ok": True,
        "connections": sb.socket_mode.connections(),
        "opened_total": sb.socket_mode.opened_total,
    }


@_route("GET", "/files/{file_id}")
def _file(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    with sb.workspace.lock:
        stored = sb.workspace.files.get(args["file_id"])
        if stored is None:
            raise ControlError(404, "file_not_found")
        content: bytes = stored["content"] or b""
        return {
            "id": stored["id"],
            "name": stored["name"],
            "title": stored["title"],
            "shared": list(stored["shared"]),
            "content": content.decode("utf-8", errors="replace"),
        }


# ------------------------------------------------------------------- directory
@_route("POST", "/users")
def _add_user(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    fields = {
        k: body[k] for k in ("name", "email", "real_name", "tz", "is_bot", "is_admin", "deleted") if k in body
    }
    user = sb.workspace.upsert_user(str(_field(body, "id")), **fields)
    return {"ok": True, "user": user.to_slack(sb.team_id)}


@_route("POST", "/channels")
def _add_channel(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    fields = {k: body[k] for k in ("name", "is_private", "bot_is_member") if k in body}
    channel = sb.workspace.upsert_channel(str(_field(body, "id")), **fields)
    return {"ok": True, "channel": channel.to_slack()}


@_route("POST", "/usergroups")
def _add_usergroup(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    fields = {k: body[k] for k in ("handle", "name", "users", "description") if k in body}
    group = sb.workspace.upsert_usergroup(str(_field(body, "id")), **fields)
    return {"ok": True, "usergroup": group.to_slack(team_id=sb.team_id, include_users=True)}


@_route("PUT", "/usergroups/{group}/users")
def _set_usergroup_users(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    sb.workspace.get_usergroup(args["group"])
    users = body.get("users")
    if not isinstance(users, list):
        raise ControlError(400, "missing_users")
    group = sb.workspace.upsert_usergroup(args["group"], users=[str(u) for u in users])
    return {"ok": True, "usergroup": group.to_slack(team_id=sb.team_id, include_users=True)}


# ------------------------------------------------------------------- act as a user
@_route("POST", "/act/command")
def _command(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    return {
        "ok": True,
        **sb.interactions.command(
            user=_field(body, "user"),
            channel=_field(body, "channel"),
            command=_field(body, "command"),
            text=str(body.get("text", "")),
        ),
    }


@_route("POST", "/act/mention")
def _mention(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    return {
        "ok": True,
        **sb.interactions.mention(
            user=_field(body, "user"),
            channel=_field(body, "channel"),
            text=str(body.get("text", "")),
            thread_ts=body.get("thread_ts") or None,
        ),
    }


@_route("POST", "/act/dm")
def _dm(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    return {"ok": True, **sb.interactions.dm(user=_field(body, "user"), text=str(_field(body, "text")))}


@_route("POST", "/act/click")
def _click(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    return {
        "ok": True,
        **sb.interactions.click(
            user=_field(body, "user"),
            channel=_field(body, "channel"),
            ts=_field(body, "ts"),
            action_id=_field(body, "action_id"),
            value=body.get("value"),
        ),
    }


@_route("POST", "/act/submit")
def _submit(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise ControlError(400, "invalid_values")
    return {
        "ok": True,
        **sb.interactions.submit_view(
            user=_field(body, "user"), view_id=_field(body, "view_id"), values=values
        ),
    }


# ------------------------------------------------------------------- limits, faults, disconnects
@_route("GET", "/rate-limits")
def _get_rate_limits(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    return {"ok": True, "enabled": sb.limiter.enabled, "limits": sb.limiter.limits()}


@_route("POST", "/rate-limits")
def _set_rate_limits(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    if not isinstance(body.get("enabled"), bool):
        raise ControlError(400, "missing_enabled")
    sb.limiter.enabled = body["enabled"]
    return {"ok": True, "enabled": sb.limiter.enabled}


@_route("PUT", "/rate-limits/{method}")
def _set_rate_limit(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    per_minute = int(_field(body, "per_minute"))
    burst = body.get("burst")
    sb.limiter.set_limit(args["method"], per_minute=per_minute, burst=None if burst is None else int(burst))
    return {"ok": True, "limits": sb.limiter.limits()[args["method"]]}


@_route("POST", "/faults")
def _add_fault(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    fault = Fault(
        method=str(_field(body, "method")),
        status=int(body.get("status", 429)),
        retry_after=int(body.get("retry_after", 1)),
        error=str(body.get("error", "ratelimited")),
        remaining=int(body.get("count", 1)),
    )
    sb.limiter.add_fault(fault)
    return {"ok": True}


@_route("POST", "/disconnect")
def _disconnect(sb: SlackSandbox, body: Json, args: dict[str, str]) -> Json:
    mode = str(body.get("mode", "refresh"))
    try:
        count = sb.socket_mode.disconnect(mode)
    except ValueError as exc:
        raise ControlError(400, "invalid_mode") from exc
    return {"ok": True, "disconnected": count}
