"""Write a kubeconfig file that `kubectl` and `kubernetes.config.load_kube_config` accept.

One cluster, one user and one context per entry, named after the cluster; plain `http`
servers need no TLS settings. Token values are written to the file only (never logged).
Callers: tests, the sandbox world and `chatops demo`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def build_kubeconfig(clusters: dict[str, tuple[str, str]], *, current: str | None = None) -> dict[str, Any]:
    """The kubeconfig document for `{name: (server_url, bearer_token)}`."""
    if not clusters:
        raise ValueError("at least one cluster is needed")
    current = current or next(iter(clusters))
    if current not in clusters:
        raise ValueError(f"current context {current!r} is not one of the clusters {sorted(clusters)}")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": current,
        "clusters": [{"name": name, "cluster": {"server": url}} for name, (url, _) in clusters.items()],
        "users": [{"name": f"{name}-user", "user": {"token": token}} for name, (_, token) in clusters.items()],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": f"{name}-user"}} for name in clusters
        ],
    }


def write_kubeconfig(
    path: str | os.PathLike[str], clusters: dict[str, tuple[str, str]], current: str | None = None
) -> Path:
    """Write the kubeconfig (mode 0600, it holds tokens) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(build_kubeconfig(clusters, current=current), sort_keys=False)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return target
