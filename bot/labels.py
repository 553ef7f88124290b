"""Kubernetes label selectors, the equality-based form: `k=v`, `k==v`, `k!=v`, `k`, `!k`. Pure.

What `kubectl get -l` and `argo list -l` take, minus set-based terms (`in`, `notin`), so a
subscription reads the way people already write selectors. The config file and the
`subscribe workflows --selector` option validate through `selector_problem`, and the follower
matches through `selector_matches`: one grammar for both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# a label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "exists", "!exists"
    value: str = ""


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of `text`; all must hold.

    Raises:
        ValueError: a term that is not one of the accepted forms (the message names it).
    """
    found = []
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            raise ValueError("an empty term: separate requirements with single commas")
        if "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            found.append(_checked(Requirement(key, "!=", value), term))
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=", 1).split("=", 1))
            found.append(_checked(Requirement(key, "=", value), term))
        elif term.startswith("!"):
            found.append(_checked(Requirement(term[1:].strip(), "!exists"), term))
        else:
            found.append(_checked(Requirement(term, "exists"), term))
    return tuple(found)


def _checked(requirement: Requirement, term: str) -> Requirement:
    if " " in term.strip() and requirement.operator in ("exists", "!exists"):
        raise ValueError(
            f"`{term[:80]}`: set-based terms (in, notin) are not supported; use k=v, k!=v, k or !k"
        )
    if not _KEY.match(requirement.key):
        raise ValueError(f"`{requirement.key[:80]}` is not a label key")
    if not _VALUE.match(requirement.value):
        raise ValueError(f"`{requirement.value[:80]}` is not a label value")
    return requirement


def selector_problem(text: str) -> str:
    """What is wrong with a selector, or "" when it is fine."""
    try:
        parse_selector(text)
    except ValueError as exc:
        return str(exc)
    return ""


def selector_matches(text: str, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy every requirement of the selector `text` (a bad one matches nothing)."""
    try:
        requirements = parse_selector(text)
    except ValueError:
        return False
    for requirement in requirements:
        present = requirement.key in labels
        value = labels.get(requirement.key, "")
        if requirement.operator == "=" and not (present and value == requirement.value):
            return False
        if requirement.operator == "!=" and present and value == requirement.value:
            return False
        if requirement.operator == "exists" and not present:
            return False
        if requirement.operator == "!exists" and present:
            return False
    return True
