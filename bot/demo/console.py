"""Type commands as a sandbox Slack user and see, as it happens, what that person sees.

Everything goes through the stand-in's control API and its live event stream, as a test or an
outside script would: the console has no back door into the bot. A background `Follower` prints
every message, edit and thread reply the current person can see (channel messages, thread replies,
their own ephemerals and DM), whenever it arrives, while the prompt stays free for the next line,
so `:click stop` works while a run is still streaming. Text is made readable by `readable`.

Entry points: `run_console` (the interactive prompt) and `run_lines` (type given lines, wait for
each one's answers, exit; `chatops demo --run`).
"""

from __future__ import annotations

import difflib
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.demo.follow import DELETED, EDITED, FORM, REACTION, Change, Follower
from bot.demo.readable import Names, Readable
from bot.demo.terminal import Terminal
from bot.sandbox.slack import SandboxRequestError, SlackDriver

Json = dict[str, Any]

SLACKBOT = "USLACKBOT"
TITLE_LENGTH = 60
ONE_LINE_EDIT = 110  # an edit whose changed lines fit in this many characters is shown on one line
TAG_COLOUR = ("\x1b[36m", "\x1b[39m")
THREAD_MARK = "\u203a"  # the single right-pointing angle quote


def console_help(*, users: Iterable[str] = (), channels: Iterable[str] = (), command: str = "/ops") -> str:
    """The console's help; names of people and channels come from the workspace, never from here."""
    people = ", ".join(users)
    places = ", ".join(f"#{name}" for name in channels)
    return "\n".join(
        [
            f"Type a command as you would after {command} in Slack, e.g. `help`, `whoami`.",
            "What the person you act as can see is printed as it arrives, whenever that is:",
            f"[#channel] a channel, [#channel {THREAD_MARK} thread ...] a thread reply, [..., only you]",
            "an answer only you see, ~ edited what changed in a message. Buttons show as [ Stop ].",
            f"  :as NAME        act as another person{f' ({people})' if people else ''}",
            f"  :in CHANNEL     type in another channel{f' ({places})' if places else ''}",
            "  :click BUTTON   press a button on the newest message you can see that has it,",
            "                  e.g. :click stop (the current channel is searched first)",
            "  :who            who and where you are",
            "  :help           this text",
            "  :quit           leave (Ctrl-D works too)",
        ]
    )


# The help without the workspace's names (the console's own help lists them).
CONSOLE_HELP = console_help()


@dataclass(frozen=True)
class Button:
    """A button `:click` found: where its message is and what pressing it sends."""

    channel: str
    ts: str
    action_id: str
    value: str | None
    label: str


