"""Configuration: the example validates, and every mistake is named by file, key path and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "config.yaml"

MINIMAL_CLUSTER = """
clusters:
  - name: prod-eu
    auth: {kind: eks, cluster_name: prod, region: eu-west-1}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chatops.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return caught.value.problems


def test_the_example_covers_every_section_and_validates() -> None:
    settings = load_settings(EXAMPLE, {})
    assert settings.slack.command == "/ops"
    assert {c.name: c.auth.kind for c in settings.clusters} == {
        "prod-eu": "eks",
        "staging": "eks",
        "ops": "in-cluster",
        "dev": "kubeconfig",
    }
    prod = settings.cluster("prod-eu")
    assert prod is not None and prod.channels == ("C0PRODOPS",) and prod.argocd_namespace == "argocd"
    assert settings.logs is not None and settings.logs.bucket == "argo-artifacts"
    assert settings.rbac.default_role == "role:readonly" and "role:deployer" in (settings.rbac.policy or "")
    assert settings.approvals.require_for[0].action == "sync"
    assert {s.kind for s in settings.schedules} == {
        "app-health",
        "workflow-digest",
        "pending-approvals",
        "run",
    }
    assert settings.server.port == 8080
    assert prod.watched_namespaces() == ("argo", "batch")
    assert {s.selector for s in settings.subscriptions} == {None, "team=data"}
    assert settings.debounce.out_of_sync_minutes == 10
    assert settings.database.url == "sqlite:///chatops.db"


def test_a_misspelt_key_is_named_with_its_full_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
clusters:
  - name: prod-eu
    auth: {kind: eks, cluster_name: prod, regoin: eu-west-1, region: eu-west-1}
""",
    )
    [problem] = _problems(path)
    assert problem.startswith(f"{path}: clusters[0].auth.regoin ")
    assert "not a known key" in problem


def test_wrong_types_say_what_was_expected_and_all_problems_are_listed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        MINIMAL_CLUSTER
        + """
    workflows_namespace: 12
server: {port: eighty}
approvals: {allow_self_approval: maybe}
""",
    )
    problems = _problems(path)
    assert f"{path}: clusters[0].workflows_namespace must be text, got 12" in problems
    assert f"{path}: server.port must be a whole number, got 'eighty'" in problems
    assert f"{path}: approvals.allow_self_approval must be true or false, got 'maybe'" in problems


def test_bad_values_explain_the_expected_form(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
clusters:
  - name: Prod_EU
    auth: {kind: eks, cluster_name: prod, region: europe}
    channels: ["#prod-ops"]
schedules:
  - {name: s, kind: app-health, cron: "0 9 * *", channel: C0123ABCD, timezone: Mars/Olympus}
""",
    )
    text = "\n".join(_problems(path))
    assert "clusters[0].name must be a lower-case DNS label" in text
    assert "clusters[0].auth.region must be an AWS region such as eu-west-1" in text
    assert "'#prod-ops' is not a Slack channel id" in text
    assert "schedules[0].cron must be a 5-field cron expression" in text
    assert "schedules[0].timezone must be an IANA time zone" in text


def test_an_unknown_auth_kind_lists_the_known_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, "clusters:\n  - name: a\n    auth: {kind: gke}\n")
    [problem] = _problems(path)
    assert (
        "clusters[0].auth has an unknown 'kind': expected one of kubeconfig, in-cluster, eks, token"
        in problem
    )


def test_a_schedule_on_an_unknown_cluster_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        MINIMAL_CLUSTER
        + """
schedules:
  - {name: s, kind: app-health, cron: "0 9 * * *", channel: C0123ABCD, cluster: prod-us}
""",
    )
    [problem] = _problems(path)
    assert "'prod-us'" in problem and "prod-eu" in problem


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "slack:\n  command: /ops\nclusters: [\n")
    [problem] = _problems(path)
    assert problem.startswith(f"{path}: not valid YAML at line 4")


