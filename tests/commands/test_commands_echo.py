"""Nothing a person types comes back as a Slack control sequence, whatever they type.

Arbitrary text with mentions, broadcasts, channel links and links mixed in goes through every
verb that echoes what it was given (errors quoting a value, parameters, schedules, approval
reasons); no answer, message or card may carry any of them as markup.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta

from commands_world import Tier
from e2e_world import ADMIN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.model import Reply
from bot.records import Approval
from bot.render.approvals import render_request
from bot.render.blocks import render_reply
from bot.render.schedules import schedules_reply
from bot.schedules.jobs import ScheduleEntry, ScheduleSpec

CONTROLS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@UEVIL0001>",
    "<#CEVIL0001>",
    "<https://evil.example|x>",
)
# What Slack delivers for such text typed by hand: escaped; pasted mentions arrive as markup.
TYPED = st.lists(
    st.one_of(
        st.sampled_from(CONTROLS),
        st.sampled_from([c.replace("<", "&lt;").replace(">", "&gt;") for c in CONTROLS]),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    ),
    min_size=1,
    max_size=5,
).map("".join)
VERBS = (
    "{x}",
    "run {x}",
    "run deploy-report -p env={x}",
    "run hello -p {x}",
    "status wf-1 --cluster {x}",
    "schedule add nightly --kind app-health --cron {x}",
    "audit --user {x}",
    "history {x}",
)


def _rendered(reply: Reply) -> str:
    text, blocks = render_reply(reply)
    return text + json.dumps(blocks)


def _assert_inert(output: str) -> None:
    for control in CONTROLS:
        assert control not in output, (control, output)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=TYPED, verb=st.sampled_from(VERBS))
def test_nothing_typed_comes_back_as_slack_markup_in_any_answer(tier: Tier, typed: str, verb: str) -> None:
    reply = tier.do(ADMIN, verb.format(x=shlex.quote(typed)))
    _assert_inert(_rendered(reply))


@settings(max_examples=60, deadline=None)
@given(typed=TYPED)
def test_nothing_typed_comes_back_as_markup_in_a_card_or_a_schedule(typed: str) -> None:
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    approval = Approval(
        id="a" * 32,
        action="rollback",
        cluster="prod",
        project="shop",
        app="checkout",
        target="41->40",
        from_revision="b" * 40,
        to_revision="c" * 40,
        reason=typed,
        requester_id="U0ALICE01",
        requester_name=typed,
        channel_id="C0OPS0001",
        message_ts=None,
        status="pending",
        decided_by=None,
        decided_at=None,
        expires_at=now + timedelta(hours=1),
        created_at=now,
        run_id=None,
        version=1,
    )
    text, blocks = render_request(approval, now=now)
    _assert_inert(text + json.dumps(blocks))
    spec = ScheduleSpec(
        name="nightly",
        kind="run",
        cron="0 2 * * *",
        channel="C0OPS0001",
        template="report",
        parameters={"title": typed},
    )
    _assert_inert(_rendered(schedules_reply([ScheduleEntry(spec=spec, next_run=now)], slash="/ops")))


def test_audit_of_a_typed_mention_names_the_person_in_code_not_as_a_mention(tier: Tier) -> None:
    output = _rendered(tier.do(ADMIN, "audit --user <@UEVIL0001>"))
    assert "`UEVIL0001`" in output
    _assert_inert(output)
