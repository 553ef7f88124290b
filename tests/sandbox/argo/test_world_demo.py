"""The demo world `chatops demo` starts: `SandboxWorld(clusters=DEMO_CLUSTERS, seed=True)`.

What a new user meets there, seen through slack_sdk and the kubernetes client only: people
whose names say their role, the demo's channels and groups, the WorkflowTemplates on every
cluster (one long enough to stop, one that waits for an approval), and twenty Argo CD
Applications with history, a few OutOfSync, one Degraded, one whose next revision fails.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from slack_sdk import WebClient

from bot.sandbox.argo import samples, scripts
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import DEMO_CHANNELS, DEMO_CLUSTERS, SandboxWorld

G, V = "argoproj.io", "v1alpha1"
TIME_SCALE = 0.01


class Demo:
    def __init__(self, world: SandboxWorld, seeded_apps: dict[str, dict[str, Any]]) -> None:
        self.world = world
        self.description = world.describe()
        #: The applications as seeding left them (tests below change some).
        self.seeded_apps = seeded_apps
        self._clients: list[client.ApiClient] = []

    def api(self, cluster: str) -> client.CustomObjectsApi:
        info = self.description["clusters"][cluster]
        api_client = build_api_client(url=info["api_url"], token=info["token"])
        self._clients.append(api_client)
        return client.CustomObjectsApi(api_client)

    def app(self, name: str) -> dict[str, Any]:
        return dict(self.api("staging").get_namespaced_custom_object(G, V, "argocd", "applications", name))

    def close(self) -> None:
        for api_client in self._clients:
            api_client.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    world = SandboxWorld(
        tmp_path_factory.mktemp("demo"), clusters=DEMO_CLUSTERS, seed=True, time_scale=TIME_SCALE
    ).start()
    try:
        apps = world.kube["staging"].store.list(G, V, "applications", "argocd")
        demo = Demo(world, {app["metadata"]["name"]: app for app in apps})
        yield demo
        demo.close()
    finally:
        world.stop()


def _sha(revision: str) -> str:
    return hashlib.sha1(f"{samples.DEPLOY_REPO}@{revision}".encode()).hexdigest()


def test_people_show_their_role_and_the_channels_and_groups_exist(demo: Demo) -> None:
    slack = WebClient(
        base_url=demo.description["slack"]["api_url"], token=demo.description["slack"]["bot_token"]
    )

    names = {
        u: slack.users_info(user=u)["user"]["real_name"] for u in ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE")
    }
    assert names == {
        "U0ALICE": "Alice (platform admin)",
        "U0BOB": "Bob (developer)",
        "U0CAROL": "Carol (SRE lead)",
        "U0DAVE": "Dave (viewer)",
    }
    assert slack.users_info(user="U0BOB")["user"]["profile"]["email"] == "bob@example.com"
    assert [slack.conversations_info(channel=c)["channel"]["name"] for c, _ in DEMO_CHANNELS] == [
        "deploys",
        "prod-ops",
        "approvals",
    ]
    assert slack.usergroups_users_list(usergroup="S0SRE")["users"] == ["U0CAROL"]
    assert slack.usergroups_users_list(usergroup="S0DEVS")["users"] == ["U0BOB"]


def test_every_cluster_has_the_demo_templates_with_a_description(demo: Demo) -> None:
    for cluster in DEMO_CLUSTERS:
        listed = demo.api(cluster).list_namespaced_custom_object(G, V, "argo", "workflowtemplates")["items"]
        described = {t["metadata"]["name"]: t["metadata"]["annotations"][samples.DESCRIPTION] for t in listed}
        assert set(described) == {
            "hello",
            "db-migration",
            "deploy-report",
            "nightly-report",
            "orders-backfill",
            "release",
        }, cluster
        assert all(described.values())


def _scripted_seconds(name: str) -> float:
    """How long a steps template runs at time scale 1: each group lasts as long as its longest step."""
    template = next(t for t in samples.workflow_templates() if t["metadata"]["name"] == name)
    by_name = {t["name"]: t for t in template["spec"]["templates"]}
    defaults = {p["name"]: p["value"] for p in template["spec"]["arguments"]["parameters"]}
    total = 0.0
    for group in by_name[template["spec"]["entrypoint"]]["steps"]:
        longest = 0.0
        for step in group:
            text = json.dumps(by_name[step["template"]])
            arguments = {p["name"]: p["value"] for p in step.get("arguments", {}).get("parameters", [])}
            for key, value in [*(("workflow.parameters." + k, v) for k, v in defaults.items()),
                               *(("inputs.parameters." + k, v) for k, v in arguments.items())]:  # fmt: skip
                text = text.replace("{{" + key + "}}", value)
            longest = max(longest, scripts.script_from_template(json.loads(text)).duration)
        total += longest
    return total


def test_the_backfill_runs_about_two_minutes_in_eleven_steps_and_hello_a_few_seconds(demo: Demo) -> None:
    assert 100 <= _scripted_seconds("orders-backfill") <= 140
    assert _scripted_seconds("hello") <= 15

    api = demo.api("staging")
    body = {
        "apiVersion": f"{G}/{V}",
        "kind": "Workflow",
        "metadata": {"generateName": "orders-backfill-"},
        "spec": {"workflowTemplateRef": {"name": "orders-backfill"}},
    }
    started = time.monotonic()
    name = api.create_namespaced_custom_object(G, V, "argo", "workflows", body)["metadata"]["name"]
    wf = wait_until(
        lambda: (
            (w := api.get_namespaced_custom_object(G, V, "argo", "workflows", name))
            and w.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error")
            and w
        ),
        timeout=30,
        message="the backfill to finish",
    )
    elapsed = time.monotonic() - started

    assert wf["status"]["phase"] == "Succeeded"
    assert wf["status"]["progress"] == "11/11"
    assert elapsed >= 100 * TIME_SCALE  # it cannot be quicker than its scripted time


def test_a_release_waits_at_its_approval_step_until_it_is_stopped(demo: Demo) -> None:
    api = demo.api("production")
    body = {
        "apiVersion": f"{G}/{V}",
        "kind": "Workflow",
        "metadata": {"generateName": "release-"},
        "spec": {
            "workflowTemplateRef": {"name": "release"},
            "arguments": {"parameters": [{"name": "service", "value": "cart"}]},
        },
    }
    name = api.create_namespaced_custom_object(G, V, "argo", "workflows", body)["metadata"]["name"]

    def nodes() -> dict[str, dict[str, Any]]:
        wf = api.get_namespaced_custom_object(G, V, "argo", "workflows", name)
        return {n["displayName"]: n for n in wf.get("status", {}).get("nodes", {}).values()}

    wait_until(lambda: nodes().get("approve", {}).get("phase") == "Running", timeout=15, message="approve")
    waiting = nodes()
    assert waiting["approve"]["type"] == "Suspend"
    assert waiting["image-scan"]["phase"] == "Succeeded" and "deploy" not in waiting

    api.patch_namespaced_custom_object(G, V, "argo", "workflows", name, {"spec": {"shutdown": "Stop"}})
    wf = wait_until(
        lambda: (
            (w := api.get_namespaced_custom_object(G, V, "argo", "workflows", name))
            and w["status"].get("phase") == "Failed"
            and w
        ),
        timeout=15,
        message="the stopped release to end",
    )
    assert wf["status"]["message"] == "Stopped with strategy 'Stop'"


def test_twenty_apps_in_three_projects_some_out_of_sync_one_degraded(demo: Demo) -> None:
    apps = demo.seeded_apps

    assert len(apps) == 20
    assert {a["spec"]["project"] for a in apps.values()} == {"shop", "payments", "platform"}
    by_cluster = {
        c: sorted(n for n, a in apps.items() if a["spec"]["destination"]["name"] == c) for c in DEMO_CLUSTERS
    }
    assert [len(names) for names in by_cluster.values()] == [10, 10]
    out_of_sync = {n for n, a in apps.items() if a["status"]["sync"]["status"] == "OutOfSync"}
    assert out_of_sync == {"cart-staging", "payments-api-staging", "monitoring-production"}
    degraded = {n for n, a in apps.items() if a["status"]["health"]["status"] == "Degraded"}
    assert degraded == {"ledger-production"}
    assert all(a["status"]["health"]["status"] == "Healthy" for n, a in apps.items() if n not in degraded)
    short = {n for n, a in apps.items() if len(a["status"]["history"]) < 2}
    assert short == {"billing-staging", "billing-production"}
    cart = apps["cart-staging"]
    assert cart["spec"]["source"]["targetRevision"] == "v2.3.0"
    assert cart["status"]["sync"]["revision"] == _sha("v2.2.0")
    automated = {n for n, a in apps.items() if a["spec"].get("syncPolicy", {}).get("automated")}
    assert automated == {f"{b}-{c}" for b in ("ingress-nginx", "cert-manager") for c in DEMO_CLUSTERS}


def test_shop_in_production_has_a_recent_deploy_to_roll_back(demo: Demo) -> None:
    shop = demo.seeded_apps["shop-production"]
    history = shop["status"]["history"]

    assert [(h["id"], h["revision"]) for h in history] == [
        (0, _sha("v1.4.0")),
        (1, _sha("v1.4.1")),
        (2, _sha("v1.5.0")),
    ]
    assert [h["source"]["targetRevision"] for h in history] == ["v1.4.0", "v1.4.1", "v1.5.0"]
    assert {h["initiatedBy"]["username"] for h in history} == {"carol@example.com"}
    assert history[2]["deployedAt"] > history[1]["deployedAt"] > history[0]["deployedAt"]
    phases = [
        (r["kind"], r.get("hookType")) for r in shop["status"]["operationState"]["syncResult"]["resources"]
    ]
    assert phases[0] == ("Job", "PreSync") and phases[-1] == ("Job", "PostSync")

    # roll back as `argocd app rollback shop-production 1` does: the entry's revision and source
    api = demo.api("staging")
    operation = {
        "sync": {"revision": history[1]["revision"], "source": history[1]["source"]},
        "initiatedBy": {"username": "carol@example.com"},
    }
    api.patch_namespaced_custom_object(
        G, V, "argocd", "applications", "shop-production", {"operation": operation}
    )
    rolled = wait_until(
        lambda: (
            (a := demo.app("shop-production"))
            and not a.get("operation")
            and len(a["status"]["history"]) == 4
            and a
        ),
        timeout=15,
        message="the rollback to be deployed",
    )

    assert rolled["status"]["operationState"]["phase"] == "Succeeded"
    assert rolled["status"]["history"][3]["revision"] == _sha("v1.4.1")


def test_syncing_payments_api_on_staging_to_its_new_target_fails_at_admission(demo: Demo) -> None:
    before = demo.seeded_apps["payments-api-staging"]["status"]["history"]
    api = demo.api("staging")

    api.patch_namespaced_custom_object(
        G, V, "argocd", "applications", "payments-api-staging", {"operation": {"sync": {}}}
    )
    app = wait_until(
        lambda: (
            (a := demo.app("payments-api-staging"))
            and not a.get("operation")
            and a["status"]["operationState"]["phase"] == "Failed"
            and a
        ),
        timeout=15,
        message="the sync to fail",
    )

    state = app["status"]["operationState"]
    assert state["message"] == f"one or more objects failed to apply, reason: {samples.GATEKEEPER_DENIAL}"
    assert state["syncResult"]["revision"] == _sha("v2.8.0")
    failed = [(r["kind"], r["name"]) for r in state["syncResult"]["resources"] if r["status"] == "SyncFailed"]
    assert failed == [("Deployment", "payments-api")]
    assert app["status"]["history"] == before


def test_seeding_again_keeps_what_is_there(demo: Demo) -> None:
    history = demo.app("shop-staging")["status"]["history"]

    created = demo.world.seed_demo()

    assert len(created["applications"]) == 20
    assert demo.app("shop-staging")["status"]["history"] == history
