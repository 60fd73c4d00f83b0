"""cargo's command line: one table of cargo's options, our own flags apart
from cargo's (which pass through in order; everything after `--` untouched)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cargo_mlir.errors import CargoMlirError

# cargo build/run/test options that take a value, which may be the next
# argument (`-p saxpy`); `--bin`, `--test`, … take an optional value that cargo
# also reads from the next argument
CARGO_VALUE_FLAGS = ("-p", "--package", "--exclude", "-F", "--features", "-j", "--jobs", "--target",
                     "--target-dir", "--manifest-path", "--profile", "--color", "--config", "-Z",
                     "--message-format", "--lockfile-path", "--bin", "--example", "--test", "--bench",
                     "--artifact-dir")
# the value options `cargo build` shares with `cargo test` / `cargo run`
BUILD_VALUE_FLAGS = ("-p", "--package", "--exclude", "-F", "--features", "--profile", "--manifest-path",
                     "--target-dir", "--target", "-j", "--jobs", "--color", "--config", "-Z")
# the flags `cargo build` shares with `cargo test` / `cargo run`
BUILD_FLAGS = ("-r", "--release", "--all-features", "--no-default-features", "--workspace", "--all", "--frozen",
               "--locked", "--offline", "-q", "--quiet", "-v", "-vv", "--verbose")
# `cargo test` options that `cargo build` rejects
TEST_ONLY_FLAGS = ("--no-run", "--no-fail-fast", "--doc")

OUR_VALUE_FLAGS = ("--emit-ir", "--offload-arch")
OUR_BOOL_FLAGS = ("--print-pipeline", "--explain")


@dataclass(frozen=True)
class Args:
    command: str                        # build | run | test
    cargo_args: tuple[str, ...]         # forwarded to cargo, before `--`
    trailing: tuple[str, ...] = ()      # after `--`, untouched
    emit_ir: Path | None = None
    offload_arch: tuple[str, ...] | None = None
    print_pipeline: bool = False
    explain: bool = False               # say what was raised, and why not
    jobs: int | None = None             # cargo's -j, also the size of the device-work pool
    verbosity: int = 0
    color: str = "auto"
    manifest_path: Path | None = None
    target_dir: Path | None = None
    help: bool = False
    given: tuple[str, ...] = ()         # the command line as the user wrote it (after the command)


def take_value(args: list[str], i: int, flag: str) -> tuple[str, int]:
    a = args[i]
    if a.startswith(flag + "="):
        return a[len(flag) + 1:], i + 1
    if i + 1 >= len(args):
        raise CargoMlirError(f"`{flag}` needs a value")
    return args[i + 1], i + 2


def parse_args(command: str, argv: list[str]) -> Args:
    head, tail = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    forward: list[str] = []
    found: dict = {"verbosity": 0}
    i = 0
    while i < len(head):
        a = head[i]
        name = a.split("=", 1)[0]
        if name in OUR_VALUE_FLAGS:
            v, i = take_value(head, i, name)
            if name == "--emit-ir":
                found["emit_ir"] = Path(v).resolve()
            else:
                found["offload_arch"] = tuple(x for x in v.split(",") if x)
            continue
        if a in OUR_BOOL_FLAGS:
            found[a[2:].replace("-", "_")] = True
            i += 1
            continue
        if a in ("-h", "--help"):
            found["help"] = True
        elif a in ("-q", "--quiet"):
            found["verbosity"] = -1
        elif a.startswith("-v") and set(a[1:]) == {"v"}:
            found["verbosity"] += len(a) - 1
        elif a == "--verbose":
            found["verbosity"] += 1
        elif a.startswith("-j") and a[2:].lstrip("-").isdigit():      # -j4
            found["jobs"] = _jobs(a[2:])
        elif name in ("--manifest-path", "--target-dir", "--color", "-j", "--jobs"):
            v, nxt = take_value(head, i, name)
            key = {"--manifest-path": "manifest_path", "--target-dir": "target_dir", "--color": "color",
                   "-j": "jobs", "--jobs": "jobs"}[name]
            found[key] = v if key == "color" else _jobs(v) if key == "jobs" else Path(v).resolve()
            forward.extend(head[i:nxt])
            i = nxt
            continue
        forward.append(a)
        i += 1
    return Args(command, tuple(forward), tuple(tail), given=tuple(argv), **found)


def _jobs(value: str) -> int | None:
    """cargo's -j: a count, or a negative one (cores minus N); cargo itself checks it."""
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n > 0 else max((os.cpu_count() or 1) + n, 1)


def build_options(cargo_args: tuple[str, ...]) -> list[str]:
    """The options of a `cargo test` command line that `cargo build` accepts too."""
    out, i = [], 0
    while i < len(cargo_args):
        a = cargo_args[i]
        name = a.split("=", 1)[0]
        if name in BUILD_VALUE_FLAGS:
            take = 1 if "=" in a or (name.startswith("-") and not name.startswith("--") and len(a) > 2) else 2
            out.extend(cargo_args[i:i + take])
            i += take
            continue
        if a in BUILD_FLAGS:
            out.append(a)
        i += 1
    return out
