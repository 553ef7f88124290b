"""The console's terminal: read a line while another thread prints, without losing what is typed.

Lines from the follower arrive while the person is typing at the prompt. With GNU readline the
half-typed line is kept: the prompt's line is cleared, the new text printed, then the prompt and
`readline.get_line_buffer()` drawn again. Without a terminal (a pipe, a test) lines are just
printed, under one lock, so two threads never mix their characters.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TextIO

CLEAR_LINE = "\r\x1b[K"


def _readline() -> ModuleType | None:
    try:
        import readline
    except ImportError:  # not on every platform (Windows)
        return None
    return readline


class Terminal:
    """Prints for any thread and reads lines for the main thread.

    Args:
        out: where everything goes.
        stdin: where lines come from; `input()` (with readline editing) is used only when it and
            `out` are the process's own standard input and output, both terminals.
        line_buffer: what the person has typed so far (`readline.get_line_buffer` by default).
    """

    def __init__(
        self,
        out: TextIO,
        *,
        stdin: TextIO | None = None,
        line_buffer: Callable[[], str] | None = None,
    ) -> None:
        self.out = out
        self.stdin = stdin
        self.ansi = _isatty(out)
        self.interactive = (
            stdin is not None and stdin is sys.stdin and out is sys.stdout and _isatty(stdin) and self.ansi
        )
        self._readline = _readline() if self.interactive else None
        default: Callable[[], str] = self._readline.get_line_buffer if self._readline else (lambda: "")
        self._line_buffer = line_buffer or default
        self._lock = threading.RLock()
        self._prompt: str | None = None

    def show(self, text: str) -> None:
        """Print `text` (one or more lines); above the prompt, keeping the typed line, if one is shown."""
        with self._lock:
            if self._prompt is not None:
                self.out.write(f"{CLEAR_LINE}{text}\n{self._prompt}{self._line_buffer()}")
            else:
                self.out.write(text + "\n")
            self.out.flush()

    def prompt_shown(self, prompt: str | None) -> None:
        """The prompt is on screen now (None: it is gone, the line was entered)."""
        with self._lock:
            self._prompt = prompt

    def read_line(self, prompt: str) -> str:
        """The next line typed, without its newline. Off a terminal the line is echoed after the prompt.

        Raises:
            EOFError: no more input (Ctrl-D, end of the pipe).
        """
        if not self.interactive or self.stdin is None:
            line = self.stdin.readline() if self.stdin is not None else ""
            if not line:
                raise EOFError
            line = line.rstrip("\r\n")
            self.show(prompt + line)
            return line
        hook = getattr(self._readline, "set_pre_input_hook", None)
        if hook is not None:
            hook(lambda: self.prompt_shown(prompt))  # readline drew the prompt: from now on redraw it
        else:
            self.prompt_shown(prompt)
        try:
            return input(prompt)
        finally:
            self.prompt_shown(None)
            if hook is not None:
                hook(None)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
