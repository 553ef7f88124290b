"""`python -m bot.sandbox`: run the whole test world until Ctrl-C or SIGTERM.

Starts `SandboxWorld`, prints exactly one JSON line (`describe()`) on stdout so a script or
test can read every URL and token, and stops cleanly (exit 0) on SIGINT or SIGTERM. Logs
go to stderr. Options: `--state-dir D` (default `./.sandbox`), `--seed`, `--clusters
dev,prod`, `--time-scale F`, `--no-slack-rate-limits`.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from types import FrameType

from bot.sandbox.world import SandboxWorld


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", default=".sandbox", help="where kubeconfig and world.json go")
    parser.add_argument("--seed", action="store_true", help="create demo users, templates and apps")
    parser.add_argument("--clusters", default="dev,prod", help="comma-separated cluster names")
    parser.add_argument("--time-scale", type=float, default=0.1, help="factor for scripted durations")
    parser.add_argument("--no-slack-rate-limits", action="store_true", help="turn Slack's rate limits off")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    world = SandboxWorld(
        args.state_dir,
        clusters=tuple(c.strip() for c in args.clusters.split(",") if c.strip()),
        time_scale=args.time_scale,
        seed=args.seed,
        slack_rate_limits=not args.no_slack_rate_limits,
    )
    try:
        world.start()
        sys.stdout.write(json.dumps(world.describe()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
