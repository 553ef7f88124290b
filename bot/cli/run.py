"""`chatops run`: connect to Slack in Socket Mode and serve commands until SIGTERM or Ctrl-C.

On SIGTERM (what Kubernetes sends before killing a pod) the socket is closed first, so Slack
routes new envelopes to the other replicas, then the commands already acknowledged finish.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType

from bot.cli import SubParsers, add_config_option, settings_from_args


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


def configure_logging(level_name: str) -> None:
    """The bot logs at `level_name`; libraries only warn, unless DEBUG asks for everything.

    At the default INFO, the Slack, Kubernetes, AWS, database and scheduler clients would
    otherwise fill the log with their own progress lines.
    """
    level = logging.getLevelName(str(level_name).upper())
    if not isinstance(level, int):
        level = logging.INFO
    logging.basicConfig(
        level=level if level <= logging.DEBUG else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("bot").setLevel(level)


def _handle(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    from bot.app import build_bot

    settings = settings_from_args(args)
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
