"""Web API methods about who is who: auth.test, apps.connections.open, users.*, usergroups.*.

Answers in Slack's shapes (`users.info` -> `user.profile.email`, `tz`, `is_bot`, `deleted`;
`users.lookupByEmail` -> `users_not_found`; `usergroups.list` with optional `include_users`).
Not here: messages, views, files. Registered by `web_api.WebApi` through `METHODS`.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack.context import ApiContext, ApiError, Handler, flag, require

Json = dict[str, Any]


def auth_test(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    return {
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": "Sandbox",
        "user": ws.users[ws.bot_user_id].name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "is_enterprise_install": False,
    }


def apps_connections_open(ctx: ApiContext, params: Json) -> Json:
    return {"url": ctx.socket_mode.issue_url()}


def users_info(ctx: ApiContext, params: Json) -> Json:
    user = ctx.workspace.get_user(require(params, "user"))
    return {"user": user.to_slack(ctx.workspace.team_id)}


def users_lookup_by_email(ctx: ApiContext, params: Json) -> Json:
    user = ctx.workspace.find_user_by_email(require(params, "email"))
    return {"user": user.to_slack(ctx.workspace.team_id)}


def usergroups_list(ctx: ApiContext, params: Json) -> Json:
    ws = ctx.workspace
    include_users = flag(params, "include_users")
    with ws.lock:
        groups = [g.to_slack(team_id=ws.team_id, include_users=include_users) for g in ws.usergroups.values()]
    return {"usergroups": groups}


def usergroups_users_list(ctx: ApiContext, params: Json) -> Json:
    group = ctx.workspace.get_usergroup(require(params, "usergroup"))
    return {"users": list(group.users)}


def conversations_open(ctx: ApiContext, params: Json) -> Json:
    """Only DMs between the bot and one user are supported (what a bot opens)."""
    users = [u.strip() for u in require(params, "users").split(",") if u.strip()]
    if len(users) != 1:
        raise ApiError("not_implemented")
    ws = ctx.workspace
    with ws.lock:
        existed = any(c.im_user == users[0] for c in ws.channels.values())
        channel = ws.open_dm(users[0])
    return {"no_op": existed, "already_open": existed, "channel": {"id": channel.id}}


METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "apps.connections.open": apps_connections_open,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users_list,
    "conversations.open": conversations_open,
}
