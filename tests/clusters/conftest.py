"""Fixtures for the cluster registry tests: one sandbox world per module, and settings pointing at it."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from clusters_world import reset_aws

from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxWorld]:
    before = set(threading.enumerate())
    sandbox = SandboxWorld(
        tmp_path_factory.mktemp("world"), clusters=("dev", "prod"), time_scale=0.01, seed=True
    ).start()
    yield sandbox
    reset_aws(sandbox)
    sandbox.stop()
    wait_until(
        lambda: not [t for t in set(threading.enumerate()) - before if t.is_alive()],
        timeout=10,
        message=lambda: f"no threads left behind, still: {set(threading.enumerate()) - before}",
    )


@pytest.fixture(scope="module")
def info(world: SandboxWorld) -> dict[str, Any]:
    return world.describe()


@pytest.fixture(scope="module")
def aws_session(world: SandboxWorld) -> Callable[[], boto3.Session]:
    """The bot's base AWS identity: the sandbox account, as IRSA would give it in a pod."""
    return lambda: world.aws.session()


@pytest.fixture(scope="module")
def prod_ca_file(info: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "prod-ca.pem"
    path.write_bytes(base64.b64decode(info["clusters"]["prod"]["ca_data"]))
    return path
