"""Scheduled posts from Slack: add, list, fire into the channel, remove."""

from __future__ import annotations

from e2e_world import ADMIN, DEV, OPS_CHANNEL, World
from e2e_world import message_text as _text

from bot.sandbox.waiting import wait_until


def test_a_schedule_added_in_slack_posts_its_report_in_that_channel(world: World) -> None:
    world.driver.send_command(  # answered in the channel, for everyone to see
        user=ADMIN,
        channel=OPS_CHANNEL,
        command="/ops",
        text='schedule add morning-digest --kind workflow-digest --cron "0 9 * * mon-fri" '
        "--timezone Europe/Paris",
    )
    added = wait_until(
        lambda: [m for m in world.driver.messages(OPS_CHANNEL) if "morning-digest" in _text(m)],
        timeout=15,
        message="the in-channel confirmation",
    )
    assert added
    listing = _text(world.command(ADMIN, "schedule list"))
    assert "morning-digest" in listing and "workflow-digest" in listing

    # the leader fires it; here it is fired at once instead of waiting for Monday 09:00
    world.bot.schedules.fire_now("morning-digest")
    wait_until(
        lambda: [
            m
            for m in world.driver.messages(OPS_CHANNEL)
            if "digest" in _text(m).lower() and m is not added[0]
        ],
        timeout=15,
        message="the digest in the channel",
    )

    refused = _text(world.command(DEV, "schedule remove morning-digest"))
    assert "schedules, delete" in refused
    world.command(ADMIN, "schedule remove morning-digest")
    assert "morning-digest" not in _text(world.command(ADMIN, "schedule list"))


def test_bad_schedules_are_refused_with_what_to_type(world: World) -> None:
    answer = _text(world.command(ADMIN, 'schedule add x --kind app-health --cron "61 9 * * *"'))
    assert "cron" in answer.lower()
    answer = _text(
        world.command(ADMIN, 'schedule add y --kind app-health --cron "0 9 * * *" --cluster nowhere')
    )
    assert "no cluster `nowhere`" in answer
    assert "`x`" not in _text(world.command(ADMIN, "schedule list"))
