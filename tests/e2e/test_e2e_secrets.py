"""No credential in any output: `chatops run --log-level DEBUG` as its own process, driven through
Slack, leaves no secret in its stdout/stderr nor in anything it posted to Slack.

At DEBUG every library talks: botocore prints request headers and response bodies (AssumeRole
answers with a secret key and a session token), urllib3 and the kubernetes client print
requests, slack_sdk prints its calls. The bot reaches `dev` through EKS (AssumeRole into the
cluster's account with moto, then `k8s-aws-v1.` tokens), `prod` with a static bearer token, and
S3 for log tails and links. The scenario: a `run` on the EKS cluster that fails (its summary
reads the failed step's log from S3), `logs` of that step, and a refused command. Then every
captured line and every message, reply and ephemeral answer is searched for each secret the
bot held or was handed: Slack tokens, cluster tokens, AWS keys and session tokens (ours and
every one moto issued), EKS tokens the API server received, and the database password when
the database has one (PostgreSQL, when `CHATOPS_TEST_POSTGRES_URL` is set, as `.ci/run` does).

A presigned log link names its access key id in `X-Amz-Credential` by design (an identifier,
not a secret); the key id is looked for everywhere else.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_world import ADMIN, BASE_POLICY, OPS_CHANNEL, PROD_CHANNEL, STRANGER, seed_workspace, write_config
from sqlalchemy import make_url, text

from bot.sandbox.slack import SlackDriver
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld
from bot.store import db as store_db

POSTGRES_ENV = "CHATOPS_TEST_POSTGRES_URL"
PROD_TOKEN_ENV = "CHATOPS_E2E_SECRETS_PROD_TOKEN"
# What a leaked credential looks like even when its value is not known to the test.
SECRET_SHAPES = {
    "Slack token": re.compile(r"\bxox[a-z]-[0-9A-Za-z]{4,}|\bxapp-\d-[0-9A-Za-z]{4,}"),
    "EKS token": re.compile(r"k8s-aws-v1\.[A-Za-z0-9_-]{16,}"),
    "bearer token": re.compile(r"Bearer\s+(?!\*|\[)[A-Za-z0-9._~+/-]{12,}"),
    "AWS session token": re.compile(
        r"(?i)(?:X-Amz-Security-Token|SessionToken)['\"]?\s*[:=>]\s*b?['\"]?[A-Za-z0-9%+/]{16,}"
    ),
    "AWS secret key": re.compile(r"(?i)SecretAccessKey['\"]?\s*[:=>]\s*['\"]?[A-Za-z0-9+/]{16,}"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _text(message: dict[str, Any]) -> str:
    """Everything a person could read in a message, blocks and attachments included."""
    return repr(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated schema in the test PostgreSQL database (its URL holds a password)."""
    base = make_url(os.environ[POSTGRES_ENV])
    schema = f"secrets_{secrets.token_hex(4)}"
    url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    admin = store_db.connect(base)
    try:
        try:
            with admin.engine.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as exc:  # a configured server must work: fail loudly, never skip
            pytest.fail(f"cannot prepare PostgreSQL {store_db.mask_url(base)}: {exc}", pytrace=False)
        yield url
        with admin.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    finally:
        admin.dispose()