def test_a_list_at_the_top_level_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "- slack\n- clusters\n")
    [problem] = _problems(path)
    assert "top level must be a mapping" in problem


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path / "absent.yaml")
    assert "no such file" in problem and "--config" in problem and "CHATOPS_CONFIG" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slack:\n  bot_token: xoxb-123-456-abc\n", "set SLACK_BOT_TOKEN in the environment"),
        ("slack:\n  app_token: xapp-1-A1-abc\n", "set SLACK_APP_TOKEN in the environment"),
        (
            "database:\n  url: postgresql://chatops:hunter2@db/chatops\n",
            "set DATABASE_URL in the environment",
        ),
        (
            "database:\n  url: postgresql://db/chatops?user=chatops&password=hunter2\n",
            "set DATABASE_URL in the environment",
        ),
    ],
)
def test_secrets_in_the_file_are_refused_without_repeating_them(
    tmp_path: Path, text: str, expected: str
) -> None:
    [problem] = _problems(_write(tmp_path, text))
    assert expected in problem
    for secret in ("xoxb-123-456-abc", "xapp-1-A1-abc", "hunter2"):
        assert secret not in problem


def test_secrets_come_from_the_environment_and_stay_hidden(tmp_path: Path) -> None:
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-123-456-abc",
        "SLACK_APP_TOKEN": "xapp-1-A1-abc",
        "DATABASE_URL": "postgresql+psycopg://chatops:hunter2@db:5432/chatops",
    }
    settings = load_settings(_write(tmp_path, "database:\n  url: sqlite:///other.db\n"), environ)
    assert settings.database.url == environ["DATABASE_URL"]
    assert settings.slack.bot_token is not None
    assert settings.slack.bot_token.get_secret_value() == "xoxb-123-456-abc"
    assert "xoxb-123-456-abc" not in repr(settings)
    assert "xapp-1-A1-abc" not in repr(settings)


def test_a_database_url_that_is_not_a_url_is_refused(tmp_path: Path) -> None:
    [problem] = _problems(_write(tmp_path, "database:\n  url: chatops.db\n"))
    assert "database.url must be a database URL such as sqlite:///chatops.db" in problem


def test_the_policy_file_is_found_next_to_the_config_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "rbac:\n  policy_file: policy.csv\n")
    assert load_settings(path, {}).policy_path() == tmp_path / "policy.csv"


def test_a_run_schedule_in_the_file_names_the_owner_it_acts_for(tmp_path: Path) -> None:
    schedule = (
        "schedules:\n"
        "  - {name: nightly, kind: run, cron: '0 2 * * *', channel: C0OPS0001, template: report}\n"
    )
    path = tmp_path / "chatops.yaml"
    path.write_text(schedule, encoding="utf-8")
    [problem] = _problems(path)
    assert "owner" in problem and "permissions" in problem
    path.write_text(schedule.replace("template: report", "template: report, owner: U0ALICE01"), "utf-8")
    [loaded] = load_settings(path, {}).schedules
    assert loaded.owner == "U0ALICE01"


def test_subscription_filters_are_checked_and_belong_to_their_kind(tmp_path: Path) -> None:
    entry = "  - {channel: C0OPS0001, kind: %s, name: '*', owner: U0ALICE01, %s}\n"
    path = _write(
        tmp_path, MINIMAL_CLUSTER + "subscriptions:\n" + entry % ("workflows", "selector: 'team in (a)'")
    )
    [problem] = _problems(path)
    assert "set-based terms" in problem
    path = _write(tmp_path, MINIMAL_CLUSTER + "subscriptions:\n" + entry % ("apps", "namespace: batch"))
    [problem] = _problems(path)
    assert "'namespace' applies only to subscriptions of kind 'workflows'" in problem
    everywhere = MINIMAL_CLUSTER.replace(
        "region: eu-west-1}", "region: eu-west-1}\n    watch_namespaces: ['*']"
    )
    [cluster] = load_settings(_write(tmp_path, everywhere), {}).clusters
    assert cluster.watched_namespaces() is None and cluster.watches("anything")
    [problem] = _problems(_write(tmp_path, everywhere.replace("'*'", "'Batch'")))
    assert "is not a namespace" in problem


def test_the_argocd_token_comes_from_the_environment_only_and_goes_with_its_server(tmp_path: Path) -> None:
    server = MINIMAL_CLUSTER + "argocd:\n  server_url: https://argocd.example.com\n"
    [problem] = _problems(_write(tmp_path, server))
    assert "ARGOCD_AUTH_TOKEN is not" in problem
    settings = load_settings(_write(tmp_path, server), {"ARGOCD_AUTH_TOKEN": "argocd-token-9f3b"})
    assert settings.argocd.auth_token is not None
    assert "argocd-token-9f3b" not in repr(settings)
    [problem] = _problems(_write(tmp_path, server + "  auth_token: argocd-token-9f3b\n"))
    assert "must not be in the file" in problem and "argocd-token-9f3b" not in problem
