"""Follow the Slack stand-in live and report each message, edit, deletion and reaction as it happens.

The console must show what the bot posts at any time (a run's edits, its thread, a scheduled post,
an approval card someone else asked for), not only right after a command, so one background thread
reads the stand-in's event stream (`GET /_sandbox/events`, server-sent events). An event says what
changed and where, never the content, so the follower fetches just that message (its thread, or
the person's ephemerals) and compares it with what it saw before: new, edited (with the version
before), or gone. On `hello` (each connection, so also after a reconnect) and on `resync` it reads
the whole workspace once and reports what it missed. It follows everyone's messages; whether a
person sees one is `Change.visible_to`, so switching person needs no catching up.

The thread ends when `close()` shuts its socket down, at once; a stream that ends while the
console runs is opened again after `retry` seconds. Not here: how a change is printed (`console`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.demo.readable import Names
from bot.sandbox.slack import SandboxRequestError, SlackDriver

Json = dict[str, Any]
Key = tuple[str, ...]  # ("m", channel, ts) for a message, ("e", ts) for an ephemeral

_log = logging.getLogger(__name__)

POSTED, EDITED, DELETED, REACTION, FORM = "posted", "edited", "deleted", "reaction", "form"
_CONTENT = ("text", "blocks", "attachments", "files", "subtype")


@dataclass(frozen=True)
class Change:
    """One thing a person may see happen: `action` on `message` in `channel`.

    `before` is the previous version of an edited message; `parent` the thread's first message
    for a reply; `ephemeral_for` and `dm_with` say who alone sees it; `detail` holds a reaction's
    `name` and `user`, or an opened form's `title`.
    """

    action: str
    channel: str
    message: Json
    before: Json | None = None
    parent: Json | None = None
    ephemeral_for: str | None = None
    dm_with: str | None = None
    detail: Json = field(default_factory=dict)

    def visible_to(self, user_id: str) -> bool:
        """Whether this person sees it: channel messages everyone, the rest only their person."""
        if self.action == FORM:
            return self.detail.get("user") == user_id
        if self.ephemeral_for is not None:
            return self.ephemeral_for == user_id
        return self.dm_with is None or self.dm_with == user_id

    @property
    def is_reply(self) -> bool:
        thread_ts = self.message.get("thread_ts")
        return bool(thread_ts) and thread_ts != self.message.get("ts")


def content_of(message: Json) -> str:
    """What a reader sees of a message, as a comparable string (thread counters left out)."""
    return json.dumps({key: message.get(key) for key in _CONTENT}, sort_keys=True, default=str)


def sse_events(lines: Iterator[bytes]) -> Iterator[Json]:
    """The JSON `data` of each server-sent event in a stream's lines; comments and ids are skipped."""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))
        elif not line and data:
            try:
                event = json.loads("\n".join(data))
            except ValueError:
                event = None
            data = []
            if isinstance(event, dict):
                yield event


