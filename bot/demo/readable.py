"""Slack messages as a person reads them, for a terminal: mrkdwn and Block Kit to plain lines.

A terminal cannot draw Slack, and raw markup (`<@U0ALICE>`, `<!date^...>`, `:x:`) is unreadable, so
this turns mentions into `@name` and `#name` (names from the workspace directory), dates into the
reader's local time, links into `label (url)` (a long address becomes a numbered note under the
message), emoji shortcodes into characters, and drops the `*bold*`/`_italic_`/`~strike~` markers,
or draws them with ANSI codes when the output is a terminal. Buttons become `[ Stop ]`, so a person
knows what they can press. It follows the same rules as the stand-in's web page
(`bot/sandbox/slack/ui/mrkdwn.js`) and shares its emoji table.

Pure: text and JSON in, text out; the clock and the time zone are part of `Readable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from bot.demo.emoji import shortcodes

Json = dict[str, Any]

# ANSI select graphic rendition: on, off
BOLD = ("\x1b[1m", "\x1b[22m")
ITALIC = ("\x1b[3m", "\x1b[23m")
STRIKE = ("\x1b[9m", "\x1b[29m")
DIM = ("\x1b[2m", "\x1b[22m")

DEFAULT_DATE_FORMAT = "{date_short} {time}"
DIVIDER = "─" * 24
LINK_SCHEMES = re.compile(r"^(https?://|mailto:|slack://)", re.I)
LINK_LIMIT = 80  # a longer address under a label becomes a numbered note below the message

# Placeholders in the Unicode private use area: held pieces (slots) and style marks, so a later
# pass never reads markup into text that an earlier pass produced.
_SLOT_OPEN, _SLOT_CLOSE = "\ue000", "\ue001"
_SLOT = re.compile("\ue000(\\d+)\ue001")
_MARKS = {
    "*": ("\ue002", "\ue003", BOLD),
    "_": ("\ue004", "\ue005", ITALIC),
    "~": ("\ue006", "\ue007", STRIKE),
}
_PRIVATE = re.compile("[\ue000-\ue007]")
_STYLE_MARKS = "".join(opener + closer for opener, closer, _ in _MARKS.values())
# What may stand just before an opening mark and just after a closing one (as on Slack and the page).
_BEFORE = "(^|[\\s(\\[{\"'\u201c\u2018>;" + _SLOT_CLOSE + _STYLE_MARKS + "~_*-])"
_AFTER = "(?=$|[\\s).,;:!?\\]}\"'\u201d\u2019<" + _SLOT_OPEN + _STYLE_MARKS + "~_*-])"
_PRE = re.compile(r"\n?```(.*?)```\n?", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_ENTITY = re.compile(r"<([^<>\n]+)>")
_EMOJI = re.compile(r":([a-z0-9_+'-]+):(?::skin-tone-[2-6]:)?")
_TOKEN = re.compile(r"\{(\w+)\}")


def _style_pattern(mark: str) -> re.Pattern[str]:
    m = re.escape(mark)
    return re.compile(f"{_BEFORE}{m}(?!\\s)([^{m}\\n]*?[^\\s{m}]|[^\\s{m}]){m}{_AFTER}", re.M)


_STYLES = [(mark, _style_pattern(mark)) for mark in ("~", "*", "_")]


def unescape(text: str) -> str:
    """Slack escapes its three control characters in message text; show them as typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class Names:
    """Who and what ids stand for: user id -> name, channel id -> name, group id -> handle."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_directory(cls, directory: Json) -> Names:
        """From the stand-in's `GET /_sandbox/directory` (or the directory part of `/state`)."""
        users = {str(u["id"]): str(u.get("name") or u["id"]) for u in directory.get("users") or []}
        channels = {
            str(c["id"]): str(c.get("name") or c["id"])
            for c in directory.get("channels") or []
            if not c.get("is_im")
        }
        groups = {str(g["id"]): str(g.get("handle") or g["id"]) for g in directory.get("usergroups") or []}
        return cls(users=users, channels=channels, groups=groups)


