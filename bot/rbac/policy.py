"""The policy language: Argo-CD-style CSV lines parsed, validated and merged. Pure.

A policy is a list of lines in Argo CD's form::

    p, <subject>, <resource>, <action>, <object>, <allow|deny>
    g, <subject>, <role>

Lines are read with Python's CSV reader, so quoted fields work (pycasbin's own
`StringAdapter` splits on ", " and crashes on whitespace-only lines, which is why we do not
use it). Every problem is reported with its source and line number, all at once, in strings
that fit in a `ConfigError`.

This module also owns the vocabulary shared by the rest of the bot: the resources, their
actions, the subject prefixes and the object layout (`<cluster>/<namespace>/<template>`,
`<cluster>/<project>/<app>`). It leaves evaluation to `bot.rbac.enforcer` (the only casbin
importer) and file watching to `bot.rbac.source`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.errors import ConfigError

WORKFLOWS = "workflows"
APPLICATIONS = "applications"
APPROVALS = "approvals"
SCHEDULES = "schedules"
SUBSCRIPTIONS = "subscriptions"
AUDIT = "audit"
ROLLOUTS = "rollouts"

ACTION_RUN = "run"
ACTION_STOP = "stop"
ACTION_TERMINATE = "terminate"
ACTION_RETRY = "retry"
ACTION_GET = "get"
ACTION_LOGS = "logs"
ACTION_SYNC = "sync"
ACTION_ROLLBACK = "rollback"
ACTION_APPROVE = "approve"
ACTION_CREATE = "create"
ACTION_DELETE = "delete"
ACTION_PROMOTE = "promote"
ACTION_ABORT = "abort"
ACTION_UNDO = "undo"
ACTION_UPDATE = "update"

WILDCARD = "*"

#: Every resource and the actions it knows, in the order the docs list them.
ACTIONS: dict[str, tuple[str, ...]] = {
    WORKFLOWS: (
        ACTION_RUN,
        ACTION_STOP,
        ACTION_TERMINATE,
        ACTION_RETRY,
        ACTION_GET,
        ACTION_LOGS,
        ACTION_APPROVE,
    ),
    APPLICATIONS: (ACTION_GET, ACTION_SYNC, ACTION_ROLLBACK, ACTION_UPDATE),
    APPROVALS: (ACTION_APPROVE,),
    SCHEDULES: (ACTION_GET, ACTION_CREATE, ACTION_DELETE),
    SUBSCRIPTIONS: (ACTION_GET, ACTION_DELETE),
    AUDIT: (ACTION_GET,),
    ROLLOUTS: (ACTION_GET, ACTION_PROMOTE, ACTION_ABORT, ACTION_RETRY, ACTION_UNDO),
}

EFFECT_ALLOW = "allow"
EFFECT_DENY = "deny"

SLACK_PREFIX = "slack:"
EMAIL_PREFIX = "email:"
GROUP_PREFIX = "group:"
ROLE_PREFIX = "role:"

_SLACK_ID = re.compile(r"[UW][A-Z0-9]{1,30}", re.ASCII)
_EMAIL = re.compile(r"[^@\s,]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{1,63}", re.ASCII)
_GROUP = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}", re.ASCII)
_ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", re.ASCII)
_OBJECT = re.compile(r"[^\s,\x00]{1,512}")


@dataclass(frozen=True)
class Rule:
    """One `p` line: `subject` may (allow) or may not (deny) do `action` on `resource` objects `obj`."""

    subject: str
    resource: str
    action: str
    obj: str
    effect: str
    source: str = ""
    line: int = 0

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.subject, self.resource, self.action, self.obj, self.effect)


@dataclass(frozen=True)
class Grouping:
    """One `g` line: `subject` holds `role` (and, transitively, the roles `role` holds)."""

    subject: str
    role: str
    source: str = ""
    line: int = 0

    def key(self) -> tuple[str, str]:
        return (self.subject, self.role)


@dataclass(frozen=True)
class Policy:
    """A validated, merged policy: rules and role grants in the order they were read."""

    rules: tuple[Rule, ...] = ()
    groupings: tuple[Grouping, ...] = ()

    @property
    def line_count(self) -> int:
        return len(self.rules) + len(self.groupings)


def subject_problem(subject: str) -> str | None:
    """Say what is wrong with a subject, or None when it is well formed.

    Subjects are `slack:<user id>`, `email:<address>`, `group:<user group handle>` or
    `role:<name>`. A subject without one of these prefixes could never match a person, so
    it is refused instead of silently doing nothing.
    """
    for prefix, pattern, example in (
        (SLACK_PREFIX, _SLACK_ID, "slack:U0123ABCD"),
        (EMAIL_PREFIX, _EMAIL, "email:alice@example.com"),
        (GROUP_PREFIX, _GROUP, "group:sre"),
        (ROLE_PREFIX, _ROLE, "role:deployer"),
    ):
        if subject.startswith(prefix):
            if pattern.fullmatch(subject[len(prefix) :]):
                return None
            return f"{subject!r} is not a valid subject: expected something like {example}"
    return (
        f"{subject!r} is not a valid subject: it must start with slack:, email:, group: or role: "
        "(e.g. slack:U0123ABCD, email:alice@example.com, group:sre, role:deployer)"
    )


def normalize_subject(subject: str) -> str:
    """E-mail addresses compare case-insensitively; every other subject is kept as written."""
    if subject.startswith(EMAIL_PREFIX):
        return EMAIL_PREFIX + subject[len(EMAIL_PREFIX) :].lower()
    return subject


def subjects_for(*, user_id: str, email: str | None = None, groups: Iterable[str] = ()) -> list[str]:
    """The subjects a person holds: their Slack id, their e-mail (if known) and their user groups."""
    subjects = [SLACK_PREFIX + user_id]
    if email:
        subjects.append(normalize_subject(EMAIL_PREFIX + email))
    subjects.extend(GROUP_PREFIX + group.lstrip("@") for group in groups)
    return subjects


def workflow_object(*, cluster: str, namespace: str, template: str) -> str:
    """The object a workflow permission is checked on: `<cluster>/<namespace>/<template>`."""
    return f"{cluster}/{namespace}/{template}"


def application_object(*, cluster: str, project: str, app: str) -> str:
    """The object an application permission is checked on: `<cluster>/<project>/<app>`."""
    return f"{cluster}/{project}/{app}"


def rollout_object(*, cluster: str, namespace: str, rollout: str) -> str:
    """The object a rollout permission is checked on: `<cluster>/<namespace>/<rollout>`."""
    return f"{cluster}/{namespace}/{rollout}"


def resource_problem(resource: str) -> str | None:
    """Say what is wrong with a resource name (as typed in a policy or on the command line)."""
    if resource == WILDCARD or resource in ACTIONS:
        return None
    return f"unknown resource {resource!r}: expected one of {', '.join(ACTIONS)} or *"


def action_problem(resource: str, action: str) -> str | None:
    """Say what is wrong with an action for `resource`, or None when the pair is known."""
    if action == WILDCARD:
        return None
    if resource == WILDCARD:
        known = sorted({a for actions in ACTIONS.values() for a in actions})
    else:
        known = list(ACTIONS.get(resource, ()))
    if action in known:
        return None
    return f"unknown action {action!r} for {resource}: expected one of {', '.join(known)} or *"


def _check_rule(fields: Sequence[str]) -> list[str]:
    subject, resource, action, obj, effect = fields
    problems = []
    if (problem := subject_problem(subject)) is not None:
        problems.append(problem)
    problem = resource_problem(resource) or action_problem(resource, action)
    if problem is not None:
        problems.append(problem)
    if not _OBJECT.fullmatch(obj):
        problems.append(f"object {obj!r} must be a non-empty glob without spaces (e.g. prod/payments/*)")
    if effect not in (EFFECT_ALLOW, EFFECT_DENY):
        problems.append(f"effect {effect!r} must be allow or deny")
    return problems


def _check_grouping(fields: Sequence[str]) -> list[str]:
    subject, role = fields
    problems = []
    if (problem := subject_problem(subject)) is not None:
        problems.append(problem)
    if not role.startswith(ROLE_PREFIX):
        problems.append(f"{role!r} must be a role such as role:deployer (g lines grant roles)")
    elif (problem := subject_problem(role)) is not None:
        problems.append(problem)
    return problems


def parse_policy(text: str, *, source: str) -> Policy:
    """Parse CSV policy text into a `Policy`.

    Comments (`#` first) and blank or whitespace-only lines are skipped. `p` lines must have
    exactly 6 fields and `g` lines 3, as Argo CD demands.

    Raises:
        ConfigError: with one problem per bad line, each naming `source` and the line number.
    """
    rules: list[Rule] = []
    groupings: list[Grouping] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\x00" in stripped:
            problems.append(f"{source}: line {number}: contains a NUL character")
            continue
        try:
            fields = [f.strip() for f in next(csv.reader([stripped], skipinitialspace=True))]
        except csv.Error as exc:
            problems.append(f"{source}: line {number}: not valid CSV ({exc})")
            continue
        kind = fields[0]
        if kind == "p":
            if len(fields) != 6:
                problems.append(
                    f"{source}: line {number}: a p line needs 6 fields "
                    f"(p, subject, resource, action, object, allow|deny), found {len(fields)}"
                )
                continue
            line_problems = _check_rule(fields[1:])
            if not line_problems:
                subject, resource, action, obj, effect = fields[1:]
                subject = normalize_subject(subject)
                rules.append(Rule(subject, resource, action, obj, effect, source=source, line=number))
        elif kind == "g":
            if len(fields) != 3:
                problems.append(
                    f"{source}: line {number}: a g line needs 3 fields (g, subject, role), "
                    f"found {len(fields)}"
                )
                continue
            line_problems = _check_grouping(fields[1:])
            if not line_problems:
                groupings.append(
                    Grouping(normalize_subject(fields[1]), fields[2], source=source, line=number)
                )
        else:
            problems.append(
                f"{source}: line {number}: lines start with p or g (or # for a comment), not {kind!r}"
            )
            continue
        problems.extend(f"{source}: line {number}: {problem}" for problem in line_problems)
    if problems:
        raise ConfigError(problems)
    return Policy(rules=tuple(rules), groupings=tuple(groupings))


def grants_for(subjects: Iterable[str], *, role: str, source: str) -> Policy:
    """`g` lines giving `role` to each subject (used for `rbac.admin_subjects`).

    Raises:
        ConfigError: when a subject is malformed.
    """
    problems: list[str] = []
    groupings: list[Grouping] = []
    for index, subject in enumerate(subjects):
        problem = subject_problem(subject)
        if problem is not None:
            problems.append(f"{source}[{index}]: {problem}")
        else:
            groupings.append(Grouping(normalize_subject(subject), role, source=source, line=index + 1))
    if problems:
        raise ConfigError(problems)
    return Policy(groupings=tuple(groupings))


def merge(policies: Iterable[Policy]) -> Policy:
    """Concatenate policies in the given order, keeping the first copy of a repeated line.

    Order does not change decisions (deny wins wherever it appears); it only decides which
    source a duplicate is reported from. Duplicates are dropped because casbin refuses a
    batch that repeats an existing rule.
    """
    rules: dict[tuple[str, ...], Rule] = {}
    groupings: dict[tuple[str, ...], Grouping] = {}
    for policy in policies:
        for rule in policy.rules:
            rules.setdefault(rule.key(), rule)
        for grouping in policy.groupings:
            groupings.setdefault(grouping.key(), grouping)
    return Policy(rules=tuple(rules.values()), groupings=tuple(groupings.values()))
