"""The people and channels of the terminal console's tests (ids as the demo's workspace spells them)."""

from __future__ import annotations

ALICE, BOB = "U0ALICE", "U0BOB"
OPS, PROD = "C0OPS", "C0PRODOPS"
USERS = {"alice": ALICE, "bob": BOB}
CHANNELS = {"ops": OPS, "prod-ops": PROD}
