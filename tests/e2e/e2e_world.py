"""A running bot wired to the stand-ins, driven as people would drive it.

`sandbox` (one per test module) starts the whole sandbox world: Slack, two clusters (`dev`, `prod`)
with Argo controllers, S3. `world` seeds a small workspace (people, a group, channels), writes a
config file and a policy file the test may edit, and starts the real bot (`build_bot`: Socket
Mode over a WebSocket, the Web API over HTTP, the kubernetes client, boto3). Tests act through
`SlackDriver` and read what people would see.
"""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import Bot, build_bot
from bot.config import Settings, parse_settings
from bot.sandbox.slack import SlackDriver, SlackSandbox
from bot.sandbox.world import LOGS_KEY_FORMAT, SandboxWorld
from bot.store import db as store_db
from bot.store.repos import AuditRepo

ADMIN = "UADMIN01"
DEV = "UDEV0001"
OPS = "UOPS0001"
STRANGER = "USTRANGE1"
OPS_CHANNEL = "COPS0001"
PROD_CHANNEL = "CPROD001"
SRE_GROUP = "SSRE0001"
TOKEN_ENV = {"dev": "CHATOPS_E2E_DEV_TOKEN", "prod": "CHATOPS_E2E_PROD_TOKEN"}

BASE_POLICY = textwrap.dedent(
    """\
    # admins
    g, slack:UADMIN01, role:admin
    # developers may run anything on dev
    p, role:developer, workflows, run, dev/*, allow
    g, email:dev@example.com, role:developer
    # the sre group may read the audit log and run on prod
    p, role:sre, audit, get, *, allow
    p, role:sre, workflows, run, prod/*, allow
    g, group:sre, role:sre
    """
)


@dataclass
class World:
    slack: SlackSandbox
    driver: SlackDriver
    bot: Bot
    settings: Settings
    policy_file: Path
    audit: AuditRepo

    def command(self, user: str, text: str, *, channel: str = OPS_CHANNEL) -> dict[str, Any]:
        """Type `/ops text` and wait for the one ephemeral answer it produces."""
        before = len(self.driver.ephemerals(user=user))
        self.driver.send_command(user=user, channel=channel, command="/ops", text=text)
        answers = self.driver.wait_for(
            lambda: self.driver.ephemerals(user=user)[before:], timeout=15, message=f"an answer to {text!r}"
        )
        return dict(answers[0])


def message_text(message: dict[str, Any]) -> str:
    """Everything a person reads in a Slack message: its text, its blocks' text, fields and links."""
    parts = [str(message.get("text") or "")]
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for element in block.get("elements") or []:
            if isinstance(element, dict):
                inner = element.get("text")
                parts.append(str(inner.get("text", "")) if isinstance(inner, dict) else str(inner or ""))
                parts.append(str(element.get("url") or ""))
        for field in block.get("fields") or []:
            parts.append(str(field.get("text", "")))
    return "\n".join(parts)


def token_auth(world: SandboxWorld, cluster: str) -> dict[str, str]:
    """A cluster entry's `auth` for the sandbox `world`: its API server and a token from the environment."""
    return {"kind": "token", "server": world.clusters[cluster]["api_url"], "token_env": TOKEN_ENV[cluster]}


def write_config(tmp_path: Path, world: SandboxWorld, **overrides: Any) -> Path:
    """Write chatops.yaml for a bot talking to the sandbox `world`; `overrides` replace whole sections."""
    data: dict[str, Any] = {
        "slack": {
            "command": "/ops",
            "team_id": world.slack.team_id,
            "api_url": world.slack.api_url,
            "user_cache_ttl_seconds": 1,
        },
        "database": {"url": f"sqlite:///{tmp_path / 'chatops.db'}"},
        "clusters": [
            {"name": "dev", "auth": token_auth(world, "dev")},
            {"name": "prod", "auth": token_auth(world, "prod"), "channels": [PROD_CHANNEL]},
        ],
        "logs": {
            "bucket": world.logs_bucket,
            "region": "us-east-1",
            "key_format": LOGS_KEY_FORMAT,
            "endpoint_url": world.aws.endpoint_url,
        },
        "rbac": {"policy_file": "policy.csv"},
        "server": {"port": 0},
    }
    data.update(overrides)
    path = tmp_path / "chatops.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def seed_workspace(driver: SlackDriver) -> None:
    driver.add_user(ADMIN, name="alice", email="alice@example.com")
    driver.add_user(DEV, name="bob", email="dev@example.com")
    driver.add_user(OPS, name="carol", email="carol@example.com")
    driver.add_user(STRANGER, name="dave", email="dave@example.com")
    driver.add_channel(OPS_CHANNEL, name="ops")
    driver.add_channel(PROD_CHANNEL, name="prod-ops")
    driver.add_usergroup(SRE_GROUP, handle="sre", users=[OPS])


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxWorld]:
    """One sandbox world per test module: Slack, two clusters with Argo controllers, S3.

    Not per session: moto keeps its state per process, and other tests start worlds of their
    own, so two worlds must never be alive at once.
    """
    world = SandboxWorld(
        tmp_path_factory.mktemp("world"), clusters=("dev", "prod"), seed=True, time_scale=0.05
    )
    world.start()
    # what a pod gets from its secrets and IRSA: cluster tokens and AWS credentials
    variables = {variable: world.clusters[cluster]["token"] for cluster, variable in TOKEN_ENV.items()}
    variables["AWS_ACCESS_KEY_ID"] = world.aws.access_key_id
    variables["AWS_SECRET_ACCESS_KEY"] = world.aws.secret_access_key
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield world
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        world.stop()


@pytest.fixture
def slack(sandbox: SandboxWorld) -> SlackSandbox:
    return sandbox.slack


@contextlib.contextmanager
def running_bot(
    tmp_path: Path,
    sandbox: SandboxWorld,
    *,
    policy: str = BASE_POLICY,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Iterator[World]:
    """The real bot over `sandbox`, with `policy` and config sections replaced by `overrides`.

    `environ` adds variables to the bot's environment (as parsed into its settings), such as
    ARGOCD_AUTH_TOKEN.
    """
    slack = sandbox.slack
    driver = SlackDriver(slack.control_url)
    seed_workspace(driver)
    policy_file = tmp_path / "policy.csv"
    policy_file.write_text(policy, encoding="utf-8")
    config = write_config(tmp_path, sandbox, **overrides)
    env = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token, **(environ or {})}
    settings = parse_settings(yaml.safe_load(config.read_text()), source=str(config), environ=env)
    bot = build_bot(settings)
    bot.start()
    try:
        driver.wait_for(bot.is_connected, timeout=10, message="the bot's Socket Mode connection")
        database = store_db.connect(settings.database.url)
        yield World(
            slack=slack,
            driver=driver,
            bot=bot,
            settings=settings,
            policy_file=policy_file,
            audit=AuditRepo(database),
        )
        database.dispose()
    finally:
        bot.stop()


@pytest.fixture
def world(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[World]:
    with running_bot(tmp_path, sandbox) as started:
        yield started
