"""The Web API as slack_sdk's WebClient sees it: auth, directory, messages, threads, cursors, files."""

from __future__ import annotations

import json

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_world import ALICE, BOB, OPS, PROD

from bot.sandbox.slack import SandboxRequestError, SlackDriver, SlackSandbox


def _error(call: object) -> str:
    assert isinstance(call, SlackApiError)
    return str(call.response["error"])


def test_auth_test_names_the_bot_and_team(web_client: WebClient, slack_sandbox: SlackSandbox) -> None:
    answer = web_client.auth_test()

    assert answer["user_id"] == slack_sandbox.bot_user_id
    assert answer["team_id"] == slack_sandbox.team_id
    assert answer["bot_id"] == slack_sandbox.bot_id


@pytest.mark.parametrize(
    ("token", "error"),
    [("xoxb-not-the-one", "invalid_auth"), (None, "not_authed"), ("app", "not_allowed_token_type")],
)
def test_bad_tokens_are_refused(
    token: str | None, error: str, slack_sandbox: SlackSandbox, slack_driver: SlackDriver
) -> None:
    client = WebClient(
        base_url=slack_sandbox.api_url, token=slack_sandbox.app_token if token == "app" else token
    )

    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=OPS, text="hi")

    assert _error(refused.value) == error
    assert slack_driver.messages(OPS) == []


def test_directory_lookups(web_client: WebClient, slack_driver: SlackDriver) -> None:
    alice = web_client.users_info(user=ALICE)["user"]
    assert alice["profile"]["email"] == "alice@example.com"
    assert alice["real_name"] == "Alice Liddell"
    assert alice["is_bot"] is False and alice["deleted"] is False and alice["tz"]
    assert web_client.users_lookupByEmail(email="bob@example.com")["user"]["id"] == BOB
    assert web_client.usergroups_list(include_users=True)["usergroups"][0]["users"] == [ALICE]
    assert "users" not in web_client.usergroups_list()["usergroups"][0]

    slack_driver.set_usergroup_users("S0SRE", [BOB])
    slack_driver.update_user(ALICE, deleted=True)

    assert web_client.usergroups_users_list(usergroup="S0SRE")["users"] == [BOB]
    assert web_client.users_info(user=ALICE)["user"]["deleted"] is True
    for call, error in [
        (lambda: web_client.users_info(user="U0NOBODY"), "user_not_found"),
        (lambda: web_client.users_lookupByEmail(email="nobody@example.com"), "users_not_found"),
        (lambda: web_client.usergroups_users_list(usergroup="S0NONE"), "no_such_subteam"),
        (lambda: web_client.conversations_info(channel="C0NONE"), "channel_not_found"),
    ]:
        with pytest.raises(SlackApiError) as refused:
            call()
        assert _error(refused.value) == error


def test_history_shows_messages_as_they_are_now(web_client: WebClient, slack_driver: SlackDriver) -> None:
    first = web_client.chat_postMessage(channel=OPS, text="run started")
    second = web_client.chat_postMessage(channel=OPS, text="to be deleted")
    web_client.chat_update(
        channel=OPS,
        ts=first["ts"],
        text="run succeeded",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*succeeded*"}}],
    )
    web_client.chat_delete(channel=OPS, ts=second["ts"])

    history = web_client.conversations_history(channel=OPS)["messages"]

    assert [m["text"] for m in history] == ["run succeeded"]
    assert history[0]["edited"]["user"] == first["message"]["user"]
    assert history[0]["blocks"][0]["text"]["text"] == "*succeeded*"
    assert slack_driver.messages(OPS) == history
    with pytest.raises(SlackApiError) as gone:
        web_client.chat_update(channel=OPS, ts=second["ts"], text="again")
    assert _error(gone.value) == "message_not_found"


def test_threads_count_replies_and_deleted_parents_become_tombstones(
    web_client: WebClient, slack_driver: SlackDriver
) -> None:
    parent = web_client.chat_postMessage(channel=OPS, text="workflow nightly-x7 Running")["ts"]
    replies = [
        web_client.chat_postMessage(channel=OPS, thread_ts=parent, text=f"step {i}")["ts"] for i in (1, 2)
    ]

    thread = web_client.conversations_replies(channel=OPS, ts=parent)["messages"]
    assert [m["text"] for m in thread] == ["workflow nightly-x7 Running", "step 1", "step 2"]
    assert thread[0]["reply_count"] == 2 and thread[0]["latest_reply"] == replies[-1]
    assert all(m["thread_ts"] == parent for m in thread)
    assert [m["text"] for m in slack_driver.messages(OPS)] == ["workflow nightly-x7 Running"]

    web_client.chat_delete(channel=OPS, ts=parent)

    top = slack_driver.messages(OPS)
    assert top[0]["subtype"] == "tombstone" and top[0]["reply_count"] == 2
    assert [m["text"] for m in slack_driver.replies(OPS, parent)[1:]] == ["step 1", "step 2"]
    web_client.chat_delete(channel=OPS, ts=replies[0])
    assert slack_driver.replies(OPS, parent)[0]["reply_count"] == 1


