"""Who may do what: (subjects, resource, action, object) -> allowed, against a realistic policy."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.verbs import build_registry
from bot.errors import PermissionDenied
from bot.rbac import policy
from bot.rbac.enforcer import Enforcer
from bot.rbac.source import BUILTIN_SOURCE, builtin_text

SAMPLE = """
# the SRE group may do everything to workflows, and sync anything but production
p, group:sre, workflows, *, */*/*, allow
p, group:sre, applications, sync, */*/*, allow
p, group:sre, applications, sync, prod/*, deny

# deployers sync staging (anything below it: * crosses /) and the payments apps in production
p, role:deployer, applications, sync, staging/*, allow
p, role:deployer, applications, sync, prod/payments/*, allow
p, role:deployer, workflows, run, staging/argo/db-*, allow
g, slack:UDEV, role:deployer
g, group:payments, role:deployer

# a suspended account: no applications at all, not even what the default role gives
p, slack:UBLOCKED, applications, *, *, deny

# quoted CSV fields are honoured
p, "email:ops@example.com", applications, rollback, "prod/payments/*", allow
g, "email:lead@example.com", "role:admin"

# roles inherit roles
p, role:oncall, approvals, approve, prod/*, allow
g, role:oncall, role:deployer
g, slack:UONCALL, role:oncall
"""


def _enforcer(*, default_role: str | None = "role:readonly") -> Enforcer:
    merged = policy.merge(
        [
            policy.parse_policy(builtin_text(), source=BUILTIN_SOURCE),
            policy.parse_policy(SAMPLE, source="sample.csv"),
        ]
    )
    return Enforcer(merged, default_role=default_role)


ENFORCER = _enforcer()

TABLE = [
    # the default role (role:readonly) lets anyone read, not change
    (["slack:UNEW"], "applications", "get", "prod/payments/api", True),
    (["slack:UNEW"], "workflows", "logs", "prod/argo/nightly", True),
    (["slack:UNEW"], "applications", "sync", "staging/web/shop", False),
    (["slack:UNEW"], "workflows", "run", "staging/argo/db-migrate", False),
    (["slack:UNEW"], "audit", "get", "*", False),
    ([], "applications", "get", "dev/web/shop", True),
    # roles through g lines; `*` crosses `/`
    (["slack:UDEV"], "applications", "sync", "staging/web/shop", True),
    (["slack:UDEV"], "applications", "sync", "staging/deeply/nested/app", True),
    (["slack:UDEV"], "applications", "sync", "prod/payments/api", True),
    (["slack:UDEV"], "applications", "sync", "prod/web/shop", False),
    (["slack:UDEV"], "applications", "rollback", "staging/web/shop", False),
    (["slack:UDEV"], "workflows", "run", "staging/argo/db-migrate", True),
    (["slack:UDEV"], "workflows", "run", "staging/argo/report", False),
    (["slack:UDEV"], "workflows", "run", "prod/argo/db-migrate", False),
    # group subjects, action `*`
    (["slack:U1", "group:sre"], "workflows", "terminate", "prod/argo/nightly", True),
    (["slack:U1", "group:sre"], "workflows", "run", "prod/batch/anything", True),
    (["slack:U1", "group:sre"], "applications", "sync", "dev/web/shop", True),
    # deny wins, on the same subject ...
    (["slack:U1", "group:sre"], "applications", "sync", "prod/web/shop", False),
    # ... and across the person's subjects: allowed as a deployer, denied as a member of sre
    (["slack:UDEV", "group:sre"], "applications", "sync", "prod/payments/api", False),
    (["slack:U1", "group:payments", "group:sre"], "applications", "sync", "prod/payments/api", False),
    (["slack:U1", "group:payments"], "applications", "sync", "prod/payments/api", True),
    # a deny also takes back what the default role gives
    (["slack:UBLOCKED"], "applications", "get", "dev/web/shop", False),
    (["slack:UBLOCKED", "group:sre"], "applications", "sync", "dev/web/shop", False),
    (["slack:UBLOCKED"], "workflows", "get", "dev/argo/x", True),
    # quoted fields, and e-mail addresses compare case-insensitively
    (["slack:U2", "email:ops@example.com"], "applications", "rollback", "prod/payments/api", True),
    (["slack:U2", "email:OPS@Example.com"], "applications", "rollback", "prod/payments/api", True),
    (["slack:U2", "email:ops@example.com"], "applications", "rollback", "prod/web/shop", False),
    (["email:lead@example.com"], "audit", "get", "*", True),
    (["email:lead@example.com"], "approvals", "approve", "prod/payments/api", True),
    (["email:lead@example.com"], "schedules", "delete", "morning", True),
    # roles inheriting roles
    (["slack:UONCALL"], "approvals", "approve", "prod/payments/api", True),
    (["slack:UONCALL"], "applications", "sync", "staging/web/shop", True),
    (["slack:UONCALL"], "approvals", "approve", "staging/web/shop", False),
    # someone else's subjects never help
    (["slack:UDEVX"], "applications", "sync", "staging/web/shop", False),
    (["group:sre-interns"], "workflows", "run", "dev/argo/x", False),
]


@pytest.mark.parametrize(("subjects", "resource", "action", "obj", "allowed"), TABLE)
def test_decision_table(subjects: list[str], resource: str, action: str, obj: str, allowed: bool) -> None:
    assert ENFORCER.can(subjects, resource=resource, action=action, obj=obj) is allowed


def test_without_a_default_role_nobody_gets_anything_for_free() -> None:
    enforcer = _enforcer(default_role=None)
    assert not enforcer.can(["slack:UNEW"], resource="applications", action="get", obj="prod/payments/api")
    assert enforcer.can(["slack:UDEV"], resource="applications", action="sync", obj="staging/web/shop")
    assert not enforcer.can(["slack:UDEV"], resource="applications", action="get", obj="staging/web/shop")


def test_decision_tells_a_deny_from_no_rule_for_the_audit_log() -> None:
    deny = ENFORCER.decide(["group:sre"], resource="applications", action="sync", obj="prod/web/shop")
    none = ENFORCER.decide(["slack:UNEW"], resource="applications", action="sync", obj="prod/web/shop")
    allow = ENFORCER.decide(["slack:UDEV"], resource="applications", action="sync", obj="staging/web/shop")
    assert (deny.outcome, none.outcome, allow.outcome) == ("deny", "none", "allow")


def test_require_names_the_missing_permission_and_not_the_policy() -> None:
    with pytest.raises(PermissionDenied) as caught:
        ENFORCER.require(
            ["slack:UDEV", "group:sre"], resource="applications", action="sync", obj="prod/payments/api"
        )
    error = caught.value
    assert str(error) == (
        "You may not `sync` applications on `prod/payments/api`: ask an admin for `applications, sync`"
    )
    assert "group:sre" not in str(error) and "deny" not in str(error)
    assert (error.resource, error.action, error.obj) == ("applications", "sync", "prod/payments/api")
    assert ENFORCER.require(["slack:UDEV"], resource="applications", action="sync", obj="staging/a/b").allowed


def test_unknown_resource_or_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        ENFORCER.can(["slack:U1"], resource="clusters", action="get", obj="*")
    with pytest.raises(ValueError, match="unknown action"):
        ENFORCER.can(["slack:U1"], resource="applications", action="run", obj="*")


def test_roles_include_inherited_and_default_roles() -> None:
    assert ENFORCER.roles_for(["slack:UONCALL"]) == ["role:oncall", "role:deployer", "role:readonly"]
    assert ENFORCER.roles_for(["email:Lead@example.com"]) == ["role:admin", "role:readonly"]
    assert ENFORCER.roles_for(["slack:UNEW"]) == ["role:readonly"]
    assert _enforcer(default_role=None).roles_for(["slack:UNEW"]) == []


def test_whoami_sample_lists_allow_rules_that_apply() -> None:
    sample = ENFORCER.allowed_sample(["slack:UDEV"])
    assert ("applications", "sync", "staging/*") in sample
    assert ("workflows", "run", "staging/argo/db-*") in sample
    assert ("applications", "get", "*/*/*") in sample  # from the default role
    assert all(resource != "audit" for resource, _, _ in sample)
    blocked = ENFORCER.allowed_sample(["slack:UBLOCKED"])
    assert ("applications", "*", "*") not in blocked  # deny rules are never listed
    assert len(ENFORCER.allowed_sample(["email:lead@example.com"], limit=3)) == 3


ALL_VERBS = build_registry().permissions()


def test_help_lists_the_verbs_a_person_may_use_somewhere() -> None:
    assert ENFORCER.allowed_verbs(["slack:UNEW"], ALL_VERBS) == [
        "help", "whoami", "runs", "status", "logs", "apps", "app", "history", "rollouts", "rollout",
        "schedule list", "subscribe apps", "subscribe workflows", "subscriptions", "unsubscribe",
    ]  # fmt: skip
    developer = set(ENFORCER.allowed_verbs(["slack:UDEV"], ALL_VERBS))
    assert {"sync", "run", "templates"} <= developer
    assert {"rollback", "stop", "audit"}.isdisjoint(developer)
    # a deny over everything hides the verb; the default role still gives the rest
    blocked = set(ENFORCER.allowed_verbs(["slack:UBLOCKED"], ALL_VERBS))
    assert {"apps", "app", "history", "sync"}.isdisjoint(blocked)
    assert {"status", "logs"} <= blocked
    # a deny on part of what is allowed keeps the verb
    assert "sync" in ENFORCER.allowed_verbs(["group:sre"], ALL_VERBS)
    # an admin may use every typed verb
    assert ENFORCER.allowed_verbs(["email:lead@example.com"], ALL_VERBS) == list(ALL_VERBS)


def test_one_enforcer_serves_many_threads() -> None:
    failures: list[str] = []

    def ask(index: int) -> None:
        for _ in range(50):
            subjects = [f"slack:U{index}", "group:payments"]
            if not ENFORCER.can(subjects, resource="applications", action="sync", obj="prod/payments/api"):
                failures.append(f"thread {index} was refused")
            if ENFORCER.can(subjects, resource="applications", action="sync", obj="prod/web/shop"):
                failures.append(f"thread {index} was allowed")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


SUBJECTS = [
    "slack:UDEV", "slack:UBLOCKED", "slack:UONCALL", "slack:UNEW", "group:sre", "group:payments",
    "email:ops@example.com", "email:lead@example.com",
]  # fmt: skip
REQUESTS = [
    ("applications", "sync", "prod/payments/api"),
    ("applications", "sync", "staging/web/shop"),
    ("applications", "get", "dev/web/shop"),
    ("applications", "rollback", "prod/payments/api"),
    ("workflows", "terminate", "prod/argo/nightly"),
    ("approvals", "approve", "prod/payments/api"),
]


WITHOUT_DEFAULT = _enforcer(default_role=None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SUBJECTS), max_size=4), st.sampled_from(REQUESTS))
def test_a_person_is_decided_as_documented(subjects: list[str], request: tuple[str, str, str]) -> None:
    """Allowed iff some subject (or the default role) allows and no subject (nor the default role) denies."""
    resource, action, obj = request
    each = [
        WITHOUT_DEFAULT.decide([subject], resource=resource, action=action, obj=obj)
        for subject in [*subjects, "role:readonly"]
    ]
    expected = any(d.allowed for d in each) and not any(d.outcome == "deny" for d in each)
    assert ENFORCER.can(subjects, resource=resource, action=action, obj=obj) is expected
