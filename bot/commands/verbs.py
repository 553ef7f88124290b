"""Every verb the bot understands, collected from the area modules into one `Registry`."""

from __future__ import annotations

from bot.commands import (
    app_verbs,
    info_verbs,
    rollback_verbs,
    rollout_verbs,
    schedule_verbs,
    subscription_verbs,
    workflow_verbs,
)
from bot.commands.registry import Registry, reference_markdown

AREAS = (
    info_verbs,
    workflow_verbs,
    app_verbs,
    rollback_verbs,
    rollout_verbs,
    schedule_verbs,
    subscription_verbs,
)


def build_registry() -> Registry:
    """The registry of every area's `VERBS`, in the order `help` and the docs list them."""
    return Registry(verb for area in AREAS for verb in area.VERBS)


GENERATED_MARKER = "<!-- generated from the verb registry: python -m bot.commands.verbs docs/commands.md -->"


def commands_doc(current: str, registry: Registry | None = None) -> str:
    """docs/commands.md with everything after the marker regenerated from the registry."""
    head = current.split(GENERATED_MARKER, 1)[0].rstrip() + "\n\n"
    return head + GENERATED_MARKER + "\n\n" + reference_markdown(registry or build_registry())


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated part of the commands reference: `python -m bot.commands.verbs PATH`."""
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "docs/commands.md")
    path.write_text(commands_doc(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
