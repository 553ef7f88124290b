"""Permission decisions for a person: the only module that imports casbin.

The casbin model is Argo CD's (`model.conf` next to this file), with one registered glob
function whose `*` matches across `/`. casbin answers for one subject at a time; a person
holds several (`slack:U…`, `email:…`, `group:…`) plus the configured default role, so
`Enforcer` asks casbin once per subject and combines the answers:

* allowed when at least one of the person's subjects (or the default role) is allowed, and
* denied as soon as any of them matches a `deny` rule: deny wins across subjects, and
  also over what the default role allows (Argo CD evaluates `policy.default` separately, so
  there a deny cannot take back what the default role grants; see docs/rbac.md).

casbin tells "a deny matched" apart from "nothing matched" through `enforce_ex`: with the
allow-and-no-deny effect it stops at the first matching deny and names that rule.

It leaves out: where the policy text comes from (`bot.rbac.source`), parsing
(`bot.rbac.policy`) and which verb needs which permission (`bot.commands.catalog`).
Called by the command handlers, the approval flow, `whoami`/`help` and `chatops policy can`.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import casbin  # type: ignore[import-untyped]
from casbin.model import Model  # type: ignore[import-untyped]

from bot.errors import PermissionDenied
from bot.model import NO_DEFAULT_ROLE
from bot.rbac import policy as policy_mod
from bot.rbac.policy import (  # re-exported: callers name permissions through this module
    ACTION_APPROVE,
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_GET,
    ACTION_LOGS,
    ACTION_RETRY,
    ACTION_ROLLBACK,
    ACTION_RUN,
    ACTION_STOP,
    ACTION_SYNC,
    ACTION_TERMINATE,
    ACTIONS,
    APPLICATIONS,
    APPROVALS,
    AUDIT,
    EFFECT_ALLOW,
    EFFECT_DENY,
    SCHEDULES,
    WORKFLOWS,
    Policy,
)

__all__ = [
    "ACTIONS",
    "ACTION_APPROVE",
    "ACTION_CREATE",
    "ACTION_DELETE",
    "ACTION_GET",
    "ACTION_LOGS",
    "ACTION_RETRY",
    "ACTION_ROLLBACK",
    "ACTION_RUN",
    "ACTION_STOP",
    "ACTION_SYNC",
    "ACTION_TERMINATE",
    "APPLICATIONS",
    "APPROVALS",
    "AUDIT",
    "SCHEDULES",
    "WORKFLOWS",
    "Decision",
    "Enforcer",
    "glob_match",
]

GLOB_FUNCTION = "argoGlob"
DECISION_ALLOW = "allow"
DECISION_DENY = "deny"
DECISION_NONE = "none"


def glob_match(value: str, pattern: str) -> bool:
    """Argo-CD-style glob: `*` matches any run of characters, `/` included; case-sensitive."""
    return fnmatch.fnmatchcase(value, pattern)


def _model_text() -> str:
    return resources.files("bot.rbac").joinpath("model.conf").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Decision:
    """The outcome of one permission check.

    `outcome` is "allow", "deny" (a deny rule matched one of the person's subjects) or
    "none" (no rule allowed it). It is for the audit log; users only ever see allowed/not.
    """

    outcome: str
    resource: str
    action: str
    obj: str

    @property
    def allowed(self) -> bool:
        return self.outcome == DECISION_ALLOW


CACHE_SIZE = 50_000  # answers kept per policy; a busy bot asks the same few questions


class Enforcer:
    """Answers "may this person do that?" for one immutable policy.

    A new policy means a new `Enforcer` (see `bot.rbac.source.PolicySource`); an instance
    is safe to share between threads (casbin's role manager creates entries while it
    answers, so calls are serialised by a lock).
    """

    def __init__(self, policy: Policy, *, default_role: str | None = None) -> None:
        self.policy = policy
        self.default_role = default_role
        self._lock = threading.Lock()
        model = Model()
        model.load_model_from_text(_model_text())
        self._casbin = casbin.Enforcer(model)
        self._casbin.add_function(GLOB_FUNCTION, glob_match)
        if policy.rules:
            self._casbin.add_named_policies("p", [list(rule.key()) for rule in policy.rules])
        if policy.groupings:
            self._casbin.add_named_grouping_policies("g", [list(g.key()) for g in policy.groupings])
        # A subject no line mentions can match no rule (g(r.sub, p.sub) is then plain equality),
        # so asking casbin about it is skipped: each question costs a pass over every rule.
        self._mentioned = frozenset(
            {rule.subject for rule in policy.rules}
            | {g.subject for g in policy.groupings}
            | {g.role for g in policy.groupings}
        )
        # Answers per (subjects, question): an Enforcer holds one immutable policy and a reload
        # builds a new one, so a cached answer is never stale. Bounded; cleared when full.
        self._decisions: dict[tuple[tuple[str, ...], str, str, str], Decision] = {}
        self._somewhere: dict[tuple[tuple[str, ...], str, str], bool] = {}

    def _subjects(self, subjects: Iterable[str]) -> list[str]:
        """The person's subjects (normalised, deduplicated) followed by the default role.

        A guest's subjects end with `NO_DEFAULT_ROLE`: they hold only what names them.
        """
        out: list[str] = []
        default = True
        for subject in subjects:
            if subject == NO_DEFAULT_ROLE:
                default = False
                continue
            normalized = policy_mod.normalize_subject(subject)
            if normalized not in out:
                out.append(normalized)
        if default and self.default_role and self.default_role not in out:
            out.append(self.default_role)
        return out

    def decide(self, subjects: Sequence[str], *, resource: str, action: str, obj: str) -> Decision:
        """Decide for a person holding `subjects`; deny on any subject wins over every allow.

        Raises:
            ValueError: when `resource` or `action` is not part of the vocabulary (a bug in the caller).
        """
        problem = policy_mod.resource_problem(resource) or policy_mod.action_problem(resource, action)
        if problem is not None or resource == policy_mod.WILDCARD or action == policy_mod.WILDCARD:
            raise ValueError(problem or "a request names one resource and one action, not *")
        key = (tuple(subjects), resource, action, obj)
        known = self._decisions.get(key)
        if known is not None:
            return known
        decision = self._decide(subjects, resource=resource, action=action, obj=obj)
        if len(self._decisions) >= CACHE_SIZE:
            self._decisions.clear()
        self._decisions[key] = decision
        return decision

    def _decide(self, subjects: Sequence[str], *, resource: str, action: str, obj: str) -> Decision:
        allowed = False
        with self._lock:
            for subject in self._subjects(subjects):
                if subject not in self._mentioned:
                    continue
                result, explain = self._casbin.enforce_ex(subject, resource, action, obj)
                if result:
                    allowed = True
                elif explain and explain[-1] == EFFECT_DENY:
                    return Decision(DECISION_DENY, resource, action, obj)
        return Decision(DECISION_ALLOW if allowed else DECISION_NONE, resource, action, obj)

    def can(self, subjects: Sequence[str], *, resource: str, action: str, obj: str) -> bool:
        """True when the person may do `action` on the `resource` object `obj`."""
        return self.decide(subjects, resource=resource, action=action, obj=obj).allowed

    def require(self, subjects: Sequence[str], *, resource: str, action: str, obj: str) -> Decision:
        """Like `can`, but raise instead of returning False.

        Raises:
            PermissionDenied: naming the missing permission and the object, never the policy.
        """
        decision = self.decide(subjects, resource=resource, action=action, obj=obj)
        if not decision.allowed:
            raise PermissionDenied(
                f"You may not `{action}` {resource} on `{obj}`: ask an admin for `{resource}, {action}`",
                resource=resource,
                action=action,
                obj=obj,
            )
        return decision

    def roles_for(self, subjects: Sequence[str]) -> list[str]:
        """Every role the person holds, directly, through `g` lines (transitively) or by default."""
        roles: list[str] = []
        with self._lock:
            for subject in self._subjects(subjects):
                candidates = [subject] if subject.startswith(policy_mod.ROLE_PREFIX) else []
                candidates += self._casbin.get_implicit_roles_for_user(subject)
                roles.extend(role for role in candidates if role not in roles)
        return roles

    def _applicable_rules(self, subjects: Sequence[str]) -> list[tuple[str, str, str, str]]:
        names = self._subjects(subjects)
        names += [role for role in self.roles_for(subjects) if role not in names]
        with self._lock:
            return [
                (rule[0], rule[1], rule[2], rule[3])
                for name in names
                for rule in self._casbin.get_filtered_named_policy("p", 0, name)
                if rule[4] == EFFECT_ALLOW
            ]

    def allowed_sample(self, subjects: Sequence[str], *, limit: int = 20) -> list[tuple[str, str, str]]:
        """Up to `limit` (resource, action, object) allow rules that apply to the person (for `whoami`).

        Rules are listed as written, so a deny elsewhere may still narrow one of them.
        """
        sample: list[tuple[str, str, str]] = []
        for _, resource, action, obj in self._applicable_rules(subjects):
            if (resource, action, obj) not in sample:
                sample.append((resource, action, obj))
            if len(sample) >= limit:
                break
        return sample

    def may_do_somewhere(self, subjects: Sequence[str], *, resource: str, action: str) -> bool:
        """True when the person may do `action` on at least one `resource` object.

        Each applicable allow rule's own object pattern is tried as the object: a deny that
        covers the whole pattern hides it, a narrower deny does not. This is what `help`
        needs; it is not a proof that some concrete object exists.
        """
        key = (tuple(subjects), resource, action)
        known = self._somewhere.get(key)
        if known is not None:
            return known
        answer = any(
            glob_match(resource, rule_resource)
            and glob_match(action, rule_action)
            and self.can(subjects, resource=resource, action=action, obj=obj)
            for _, rule_resource, rule_action, obj in self._applicable_rules(subjects)
        )
        if len(self._somewhere) >= CACHE_SIZE:
            self._somewhere.clear()
        self._somewhere[key] = answer
        return answer

    def allowed_verbs(
        self, subjects: Sequence[str], verbs: Mapping[str, tuple[str, str] | None]
    ) -> list[str]:
        """The verbs (from `verb -> (resource, action) or None`) the person may use at all.

        A verb without a permission (help, whoami) is always included.
        """
        allowed = []
        for verb, permission in verbs.items():
            if permission is None or self.may_do_somewhere(
                subjects, resource=permission[0], action=permission[1]
            ):
                allowed.append(verb)
        return allowed
