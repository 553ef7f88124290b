"""What an Argo CD Application "deploys" in the sandbox, since the sandbox cannot clone git.

The desired resources of application `<app>` are read, at each sync, from the ConfigMap
`sandbox-app-<app>` in the Application's namespace (usually `argocd`):

```yaml
data:
  resources.yaml: |        # a YAML list of manifests; only these fields are read
    - apiVersion: batch/v1
      kind: Job
      metadata:
        name: db-migrate
        annotations:
          argocd.argoproj.io/hook: PreSync      # PreSync | Sync | PostSync (absent: not a hook)
          argocd.argoproj.io/sync-wave: "-1"    # default 0, may be negative
      sandbox:                                   # sandbox-only outcome script
        health: Healthy                          # final health: Healthy | Progressing | Degraded
        progressingSeconds: 5                    # scripted seconds spent Progressing first
        syncError: "admission webhook denied"   # applying it fails with this message
        revisionError: "image not found"         # the message when a failing revision reaches it
  failRevisions: "bad-*, 0123abc"              # globs: a sync to a matching revision fails
```

A sync to a failing revision fails at the first resource it reaches that has a
`revisionError` (with that message), or at the very first resource when none has one
("revision is scripted to fail"). The Application annotation
`sandbox.argoproj.io/fail-revisions` (same glob list) works too.
Without a ConfigMap an app deploys a Deployment and a Service named after it, both
healthy. The bot never reads any of this. Pure (parsing and rendering); used by
`applications` and by `ApplicationController.script_app`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import yaml

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
HOOK_ANNOTATION = "argocd.argoproj.io/hook"
FAIL_REVISIONS_ANNOTATION = "sandbox.argoproj.io/fail-revisions"
CONFIGMAP_PREFIX = "sandbox-app-"
HOOK_TYPES = ("PreSync", "Sync", "PostSync")


@dataclass(frozen=True)
class AppResource:
    """One desired resource of an app and its scripted outcome."""

    kind: str
    name: str
    api_version: str = "v1"
    namespace: str | None = None
    wave: int = 0
    hook: str | None = None
    health: str = "Healthy"
    progressing_seconds: float = 0.0
    sync_error: str | None = None
    #: Why applying it fails when the sync's revision is scripted to fail (see `AppScript.fails`).
    revision_error: str | None = None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def to_manifest(self) -> dict[str, Any]:
        annotations = {WAVE_ANNOTATION: str(self.wave)}
        if self.hook:
            annotations[HOOK_ANNOTATION] = self.hook
        metadata: dict[str, Any] = {"name": self.name, "annotations": annotations}
        if self.namespace:
            metadata["namespace"] = self.namespace
        sandbox: dict[str, Any] = {"health": self.health}
        if self.progressing_seconds:
            sandbox["progressingSeconds"] = self.progressing_seconds
        if self.sync_error:
            sandbox["syncError"] = self.sync_error
        if self.revision_error:
            sandbox["revisionError"] = self.revision_error
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": metadata, "sandbox": sandbox}

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> AppResource:
        metadata = manifest.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        sandbox = manifest.get("sandbox") or {}
        hook = annotations.get(HOOK_ANNOTATION)
        return cls(
            kind=str(manifest.get("kind", "ConfigMap")),
            name=str(metadata.get("name", "unnamed")),
            api_version=str(manifest.get("apiVersion", "v1")),
            namespace=metadata.get("namespace"),
            wave=int(str(annotations.get(WAVE_ANNOTATION, "0")).strip() or 0),
            hook=str(hook).split(",")[0].strip() if hook else None,
            health=str(sandbox.get("health", "Healthy")),
            progressing_seconds=float(sandbox.get("progressingSeconds", 0) or 0),
            sync_error=sandbox.get("syncError"),
            revision_error=sandbox.get("revisionError"),
        )


@dataclass(frozen=True)
class AppScript:
    """Desired resources plus the revisions whose sync fails."""

    resources: tuple[AppResource, ...]
    fail_revisions: tuple[str, ...] = field(default=())

    def fails(self, *revisions: str) -> bool:
        return any(fnmatch.fnmatchcase(rev, glob) for rev in revisions if rev for glob in self.fail_revisions)


def default_resources(app_name: str) -> tuple[AppResource, ...]:
    return (
        AppResource(kind="Deployment", name=app_name, api_version="apps/v1"),
        AppResource(kind="Service", name=app_name, api_version="v1"),
    )


def configmap_name(app_name: str) -> str:
    return f"{CONFIGMAP_PREFIX}{app_name}"


def to_configmap_data(
    resources: list[AppResource] | tuple[AppResource, ...], fail_revisions: tuple[str, ...]
) -> dict[str, str]:
    data = {"resources.yaml": yaml.safe_dump([r.to_manifest() for r in resources], sort_keys=False)}
    if fail_revisions:
        data["failRevisions"] = ", ".join(fail_revisions)
    return data


def from_sources(*, app: dict[str, Any], configmap_data: dict[str, str] | None) -> AppScript:
    """Combine the ConfigMap (if any) and the Application's annotation into a script."""
    name = app.get("metadata", {}).get("name", "app")
    resources = default_resources(name)
    globs: list[str] = []
    if configmap_data:
        listed = yaml.safe_load(configmap_data.get("resources.yaml") or "[]") or []
        if isinstance(listed, list):
            resources = tuple(AppResource.from_manifest(m) for m in listed if isinstance(m, dict))
        globs += _split(configmap_data.get("failRevisions", ""))
    annotations = app.get("metadata", {}).get("annotations") or {}
    globs += _split(annotations.get(FAIL_REVISIONS_ANNOTATION, ""))
    return AppScript(resources=resources, fail_revisions=tuple(globs))


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
