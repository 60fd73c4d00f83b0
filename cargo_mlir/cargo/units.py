"""What the rustc wrapper (pass 1) tells the driver: one record per compiled
unit (crate × profile × test/non-test) that uses the support crate, and the
environment through which pass 2 makes cargo rebuild exactly those units."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

# shared with the support crate's macros (read by option_env!, so a changed kernel
# library or configuration rebuilds the crate): defined in abi.py
from cargo_mlir.abi import ENV_CONFIG as CONFIG_ENV
from cargo_mlir.abi import ENV_KERNELS_PREFIX as KERNELS_ENV_PREFIX
from cargo_mlir.abi import ENV_MARKED_DIR as MARKED_ENV
from cargo_mlir.abi import ENV_UNIT as UNIT_ENV
from cargo_mlir.fsutil import read_json, write_atomic

SUPPORT_CRATE = "cargo_mlir"
WRAPPER_ENV = "__CARGO_MLIR_WRAPPER"       # set: cargo runs us as the rustc wrapper
STATE_ENV = "__CARGO_MLIR_STATE_DIR"
PASS_ENV = "__CARGO_MLIR_PASS"
CHAIN_ENV = "__CARGO_MLIR_CHAINED_WRAPPER"            # the user's RUSTC_WORKSPACE_WRAPPER
OUTER_CHAIN_ENV = "__CARGO_MLIR_CHAINED_OUTER_WRAPPER"   # the user's RUSTC_WRAPPER
BUILD_ENV = "__CARGO_MLIR_BUILD_ID"            # which `cargo mlir` run wrote a unit record
HOST_DONE_ENV = "__CARGO_MLIR_HOST_DONE"       # the wrapper script ran pass 1's host compile (exit 0)
# the kernels variable of a unit that pass 1 must compile again (its device work
# failed or was interrupted; its old library did not link): a value no library has
RETRY_PREFIX = "retry-"


# what the device compile of a library needs from cargo's environment (build
# scripts' `cargo:rustc-env` values are read from their output, see rustc_record.py)
RECORDED_ENV = (
    "CARGO", "CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH", "CARGO_MANIFEST_LINKS", "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR",
    "CARGO_PKG_NAME", "CARGO_PKG_VERSION", "CARGO_PKG_VERSION_MAJOR", "CARGO_PKG_VERSION_MINOR",
    "CARGO_PKG_VERSION_PATCH", "CARGO_PKG_VERSION_PRE", "CARGO_PKG_AUTHORS", "CARGO_PKG_DESCRIPTION",
    "CARGO_PKG_HOMEPAGE", "CARGO_PKG_REPOSITORY", "CARGO_PKG_LICENSE", "CARGO_PKG_LICENSE_FILE",
    "CARGO_PKG_README", "CARGO_PKG_RUST_VERSION",
)
RECORD_MAGIC = "cargo-mlir-rustc-1"


def rustc_records_dir(state: Path) -> Path:
    """How cargo compiled each library crate (rustc_record.py), by output name."""
    return state / "rustc"


def _record_function() -> str:
    """sh: `record rustc ARGS…` writes how cargo compiles a library (lib/rlib)
    crate: NUL-separated magic, directory, count, the command, the variables of
    RECORDED_ENV, `end`. Builtins only (no process starts); a record cut short
    lacks `end` and is not trusted. Argument files (`@path`) are temporary: not recorded."""
    return _RECORD_SH.replace("@STATE@", STATE_ENV).replace("@MAGIC@", RECORD_MAGIC) \
        .replace("@NAMES@", " ".join(RECORDED_ENV))


_RECORD_SH = r"""record() {
    [ -n "${@STATE@:-}" ] || return 0
    name= extra= lib= p=
    for a in "$@"; do
        case "$p$a" in
            '--crate-name '*) name=$a ;;
            '-C extra-filename='*) extra=${a#extra-filename=} ;;
            -Cextra-filename=*) extra=${a#-Cextra-filename=} ;;
            '--crate-type lib'|'--crate-type rlib'|--crate-type=lib|--crate-type=rlib) lib=1 ;;
            @*) return 0 ;;
        esac
        p=
        case "$a" in --crate-name|-C|--crate-type) p="$a " ;; esac
    done
    [ -n "$lib" ] && [ -n "$name" ] && [ "$name" != ___ ] || return 0
    {
        printf '%s\0' @MAGIC@ "$PWD" "$#" "$@"
        for v in @NAMES@; do
            eval "[ -z \"\${$v+x}\" ] || printf '%s=%s\\0' $v \"\$$v\""
        done
        printf 'end\0'
    } 2>/dev/null > "$@STATE@/rustc/lib$name$extra" || :
}
"""


def script_text(python: str, root: str) -> str:
    """The RUSTC_WORKSPACE_WRAPPER script. It records how cargo compiles each
    library (see `_record_function`); runs rustc untouched (through the user's
    own wrapper, when there is one) unless the command line names the support
    crate (`--extern cargo_mlir[=…]`); and for a unit that does, without a
    kernel library to link, runs the host compile itself. Python (the module
    cargo_mlir.cargo.wrapper, from `root`, without site-packages: it needs only
    the standard library) starts only for what needs it: a kernel library to
    link, argument files (`@path`), and the device compile of a unit whose
    macros expanded a marked function (or that had a record before: it may
    have lost its last one), after the host compile (HOST_DONE_ENV)."""
    return f"""#!/bin/sh
