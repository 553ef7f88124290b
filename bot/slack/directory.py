"""Who is this Slack user? Resolves a user id into an `Actor` with every RBAC subject they hold.

Email comes from `users.info` (Tier 4), group membership from `usergroups.list` with
`include_users` (Tier 2, so it is fetched for the whole workspace once per TTL rather than per
user). Both are cached for `ttl` seconds, so removing someone from a group takes effect within a
TTL. If Slack cannot be asked, resolution fails closed (`SlackError`): a person whose groups are
unknown might escape a group `deny`, so no decision is taken on partial subjects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.errors import SlackError, UserError
from bot.model import Actor


@dataclass(frozen=True)
class _Profile:
    name: str
    email: str | None
    is_bot: bool
    deleted: bool
    team_id: str | None
    is_guest: bool


class SlackDirectory:
    def __init__(self, client: WebClient, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._profiles: dict[str, tuple[float, _Profile]] = {}
        self._groups: tuple[float, dict[str, tuple[str, ...]]] | None = None
        self._by_email: dict[str, tuple[float, str | None]] = {}

    def actor(self, user_id: str) -> Actor:
        """The user's name, email and group handles (cached)."""
        profile = self._profile(user_id)
        if profile.deleted:
            raise UserError("Your Slack account is deactivated.")
        groups = tuple(
            sorted(handle for handle, members in self._group_members().items() if user_id in members)
        )
        return Actor(
            user_id=user_id,
            name=profile.name,
            email=profile.email,
            groups=groups,
            is_bot=profile.is_bot,
            team_id=profile.team_id,
            is_guest=profile.is_guest,
        )

    def user_id_by_email(self, email: str) -> str | None:
        """The Slack user with this e-mail (`users.lookupByEmail`, cached), or None when there is none."""
        key = email.strip().lower()
        now = self._clock()
        with self._lock:
            cached = self._by_email.get(key)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            found = self._client.users_lookupByEmail(email=key)["user"]
            user_id: str | None = str(found["id"]) if found.get("id") and not found.get("deleted") else None
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                raise SlackError(
                    f"Slack users.lookupByEmail failed: {exc.response.get('error', 'error')}"
                ) from exc
            user_id = None
        except SlackClientError as exc:
            raise SlackError(f"Slack users.lookupByEmail failed: {type(exc).__name__}") from exc
        with self._lock:
            self._by_email[key] = (now, user_id)
        return user_id

    def invalidate(self) -> None:
        with self._lock:
            self._profiles.clear()
            self._by_email.clear()
            self._groups = None

    def _profile(self, user_id: str) -> _Profile:
        now = self._clock()
        with self._lock:
            cached = self._profiles.get(user_id)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            user = self._client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            raise SlackError(f"Slack users.info failed: {exc.response.get('error', 'error')}") from exc
        except SlackClientError as exc:
            raise SlackError(f"Slack users.info failed: {type(exc).__name__}") from exc
        raw_profile = user.get("profile") or {}
        profile = _Profile(
            name=str(
                raw_profile.get("display_name") or user.get("name") or raw_profile.get("real_name") or user_id
            ),
            email=(str(raw_profile["email"]).lower() if raw_profile.get("email") else None),
            is_bot=bool(user.get("is_bot")),
            deleted=bool(user.get("deleted")),
            team_id=str(user["team_id"]) if user.get("team_id") else None,
            is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        )
        with self._lock:
            self._profiles[user_id] = (now, profile)
        return profile

    def _group_members(self) -> dict[str, tuple[str, ...]]:
        now = self._clock()
        with self._lock:
            cached = self._groups
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = self._client.usergroups_list(include_users=True)
        except SlackApiError as exc:
            raise SlackError(f"Slack usergroups.list failed: {exc.response.get('error', 'error')}") from exc
        except SlackClientError as exc:
            raise SlackError(f"Slack usergroups.list failed: {type(exc).__name__}") from exc
        members: dict[str, tuple[str, ...]] = {}
        for group in response.get("usergroups") or []:
            if group.get("date_delete"):
                continue
            handle = str(group.get("handle") or "")
            if not handle:
                continue
            users = group.get("users")
            if users is None:
                # include_users is a hint; fall back to asking for this group's members
                try:
                    users = self._client.usergroups_users_list(usergroup=group["id"]).get("users") or []
                except SlackApiError as exc:
                    raise SlackError(
                        f"Slack usergroups.users.list failed: {exc.response.get('error', 'error')}"
                    ) from exc
            members[handle] = tuple(str(u) for u in users)
        with self._lock:
            self._groups = (now, members)
        return members
