"""`chatops slack-manifest`: not available yet (the manifest ships as manifests/slack-app.yaml)."""

from __future__ import annotations

import argparse

from bot.cli import SubParsers, not_available


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "slack-manifest",
        help="print the Slack app manifest (not available yet; see manifests/slack-app.yaml)",
        description="Not available yet. The Slack app manifest ships as manifests/slack-app.yaml.",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    del args
    return not_available("slack-manifest")
