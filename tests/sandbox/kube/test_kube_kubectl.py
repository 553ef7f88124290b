"""The stock kubectl against the stand-in through a kubeconfig from `write_kubeconfig`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from bot.sandbox.kube import KubeApiServer, write_kubeconfig

WF = ("argoproj.io", "v1alpha1")


@pytest.fixture
def kubectl(kube_server: KubeApiServer, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run kubectl with a fresh HOME (no discovery cache shared between tests); fail on stderr."""
    binary = shutil.which("kubectl") or "/usr/bin/kubectl"
    assert Path(binary).exists(), "these tests need kubectl (1.32 ships on this machine at /usr/bin/kubectl)"
    config = write_kubeconfig(
        tmp_path / "kubeconfig",
        {
            "dev": kube_server.kubeconfig_entry("sandbox-admin"),
            "insecure": (kube_server.url, "sandbox-admin"),
        },
        current="dev",
    )
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, "--kubeconfig", str(config), *args], capture_output=True, text=True, env=env, timeout=60
        )
        if ok:
            assert result.returncode == 0, result.stderr
            assert result.stderr == "", result.stderr
        return result

    return run


@pytest.fixture
def seeded(kube_server: KubeApiServer) -> KubeApiServer:
    store = kube_server.store
    store.create(
        *WF, "workflowtemplates", "argo", {"metadata": {"name": "hello"}, "spec": {"entrypoint": "main"}}
    )
    store.create(
        *WF,
        "workflows",
        "argo",
        {
            "metadata": {"name": "hello-x7k2p", "labels": {"workflows.argoproj.io/phase": "Running"}},
            "spec": {"workflowTemplateRef": {"name": "hello"}},
            "status": {"phase": "Running", "startedAt": "2024-01-01T00:00:00Z"},
        },
    )
    store.create(
        *WF,
        "applications",
        "argocd",
        {
            "metadata": {"name": "guestbook"},
            "spec": {"project": "default"},
            "status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Degraded"}},
        },
    )
    return kube_server


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def test_kubectl_gets_workflows_by_plural_short_and_singular_names(kubectl, seeded):
    table = rows(kubectl("get", "workflows", "-n", "argo").stdout)
    assert table[0] == ["NAME", "STATUS", "AGE"]
    assert table[1][:2] == ["hello-x7k2p", "Running"]
    assert table[1][2].endswith(("d", "y"))  # started long ago
    assert rows(kubectl("get", "wf", "-n", "argo").stdout) == table
    assert rows(kubectl("get", "workflow", "hello-x7k2p", "-n", "argo").stdout) == table
    assert rows(kubectl("get", "wftmpl", "-n", "argo", "-o", "name").stdout) == [
        ["workflowtemplate.argoproj.io/hello"]
    ]


def test_kubectl_yaml_output_is_the_stored_object(kubectl, seeded):
    doc = yaml.safe_load(kubectl("get", "wf", "hello-x7k2p", "-n", "argo", "-o", "yaml").stdout)
    stored = seeded.store.get(*WF, "workflows", "argo", "hello-x7k2p")
    assert doc == stored


def test_kubectl_namespaces_applications_and_core_kinds(kubectl, seeded):
    namespaces = [r[0] for r in rows(kubectl("get", "ns").stdout)[1:]]
    assert {"default", "argo", "argocd"} <= set(namespaces)
    apps = rows(kubectl("get", "app", "-A").stdout)
    assert apps[0] == ["NAMESPACE", "NAME", "SYNC", "STATUS", "HEALTH", "STATUS"]
    assert apps[1] == ["argocd", "guestbook", "OutOfSync", "Degraded"]
    seeded.store.create(
        "", "v1", "configmaps", "default", {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    assert rows(kubectl("get", "cm").stdout)[1][0] == "settings"


def test_kubectl_describe_shows_spec_and_status(kubectl, seeded):
    text = kubectl("describe", "workflow", "hello-x7k2p", "-n", "argo").stdout
    assert "Name:         hello-x7k2p" in text
    assert "Kind:         Workflow" in text
    assert "Workflow Template Ref:" in text
    assert "Phase:       Running" in text


def test_kubectl_delete_removes_the_object(kubectl, seeded):
    result = kubectl("delete", "workflow", "hello-x7k2p", "-n", "argo")
    assert result.stdout.strip() == 'workflow.argoproj.io "hello-x7k2p" deleted'
    assert seeded.store.list(*WF, "workflows", "argo") == []
    missing = kubectl("get", "wf", "hello-x7k2p", "-n", "argo", ok=False)
    assert missing.returncode == 1
    assert 'workflows.argoproj.io "hello-x7k2p" not found' in missing.stderr


def test_kubectl_with_a_plain_http_url_in_the_kubeconfig(kubectl, seeded):
    result = kubectl("--context", "insecure", "get", "wf", "-n", "argo", "-o", "name")
    assert result.stdout.strip() == "workflow.argoproj.io/hello-x7k2p"


def test_kubectl_with_a_bad_token_is_refused(kube_server: KubeApiServer, tmp_path: Path):
    config = write_kubeconfig(tmp_path / "bad", {"dev": kube_server.kubeconfig_entry("wrong")})
    result = subprocess.run(
        [shutil.which("kubectl") or "/usr/bin/kubectl", "--kubeconfig", str(config), "get", "wf"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "You must be logged in to the server" in result.stderr


def test_the_written_kubeconfig_also_serves_the_python_client(seeded: KubeApiServer, tmp_path: Path):
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        {"dev": seeded.kubeconfig_entry("sandbox-admin"), "other": ("http://127.0.0.1:1", "x")},
        current="dev",
    )
    assert path.stat().st_mode & 0o777 == 0o600
    api = config.new_client_from_config(config_file=str(path), context="dev")
    try:
        assert api.configuration.host == seeded.https_url
        items = client.CustomObjectsApi(api).list_namespaced_custom_object(*WF, "argo", "workflows")["items"]
        assert [o["metadata"]["name"] for o in items] == ["hello-x7k2p"]
    finally:
        api.close()
