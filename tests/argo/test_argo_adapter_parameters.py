"""`check_parameters`: what a user typed after `-p`, checked against a template's declaration (pure)."""

from __future__ import annotations

import pytest

from bot.argo.parameters import TemplateParam, check_parameters
from bot.errors import UserError

REPORT = (
    TemplateParam("env", default="dev", enum=("dev", "staging", "prod"), description="target"),
    TemplateParam("days", default="7"),
    TemplateParam("region"),  # required: no default
    TemplateParam("bucket", has_value_from=True),  # Argo reads it from a ConfigMap when not given
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([("region", "eu-west-1")], {"env": "dev", "days": "7", "region": "eu-west-1"}),
        (
            [("days", "30"), ("region", "us-east-1"), ("env", "prod")],
            {"env": "prod", "days": "30", "region": "us-east-1"},
        ),
        # Values are data, never markup: quotes, newlines and YAML syntax pass through unchanged.
        ([("region", "a: b\n- 'c' {{x}}")], {"env": "dev", "days": "7", "region": "a: b\n- 'c' {{x}}"}),
        ([("region", "")], {"env": "dev", "days": "7", "region": ""}),
    ],
)
def test_accepted_parameters_come_back_complete_in_declared_order(
    given: list[tuple[str, str]], expected: dict[str, str]
) -> None:
    values = check_parameters(REPORT, given)

    assert values == expected
    assert list(values) == list(expected)


@pytest.mark.parametrize(
    ("given", "fragments"),
    [
        ([("evn", "prod"), ("region", "r")], ["unknown parameter `evn` (did you mean `env`?)", "`days`"]),
        ([("colour", "red"), ("region", "r")], ["unknown parameter `colour`;", "`env`, `days`"]),
        ([], ["`region` is required: add `-p region=VALUE`"]),
        ([("env", "qa"), ("region", "r")], ["`env` must be one of `dev`, `staging`, `prod` (got `qa`)"]),
        ([("region", "x" * 1025)], ["the value of `region` is 1025 characters long; the limit is 1024"]),
        ([("region", "a"), ("region", "b")], ["`region` is given more than once"]),
        # a `valueFrom` parameter is the template owner's choice: it cannot be typed over
        (
            [("region", "r"), ("bucket", "logs")],
            ["`bucket` comes from the template's own source (`valueFrom`)"],
        ),
    ],
)
def test_each_problem_is_named_with_what_to_type_instead(
    given: list[tuple[str, str]], fragments: list[str]
) -> None:
    with pytest.raises(UserError) as caught:
        check_parameters(REPORT, given)

    for fragment in fragments:
        assert fragment in str(caught.value)


def test_every_problem_is_reported_at_once_one_per_line() -> None:
    with pytest.raises(UserError) as caught:
        check_parameters(REPORT, [("evn", "prod"), ("env", "qa"), ("days", "9" * 2000)])

    lines = str(caught.value).splitlines()
    assert len(lines) == 4
    assert all(line.startswith("• ") for line in lines)
    assert "`evn`" in lines[0]
    assert "`env` must be one of" in lines[1]
    assert "`days` is 2000 characters long" in lines[2]
    assert "`region` is required" in lines[3]


def test_a_pasted_blob_is_not_echoed_back_in_full() -> None:
    with pytest.raises(UserError) as caught:
        check_parameters(REPORT, [("env", "z" * 500), ("region", "r")], max_value_length=1000)

    assert len(str(caught.value)) < 200


def test_the_length_limit_is_configurable() -> None:
    assert check_parameters(REPORT, [("region", "abcd")], max_value_length=4)["region"] == "abcd"
    with pytest.raises(UserError, match="limit is 3"):
        check_parameters(REPORT, [("region", "abcd")], max_value_length=3)


def test_a_template_without_parameters_says_so() -> None:
    assert check_parameters((), []) == {}
    with pytest.raises(UserError, match="this template takes no parameters"):
        check_parameters((), [("env", "prod")])


def test_required_means_no_default_and_no_value_from() -> None:
    assert [p.name for p in REPORT if p.is_required] == ["region"]
