"""`chatops demo`: start the sandbox world and the real bot against it, then type as a Slack user.

No Slack, AWS or cluster is needed: the stand-ins of `bot.sandbox` play them, over real
sockets. The bot is the same one `chatops run` starts (Socket Mode, RBAC, audit). With `--run`
the given commands are typed and the demo exits, which is how it is tested; without it an
interactive prompt opens. `--serve` keeps everything up for outside clients (kubectl, curl on
the sandbox control API, slack_sdk) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from bot.cli import SubParsers


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the bot against local stand-ins for Slack, Kubernetes and S3",
        description="Start local stand-ins for Slack, Kubernetes + Argo and AWS, run the bot against "
        "them, and type commands as a sandbox Slack user. Nothing leaves this machine.",
    )
    parser.add_argument(
        "--state-dir", metavar="DIR", help="where to keep the sandbox state (default: a temp dir)"
    )
    parser.add_argument(
        "--as", dest="user", default="alice", help="the sandbox person to act as (default alice)"
    )
    parser.add_argument("--channel", default="ops", help="the channel to type in (default ops)")
    parser.add_argument(
        "--run",
        metavar="COMMAND",
        action="append",
        default=[],
        help="type this command (repeatable), print the answers, then exit",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="print connection details and keep running until Ctrl-C (no prompt)",
    )
    parser.add_argument("--log-level", default="WARNING", help="bot log level (default WARNING)")
    parser.set_defaults(handler=_handle)


def _banner(description: dict[str, object], *, kubeconfig: str, control_url: str, web_url: str) -> str:
    return (
        "chatops demo: the bot is connected to a local Slack, Kubernetes + Argo and S3.\n"
        f"  See it as Slack would show it: {web_url}?as=U0ALICE#C0OPS\n"
        f"  Slack control API: {control_url}   (see docs/sandbox-slack.md)\n"
        f"  kubectl --kubeconfig {kubeconfig} get workflowtemplates -n argo\n"
        f"  sandbox description: {description.get('state_dir')}/world.json\n"
    )


def _handle(args: argparse.Namespace) -> int:
    logging.basicConfig(level=str(args.log_level).upper(), format="%(levelname)s %(name)s %(message)s")
    from bot.app import build_bot
    from bot.config import parse_settings
    from bot.demo.console import CONSOLE_HELP, Console, run_lines
    from bot.demo.settings import config_for
    from bot.sandbox.slack import SlackDriver
    from bot.sandbox.world import DEMO_CHANNELS, DEMO_USERS, SandboxWorld

    users = {name: user_id for user_id, name, _ in DEMO_USERS}
    channels = {name: channel_id for channel_id, name in DEMO_CHANNELS}
    if args.user not in users:
        print(f"chatops demo: --as must be one of {', '.join(users)}", file=sys.stderr)
        return 2
    if args.channel not in channels:
        print(f"chatops demo: --channel must be one of {', '.join(channels)}", file=sys.stderr)
        return 2

    state_dir = Path(args.state_dir or tempfile.mkdtemp(prefix="chatops-demo-"))
    state_dir.mkdir(parents=True, exist_ok=True)
    world = SandboxWorld(state_dir, seed=True)
    print("starting the sandbox (Slack, Kubernetes + Argo, S3)...", file=sys.stderr)
    world.start()
    bot = None
    try:
        description = world.describe()
        config = config_for(description, state_dir=state_dir, channels=channels)
        slack = description["slack"]
        environ = {"SLACK_BOT_TOKEN": slack["bot_token"], "SLACK_APP_TOKEN": slack["app_token"]}
        # the bot reads the log bucket with the default AWS credential chain, as with IRSA in a pod
        os.environ["AWS_ACCESS_KEY_ID"] = description["aws"]["access_key_id"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = description["aws"]["secret_access_key"]
        settings = parse_settings(config, source="chatops demo", environ=environ)
        (state_dir / "chatops-demo.yaml").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        bot = build_bot(settings)
        bot.start()
        driver = SlackDriver(slack["control_url"])
        driver.wait_for(bot.is_connected, timeout=30, message="the bot to connect to the sandbox Slack")
        print(
            _banner(
                description,
                kubeconfig=description["kubeconfig"],
                control_url=slack["control_url"],
                web_url=slack["web_url"],
            ),
            file=sys.stderr,
        )
        console = Console(driver=driver, users=users, channels=channels, user=args.user, channel=args.channel)
        if args.run:
            run_lines(console, args.run, sys.stdout)
        elif args.serve:
            _serve_until_signal()
        else:
            print(CONSOLE_HELP, file=sys.stderr)
            _prompt(console)
    finally:
        if bot is not None:
            bot.stop()
        world.stop()
    return 0


def _serve_until_signal() -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("serving; Ctrl-C to stop", file=sys.stderr)
    stop.wait()


def _prompt(console: object) -> None:
    from bot.demo.console import Console

    assert isinstance(console, Console)
    interactive = os.isatty(0)
    while True:
        try:
            line = input(f"{console.user}@#{console.channel}> " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return
        if not console.handle(line, sys.stdout):
            return
