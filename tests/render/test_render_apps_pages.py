"""Pages of `apps`: which page an answer shows, and the commands its footer gives for the others.

Pure rendering: 2,000 applications make 80 pages of 25; the footer names the page shown, gives
the command for the next one (the last page: the previous one) with the filters that produced
the list and the configured slash command, and a page past the end shows the last page and says so.
"""

from __future__ import annotations

import pytest

from bot.applications import AppSummary
from bot.model import Reply
from bot.render.apps import PAGE_SIZE, PageInfo, apps_reply
from bot.render.blocks import render_reply
from bot.sandbox.slack.blocks import check_message_blocks

MANY = 2000


def summary(index: int) -> AppSummary:
    return AppSummary(
        name=f"svc-{index:04d}",
        project="payments",
        cluster="prod-eu",
        namespace="payments",
        sync_status="Synced",
        health_status="Healthy",
        revision="v1.0.0",
        auto_sync=False,
        operation_phase=None,
    )


APPS = [summary(index) for index in range(MANY)]


def footer(reply: Reply) -> str:
    _, blocks = render_reply(reply)
    assert check_message_blocks(blocks) == []
    return str(reply.context or "")


def names(reply: Reply) -> list[str]:
    return [line.split("`")[1] for line in reply.text.splitlines()]


def test_2000_apps_make_80_pages_and_each_can_be_reached() -> None:
    first = apps_reply(APPS)
    assert "Page 1 of 80 (25 shown)" in footer(first)
    assert "Next page: `/ops apps --page 2`." in footer(first)
    second = apps_reply(APPS, PageInfo(page=2))
    assert names(second) == [f"svc-{index:04d}" for index in range(PAGE_SIZE, 2 * PAGE_SIZE)]
    assert "Page 2 of 80" in footer(second) and "`/ops apps --page 3`" in footer(second)
    last = apps_reply(APPS, PageInfo(page=80))
    assert names(last)[-1] == "svc-1999"
    assert "Page 80 of 80 (25 shown)" in footer(last)
    assert "Next page" not in footer(last) and "Previous page: `/ops apps --page 79`." in footer(last)


def test_the_page_commands_repeat_the_filters_and_use_the_configured_slash_command() -> None:
    info = PageInfo(page=3, cluster="prod-eu", filters=("--project payments", "--out-of-sync"))
    text = footer(apps_reply(APPS, info, slash="/deploybot"))
    assert "Next page: `/deploybot apps --cluster prod-eu --project payments --out-of-sync --page 4`." in text
    assert "/ops" not in text
    assert "Narrow the list with `--project P`, `--out-of-sync` or `--degraded`" in text


@pytest.mark.parametrize("asked", [81, 500, 10_000])
def test_a_page_past_the_end_shows_the_last_page_and_says_so(asked: int) -> None:
    reply = apps_reply(APPS, PageInfo(page=asked))
    text = footer(reply)
    assert names(reply) == [f"svc-{index:04d}" for index in range(MANY - PAGE_SIZE, MANY)]
    assert f"Page 80 of 80 (25 shown): page {asked} is past the end, so this is the last page." in text
    assert "Previous page: `/ops apps --page 79`." in text


def test_a_short_last_page_counts_what_it_shows() -> None:
    reply = apps_reply(APPS[:60], PageInfo(page=3, cluster="dev"))
    assert names(reply) == [f"svc-{index:04d}" for index in range(50, 60)]
    assert footer(reply).startswith(
        "Page 3 of 3 (10 shown). Previous page: `/ops apps --cluster dev --page 2`."
    )


def test_one_page_has_no_page_commands_and_a_page_past_it_says_so() -> None:
    assert "Page" not in footer(apps_reply(APPS[:25]))
    text = footer(apps_reply(APPS[:25], PageInfo(page=2)))
    assert text.startswith("Page 1 of 1: page 2 is past the end.")
    assert "--page" not in text


def test_a_filter_cannot_break_out_of_the_page_command() -> None:
    text = footer(apps_reply(APPS, PageInfo(filters=("--project <!channel>`x",))))
    assert "<!channel>" not in text
    assert "`/ops apps --project &lt;!channel&gt;'x --page 2`" in text


def test_an_empty_list_has_no_pages() -> None:
    reply = apps_reply([], PageInfo(page=4, filters=("--degraded",)))
    assert reply.text == "No application matches `--degraded`."
    assert reply.context is None
