"""Label selectors as `kubectl get -l` takes them (equality-based terms)."""

from __future__ import annotations

import pytest

from bot.labels import parse_selector, selector_matches, selector_problem

LABELS = {"team": "data", "tier": "prod", "workflows.argoproj.io/cron-workflow": "nightly"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("team=data", True),
        ("team==data", True),
        ("team=web", False),
        ("team=data,tier!=test", True),
        ("team=data,tier!=prod", False),
        ("workflows.argoproj.io/cron-workflow", True),
        ("!workflows.argoproj.io/cron-workflow", False),
        ("!owner", True),
        ("owner!=me", True),  # absent is not equal
        ("owner=", False),
    ],
)
def test_a_selector_matches_as_kubectl_would(selector: str, matches: bool) -> None:
    assert selector_matches(selector, LABELS) is matches


@pytest.mark.parametrize(
    ("selector", "said"),
    [
        ("team in (data)", "set-based terms"),
        ("team=data,,tier=prod", "empty term"),
        ("Team Name=x", "not a label key"),
        ("team=da ta", "not a label value"),
    ],
)
def test_a_bad_selector_says_why_and_matches_nothing(selector: str, said: str) -> None:
    assert said in selector_problem(selector)
    assert not selector_matches(selector, LABELS)
    with pytest.raises(ValueError, match=said):
        parse_selector(selector)
