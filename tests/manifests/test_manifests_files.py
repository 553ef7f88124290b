"""The files under manifests/: they parse, built-in kinds match the Kubernetes schemas, every
file a kustomization lists exists, and the Slack app and Argo examples say what the bot needs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
K8S_VERSION = "1.32"
# Files that are not Kubernetes objects (kustomize's own files and patches, our config, Slack's).
NOT_OBJECTS = {"kustomization.yaml", "config.yaml", "slack-app.yaml", "namespace.transformer.yaml"}

YAML_FILES = sorted(p for p in MANIFESTS.rglob("*") if p.suffix in (".yaml", ".yml"))
KUSTOMIZATIONS = sorted(MANIFESTS.rglob("kustomization.yaml"))


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(MANIFESTS)) for p in paths]


def _documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def validate_objects(objects: list[dict[str, Any]], *, where: str) -> None:
    """Check built-in kinds strictly against the schemas; custom resources only warn (offline)."""
    for obj in objects:
        label = f"{where}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            warnings.warn(f"{label}: no schema for {obj.get('apiVersion')} (custom resource)", stacklevel=2)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{label}: {path}: {exc.message}", pytrace=False)


def test_there_is_something_to_check() -> None:
    names = set(_ids(YAML_FILES))
    assert {"base/kustomization.yaml", "overlays/staging/kustomization.yaml", "slack-app.yaml"} <= names
    assert "overlays/production/kustomization.yaml" in names


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_every_yaml_file_parses(path: Path) -> None:
    assert _documents(path), f"{path} holds no YAML document"


def _is_patch(path: Path) -> bool:
    return path.stem.endswith("-patch")


OBJECT_FILES = [p for p in YAML_FILES if p.name not in NOT_OBJECTS and not _is_patch(p)]


@pytest.mark.parametrize("path", OBJECT_FILES, ids=_ids(OBJECT_FILES))
def test_kubernetes_objects_match_the_schemas(path: Path) -> None:
    objects = _documents(path)
    assert all("apiVersion" in o and "kind" in o for o in objects), (
        f"{path}: every document needs apiVersion/kind"
    )
    validate_objects(objects, where=str(path.relative_to(MANIFESTS)))


def _listed_files(kustomization: dict[str, Any]) -> list[str]:
    listed: list[str] = []
    for key in ("resources", "components", "transformers", "generators", "crds"):
        listed += [entry for entry in kustomization.get(key) or [] if isinstance(entry, str)]
    for patch in kustomization.get("patches") or []:
        if isinstance(patch, dict) and "path" in patch:
            listed.append(patch["path"])
    listed += kustomization.get("patchesStrategicMerge") or []
    for generator in (kustomization.get("configMapGenerator") or []) + (
        kustomization.get("secretGenerator") or []
    ):
        for entry in generator.get("files") or []:
            listed.append(entry.split("=", 1)[-1])
        listed += generator.get("envs") or []
    return listed


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_every_file_a_kustomization_lists_exists(path: Path) -> None:
    [kustomization] = _documents(path)
    listed = _listed_files(kustomization)
    assert listed, f"{path} lists nothing"
    missing = [entry for entry in listed if not (path.parent / entry).exists()]
    assert missing == [], f"{path.relative_to(MANIFESTS)} lists missing files: {missing}"


def test_slack_app_manifest_has_socket_mode_the_command_and_only_the_scopes_used() -> None:
    [app] = _documents(MANIFESTS / "slack-app.yaml")
    settings = app["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    assert [c["command"] for c in app["features"]["slash_commands"]] == ["/ops"]
    assert set(app["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "users:read",
        "users:read.email",
        "usergroups:read",
        "channels:read",
        "groups:read",
        "im:history",
        "app_mentions:read",
        "files:write",
    }


def test_workflow_controller_example_archives_logs_where_the_bot_looks() -> None:
    [configmap] = _documents(MANIFESTS / "examples" / "workflow-controller-configmap.yaml")
    repository = yaml.safe_load(configmap["data"]["artifactRepository"])
    restrictions = yaml.safe_load(configmap["data"]["workflowRestrictions"])
    assert repository["archiveLogs"] is True
    assert restrictions == {"templateReferencing": "Strict"}
    [base_config] = _documents(MANIFESTS / "base" / "config.yaml")
    assert repository["s3"]["keyFormat"] == base_config["logs"]["key_format"]
    assert repository["s3"]["bucket"] == base_config["logs"]["bucket"]


def test_example_template_declares_the_parameters_the_bot_checks() -> None:
    [template] = _documents(MANIFESTS / "examples" / "workflowtemplate.yaml")
    parameters = {p["name"]: p for p in template["spec"]["arguments"]["parameters"]}
    assert "value" not in parameters["date"], "date is the required parameter of the example"
    assert parameters["mode"]["enum"] == ["incremental", "full"]
