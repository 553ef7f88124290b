"""Fixtures for the end-to-end tests; the world itself is built in `e2e_world`."""

from __future__ import annotations

from e2e_world import slack, world

__all__ = ["slack", "world"]
