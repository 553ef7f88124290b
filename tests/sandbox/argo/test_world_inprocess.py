"""`SandboxWorld` in this process: what `describe()` promises holds, and `stop()` leaves no thread."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld


def test_world_describes_reachable_clusters_and_stops_without_leftover_threads(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    world = SandboxWorld(tmp_path / "state", clusters=("staging",), time_scale=0.01).start()
    try:
        description = world.describe()
        staging = description["clusters"]["staging"]
        eks_client = world.aws.client(
            "eks",
            region=staging["eks"]["region"],
            credentials=world.aws.assume_role(staging["eks"]["role_arn"]),
        )
        cluster = eks_client.describe_cluster(name="staging")["cluster"]
        assert cluster["endpoint"] == staging["https_url"]
        assert cluster["certificateAuthority"]["data"] == staging["ca_data"]
        assert staging["https_url"] in (tmp_path / "state" / "kubeconfig").read_text()
        assert (tmp_path / "state" / "world.json").exists()
        assert description["logs"]["key_format"].endswith("{{workflow.name}}/{{pod.name}}")
        assert description["argocd"] == {"cluster": "staging", "namespace": "argocd"}
    finally:
        world.stop()

    wait_until(
        lambda: not [t for t in set(threading.enumerate()) - before if t.is_alive()],
        timeout=10,
        message=lambda: f"no threads left, still: {set(threading.enumerate()) - before}",
    )
