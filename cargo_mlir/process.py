"""The one place that runs subprocesses.

A `Command` is a program, its arguments, environment changes (None removes a
variable) and a working directory; it prints shell-quoted. Output is captured
for error messages; `run(stream=True)` also shows it live (subprocess-tee);
`stream_lines` hands each line to a callback (progress of long builds) and,
with `new_session`, stops the whole process tree when interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir.errors import ToolError

log = logging.getLogger("cargo_mlir.process")

SAVE_TEMPS_HINT = "rerun with `--emit-ir DIR` (or `-vv`) to keep the IR of every stage"


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived inside `interruptible()`. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` swallows it; the exit
    status is the shell's 128 + signal number (130, 143)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into `Interrupted` (SIGTERM would otherwise end
    Python on the spot: no cleanup, no flushed log). Main thread only."""
    def handler(signum, _frame):
        raise Interrupted(signum)
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (Linux /proc; elsewhere none)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    # the name in parentheses may hold spaces: the ppid follows its last ')'
                    ppid = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_groups(pgids: set[int], sig: int) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def stop_tree(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a process started with start_new_session and everything below it.

    Ninja runs each job in a process group of its own (so the terminal's Ctrl-C
    reaches Ninja alone, which then stops its jobs); signalling Ninja's group is
    therefore not enough once Ninja cannot clean up. So: SIGTERM to Ninja's
    group and to the group of every descendant, wait `grace` seconds for them to
    exit, then SIGKILL whatever is left of those groups. Our own group is never
    signalled."""
    own = os.getpgrp()
    groups = {proc.pid}

    def collect() -> None:
        for pid in descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                groups.add(os.getpgid(pid))
        groups.discard(own)

    collect()
    _signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        collect()           # jobs started before Ninja saw the signal
        if proc.poll() is not None and not any(_group_alive(g) for g in groups):
            return
        time.sleep(0.05)
    collect()
    _signal_groups(groups, signal.SIGKILL)
    proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


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

    def start(self, *, keep_fds: bool = False) -> "Started":
        """Start in the background, output captured (into files: a full pipe
        blocks nothing); `Started.wait` gives the Result."""
        import tempfile
        log.debug("starting: %s", self)
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen([self.program, *self.args], env=self.environ(), cwd=self.cwd, stdout=out,
                                    stderr=err, close_fds=not keep_fds)
        except OSError as exc:
            out.close()
            err.close()
            raise ToolError(str(self), returncode=None, output=str(exc)) from None
        return Started(self, proc, out, err)

    def read(self, **kwargs) -> str:
        """Run and return stdout, stripped."""
        return self.run(**kwargs).stdout.strip()

    def stream_lines(self, on_line: Callable[[str], None], *, what: str | None = None,
                     hint: str | None = None, keep: int = 200, new_session: bool = False,
                     grace: float = 5.0) -> Result:
        """Run, handing each line of output to `on_line` as it arrives (hours-long
        builds need live progress). stderr is merged into stdout so the lines
        keep their order; the last `keep` lines are kept for the error.

        `new_session` starts the command in a session (and process group) of its
        own, so the terminal's Ctrl-C reaches only us: on any exception (such as
        `Interrupted`) the whole tree is stopped with `stop_tree`, the output it
        wrote until then is still handed to `on_line`, and the exception goes on."""
        log.debug("running: %s", self)
        try:
            proc = subprocess.Popen([self.program, *self.args], env=self.environ(), cwd=self.cwd,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                                    start_new_session=new_session)
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
                # a second Ctrl-C must not cut the clean-up short
                masked = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)} \
                    if new_session else {}
                try:
                    if new_session:
                        stop_tree(proc, grace)
                        _drain(proc, on_line)
                    else:
                        proc.kill()     # a failing callback must not leave the build running
                finally:
                    for s, h in masked.items():
                        signal.signal(s, h)
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


@dataclass
class Started:
    """A command running in the background (Command.start)."""
    command: Command
    proc: subprocess.Popen
    out: object
    err: object

    def wait(self) -> Result:
        """Its exit status and output (text)."""
        code = self.proc.wait()
        texts = []
        for f in (self.out, self.err):
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
            f.close()
        return Result(self.command, code, texts[0], texts[1])

    def stop(self) -> None:
        """Stop it (its result is not wanted)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self.out.close()
        self.err.close()


def _drain(proc: subprocess.Popen, on_line: Callable[[str], None], timeout: float = 2.0) -> None:
    """Hand on the output a stopped process left in the pipe (its last lines
    belong in the log). The tree is dead, so the pipe ends soon; a process
    outside it that still holds the pipe open costs at most `timeout` seconds."""
    lines: list[str] = []

    def read() -> None:
        with contextlib.suppress(Exception):
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    for line in list(lines):
        on_line(line)


def cmd(program: str | os.PathLike, *args: str | os.PathLike) -> Command:
    return Command(str(program), tuple(str(a) for a in args))