@dataclass
class Console:
    """One person at a prompt: who they are, where they type, and what they have been shown.

    `users` and `channels` map names to ids in the workspace. `answer_timeout` and `quiet_period`
    only matter to `run_lines`: after each line it waits for a first answer, then until nothing
    new has been shown for `quiet_period` seconds (at most `answer_timeout` in all).
    """

    driver: SlackDriver
    users: dict[str, str]  # name -> user id
    channels: dict[str, str]  # name -> channel id
    user: str
    channel: str
    command: str = "/ops"
    answer_timeout: float = 20.0
    quiet_period: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _terminal: Terminal | None = field(default=None, init=False, repr=False)
    _follower: Follower | None = field(default=None, init=False, repr=False)
    _wait_for_answers: bool = field(default=False, init=False, repr=False)
    _activity: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _shown: int = field(default=0, init=False, repr=False)
    _last_shown: float = field(default=0.0, init=False, repr=False)

    # ----------------------------------------------------------------- lifecycle
    def open(self, out: TextIO, *, stdin: TextIO | None = None, wait_for_answers: bool = False) -> Terminal:
        """Start following the workspace, printing to `out`; returns once the current state is known.

        Raises:
            RuntimeError: the stand-in's event stream did not open.
        """
        if self._terminal is None:
            self._terminal = Terminal(out, stdin=stdin)
        self._wait_for_answers = wait_for_answers
        with self._activity:
            self._last_shown = self.clock()
        if self._follower is None:
            self._follower = Follower(self.driver, self._on_change, on_notice=self.say)
            try:
                self._follower.start()
            except RuntimeError:
                self._follower = self._terminal = None
                raise
        return self._terminal

    def close(self) -> None:
        """Stop following (returns within a second or two); the console can be opened again."""
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.close()
        self._terminal = None

    @property
    def following(self) -> bool:
        return self._follower is not None and self._follower.running

    @property
    def idle_seconds(self) -> float:
        """Seconds since the console last printed something from the workspace."""
        with self._activity:
            return self.clock() - self._last_shown

    # ----------------------------------------------------------------- lines
    def prompt(self) -> str:
        return f"{self.user}@#{self.channel}> "

    def who(self) -> str:
        return f"you are {self.user} in #{self.channel}"

    def help_text(self) -> str:
        return console_help(users=self.users, channels=self.channels, command=self.command)

    def say(self, text: str) -> None:
        """Print a line of the console's own (not a Slack message)."""
        if self._terminal is not None:
            self._terminal.show(text)

    def handle(self, line: str, out: TextIO) -> bool:
        """Run one console line; False means leave. Opens the console on `out` if it is not open."""
        if self._follower is None:
            self.open(out, wait_for_answers=True)
        line = line.strip()
        if not line:
            return True
        try:
            if line.startswith(":"):
                return self._meta(line)
            self.send(line)
        except SandboxRequestError as exc:
            self.say(f"(the Slack stand-in refused that: {exc.error})")
        except OSError as exc:
            self.say(f"(the Slack stand-in did not answer: {exc})")
        return True

    def _meta(self, line: str) -> bool:
        word, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        name = rest.lstrip("@#")
        if word in ("quit", "exit", "q"):
            return False
        if word == "as" and name in self.users:
            self.user = name
            self.say(self.who())
        elif word == "in" and name in self.channels:
            self.channel = name
            self.say(self.who())
        elif word == "click" and rest:
            self.click(rest)
        elif word == "who":
            self.say(self.who())
        elif word == "help":
            self.say(self.help_text())
        else:
            self.say(
                f"unknown console command {line!r}: people are {', '.join(self.users)}; "
                f"channels are {', '.join(self.channels)}; type :help"
            )
        return True

    def send(self, text: str) -> None:
        """Type `/ops text` as the current person in the current channel."""
        mark = self._mark()
        self.driver.send_command(
            user=self.users[self.user], channel=self.channels[self.channel], command=self.command, text=text
        )
        self._after_action(mark)

    def click(self, button: str) -> Button | None:
        """Press, as the current person, the newest button they can see whose label or action is `button`."""
        found = self.find_button(button)
        if found is None:
            self.say(f"no message you can see has a `{button}` button (buttons show as [ Label ])")
            return None
        mark = self._mark()
        self.driver.click(
            user=self.users[self.user],
            channel=found.channel,
            ts=found.ts,
            action_id=found.action_id,
            value=found.value,
        )
        self._after_action(mark)
        return found

    def find_button(self, button: str) -> Button | None:
        """The newest matching button this person can see, in the current channel first."""
        if self._follower is None:
            return None
        wanted = button.strip().casefold()
        here = self.channels.get(self.channel)
        visible = self._follower.visible_messages(self.users[self.user])
        ordered = sorted(
            visible, key=lambda pair: (pair[0] == here, float(pair[1].get("ts") or 0)), reverse=True
        )
        for channel, message in ordered:
            for element in _buttons(message):
                action_id = str(element.get("action_id") or "")
                label = str((element.get("text") or {}).get("text") or "")
                if action_id.casefold().endswith(wanted) or label.casefold().startswith(wanted):
                    value = element.get("value")
                    return Button(
                        channel=channel,
                        ts=str(message["ts"]),
                        action_id=action_id,
                        value=str(value) if value is not None else None,
                        label=label,
                    )
        return None

    # ----------------------------------------------------------------- what is shown
    def _on_change(self, change: Change) -> None:
        """Called by the follower for every change; prints those the current person sees."""
        if self._terminal is None or self._follower is None or self.user not in self.users:
            return
        if not change.visible_to(self.users[self.user]):
            return
        text = describe(change, names=self._follower.names, ansi=self._terminal.ansi)
        if text is None:
            return
        self._terminal.show(text)
        with self._activity:
            self._shown += 1
            self._last_shown = self.clock()
            self._activity.notify_all()

    def _mark(self) -> int:
        with self._activity:
            return self._shown

    def _after_action(self, mark: int) -> None:
        """In `run_lines`, wait for the answers to what was just done before the next line."""
        if not self._wait_for_answers:
            return
        deadline = self.clock() + self.answer_timeout
        with self._activity:
            while self._shown == mark:
                left = deadline - self.clock()
                if left <= 0:
                    self.say("(no answer yet: the bot may be busy; type :who or try again)")
                    return
                self._activity.wait(left)
            while True:
                left = min(self._last_shown + self.quiet_period, deadline) - self.clock()
                if left <= 0:
                    return
                self._activity.wait(left)


def _buttons(message: Json) -> list[Json]:
    found: list[Json] = []
    for block in message.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        elements = [*(block.get("elements") or []), block.get("accessory")]
        found.extend(e for e in elements if isinstance(e, dict) and e.get("type") == "button")
    return found


