"""The control API under `/_sandbox/`: JSON over HTTP to set up, act in and inspect the workspace.

Everything a test, the demo page or an outside script does to the sandbox goes through here:
users, groups and channels; acting as a user (command, mention, DM, plain post, click, modal
submit); reading the directory, channels, threads, ephemerals, views, acks and Web API calls;
switching rate limits, injecting faults, forcing Socket Mode disconnects; `GET /_sandbox/state` for
a whole snapshot. Reads here are not rate limited and not logged as Web API calls, so watching the
sandbox never disturbs the bot. Documented with curl examples in docs/sandbox-slack.md.
Not here: HTTP parsing (`server`), the live event stream (`event_stream`).
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
Route = Callable[["SlackSandbox", "_Request"], Any]


class ControlError(Exception):
    """A bad control request: HTTP `status` and a short `error` code."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass(frozen=True)
class _Request:
    """One control request: the JSON body merged with the query string, and the path's named parts."""

    body: Json
    args: dict[str, str]


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
            return 200, rule.route(sandbox, _Request(body=body, args=match.groupdict()))
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
def _info(sb: SlackSandbox, req: _Request) -> Json:
    return {
        "ok": True,
        "team_id": sb.team_id,
        "team_name": sb.team_name,
        "bot_user_id": sb.bot_user_id,
        "bot_id": sb.bot_id,
        "app_id": sb.app_id,
        "api_url": sb.api_url,
        "control_url": sb.control_url,
        "web_url": sb.web_url,
        "bot_token": sb.bot_token,
        "app_token": sb.app_token,
        "ack_timeout": sb.socket_mode.ack_timeout,
        "rate_limits": sb.limiter.enabled,
    }


@_route("GET", "/state")
def _state(sb: SlackSandbox, req: _Request) -> Json:
    snapshot = sb.workspace.snapshot()
    snapshot["connections"] = sb.socket_mode.connections()
    snapshot["acks"] = sb.socket_mode.acks()
    snapshot["calls"] = sb.web_api.calls()
    return snapshot


@_route("GET", "/directory")
def _directory(sb: SlackSandbox, req: _Request) -> Json:
    return {"ok": True, **sb.workspace.directory()}


@_route("GET", "/channels/{channel}/messages")
def _messages(sb: SlackSandbox, req: _Request) -> list[Json]:
    ws = sb.workspace
    return ws.history(ws.get_channel(req.args["channel"]))


@_route("GET", "/channels/{channel}/threads/{ts}")
def _thread(sb: SlackSandbox, req: _Request) -> list[Json]:
    ws = sb.workspace
    return ws.thread(ws.get_channel(req.args["channel"]), req.args["ts"])


@_route("GET", "/ephemerals")
def _ephemerals(sb: SlackSandbox, req: _Request) -> list[Json]:
    return sb.workspace.ephemerals_for(user=_field(req.body, "user"), channel=req.body.get("channel") or None)


@_route("GET", "/views")
def _views(sb: SlackSandbox, req: _Request) -> list[Json]:
    ws = sb.workspace
    with ws.lock:
        return [
            {"user": v["user"], "open": v["open"], "errors": v["errors"], "view": v["view"]}
            for v in ws.views.values()
            if not req.body.get("user") or v["user"] == req.body["user"]
        ]


@_route("GET", "/acks")
def _acks(sb: SlackSandbox, req: _Request) -> list[Json]:
    return sb.socket_mode.acks()


@_route("GET", "/calls")
def _calls(sb: SlackSandbox, req: _Request) -> list[Json]:
    return sb.web_api.calls(req.body.get("method") or None)


@_route("GET", "/connections")
def _connections(sb: SlackSandbox, req: _Request) -> Json:
    return {
        "ok": True,
        "connections": sb.socket_mode.connections(),
        "opened_total": sb.socket_mode.opened_total,
    }


@_route("GET", "/files/{file_id}")
def _file(sb: SlackSandbox, req: _Request) -> Json:
    with sb.workspace.lock:
        stored = sb.workspace.files.get(req.args["file_id"])
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
def _add_user(sb: SlackSandbox, req: _Request) -> Json:
    fields = {
        k: req.body[k]
        for k in (
            "name",
            "email",
            "real_name",
            "tz",
            "is_bot",
            "is_admin",
            "deleted",
            "home_team",
            "is_restricted",
            "is_ultra_restricted",
        )
        if k in req.body
    }
    user = sb.workspace.upsert_user(str(_field(req.body, "id")), **fields)
    return {"ok": True, "user": user.to_slack(sb.team_id)}


@_route("POST", "/channels")
def _add_channel(sb: SlackSandbox, req: _Request) -> Json:
    fields = {k: req.body[k] for k in ("name", "is_private", "bot_is_member") if k in req.body}
    channel = sb.workspace.upsert_channel(str(_field(req.body, "id")), **fields)
    return {"ok": True, "channel": channel.to_slack()}


