"""How the terminal console words what happens (pure): where a message is, who wrote it, what an
edit changed; its help built from the workspace's names; and the prompt kept while lines arrive."""

from __future__ import annotations

import io
from typing import Any

import pytest

from bot.demo.console import CONSOLE_HELP, console_help, describe
from bot.demo.follow import DELETED, EDITED, FORM, POSTED, REACTION, Change, sse_events
from bot.demo.readable import Names
from bot.demo.terminal import CLEAR_LINE, Terminal

NAMES = Names(
    users={"U0ALICE": "alice", "U0BOB": "bob", "U0SANDBOT": "chatops"},
    channels={"C0OPS": "ops"},
    groups={},
)
THREAD = "\u203a"


def message(text: str, **fields: Any) -> dict[str, Any]:
    return {"ts": "1700000000.000100", "user": "U0SANDBOT", "text": text, **fields}


def test_a_new_message_says_where_and_who_and_reads_on_one_line_when_short() -> None:
    change = Change(action=POSTED, channel="C0OPS", message=message("Deploying *payments* for <@U0ALICE>"))
    assert describe(change, names=NAMES) == "[#ops] chatops: Deploying payments for @alice"


def test_a_long_message_is_indented_under_its_author() -> None:
    change = Change(action=POSTED, channel="C0OPS", message=message("line one\nline two"))
    assert describe(change, names=NAMES) == "[#ops] chatops:\n  line one\n  line two"


def test_a_thread_reply_names_its_parent_and_an_ephemeral_says_only_you() -> None:
    parent = message(":arrows_counterclockwise: *hello-x7k2p* is running")
    reply = message("step `main` started", ts="1700000001.000100", thread_ts=parent["ts"])
    change = Change(action=POSTED, channel="C0OPS", message=reply, parent=parent)
    assert describe(change, names=NAMES) == (
        f'[#ops {THREAD} thread "🔄 hello-x7k2p is running"] chatops: step `main` started'
    )
    private = Change(action=POSTED, channel="C0OPS", message=message("hi"), ephemeral_for="U0ALICE")
    assert describe(private, names=NAMES) == "[#ops, only you] chatops: hi"
    dm = Change(action=POSTED, channel="D0ALICE", message=message("hi"), dm_with="U0ALICE")
    assert describe(dm, names=NAMES) == "[DM] chatops: hi"


def test_an_edit_shows_only_what_changed_under_the_first_line_as_it_was() -> None:
    before = message("*Deploy*\nPhase: Running\nRequested by <@U0ALICE>\nmany more lines")
    after = message("*Deploy*\nPhase: Succeeded\nRequested by <@U0ALICE>\nmany more lines")
    change = Change(action=EDITED, channel="C0OPS", message=after, before=before)
    assert describe(change, names=NAMES) == '[#ops] ~ edited "Deploy": Phase: Succeeded'


def test_an_edit_that_only_takes_lines_away_says_what_went() -> None:
    before = message("Approve?\n[buttons]")
    after = message("Approve?")
    change = Change(action=EDITED, channel="C0OPS", message=after, before=before)
    assert describe(change, names=NAMES) == '[#ops] ~ edited "Approve?", removed: [buttons]'


def test_an_edit_nobody_could_see_prints_nothing() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "same words"}}]
    before = message("old fallback", blocks=blocks)
    after = message("new fallback", blocks=blocks)
    assert describe(Change(action=EDITED, channel="C0OPS", message=after, before=before), names=NAMES) is None


def test_deletions_reactions_and_forms_are_one_line_each() -> None:
    gone = Change(action=DELETED, channel="C0OPS", message=message("old news"))
    assert describe(gone, names=NAMES) == '[#ops] - deleted: "old news"'
    reacted = Change(
        action=REACTION, channel="C0OPS", message=message("ship it"), detail={"name": "eyes", "user": "U0BOB"}
    )
    assert describe(reacted, names=NAMES) == '[#ops] bob reacted 👀 to "ship it"'
    form = Change(action=FORM, channel="", message={}, detail={"user": "U0ALICE", "title": "Roll back"})
    shown = describe(form, names=NAMES)
    assert shown is not None and shown.startswith("[you] a form opened: 'Roll back'")


def test_changes_are_visible_to_the_right_people() -> None:
    channel = Change(action=POSTED, channel="C0OPS", message=message("x"))
    private = Change(action=POSTED, channel="C0OPS", message=message("x"), ephemeral_for="U0BOB")
    dm = Change(action=POSTED, channel="D0BOB", message=message("x"), dm_with="U0BOB")
    assert channel.visible_to("U0ALICE") and channel.visible_to("U0BOB")
    assert not private.visible_to("U0ALICE") and private.visible_to("U0BOB")
    assert not dm.visible_to("U0ALICE") and dm.visible_to("U0BOB")


def test_the_help_names_the_people_and_channels_it_is_given_and_no_others() -> None:
    shown = console_help(users={"erin": "U1", "frank": "U2"}, channels={"deploys": "C1"}, command="/chatops")
    assert "(erin, frank)" in shown and "(#deploys)" in shown and "after /chatops" in shown
    for name in ("alice", "bob", "carol", "dave", "#ops", "prod-ops", "approvals"):
        assert name not in shown and name not in CONSOLE_HELP
    for word in (":as", ":in", ":click", ":who", ":help", ":quit"):
        assert word in CONSOLE_HELP


def test_server_sent_events_are_read_frame_by_frame() -> None:
    lines = [b"retry: 1000\n", b'data: {"type":"hello"}\n', b"\n", b": keep-alive\n", b"\n"]
    lines += [
        b"id: 7\n",
        b'data: {"type":"message",\n',
        b'data: "seq":7}\n',
        b"\n",
        b"data: not json\n",
        b"\n",
    ]
    assert list(sse_events(iter(lines))) == [{"type": "hello"}, {"type": "message", "seq": 7}]


def test_a_line_printed_while_the_person_types_keeps_their_half_typed_input() -> None:
    out = io.StringIO()
    terminal = Terminal(out, line_buffer=lambda: ":click st")
    terminal.show("before the prompt")
    terminal.prompt_shown("alice@#ops> ")
    terminal.show("[#ops] chatops: step 2 done")
    terminal.prompt_shown(None)
    terminal.show("after the line was entered")
    assert out.getvalue() == (
        "before the prompt\n"
        f"{CLEAR_LINE}[#ops] chatops: step 2 done\nalice@#ops> :click st"
        "after the line was entered\n"
    )


def test_off_a_terminal_lines_are_read_from_the_stream_and_echoed_after_the_prompt() -> None:
    out = io.StringIO()
    terminal = Terminal(out, stdin=io.StringIO("whoami\n:quit\n"))
    assert not terminal.interactive and not terminal.ansi
    assert terminal.read_line("alice@#ops> ") == "whoami"
    assert terminal.read_line("alice@#ops> ") == ":quit"
    with pytest.raises(EOFError):
        terminal.read_line("alice@#ops> ")
    assert out.getvalue() == "alice@#ops> whoami\nalice@#ops> :quit\n"
