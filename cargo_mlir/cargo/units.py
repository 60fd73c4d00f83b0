"""What the rustc wrapper (pass 1) tells the driver: one record per compiled
unit (crate × profile × test/non-test) that uses the support crate; where each
unit's kernel library is (linked at the final link, see cargo/wrapper.py); and
the environment through which a unit whose device work failed is compiled again."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

# shared with the support crate's macros (read by option_env!, so a changed
# configuration or a retry rebuilds the crate): defined in abi.py
from cargo_mlir.abi import ENV_CONFIG as CONFIG_ENV
from cargo_mlir.abi import ENV_RETRY_PREFIX as RETRY_ENV_PREFIX
from cargo_mlir.abi import ENV_MARKED_DIR as MARKED_ENV
from cargo_mlir.abi import ENV_UNIT as UNIT_ENV
from cargo_mlir.fsutil import read_json, write_atomic

SUPPORT_CRATE = "cargo_mlir"
WRAPPER_ENV = "__CARGO_MLIR_WRAPPER"       # set: cargo runs us as the rustc wrapper
STATE_ENV = "__CARGO_MLIR_STATE_DIR"
PASS_ENV = "__CARGO_MLIR_PASS"
CHAIN_ENV = "__CARGO_MLIR_CHAINED_WRAPPER"            # the user's RUSTC_WORKSPACE_WRAPPER
OUTER_CHAIN_ENV = "__CARGO_MLIR_CHAINED_OUTER_WRAPPER"   # the user's RUSTC_WRAPPER
CHAINED_RUSTDOC_ENV = "__CARGO_MLIR_CHAINED_RUSTDOC"      # the user's RUSTDOC
BUILD_ENV = "__CARGO_MLIR_BUILD_ID"            # which `cargo mlir` run wrote a unit record
HOST_DONE_ENV = "__CARGO_MLIR_HOST_DONE"       # the wrapper script ran pass 1's host compile (exit 0)
OPT_ENV = "__CARGO_MLIR_OPT"                   # the toolchain's opt (wrapper.optimise_marked)
# Each unit that uses the support crate links its kernel library non-bundled
# (`library_flags`): the rlib names it, the final link of each artifact finds
# it in `library_dir`, so a new library relinks the artifacts and compiles no
# crate again. Until the device step makes one it is an empty archive.
LIBRARY_PREFIX = "cargo_mlir_kernels_"
LIBRARY_KIND = "static:-bundle,+whole-archive"
PLACEHOLDER = b"!<arch>\n"


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
    crate (`--extern cargo_mlir[=…]`) or links an artifact while kernel
    libraries exist. A unit that names the support crate links its kernel
    library, non-bundled (`library_flags`: an empty archive until the device
    step makes one), and the script runs its host compile itself. The script
    also links artifacts and records the libraries they linked in their
    dep-info (`record_libraries`; wrapper.link_artifact says why). Python (the
    module cargo_mlir.cargo.wrapper, from `root`, without site-packages: it
    needs only the standard library) starts only for what needs it: argument
    files (`@path`), a link whose paths have spaces or that fails on a kernel
    library, and the device compile of a unit whose macros expanded a marked
    function (or that had a record before: it may have lost its last one): in
    the first case after the host compile (HOST_DONE_ENV), in the second beside it."""
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
    return f"""compile() {{
    # rustc ARGS…, through the user's wrapper: with the unit's kernel library, and
    # for the link of an artifact, the libraries' directory and the link arguments printed
    [ -z "$support" ] || set -- "$@" -L "native=$libdir" -l "{LIBRARY_KIND}={LIBRARY_PREFIX}$uid"
    [ -z "$artifact" ] || set -- "$@" -L "native=$libdir" "--print=link-args=$printed"
    if [ -n "${{{CHAIN_ENV}:-}}" ]; then "${CHAIN_ENV}" "$@"; else "$@"; fi
}}
record_libraries() {{
    # the kernel libraries the link printed, added to the first rule of the
    # artifact's dep-info (the one cargo reads): a new library links it again
    libs= seen=
    while IFS= read -r l || [ -n "$l" ]; do
        while :; do
            case $l in *{LIBRARY_PREFIX}*) ;; *) break ;; esac
            l=${{l#*{LIBRARY_PREFIX}}}
            u=${{l%%[!A-Za-z0-9_]*}}
            case " $seen " in *" $u "*) ;; *) seen="$seen $u"; libs="$libs $libdir/lib{LIBRARY_PREFIX}$u.a" ;; esac
        done
    done < "$printed"
    d=$outdir/$name$extra.d
    [ -n "$libs" ] && [ -e "$d" ] || return 0
    first=1
    while IFS= read -r l || [ -n "$l" ]; do
        if [ -n "$first" ]; then
            case $l in *': '*|*:) l=$l$libs; first= ;; esac
        fi
        printf '%s\\n' "$l"
    done < "$d" > "$d.cargo-mlir" && mv -f "$d.cargo-mlir" "$d"
}}
member() {{
record "$@"
p= support= uid= name= link= exe= outdir= extra= artifact=
for a in "$@"; do
    case "$p$a" in
        --extern=cargo_mlir|--extern=cargo_mlir=*|'--extern cargo_mlir'|'--extern cargo_mlir='*) support=1 ;;
        @*) exec {python_cmd} "$@" ;;
        '-C metadata='*) uid=${{a#metadata=}} ;;
        -Cmetadata=*) uid=${{a#-Cmetadata=}} ;;
        '-C extra-filename='*) extra=${{a#extra-filename=}} ;;
        -Cextra-filename=*) extra=${{a#-Cextra-filename=}} ;;
        '--crate-name '*) [ -n "$name" ] || name=$a ;;
        '--out-dir '*) outdir=$a ;;
        '--emit '*|--emit=*) case $a in *link*) link=1 ;; esac ;;
        --test|'--crate-type bin'|'--crate-type cdylib'|'--crate-type dylib') exe=1 ;;
        --crate-type=bin|--crate-type=cdylib|--crate-type=dylib) exe=1 ;;
    esac
    p=
    case "$a" in --extern|-C|--crate-name|--emit|--crate-type|--out-dir) p="$a " ;; esac
done
uid=${{uid:-$name}}
libdir=${STATE_ENV}/lib
if [ -n "$link" ]; then
    if [ -n "$support" ]; then
        case $uid in ''|*[!A-Za-z0-9_]*) exec {python_cmd} "$@" ;; esac
        lib=$libdir/lib{LIBRARY_PREFIX}$uid.a
        if [ ! -e "$lib" ]; then
            [ -d "$libdir" ] || mkdir -p "$libdir" || exit
            printf '!<arch>\\n' > "$lib" || exit
        fi
    fi
    if [ -n "$exe" ]; then
        for f in "$libdir"/lib{LIBRARY_PREFIX}*.a; do
            [ -e "$f" ] && artifact=1
            break
        done
    fi
else
    support=
fi
if [ -z "$support$artifact" ]; then
    [ -n "${{{CHAIN_ENV}:-}}" ] && exec "${CHAIN_ENV}" "$@"
    exec "$@"
fi
if [ -n "$artifact" ]; then
    # the script writes the dep-info without escaping: paths with spaces go to Python
    case $libdir$outdir$name$extra in *' '*|*'\\'*) exec {python_cmd} "$@" ;; esac
    [ -n "$outdir" ] || exec {python_cmd} "$@"
fi
pass1=
[ "${{{PASS_ENV}:-}}" != 1 ] || pass1=1
if [ -n "$support" ]; then
    export {UNIT_ENV}="$uid"
    if [ -n "$pass1" ]; then
        # recorded before (it had marked functions): Python runs its device compile beside the host compile
        [ ! -e "${STATE_ENV}/units/$uid.json" ] || exec {python_cmd} "$@"
        marked=${STATE_ENV}/marked
        [ -d "$marked" ] || mkdir -p "$marked" || exit
        [ ! -e "$marked/$uid" ] || rm -f "$marked/$uid" || exit
        export {MARKED_ENV}="$marked"
    fi
fi
if [ -n "$artifact" ]; then
    printed=${STATE_ENV}/links/$$.txt
    [ -d "${STATE_ENV}/links" ] || mkdir -p "${STATE_ENV}/links" || exit
    compile "$@" 2> "$printed.err"
    status=$?
    if [ "$status" != 0 ] && grep -q {LIBRARY_PREFIX} "$printed.err"; then
        # a kernel library that no longer links: Python links without it
        rm -f "$printed" "$printed.err"
        exec {python_cmd} "$@"
    fi
    cat "$printed.err" >&2
    rm -f "$printed.err"
    [ "$status" = 0 ] && record_libraries
    rm -f "$printed"
    [ "$status" = 0 ] || exit "$status"
else
    compile "$@" || exit
fi
[ -n "$support" ] && [ -n "$pass1" ] && [ -e "$marked/$uid" ] || exit 0
unset {UNIT_ENV} {MARKED_ENV}
{HOST_DONE_ENV}=1 exec {python_cmd} "$@"
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


def rustdoc_text() -> str:
    """The RUSTDOC script: doc tests (`rustdoc --test`) link the crate's rlib,
    which names its kernel library: they search `library_dir` too."""
    return f"""#!/bin/sh
