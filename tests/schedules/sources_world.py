"""Fixtures for `BotReportSources`: a Kubernetes stand-in with Argo's two controllers, moto for
the log archive, the bot's own `ClusterRegistry` and `LogArchive`, and the real run and approval
repositories on the migrated SQLite file of `tests/schedules/conftest.py`.

Two configured clusters share one API server: `dev` runs Argo CD (namespace `argocd`) and
Argo Workflows; `prod` runs only workflows, so its applications are those of dev's Argo CD
whose destination is `prod`. Imported by name from `test_schedules_sources.py`; everything
started here is stopped in teardown and no thread may outlive a test.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from bot import records
from bot.clusters.registry import ClusterRegistry
from bot.config import ClusterSettings, LogsSettings
from bot.logs.archive import LogArchive
from bot.sandbox.argo import ApplicationController, ArtifactRepository, WorkflowController
from bot.sandbox.argo.samples import seed_templates
from bot.sandbox.aws import AwsSandbox
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until
from bot.schedules.sources import BotReportSources
from bot.store import db
from bot.store.repos import ApprovalRepo, RunRepo

TOKEN = "schedules-sources-bot"
TOKEN_ENV = "SCHEDULES_SOURCES_TOKEN"
TIME_SCALE = 0.01


class RecordingTracker:
    """A follower that remembers the runs it was asked to follow."""

    def __init__(self) -> None:
        self.started: list[records.Run] = []

    def follow(self, run: records.Run) -> records.Run:
        self.started.append(run)
        return run


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsSandbox]:
    sandbox = AwsSandbox().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def no_thread_left_behind(aws: AwsSandbox) -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    wait_until(
        lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
        timeout=5,
        message=lambda: f"threads to end: {[t.name for t in threading.enumerate() if t not in before]}",
    )


@pytest.fixture
def bucket(aws: AwsSandbox) -> str:
    return aws.create_bucket(f"schedules-logs-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def kube(no_thread_left_behind: None) -> Iterator[KubeApiServer]:
    server = KubeApiServer(name="schedules-sources", tokens={TOKEN: "chatops-bot"}).start()
    try:
        seed_templates(url=server.url, token=TOKEN, namespace="argo")
        yield server
    finally:
        server.stop()


@pytest.fixture
def workflow_controller(kube: KubeApiServer, aws: AwsSandbox, bucket: str) -> Iterator[WorkflowController]:
    artifacts = ArtifactRepository(
        bucket=bucket,
        endpoint_url=aws.endpoint_url,
        access_key_id=aws.access_key_id,
        secret_access_key=aws.secret_access_key,
    )
    controller = WorkflowController(api_url=kube.url, token=TOKEN, artifacts=artifacts, time_scale=TIME_SCALE)
    controller.start()
    assert controller.wait_synced(10)
    yield controller
    controller.stop()


@pytest.fixture
def app_controller(kube: KubeApiServer) -> Iterator[ApplicationController]:
    controller = ApplicationController(api_url=kube.url, token=TOKEN, time_scale=TIME_SCALE).start()
    assert controller.wait_synced(10)
    yield controller
    controller.stop()


@pytest.fixture
def registry(kube: KubeApiServer) -> Iterator[ClusterRegistry]:
    auth = {"kind": "token", "server": kube.url, "token_env": TOKEN_ENV}
    clusters = ClusterRegistry(
        [
            ClusterSettings.model_validate({"name": "dev", "auth": auth, "argocd_namespace": "argocd"}),
            ClusterSettings.model_validate({"name": "prod", "auth": auth}),
        ],
        environ={TOKEN_ENV: TOKEN},
    )
    yield clusters
    clusters.close()


@pytest.fixture
def archive(aws: AwsSandbox, bucket: str) -> LogArchive:
    settings = LogsSettings(bucket=bucket, endpoint_url=aws.endpoint_url)
    return LogArchive(settings, session_factory=aws.session)


@pytest.fixture
def run_repo(database: db.Database) -> RunRepo:
    return RunRepo(database)


@pytest.fixture
def approval_repo(database: db.Database) -> ApprovalRepo:
    return ApprovalRepo(database)


@pytest.fixture
def tracker() -> RecordingTracker:
    return RecordingTracker()


@pytest.fixture
def bot_sources(
    registry: ClusterRegistry,
    run_repo: RunRepo,
    approval_repo: ApprovalRepo,
    tracker: RecordingTracker,
    archive: LogArchive,
) -> BotReportSources:
    return BotReportSources(
        runs=run_repo,
        approvals=approval_repo,
        clusters=registry,
        cluster_specs=list(registry),
        links=archive,
    )