def test_history_and_replies_paginate_with_cursors(
    web_client: WebClient, slack_sandbox: SlackSandbox
) -> None:
    slack_sandbox.limiter.enabled = False  # 25 posts in a second would be paced by Slack
    posted = [web_client.chat_postMessage(channel=PROD, text=f"m{i}")["ts"] for i in range(7)]
    parent = posted[0]
    for i in range(5):
        web_client.chat_postMessage(channel=PROD, thread_ts=parent, text=f"r{i}")

    # slack_sdk reuses one response object while paging, so read each page as it comes.
    pages = [
        ([m["text"] for m in p["messages"]], p["has_more"])
        for p in web_client.conversations_history(channel=PROD, limit=3)
    ]
    assert pages == [(["m6", "m5", "m4"], True), (["m3", "m2", "m1"], True), (["m0"], False)]

    reply_pages = [
        ([m["text"] for m in p["messages"]], p["messages"][0]["ts"])
        for p in web_client.conversations_replies(channel=PROD, ts=parent, limit=2)
    ]
    assert [texts[1:] for texts, _ in reply_pages] == [["r0", "r1"], ["r2", "r3"], ["r4"]]
    assert all(first == parent for _, first in reply_pages)

    window = web_client.conversations_history(
        channel=PROD, oldest=posted[2], latest=posted[4], inclusive=True
    )
    assert [m["text"] for m in window["messages"]] == ["m4", "m3", "m2"]
    with pytest.raises(SlackApiError) as bad:
        web_client.conversations_history(channel=PROD, cursor="not-a-cursor")
    assert _error(bad.value) == "invalid_cursor"


def test_dm_permalink_reaction_and_ephemeral(web_client: WebClient, slack_driver: SlackDriver) -> None:
    dm = web_client.conversations_open(users=ALICE)["channel"]["id"]
    posted = web_client.chat_postMessage(channel=dm, text="your run finished")
    web_client.reactions_add(channel=dm, timestamp=posted["ts"], name="white_check_mark")
    web_client.chat_postEphemeral(channel=OPS, user=BOB, text="only bob")
    link = web_client.chat_getPermalink(channel=dm, message_ts=posted["ts"])["permalink"]

    assert web_client.conversations_info(channel=dm)["channel"]["is_im"] is True
    assert slack_driver.messages(dm)[0]["reactions"] == [
        {"name": "white_check_mark", "users": [posted["message"]["user"]], "count": 1}
    ]
    assert link.endswith(f"/archives/{dm}/p{posted['ts'].replace('.', '')}")
    assert [e["text"] for e in slack_driver.ephemerals(user=BOB, channel=OPS)] == ["only bob"]
    assert slack_driver.ephemerals(user=ALICE) == []


def test_channel_the_bot_is_not_in(web_client: WebClient, slack_driver: SlackDriver) -> None:
    slack_driver.add_channel("C0SECRET", name="secret", is_private=True, bot_is_member=False)

    with pytest.raises(SlackApiError) as refused:
        web_client.chat_postMessage(channel="C0SECRET", text="hi")

    assert _error(refused.value) == "not_in_channel"


def test_form_encoded_calls_work_as_well_as_json(slack_sandbox: SlackSandbox, web_client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "form"}}]
    posted = web_client.api_call(
        "chat.postMessage", data={"channel": OPS, "text": "form", "blocks": json.dumps(blocks)}
    )

    assert posted["message"]["blocks"] == blocks


def test_file_upload_shares_a_file_message(web_client: WebClient, slack_driver: SlackDriver) -> None:
    parent = web_client.chat_postMessage(channel=OPS, text="logs")["ts"]

    uploaded = web_client.files_upload_v2(
        channel=OPS,
        thread_ts=parent,
        content="line 1\nline 2\n",
        filename="main.log",
        title="main.log tail",
        initial_comment="last lines of step build",
    )

    file_id = uploaded["files"][0]["id"]
    reply = slack_driver.replies(OPS, parent)[1]
    assert reply["text"] == "last lines of step build"
    assert reply["files"][0]["id"] == file_id and reply["files"][0]["title"] == "main.log tail"
    assert slack_driver.file(file_id)["content"] == "line 1\nline 2\n"


def test_driver_reports_unknown_things_plainly(slack_driver: SlackDriver) -> None:
    with pytest.raises(SandboxRequestError) as unknown:
        slack_driver.messages("C0NONE")
    assert unknown.value.status == 404 and unknown.value.error == "channel_not_found"


def test_message_metadata_comes_back_in_history_and_replies(web_client: WebClient) -> None:
    metadata = {"event_type": "chatops_outbox", "event_payload": {"key": "parent:r1"}}
    parent = web_client.chat_postMessage(channel=OPS, text="parent", metadata=metadata)["ts"]
    reply_meta = {"event_type": "chatops_outbox", "event_payload": {"key": "step:r1:1"}}
    web_client.chat_postMessage(channel=OPS, text="reply", thread_ts=parent, metadata=reply_meta)
    history = web_client.conversations_history(channel=OPS, include_all_metadata=True)["messages"]
    assert [m.get("metadata") for m in history] == [metadata]
    replies = web_client.conversations_replies(channel=OPS, ts=parent, include_all_metadata=True)["messages"]
    assert [m.get("metadata") for m in replies] == [metadata, reply_meta]
    web_client.chat_update(channel=OPS, ts=parent, text="edited")  # an edit without metadata keeps it
    history = web_client.conversations_history(channel=OPS, include_all_metadata=True)["messages"]
    assert history[0]["text"] == "edited" and history[0]["metadata"] == metadata
