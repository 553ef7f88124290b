"""One demo session: the sandbox world and the real bot against it, started and stopped as one.

Why a class of its own: `chatops demo` has four ways to use a session (the page, the terminal
console, typed `--run` lines, tests), and all of them need the same order of events: the world
first, then the bot connected to its Slack, and on the way out the bot before the world (so the
bot never sees its cluster vanish) and the temporary state removed. Doing that in one place is
what makes Ctrl-C leave nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.sandbox.world import SandboxWorld

TEAM_NAME = "Acme Platform"
CONNECT_TIMEOUT_SECONDS = 30.0


@dataclass
class DemoSession:
    """The demo's world and bot.

    Args:
        state_dir: where the world's kubeconfig, description and the bot's database live; None
            makes a temporary directory that `stop()` removes.
        port: where the Slack stand-in serves its Web API, control API and the web page (0: any).
        time_scale: factor for the sandbox clusters' scripted durations (0.5: twice as fast).
    """

    state_dir: Path | None = None
    port: int = 0
    time_scale: float = 1.0
    world: SandboxWorld | None = field(default=None, init=False)
    bot: Bot | None = field(default=None, init=False)
    description: dict[str, Any] = field(default_factory=dict, init=False)
    _directory: Path | None = field(default=None, init=False)
    _temporary: bool = field(default=False, init=False)

    @property
    def directory(self) -> Path:
        if self._directory is None:
            raise RuntimeError("start() the session first")
        return self._directory

    def start(self) -> DemoSession:
        """Start the world, then the bot, and wait until the bot is connected to the world's Slack."""
        from bot.app import build_bot
        from bot.config import parse_settings
        from bot.demo.settings import config_for, demo_environ
        from bot.sandbox.slack import SlackDriver
        from bot.sandbox.world import DEMO_CHANNELS, DEMO_CLUSTERS, SandboxWorld

        self._temporary = self.state_dir is None
        self._directory = Path(self.state_dir or tempfile.mkdtemp(prefix="chatops-demo-"))
        self._directory.mkdir(parents=True, exist_ok=True)
        try:
            self.world = SandboxWorld(
                self._directory,
                clusters=DEMO_CLUSTERS,
                seed=True,
                time_scale=self.time_scale,
                slack_port=self.port,
                team_name=TEAM_NAME,
            )
            self.world.start()
            self.description = self.world.describe()
            channels = {name: channel_id for channel_id, name in DEMO_CHANNELS}
            config = config_for(self.description, state_dir=self._directory, channels=channels)
            slack = self.description["slack"]
            environ = demo_environ(self.description)
            # the bot reads the log bucket with the default AWS credential chain, as with IRSA in a pod
            os.environ["AWS_ACCESS_KEY_ID"] = self.description["aws"]["access_key_id"]
            os.environ["AWS_SECRET_ACCESS_KEY"] = self.description["aws"]["secret_access_key"]
            settings = parse_settings(config, source="chatops demo", environ=environ)
            config_path = self._directory / "chatops-demo.yaml"
            config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
            self.bot = build_bot(settings)
            self.bot.start()
            SlackDriver(slack["control_url"]).wait_for(
                self.bot.is_connected,
                timeout=CONNECT_TIMEOUT_SECONDS,
                message="the bot to connect to the sandbox Slack",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def page_url(self, *, user_id: str, channel_id: str) -> str:
        """The web page, opened as `user_id` looking at `channel_id`."""
        return f"{self.description['slack']['web_url']}?as={user_id}#{channel_id}"

    def stop(self) -> None:
        """Stop the bot, then the world; remove the state unless it was given. Safe to call twice."""
        try:
            if self.bot is not None:
                bot, self.bot = self.bot, None
                bot.stop()
        finally:
            try:
                if self.world is not None:
                    world, self.world = self.world, None
                    world.stop()
            finally:
                if self._temporary and self._directory is not None:
                    shutil.rmtree(self._directory, ignore_errors=True)
                    self._temporary = False

    def __enter__(self) -> DemoSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
