"""What each scheduled report says, and that a huge input still renders as one valid Slack message."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from schedules_fakes import NOW, make_approval, make_run

from bot import records
from bot.model import Reply
from bot.render import texts
from bot.render.blocks import MAX_BLOCKS, MAX_SECTION_TEXT, MAX_TEXT, render_reply
from bot.schedules import reports


def _fits_slack(reply: Reply) -> None:
    text, blocks = render_reply(reply)
    assert len(text) <= MAX_TEXT
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT


def test_digest_counts_phases_and_lists_failures_with_log_links() -> None:
    runs = [make_run(1, "Succeeded"), make_run(2, "Succeeded"), make_run(3, "Failed"), make_run(4, "Error")]
    runs.append(make_run(5, "Failed", kind=records.RUN_SYNC))  # a sync is not a workflow: left out
    reply = reports.workflow_digest(runs, window_hours=24, now=NOW, log_links={"r3": "https://logs/r3"})
    assert reply.title == "Workflow digest: last 24h"
    assert "4 workflow run(s)" in reply.text
    assert "Succeeded: *2*" in reply.text and "Failed: *1*" in reply.text and "Error: *1*" in reply.text
    failures = reply.sections[0]
    assert "*Failures (2)*" in failures
    assert "<https://logs/r3|backfill-3> from `backfill` on prod-eu, by alice" in failures
    assert "`backfill-4`" in failures
    assert "backfill-5" not in failures
    assert reply.visibility == "in_channel"


def test_a_workflow_followed_in_two_channels_counts_once_and_says_it_was_started_outside() -> None:
    def followed(run_id: str, channel: str) -> records.Run:
        return replace(
            make_run(9, "Failed"),
            id=run_id,
            name=None,
            channel_id=channel,
            requester_id="",
            requester_name="CronWorkflow nightly",
            parameters={
                "workflow": "nightly-x7k2p",
                "subscription": "sub-1",
                "initiated_by": "CronWorkflow nightly",
                "operation": "uid-1",
            },
        )

    runs = [make_run(1, "Succeeded"), followed("f1", "C1"), followed("f2", "C2")]
    reply = reports.workflow_digest(runs, window_hours=24, now=NOW)
    assert "2 workflow run(s)" in reply.text and "Failed: *1*" in reply.text
    assert (
        "`nightly-x7k2p` from `backfill` on prod-eu, by CronWorkflow nightly (outside the bot)"
        in reply.sections[0]
    )
    listed = texts.runs_reply(runs, mine=False).text
    assert listed.count("nightly-x7k2p") == 1
    assert "by CronWorkflow nightly (started outside the bot; followed for `sub-1`)" in listed
    assert "<@>" not in listed


def test_digest_of_a_quiet_window() -> None:
    assert reports.workflow_digest([], window_hours=12, now=NOW).text == "No workflow ran in this window."


def test_digest_of_thousands_of_failures_fits_one_message() -> None:
    runs = [replace(make_run(i, "Failed"), name="x" * 200 + str(i)) for i in range(3000)]
    reply = reports.workflow_digest(runs, window_hours=24, now=NOW)
    assert f"…and {3000 - reports.MAX_LISTED} more" in reply.sections[0]
    _fits_slack(reply)


def test_pending_approvals_soonest_expiry_first() -> None:
    reply = reports.pending_approvals(
        [
            make_approval(1, expires_in=timedelta(hours=2, minutes=5)),
            make_approval(2, expires_in=timedelta(minutes=9)),
        ],
        now=NOW,
    )
    assert reply.text == "2 request(s) waiting for a decision."
    first, second = reply.sections[0].split("\n")
    assert "*cart-2*" in first and "expires in 9m" in first
    assert "*cart-1*" in second and "expires in 2h05m" in second and "asked by bob" in second


def test_no_pending_approvals() -> None:
    assert reports.pending_approvals([], now=NOW).text == "No approval is waiting."


def test_app_health_lists_unwell_apps_per_cluster() -> None:
    apps = [
        reports.AppStatus("cart", "shop", "prod-eu", "OutOfSync", "Healthy"),
        reports.AppStatus("pay", "shop", "prod-us", "Synced", "Degraded"),
        reports.AppStatus("web", "shop", "prod-eu", "Synced", "Healthy"),
    ]
    reply = reports.app_health(apps, clusters=["prod-eu", "prod-us"])
    assert reply.text == "2 of 3 application(s) are not Synced and Healthy."
    assert reply.sections == (
        "*prod-eu* (1 need attention)\n:warning: *cart* (shop): OutOfSync / Healthy",
        "*prod-us* (1 need attention)\n:warning: *pay* (shop): Synced / Degraded",
    )


def test_app_health_all_healthy() -> None:
    apps = [reports.AppStatus("web", "shop", "prod-eu", "Synced", "Healthy")]
    reply = reports.app_health(apps, clusters=["prod-eu"])
    assert reply.text.startswith(":white_check_mark: All 1 application(s) are Synced and Healthy")
    assert reply.sections == ()


def test_app_health_of_many_clusters_fits_one_message() -> None:
    apps = [
        reports.AppStatus(f"app-{i}", "p", f"cluster-{i % 80}", "OutOfSync", "Missing") for i in range(4000)
    ]
    reply = reports.app_health(apps, clusters=sorted({app.cluster for app in apps}))
    _fits_slack(reply)


def test_run_line_names_the_template() -> None:
    reply = reports.run_submitted(
        schedule="nightly", template="backfill", cluster="prod-eu", run_name="backfill-x1"
    )
    assert reply.text == ":calendar: Schedule *nightly* submitted `backfill` on prod-eu: `backfill-x1`"
