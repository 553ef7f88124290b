"""The `chatops` command line: one sub-command per module listed in `VERB_MODULES`.

Each verb module exposes `register(subparsers) -> None`, which adds its parser and sets
`handler=func` with `func(args) -> int`. `main` parses, runs the handler and turns the
errors a person can act on into a message and an exit code instead of a traceback:
`ConfigError` -> 2, `StorageError` and other upstream failures -> 1. This module also holds
the shared `--config` option (`add_config_option`, `settings_from_args`) so every verb
finds the config file the same way. Business logic lives elsewhere; verbs only wire.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from bot import __version__, redaction
from bot.errors import BotError, ConfigError

if TYPE_CHECKING:
    from bot.config import Settings

VERB_MODULES = (
    "bot.cli.run",
    "bot.cli.check",
    "bot.cli.policy",
    "bot.cli.db",
    "bot.cli.slack_manifest",
    "bot.cli.demo",
)

CONFIG_ENV = "CHATOPS_CONFIG"
DEFAULT_CONFIG = "chatops.yaml"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_NOT_AVAILABLE = 3

# What `register(subparsers)` receives; verb modules annotate with it.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add `--config FILE` (default: $CHATOPS_CONFIG, then ./chatops.yaml)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help=f"configuration file (default: ${CONFIG_ENV}, then ./{DEFAULT_CONFIG})",
    )


def config_path(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str:
    """The config file a verb should read, following `--config`, then $CHATOPS_CONFIG."""
    env = os.environ if environ is None else environ
    return getattr(args, "config", None) or env.get(CONFIG_ENV) or DEFAULT_CONFIG


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Load and validate the settings named by `--config` (secrets from the environment).

    Raises:
        ConfigError: every problem found, each naming the file and the key path.
    """
    from bot.config import load_settings

    env = os.environ if environ is None else environ
    return load_settings(config_path(args, env), env)


def not_available(name: str) -> int:
    """What a verb that is not built yet says: plainly, on stderr, exit code 3."""
    print(f"chatops {name}: this command is not available yet in chatops {__version__}.", file=sys.stderr)
    return EXIT_NOT_AVAILABLE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatops",
        description="Slack ChatOps for Argo Workflows and Argo CD on EKS.",
        epilog="Run 'chatops COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"chatops {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND")
    for module_name in VERB_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Any = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_CONFIG
    try:
        return int(handler(args))
    except ConfigError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {redaction.redact(problem)}", file=sys.stderr)
        return EXIT_CONFIG
    except BotError as exc:  # an upstream failure or any other refusal: one line, never a secret
        print(f"chatops {args.verb}: {redaction.redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