# written by cargo-mlir: its rustc wrapper
{_record_function()}{_member_function(python, root)}member "$@"
"""


def _member_function(python: str, root: str) -> str:
    """sh: `member rustc ARGS…`, the member wrapper's work (script_text)."""
    import shlex
    start = "import sys; sys.path.insert(0, sys.argv.pop(1)); from cargo_mlir.cargo.wrapper import main; " \
            "sys.exit(main(sys.argv[1:]))"
    python_cmd = f"{shlex.quote(python)} -S -c {shlex.quote(start)} {shlex.quote(root)}"
    return f"""member() {{
record "$@"
p= support= uid= name= link=
for a in "$@"; do
    case "$p$a" in
        --extern=cargo_mlir|--extern=cargo_mlir=*|'--extern cargo_mlir'|'--extern cargo_mlir='*) support=1 ;;
        @*) exec {python_cmd} "$@" ;;
        '-C metadata='*) uid=${{a#metadata=}} ;;
        -Cmetadata=*) uid=${{a#-Cmetadata=}} ;;
        '--crate-name '*) [ -n "$name" ] || name=$a ;;
        '--emit '*|--emit=*) case $a in *link*) link=1 ;; esac ;;
    esac
    p=
    case "$a" in --extern|-C|--crate-name|--emit) p="$a " ;; esac
done
if [ -z "$support" ]; then
    [ -n "${{{CHAIN_ENV}:-}}" ] && exec "${CHAIN_ENV}" "$@"
    exec "$@"
fi
uid=${{uid:-$name}}
case $uid in ''|*[!A-Za-z0-9_]*) exec {python_cmd} "$@" ;; esac
eval "lib=\\${{{KERNELS_ENV_PREFIX}$uid:-}}"
[ -z "$lib" ] || exec {python_cmd} "$@"
export {UNIT_ENV}="$uid"
if [ "${{{PASS_ENV}:-}}" = 1 ]; then
    marked=${STATE_ENV}/marked
    [ -d "$marked" ] || mkdir -p "$marked" || exit
    [ ! -e "$marked/$uid" ] || rm -f "$marked/$uid" || exit
    export {MARKED_ENV}="$marked"
    if [ -n "${{{CHAIN_ENV}:-}}" ]; then "${CHAIN_ENV}" "$@" || exit; else "$@" || exit; fi
    [ -n "$link" ] || exit 0
    [ -e "$marked/$uid" ] || [ -e "${STATE_ENV}/units/$uid.json" ] || exit 0
    unset {UNIT_ENV} {MARKED_ENV}
    {HOST_DONE_ENV}=1 exec {python_cmd} "$@"
fi
[ -n "${{{CHAIN_ENV}:-}}" ] && exec "${CHAIN_ENV}" "$@"
exec "$@"
}}
"""


def recorder_text(member_wrapper: str, python: str, root: str) -> str:
    """The RUSTC_WRAPPER script: cargo runs it for every crate, members as
    `recorder MEMBER_WRAPPER rustc ARGS`. It records how crates outside the
    workspace (path and registry dependencies) are compiled, so kernels can
    call their functions, then runs the user's own RUSTC_WRAPPER (sccache, …)
    when there is one. For a member, without one, it does the member
    wrapper's work itself (one shell fewer per unit)."""
    import shlex
    return f"""#!/bin/sh
# written by cargo-mlir: records how cargo compiles dependencies
{_record_function()}{_member_function(python, root)}if [ "$1" = {shlex.quote(member_wrapper)} ]; then
    [ -n "${{{OUTER_CHAIN_ENV}:-}}" ] && exec "${OUTER_CHAIN_ENV}" "$@"
    shift
    member "$@"
fi
record "$@"
[ -n "${{{OUTER_CHAIN_ENV}:-}}" ] && exec "${OUTER_CHAIN_ENV}" "$@"
exec "$@"
"""