# written by cargo-mlir: doc tests link the kernel libraries
for a in "$@"; do
    case $a in --test) exec "${{{CHAINED_RUSTDOC_ENV}:-rustdoc}}" "$@" -L "native=${STATE_ENV}/lib" ;; esac
done
exec "${{{CHAINED_RUSTDOC_ENV}:-rustdoc}}" "$@"
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


def state_id(state: Path) -> str:
    """A random name of this state directory, made with it."""
    path = state / "id"
    try:
        return path.read_text()
    except FileNotFoundError:
        import os
        write_atomic(path, os.urandom(8).hex())
        return path.read_text()


def relink_path(state: Path) -> Path:
    """Written (with the build id) by a link that had to leave the kernel
    libraries out (one no longer linked): pass 2 must link again."""
    return state / "relink"


def units_dir(state: Path) -> Path:
    return state / "units"


def bitcode_dir(state: Path) -> Path:
    return state / "bitcode"


def kernels_dir(state: Path, unit_id: str) -> Path:
    return state / "kernels" / unit_id


def library_name(unit_id: str) -> str:
    return f"{LIBRARY_PREFIX}{unit_id}"


def library_dir(state: Path) -> Path:
    """Every unit's kernel library (the final links search it)."""
    return state / "lib"


def library_path(state: Path, unit_id: str) -> Path:
    return library_dir(state) / f"lib{library_name(unit_id)}.a"


