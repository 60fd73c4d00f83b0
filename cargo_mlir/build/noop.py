"""A no-op `cargo mlir build` without Python.

Python's start and imports cost more than cargo's whole no-op build, so the
`cargo-mlir` command is a shell script (templates/launcher/cargo-mlir) that
runs a small native launcher (templates/launcher/fast.rs, compiled here once
per installation into the script's directory) when there is one, and this
package otherwise.

After a successful build whose arguments the launcher can repeat (`build`,
no cargo-mlir option that Python must act on, cargo's default message format,
no -v) the driver writes a record, one per directory and arguments, under
`<cache>/cargo-mlir/noop/`. It holds what decided the build: the environment
variables that the project facts and the driver read, the status of every file
they were read from (the cached facts' inputs, plus the state files whose
content goes into pass 1's environment), and pass 1's command and environment.
The launcher checks all of it and runs pass 1. It is done when that leaves
nothing for Python: no message (pass 2 would show it), no unit with device
work (the wrapper records those), no failure. Anything else (also a changed
file, or arguments without a record) goes to Python, with pass 1 still
running: `Handover` is how the driver takes it over.

When pass 1 was a no-op, the launcher writes a record of its own beside ours
(FRESH_SUFFIX): what cargo watches (the files the units' dep-info names, build
scripts' rerun-if rules, the variables crates read) and what cargo printed. The
next build with everything as it was runs no cargo either (fast.rs says how).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cargo_mlir.cargo import metadata, units
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import cache_home, write_atomic

MAGIC = "cargo-mlir-noop-2"
FRESH_SUFFIX = ".fresh"                 # the launcher's record of a no-op that needs no cargo
HANDOVER_ENV = "__CARGO_MLIR_PASS1"     # set by the launcher when Python takes over pass 1
BIN_ENV = "__CARGO_MLIR_BIN"            # where the `cargo-mlir` script is: the launcher goes there
LAUNCHER = ".cargo-mlir-fast"
PYTHON_SCRIPT = "cargo-mlir-py"         # the package's console script, beside the shell script
# the variables a record depends on: everything the project facts depend on
# (metadata._env_key), the wrappers and colours the driver reads, and our own
ENV_EXACT = (*metadata._ENV_EXACT, "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "NO_COLOR")
ENV_PREFIXES = ("CARGO_", "RUSTUP_", "__CARGO_MLIR")
ENV_IGNORED = ("CARGO_MAKEFLAGS", HANDOVER_ENV, BIN_ENV)


def fnv(data: bytes) -> int:
    """FNV-1a, 64 bits (the launcher has the same)."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def record_path(cwd: Path, args: list[str]) -> Path:
    key = b"\0".join([os.fsencode(str(cwd)), *(os.fsencode(a) for a in args)])
    return cache_home() / "noop" / f"{fnv(key):016x}"


def env_key(environ=os.environ) -> list[bytes]:
    return sorted(os.fsencode(k) + b"=" + os.fsencode(v) for k, v in environ.items()
                  if (k in ENV_EXACT or k.startswith(ENV_PREFIXES)) and k not in ENV_IGNORED)


def status_text(stat: list[int] | None) -> bytes:
    """metadata._stat's list as the launcher compares it."""
    return b"-" if stat is None else " ".join(str(v) for v in stat).encode()


def env_entries(env: dict[str, str | None]) -> list[bytes]:
    """Pass 1's variables, sorted: `NAME=VALUE`, or `NAME` for one removed."""
    return [os.fsencode(k) + (b"" if v is None else b"=" + os.fsencode(v)) for k, v in sorted(env.items())]


def block_hash(argv: list[str], env: dict[str, str | None]) -> str:
    """Names pass 1's command and environment (the launcher hashes the same bytes)."""
    parts = [*map(os.fsencode, argv), *env_entries(env)]
    return f"{fnv(b''.join(p + bytes(1) for p in parts)):016x}"


# --------------------------------------------------------------- the record

def eligible(args) -> bool:
    """Whether the launcher can repeat this build: Python acts on nothing but pass 1."""
    return (args.command == "build" and not args.trailing and not args.emit_ir and not args.explain
            and not args.print_pipeline and not args.help and args.verbosity <= 0
            and not any(a == "--message-format" or a.startswith("--message-format=") for a in args.cargo_args))


