"""The one place that runs subprocesses.

A `Command` is a program, its arguments, environment changes (None removes a
variable) and a working directory; it prints shell-quoted. Output is captured
for error messages; `run(stream=True)` also shows it live (subprocess-tee);
`stream_lines` hands each line to a callback (progress of long builds).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir.errors import ToolError

log = logging.getLogger("cargo_mlir.process")

SAVE_TEMPS_HINT = "rerun with `--emit-ir DIR` (or `-vv`) to keep the IR of every stage"


@dataclass(frozen=True)
class Result:
    command: "Command"
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Command:
    program: str
    args: tuple[str, ...] = ()
    env: dict[str, str | None] = field(default_factory=dict)
    cwd: Path | None = None

    def arg(self, *more: str | os.PathLike) -> "Command":
        return Command(self.program, self.args + tuple(str(a) for a in more), self.env, self.cwd)

    def with_env(self, **changes: str | None) -> "Command":
        return Command(self.program, self.args, {**self.env, **changes}, self.cwd)

    def in_dir(self, cwd: Path) -> "Command":
        return Command(self.program, self.args, self.env, cwd)

    def __str__(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items() if v is not None)
        line = shlex.join([self.program, *self.args])
        return f"{prefix} {line}" if prefix else line

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(self, *, check: bool = True, stream: bool = False, input: str | bytes | None = None,
            what: str | None = None, hint: str | None = SAVE_TEMPS_HINT,
            text: bool = True, keep_fds: bool = False) -> Result:
        """Run to completion, capturing stdout and stderr. `keep_fds` passes
        inherited descriptors on (rustc under cargo needs its jobserver)."""
        log.debug("running: %s", self)
        argv = [self.program, *self.args]
        try:
            if stream:
                from subprocess_tee import run as tee_run

                proc = tee_run(argv, env=self.environ(), cwd=self.cwd, check=False)
            else:
                proc = subprocess.run(argv, env=self.environ(), cwd=self.cwd, input=input,
                                      capture_output=True, text=text, check=False,
                                      close_fds=not keep_fds)
        except OSError as exc:
            raise ToolError(str(self), returncode=None, output=str(exc), what=what,
                            hint=hint) from None
        stdout = proc.stdout or ("" if text else b"")
        stderr = proc.stderr or ("" if text else b"")
        if stdout and text:
            log.debug("stdout of %s:\n%s", self.program, stdout.rstrip())
        if stderr and text:
            log.debug("stderr of %s:\n%s", self.program, stderr.rstrip())
        result = Result(self, proc.returncode, stdout, stderr)
        if check and proc.returncode != 0:
            output = stderr if text else stderr.decode(errors="replace")
            if text and stdout and not stderr:
                output = stdout
            raise ToolError(str(self), returncode=proc.returncode, output=output, what=what,
                            hint=hint)
        return result

    def read(self, **kwargs) -> str:
        """Run and return stdout, stripped."""
        return self.run(**kwargs).stdout.strip()

    def stream_lines(self, on_line: Callable[[str], None], *, what: str | None = None,
                     hint: str | None = None, keep: int = 200) -> Result:
        """Run, handing each line of output to `on_line` as it arrives (hours-long
        builds need live progress). stderr is merged into stdout so the lines
        keep their order; the last `keep` lines are kept for the error."""
        log.debug("running: %s", self)
        try:
            proc = subprocess.Popen([self.program, *self.args], env=self.environ(), cwd=self.cwd,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
        except OSError as exc:
            raise ToolError(str(self), returncode=None, output=str(exc), what=what, hint=hint) from None
        tail: deque[str] = deque(maxlen=keep)
        with proc:
            try:
                for line in proc.stdout:
                    line = line.rstrip("\n")
                    tail.append(line)
                    on_line(line)
            except BaseException:
                proc.kill()     # Ctrl-C or a failing callback must not leave the build running
                raise
        output = "\n".join(tail)
        if proc.returncode != 0:
            raise ToolError(str(self), returncode=proc.returncode, output=output, what=what, hint=hint)
        return Result(self, proc.returncode, output, "")

    def passthrough(self) -> int:
        """Run with inherited stdio and file descriptors (cargo's jobserver
        needs close_fds=False); return the exit status."""
        log.debug("running: %s", self)
        try:
            return subprocess.call([self.program, *self.args], env=self.environ(),
                                   cwd=self.cwd, close_fds=False)
        except OSError as exc:
            raise ToolError(str(self), returncode=None, output=str(exc)) from None


def cmd(program: str | os.PathLike, *args: str | os.PathLike) -> Command:
    return Command(str(program), tuple(str(a) for a in args))