def library_flags(state: Path, unit_id: str) -> list[str]:
    """What a unit that uses the support crate links: its kernel library,
    whole-archive (its registration constructor is kept) and non-bundled (the
    final link reads it, so a unit is not compiled again for a new one)."""
    return ["-L", f"native={library_dir(state)}", "-l", f"{LIBRARY_KIND}={library_name(unit_id)}"]


def ensure_library(state: Path, unit_id: str) -> None:
    """The placeholder of a unit without a kernel library (the final link needs a file)."""
    path = library_path(state, unit_id)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, PLACEHOLDER)


def has_library(state: Path, unit_id: str) -> bool:
    """Whether the unit links a kernel library (not the placeholder)."""
    try:
        return library_path(state, unit_id).stat().st_size > len(PLACEHOLDER)
    except OSError:
        return False


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
    pass 1 of the next command that builds it (`schedule_retries`), and only by that one."""
    return any(u.build_id == build_id for u in read_units(state))


def failed_units(state: Path) -> list[str]:
    """Units whose device work failed or was interrupted (done.json): owed work."""
    return [uid for uid, e in read_json(done_path(state)).items() if isinstance(e, dict) and e.get("failed")]


def retries_path(state: Path) -> Path:
    return state / "retries.json"


def schedule_retries(state: Path, build_id: str) -> None:
    """Before pass 1: each unit whose device work is owed gets a retry value of
    this build, so that cargo compiles it again if this command builds it at
    all, and the device step then redoes its work."""
    values = read_json(retries_path(state))
    owed = {uid: build_id for uid in failed_units(state) if values.get(uid) != build_id}
    if owed:
        write_atomic(retries_path(state), json.dumps({**values, **owed}, indent=1, sort_keys=True))


def retry_env(state: Path) -> dict[str, str]:
    """The retry variable of each unit that was ever retried (the macros read
    it): the same value in every pass and later build, so that cargo's
    fingerprints stay, until the unit is retried again."""
    return {RETRY_ENV_PREFIX + uid: v for uid, v in read_json(retries_path(state)).items() if isinstance(v, str)}


def library_hashes(state: Path) -> dict[str, str]:
    """unit id -> content hash of its kernel library, as recorded by the driver."""
    return read_json(state / "libraries.json")


def save_library_hashes(state: Path, hashes: dict[str, str]) -> None:
    write_atomic(state / "libraries.json", json.dumps(hashes, indent=1, sort_keys=True))


def producer(source_hash: str, versions_key: str) -> str:
    """Which cargo-mlir and tools made a library: part of each library hash."""
    import hashlib
    return hashlib.sha256(f"{source_hash};{versions_key}".encode()).hexdigest()[:8]


def library_intact(state: Path, uid: str, recorded: str | None) -> bool:
    """Whether the unit's kernel library is there and is the one its
    libraries.json entry (`recorded`) names."""
    from cargo_mlir.fsutil import sha256_file
    try:
        return recorded is not None and recorded.endswith("-" + sha256_file(library_path(state, uid))[:16])
    except OSError:
        return False


def check_libraries(state: Path, made_by: str) -> dict[str, str]:
    """Before pass 1: every library in `library_dir` is the placeholder or the
    one libraries.json names, made by this cargo-mlir and toolchain. Any other
    (another version's, damaged, deleted, unrecorded) becomes the placeholder,
    and its unit's device work is owed (done.json), so it is done again.
    Returns the recorded hashes."""
    hashes = library_hashes(state)
    bad = {uid for uid, h in hashes.items() if not (h.startswith(made_by + "-") and library_intact(state, uid, h))}
    prefix = f"lib{LIBRARY_PREFIX}"
    for path in library_dir(state).glob(f"{prefix}*.a"):
        uid = path.name[len(prefix):-len(".a")]
        if uid not in hashes and has_library(state, uid):
            bad.add(uid)
    done = read_json(done_path(state))
    # kernels made, and no library recorded for them
    bad.update(uid for uid, e in done.items() if isinstance(e, dict) and e.get("kernels") and uid not in hashes)
    if bad:
        for uid in sorted(bad):
            write_atomic(library_path(state, uid), PLACEHOLDER)
            hashes.pop(uid, None)
            done[uid] = {"failed": True}
        write_atomic(done_path(state), json.dumps(done, indent=1, sort_keys=True))
        save_library_hashes(state, hashes)
    return hashes
