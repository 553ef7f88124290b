"""`chatops check`: validate the configuration and policy, and say what the bot would use.

Prints a short summary (clusters with their auth and channel bindings, the Slack command,
the database with its password masked, the logs bucket, where the policy comes from and how
many lines each source has, schedules), or raises `ConfigError` with every problem found,
which `bot.cli.main` prints with exit code 2. Never prints a token. With `--connect` it also
checks that the database answers and its schema is current; reaching Slack, the clusters and
S3 is left to the modules that own those clients and is reported as not checked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.cli import EXIT_FAILURE, EXIT_OK, SubParsers, add_config_option, config_path, settings_from_args
from bot.errors import StorageError

if TYPE_CHECKING:
    from bot.config import ClusterSettings, Settings

TOKEN_PREFIXES = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate the configuration and policy and print a summary",
        description="Validate the configuration file and the RBAC policy; print what the bot would use.",
    )
    add_config_option(parser)
    parser.add_argument(
        "--connect",
        action="store_true",
        help="also check that the database answers and its schema is current",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    import os

    settings = settings_from_args(args)
    policy_lines = _policy_summary(settings)
    print(f"{config_path(args)}: configuration is valid")
    for line in summarize(settings, environ=os.environ, policy=policy_lines):
        print(f"  {line}")
    if not args.connect:
        return EXIT_OK
    return _connect(settings)


def _policy_summary(settings: Settings) -> str:
    """Load the policy as the bot would; raises ConfigError naming each bad line."""
    from bot.rbac.source import PolicySource

    source = PolicySource.from_settings(settings)
    parts = ", ".join(
        f"{part.source}: {part.lines} line{'s' if part.lines != 1 else ''}"
        for part in source.parts
        if part.lines
    )
    default = settings.rbac.default_role or "none"
    return f"{parts}; default role {default}"


def describe_auth(cluster: ClusterSettings) -> str:
    auth = cluster.auth
    if auth.kind == "eks":
        via = f" as {auth.role_arn}" if auth.role_arn else " with the pod's own IAM role"
        return f"EKS cluster {auth.cluster_name} in {auth.region}{via}"
    if auth.kind == "kubeconfig":
        context = f"context {auth.context}" if auth.context else "current context"
        return f"kubeconfig {auth.path or '(default)'}, {context}"
    if auth.kind == "token":
        return f"API server {auth.server}, token from ${auth.token_env}"
    return "in-cluster service account"


def summarize(settings: Settings, *, environ: Mapping[str, str], policy: str) -> list[str]:
    """The lines `check` prints under the header (also used by the tests)."""
    from bot.store.db import mask_url

    slack = settings.slack
    tokens = ", ".join(_token_state(name, environ) for name in TOKEN_PREFIXES)
    lines = [
        f"slack: command {slack.command}, team {slack.team_id or 'not pinned'}, "
        f"approvals in {slack.approvals_channel or 'the requesting channel'}; {tokens}",
        f"database: {mask_url(settings.database.url)}",
        f"clusters: {len(settings.clusters) or 'none configured'}",
    ]
    for cluster in settings.clusters:
        argocd = f"Argo CD in {cluster.argocd_namespace}" if cluster.argocd_namespace else "no Argo CD"
        channels = f"only from {', '.join(cluster.channels)}" if cluster.channels else "from any channel"
        lines.append(
            f"  {cluster.name}: {describe_auth(cluster)}; workflows in {cluster.workflows_namespace}; "
            f"{argocd}; commands {channels}"
        )
    logs = settings.logs
    if logs is None:
        lines.append("logs: not configured (no links to archived step logs)")
    else:
        lines.append(
            f"logs: s3://{logs.bucket} ({logs.region}), key format {logs.key_format}, "
            f"links valid {logs.presign_expiry_seconds}s, last {logs.tail_lines} lines on failure"
        )
    lines.append(f"rbac: {policy}")
    approvals = settings.approvals
    guarded = (
        ", ".join(f"{r.resource} {r.action} {r.object}" for r in approvals.require_for) or "nothing else"
    )
    rollbacks = (
        "disable auto-sync first"
        if approvals.disable_auto_sync_on_rollback
        else "are refused while auto-sync is on"
    )
    self_approval = "allowed" if approvals.allow_self_approval else "refused"
    lines.append(
        f"approvals: expire after {approvals.expiry_minutes} min; self-approval {self_approval}; "
        f"rollbacks {rollbacks}; also required for {guarded}"
    )
    lines.append(f"schedules: {len(settings.schedules) or 'none'}")
    for schedule in settings.schedules:
        target = f" on {schedule.cluster}" if schedule.cluster else ""
        template = f" template {schedule.template}" if schedule.template else ""
        lines.append(
            f"  {schedule.name}: {schedule.kind}{template}{target} at '{schedule.cron}' "
            f"({schedule.timezone}) -> {schedule.channel}"
        )
    server = settings.server
    lines.append(
        f"server: {server.host}:{server.port} (/healthz, /readyz, /metrics)"
        if server.port
        else "server: disabled"
    )
    return lines


def _token_state(name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name, "")
    if not value:
        return f"{name} not set"
    if not value.startswith(TOKEN_PREFIXES[name]):
        return f"{name} set but does not start with {TOKEN_PREFIXES[name]}"
    return f"{name} set"


def _connect(settings: Settings) -> int:
    from bot.store import db

    database = db.connect(settings.database.url)
    try:
        revision = db.current_revision(database)
    except StorageError as exc:
        print(f"database: unreachable: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        database.dispose()
    head = db.head_revision()
    status = EXIT_OK
    if revision == head:
        print(f"database: reachable, schema at revision {revision} (up to date)")
    else:
        print(
            f"database: reachable, schema at {revision or 'none'}, expected {head}: run 'chatops db upgrade'"
        )
        status = EXIT_FAILURE
    print("slack, clusters, s3: not checked (not available yet in this version)")
    return status
