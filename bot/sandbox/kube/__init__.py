"""A Kubernetes API server stand-in with the Argo CRDs, for tests and the demo.

    from bot.sandbox.kube import KubeApiServer, write_kubeconfig
    with KubeApiServer(name="dev", tokens={"sandbox-admin": "admin"}) as srv:
        write_kubeconfig(path, {"dev": (srv.url, "sandbox-admin")}, current="dev")

See docs/sandbox-kubernetes.md for what it serves and the `/_sandbox/` control API.
"""

from __future__ import annotations

from bot.sandbox.kube.faults import Faults
from bot.sandbox.kube.kubeconfig import build_kubeconfig, write_kubeconfig
from bot.sandbox.kube.resources import PrinterColumn, Registry, ResourceType
from bot.sandbox.kube.server import KubeApiServer
from bot.sandbox.kube.status import ApiError, NotFound
from bot.sandbox.kube.store import Store

__all__ = [
    "ApiError",
    "Faults",
    "KubeApiServer",
    "NotFound",
    "PrinterColumn",
    "Registry",
    "ResourceType",
    "Store",
    "build_kubeconfig",
    "write_kubeconfig",
]
