"""How every process of the bot logs: its own lines at the asked level, libraries only warn.

Shared by `chatops run` and the Socket Mode acker process, so both pass `bot.redaction`'s
filter at every level.
"""

from __future__ import annotations

import logging

from bot import redaction


def configure_logging(level_name: str) -> None:
    """The bot logs at `level_name`; libraries only warn, unless DEBUG asks for everything.

    At the default INFO, the Slack, Kubernetes, AWS, database and scheduler clients would
    otherwise fill the log with their own progress lines. Every line, at every level, passes
    `bot.redaction`'s filter (installed on the root handler).
    """
    level = logging.getLevelName(str(level_name).upper())
    if not isinstance(level, int):
        level = logging.INFO
    logging.basicConfig(
        level=level if level <= logging.DEBUG else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("bot").setLevel(level)
    redaction.install()
