"""What a sandbox pod "does": log lines, an exit code and a duration, scripted per test.

Two sources, checked in this order:

1. Python rules registered with `WorkflowController.script(step=..., workflow=...)`
   (`ScriptBook`): glob patterns on the step's display name or template name and on the
   workflow name; the newest matching rule wins.
2. Magic inputs in the template itself, so YAML written by hand works too: a container's
   `command` + `args` (as `sh -c` would see them) or a script template's `source`, read as
   a tiny shell with three verbs, separated by newlines or `;`:
   `echo TEXT` (a log line), `sleep N` (N scripted seconds), `exit N` (stop with code N).
   Anything else is echoed as a log line as if the program printed it.

Without either, a pod logs one line and succeeds after one scripted second. Pure; used by
`workflows`.
"""

from __future__ import annotations

import fnmatch
import shlex
import threading
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DURATION = 1.0


@dataclass(frozen=True)
class StepScript:
    """The scripted behaviour of one pod: `logs` lines, then exit `exit_code` after `duration` s."""

    logs: tuple[str, ...] = ()
    exit_code: int = 0
    duration: float = DEFAULT_DURATION
    #: Log lines interleaved with sleeps, as parsed from magic inputs: (seconds, line | None).
    timeline: tuple[tuple[float, str | None], ...] = field(default=(), compare=False)

    def events(self) -> tuple[tuple[float, str | None], ...]:
        """(delay, line) pairs to play; a Python-scripted step logs first, then waits."""
        if self.timeline:
            return self.timeline
        return (*((0.0, line) for line in self.logs), (self.duration, None))


@dataclass(frozen=True)
class _Rule:
    step: str
    workflow: str
    script: StepScript


class ScriptBook:
    """Thread-safe list of Python-registered rules."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def add(self, *, step: str, workflow: str, script: StepScript) -> None:
        with self._lock:
            self._rules.append(_Rule(step=step, workflow=workflow, script=script))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def find(self, *, workflow: str, step: str, template: str) -> StepScript | None:
        with self._lock:
            rules = list(self._rules)
        for rule in reversed(rules):
            if fnmatch.fnmatchcase(workflow, rule.workflow) and (
                fnmatch.fnmatchcase(step, rule.step) or fnmatch.fnmatchcase(template, rule.step)
            ):
                return rule.script
        return None


def script_from_template(template: dict[str, Any]) -> StepScript:
    """Read the magic inputs of a container or script template (already substituted)."""
    if "script" in template:
        text = str(template["script"].get("source", ""))
    elif "container" in template:
        container = template["container"]
        words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
        # `sh -c "..."`: the script is the argument after -c; otherwise the words themselves.
        if "-c" in words and words.index("-c") + 1 < len(words):
            text = words[words.index("-c") + 1]
        else:
            text = shlex.join(words) if words else ""
    else:
        text = ""
    return parse_script(text, default_line=f"{template.get('name', 'step')} done")


def parse_script(text: str, *, default_line: str) -> StepScript:
    """Parse the tiny shell (`echo`, `sleep`, `exit`) into a timeline."""
    timeline: list[tuple[float, str | None]] = []
    exit_code = 0
    pending = 0.0
    commands = [part.strip() for line in text.splitlines() for part in line.split(";")]
    for command in (c for c in commands if c and not c.startswith("#")):
        verb, _, rest = command.partition(" ")
        if verb == "sleep":
            pending += _number(rest, default=1.0)
        elif verb == "exit":
            exit_code = int(_number(rest, default=0))
            break
        elif verb == "echo":
            timeline.append((pending, _unquote(rest)))
            pending = 0.0
        elif verb in ("set", "true", ":"):
            continue
        else:
            timeline.append((pending, command))
            pending = 0.0
    if not timeline:
        timeline.append((0.0, default_line))
    timeline.append((pending if pending or commands else DEFAULT_DURATION, None))
    logs = tuple(line for _, line in timeline if line is not None)
    duration = sum(delay for delay, _ in timeline)
    return StepScript(logs=logs, exit_code=exit_code, duration=duration, timeline=tuple(timeline))


def _number(text: str, *, default: float) -> float:
    try:
        return float(text.strip().split()[0])
    except (ValueError, IndexError):
        return default


def _unquote(text: str) -> str:
    try:
        return " ".join(shlex.split(text))
    except ValueError:
        return text