def state_files(state: Path) -> list[Path]:
    """The build state that goes into pass 1's command and environment, the
    kernel libraries (the driver checks them, see units.check_libraries), and the
    launcher's source (a launcher compiled from older sources must not go on
    repeating builds: Python compiles it again)."""
    from cargo_mlir import resources
    libraries = sorted(units.library_dir(state).glob(f"lib{units.LIBRARY_PREFIX}*.a"))
    return [state / "id", state / "rustc-wrapper", state / "rustc-recorder", state / "rustdoc-wrapper",
            state / "libraries.json", units.done_path(state), units.retries_path(state), *libraries,
            resources.templates_dir() / "launcher" / "fast.rs"]


def record_bytes(cwd: Path, args: list[str], inputs, state: Path, argv: tuple[list[str], list[str]],
                 env: dict[str, str | None], finished: tuple[str, str], root: Path) -> bytes:
    """`argv`, `finished`: without and with colour (the launcher picks by its stderr).
    `root`: the workspace root, where cargo runs rustc (dep-info paths are relative to it)."""
    fields: list[bytes] = [MAGIC.encode(), os.fsencode(str(cwd))]

    def listed(items: list[bytes]) -> None:
        fields.append(str(len(items)).encode())
        fields.extend(items)

    listed([os.fsencode(a) for a in args])
    listed(env_key())
    files = [(str(p), s) for p, s in inputs] + [(str(p), metadata._stat(str(p))) for p in state_files(state)]
    fields.append(str(len(files)).encode())
    for path, stat in files:
        fields += [os.fsencode(path), status_text(stat)]
    listed([os.fsencode(a) for a in argv[0]])
    listed([os.fsencode(a) for a in argv[1]])
    listed(env_entries(env))
    fields += [os.fsencode(str(state)), finished[0].encode(), finished[1].encode(), os.fsencode(str(root)), b"end"]
    if any(b"\0" in f for f in fields):
        raise ValueError("a NUL byte in a record field")
    return b"\0".join(fields)


def remember(cwd: Path, args: list[str], inputs, state: Path, argv: tuple[list[str], list[str]],
             env: dict[str, str | None], finished: tuple[str, str], root: Path) -> None:
    """Write the record (only when it changed: a no-op writes nothing)."""
    path = record_path(cwd, args)
    try:
        data = record_bytes(cwd, args, inputs, state, argv, env, finished, root)
    except ValueError:
        return
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    try:
        write_atomic(path, data)
    except OSError:
        pass            # an unwritable cache: Python does every build


def forget(cwd: Path, args: list[str]) -> None:
    """No record for these arguments (this build ends in a state the launcher must not repeat)."""
    path = record_path(cwd, args)
    try:
        path.unlink(missing_ok=True)
        path.with_name(path.name + FRESH_SUFFIX).unlink(missing_ok=True)
    except OSError:
        pass


# --------------------------------------------------------------- the launcher

def launcher_source(python_script: str = PYTHON_SCRIPT) -> str:
    from cargo_mlir import resources

    def strs(names) -> str:
        return ", ".join(f'"{n}"' for n in names)
    text = (resources.templates_dir() / "launcher" / "fast.rs").read_text()
    for key, value in (("@ENV_EXACT@", strs(ENV_EXACT)), ("@ENV_PREFIXES@", strs(ENV_PREFIXES)),
                       ("@ENV_IGNORED@", strs(ENV_IGNORED)), ("@MAGIC@", MAGIC), ("@STATE_ENV@", units.STATE_ENV),
                       ("@BUILD_ENV@", units.BUILD_ENV), ("@HANDOVER_ENV@", HANDOVER_ENV),
                       ("@BIN_ENV@", BIN_ENV), ("@PYTHON@", python_script),
                       ("@FRESH_SUFFIX@", FRESH_SUFFIX)):
        text = text.replace(key, value)
    return text


