"""Shared domain values passed between layers: who is asking, from where, and what to answer.

Frozen dataclasses only; no I/O. Raw Slack payloads are parsed into these at the transport edge
(`bot.slack.listeners`) so that use cases never see a Slack dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NewType

UserId = NewType("UserId", str)

#: A subject marker (never a policy subject): the person does not get the policy's default role.
NO_DEFAULT_ROLE = "!no-default-role"
ChannelId = NewType("ChannelId", str)


class Surface(StrEnum):
    """Where a command was typed; decides how private answers are delivered."""

    SLASH = "slash"
    MENTION = "mention"
    DM = "dm"
    BUTTON = "button"
    SCHEDULE = "schedule"  # a schedule firing on behalf of its creator
    SWEEP = "sweep"  # the leader completing an approved request on behalf of its approver
    SUBSCRIPTION = (
        "subscription"  # the leader posting about an outside operation for a subscription's creator
    )


@dataclass(frozen=True)
class Origin:
    """Where a command came from and how to answer there."""

    surface: Surface
    channel_id: str
    user_id: str
    text: str
    response_url: str | None = None
    thread_ts: str | None = None
    trigger_id: str | None = None
    delivery_id: str | None = None  # event_id or envelope id: used to drop Slack redeliveries
    action_id: str | None = None  # for a button click: which button
    action_value: str | None = None  # for a button click: the value it carries (an id, nothing more)
    team_id: str | None = None  # the workspace the request came through
    enterprise_id: str | None = None  # its Enterprise Grid organisation, if any


@dataclass(frozen=True)
class Actor:
    """The person behind a command, with every RBAC subject they hold."""

    user_id: str
    name: str
    email: str | None = None
    groups: tuple[str, ...] = ()
    is_bot: bool = False
    team_id: str | None = None  # the person's home workspace (another one for Slack Connect users)
    is_guest: bool = False  # a multi- or single-channel guest
    roles: tuple[str, ...] = ()  # roles given by the bot's configuration (a guest's `guest_role`)
    default_role: bool = True  # whether the policy's default role applies (not to guests)

    @property
    def subjects(self) -> tuple[str, ...]:
        """RBAC subjects in policy form: `slack:U…`, `email:…`, `group:<handle>`, roles given here.

        Without the default role, the marker `NO_DEFAULT_ROLE` ends the list; the enforcer
        then leaves the policy's default role out.
        """
        out = [f"slack:{self.user_id}"]
        if self.email:
            out.append(f"email:{self.email.lower()}")
        out.extend(f"group:{handle}" for handle in self.groups)
        out.extend(self.roles)
        if not self.default_role:
            out.append(NO_DEFAULT_ROLE)
        return tuple(out)


class Visibility(StrEnum):
    EPHEMERAL = "ephemeral"
    IN_CHANNEL = "in_channel"


@dataclass(frozen=True)
class Reply:
    """A platform-neutral answer; `bot.render` turns it into Slack text and blocks."""

    text: str
    visibility: Visibility = Visibility.EPHEMERAL
    title: str | None = None
    sections: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    context: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
