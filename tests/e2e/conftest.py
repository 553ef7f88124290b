"""Fixtures for the end-to-end tests; the world itself is built in `e2e_world`."""

from __future__ import annotations

from e2e_world import sandbox, slack, world

__all__ = ["sandbox", "slack", "world"]
