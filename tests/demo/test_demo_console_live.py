"""The terminal console against a real Slack stand-in, with the bot's side played through the real
Web API (slack_sdk) and, for commands and clicks, a small bolt app on Socket Mode.

What a new user of `chatops demo` needs: what the bot posts at any time is printed (long after the
last command too), readably, edits as what changed, thread replies under their parent; only what
the current person may see; the console keeps following when the stream drops; a button can be
pressed while a run streams; and closing the console leaves no thread behind."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from console_world import ALICE, BOB, OPS, PROD
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.demo.console import Console, run_console, run_lines
from bot.sandbox.slack import SlackSandbox
from bot.sandbox.waiting import wait_until

WHEN = 1700000000
STARTED = f"<!date^{WHEN}^{{date_num}}|2023-11-14>"
FOLLOWER = "demo-console-follower"
THREAD = "\u203a"  # the mark between a channel and a thread's first line


def wait_shown(out: io.StringIO, text: str, *, timeout: float = 10.0) -> None:
    wait_until(
        lambda: text in out.getvalue(),
        timeout=timeout,
        message=lambda: f"{text!r} in the console's output:\n{out.getvalue()}",
    )


def run_blocks(*, phase: str, progress: str, stop: bool, by: str = ALICE) -> list[dict[str, Any]]:
    """A run's parent message as the bot draws it: header, fields, buttons, a context line."""
    emoji = ":arrows_counterclockwise:" if phase == "Running" else ":white_check_mark:"
    buttons = [{"type": "button", "action_id": "run_logs", "text": {"type": "plain_text", "text": "Logs"}}]
    if stop:
        stop_button = {
            "type": "button",
            "action_id": "run_stop",
            "text": {"type": "plain_text", "text": "Stop"},
        }
        buttons.insert(0, stop_button)
    return [
        {"type": "header", "text": {"type": "plain_text", "text": f"{emoji} nightly-x7k2p"}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Phase*\n{phase}"},
                {"type": "mrkdwn", "text": f"*Progress*\n{progress}"},
                {"type": "mrkdwn", "text": f"*Requested by*\n<@{by}>"},
            ],
        },
        {"type": "actions", "elements": buttons},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"run `nightly-x7k2p` · started <!date^{WHEN}^{{date_num}}|fallback>",
                }
            ],
        },
    ]


def no_follower_left() -> bool:
    return not [t for t in threading.enumerate() if t.name == FOLLOWER and t.is_alive()]


def test_what_the_bot_posts_after_the_console_went_quiet_is_shown_readably(
    make_console: Callable[..., Console], web_client: WebClient
) -> None:
    out = io.StringIO()
    console = make_console(quiet_period=0.2, answer_timeout=5.0)
    console.open(out, wait_for_answers=True)
    console.handle("whoami", out)  # no app is connected: Slack itself answers, only to alice
    assert '[#ops, only you] Slackbot: /ops failed with the error "dispatch_failed"' in out.getvalue()
    # The old console stopped looking once answers went quiet: now nothing is lost however late.
    wait_until(lambda: console.idle_seconds > 1.0, message="the console to be quiet for a while")

    ts = web_client.chat_postMessage(
        channel=OPS, text="nightly", blocks=run_blocks(phase="Running", progress="0/2", stop=True)
    )["ts"]
    day = datetime.fromtimestamp(WHEN).astimezone().strftime("%Y-%m-%d")
    wait_shown(
        out,
        "[#ops] chatops:\n  🔄 nightly-x7k2p\n  Phase: Running\n  Progress: 0/2\n  Requested by: @alice\n"
        f"  [ Stop ] [ Logs ]\n  run `nightly-x7k2p` · started {day}\n",
    )

    web_client.chat_update(
        channel=OPS, ts=ts, text="nightly", blocks=run_blocks(phase="Running", progress="1/2", stop=True)
    )
    wait_shown(out, '[#ops] ~ edited "🔄 nightly-x7k2p": Progress: 1/2\n')
    web_client.chat_postMessage(
        channel=OPS, thread_ts=ts, text=":arrow_forward: step `migrate` started, see <#C0PRODOPS>"
    )
    wait_shown(
        out, f'[#ops {THREAD} thread "🔄 nightly-x7k2p"] chatops: ▶️ step `migrate` started, see #prod-ops\n'
    )
    web_client.chat_update(
        channel=OPS, ts=ts, text="nightly", blocks=run_blocks(phase="Succeeded", progress="2/2", stop=False)
    )
    wait_shown(
        out,
        '[#ops] ~ edited "🔄 nightly-x7k2p": '
        "✅ nightly-x7k2p · Phase: Succeeded · Progress: 2/2 · [ Logs ]\n",
    )

    text = out.getvalue()
    assert text.count("Requested by: @alice") == 1, "an edit shows what changed, not the whole message"
    for raw in ("<@", "<#", "<!date", ":arrow_forward:", "*Phase*"):
        assert raw not in text


def test_only_what_the_current_person_may_see_is_shown(
    make_console: Callable[..., Console], web_client: WebClient
) -> None:
    out = io.StringIO()
    console = make_console()
    console.open(out)
    dm = web_client.conversations_open(users=BOB)["channel"]["id"]
    web_client.chat_postEphemeral(channel=OPS, user=BOB, text="for bob's eyes")
    web_client.chat_postMessage(channel=dm, text="a DM to bob")
    web_client.chat_postEphemeral(channel=OPS, user=ALICE, text="only *alice* sees this")
    web_client.chat_postMessage(channel=PROD, text="in another channel")
    wait_shown(out, "[#prod-ops] chatops: in another channel\n")  # shown in order: the rest is done
    assert "[#ops, only you] chatops: only alice sees this\n" in out.getvalue()
    assert "bob" not in out.getvalue()

    console.handle(":as bob", out)
    web_client.chat_postMessage(channel=dm, text="another DM to bob")
    wait_shown(out, "[DM] chatops: another DM to bob\n")


