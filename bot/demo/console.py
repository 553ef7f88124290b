"""Type commands as a sandbox Slack user and print what that person sees.

Everything goes through the sandbox's control API and Slack's read methods, exactly as a test
or an outside script would: the console has no back door into the bot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.sandbox.slack import SlackDriver

Json = dict[str, Any]

CONSOLE_HELP = """\
Type a command as you would after /ops in Slack, e.g. `help`, `whoami`, `run hello --cluster dev`.
  :as NAME        act as another person (alice, bob, carol, dave)
  :in CHANNEL     type in another channel (ops, prod-ops, approvals)
  :click BUTTON   click a button on the newest message that has it (approve, reject, stop, logs)
  :who            who and where you are
  :help           this text
  :quit           leave (Ctrl-D works too)"""


def message_text(message: Json) -> str:
    """What a person reads in a message: its blocks' text, else its fallback text."""
    parts: list[str] = []
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            parts.append(str(text["text"]))
        for item in block.get("fields") or []:
            parts.append(str(item.get("text", "")))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                parts.append(str(element.get("text", "")))
    return "\n".join(parts) if parts else str(message.get("text") or "")


@dataclass
class Console:
    driver: SlackDriver
    users: dict[str, str]  # name -> user id
    channels: dict[str, str]  # name -> channel id
    user: str
    channel: str
    command: str = "/ops"
    answer_timeout: float = 20.0
    quiet_period: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _seen: set[str] = field(default_factory=set)
    _shown_ts: set[str] = field(default_factory=set)

    def who(self) -> str:
        return f"you are {self.user} in #{self.channel}"

    def handle(self, line: str, out: TextIO) -> bool:
        """Run one console line; False means leave."""
        line = line.strip()
        if not line:
            return True
        if line.startswith(":"):
            return self._meta(line, out)
        self.send(line, out)
        return True

    def _meta(self, line: str, out: TextIO) -> bool:
        word, _, rest = line[1:].partition(" ")
        rest = rest.strip().lstrip("@#")
        if word in ("quit", "exit", "q"):
            return False
        if word == "as" and rest in self.users:
            self.user = rest
            print(self.who(), file=out)
        elif word == "in" and rest in self.channels:
            self.channel = rest
            print(self.who(), file=out)
        elif word == "click" and rest:
            self.click(rest, out)
        elif word == "who":
            print(self.who(), file=out)
        elif word == "help":
            print(CONSOLE_HELP, file=out)
        else:
            print(
                f"unknown console command {line!r}: people are {', '.join(self.users)}; "
                f"channels are {', '.join(self.channels)}; type :help",
                file=out,
            )
        return True

    def click(self, button: str, out: TextIO) -> list[Json]:
        """Click, as the current person, the newest button whose action id ends with `button`."""
        channel_id = self.channels[self.channel]
        for message in reversed(self.driver.messages(channel_id)):
            for block in message.get("blocks") or []:
                for element in block.get("elements") or []:
                    action_id = str(element.get("action_id") or "")
                    if element.get("type") == "button" and action_id.endswith(button):
                        self.prime()
                        self.driver.click(
                            user=self.users[self.user],
                            channel=channel_id,
                            ts=str(message["ts"]),
                            action_id=action_id,
                        )
                        return self._collect(out)
        print(f"no message in #{self.channel} has a `{button}` button", file=out)
        return []

    def _visible(self) -> list[Json]:
        """Everything this person can see now: their ephemerals and the channel's messages and threads."""
        user_id = self.users[self.user]
        channel_id = self.channels[self.channel]
        seen = list(self.driver.ephemerals(user=user_id))
        for message in self.driver.messages(channel_id):
            seen.append(message)
            if message.get("reply_count"):
                seen.extend(self.driver.replies(channel_id, str(message["ts"]))[1:])
        return seen

    @staticmethod
    def _key(message: Json) -> str:
        return f"{message.get('ts')}:{message.get('edited', {}).get('ts', '')}:{message.get('to_user', '')}"

    def prime(self) -> None:
        """Remember what is already visible, so only new answers are printed."""
        self._seen.update(self._key(m) for m in self._visible())

    def send(self, text: str, out: TextIO) -> list[Json]:
        """Type `/ops text` and print the answers that arrive until things go quiet."""
        self.prime()
        self.driver.send_command(
            user=self.users[self.user], channel=self.channels[self.channel], command=self.command, text=text
        )
        return self._collect(out)

    def _collect(self, out: TextIO) -> list[Json]:
        """Print what becomes visible until things stay quiet for `quiet_period` seconds."""
        answers: list[Json] = []
        deadline = self.clock() + self.answer_timeout
        last_new = None
        while self.clock() < deadline:
            fresh = [m for m in self._visible() if self._key(m) not in self._seen]
            for message in fresh:
                self._seen.add(self._key(message))
                answers.append(message)
                ts = f"{message.get('ts')}:{message.get('to_user', '')}"
                if ts in self._shown_ts:
                    # an edit of a message already shown (a run's parent): one line is enough
                    first = (message_text(message).splitlines() or [""])[0]
                    print(f"    (updated) {first} | {_phase_line(message)}", file=out)
                else:
                    self._shown_ts.add(ts)
                    print(render_for_terminal(message, channel=self.channel), file=out)
                last_new = self.clock()
            if last_new is not None and self.clock() - last_new >= self.quiet_period:
                break
            time.sleep(0.05)  # terminal UI polling, not a test wait
        if not answers:
            print("(no answer yet: the bot may be busy; type :who or try again)", file=out)
        return answers


def _phase_line(message: Json) -> str:
    lines = message_text(message).splitlines()
    for index, line in enumerate(lines):
        if line.strip("*") in ("Phase", "Progress") and index + 1 < len(lines):
            return f"{line.strip('*')}: {lines[index + 1]}"
    return ""


def render_for_terminal(message: Json, *, channel: str) -> str:
    where = "only you can see this" if message.get("subtype") == "ephemeral" else f"#{channel}"
    if message.get("thread_ts") and message.get("thread_ts") != message.get("ts"):
        where += ", in thread"
    body = message_text(message)
    return f"--- [{where}]\n{body}\n"


def run_lines(console: Console, lines: Iterable[str], out: TextIO) -> None:
    for line in lines:
        print(f"{console.user}@#{console.channel}> {line}", file=out)
        if not console.handle(line, out):
            break
