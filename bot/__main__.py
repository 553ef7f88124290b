"""`python -m bot` is the same as the `chatops` console script."""

from __future__ import annotations

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
