"""`chatops demo`: the real bot against the local sandbox, driven from a terminal.

`settings` turns a sandbox description into bot settings (pure); `console` acts as a Slack
user through the sandbox's control API and prints what that person would see.
"""

from __future__ import annotations
