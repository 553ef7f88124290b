"""Which cluster and which permission each command needs (pure)."""

from __future__ import annotations

import pytest

from bot.commands import grammar, targets
from bot.config import parse_settings
from bot.errors import UserError

SETTINGS = parse_settings(
    {
        "clusters": [
            {"name": "dev", "auth": {"kind": "in-cluster"}},
            {
                "name": "prod",
                "auth": {"kind": "in-cluster"},
                "workflows_namespace": "jobs",
                "channels": ["CPROD001"],
            },
        ]
    },
    source="t.yaml",
    environ={},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run build", ("workflows", "run", "dev/argo/build", "dev", True)),
        ("run build --cluster prod", ("workflows", "run", "prod/jobs/build", "prod", True)),
        (
            "run build --cluster prod --namespace batch",
            ("workflows", "run", "prod/batch/build", "prod", True),
        ),
        ("templates --cluster prod", ("workflows", "run", "prod/jobs/*", "prod", False)),
        ("sync api --cluster prod", ("applications", "sync", "*", "prod", False)),
        ("audit", ("audit", "get", "*", None, True)),
    ],
)
def test_target_for(text: str, expected: tuple[str, str, str, str | None, bool]) -> None:
    command = grammar.parse_command(text)
    cluster = targets.resolve_cluster(command, SETTINGS)
    target = targets.target_for(command, cluster=cluster)
    assert target is not None
    assert (target.resource, target.action, target.obj, target.cluster, target.precise) == expected


def test_help_and_whoami_need_no_permission() -> None:
    for text in ("help", "whoami"):
        assert targets.target_for(grammar.parse_command(text), cluster=None) is None


def test_unknown_cluster_names_the_known_ones() -> None:
    with pytest.raises(UserError, match="`dev`, `prod`"):
        targets.resolve_cluster(grammar.parse_command("run x --cluster nope"), SETTINGS)


def test_channel_binding() -> None:
    prod = SETTINGS.cluster("prod")
    assert prod is not None
    assert targets.channel_refusal(prod, "CPROD001") is None
    assert "<#CPROD001>" in (targets.channel_refusal(prod, "COTHER01") or "")
    dev = SETTINGS.cluster("dev")
    assert dev is not None and targets.channel_refusal(dev, "CANY0001") is None
