"""The `schedule` verbs against a real `ScheduleService` on a migrated SQLite file.

What a person sees: the listing (config and stored schedules, next post in each one's zone),
an added schedule posting in the channel where it was typed, and refusals that say what to type.
"""

from __future__ import annotations

import pytest
from schedules_fakes import RecordingSender, ServiceFactory

from bot.commands import grammar, schedule_verbs
from bot.errors import UserError
from bot.model import Actor, Origin, Surface, Visibility

ACTOR = Actor(user_id="U0ALICE01", name="alice")
ORIGIN = Origin(surface=Surface.SLASH, channel_id="C0TEAM001", user_id="U0ALICE01", text="schedule add")


def _add(**fields: object) -> grammar.ScheduleAddCommand:
    options: dict[str, object] = {"raw": "schedule add", "name": "nightly", "kind": "workflow-digest"}
    options["cron"] = "30 7 * * mon-fri"
    options.update(fields)
    return grammar.ScheduleAddCommand(**options)  # type: ignore[arg-type]


def test_list_shows_config_and_stored_schedules_with_next_post_in_their_zone(
    make_service: ServiceFactory,
) -> None:
    service = make_service()
    schedule_verbs.add_schedule(
        _add(timezone="America/New_York"), actor=ACTOR, origin=ORIGIN, service=service
    )

    reply = schedule_verbs.list_schedules(grammar.ScheduleListCommand(raw="schedule list"), service=service)

    body = "\n".join(reply.sections)
    assert reply.text == "2 schedule(s)."
    assert reply.visibility is Visibility.EPHEMERAL
    digest, nightly = body.splitlines()
    # NOW is Monday 2 March 2026 09:00 UTC = 10:00 in Paris, so the Paris digest is next on Tuesday
    # and New York (04:00 there) still gets its 07:30 post today.
    assert "*morning-digest*" in digest and "`0 9 * * 1-5` (Europe/Paris)" in digest
    assert "next 2026-03-03 09:00 CET" in digest and "config file" in digest
    assert "*nightly*" in nightly and "<#C0TEAM001>" in nightly
    assert "next 2026-03-02 07:30 EST" in nightly and "added in Slack" in nightly


def test_an_added_schedule_posts_in_the_channel_where_it_was_typed(
    make_service: ServiceFactory, sender: RecordingSender
) -> None:
    service = make_service()
    command = _add(name="weekly-backfill", kind="run", template="hello", params=(("greeting", "hi"),))

    reply = schedule_verbs.add_schedule(command, actor=ACTOR, origin=ORIGIN, service=service)
    service.fire_now("weekly-backfill")

    assert reply.visibility is Visibility.IN_CHANNEL
    assert "<@U0ALICE01> added schedule *weekly-backfill*" in reply.text
    assert "`hello` `greeting=hi`" in reply.text and "<#C0TEAM001>" in reply.text
    (post,) = sender.snapshot()
    assert post.channel == "C0TEAM001"
    assert "Schedule *weekly-backfill* submitted `hello`" in post.text


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (_add(cron="0 9 * * 8"), "day of week '8' is out of range"),
        (_add(timezone="Mars/Olympus"), "Mars/Olympus"),
        (_add(kind="weather"), "unknown schedule kind 'weather'"),
        (_add(name="morning-digest"), "defined in the configuration file"),
    ],
)
def test_a_refused_schedule_says_why_and_what_to_type(
    make_service: ServiceFactory, command: grammar.ScheduleAddCommand, says: str
) -> None:
    service = make_service()

    with pytest.raises(UserError) as refused:
        schedule_verbs.add_schedule(command, actor=ACTOR, origin=ORIGIN, service=service)

    message = str(refused.value)
    assert says in message
    assert "Usage: `/ops schedule add NAME --kind KIND" in message
    assert "`/ops schedule list` shows the names already in use" in message
    assert [entry.spec.name for entry in service.list()] == ["morning-digest"]


def test_a_name_already_taken_is_refused(make_service: ServiceFactory) -> None:
    service = make_service()
    schedule_verbs.add_schedule(_add(), actor=ACTOR, origin=ORIGIN, service=service)

    with pytest.raises(UserError, match="already exists"):
        schedule_verbs.add_schedule(
            _add(kind="pending-approvals"), actor=ACTOR, origin=ORIGIN, service=service
        )


def test_remove_forgets_a_stored_schedule_and_refuses_others(make_service: ServiceFactory) -> None:
    service = make_service()
    schedule_verbs.add_schedule(_add(), actor=ACTOR, origin=ORIGIN, service=service)

    reply = schedule_verbs.remove_schedule(
        grammar.ScheduleRemoveCommand(raw="", name="nightly"), service=service
    )

    assert "Schedule *nightly* is removed" in reply.text
    assert [entry.spec.name for entry in service.list()] == ["morning-digest"]
    with pytest.raises(UserError, match=r"no schedule `nightly` added in Slack.*`/ops schedule list`"):
        schedule_verbs.remove_schedule(grammar.ScheduleRemoveCommand(raw="", name="nightly"), service=service)
    with pytest.raises(UserError, match="remove it there"):
        schedule_verbs.remove_schedule(
            grammar.ScheduleRemoveCommand(raw="", name="morning-digest"), service=service
        )


def test_an_empty_listing_says_how_to_add_one(make_service: ServiceFactory) -> None:
    service = make_service(settings_schedules=())

    reply = schedule_verbs.list_schedules(
        grammar.ScheduleListCommand(raw="schedule list"), service=service, slash="/argo"
    )

    assert reply.text.startswith("No schedule yet. Add one with `/argo schedule add NAME")
