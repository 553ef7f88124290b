"""`chatops demo`: not available yet (it will run the bot against the local sandbox)."""

from __future__ import annotations

import argparse

from bot.cli import SubParsers, not_available


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the bot against local stand-ins for Slack, Kubernetes and S3 (not available yet)",
        description="Not available yet.",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    del args
    return not_available("demo")