class Follower:
    """Reads the event stream on its own thread and calls `on_change` for every change it finds.

    `on_change` and `on_notice` run on the follower's thread, one at a time, in the order things
    happened. `start()` returns once the current state is known (so nothing said after it is
    missed); `close()` ends the thread within a moment.
    """

    def __init__(
        self,
        driver: SlackDriver,
        on_change: Callable[[Change], None],
        *,
        on_notice: Callable[[str], None] = lambda text: None,
        retry: float = 1.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.driver = driver
        self.on_change = on_change
        self.on_notice = on_notice
        self.retry = retry
        self.read_timeout = read_timeout
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._known: dict[Key, Json] = {}
        self._names = Names()
        self._dms: dict[str, str] = {}  # DM channel id -> the person
        self._synced = False  # the workspace was read once: later hellos report what was missed
        self._live = False  # the stream is open and read

    # ----------------------------------------------------------------- lifecycle
    def start(self, *, timeout: float = 15.0) -> None:
        """Start following; returns once the stream is open and the current state read.

        Raises:
            RuntimeError: the stream could not be opened within `timeout` seconds.
        """
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="demo-console-follower", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.close()
            raise RuntimeError(f"the Slack stand-in's event stream did not open within {timeout:.0f}s")

    def close(self, *, timeout: float = 2.0) -> None:
        """Stop following: shut the stream's socket (its read returns at once) and join the thread."""
        self._stop.set()
        with self._lock:
            sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----------------------------------------------------------------- what is known
    @property
    def names(self) -> Names:
        """Names of people, channels and groups, kept up to date from the directory."""
        with self._lock:
            return self._names

    def dm_person(self, channel_id: str) -> str | None:
        with self._lock:
            return self._dms.get(channel_id)

    def visible_messages(self, user_id: str) -> list[tuple[str, Json]]:
        """(channel, message) for everything this person can see now, oldest first."""
        with self._lock:
            found = [
                (str(message.get("channel") if key[0] == "e" else key[1]), message)
                for key, message in self._known.items()
                if message.get("subtype") != "tombstone"
                and (key[0] != "e" or message.get("to_user") == user_id)
                and (key[0] != "m" or self._dms.get(key[1]) in (None, user_id))
            ]
        return sorted(found, key=lambda pair: float(pair[1].get("ts") or 0))

    # ----------------------------------------------------------------- the thread
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow_once()
            except (OSError, http.client.HTTPException, SandboxRequestError, ValueError) as exc:
                _log.debug("event stream: %s", exc)
            if self._stop.is_set():
                break
            if self._live:
                self._live = False
                self.on_notice("(live updates paused: the Slack stand-in's event stream ended; reconnecting)")
            self._stop.wait(self.retry)

    def _follow_once(self) -> None:
        parts = urlsplit(self.driver.control_url)
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
        # The socket is ours, not the HTTPConnection's (which lets go of it once the response
        # starts), so `close()` can always shut it down under a blocked read.
        sock = socket.create_connection(address, timeout=self.read_timeout)
        with self._lock:
            if self._stop.is_set():
                sock.close()
                return
            self._socket = sock
        connection = http.client.HTTPConnection(*address, timeout=self.read_timeout)
        connection.sock = sock
        try:
            path = parts.path.rstrip("/") + "/events"
            connection.request("GET", path, headers={"Accept": "text/event-stream"})
            response = connection.getresponse()
            if response.status != 200:
                raise OSError(f"GET /_sandbox/events: HTTP {response.status}")
            self.connections += 1
            for event in sse_events(iter(response.readline, b"")):
                if self._stop.is_set():
                    return
                self._handle(event)
        finally:
            with self._lock:
                self._socket = None
            connection.close()
            sock.close()

    def _handle(self, event: Json) -> None:
        kind = event.get("type")
        try:
            if kind == "hello":
                reconnected = self._synced
                self._sync(report=reconnected)
                self._synced = self._live = True
                self._ready.set()
                if reconnected:
                    self.on_notice("(live updates back)")
            elif kind == "resync":
                self._sync(report=True)
            elif kind == "message":
                self._message_event(event)
            elif kind == "ephemeral":
                self._ephemeral_event(event)
            elif kind == "reaction":
                self._reaction_event(event)
            elif kind == "view" and event.get("action") == "opened" and event.get("view_type") == "modal":
                self._form_event(event)
            elif kind in ("channel", "user", "usergroup"):
                self._take_directory(self.driver.directory())
        except SandboxRequestError as exc:
            _log.debug("event %s: %s", event, exc)

    # ----------------------------------------------------------------- reading what changed
    def _sync(self, *, report: bool) -> None:
        """Read the whole workspace; report what is new, changed or gone since last known."""
        state = self.driver.state()
        self._take_directory(state)
        current: dict[Key, Json] = {}
        for channel in state.get("channels") or []:
            for message in channel.get("messages") or []:
                current[("m", channel["id"], message["ts"])] = message
            for replies in (channel.get("threads") or {}).values():
                for reply in replies:
                    current[("m", channel["id"], reply["ts"])] = reply
        for ephemeral in state.get("ephemerals") or []:
            current[("e", ephemeral["ts"])] = ephemeral
        with self._lock:
            before = self._known
            self._known = dict(current)
        if not report:
            return
        for key, message in sorted(current.items(), key=lambda item: float(item[1].get("ts") or 0)):
            parent = current.get(("m", key[1], str(message.get("thread_ts")))) if key[0] == "m" else None
            self._compare(key, before.get(key), message, parent=parent)
        for key, message in before.items():
            if key not in current and message.get("subtype") != "tombstone":
                self._emit(self._change(DELETED, key, message))

    def _message_event(self, event: Json) -> None:
        channel, ts = str(event["channel"]), str(event["ts"])
        thread_ts = event.get("thread_ts")
        is_reply = bool(thread_ts) and thread_ts != ts
        try:
            thread = self.driver.replies(channel, str(thread_ts) if is_reply else ts)
        except SandboxRequestError as exc:
            if exc.status != 404:
                raise
            thread = []
        if is_reply:
            parent = thread[0] if thread else None
            now = next((m for m in thread[1:] if m.get("ts") == ts), None)
        else:
            parent = None
            now = thread[0] if thread and thread[0].get("ts") == ts else None
        self._observe(("m", channel, ts), now, parent=parent)

    def _ephemeral_event(self, event: Json) -> None:
        user, channel, ts = str(event["user"]), str(event["channel"]), str(event["ts"])
        now = next((e for e in self.driver.ephemerals(user=user, channel=channel) if e.get("ts") == ts), None)
        self._observe(("e", ts), now, parent=None)

    def _reaction_event(self, event: Json) -> None:
        key = ("m", str(event["channel"]), str(event["ts"]))
        with self._lock:
            message = self._known.get(key)
        if message is not None:
            detail = {"name": event.get("name"), "user": event.get("user")}
            self._emit(self._change(REACTION, key, message, detail=detail))

    def _form_event(self, event: Json) -> None:
        user, view_id = str(event["user"]), event.get("view_id")
        views = [v["view"] for v in self.driver.views(user=user)]
        view: Json = next((v for v in views if isinstance(v, dict) and v.get("id") == view_id), {})
        title = (view.get("title") or {}).get("text") or "a form"
        self._emit(Change(action=FORM, channel="", message={}, detail={"user": user, "title": title}))

    def _observe(self, key: Key, now: Json | None, *, parent: Json | None) -> None:
        with self._lock:
            before = self._known.get(key)
            if now is None:
                self._known.pop(key, None)
            else:
                self._known[key] = now
        self._compare(key, before, now, parent=parent)

    def _compare(self, key: Key, before: Json | None, now: Json | None, *, parent: Json | None) -> None:
        gone = now is None or now.get("subtype") == "tombstone"
        if gone:
            if before is not None and before.get("subtype") != "tombstone":
                self._emit(self._change(DELETED, key, before))
        elif now is not None and before is None:
            self._emit(self._change(POSTED, key, now, parent=parent))
        elif now is not None and before is not None and content_of(before) != content_of(now):
            self._emit(self._change(EDITED, key, now, before=before, parent=parent))

    def _change(
        self,
        action: str,
        key: Key,
        message: Json,
        *,
        before: Json | None = None,
        parent: Json | None = None,
        detail: Json | None = None,
    ) -> Change:
        if key[0] == "e":
            channel = str(message.get("channel") or "")
            return Change(
                action=action,
                channel=channel,
                message=message,
                before=before,
                ephemeral_for=str(message.get("to_user") or ""),
                dm_with=self.dm_person(channel),
                detail=detail or {},
            )
        if parent is None and message.get("thread_ts") not in (None, message.get("ts")):
            with self._lock:
                parent = self._known.get(("m", key[1], str(message.get("thread_ts"))))
        return Change(
            action=action,
            channel=key[1],
            message=message,
            before=before,
            parent=parent,
            dm_with=self.dm_person(key[1]),
            detail=detail or {},
        )

    def _emit(self, change: Change) -> None:
        try:
            self.on_change(change)
        except Exception:  # a fault in showing one change must not stop the following
            _log.exception("could not show %s", change)

    def _take_directory(self, directory: Json) -> None:
        names = Names.from_directory(directory)
        dms = {
            str(c["id"]): str(c.get("user") or "") for c in directory.get("channels") or [] if c.get("is_im")
        }
        with self._lock:
            self._names = names
            self._dms = dms
