"""In-memory state of the sandbox Slack workspace: users, channels, groups, messages, threads, views.

Messages are kept in Slack's wire shape (plain dicts) so `conversations.history` and the
control API can hand them out as they are. Thread bookkeeping (`reply_count`, `latest_reply`,
tombstones for deleted parents) lives here so every writer (chat.*, response_url, acks) gets it
right the same way. Not here: HTTP, tokens, rate limits, Socket Mode (see `web_api`, `socket_mode`).
Every public method takes the one lock, so callers from many server threads see consistent state.
Each write also publishes what changed on `changes` (a `ChangeFeed`), which the web page's event
stream follows; writers outside this module (views) call `changed()` after their write.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.slack.changes import ChangeFeed

Json = dict[str, Any]

_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_id(prefix: str, length: int = 10) -> str:
    """A Slack-looking id (`V0A1B2C3D4`): prefix plus upper-case letters and digits."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class SlackStateError(Exception):
    """A request named something that does not exist or may not change; `error` is Slack's error code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class User:
    id: str
    name: str
    email: str | None = None
    real_name: str | None = None
    tz: str = "Europe/London"
    is_bot: bool = False
    is_admin: bool = False
    deleted: bool = False
    bot_id: str | None = None
    # Slack Connect: a person from another workspace keeps their home team's id
    home_team: str | None = None
    is_restricted: bool = False  # a multi-channel guest
    is_ultra_restricted: bool = False  # a single-channel guest

    def to_slack(self, team_id: str) -> Json:
        """The `user` object of users.info."""
        real_name = self.real_name or self.name
        profile: Json = {"real_name": real_name, "display_name": self.name, "real_name_normalized": real_name}
        if self.email:
            profile["email"] = self.email
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": self.home_team or team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": real_name,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": 0,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "profile": profile,
        }


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    im_user: str | None = None
    bot_is_member: bool = True
    created: int = field(default_factory=lambda: int(time.time()))
    messages: dict[str, Json] = field(default_factory=dict)

    @property
    def is_im(self) -> bool:
        return self.im_user is not None

    def to_slack(self) -> Json:
        """The `channel` object of conversations.info."""
        base: Json = {"id": self.id, "created": self.created, "is_im": self.is_im, "is_archived": False}
        if self.is_im:
            base.update({"user": self.im_user, "is_open": True, "is_org_shared": False})
            return base
        base.update(
            {
                "name": self.name,
                "name_normalized": self.name,
                "is_channel": not self.is_private,
                "is_group": self.is_private,
                "is_private": self.is_private,
                "is_mpim": False,
                "is_member": self.bot_is_member,
                "is_general": False,
            }
        )
        return base


@dataclass
class Usergroup:
    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)
    description: str = ""

    def to_slack(self, *, team_id: str, include_users: bool) -> Json:
        group: Json = {
            "id": self.id,
            "team_id": team_id,
            "is_usergroup": True,
            "name": self.name,
            "handle": self.handle,
            "description": self.description,
            "date_delete": 0,
            "user_count": len(self.users),
        }
        if include_users:
            group["users"] = list(self.users)
        return group


class Workspace:
    """The whole workspace; thread-safe. Tests may read it, the driver goes through HTTP instead."""

    def __init__(
        self,
        *,
        team_id: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        team_name: str = "Sandbox",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.team_id = team_id
        self.team_domain = "sandbox"
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.clock = clock
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, Usergroup] = {}
        self.ephemerals: list[Json] = []
        self.views: dict[str, Json] = {}
        self.files: dict[str, Json] = {}
        self.triggers: dict[str, tuple[str, float]] = {}
        self._last_ts = 0.0
        self.changes = ChangeFeed()
        self.users[bot_user_id] = User(
            id=bot_user_id, name="chatops", real_name="ChatOps", is_bot=True, bot_id=bot_id
        )

    # ----------------------------------------------------------------- clock and ids
    def next_ts(self) -> str:
        """A message ts: seconds.microseconds, unique and strictly increasing, like Slack's."""
        with self.lock:
            now = round(self.clock(), 6)
            self._last_ts = max(now, round(self._last_ts + 0.000001, 6))
            return f"{self._last_ts:.6f}"

    def issue_trigger(self, user_id: str) -> str:
        """A trigger_id as Slack sends with commands and clicks; views.open accepts it for 3 seconds."""
        with self.lock:
            trigger_id = f"{int(self.clock())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
            self.triggers[trigger_id] = (user_id, time.monotonic())
            return trigger_id

    # ----------------------------------------------------------------- change notifications
    def changed(self, kind: str, action: str, **where: Any) -> None:
        """Tell watchers that something changed: `kind` (message, ephemeral, view, ...), `action`, where.

        Called under the lock by this module's writers, so watchers see changes in the order made.
        """
        with self.lock:
            self.changes.publish({"type": kind, "action": action, **where})

    # ----------------------------------------------------------------- directory
    def upsert_user(self, user_id: str, **changes: Any) -> User:
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                user = User(id=user_id, name=changes.pop("name", None) or user_id.lower())
                self.users[user_id] = user
            for key, value in changes.items():
                if value is not None or key in ("email", "real_name"):
                    setattr(user, key, value)
            self.changed("user", "changed", user=user_id)
            return user

    def get_user(self, user_id: str) -> User:
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                raise SlackStateError("user_not_found")
            return user

    def find_user_by_email(self, email: str) -> User:
        with self.lock:
            for user in self.users.values():
                if user.email and user.email.lower() == email.lower() and not user.deleted:
                    return user
            raise SlackStateError("users_not_found")

    def upsert_channel(self, channel_id: str, **changes: Any) -> Channel:
        with self.lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                channel = Channel(id=channel_id, name=changes.pop("name", None) or channel_id.lower())
                self.channels[channel_id] = channel
            for key, value in changes.items():
                if value is not None:
                    setattr(channel, key, value)
            self.changed("channel", "changed", channel=channel.id)
            return channel

    def get_channel(self, channel_ref: str) -> Channel:
        """Resolve a channel id, `#name`/`name`, or a user id (the bot's DM with that user)."""
        with self.lock:
            if channel_ref in self.channels:
                return self.channels[channel_ref]
            if channel_ref in self.users and not self.users[channel_ref].is_bot:
                return self.open_dm(channel_ref)
            name = channel_ref.removeprefix("#")
            for channel in self.channels.values():
                if not channel.is_im and channel.name == name:
                    return channel
            raise SlackStateError("channel_not_found")

    def open_dm(self, user_id: str) -> Channel:
        """The DM channel between the bot and a user, created on first use (ids stay stable)."""
        with self.lock:
            self.get_user(user_id)
            for channel in self.channels.values():
                if channel.im_user == user_id:
                    return channel
            channel = Channel(id="D" + user_id.lstrip("UW"), name=user_id, im_user=user_id)
            if channel.id in self.channels:
                channel.id = new_id("D")
            self.channels[channel.id] = channel
            self.changed("channel", "changed", channel=channel.id)
            return channel

    def upsert_usergroup(self, group_id: str, **changes: Any) -> Usergroup:
        with self.lock:
            group = self.usergroups.get(group_id)
            if group is None:
                handle = changes.get("handle") or group_id.lower()
                group = Usergroup(id=group_id, handle=handle, name=changes.get("name") or handle)
                self.usergroups[group_id] = group
            for key, value in changes.items():
                if value is not None:
                    setattr(group, key, list(value) if key == "users" else value)
            self.changed("usergroup", "changed", usergroup=group_id)
            return group

    def get_usergroup(self, group_id: str) -> Usergroup:
        with self.lock:
            group = self.usergroups.get(group_id)
            if group is None:
                raise SlackStateError("no_such_subteam")
            return group

    # ----------------------------------------------------------------- messages
    def add_message(self, *, channel: Channel, message: Json, thread_ts: str | None = None) -> Json:
        """Store a new message (top-level or thread reply) and keep its parent's thread fields right.

        `message` holds the author fields and content; ts, type, team and thread fields are filled here.
        Raises `thread_not_found`-style errors as Slack does when replying under an unknown parent.
        """
        with self.lock:
            stored = dict(message)
            stored["type"] = "message"
            stored["ts"] = self.next_ts()
            stored.setdefault("team", self.team_id)
            if thread_ts:
                parent = channel.messages.get(thread_ts)
                if parent is None:
                    # Slack accepts a reply to an unknown ts but it never shows up as a thread;
                    # refusing makes the bot's mistake visible instead.
                    raise SlackStateError("thread_not_found")
                parent_ts: str = parent["thread_ts"] if "thread_ts" in parent else parent["ts"]
                parent = channel.messages[parent_ts]
                stored["thread_ts"] = parent_ts
                stored["parent_user_id"] = parent.get("user")
                channel.messages[stored["ts"]] = stored
                self._refresh_thread(channel, parent_ts)
            else:
                channel.messages[stored["ts"]] = stored
            self._message_changed("posted", channel, stored)
            return copy.deepcopy(stored)

    def get_message(self, channel: Channel, ts: str) -> Json:
        with self.lock:
            message = channel.messages.get(ts)
            if message is None or message.get("subtype") == "tombstone":
                raise SlackStateError("message_not_found")
            return message

    def update_message(self, *, channel: Channel, ts: str, changes: Json) -> Json:
        """Apply chat.update: replace text/blocks/attachments and mark the message edited."""
        with self.lock:
            message = self.get_message(channel, ts)
            for key in ("text", "blocks", "attachments", "metadata"):
                if key in changes:
                    if changes[key] is None:
                        message.pop(key, None)
                    else:
                        message[key] = changes[key]
            message["edited"] = {"user": message.get("user", self.bot_user_id), "ts": self.next_ts()}
            self._message_changed("updated", channel, message)
            return copy.deepcopy(message)

    def delete_message(self, *, channel: Channel, ts: str) -> None:
        """Apply chat.delete. A parent with replies becomes a tombstone, as Slack shows it."""
        with self.lock:
            message = self.get_message(channel, ts)
            parent_ts = message.get("thread_ts")
            if parent_ts == ts and message.get("reply_count"):
                tombstone: Json = {
                    key: message[key]
                    for key in (
                        "ts",
                        "thread_ts",
                        "reply_count",
                        "reply_users",
                        "reply_users_count",
                        "latest_reply",
                    )
                    if key in message
                }
                tombstone.update(
                    {
                        "type": "message",
                        "subtype": "tombstone",
                        "text": "This message was deleted.",
                        "user": "USLACKBOT",
                        "hidden": True,
                    }
                )
                channel.messages[ts] = tombstone
                self._message_changed("deleted", channel, message)
                return
            del channel.messages[ts]
            if parent_ts and parent_ts != ts and parent_ts in channel.messages:
                self._refresh_thread(channel, parent_ts)
            self._message_changed("deleted", channel, message)

    def _message_changed(self, action: str, channel: Channel, message: Json) -> None:
        self.changed(
            "message", action, channel=channel.id, ts=message["ts"], thread_ts=message.get("thread_ts")
        )

    def _refresh_thread(self, channel: Channel, parent_ts: str) -> None:
        parent = channel.messages[parent_ts]
        replies = [
            m for ts, m in channel.messages.items() if m.get("thread_ts") == parent_ts and ts != parent_ts
        ]
        if not replies:
            if parent.get("subtype") == "tombstone":
                del channel.messages[parent_ts]
                return
            for key in ("thread_ts", "reply_count", "reply_users", "reply_users_count", "latest_reply"):
                parent.pop(key, None)
            return
        users: list[str] = []
        for reply in replies:
            author = reply.get("user")
            if author and author not in users:
                users.append(author)
        parent.update(
            {
                "thread_ts": parent_ts,
                "reply_count": len(replies),
                "reply_users": users,
                "reply_users_count": len(users),
                "latest_reply": replies[-1]["ts"],
            }
        )

    def history(self, channel: Channel) -> list[Json]:
        """Top-level messages, oldest first, as they look now (thread broadcasts included)."""
        with self.lock:
            return [
                copy.deepcopy(m)
                for ts, m in channel.messages.items()
                if m.get("thread_ts") in (None, ts) or m.get("subtype") == "thread_broadcast"
            ]

    def thread(self, channel: Channel, ts: str) -> list[Json]:
        """A thread: parent first, then replies oldest first. A lone message is its own one-message thread."""
        with self.lock:
            message = channel.messages.get(ts)
            if message is None:
                raise SlackStateError("thread_not_found")
            parent_ts = message.get("thread_ts") or ts
            parent = channel.messages.get(parent_ts)
            if parent is None:
                raise SlackStateError("thread_not_found")
            replies = [
                copy.deepcopy(m)
                for rts, m in channel.messages.items()
                if m.get("thread_ts") == parent_ts and rts != parent_ts
            ]
            return [copy.deepcopy(parent), *replies]

    def add_reaction(self, *, channel: Channel, ts: str, name: str, user: str) -> None:
        with self.lock:
            message = self.get_message(channel, ts)
            reactions: list[Json] = message.setdefault("reactions", [])
            for reaction in reactions:
                if reaction["name"] == name:
                    if user in reaction["users"]:
                        raise SlackStateError("already_reacted")
                    reaction["users"].append(user)
                    reaction["count"] += 1
                    break
            else:
                reactions.append({"name": name, "users": [user], "count": 1})
            self.changed(
                "reaction",
                "added",
                channel=channel.id,
                ts=ts,
                thread_ts=message.get("thread_ts"),
                name=name,
                user=user,
            )

    # ----------------------------------------------------------------- ephemerals
    def add_ephemeral(
        self,
        *,
        user: str,
        channel: str,
        text: str = "",
        blocks: list[Json] | None = None,
        thread_ts: str | None = None,
        source: str,
        from_user: str | None = None,
    ) -> Json:
        """Record an ephemeral message that `user` saw; `source` says how it arrived (for debugging)."""
        with self.lock:
            ephemeral: Json = {
                "type": "message",
                "subtype": "ephemeral",
                "ts": self.next_ts(),
                "user": from_user or self.bot_user_id,
                "to_user": user,
                "channel": channel,
                "text": text,
                "source": source,
            }
            if from_user is None:
                ephemeral["bot_id"] = self.bot_id
            if blocks is not None:
                ephemeral["blocks"] = blocks
            if thread_ts:
                ephemeral["thread_ts"] = thread_ts
            self.ephemerals.append(ephemeral)
            self._ephemeral_changed("posted", ephemeral)
            return copy.deepcopy(ephemeral)

    def ephemerals_for(self, *, user: str, channel: str | None = None) -> list[Json]:
        with self.lock:
            return [
                copy.deepcopy(e)
                for e in self.ephemerals
                if e["to_user"] == user and (channel is None or e["channel"] == channel)
            ]

    def find_ephemeral(self, ts: str) -> Json:
        with self.lock:
            for ephemeral in self.ephemerals:
                if ephemeral["ts"] == ts:
                    return ephemeral
            raise SlackStateError("message_not_found")

    def replace_ephemeral(self, ts: str, content: Json) -> None:
        """A response_url's `replace_original` on an ephemeral: new text, and blocks only if given."""
        with self.lock:
            ephemeral = self.find_ephemeral(ts)
            ephemeral.update({k: v for k, v in content.items() if v is not None})
            if content.get("blocks") is None:
                ephemeral.pop("blocks", None)
            self._ephemeral_changed("updated", ephemeral)

    def delete_ephemeral(self, ts: str) -> None:
        """A response_url's `delete_original` on an ephemeral (gone already: nothing to do)."""
        with self.lock:
            for ephemeral in [e for e in self.ephemerals if e["ts"] == ts]:
                self.ephemerals.remove(ephemeral)
                self._ephemeral_changed("deleted", ephemeral)

    def _ephemeral_changed(self, action: str, ephemeral: Json) -> None:
        self.changed(
            "ephemeral",
            action,
            user=ephemeral["to_user"],
            channel=ephemeral["channel"],
            ts=ephemeral["ts"],
            thread_ts=ephemeral.get("thread_ts"),
        )

    # ----------------------------------------------------------------- snapshot
    def directory(self) -> Json:
        """Who and what is in the workspace, without any messages: what a client's sidebar needs."""
        with self.lock:
            channels = []
            for channel in self.channels.values():
                info = channel.to_slack()
                info["name"] = channel.name
                channels.append(info)
            return {
                "team": {"id": self.team_id, "domain": self.team_domain, "name": self.team_name},
                "bot": {
                    "user_id": self.bot_user_id,
                    "bot_id": self.bot_id,
                    "app_id": self.app_id,
                    "name": self.users[self.bot_user_id].name,
                },
                "users": [u.to_slack(self.team_id) for u in self.users.values()],
                "usergroups": [
                    g.to_slack(team_id=self.team_id, include_users=True) for g in self.usergroups.values()
                ],
                "channels": channels,
            }

    def snapshot(self) -> Json:
        """Everything a demo page needs to draw the workspace, as plain JSON."""
        with self.lock:
            channels = []
            for channel in self.channels.values():
                info = channel.to_slack()
                info["name"] = channel.name
                info["messages"] = self.history(channel)
                info["threads"] = {
                    m["ts"]: self.thread(channel, m["ts"])[1:]
                    for m in info["messages"]
                    if m.get("reply_count")
                }
                channels.append(info)
            return {
                "team": {"id": self.team_id, "domain": self.team_domain, "name": self.team_name},
                "bot": {"user_id": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id},
                "users": [u.to_slack(self.team_id) for u in self.users.values()],
                "usergroups": [
                    g.to_slack(team_id=self.team_id, include_users=True) for g in self.usergroups.values()
                ],
                "channels": channels,
                "ephemerals": copy.deepcopy(self.ephemerals),
                "views": copy.deepcopy(list(self.views.values())),
                "files": [{k: v for k, v in f.items() if k != "content"} for f in self.files.values()],
            }