@dataclass(frozen=True)
class Unit:
    unit_id: str            # cargo's -C metadata value: stable per unit
    crate_name: str
    package: str
    crate_types: tuple[str, ...]
    test: bool
    bitcode: str            # device-friendly bitcode from pass 1 ("" when that compile failed)
    build_id: str = ""      # the cargo mlir run whose pass 1 wrote this record
    device_failed: bool = False     # the device compile failed (bitcode is "")
    library_dropped: bool = False   # pass 1 built it without its old kernel library (which did not link)
    dependency_dirs: tuple[str, ...] = ()     # where its dependencies' rlibs are (build/dependencies.py)

    @property
    def label(self) -> str:
        kind = "test" if self.test else "/".join(self.crate_types) or "lib"
        return f"{self.package} ({kind} `{self.crate_name}`)"


def state_dir(target_dir: Path) -> Path:
    """cargo-mlir's own subdirectory of cargo's target directory."""
    return target_dir / "cargo-mlir"


def state_problem(exc: OSError, state: Path) -> tuple[str, str]:
    """(what went wrong, how to fix it) for an OSError on cargo-mlir's state
    directory: read-only, full, or something in it that is not what we wrote."""
    import errno
    where = exc.filename or state
    what = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        fix = "free some disk space (or run `cargo clean`) and build again"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"make {state} writable (cargo-mlir keeps its build state there), or build with another --target-dir"
    else:
        fix = f"remove {state} (cargo-mlir writes it again) and build again"
    return f"cannot write cargo-mlir's build state: {what}: {where}", fix


def marked_dir(state: Path) -> Path:
    """Where the macros record which units have marked functions (MARKED_ENV)."""
    return state / "marked"


def done_path(state: Path) -> Path:
    """The device step's record per unit (build.device): `failed` entries are owed work."""
    return state / "done.json"


def units_dir(state: Path) -> Path:
    return state / "units"


def bitcode_dir(state: Path) -> Path:
    return state / "bitcode"


def kernels_dir(state: Path, unit_id: str) -> Path:
    return state / "kernels" / unit_id


def library_name(unit_id: str) -> str:
    return f"cargo_mlir_kernels_{unit_id}"


def write_unit(state: Path, unit: Unit) -> None:
    write_atomic(units_dir(state) / f"{unit.unit_id}.json", json.dumps(asdict(unit), indent=1))


def _read_unit_file(p: Path) -> Unit | None:
    try:
        data = json.loads(p.read_text())
        data["crate_types"] = tuple(data["crate_types"])
        data["dependency_dirs"] = tuple(data.get("dependency_dirs", ()))
        return Unit(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        p.unlink(missing_ok=True)      # a record from another cargo-mlir version: pass 1 writes it again
        return None


def read_unit(state: Path, unit_id: str) -> Unit | None:
    return _read_unit_file(units_dir(state) / f"{unit_id}.json")


def read_units(state: Path) -> list[Unit]:
    return [u for p in sorted(units_dir(state).glob("*.json")) if (u := _read_unit_file(p))]


def device_work_owed(state: Path, build_id: str) -> bool:
    """Whether the device step has anything to do: a unit pass 1 of this run
    recorded (the same choice as build.device.build_device_code makes). A unit
    whose device work failed or was interrupted before is compiled again by the
    pass 1 of the next command that builds it (`retry_env`), and only by that one."""
    return any(u.build_id == build_id for u in read_units(state))


def retry_env(state: Path, build_id: str) -> dict[str, str]:
    """For pass 1: units whose device work failed or was interrupted get a
    kernels variable of a new value, so cargo compiles them again, if this
    command builds them at all, and the device step then redoes their work."""
    return {KERNELS_ENV_PREFIX + uid: RETRY_PREFIX + build_id for uid, e in read_json(done_path(state)).items()
            if isinstance(e, dict) and e.get("failed")}


def library_hashes(state: Path) -> dict[str, str]:
    """unit id -> content hash of its kernel library, as recorded by the driver."""
    return read_json(state / "libraries.json")


def save_library_hashes(state: Path, hashes: dict[str, str]) -> None:
    write_atomic(state / "libraries.json", json.dumps(hashes, indent=1, sort_keys=True))


def producer(source_hash: str, versions_key: str) -> str:
    """Which cargo-mlir and tools made a library: part of each library hash."""
    import hashlib
    return hashlib.sha256(f"{source_hash};{versions_key}".encode()).hexdigest()[:8]


def kernels_env(state: Path, made_by: str) -> dict[str, str]:
    """The variables that pass 1 and pass 2 both see, so an unchanged
    library leaves cargo's fingerprints alone. Libraries another cargo-mlir
    or toolchain made are left out: pass 1 then builds without them (an old
    library may not even link) and the device work replaces them."""
    return {KERNELS_ENV_PREFIX + uid: h for uid, h in library_hashes(state).items() if h.startswith(made_by + "-")}
