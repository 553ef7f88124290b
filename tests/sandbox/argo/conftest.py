"""Fixtures for the Argo controller tests: a Kubernetes stand-in, moto, and the controllers.

Everything talks over real sockets on 127.0.0.1; the tests drive the controllers only
through the official `kubernetes` client, as the bot would.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from bot.sandbox.argo import ApplicationController, ArtifactRepository, WorkflowController
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.aws import AwsSandbox
from bot.sandbox.kube import KubeApiServer

TOKEN = "argo-test-admin"
TIME_SCALE = 0.01
KEY_FORMAT = (
    "{{workflow.namespace}}/{{workflow.creationTimestamp.Y}}/{{workflow.creationTimestamp.m}}"
    "/{{workflow.name}}/{{pod.name}}"
)


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsSandbox]:
    sandbox = AwsSandbox().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    before = set(threading.enumerate())
    server = KubeApiServer(name="argo-test", tokens={TOKEN: "admin"}).start()
    yield server
    server.stop()
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not leftover, f"threads left behind: {leftover}"


@pytest.fixture
def custom(kube: KubeApiServer) -> Iterator[client.CustomObjectsApi]:
    api_client = build_api_client(url=kube.url, token=TOKEN)
    yield client.CustomObjectsApi(api_client)
    api_client.close()


@pytest.fixture
def bucket(aws: AwsSandbox) -> str:
    return aws.create_bucket(f"argo-logs-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def artifacts(aws: AwsSandbox, bucket: str) -> ArtifactRepository:
    return ArtifactRepository(
        bucket=bucket,
        key_format=KEY_FORMAT,
        endpoint_url=aws.endpoint_url,
        access_key_id=aws.access_key_id,
        secret_access_key=aws.secret_access_key,
    )


@pytest.fixture
def workflows(kube: KubeApiServer, artifacts: ArtifactRepository) -> Iterator[WorkflowController]:
    controller = WorkflowController(api_url=kube.url, token=TOKEN, artifacts=artifacts, time_scale=TIME_SCALE)
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def apps(kube: KubeApiServer) -> Iterator[ApplicationController]:
    controller = ApplicationController(api_url=kube.url, token=TOKEN, time_scale=TIME_SCALE)
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def key_format() -> str:
    """The artifact repository keyFormat the `workflows` controller is configured with."""
    return KEY_FORMAT