def test_the_console_follows_again_when_the_stream_ends(
    make_console: Callable[..., Console], web_client: WebClient, slack_sandbox: SlackSandbox
) -> None:
    out = io.StringIO()
    console = make_console()
    console.open(out)
    feed = slack_sandbox.workspace.changes
    feed.close()  # what the stand-in does when it stops: every open stream ends
    wait_shown(out, "(live updates paused")
    web_client.chat_postMessage(channel=OPS, text="posted while nobody was listening")
    feed.reopen()
    wait_shown(out, "[#ops] chatops: posted while nobody was listening\n")
    wait_shown(out, "(live updates back)")
    web_client.chat_postMessage(channel=OPS, text="and after")
    wait_shown(out, "[#ops] chatops: and after\n")
    assert out.getvalue().count("posted while nobody was listening") == 1


def test_a_button_can_be_pressed_while_a_run_streams(
    make_console: Callable[..., Console],
    bolt_app: App,
    connect_bolt: Callable[[App], None],
    web_client: WebClient,
) -> None:
    stop = threading.Event()
    stopped_by: list[str] = []
    runs: list[threading.Thread] = []

    def run(channel: str, user: str) -> None:
        """A run that reports progress until someone presses Stop (a minute at most)."""
        ts = web_client.chat_postMessage(
            channel=channel, text="run", blocks=run_blocks(phase="Running", progress="0", stop=True, by=user)
        )["ts"]
        step = 0
        while not stop.is_set() and step < 1200:
            step += 1
            blocks = run_blocks(phase="Running", progress=str(step), stop=True, by=user)
            web_client.chat_update(channel=channel, ts=ts, text="run", blocks=blocks)
            if step % 5 == 0:
                web_client.chat_postMessage(channel=channel, thread_ts=ts, text=f"step {step} done")
            stop.wait(0.05)  # the run's own pace
        who = f"<@{stopped_by[0]}>" if stopped_by else "nobody"
        final = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":octagonal_sign: Stopped by {who}"}}
        ]
        web_client.chat_update(channel=channel, ts=ts, text="stopped", blocks=final)

    @bolt_app.command("/ops")
    def command(ack: Ack, command: dict[str, Any]) -> None:
        ack()
        where, who = command["channel_id"], command["user_id"]
        thread = threading.Thread(target=run, args=(where, who), name="fake-run")
        runs.append(thread)
        thread.start()

    @bolt_app.action("run_stop")
    def press_stop(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        stopped_by.append(body["user"]["id"])
        stop.set()

    connect_bolt(bolt_app)
    read, write = os.pipe()
    with os.fdopen(read, "r") as stdin, os.fdopen(write, "w") as typing:
        out = io.StringIO()
        console = make_console()
        session = threading.Thread(target=run_console, args=(console, stdin, out), name="console-session")
        session.start()
        try:
            typing.write("run nightly\n")
            typing.flush()
            wait_until(
                lambda: out.getvalue().count("~ edited") >= 3 and "step 5 done" in out.getvalue(),
                message=lambda: f"the run to stream:\n{out.getvalue()}",
            )
            assert not stop.is_set()
            typing.write(":click stop\n")
            typing.flush()
            wait_shown(out, '[#ops] ~ edited "🔄 nightly-x7k2p": 🛑 Stopped by @alice\n')
            assert stopped_by == [ALICE]
            assert "alice@#ops> :click stop\n" in out.getvalue()
            typing.write(":quit\n")
            typing.flush()
            session.join(5)
            assert not session.is_alive()
            assert no_follower_left()
        finally:
            stop.set()
            typing.close()
            session.join(5)
            for thread in runs:
                thread.join(10)


def test_run_lines_types_each_line_and_prints_its_answers_readably(
    make_console: Callable[..., Console], bolt_app: App, connect_bolt: Callable[[App], None]
) -> None:
    @bolt_app.command("/ops")
    def command(ack: Ack, command: dict[str, Any]) -> None:
        ack(text=f"You are *{command['user_name']}* in <#{command['channel_id']}>, on call: <!subteam^S0SRE>")

    connect_bolt(bolt_app)
    out = io.StringIO()
    console = make_console(quiet_period=0.2)
    run_lines(console, ["whoami", ":as bob", ":in prod-ops", "whoami"], out)
    assert out.getvalue() == (
        "alice@#ops> whoami\n"
        "[#ops, only you] chatops: You are alice in #ops, on call: @sre\n"
        "alice@#ops> :as bob\n"
        "you are bob in #ops\n"
        "bob@#ops> :in prod-ops\n"
        "you are bob in #prod-ops\n"
        "bob@#prod-ops> whoami\n"
        "[#prod-ops, only you] chatops: You are bob in #prod-ops, on call: @sre\n"
    )
    assert not console.following and no_follower_left()


def test_closing_the_console_ends_its_follower_at_once(make_console: Callable[..., Console]) -> None:
    console = make_console()
    console.open(io.StringIO())
    assert console.following
    started = time.monotonic()
    console.close()
    assert time.monotonic() - started < 1.0
    assert not console.following and no_follower_left()