@dataclass(frozen=True)
class Readable:
    """How to write Slack text for one reader: names, ANSI or not, their time zone and clock.

    `tz` None means the machine's local zone; `now` None means the current time (for `Today`
    and `{ago}`); tests pass both.
    """

    names: Names = field(default_factory=Names)
    ansi: bool = False
    tz: tzinfo | None = None
    now: datetime | None = None
    emoji: Mapping[str, str] = field(default_factory=shortcodes)
    link_limit: int = LINK_LIMIT
    # Addresses too long to read inline (a presigned log link runs to 500 characters), numbered
    # while `message()` renders one message and listed under it.
    notes: list[str] | None = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ text
    def mrkdwn(self, text: str) -> str:
        """A mrkdwn string as readable text."""
        slots: list[str] = []

        def hold(piece: str) -> str:
            slots.append(piece)
            return f"{_SLOT_OPEN}{len(slots) - 1}{_SLOT_CLOSE}"

        source = _PRIVATE.sub("", str(text or ""))
        # A preformatted block stands on its own lines, so a quote may start right after it.
        source = _PRE.sub(lambda m: "\n" + hold(self._pre(m.group(1))) + "\n", source)
        source = _CODE.sub(lambda m: hold("`" + self._entities_only(m.group(1)) + "`"), source)
        source = _ENTITY.sub(lambda m: hold(self._entity(m.group(1))), source)
        out = unescape(source)
        for mark, pattern in _STYLES:
            opener, closer, _ = _MARKS[mark]
            out = pattern.sub(f"\\1{opener}\\2{closer}", out)
        out = self.emojify(out)
        out = _quotes(out)
        for opener, closer, (on, off) in _MARKS.values():
            out = out.replace(opener, on if self.ansi else "").replace(closer, off if self.ansi else "")
        out = _SLOT.sub(lambda m: slots[int(m.group(1))], out)
        return out.strip("\n")

    def plain(self, text: str, *, emoji: bool = True) -> str:
        """A plain_text object's text: nothing but escapes and, unless told not to, shortcodes."""
        out = unescape(str(text or ""))
        return self.emojify(out) if emoji else out

    def text_object(self, obj: Any) -> str:
        """A Block Kit text object (`{type, text}`) or a bare string."""
        if isinstance(obj, str):
            return self.plain(obj)
        if not isinstance(obj, dict):
            return ""
        if obj.get("type") == "mrkdwn":
            return self.mrkdwn(str(obj.get("text") or ""))
        return self.plain(str(obj.get("text") or ""), emoji=obj.get("emoji") is not False)

    def emojify(self, text: str) -> str:
        """Shortcodes to their characters; unknown ones stay as typed, as Slack shows them."""
        return _EMOJI.sub(lambda m: self.emoji.get(m.group(1), m.group(0)), text)

    def date(self, epoch: float, template: str = DEFAULT_DATE_FORMAT) -> str | None:
        """Slack's `<!date^epoch^template>` in the reader's zone; None when a token is unknown."""
        when = datetime.fromtimestamp(epoch, self.tz)
        if self.tz is None:
            when = when.astimezone()

        now = (self.now or datetime.now(when.tzinfo)).astimezone(when.tzinfo)
        date_words = f"{when:%B} {_ordinal(when.day)}, {when.year}"
        tokens = {
            "date_num": f"{when:%Y-%m-%d}",
            "date": date_words,
            "date_short": f"{when:%b} {when.day}, {when.year}",
            "date_long": f"{when:%A}, {date_words}",
            "time": f"{when:%H:%M}",
            "time_secs": f"{when:%H:%M:%S}",
            "ago": _ago(when, now),
        }
        pretty = {-1: "yesterday", 0: "today", 1: "tomorrow"}.get((when.date() - now.date()).days)
        tokens["date_pretty"] = pretty or tokens["date"]
        tokens["date_short_pretty"] = pretty or tokens["date_short"]
        tokens["date_long_pretty"] = pretty or tokens["date_long"]
        if any(name not in tokens for name in _TOKEN.findall(template)):
            return None
        out = _TOKEN.sub(lambda m: tokens[m.group(1)], template)
        if pretty and out.startswith(pretty):
            out = pretty.capitalize() + out[len(pretty) :]
        return out

    # ------------------------------------------------------------------ <...> entities
    def _entity(self, inner: str) -> str:
        body, bar, label = inner.partition("|")
        label = unescape(label) if bar else ""
        if body.startswith("@"):
            user_id = body[1:]
            return "@" + self.names.users.get(user_id, label.lstrip("@") or user_id)
        if body.startswith("#"):
            channel_id = body[1:]
            return "#" + self.names.channels.get(channel_id, label.lstrip("#") or channel_id)
        if body.startswith("!"):
            command = body[1:]
            word = command.split("^")[0]
            if word in ("here", "channel", "everyone"):
                return "@" + word
            if word == "subteam":
                group_id = command.split("^")[1] if "^" in command else ""
                handle = self.names.groups.get(group_id)
                return f"@{handle}" if handle else (label or f"@{group_id}")
            if word == "date":
                return self._date_entity(command, label)
            return label or unescape(f"<{inner}>")
        if LINK_SCHEMES.match(body):
            url = unescape(body)
            shown = label or re.sub(r"^mailto:", "", url, flags=re.I)
            if shown == url or (not label and url.lower().startswith("mailto:")):
                return shown
            return self.link(shown, url)
        return unescape(f"<{inner}>")

    def _date_entity(self, command: str, fallback: str) -> str:
        # command: date^<epoch>^<template>[^<link>]
        parts = command.split("^")
        try:
            epoch = float(parts[1])
        except (IndexError, ValueError):
            return fallback or unescape(f"<!{command}>")
        template = unescape(parts[2]) if len(parts) > 2 and parts[2] else DEFAULT_DATE_FORMAT
        try:
            text = self.date(epoch, template)
        except (OverflowError, OSError, ValueError):
            text = None
        if text is None:
            return fallback or unescape(f"<!{command}>")
        link = parts[3] if len(parts) > 3 else ""
        return self.link(text, unescape(link)) if LINK_SCHEMES.match(link) else text

    def _entities_only(self, text: str) -> str:
        """Inside code: mentions still read as names, nothing else is interpreted."""
        parts: list[str] = []
        last = 0
        for match in _ENTITY.finditer(text):
            parts.append(unescape(text[last : match.start()]))
            parts.append(self._entity(match.group(1)))
            last = match.end()
        parts.append(unescape(text[last:]))
        return "".join(parts)

    def _pre(self, body: str) -> str:
        text = self._entities_only(body.removeprefix("\n").removesuffix("\n"))
        return "\n".join("    " + line for line in text.split("\n"))

    # ------------------------------------------------------------------ Block Kit
    def blocks(self, blocks: Iterable[Json]) -> list[str]:
        """The lines a person reads in these blocks, in order."""
        lines: list[str] = []
        for block in blocks:
            if isinstance(block, dict):
                lines.extend(self.block(block))
        return lines

    def block(self, block: Json) -> list[str]:
        """One block's lines; a kind the terminal cannot show gives none."""
        kind = block.get("type")
        if kind == "header":
            return [self._styled(self.text_object(block.get("text")), BOLD)]
        if kind == "section":
            return self._section(block)
        if kind == "context":
            texts = [self._element_text(e) for e in block.get("elements") or [] if isinstance(e, dict)]
            line = "  ".join(t for t in texts if t)
            return [self._styled(part, DIM) for part in line.split("\n")] if line else []
        if kind == "divider":
            return [DIVIDER]
        if kind == "actions":
            controls = [self.control(e) for e in block.get("elements") or [] if isinstance(e, dict)]
            line = " ".join(c for c in controls if c)
            return [line] if line else []
        if kind == "image":
            return [f"[image: {block.get('alt_text') or self.text_object(block.get('title')) or 'image'}]"]
        if kind == "rich_text":
            return self._rich_text(block.get("elements") or [])
        if kind == "markdown":
            return str(block.get("text") or "").split("\n")
        if kind == "file":
            return ["[file]"]
        return []

    def _section(self, block: Json) -> list[str]:
        lines: list[str] = []
        if block.get("text"):
            lines.extend(self.text_object(block["text"]).split("\n"))
        for item in block.get("fields") or []:
            lines.append(self._field(item))
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            control = self.control(accessory)
            if control:
                lines.append(control)
        return lines

    def _field(self, item: Any) -> str:
        """A field reads `Label: value` (Slack draws its first line over the rest)."""
        label, _, value = self.text_object(item).partition("\n")
        value = " ".join(value.split("\n"))
        return f"{label}: {value}" if value else label

    def control(self, element: Json) -> str:
        """An interactive element as the console shows it: `[ Stop ]`, `[ Pick one ▾ ]`, `[ ⋯ ]`."""
        kind = element.get("type")
        if kind == "button":
            text = f"[ {self.text_object(element.get('text'))} ]"
            url = element.get("url")
            return self.link(text, str(url)) if url else text
        if kind in ("static_select", "external_select", "users_select", "conversations_select"):
            chosen = element.get("initial_option")
            shown = chosen.get("text") if isinstance(chosen, dict) else element.get("placeholder")
            return f"[ {self.text_object(shown) or 'choose'} ▾ ]"
        if kind == "overflow":
            return "[ ⋯ ]"
        if kind in ("datepicker", "timepicker", "datetimepicker"):
            return f"[ {element.get('initial_date') or element.get('initial_time') or 'pick a date'} ]"
        if kind == "image":
            return ""
        return f"[ {kind} ]" if kind else ""

    def _element_text(self, element: Json) -> str:
        if element.get("type") == "image":
            return ""
        return self.text_object(element)

    def _styled(self, text: str, sgr: tuple[str, str]) -> str:
        return f"{sgr[0]}{text}{sgr[1]}" if self.ansi and text else text

    def _rich_text(self, elements: Iterable[Any]) -> list[str]:
        lines: list[str] = []
        for element in elements:
            if not isinstance(element, dict):
                continue
            kind = element.get("type")
            if kind == "rich_text_list":
                bullet_style = element.get("style") == "ordered"
                for number, item in enumerate(element.get("elements") or [], start=1):
                    text = self._rich_inline(item.get("elements") or []) if isinstance(item, dict) else ""
                    marker = f"{number}." if bullet_style else "•"
                    lines.append(f"{'  ' * int(element.get('indent') or 0)}{marker} {text}")
            elif kind == "rich_text_preformatted":
                text = self._rich_inline(element.get("elements") or [], styles=False)
                lines.extend("    " + line for line in text.split("\n"))
            elif kind == "rich_text_quote":
                text = self._rich_inline(element.get("elements") or [])
                lines.extend("│ " + line for line in text.split("\n"))
            else:
                lines.extend(self._rich_inline(element.get("elements") or []).split("\n"))
        return lines

    def _rich_inline(self, elements: Iterable[Any], *, styles: bool = True) -> str:
        parts: list[str] = []
        for element in elements:
            if not isinstance(element, dict):
                continue
            kind = element.get("type")
            if kind == "text":
                text = str(element.get("text") or "")
                style = element.get("style") or {}
                if styles and style.get("code"):
                    text = f"`{text}`"
                for name, sgr in (("bold", BOLD), ("italic", ITALIC), ("strike", STRIKE)):
                    if styles and style.get(name):
                        text = self._styled(text, sgr)
                parts.append(text)
            elif kind == "link":
                url = str(element.get("url") or "")
                text = str(element.get("text") or "")
                parts.append(self.link(text, url) if text and text != url else url)
            elif kind == "user":
                user_id = str(element.get("user_id") or "")
                parts.append("@" + self.names.users.get(user_id, user_id))
            elif kind == "channel":
                channel_id = str(element.get("channel_id") or "")
                parts.append("#" + self.names.channels.get(channel_id, channel_id))
            elif kind == "usergroup":
                group_id = str(element.get("usergroup_id") or "")
                parts.append("@" + self.names.groups.get(group_id, group_id))
            elif kind == "broadcast":
                parts.append("@" + str(element.get("range") or "here"))
            elif kind == "emoji":
                name = str(element.get("name") or "")
                drawn = _from_codepoints(str(element.get("unicode") or ""))
                parts.append(drawn or self.emoji.get(name, f":{name}:"))
            elif kind == "date":
                when = self.date(float(element.get("timestamp") or 0), str(element.get("format") or ""))
                parts.append(when if when is not None else str(element.get("fallback") or ""))
        return "".join(parts)

    # ------------------------------------------------------------------ messages
    def link(self, shown: str, url: str) -> str:
        """`label (url)`; `label [n]` with the address as note n when it is too long to read inline."""
        if self.notes is None or len(url) <= self.link_limit:
            return f"{shown} ({url})"
        self.notes.append(url)
        return f"{shown} [{len(self.notes)}]"

    def message(self, message: Json) -> str:
        """Everything a person reads in a message: its blocks (else its text), attachments, files.

        Long link addresses are listed under it, numbered, so the text itself stays readable.
        """
        if self.notes is None:
            return replace(self, notes=[]).message(message)
        lines = self.blocks(message.get("blocks") or [])
        if not any(line.strip() for line in lines):
            lines = self.mrkdwn(str(message.get("text") or "")).split("\n")
        for attachment in message.get("attachments") or []:
            if isinstance(attachment, dict):
                lines.extend("│ " + line for line in self._attachment(attachment))
        for file in message.get("files") or []:
            if isinstance(file, dict):
                lines.append(f"[file: {file.get('title') or file.get('name') or file.get('id')}]")
        while lines and not lines[-1].strip():
            lines.pop()
        lines.extend(f"[{number}] {url}" for number, url in enumerate(self.notes, start=1))
        return "\n".join(lines)

    def _attachment(self, attachment: Json) -> list[str]:
        lines: list[str] = []
        if attachment.get("pretext"):
            lines.extend(self.mrkdwn(str(attachment["pretext"])).split("\n"))
        if attachment.get("title"):
            title = self._styled(self.plain(str(attachment["title"])), BOLD)
            link = attachment.get("title_link")
            lines.append(self.link(title, str(link)) if link else title)
        if attachment.get("text"):
            lines.extend(self.mrkdwn(str(attachment["text"])).split("\n"))
        for item in attachment.get("fields") or []:
            if isinstance(item, dict):
                title = self.plain(str(item.get("title") or ""))
                lines.append(f"{title}: {self.mrkdwn(str(item.get('value') or ''))}")
        lines.extend(self.blocks(attachment.get("blocks") or []))
        if attachment.get("footer"):
            lines.append(self._styled(self.mrkdwn(str(attachment["footer"])), DIM))
        if not lines and attachment.get("fallback"):
            lines.append(self.plain(str(attachment["fallback"])))
        return lines


def _quotes(text: str) -> str:
    """Lines starting with `>` are a quote; a line starting with `>>>` quotes the rest of the text."""
    out: list[str] = []
    rest = False
    for line in text.split("\n"):
        if rest:
            out.append("│ " + line)
        elif line.startswith(">>>"):
            rest = True
            out.append("│ " + line[3:].removeprefix(" "))
        elif line.startswith(">"):
            out.append("│ " + line[1:].removeprefix(" "))
        else:
            out.append(line)
    return "\n".join(out)


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


_UNITS = (
    ("year", 31536000),
    ("month", 2592000),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)


def _ago(when: datetime, now: datetime) -> str:
    seconds = round((when - now).total_seconds())
    unit, size = next((u for u in _UNITS if abs(seconds) >= u[1]), _UNITS[-1])
    count = round(abs(seconds) / size)
    if count == 0:
        return "now"
    words = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {words}" if seconds > 0 else f"{words} ago"


def _from_codepoints(unicode: str) -> str:
    """A rich_text emoji's `unicode` field (`1f680` or `1f3f3-fe0f-200d-1f308`) as characters."""
    try:
        return "".join(chr(int(point, 16)) for point in unicode.split("-")) if unicode else ""
    except (ValueError, OverflowError):
        return ""
