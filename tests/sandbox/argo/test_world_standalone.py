"""`python -m bot.sandbox` as a user runs it: one JSON line, then kubectl, boto3 and slack_sdk against it."""

from __future__ import annotations

import base64
import json
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes import client
from slack_sdk import WebClient

from bot.clusters import eks
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.waiting import wait_until

KUBECTL = "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    state = tmp_path_factory.mktemp("world")
    stderr = (state / "stderr.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox", "--state-dir", str(state), "--seed", "--time-scale", "0.01"],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, f"no description within 60 s; stderr: {(state / 'stderr.log').read_text()[-2000:]}"
        assert process.stdout is not None
        description = json.loads(process.stdout.readline())
        yield process, description
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        stderr.close()


def _kubectl(description: dict[str, Any], *args: str) -> str:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", description["kubeconfig"], *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_description_and_kubeconfig_reach_every_cluster(
    world: tuple[subprocess.Popen[str], dict[str, Any]],
) -> None:
    _, description = world

    assert set(description["clusters"]) == {"dev", "prod"}
    assert Path(description["kubeconfig"]).exists()
    templates = _kubectl(description, "--context", "prod", "get", "workflowtemplates", "-n", "argo")
    assert {line.split()[0] for line in templates.splitlines()[1:]} == {
        "hello",
        "db-migration",
        "deploy-report",
        "nightly-report",
        "orders-backfill",
        "release",
    }
    apps = _kubectl(description, "--context", "dev", "get", "applications", "-n", "argocd", "-o", "json")
    by_name = {item["metadata"]["name"]: item for item in json.loads(apps)["items"]}
    assert len(by_name) == 20 and {"shop-dev", "shop-prod", "billing-dev", "billing-prod"} <= set(by_name)
    assert len(by_name["shop-prod"]["status"]["history"]) == 3  # the last cluster plays production
    assert by_name["shop-prod"]["spec"]["destination"]["name"] == "prod"


def test_slack_sandbox_answers_slack_sdk(world: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    _, description = world
    slack = WebClient(base_url=description["slack"]["api_url"], token=description["slack"]["bot_token"])

    assert slack.auth_test()["team_id"] == description["slack"]["team_id"]
    assert slack.users_info(user="U0ALICE")["user"]["profile"]["email"] == "alice@example.com"


def test_eks_token_runs_a_workflow_whose_log_lands_in_s3(
    world: tuple[subprocess.Popen[str], dict[str, Any]], tmp_path: Path
) -> None:
    _, description = world
    aws, prod = description["aws"], description["clusters"]["prod"]
    base = boto3.Session(
        aws_access_key_id=aws["access_key_id"],
        aws_secret_access_key=aws["secret_access_key"],
        region_name=aws["region"],
    )
    session = eks.assume_role_session(
        base=base, role_arn=prod["eks"]["role_arn"], session_name="chatops", endpoint_url=aws["endpoint_url"]
    )
    eks_api = session.client("eks", region_name=prod["eks"]["region"], endpoint_url=aws["endpoint_url"])
    cluster = eks_api.describe_cluster(name=prod["eks"]["cluster_name"])["cluster"]
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(base64.b64decode(cluster["certificateAuthority"]["data"]))
    token = eks.make_token(
        session=session,
        cluster_name=prod["eks"]["cluster_name"],
        region=prod["eks"]["region"],
        endpoint_url=aws["endpoint_url"],
    )
    api_client = build_api_client(url=cluster["endpoint"], token=token.value, ca_file=str(ca_file))
    try:
        api = client.CustomObjectsApi(api_client)
        workflow = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": "db-migration-"},
            "spec": {"workflowTemplateRef": {"name": "db-migration"}},
        }
        name = api.create_namespaced_custom_object("argoproj.io", "v1alpha1", "argo", "workflows", workflow)[
            "metadata"
        ]["name"]

        def finished() -> dict[str, Any] | None:
            wf = api.get_namespaced_custom_object("argoproj.io", "v1alpha1", "argo", "workflows", name)
            return wf if wf.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error") else None

        wf = wait_until(finished, timeout=30, message="the seeded failing template to finish")
    finally:
        api_client.close()

    assert cluster["endpoint"].startswith("https://")
    assert wf["status"]["phase"] == "Failed"
    failed = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "migrate")
    key = failed["outputs"]["artifacts"][0]["s3"]["key"]
    s3 = base.client("s3", endpoint_url=aws["endpoint_url"])
    log = s3.get_object(Bucket=description["logs"]["bucket"], Key=key)["Body"].read().decode()
    assert "violates foreign key constraint" in log.splitlines()[-2]


def test_sigterm_stops_the_world_cleanly(world: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    process, _ = world

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=30) == 0
