"""Shared domain values passed between layers: who is asking, from where, and what to answer.

Frozen dataclasses only; no I/O. Raw Slack payloads are parsed into these at the transport edge
(`bot.slack.listeners`) so that use cases never see a Slack dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NewType

UserId = NewType("UserId", str)
ChannelId = NewType("ChannelId", str)


class Surface(StrEnum):
    """Where a command was typed; decides how private answers are delivered."""

    SLASH = "slash"
    MENTION = "mention"
    DM = "dm"
    BUTTON = "button"
    SCHEDULE = "schedule"  # a schedule firing on behalf of its creator
    SWEEP = "sweep"  # the leader completing an approved request on behalf of its approver


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


@dataclass(frozen=True)
class Actor:
    """The person behind a command, with every RBAC subject they hold."""

    user_id: str
    name: str
    email: str | None = None
    groups: tuple[str, ...] = ()
    is_bot: bool = False

    @property
    def subjects(self) -> tuple[str, ...]:
        """RBAC subjects in policy form: `slack:U…`, `email:…`, `group:<handle>`."""
        out = [f"slack:{self.user_id}"]
        if self.email:
            out.append(f"email:{self.email.lower()}")
        out.extend(f"group:{handle}" for handle in self.groups)
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
