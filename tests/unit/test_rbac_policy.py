"""Reading policy CSV: what is accepted, and errors that name the file and the line."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.rbac import policy
from bot.rbac.source import BUILTIN_SOURCE, builtin_text


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        policy.parse_policy(text, source="policy.csv")
    return caught.value.problems


def test_comments_blank_and_whitespace_only_lines_are_skipped() -> None:
    text = (
        "# header\n\n   \n\t\n  # indented comment\n"
        "p, role:x, workflows, get, */*/*, allow\r\n  \ng, slack:U1, role:x\n"
    )
    parsed = policy.parse_policy(text, source="policy.csv")
    assert parsed.rules == (policy.Rule("role:x", "workflows", "get", "*/*/*", "allow", "policy.csv", 6),)
    assert parsed.groupings == (policy.Grouping("slack:U1", "role:x", "policy.csv", 8),)


def test_quoted_fields_and_spacing_are_honoured() -> None:
    parsed = policy.parse_policy(
        'p,"role:x" ,  applications,"sync",   "prod/payments/*",deny\n'
        'g,  "email:Alice@Example.com"  , role:x',
        source="inline",
    )
    assert parsed.rules[0].key() == ("role:x", "applications", "sync", "prod/payments/*", "deny")
    assert parsed.groupings[0].key() == ("email:alice@example.com", "role:x")


def test_wildcards_for_action_and_resource() -> None:
    parsed = policy.parse_policy(
        "p, role:root, *, *, *, allow\np, role:wf, workflows, *, dev/*, allow", source="x"
    )
    assert [r.key()[1:3] for r in parsed.rules] == [("*", "*"), ("workflows", "*")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p, role:x, workflows, get, *", "policy.csv: line 1: a p line needs 6 fields"),
        ("p, role:x, workflows, get, *, allow, extra", "found 7"),
        ("g, slack:U1", "policy.csv: line 1: a g line needs 3 fields (g, subject, role), found 2"),
        ("g, slack:U1, role:x, extra", "found 4"),
        ("x, role:x, workflows, get, *, allow", "lines start with p or g"),
        ("p, role:x, workflows, get, *, permit", "effect 'permit' must be allow or deny"),
        ("p, role:x, clusters, get, *, allow", "unknown resource 'clusters'"),
        (
            "p, role:x, applications, run, *, allow",
            "unknown action 'run' for applications: expected one of get",
        ),
        ("p, role:x, workflows, sink, *, allow", "unknown action 'sink' for workflows"),
        ("p, alice, workflows, get, *, allow", "'alice' is not a valid subject: it must start with slack:"),
        ("p, slack:alice, workflows, get, *, allow", "expected something like slack:U0123ABCD"),
        ("p, email:alice, workflows, get, *, allow", "expected something like email:alice@example.com"),
        ("p, group:SRE Team, workflows, get, *, allow", "expected something like group:sre"),
        ("p, role:x, workflows, get, prod stuff, allow", "object 'prod stuff' must be a non-empty glob"),
        ("p, role:x, workflows, get, , allow", "object '' must be a non-empty glob"),
        ("g, slack:U1, group:sre", "'group:sre' must be a role such as role:deployer"),
        ('p, "role:x, workflows, get, *, allow', "a p line needs 6 fields"),
    ],
)
def test_bad_lines_are_named(text: str, expected: str) -> None:
    problems = _problems(text)
    assert len(problems) >= 1
    assert expected in problems[0], problems


def test_every_bad_line_is_reported_at_once_with_its_number() -> None:
    text = (
        "# policy\n"
        "p, role:x, workflows, get, */*/*, allow\n"
        "p, role:x, workflows, get\n"
        "\n"
        "g, slack:U1\n"
        "p, role:x, workflows, fly, *, allow\n"
    )
    problems = _problems(text)
    assert [p.split(":")[1].strip() for p in problems] == ["line 3", "line 5", "line 6"]
    assert all(p.startswith("policy.csv: line ") for p in problems)


def test_admin_subjects_become_role_grants() -> None:
    grants = policy.grants_for(
        ["slack:U1", "email:Boss@Example.com"], role="role:admin", source="rbac.admin_subjects"
    )
    assert [g.key() for g in grants.groupings] == [
        ("slack:U1", "role:admin"),
        ("email:boss@example.com", "role:admin"),
    ]
    with pytest.raises(ConfigError, match=r"rbac.admin_subjects\[1\]: 'bob' is not a valid subject"):
        policy.grants_for(["slack:U1", "bob"], role="role:admin", source="rbac.admin_subjects")


def test_merge_keeps_order_and_the_first_of_duplicates() -> None:
    first = policy.parse_policy("p, role:x, workflows, get, *, allow\ng, slack:U1, role:x", source="a")
    second = policy.parse_policy(
        "p, role:x, workflows, get, *, allow\np, role:x, workflows, get, *, deny\ng, slack:U1, role:x",
        source="b",
    )
    merged = policy.merge([first, second])
    assert [(r.source, r.effect) for r in merged.rules] == [("a", "allow"), ("b", "deny")]
    assert [g.source for g in merged.groupings] == ["a"]
    assert merged.line_count == 3


def test_builtin_policy_has_readonly_and_admin() -> None:
    builtin = policy.parse_policy(builtin_text(), source=BUILTIN_SOURCE)
    subjects = {r.subject for r in builtin.rules}
    assert subjects == {"role:readonly", "role:admin"}
    assert ("role:admin", "role:readonly") in {g.key() for g in builtin.groupings}
    readonly = {(r.resource, r.action) for r in builtin.rules if r.subject == "role:readonly"}
    assert all(action in ("get", "logs") for _, action in readonly)
    admin = {(r.resource, r.action) for r in builtin.rules if r.subject == "role:admin"} | readonly
    everything = {(resource, action) for resource, actions in policy.ACTIONS.items() for action in actions}
    assert admin == everything


def test_subjects_for_a_person() -> None:
    assert policy.subjects_for(user_id="U1", email="Alice@Example.com", groups=["sre", "@payments"]) == [
        "slack:U1",
        "email:alice@example.com",
        "group:sre",
        "group:payments",
    ]
    assert policy.subjects_for(user_id="U1") == ["slack:U1"]


def test_objects_are_laid_out_as_documented() -> None:
    assert (
        policy.workflow_object(cluster="prod", namespace="argo", template="db-migrate")
        == "prod/argo/db-migrate"
    )
    assert policy.application_object(cluster="prod", project="payments", app="api") == "prod/payments/api"
