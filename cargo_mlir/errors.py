"""The one base error type. `fail` prints these as `error: …` and gives the
exit status (1 or the error's own); any other exception is a bug and shows its
traceback."""

from __future__ import annotations

import os
import re
import traceback

BACKTRACE_ENV = "CARGO_MLIR_BACKTRACE"


class CargoMlirError(Exception):
    """A user-facing error: what went wrong, where, and how to fix it."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 1):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n\nhelp: {self.hint}"


class ToolError(CargoMlirError):
    """A tool we ran could not start or exited non-zero.

    Keeps the command line, the exit status and the tail of the output; says
    "could not start" apart from "exited with N".
    """

    TAIL_LINES = 30

    def __init__(self, command: str, *, returncode: int | None, output: str = "",
                 hint: str | None = None, what: str | None = None):
        self.command = command
        self.returncode = returncode
        self.output = output
        if returncode is None:
            head = f"could not start `{command}`"
        else:
            head = f"`{command}` exited with status {returncode}"
        if what:
            head = f"{what}: {head}"
        lines = output.rstrip().splitlines()
        errors = diagnostics(lines)
        if errors:
            # the tool's own error lines first: an MLIR pass's "see current operation" dump
            # can be thousands of lines, and its last lines say nothing
            message = f"{head}\n--- errors it reported ---\n" + "\n".join(errors)
        else:
            tail = "\n".join(lines[-self.TAIL_LINES:])
            message = head if not tail else f"{head}\n--- output (last {self.TAIL_LINES} lines) ---\n{tail}"
        super().__init__(message, hint=hint)


# `file:line:col: error: …` (MLIR, LLVM, clang), `error: …`, and ptxas's `ptxas fatal : …`
_DIAGNOSTIC = re.compile(r"^(?:\S+:\d+:\d+: )?(?:error|fatal error)\b|^ptxas (?:fatal|error)\b|^LLVM ERROR:", re.I)


def diagnostics(lines: list[str], limit: int = 12) -> list[str]:
    """A tool's error lines (each once, at most `limit`), in order."""
    found = list(dict.fromkeys(line.strip() for line in lines if _DIAGNOSTIC.match(line.strip())))
    return found[:limit] + ([f"… and {len(found) - limit} more"] if len(found) > limit else [])


def fail(shell, exc: BaseException) -> int:
    """`error: …` and the exit status; CARGO_MLIR_BACKTRACE=1 adds the traceback."""
    shell.error(str(exc))
    if os.environ.get(BACKTRACE_ENV):
        traceback.print_exc()
    return getattr(exc, "exit_code", 1)
