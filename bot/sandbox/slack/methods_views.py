"""Web API methods for modals, the home tab and file uploads: views.*, files.* (external upload flow).

Views are checked against Block Kit limits (100 blocks, 24-character title, 3,000-character
private_metadata) and refused with Slack's `invalid_arguments` + `response_metadata.messages`.
`views.open` needs a trigger_id younger than 3 s (`expired_trigger_id` / `invalid_trigger_id`).
The upload flow is Slack's current one: files.getUploadURLExternal -> POST the bytes to the
returned URL (served by `server`) -> files.completeUploadExternal, which shares a file message.
Not here: messages and directory. Registered by `web_api.WebApi` through `METHODS`.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from bot.sandbox.slack import blocks as block_kit
from bot.sandbox.slack.context import ApiContext, ApiError, Handler, json_value, number, optional, require
from bot.sandbox.slack.methods_chat import bot_message
from bot.sandbox.slack.workspace import new_id

Json = dict[str, Any]

TRIGGER_TTL_SECONDS = 3.0


def _checked_view(params: Json) -> Json:
    view = json_value(params, "view")
    if view is None:
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]}
        )
    problems = block_kit.check_view(view)
    if problems:
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]}
        )
    return dict(view)


def _new_view(ctx: ApiContext, view: Json, *, user: str, previous: str | None = None) -> Json:
    ws = ctx.workspace
    view_id = new_id("V")
    record: Json = {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view["type"],
        "blocks": view.get("blocks") or [],
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "title": view.get("title"),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "close": view.get("close"),
        "submit": view.get("submit"),
        "previous_view_id": previous,
        "root_view_id": view_id,
        "app_id": ws.app_id,
        "external_id": view.get("external_id", ""),
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }
    if previous is not None:
        record["root_view_id"] = ws.views[previous]["view"]["root_view_id"]
    with ws.lock:
        ws.views[view_id] = {"view": record, "user": user, "open": True, "errors": None}
        ws.changed("view", "opened", user=user, view_id=view_id, view_type=record["type"])
    return copy.deepcopy(record)


def _trigger_user(ctx: ApiContext, params: Json) -> str:
    trigger_id = require(params, "trigger_id")
    ws = ctx.workspace
    with ws.lock:
        entry = ws.triggers.get(trigger_id)
        if entry is None:
            raise ApiError("invalid_trigger_id")
        user, issued = entry
        if time.monotonic() - issued > TRIGGER_TTL_SECONDS:
            raise ApiError("expired_trigger_id")
        del ws.triggers[trigger_id]
    return user


def views_open(ctx: ApiContext, params: Json) -> Json:
    user = _trigger_user(ctx, params)
    view = _checked_view(params)
    if view["type"] != "modal":
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] must be modal"]})
    return {"view": _new_view(ctx, view, user=user)}


def views_push(ctx: ApiContext, params: Json) -> Json:
    user = _trigger_user(ctx, params)
    view = _checked_view(params)
    ws = ctx.workspace
    with ws.lock:
        top = [
            vid
            for vid, v in ws.views.items()
            if v["user"] == user and v["open"] and v["view"]["type"] == "modal"
        ]
    if not top:
        raise ApiError("not_found")
    return {"view": _new_view(ctx, view, user=user, previous=top[-1])}


def views_update(ctx: ApiContext, params: Json) -> Json:
    view = _checked_view(params)
    ws = ctx.workspace
    view_id = optional(params, "view_id")
    external_id = optional(params, "external_id")
    with ws.lock:
        entry = None
        if view_id is not None:
            entry = ws.views.get(view_id)
        elif external_id is not None:
            entry = next((v for v in ws.views.values() if v["view"]["external_id"] == external_id), None)
        if entry is None:
            raise ApiError("not_found")
        record = entry["view"]
        expected_hash = optional(params, "hash")
        if expected_hash is not None and expected_hash != record["hash"]:
            raise ApiError("hash_conflict")
        for key in ("blocks", "private_metadata", "callback_id", "title", "close", "submit", "external_id"):
            if key in view:
                record[key] = view[key]
        record["hash"] = f"{int(time.time())}.{secrets.token_hex(4)}"
        ws.changed("view", "updated", user=entry["user"], view_id=record["id"], view_type=record["type"])
        return {"view": copy.deepcopy(record)}


def views_publish(ctx: ApiContext, params: Json) -> Json:
    user = ctx.workspace.get_user(require(params, "user_id"))
    view = _checked_view(params)
    if view["type"] != "home":
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] must be home"]})
    ws = ctx.workspace
    with ws.lock:
        for view_id, entry in list(ws.views.items()):
            if entry["user"] == user.id and entry["view"]["type"] == "home":
                del ws.views[view_id]
                ws.changed("view", "closed", user=user.id, view_id=view_id, view_type="home")
    return {"view": _new_view(ctx, view, user=user.id)}


def files_get_upload_url_external(ctx: ApiContext, params: Json) -> Json:
    filename = require(params, "filename")
    length = number(params, "length", default=-1)
    if length < 0:
        raise ApiError("invalid_arguments")
    ws = ctx.workspace
    file_id = new_id("F")
    secret = secrets.token_urlsafe(12)
    with ws.lock:
        ws.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "size": length,
            "secret": secret,
            "content": None,
            "shared": [],
        }
    return {"upload_url": f"{ctx.http_base()}/upload/{file_id}/{secret}", "file_id": file_id}


def files_complete_upload_external(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    entries = json_value(params, "files")
    if not isinstance(entries, list) or not entries:
        raise ApiError("invalid_arguments")
    done: list[Json] = []
    with ws.lock:
        for entry in entries:
            stored = ws.files.get(str(entry.get("id")))
            if stored is None or stored["content"] is None:
                raise ApiError("file_not_found")
            if entry.get("title"):
                stored["title"] = entry["title"]
            done.append(stored)
    shared = [_file_object(ctx, f) for f in done]
    channel_ref = optional(params, "channel_id") or optional(params, "channel")
    if channel_ref is not None:
        channel = ws.get_channel(channel_ref)
        message = bot_message(
            ws, {"text": params.get("initial_comment") or "", "files": shared, "upload": True}
        )
        stored_message = ws.add_message(
            channel=channel, message=message, thread_ts=optional(params, "thread_ts")
        )
        with ws.lock:
            for f in done:
                f["shared"].append({"channel": channel.id, "ts": stored_message["ts"]})
    return {"files": [{"id": f["id"], "title": f["title"]} for f in shared]}


def _file_object(ctx: ApiContext, stored: Json) -> Json:
    ws = ctx.workspace
    return {
        "id": stored["id"],
        "name": stored["name"],
        "title": stored["title"],
        "size": len(stored["content"] or b""),
        "mimetype": "text/plain",
        "user": ws.bot_user_id,
        "url_private": f"{ctx.http_base()}/files/{stored['id']}/{stored['name']}",
        "permalink": f"https://{ws.team_domain}.slack.com/files/{ws.bot_user_id}/{stored['id']}/{stored['name']}",
    }


METHODS: dict[str, Handler] = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
}
