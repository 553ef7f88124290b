"""The `schedule` verbs: list, add and remove scheduled posts.

Each function is one use case over the schedule service (`bot.schedules.jobs.ScheduleService`,
reached through the `ScheduleBook` Protocol) and works on any replica: the service stores the
schedule and the leader picks it up. A schedule added here posts in the channel where the
command was typed. The service's validation errors (unknown kind, bad cron expression or time
zone, a name already taken or defined in the config file) come back as `UserError`s that add
the usage line, so the person sees what to type instead.

Left out: permission checks (`schedules get|create|delete`, checked by the handler from
`catalog.TOPIC_PERMISSIONS` before these run) and channel restrictions. Called by
`bot.commands.handlers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from bot.commands import catalog, grammar
from bot.errors import UserError
from bot.model import Actor, Origin, Reply
from bot.render import schedules as texts
from bot.render.schedules import EntryView

EXAMPLE_CRON = '--cron "0 9 * * mon-fri" --timezone Europe/Paris'


class ScheduleBook(Protocol):
    """The schedule service's command side (`ScheduleService` fits)."""

    def add(
        self,
        *,
        name: str,
        kind: str,
        cron: str,
        channel: str,
        created_by: str,
        timezone: str = ...,
        cluster: str | None = ...,
        template: str | None = ...,
        parameters: Mapping[str, str] | None = ...,
    ) -> EntryView: ...

    def remove(self, name: str) -> bool: ...

    def list(self) -> Sequence[EntryView]: ...


def list_schedules(
    command: grammar.ScheduleListCommand, *, service: ScheduleBook, slash: str = "/ops"
) -> Reply:
    """Every schedule, config and stored, with its next post."""
    return texts.schedules_reply(service.list(), slash=slash)


def add_schedule(
    command: grammar.ScheduleAddCommand,
    *,
    actor: Actor,
    origin: Origin,
    service: ScheduleBook,
    slash: str = "/ops",
) -> Reply:
    """Store a schedule that posts in the channel where the command was typed.

    Raises:
        UserError: the service refused it; the message says why and shows the usage.
    """
    try:
        entry = service.add(
            name=command.name,
            kind=command.kind,
            cron=command.cron,
            channel=origin.channel_id,
            created_by=actor.user_id,
            timezone=command.timezone,
            cluster=command.cluster,
            template=command.template,
            parameters=dict(command.params),
        )
    except UserError as exc:
        raise UserError(
            f"Cannot add schedule `{command.name}`: {exc}.\n"
            f"Usage: `{catalog.usage_for('schedule', slash).splitlines()[1]}`\n"
            f"For example `{slash} schedule add {command.name} --kind {command.kind} {EXAMPLE_CRON}`; "
            f"`{slash} schedule list` shows the names already in use."
        ) from exc
    return texts.added_reply(entry, user_id=actor.user_id)


def remove_schedule(
    command: grammar.ScheduleRemoveCommand, *, service: ScheduleBook, slash: str = "/ops"
) -> Reply:
    """Forget a schedule added in Slack; a config-file schedule is removed from the file instead.

    Raises:
        UserError: no schedule added in Slack has that name, or it comes from the config file.
    """
    try:
        removed = service.remove(command.name)
    except UserError as exc:
        raise UserError(f"Cannot remove schedule `{command.name}`: {exc}.") from exc
    if not removed:
        raise UserError(
            f"There is no schedule `{command.name}` added in Slack. "
            f"Type `{slash} schedule list` to see the schedules and their names."
        )
    return texts.removed_reply(command.name)
