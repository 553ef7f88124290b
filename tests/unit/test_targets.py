"""Which cluster and which permission each verb record says a command needs (pure)."""

from __future__ import annotations

import pytest

from bot.actions.context import channel_refusal, resolve_cluster
from bot.commands import grammar
from bot.commands.verbs import build_registry
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
REGISTRY = build_registry()


def parse(text: str) -> grammar.Invocation:
    return grammar.parse_command(text, registry=REGISTRY)


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
        (
            "schedule add nightly --kind run --template t --cron '0 2 * * *'",
            ("schedules", "create", "nightly", None, True),
        ),
        ("schedule remove nightly", ("schedules", "delete", "nightly", None, True)),
        ("audit", ("audit", "get", "*", None, True)),
    ],
)
def test_target_for(text: str, expected: tuple[str, str, str, str | None, bool]) -> None:
    invocation = parse(text)
    cluster = resolve_cluster(invocation.verb, invocation.command, SETTINGS)
    target = invocation.verb.target_for(invocation.command, cluster)
    assert target is not None
    assert (target.resource, target.action, target.obj, target.cluster, target.precise) == expected


def test_help_and_whoami_need_no_permission() -> None:
    for text in ("help", "whoami"):
        invocation = parse(text)
        assert invocation.verb.target_for(invocation.command, None) is None


def test_unknown_cluster_names_the_known_ones() -> None:
    with pytest.raises(UserError, match="`dev`, `prod`"):
        invocation = parse("run x --cluster nope")
        resolve_cluster(invocation.verb, invocation.command, SETTINGS)


def test_channel_binding() -> None:
    prod = SETTINGS.cluster("prod")
    assert prod is not None
    assert channel_refusal(prod, "CPROD001") is None
    assert "<#CPROD001>" in (channel_refusal(prod, "COTHER01") or "")
    dev = SETTINGS.cluster("dev")
    assert dev is not None and channel_refusal(dev, "CANY0001") is None


def test_in_a_channel_bound_to_one_cluster_a_command_without_cluster_is_for_that_cluster() -> None:
    invocation = parse("run build")
    in_prod = resolve_cluster(invocation.verb, invocation.command, SETTINGS, channel_id="CPROD001")
    elsewhere = resolve_cluster(invocation.verb, invocation.command, SETTINGS, channel_id="COTHER01")
    assert in_prod is not None and in_prod.name == "prod"
    assert elsewhere is not None and elsewhere.name == "dev"