# ----------------------------------------------------------------- formatting a change
def describe(change: Change, *, names: Names, ansi: bool = False) -> str | None:
    """How a change reads in the terminal; None when nothing a person would notice changed."""
    reader = Readable(names=names, ansi=ansi)
    plain = Readable(names=names)
    tag = _tag(_where(change, names, plain), ansi)
    if change.action == FORM:
        title = change.detail.get("title")
        return f"{tag} a form opened: {title!r}. The console cannot fill in forms: use the web page."
    title = _title(plain.message(change.message))
    if change.action == DELETED:
        return f"{tag} - deleted: {title}"
    if change.action == REACTION:
        who = _person(str(change.detail.get("user") or ""), names)
        emoji = reader.emojify(f":{change.detail.get('name')}:")
        return f"{tag} {who} reacted {emoji} to {title}"
    author = _author(change.message, names)
    if change.action == EDITED and change.before is not None:
        return _edit(tag, change, reader, plain)
    return _block(f"{tag} {author}", reader.message(change.message).split("\n"))


def _edit(tag: str, change: Change, reader: Readable, plain: Readable) -> str | None:
    """What an edit changed, under the message's first line as the reader last saw it.

    A run's parent is edited every few seconds: reprinting it whole would bury everything else.
    """
    assert change.before is not None
    old = plain.message(change.before).split("\n")
    new_plain = plain.message(change.message).split("\n")
    new = reader.message(change.message).split("\n")
    if len(new) != len(new_plain):
        new = new_plain
    added: list[str] = []
    removed: list[str] = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(a=old, b=new_plain, autojunk=False).get_opcodes():
        if op in ("replace", "insert"):
            added.extend(new[b1:b2])
        if op in ("replace", "delete"):
            removed.extend(old[a1:a2])
    head = f"{tag} ~ edited {_title(plain.message(change.before))}"
    added = [line for line in added if line.strip()]
    if added:
        return _block(head, added, joiner=" · ")
    removed = [line for line in removed if line.strip()]
    return _block(f"{head}, removed", removed) if removed else None


def _block(head: str, lines: list[str], *, joiner: str | None = None) -> str:
    """One line when short, else the head and the lines indented under it."""
    lines = lines or [""]
    if len(lines) == 1 and len(lines[0]) <= ONE_LINE_EDIT:
        return f"{head}: {lines[0]}"
    if joiner and len(lines) <= 4 and sum(len(line) + len(joiner) for line in lines) <= ONE_LINE_EDIT:
        return f"{head}: {joiner.join(line.strip() for line in lines)}"
    return f"{head}:\n" + "\n".join("  " + line for line in lines)


def _where(change: Change, names: Names, plain: Readable) -> str:
    if change.dm_with is not None:
        place = "DM"
    else:
        place = "#" + names.channels.get(change.channel, change.channel) if change.channel else ""
    if change.is_reply:
        parent = _title(plain.message(change.parent)) if change.parent else "a thread"
        place += f" {THREAD_MARK} thread {parent}"
    if change.ephemeral_for is not None:
        place += ", only you"
    return place


def _tag(where: str, ansi: bool) -> str:
    tag = f"[{where}]" if where else "[you]"
    return f"{TAG_COLOUR[0]}{tag}{TAG_COLOUR[1]}" if ansi else tag


def _title(text: str) -> str:
    """A message's first line, short and quoted: how an edit, a reply or a reaction points at it."""
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    if len(first) > TITLE_LENGTH:
        first = first[: TITLE_LENGTH - 1] + "…"
    return f'"{first}"'


def _author(message: Json, names: Names) -> str:
    user = str(message.get("user") or "")
    if user:
        return _person(user, names)
    profile = message.get("bot_profile") or {}
    return str(message.get("username") or profile.get("name") or "someone")


def _person(user_id: str, names: Names) -> str:
    if user_id == SLACKBOT:
        return "Slackbot"
    return names.users.get(user_id, user_id or "someone")


# ----------------------------------------------------------------- entry points
def run_console(console: Console, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    """The interactive prompt: help, then lines until `:quit`, end of input or Ctrl-C.

    Everything the current person can see is printed as it arrives, in the background; the
    prompt stays usable meanwhile (with readline, a half-typed line is kept and redrawn).
    Returns after the follower has stopped.

    Raises:
        RuntimeError: the stand-in's event stream did not open.
    """
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    terminal = console.open(stdout, stdin=stdin)
    try:
        terminal.show(console.help_text())
        while True:
            try:
                line = terminal.read_line(console.prompt())
            except (EOFError, KeyboardInterrupt):
                terminal.show("")
                return
            if not console.handle(line, stdout):
                return
    finally:
        console.close()


def run_lines(console: Console, lines: Iterable[str], out: TextIO) -> None:
    """Type each line, wait for its answers to go quiet, print them; then stop (`--run`)."""
    console.open(out, wait_for_answers=True)
    try:
        for line in lines:
            console.say(f"{console.prompt()}{line}")
            if not console.handle(line, out):
                break
    finally:
        console.close()
