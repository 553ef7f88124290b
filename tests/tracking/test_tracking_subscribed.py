"""Which subscribed channels get a thread for a sync started outside the bot, and under which run.

`SubscribedSyncs` over the real store (SQLite) and the real policy: the run id is the same on
every call (a restart or a new leader continues the thread), one run per channel, an old
finished operation is history (a re-list posts nothing), the creator's `get` is checked on
the precise app, and the bot's own syncs are left to their marker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.model import Actor
from bot.rbac.enforcer import Enforcer
from bot.rbac.policy import parse_policy
from bot.records import Subscription
from bot.store import db as store_db
from bot.store.repos import RunRepo
from bot.subscribing import followed_run_id
from bot.tracking.subscribed import (
    SubscribedSyncs,
    SubscribedWorkflows,
    initiator_label,
    is_subscribed_run,
    outcome_trigger,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICY = "p, slack:UDEV, applications, get, dev/*, allow\np, slack:UOPS, applications, get, *, allow\n"


def _sub(
    sub_id: str, channel: str, owner: str, *, triggers: tuple[str, ...] = ("sync-failed",)
) -> Subscription:
    return Subscription(
        id=sub_id,
        channel_id=channel,
        kind="apps",
        name="shop-*",
        triggers=triggers,
        created_by=owner,
        created_at=NOW - timedelta(days=1),
    )


class Book:
    def __init__(self, *subscriptions: Subscription) -> None:
        self.subscriptions = list(subscriptions)

    def all(self) -> list[Subscription]:
        return list(self.subscriptions)


class People:
    def actor(self, user_id: str) -> Actor:
        return Actor(user_id=user_id, name=user_id.lower())

    def user_id_by_email(self, email: str) -> str | None:
        return {"erin@example.com": "UERIN"}.get(email)


class Audience:
    """The creator's `get` by the policy (the real one also admits the person and binds channels)."""

    def __init__(self) -> None:
        self.enforcer = Enforcer(parse_policy(POLICY, source="test"))

    def may_see(
        self, subscription: Subscription, *, resource: str, obj: str, cluster: str | None, what: str
    ) -> bool:
        subjects = People().actor(subscription.created_by).subjects
        return self.enforcer.can(subjects, resource=resource, action="get", obj=obj)


def _app(
    name: str, destination: str, *, phase: str, finished: datetime | None, operation: bool = False
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "phase": phase,
        "startedAt": "2026-03-01T08:58:00Z",
        "operation": {"sync": {"revision": "v2"}, "initiatedBy": {"username": "erin@example.com"}},
        "syncResult": {"revision": "abc123"},
    }
    if finished is not None:
        state["finishedAt"] = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    app: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": "shop", "destination": {"name": destination, "namespace": "shop"}},
        "status": {"operationState": state},
    }
    if operation:
        app["operation"] = dict(state["operation"])
    return app


@pytest.fixture
def runs(tmp_path: Path) -> RunRepo:
    database = store_db.connect(f"sqlite:///{tmp_path / 'runs.db'}")
    store_db.upgrade_database(database)
    return RunRepo(database)


def _syncs(runs: RunRepo, *subscriptions: Subscription) -> SubscribedSyncs:
    return SubscribedSyncs(
        subscriptions=Book(*subscriptions),
        runs=runs,
        people=People(),
        audience=Audience(),
        destinations=lambda host: {"dev": "dev", "prod": "prod"},
        clock=lambda: NOW,
    )


def test_a_failed_outside_sync_gets_one_run_per_channel_found_again_after_a_restart(runs: RunRepo) -> None:
    subscriptions = (_sub("a", "C1", "UDEV"), _sub("b", "C1", "UOPS"), _sub("c", "C2", "UOPS"))
    app = _app("shop-dev", "dev", phase="Failed", finished=NOW - timedelta(minutes=1))

    first = _syncs(runs, *subscriptions).runs_for("dev", app)
    again = _syncs(runs, *subscriptions).runs_for("dev", app)  # a new leader's first list

    assert first == again
    assert first == [
        followed_run_id("C1", "dev", "argocd", "shop-dev", "2026-03-01T08:58:00Z"),
        followed_run_id("C2", "dev", "argocd", "shop-dev", "2026-03-01T08:58:00Z"),
    ]
    run = runs.get(first[0])
    assert run is not None and is_subscribed_run(run)
    assert (run.channel_id, run.requester_id, run.template, run.revision) == (
        "C1",
        "UERIN",
        "shop-dev",
        "abc123",
    )
    assert run.parameters["initiated_by"] == "erin@example.com"