@_route("POST", "/usergroups")
def _add_usergroup(sb: SlackSandbox, req: _Request) -> Json:
    fields = {k: req.body[k] for k in ("handle", "name", "users", "description") if k in req.body}
    group = sb.workspace.upsert_usergroup(str(_field(req.body, "id")), **fields)
    return {"ok": True, "usergroup": group.to_slack(team_id=sb.team_id, include_users=True)}


@_route("PUT", "/usergroups/{group}/users")
def _set_usergroup_users(sb: SlackSandbox, req: _Request) -> Json:
    sb.workspace.get_usergroup(req.args["group"])
    users = req.body.get("users")
    if not isinstance(users, list):
        raise ControlError(400, "missing_users")
    group = sb.workspace.upsert_usergroup(req.args["group"], users=[str(u) for u in users])
    return {"ok": True, "usergroup": group.to_slack(team_id=sb.team_id, include_users=True)}


# ------------------------------------------------------------------- act as a user
@_route("POST", "/act/command")
def _command(sb: SlackSandbox, req: _Request) -> Json:
    return {
        "ok": True,
        **sb.interactions.command(
            user=_field(req.body, "user"),
            channel=_field(req.body, "channel"),
            command=_field(req.body, "command"),
            text=str(req.body.get("text", "")),
        ),
    }


@_route("POST", "/act/mention")
def _mention(sb: SlackSandbox, req: _Request) -> Json:
    return {
        "ok": True,
        **sb.interactions.mention(
            user=_field(req.body, "user"),
            channel=_field(req.body, "channel"),
            text=str(req.body.get("text", "")),
            thread_ts=req.body.get("thread_ts") or None,
        ),
    }


@_route("POST", "/act/dm")
def _dm(sb: SlackSandbox, req: _Request) -> Json:
    return {
        "ok": True,
        **sb.interactions.dm(user=_field(req.body, "user"), text=str(_field(req.body, "text"))),
    }


@_route("POST", "/act/message")
def _message(sb: SlackSandbox, req: _Request) -> Json:
    return {
        "ok": True,
        **sb.interactions.say(
            user=_field(req.body, "user"),
            channel=_field(req.body, "channel"),
            text=str(_field(req.body, "text")),
            thread_ts=req.body.get("thread_ts") or None,
        ),
    }


@_route("POST", "/act/click")
def _click(sb: SlackSandbox, req: _Request) -> Json:
    return {
        "ok": True,
        **sb.interactions.click(
            user=_field(req.body, "user"),
            channel=_field(req.body, "channel"),
            ts=_field(req.body, "ts"),
            action_id=_field(req.body, "action_id"),
            value=req.body.get("value"),
        ),
    }


@_route("POST", "/act/submit")
def _submit(sb: SlackSandbox, req: _Request) -> Json:
    values = req.body.get("values") or {}
    if not isinstance(values, dict):
        raise ControlError(400, "invalid_values")
    return {
        "ok": True,
        **sb.interactions.submit_view(
            user=_field(req.body, "user"), view_id=_field(req.body, "view_id"), values=values
        ),
    }


# ------------------------------------------------------------------- limits, faults, disconnects
@_route("GET", "/rate-limits")
def _get_rate_limits(sb: SlackSandbox, req: _Request) -> Json:
    return {"ok": True, "enabled": sb.limiter.enabled, "limits": sb.limiter.limits()}


@_route("POST", "/rate-limits")
def _set_rate_limits(sb: SlackSandbox, req: _Request) -> Json:
    if not isinstance(req.body.get("enabled"), bool):
        raise ControlError(400, "missing_enabled")
    sb.limiter.enabled = req.body["enabled"]
    return {"ok": True, "enabled": sb.limiter.enabled}


@_route("PUT", "/rate-limits/{method}")
def _set_rate_limit(sb: SlackSandbox, req: _Request) -> Json:
    per_minute = int(_field(req.body, "per_minute"))
    burst = req.body.get("burst")
    sb.limiter.set_limit(
        req.args["method"], per_minute=per_minute, burst=None if burst is None else int(burst)
    )
    return {"ok": True, "limits": sb.limiter.limits()[req.args["method"]]}


@_route("POST", "/faults")
def _add_fault(sb: SlackSandbox, req: _Request) -> Json:
    fault = Fault(
        method=str(_field(req.body, "method")),
        status=int(req.body.get("status", 429)),
        retry_after=int(req.body.get("retry_after", 1)),
        error=str(req.body.get("error", "ratelimited")),
        remaining=int(req.body.get("count", 1)),
    )
    sb.limiter.add_fault(fault)
    return {"ok": True}


@_route("DELETE", "/faults")
def _clear_faults(sb: SlackSandbox, req: _Request) -> Json:
    return {"ok": True, "cleared": sb.limiter.clear_faults()}


@_route("POST", "/disconnect")
def _disconnect(sb: SlackSandbox, req: _Request) -> Json:
    mode = str(req.body.get("mode", "refresh"))
    try:
        count = sb.socket_mode.disconnect(mode)
    except ValueError as exc:
        raise ControlError(400, "invalid_mode") from exc
    return {"ok": True, "disconnected": count}