def _database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """The database URL for the backend under test and its password (None for SQLite)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chatops.db'}", None
    url = request.getfixturevalue("postgres_url")
    password = make_url(url).password
    assert isinstance(password, str) and password, "the PostgreSQL test URL must hold a password"
    return url, password


@pytest.fixture(params=["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_ENV) else []))
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    return _database(request, tmp_path)


class EksTokens:
    """Records every bearer token the `dev` API server is asked to check (the bot's EKS tokens)."""

    def __init__(self, sandbox: SandboxWorld) -> None:
        self.server = sandbox.kube["dev"]
        self.original: Callable[[str], str | None] | None = self.server._authenticate
        self.seen: set[str] = set()
        self.server._authenticate = self

    def __call__(self, token: str) -> str | None:
        self.seen.add(token)
        assert self.original is not None
        return self.original(token)

    def restore(self) -> None:
        self.server._authenticate = self.original


def _moto_credentials() -> list[tuple[str, str]]:
    """Every credential moto's STS issued in this process: (what, value)."""
    from moto.sts.models import sts_backends

    found: list[tuple[str, str]] = []
    for account_backends in list(sts_backends.values()):
        for backend in list(account_backends.values()):
            for role in list(getattr(backend, "assumed_roles", [])):
                found.append(("assumed-role access key id", str(role.access_key_id)))
                found.append(("assumed-role secret access key", str(role.secret_access_key)))
                found.append(("assumed-role session token", str(role.session_token)))
    return found


def _without_presign_credential(text_: str) -> str:
    """The text without the `X-Amz-Credential` of presigned links (it names the key id on purpose)."""
    return re.sub(r"X-Amz-Credential=[^&\s|>'\"]+", "X-Amz-Credential=(key id)", text_)


def _leaks(where: str, text_: str, known: list[tuple[str, str]], *, key_ids: set[str]) -> list[str]:
    found = []
    for what, value in known:
        haystack = _without_presign_credential(text_) if value in key_ids else text_
        if value and value in haystack:
            at = haystack.index(value)
            context = haystack[max(0, at - 80) : at + len(value) + 20].replace(value, "<<HERE>>")
            found.append(f"{where}: {what} in ...{context}...")
    for what, shape in SECRET_SHAPES.items():
        for match in shape.finditer(text_):
            found.append(f"{where}: something shaped like a {what}: {match.group(0)[:60]}...")
    return found


def _slack_outputs(driver: SlackDriver, users: list[str]) -> list[tuple[str, str]]:
    outputs: list[tuple[str, str]] = []
    for channel in (OPS_CHANNEL, PROD_CHANNEL):
        for message in driver.messages(channel):
            outputs.append((f"message in {channel}", _text(message)))
            for reply in driver.replies(channel, message["ts"])[1:]:
                outputs.append((f"thread reply in {channel}", _text(reply)))
    for user in users:
        for answer in driver.ephemerals(user=user):
            outputs.append((f"ephemeral to {user}", _text(answer)))
    for view in driver.views():
        outputs.append(("view", repr(view)))
    return outputs


def _submitted(answer: str) -> str:
    assert "Submitted `" in answer, answer
    return answer.split("Submitted `", 1)[1].split("`", 1)[0]


def test_no_credential_in_any_output(
    tmp_path: Path, sandbox: SandboxWorld, database: tuple[str, str | None]
) -> None:
    database_url, database_password = database
    driver = SlackDriver(sandbox.slack.control_url)
    seed_workspace(driver)
    (tmp_path / "policy.csv").write_text(BASE_POLICY)
    eks = sandbox.clusters["dev"]["eks"]
    port = _free_port()
    config = write_config(
        tmp_path,
        sandbox,
        server={"host": "127.0.0.1", "port": port},
        clusters=[
            {
                "name": "dev",
                "argocd_namespace": "argocd",
                "auth": {
                    "kind": "eks",
                    "cluster_name": eks["cluster_name"],
                    "region": eks["region"],
                    "role_arn": eks["role_arn"],
                    "endpoint_url": sandbox.aws.endpoint_url,
                },
            },
            {
                "name": "prod",
                "channels": [PROD_CHANNEL],
                "auth": {
                    "kind": "token",
                    "server": sandbox.clusters["prod"]["api_url"],
                    "token_env": PROD_TOKEN_ENV,
                },
            },
        ],
    )
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": sandbox.slack.bot_token,
        "SLACK_APP_TOKEN": sandbox.slack.app_token,
        "AWS_ACCESS_KEY_ID": sandbox.aws.access_key_id,
        "AWS_SECRET_ACCESS_KEY": sandbox.aws.secret_access_key,
        PROD_TOKEN_ENV: sandbox.clusters["prod"]["token"],
        "DATABASE_URL": database_url,
    }
    log = tmp_path / "chatops.log"
    tokens = EksTokens(sandbox)
    try:
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(config), "--log-level", "DEBUG"],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: _ready(port), timeout=60, message="chatops run to be ready")

            def command(user: str, words: str, channel: str = OPS_CHANNEL) -> str:
                before = len(driver.ephemerals(user=user))
                driver.send_command(user=user, channel=channel, command="/ops", text=words)
                answers = wait_until(
                    lambda: driver.ephemerals(user=user)[before:],
                    timeout=30,
                    message=f"an answer to {words!r}",
                )
                return _text(answers[0])

            # a run on the EKS cluster that fails: its summary carries the failed step's log from S3
            name = _submitted(command(ADMIN, "run db-migration --cluster dev"))

            def summary() -> str | None:
                for message in driver.messages(OPS_CHANNEL):
                    if name in _text(message):
                        thread = [_text(m) for m in driver.replies(OPS_CHANNEL, message["ts"])[1:]]
                        done = [t for t in thread if "violates foreign key constraint" in t]
                        if done:
                            return done[0]
                return None

            assert "X-Amz-Signature" in wait_until(summary, timeout=60, message=f"the summary of {name}")
            # logs reads S3 (a tail) and presigns links
            logs = command(ADMIN, f"logs {name} migrate --cluster dev")
            assert "Key (customer_id)=(4242)" in logs, logs
            # a refused command
            refused = command(STRANGER, "run hello --cluster dev")
            assert "workflows, run" in refused, refused
            # the cluster behind a static token answers too
            assert "hello" in command(ADMIN, "templates --cluster prod", channel=PROD_CHANNEL)
            assert tokens.seen, "the bot never presented an EKS token to the dev cluster"
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    finally:
        tokens.restore()

    output = log.read_text(errors="replace")
    assert " DEBUG botocore" in output and " DEBUG urllib3" in output, "DEBUG logging was not on"
    assert " DEBUG slack_sdk" in output, "slack_sdk's DEBUG lines are missing"
    known: list[tuple[str, str]] = [
        ("Slack bot token", sandbox.slack.bot_token),
        ("Slack app token", sandbox.slack.app_token),
        ("AWS access key id", sandbox.aws.access_key_id),
        ("AWS secret access key", sandbox.aws.secret_access_key),
        *((f"cluster token of {name}", info["token"]) for name, info in sandbox.clusters.items()),
        *(("EKS token", token) for token in tokens.seen),
        *_moto_credentials(),
    ]
    if database_password:
        known.append(("database password", database_password))
    assert any(what == "assumed-role session token" for what, _ in known), "no AssumeRole happened"
    key_ids = {value for what, value in known if "access key id" in what}
    leaks = [
        leak
        for number, line in enumerate(output.splitlines(), 1)
        for leak in _leaks(f"log line {number}", line, known, key_ids=key_ids)
    ]
    for where, shown in _slack_outputs(driver, [ADMIN, STRANGER]):
        leaks.extend(_leaks(where, shown, known, key_ids=key_ids))
    assert not leaks, f"{len(leaks)} leaks, the first ones:\n" + "\n".join(leaks[:25])
