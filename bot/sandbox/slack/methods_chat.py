"""Web API methods about messages: chat.*, reactions.add and the conversations.* read side.

Writes go through `Workspace` so threads stay consistent; reads answer as Slack does:
`conversations.history` newest first, `conversations.replies` parent first then replies oldest
first (the parent heads every page, as Slack does), both with `latest`/`oldest`/`inclusive`,
`limit` and `response_metadata.next_cursor` pagination.
Not here: views, files, directory. Registered by `web_api.WebApi` through `METHODS`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from bot.sandbox.slack.content import message_content
from bot.sandbox.slack.context import ApiContext, ApiError, Handler, flag, number, optional, require
from bot.sandbox.slack.workspace import Channel, Workspace

Json = dict[str, Any]

MAX_PAGE = 999
DEFAULT_PAGE = 100


def bot_message(ws: Workspace, content: Json) -> Json:
    """Author fields Slack puts on a bot's post, plus the content (None fields dropped)."""
    message: Json = {
        "user": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "text": "",
        "bot_profile": {"id": ws.bot_id, "app_id": ws.app_id, "name": "chatops", "team_id": ws.team_id},
    }
    message.update({k: v for k, v in content.items() if v is not None})
    return message


def _writable_channel(ctx: ApiContext, ref: str) -> Channel:
    channel = ctx.workspace.get_channel(ref)
    if not channel.is_im and not channel.bot_is_member:
        raise ApiError("not_in_channel")
    return channel


def chat_post_message(ctx: ApiContext, params: Json) -> Json:
    channel = _writable_channel(ctx, require(params, "channel"))
    content = message_content(params, truncate=True)
    message = bot_message(ctx.workspace, content)
    thread_ts = optional(params, "thread_ts")
    if thread_ts and flag(params, "reply_broadcast"):
        message["subtype"] = "thread_broadcast"
    stored = ctx.workspace.add_message(channel=channel, message=message, thread_ts=thread_ts)
    if ctx.on_bot_message is not None:
        ctx.on_bot_message(channel, stored)
    return {"channel": channel.id, "ts": stored["ts"], "message": stored}


def chat_update(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    channel = ws.get_channel(require(params, "channel"))
    ts = require(params, "ts")
    current = ws.get_message(channel, ts)
    if current.get("user") != ws.bot_user_id:
        raise ApiError("cant_update_message")
    content = message_content(params, truncate=False, require_content=False)
    if not content:
        raise ApiError("no_text")
    updated = ws.update_message(channel=channel, ts=ts, changes=content)
    return {"channel": channel.id, "ts": ts, "text": updated.get("text", ""), "message": updated}


def chat_delete(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    channel = ws.get_channel(require(params, "channel"))
    ts = require(params, "ts")
    if ws.get_message(channel, ts).get("user") != ws.bot_user_id:
        raise ApiError("cant_delete_message")
    ws.delete_message(channel=channel, ts=ts)
    return {"channel": channel.id, "ts": ts}


def chat_post_ephemeral(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    channel = _writable_channel(ctx, require(params, "channel"))
    user = ws.get_user(require(params, "user"))
    if user.deleted:
        raise ApiError("user_not_found")
    content = message_content(params, truncate=False)
    ephemeral = ws.add_ephemeral(
        user=user.id,
        channel=channel.id,
        text=content.get("text") or "",
        blocks=content.get("blocks"),
        thread_ts=optional(params, "thread_ts"),
        source="chat.postEphemeral",
    )
    return {"message_ts": ephemeral["ts"]}


def chat_get_permalink(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    channel = ws.get_channel(require(params, "channel"))
    ts = require(params, "message_ts")
    message = ws.get_message(channel, ts)
    link = f"https://{ws.team_domain}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
    thread_ts = message.get("thread_ts")
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


def reactions_add(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    channel = ws.get_channel(require(params, "channel"))
    ws.add_reaction(
        channel=channel, ts=require(params, "timestamp"), name=require(params, "name"), user=ws.bot_user_id
    )
    return {}


def conversations_info(ctx: ApiContext, params: Json) -> Json:
    return {"channel": ctx.workspace.get_channel(require(params, "channel")).to_slack()}


def conversations_history(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    channel = ws.get_channel(require(params, "channel"))
    messages = _in_window(ws.history(channel), params)
    messages.reverse()  # Slack answers newest first
    cursor = _decode_cursor(params)
    if cursor is not None:
        messages = [m for m in messages if float(m["ts"]) <= float(cursor)]
    page, next_cursor = _page(messages, params)
    return {
        "messages": page,
        "has_more": bool(next_cursor),
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": next_cursor},
    }


def conversations_replies(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    channel = ws.get_channel(require(params, "channel"))
    parent, *replies = ws.thread(channel, require(params, "ts"))
    replies = _in_window(replies, params)
    cursor = _decode_cursor(params)
    if cursor is not None:
        replies = [m for m in replies if float(m["ts"]) >= float(cursor)]
    page, next_cursor = _page(replies, params)
    return {
        "messages": [parent, *page],
        "has_more": bool(next_cursor),
        "response_metadata": {"next_cursor": next_cursor},
    }


def _in_window(messages: list[Json], params: Json) -> list[Json]:
    latest = optional(params, "latest")
    oldest = optional(params, "oldest")
    inclusive = flag(params, "inclusive")

    def keep(message: Json) -> bool:
        ts = float(message["ts"])
        if latest is not None and (ts > float(latest) or (ts == float(latest) and not inclusive)):
            return False
        return not (oldest is not None and (ts < float(oldest) or (ts == float(oldest) and not inclusive)))

    return [m for m in messages if keep(m)]


def _page(messages: list[Json], params: Json) -> tuple[list[Json], str]:
    limit = number(params, "limit", default=DEFAULT_PAGE)
    limit = DEFAULT_PAGE if limit <= 0 else min(limit, MAX_PAGE)
    page, rest = messages[:limit], messages[limit:]
    if not rest:
        return page, ""
    return page, base64.b64encode(f"next_ts:{rest[0]['ts']}".encode()).decode()


def _decode_cursor(params: Json) -> str | None:
    cursor = optional(params, "cursor")
    if cursor is None:
        return None
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError("invalid_cursor") from exc
    if not text.startswith("next_ts:"):
        raise ApiError("invalid_cursor")
    ts = text.removeprefix("next_ts:")
    try:
        float(ts)
    except ValueError as exc:
        raise ApiError("invalid_cursor") from exc
    return ts


METHODS: dict[str, Handler] = {
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "reactions.add": reactions_add,
    "conversations.info": conversations_info,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
}
