"""Who may use the bot right now: one person's flood is slowed down, answered and audited."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from commands_world import Tier
from e2e_world import ADMIN, DEV

from bot.actions.admission import RateLimiter
from bot.actions.housekeeping import Housekeeping
from bot.store.repos import EventDedup


def test_past_the_per_person_limit_the_answer_is_slow_down_and_the_refusal_is_audited(tier: Tier) -> None:
    deps = dataclasses.replace(tier.deps, limiter=RateLimiter(2))
    answers = [tier.do(DEV, "whoami", deps=deps).text for _ in range(3)]

    assert all("You are *bob*" in answer for answer in answers[:2])
    assert "slow down" in answers[2].lower() and "2 commands in a minute" in answers[2]
    audit = tier.last_audit(DEV)
    assert (audit.command, audit.result) == ("whoami", "throttled")
    assert "You are *alice*" in tier.do(ADMIN, "whoami", deps=deps).text  # others are not slowed down


def test_the_leader_forgets_slack_event_ids_slack_can_no_longer_redeliver(tier: Tier) -> None:
    dedup = EventDedup(tier.world.bot.database)
    now = datetime.now(UTC)
    assert dedup.first_time("Ev-old", now - timedelta(hours=2))
    assert dedup.first_time("Ev-new", now)

    assert Housekeeping(dedup, clock=lambda: now).prune_once() >= 1

    assert dedup.first_time("Ev-old", now)  # forgotten
    assert not dedup.first_time("Ev-new", now)  # still a redelivery
