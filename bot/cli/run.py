"""`chatops run`: connect to Slack in Socket Mode and serve commands until SIGTERM or Ctrl-C.

Logging goes through `bot.redaction`'s filter at every level: the secrets the bot holds (Slack
tokens, the database password, cluster tokens, AWS keys) are registered before anything
connects, so DEBUG, where the libraries print requests and answers, is safe to turn on.

On SIGTERM (what Kubernetes sends before killing a pod) the socket is closed first, so Slack
routes new envelopes to the other replicas, then the commands already acknowledged finish.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING

from bot import redaction
from bot.cli import SubParsers, add_config_option, settings_from_args
from bot.logsetup import configure_logging

if TYPE_CHECKING:
    from bot.config import Settings

#: Credentials the AWS SDK reads from the environment.
AWS_SECRET_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the bot (Socket Mode)",
        description="Connect to Slack in Socket Mode and serve commands. Tokens come from "
        "SLACK_BOT_TOKEN (xoxb-) and SLACK_APP_TOKEN (xapp-).",
    )
    add_config_option(parser)
    parser.add_argument(
        "--log-level",
        default=os.environ.get("CHATOPS_LOG_LEVEL", "INFO"),
        help="logging level (default INFO)",
    )
    parser.set_defaults(handler=_handle)


def held_secrets(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """The credentials this bot holds: the values logging must never show."""
    from bot.config import EksAuth, TokenAuth
    from bot.store.db import url_secrets

    found = [environ.get(name, "") for name in AWS_SECRET_VARIABLES]
    for token in (settings.slack.bot_token, settings.slack.app_token):
        if token is not None:
            found.append(token.get_secret_value())
    if settings.argocd.auth_token is not None:
        found.append(settings.argocd.auth_token.get_secret_value())
    found.extend(url_secrets(settings.database.url))
    for cluster in settings.clusters:
        if isinstance(cluster.auth, TokenAuth):
            found.append(environ.get(cluster.auth.token_env, "").strip())
        elif isinstance(cluster.auth, EksAuth) and cluster.auth.external_id:
            found.append(cluster.auth.external_id)
    return [value for value in found if value]


def _handle(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    # before the settings are read: a problem with them must not print the tokens either
    redaction.register(
        *(os.environ.get(name) for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ARGOCD_AUTH_TOKEN"))
    )
    from bot.app import build_bot

    settings = settings_from_args(args)
    redaction.register(*held_secrets(settings, os.environ))
    bot = build_bot(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        logging.getLogger(__name__).info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    bot.start()
    try:
        stop.wait()
    finally:
        bot.stop()
    return 0
