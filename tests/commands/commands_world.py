"""The use-case tier: every verb through the action pipeline, with the real store, policy and stand-ins.

The bot is the real one (`build_bot` over the sandbox world of the end-to-end tests: Slack,
two clusters with Argo controllers, S3), started so its follower and outbox run; a test hands
an action straight to the pipeline (`Tier.do`, as the command worker would after the ack) and
reads the answer, the audit row, the run rows and the clusters. A new verb's tests belong here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_world import BASE_POLICY, OPS_CHANNEL, PROD_CHANNEL, World, running_bot, token_auth

from bot import records
from bot.actions import pipeline
from bot.actions.context import Deps
from bot.model import Origin, Reply, Surface
from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld
from bot.store.repos import RunRepo

GROUP, VERSION = "argoproj.io", "v1alpha1"


@dataclass
class Tier:
    world: World
    sandbox: SandboxWorld
    deps: Deps
    runs: RunRepo

    def do(self, user: str, text: str, *, channel: str = OPS_CHANNEL, deps: Deps | None = None) -> Reply:
        """`text` typed by `user` in `channel`, carried out by the pipeline; the answer they get."""
        deps = deps or self.deps
        assert deps.directory is not None
        origin = Origin(surface=Surface.SLASH, channel_id=channel, user_id=user, text=text, team_id=self.team)
        return pipeline.handle_text(
            origin=origin, actor=deps.directory.actor(user), deps=deps, reference="ref00001"
        )

    def click(self, user: str, action_id: str, value: str, *, channel: str = OPS_CHANNEL) -> Reply:
        assert self.deps.directory is not None
        origin = Origin(
            surface=Surface.BUTTON,
            channel_id=channel,
            user_id=user,
            text="",
            action_id=action_id,
            action_value=value,
            team_id=self.team,
        )
        return pipeline.handle_button(
            origin=origin, actor=self.deps.directory.actor(user), deps=self.deps, reference="ref00002"
        )

    @property
    def team(self) -> str | None:
        """The workspace the bot is installed in: where the test's requests come from."""
        return self.deps.workspace.team_id if self.deps.workspace else None

    def last_audit(self, user: str) -> records.AuditEvent:
        return self.world.audit.recent(actor_id=user, limit=1)[0]

    def app(self, name: str) -> dict[str, Any]:
        """An Argo CD Application as the `dev` cluster (where Argo CD runs) holds it."""
        items = self.sandbox.kube["dev"].store.list(GROUP, VERSION, "applications", ARGOCD_NAMESPACE)
        return next(item for item in items if item["metadata"]["name"] == name)

    def workflows(self, cluster: str = "dev") -> list[dict[str, Any]]:
        """The Workflows the cluster holds (read from the stand-in's store)."""
        return list(self.sandbox.kube[cluster].store.list(GROUP, VERSION, "workflows", "argo"))

    def wait(self, condition: Callable[[], Any], *, message: str, timeout: float = 60) -> Any:
        return self.world.driver.wait_for(condition, timeout=timeout, message=message)


@pytest.fixture
def tier(world: World, sandbox: SandboxWorld) -> Tier:
    return Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


#: Developers read and sync the dev apps; the sre group may approve and do anything on prod apps.
ARGO_POLICY = BASE_POLICY + (
    "p, role:developer, applications, get, dev/*, allow\n"
    "p, role:developer, applications, sync, dev/*, allow\n"
    "p, role:developer, applications, rollback, dev/*, allow\n"
    "p, role:sre, applications, *, */*, allow\n"
    "p, role:sre, approvals, approve, */*/*, allow\n"
)


def argo_clusters(sandbox: SandboxWorld, **dev: Any) -> list[dict[str, Any]]:
    """`dev` with Argo CD (and `dev`'s extra settings), `prod` bound to the prod channel."""
    return [
        {"name": "dev", "auth": token_auth(sandbox, "dev"), "argocd_namespace": ARGOCD_NAMESPACE, **dev},
        {"name": "prod", "auth": token_auth(sandbox, "prod"), "channels": [PROD_CHANNEL]},
    ]


@contextlib.contextmanager
def argo_world(
    tmp_path: Path, sandbox: SandboxWorld, *, policy: str = ARGO_POLICY, **overrides: Any
) -> Iterator[Tier]:
    """The tier over `argo_clusters` with `policy` and other config sections replaced."""
    overrides.setdefault("clusters", argo_clusters(sandbox))
    with running_bot(tmp_path, sandbox, policy=policy, **overrides) as world:
        yield Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


@pytest.fixture
def argo_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    """The tier with Argo CD on `dev` (apps `shop-<cluster>`, `billing-<cluster>`) and rollbacks."""
    with argo_world(tmp_path, sandbox) as tier:
        yield tier