def ensure_launcher(shell, bin_dir: Path) -> None:
    """Compile the launcher into `bin_dir` when it is missing or another
    version's (a stamp beside it names the source it was compiled from; a
    failed compile is stamped too, and not tried again until the source changes)."""
    from cargo_mlir.fsutil import sha256_text
    source = launcher_source()
    key = sha256_text(source)[:16]
    launcher = bin_dir / LAUNCHER
    stamp = bin_dir / (LAUNCHER + ".stamp")
    try:
        if stamp.read_text().split()[-1] == key and (launcher.exists() or stamp.read_text().startswith("failed")):
            return
    except (OSError, IndexError):
        pass
    import tempfile
    from cargo_mlir.process import cmd
    try:
        with tempfile.TemporaryDirectory(prefix=".cargo-mlir-launcher-", dir=bin_dir) as tmp:
            src = Path(tmp) / "fast.rs"
            src.write_text(source)
            out = Path(tmp) / "launcher"
            shell.status("Compiling", "cargo-mlir's launcher (once: no-op builds start without Python)",
                         verbose=True)
            try:
                result = cmd("rustc", "--edition", "2021", "-C", "opt-level=2", "-C", "panic=abort",
                             "-C", "debuginfo=0", "-C", "strip=symbols", "-o", out, src).run(check=False, hint=None)
                problem = result.stderr.strip() if result.returncode != 0 else ""
                # compiled, and it runs here
                if not problem and cmd(out, "--cargo-mlir-launcher").run(check=False, hint=None).stdout.strip() \
                        != MAGIC:
                    problem = "it does not run here"
            except CargoMlirError as exc:       # no rustc, or it cannot be started
                problem = str(exc)
            if problem:
                shell.note(f"cargo-mlir's launcher did not compile or run (no-op builds start Python):\n{problem}")
                write_atomic(stamp, f"failed {key}\n")
                return
            os.replace(out, launcher)
        write_atomic(stamp, f"{key}\n")
    except OSError:
        pass            # a read-only installation: every build starts Python


# --------------------------------------------------------------- taking over

@dataclass
class Handover:
    """Pass 1 as the launcher started it: `pid` and `fd` (its stdout) while cargo
    runs (stopped until we continue it; pid 0 when it has exited with `status`),
    what it wrote so far in `file`."""
    build_id: str
    pid: int
    fd: int
    status: int
    file: Path
    block: str          # block_hash of the command and environment it ran with
    started: float      # when the launcher started (time.time())
    waited: bool = False

    @classmethod
    def parse(cls, value: str) -> "Handover | None":
        try:
            build_id, pid, fd, status, file, block, started = value.split("\t")
            return cls(build_id, int(pid), int(fd), int(status), Path(file), block, float(started))
        except ValueError:
            return None

    def lines(self):
        """Pass 1's stdout: what the launcher read, then the rest."""
        try:
            head = self.file.read_text(errors="replace")
            self.file.unlink(missing_ok=True)
        except OSError:
            head = ""
        if self.pid <= 0:
            yield from head.splitlines(keepends=True)
            return
        *complete, partial = head.split("\n")
        for line in complete:
            yield line + "\n"
        import signal
        try:
            os.kill(self.pid, signal.SIGCONT)       # the launcher stopped it for us
        except OSError:
            pass
        with os.fdopen(self.fd, "r", errors="replace") as rest:
            for line in rest:
                yield partial + line
                partial = ""
        if partial:
            yield partial

    def wait(self) -> int:
        self.waited = True
        if self.pid <= 0:
            return self.status
        _, st = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(st)

    def discard(self) -> None:
        """Let it finish unread (it ran with another environment than this
        build's, or the build stopped before pass 1)."""
        if self.waited:
            return
        try:
            for _ in self.lines():
                pass
        except OSError:         # its stdout was closed already (read in part)
            pass
        self.wait()


def take_environ() -> tuple[Handover | None, Path | None]:
    """The launcher's and the script's variables, removed from the environment
    (cargo and the programs it runs must not see them)."""
    value = os.environ.pop(HANDOVER_ENV, None)
    bin_dir = os.environ.pop(BIN_ENV, None)
    return (Handover.parse(value) if value else None), (Path(os.path.abspath(bin_dir)) if bin_dir else None)