def test_nothing_for_a_creator_who_may_not_get_the_app_nor_for_history_nor_unwanted_outcomes(
    runs: RunRepo,
) -> None:
    dev_only = _syncs(runs, _sub("a", "C1", "UDEV"))
    assert dev_only.runs_for("dev", _app("shop-prod", "prod", phase="Failed", finished=NOW)) == []
    old = _app("shop-dev", "dev", phase="Failed", finished=NOW - timedelta(hours=2))
    assert dev_only.runs_for("dev", old) == []  # a re-list of an old operation posts nothing
    assert dev_only.runs_for("dev", _app("shop-dev", "dev", phase="Succeeded", finished=NOW)) == []
    # running: only a subscription with sync-started begins a thread before the outcome
    running = _app("shop-dev", "dev", phase="Running", finished=None, operation=True)
    assert dev_only.runs_for("dev", running) == []
    started = _syncs(runs, _sub("s", "C1", "UDEV", triggers=("sync-started", "sync-failed")))
    assert len(started.runs_for("dev", running)) == 1
    # the bot's own sync carries its marker: left to it
    own = _app("shop-dev", "dev", phase="Failed", finished=NOW)
    own["status"]["operationState"]["operation"]["info"] = [{"name": "chatops-run", "value": "r1"}]
    assert started.runs_for("dev", own) == []


def test_who_started_it_and_what_outcome_a_phase_is() -> None:
    assert (
        initiator_label({"initiatedBy": {"automated": True}}, "0123456789abcdef")
        == "automated (revision 0123456789ab)"
    )
    assert initiator_label({"initiatedBy": {"username": "erin@example.com"}}, "v1") == "erin@example.com"
    assert (outcome_trigger("Succeeded"), outcome_trigger("Error"), outcome_trigger("Running")) == (
        "sync-succeeded", "sync-failed", None,
    )  # fmt: skip


def _workflow(
    template: str, *, phase: str, finished: datetime | None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if finished is not None:
        status["finishedAt"] = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {
            "name": f"{template}-x7k2p",
            "namespace": "argo",
            "uid": f"uid-{template}-{phase}",
            "labels": labels or {},
        },
        "spec": {"workflowTemplateRef": {"name": template}},
        "status": status,
    }


def test_a_failed_outside_workflow_is_followed_only_where_its_creator_may_get_it(runs: RunRepo) -> None:
    nightly = Subscription(
        id="w",
        channel_id="C1",
        kind="workflows",
        name="nightly-*",
        triggers=("failed",),
        created_by="UDEV",
        created_at=NOW - timedelta(days=1),
    )
    audience = Audience()
    audience.enforcer = Enforcer(parse_policy("p, slack:UDEV, workflows, get, dev/*, allow\n", source="test"))
    syncs = SubscribedWorkflows(subscriptions=Book(nightly), runs=runs, audience=audience, clock=lambda: NOW)
    failed = _workflow(
        "nightly-etl", phase="Failed", finished=NOW, labels={"workflows.argoproj.io/cron-workflow": "etl"}
    )

    assert syncs.runs_for("prod", failed) == []  # the creator may not get prod Workflows
    found = syncs.runs_for("dev", failed)
    assert found == syncs.runs_for("dev", failed) and len(found) == 1
    run = runs.get(found[0])
    assert run is not None
    assert (run.name, run.template, run.parameters["workflow"], run.parameters["initiated_by"]) == (
        None, "nightly-etl", "nightly-etl-x7k2p", "CronWorkflow etl",
    )  # fmt: skip
    assert syncs.runs_for("dev", _workflow("nightly-etl", phase="Succeeded", finished=NOW)) == []
    assert syncs.runs_for("dev", _workflow("other", phase="Failed", finished=NOW)) == []
    own = _workflow("nightly-etl", phase="Failed", finished=NOW, labels={"argo-chatops/run-id": "r1"})
    assert syncs.runs_for("dev", own) == []
