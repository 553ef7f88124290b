"""`chatops demo`: the real bot against local stand-ins, seen in a page that looks like Slack.

No Slack, AWS or cluster is needed: the stand-ins of `bot.sandbox` play them, over real
sockets. The bot is the same one `chatops run` starts (Socket Mode, RBAC, audit). By default
the Slack stand-in serves its web page on `--port` until Ctrl-C; `--console` types in the
terminal instead, and `--run` types the given commands, prints the answers and exits (which is
how scripts and tests use it).
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys
import threading
import webbrowser
from pathlib import Path
from types import FrameType

from bot.cli import SubParsers

DEFAULT_PORT = 3000
TIME_SCALE_RANGE = (0.01, 100.0)


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the bot against local stand-ins for Slack, Kubernetes and S3, in a browser page",
        description="Start local stand-ins for Slack, Kubernetes + Argo and AWS, run the bot against "
        "them, and try it in a page that looks like Slack (or in the terminal). Nothing leaves "
        "this machine.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"where the page is served on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port; "
        "with --run: any free port)",
    )
    parser.add_argument("--open", action="store_true", help="open the page in a browser once it is ready")
    parser.add_argument(
        "--console", action="store_true", help="type commands in the terminal (the page stays served)"
    )
    parser.add_argument(
        "--run",
        metavar="COMMAND",
        action="append",
        default=[],
        help="type this command (repeatable), print the answers, then exit",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="how long the sandbox's workflows and syncs take, as a factor (0.5: twice as fast; default 1)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep the sandbox state (kubeconfig, database) in DIR; default: a temporary directory "
        "removed on exit",
    )
    parser.add_argument("--as", dest="user", default="alice", help="the person to act as (default alice)")
    parser.add_argument("--channel", default=None, help="the channel to type in (default: the first)")
    parser.add_argument("--log-level", default="WARNING", help="bot log level (default WARNING)")
    parser.set_defaults(handler=_handle)


def _banner(*, page: str, description: dict[str, object], kubeconfig: str, control_url: str) -> str:
    return (
        "chatops demo: the bot is connected to a local Slack, Kubernetes + Argo and S3.\n"
        f"  Open the page: {page}\n"
        f"  Slack control API: {control_url}   (see docs/sandbox-slack.md)\n"
        f"  kubectl --kubeconfig {kubeconfig} get workflowtemplates -n argo\n"
        f"  sandbox description: {description.get('state_dir')}/world.json\n"
    )


def _port_problem(port: int) -> str | None:
    """Why `port` cannot be served on 127.0.0.1, before anything starts (None: it can)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return (
                f"port {port} is already in use (another demo?); choose another with "
                f"--port {port + 1}, or --port 0 for any free port"
            )
        return f"cannot listen on 127.0.0.1:{port}: {exc.strerror}"
    finally:
        probe.close()
    return None


def _handle(args: argparse.Namespace) -> int:
    logging.basicConfig(level=str(args.log_level).upper(), format="%(levelname)s %(name)s %(message)s")
    from bot.demo.session import DemoSession
    from bot.sandbox.world import DEMO_CHANNELS, DEMO_USERS

    users = {name: user_id for user_id, name, _ in DEMO_USERS}
    channels = {name: channel_id for channel_id, name in DEMO_CHANNELS}
    channel = args.channel or DEMO_CHANNELS[0][1]
    problems = []
    if args.user not in users:
        problems.append(f"--as must be one of {', '.join(users)}")
    if channel not in channels:
        problems.append(f"--channel must be one of {', '.join(channels)}")
    low, high = TIME_SCALE_RANGE
    if not low <= args.time_scale <= high:
        problems.append(f"--time-scale must be between {low} and {high:g}")
    port = args.port if args.port is not None else (0 if args.run else DEFAULT_PORT)
    if not 0 <= port <= 65535:
        problems.append("--port must be between 0 and 65535")
    elif port and (busy := _port_problem(port)):
        problems.append(busy)
    if args.run and (args.console or args.open):
        problems.append("--run types its commands and exits: it cannot be combined with --console or --open")
    if problems:
        for problem in problems:
            print(f"chatops demo: {problem}", file=sys.stderr)
        return 2

    stop = _stop_on_signals()
    if port:
        print(f"chatops demo: the page will be at http://127.0.0.1:{port}/ (starting...)", file=sys.stderr)
    print("starting the sandbox (Slack, Kubernetes + Argo, S3) and the bot...", file=sys.stderr)
    session = DemoSession(
        state_dir=Path(args.state_dir) if args.state_dir else None, port=port, time_scale=args.time_scale
    )
    try:
        try:
            session.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            print(f"chatops demo: {_port_problem(port) or f'port {port} is already in use'}", file=sys.stderr)
            return 2
        description = session.description
        page = session.page_url(user_id=users[args.user], channel_id=channels[channel])
        print(
            _banner(
                page=page,
                description=description,
                kubeconfig=description["kubeconfig"],
                control_url=description["slack"]["control_url"],
            ),
            file=sys.stderr,
        )
        if args.run or args.console:
            from bot.demo.console import Console, run_console, run_lines
            from bot.sandbox.slack import SlackDriver

            console = Console(
                driver=SlackDriver(description["slack"]["control_url"]),
                users=users,
                channels=channels,
                user=args.user,
                channel=channel,
            )
            if args.run:
                run_lines(console, args.run, sys.stdout)
            else:
                run_console(console)
        else:
            if args.open and not webbrowser.open(page):
                print(f"chatops demo: no browser could be opened here; open {page}", file=sys.stderr)
            print(f"ready: {page}\nCtrl-C stops everything.", file=sys.stderr, flush=True)
            stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("chatops demo: stopping...", file=sys.stderr, flush=True)
        session.stop()
    return 0


def _stop_on_signals() -> threading.Event:
    """SIGTERM ends the demo like Ctrl-C; a second one while stopping is not an error."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        if stop.is_set():
            return
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
