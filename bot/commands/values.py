"""Checks for every value a person types: Kubernetes names, revisions, cron, users, parameters. Pure.

Each check returns the (normalised) value or raises `Invalid`, whose message is shown to the
person as is. Verb records (`bot.commands.*_verbs`) attach these checks to their arguments, so
nothing malformed travels past the parser.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence

MAX_PARAM_VALUE = 1024
MAX_REASON = 500
MAX_PARAMS = 50
LIMIT_RANGE = (1, 100)
PAGE_RANGE = (1, 10_000)


class Invalid(Exception):
    """A value failed its check; the message is shown to the user."""


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII)
_PARAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}", re.ASCII)
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}", re.ASCII)
_STEP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.()\[\]:,-]{0,252}", re.ASCII)
_HISTORY_ID = re.compile(r"[0-9]{1,18}", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,6}", re.ASCII)
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]{1,64}", re.ASCII)
_TIMEZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(/[A-Za-z0-9_+-]{1,30}){0,2}", re.ASCII)
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]{1,30})>", re.ASCII)
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}", re.ASCII)
_USER_NAME = re.compile(r"@([A-Za-z0-9][A-Za-z0-9._-]{0,79})", re.ASCII)


def shown(value: str) -> str:
    """A value quoted back to the person, shortened so an error stays short.

    It goes inside backticks in a Slack message: a backtick would end the code span early, and
    `&`, `<`, `>` are escaped so that nothing typed can come back as a mention or a link.
    """
    value = value.replace("`", "'")
    value = value if len(value) <= 60 else value[:57] + "..."
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def subdomain(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) <= 253 and _SUBDOMAIN.fullmatch(value):
            return value
        hint = " (Kubernetes names are lower case)" if value.lower() != value else ""
        raise Invalid(
            f"`{shown(value)}` is not a valid {what} name{hint}: use lower-case letters, digits, "
            "`-` and `.`, starting and ending with a letter or digit (at most 253 characters)."
        )

    return check


def label(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if _DNS_LABEL.fullmatch(value):
            return value
        hint = " (names are lower case)" if value.lower() != value else ""
        raise Invalid(
            f"`{shown(value)}` is not a valid {what} name{hint}: use lower-case letters, digits "
            "and `-`, starting and ending with a letter or digit (at most 63 characters)."
        )

    return check


def limit(value: str) -> int:
    low, high = LIMIT_RANGE
    if not _NUMBER.fullmatch(value) or not low <= int(value) <= high:
        raise Invalid(f"`--limit` must be a whole number from {low} to {high}, not `{shown(value)}`.")
    return int(value)


def page(value: str) -> int:
    """A page number of a paginated list (`apps --page 2`); past the last page shows the last."""
    low, high = PAGE_RANGE
    if not _NUMBER.fullmatch(value) or not low <= int(value) <= high:
        raise Invalid(
            f"`--page` must be a whole number from {low} to {high} (1 is the first page), "
            f"not `{shown(value)}`."
        )
    return int(value)


def revision(value: str) -> str:
    if _REVISION.fullmatch(value) and ".." not in value and "//" not in value:
        return value
    raise Invalid(
        f"`{shown(value)}` is not a revision: give a commit SHA, a tag or a branch "
        "(letters, digits, `.`, `_`, `/`, `+`, `-`)."
    )


def reason(value: str) -> str:
    value = value.strip()
    if "\x00" in value:
        raise Invalid("`--reason` must not contain a NUL character.")
    if not value:
        raise Invalid('`--reason` needs some text, e.g. `--reason "5xx after the deploy"`.')
    if len(value) > MAX_REASON:
        raise Invalid(f"`--reason` is too long ({len(value)} characters, at most {MAX_REASON}).")
    return value


def step(value: str) -> str:
    if _STEP.fullmatch(value):
        return value
    raise Invalid(f"`{shown(value)}` is not a step name: use the name shown by `status`, e.g. `migrate`.")


def history_id(value: str) -> int:
    if _HISTORY_ID.fullmatch(value):
        return int(value)
    raise Invalid(f"`{shown(value)}` is not a history id: use a number from `history APP`, e.g. `41`.")


def choice(what: str, choices: Sequence[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value in choices:
            return value
        raise Invalid(
            f"`{shown(value)}` is not a known {what}.{did_you_mean(value, choices)} "
            f"Choose one of {', '.join(f'`{c}`' for c in choices)}."
        )

    return check


def cron(value: str) -> str:
    fields = value.split()
    if len(fields) == 5 and all(_CRON_FIELD.fullmatch(f) for f in fields):
        return " ".join(fields)
    raise Invalid(
        f"`{shown(value)}` is not a cron expression: give five fields in quotes, "
        'e.g. `--cron "0 9 * * mon-fri"` (minute hour day month weekday).'
    )


def timezone(value: str) -> str:
    if _TIMEZONE.fullmatch(value):
        return value
    raise Invalid(f"`{shown(value)}` is not a time zone: use an IANA name such as `Europe/Paris` or `UTC`.")


def user(value: str) -> str:
    if _USER_MENTION.fullmatch(value) or _USER_ID.fullmatch(value) or _USER_NAME.fullmatch(value):
        return value
    raise Invalid(
        f"`{shown(value)}` is not a user: mention them (`@alice`) or give their Slack user id (`U0123ABCD`)."
    )


def param(value: str) -> tuple[str, str]:
    key, eq, val = value.partition("=")
    if not eq:
        raise Invalid(f"`-p` takes key=value, e.g. `-p env=staging`; got `{shown(value)}`.")
    if not _PARAM_NAME.fullmatch(key):
        raise Invalid(
            f"`{shown(key)}` is not a parameter name: use letters, digits, `_`, `.` and `-` (at most 128)."
        )
    if "\x00" in val:
        raise Invalid(f"The value of `{key}` must not contain a NUL character.")
    if len(val) > MAX_PARAM_VALUE:
        raise Invalid(f"The value of `{key}` is too long ({len(val)} characters, at most {MAX_PARAM_VALUE}).")
    return key, val


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    match = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" Did you mean `{match[0]}`?" if match else ""


def user_ref(value: str) -> tuple[str | None, str | None]:
    """A checked `user` value -> (user id, None) for a mention or id, (None, name) for `@name`."""
    mention = _USER_MENTION.fullmatch(value)
    if mention:
        return mention.group(1), None
    if _USER_ID.fullmatch(value):
        return value, None
    return None, value.removeprefix("@")
