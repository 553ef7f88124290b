"""Label and field selectors as the apiserver parses them (`?labelSelector=`, `?fieldSelector=`).

Labels: equality (`a=b`, `a==b`, `a!=b`) and set-based (`a in (x,y)`, `a notin (x)`, `a`, `!a`),
comma-separated and all required. Fields: `path=value`, `path==value`, `path!=value` over the
field labels a kind supports (others are refused, as the real server does). Who calls it:
`server` (list and watch) and `store.list`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from bot.sandbox.kube.status import ApiError

Matcher = Callable[[dict[str, Any]], bool]

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")


def parse_label_selector(text: str | None) -> Matcher:
    """Compile a label selector into a predicate on whole objects.

    Raises:
        ApiError: 400 for text the apiserver would refuse.
    """
    if not text or not text.strip():
        return lambda obj: True
    tests = [_parse_requirement(part.strip()) for part in _split_top_level(text)]
    return lambda obj: all(test(obj.get("metadata", {}).get("labels") or {}) for test in tests)


def parse_field_selector(text: str | None, *, supported: Iterable[str]) -> Matcher:
    """Compile a field selector; only `supported` field labels are accepted.

    Raises:
        ApiError: 400 `field label not supported: X` as the real server says.
    """
    if not text or not text.strip():
        return lambda obj: True
    allowed = set(supported)
    tests: list[Matcher] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        match = re.match(r"^([^!=]+)(!=|==|=)(.*)$", part)
        if not match:
            raise ApiError(400, f"invalid selector: '{text}'; can't understand '{part}'")
        path, op, want = match.group(1).strip(), match.group(2), match.group(3).strip()
        if path not in allowed:
            raise ApiError(400, f"field label not supported: {path}")
        tests.append(_field_test(path, want, negate=op == "!="))
    return lambda obj: all(test(obj) for test in tests)


def _field_test(path: str, want: str, *, negate: bool) -> Matcher:
    def test(obj: dict[str, Any]) -> bool:
        value: Any = obj
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        got = "" if value is None else str(value)
        return (got != want) if negate else (got == want)

    return test


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `( )`."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def _bad(text: str) -> ApiError:
    return ApiError(400, f"unable to parse requirement: invalid label selector: {text!r}")


def _check_key(key: str) -> str:
    if not _KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise _bad(key)
    return key


def _check_value(value: str) -> str:
    if not _VALUE.match(value) or len(value) > 63:
        raise _bad(value)
    return value


def _parse_requirement(part: str) -> Callable[[dict[str, str]], bool]:
    set_match = _SET.match(part)
    if set_match:
        key = _check_key(set_match.group(1))
        values = {_check_value(v.strip()) for v in set_match.group(3).split(",") if v.strip()}
        if set_match.group(2) == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for op in ("!=", "==", "="):
        if op in part:
            key, _, value = part.partition(op)
            key, value = _check_key(key.strip()), _check_value(value.strip())
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if part.startswith("!"):
        key = _check_key(part[1:].strip())
        return lambda labels: key not in labels
    key = _check_key(part)
    return lambda labels: key in labels
