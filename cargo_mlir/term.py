"""Cargo's voice: 12-column right-aligned bold verbs, `error:`/`warning:`,
colour only on a TTY (or with --color=always), -q / -v / -vv."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import TextIO

_GREEN, _CYAN, _YELLOW, _RED, _BOLD, _RESET = "\x1b[32m", "\x1b[36m", "\x1b[33m", "\x1b[31m", "\x1b[1m", "\x1b[0m"

YELLOW = _YELLOW       # for status lines that are no success (Interrupted)

COLOR_CHOICES = ("auto", "always", "never")


def want_color(choice: str, stream: TextIO) -> bool:
    return color_on(choice, hasattr(stream, "isatty") and stream.isatty())


def color_on(choice: str, tty: bool) -> bool:
    """--color, NO_COLOR and CARGO_TERM_COLOR decide; else whether the stream is a terminal."""
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    term = os.environ.get("CARGO_TERM_COLOR")
    if term in ("always", "never"):
        return term == "always"
    return tty


@dataclass
class Shell:
    """Where user-facing status goes (stderr, like cargo)."""

    verbosity: int = 0          # -1 quiet, 0 normal, 1 -v, 2 -vv
    color: str = "auto"
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    warnings: int = 0
    _live: bool = field(default=False, repr=False)

    @property
    def colored(self) -> bool:
        return want_color(self.color, self.stream)

    @property
    def is_tty(self) -> bool:
        return hasattr(self.stream, "isatty") and self.stream.isatty()

    def live(self, verb: str, message: str, *, color: str = _GREEN) -> None:
        """A status line rewritten in place (a TTY only: progress of long builds);
        cut to the terminal's width, since a wrapped line cannot be rewritten.
        Any other output clears it first; `clear_live` removes it."""
        if self.verbosity < 0:
            return
        width = shutil.get_terminal_size((100, 24)).columns
        message = message[:max(width - 14, 10)]
        self.stream.write(f"\r{self._paint(f'{verb:>12}', _BOLD, color)} {message}\x1b[K")
        self.stream.flush()
        self._live = True

    def clear_live(self) -> None:
        if self._live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._live = False

    def _paint(self, text: str, *codes: str) -> str:
        return "".join(codes) + text + _RESET if self.colored else text

    def status(self, verb: str, message: str, *, color: str = _GREEN, verbose: bool = False) -> None:
        if self.verbosity < 0 or (verbose and self.verbosity < 1):
            return
        self.clear_live()
        self.stream.write(self.status_line(verb, message, colored=self.colored, color=color))
        self.stream.flush()

    @staticmethod
    def status_line(verb: str, message: str, *, colored: bool, color: str = _GREEN) -> str:
        verb = f"{verb:>12}"
        return f"{_BOLD}{color}{verb}{_RESET} {message}\n" if colored else f"{verb} {message}\n"

    def note(self, message: str, *, verbose: bool = True) -> None:
        self.status("Note", message, color=_CYAN, verbose=verbose)

    def warn(self, message: str) -> None:
        self.warnings += 1
        if self.verbosity < 0:
            return
        self.clear_live()
        self.stream.write(f"{self._paint('warning', _BOLD, _YELLOW)}{self._paint(':', _BOLD)} {message}\n")
        self.stream.flush()

    def error(self, message: str) -> None:
        self.clear_live()
        self.stream.write(f"{self._paint('error', _BOLD, _RED)}{self._paint(':', _BOLD)} {message}\n")
        self.stream.flush()

    def out(self, text: str) -> None:
        """Program output (stdout), never coloured status."""
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()


def setup_logging(verbosity: int) -> None:
    """-vv logs every command and its output at debug level."""
    level = logging.DEBUG if verbosity >= 2 else logging.WARNING
    logging.basicConfig(level=level, format="[%(name)s] %(message)s", stream=sys.stderr, force=True)
