"""A local Slack for tests and the demo: Web API, Socket Mode, response URLs and a control API.

`SlackSandbox` is the server (start/stop, or use it as a context manager); `SlackDriver` drives
it over HTTP as a person would; `SlackSandbox.web_url` is a page that shows the workspace in a
browser as a Slack client would. See docs/sandbox-slack.md. Like all of `bot.sandbox`, this
package imports nothing from the rest of `bot`.
"""

from __future__ import annotations

from bot.sandbox.slack.driver import SandboxRequestError, SlackDriver
from bot.sandbox.slack.server import SlackSandbox

__all__ = ["SandboxRequestError", "SlackDriver", "SlackSandbox"]
