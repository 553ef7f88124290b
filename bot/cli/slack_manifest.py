"""`chatops slack-manifest`: print the Slack app manifest (YAML) for this configuration."""

from __future__ import annotations

import argparse
import os
import sys

import yaml

from bot.cli import CONFIG_ENV, SubParsers, add_config_option, settings_from_args
from bot.slack.manifest import build_manifest


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "slack-manifest",
        help="print the Slack app manifest (YAML) to paste at api.slack.com/apps",
        description="Print the Slack app manifest: Socket Mode on, the slash command from the "
        "configuration (default /ops), and exactly the scopes the bot uses.",
    )
    add_config_option(parser)
    parser.add_argument("--name", default="Argo ChatOps", help="the app's name in Slack")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    command = "/ops"
    if args.config or os.environ.get(CONFIG_ENV):
        command = settings_from_args(args).slack.command
    manifest = build_manifest(command=command, name=args.name)
    sys.stdout.write(yaml.safe_dump(manifest, sort_keys=False))
    return 0
