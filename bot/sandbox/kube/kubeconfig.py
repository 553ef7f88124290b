"""Write a kubeconfig file that `kubectl` and `kubernetes.config.load_kube_config` accept.

One cluster, one user and one context per entry, named after the cluster. kubectl sends a
kubeconfig token only over TLS (client-go drops credentials for `http://` servers), and the
stand-in answers TLS on the same port as plain HTTP, so an `http://` URL is written as
`https://` on the same host and port: with the CA when one is given (`srv.kubeconfig_entry`),
else with `insecure-skip-tls-verify`. Token values go to the file only (never logged).
Callers: tests, the sandbox world and `chatops demo`.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

ClusterEntry = tuple[str, str] | tuple[str, str, str]


def build_kubeconfig(clusters: dict[str, ClusterEntry], *, current: str | None = None) -> dict[str, Any]:
    """The kubeconfig document for `{name: (server_url, bearer_token[, ca_pem])}`."""
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
        "clusters": [{"name": name, "cluster": _cluster(entry)} for name, entry in clusters.items()],
        "users": [{"name": f"{name}-user", "user": {"token": entry[1]}} for name, entry in clusters.items()],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": f"{name}-user"}} for name in clusters
        ],
    }


def _cluster(entry: ClusterEntry) -> dict[str, Any]:
    url = entry[0]
    if url.startswith("http://"):
        url = "https://" + url[len("http://") :]
    cluster: dict[str, Any] = {"server": url}
    ca_pem = entry[2] if len(entry) > 2 else None
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    else:
        cluster["insecure-skip-tls-verify"] = True
    return cluster


def write_kubeconfig(
    path: str | os.PathLike[str], clusters: dict[str, ClusterEntry], current: str | None = None
) -> Path:
    """Write the kubeconfig (mode 0600, it holds tokens) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(build_kubeconfig(clusters, current=current), sort_keys=False)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return target
