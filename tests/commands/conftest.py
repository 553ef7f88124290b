"""Fixtures for the use-case tier: the real bot over the stand-ins, driven through the pipeline."""

from __future__ import annotations

from commands_world import argo_tier, tier
from e2e_world import sandbox, slack, world

__all__ = ["argo_tier", "sandbox", "slack", "tier", "world"]
