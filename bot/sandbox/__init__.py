"""Local stand-ins for Slack, Kubernetes + Argo and AWS that speak the real wire protocols.

Used by the test suite and by `chatops demo`. This package never imports from the rest
of `bot`, so a bug in the bot cannot be copied into the stand-in that is meant to catch it.
"""

from __future__ import annotations
