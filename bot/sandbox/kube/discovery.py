"""Discovery documents (`/version`, `/api`, `/apis`, per-group `APIResourceList`) from the registry.

Legacy (non-aggregated) discovery only: `kubectl` asks for aggregated discovery first, gets a
plain `application/json` answer and falls back, as it does against older clusters. OpenAPI
is not served (404), which `get`, `describe` and `delete` do not need. Callers: `server`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.sandbox.kube.resources import STATUS_VERBS, Registry, ResourceType

KUBERNETES_VERSION: dict[str, str] = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def version_info() -> dict[str, str]:
    """The `/version` answer."""
    return dict(KUBERNETES_VERSION)


def core_versions(server_address: str) -> dict[str, Any]:
    """The `/api` answer (APIVersions)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def group_list(registry: Registry) -> dict[str, Any]:
    """The `/apis` answer (APIGroupList)."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, versions) for name, versions in registry.groups().items()],
    }


def group(registry: Registry, name: str) -> dict[str, Any] | None:
    """The `/apis/{group}` answer (APIGroup), or None when the group is not served."""
    versions = registry.groups().get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(registry: Registry, group_name: str, version: str) -> dict[str, Any] | None:
    """The `/api/v1` or `/apis/{group}/{version}` answer (APIResourceList), or None when not served."""
    types = registry.in_group_version(group_name, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rtype in types:
        resources.append(_resource(rtype))
        if rtype.has_status:
            resources.append(
                {
                    "name": f"{rtype.plural}/status",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": list(STATUS_VERBS),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group_name}/{version}" if group_name else version,
        "resources": resources,
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def _resource(rtype: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rtype.plural,
        "singularName": rtype.singular,
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(rtype.verbs),
        "storageVersionHash": hashlib.sha256(
            f"{rtype.group}/{rtype.version}/{rtype.plural}".encode()
        ).hexdigest()[:11],
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    return entry
