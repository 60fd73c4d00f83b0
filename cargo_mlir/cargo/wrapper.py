"""The rustc wrapper (RUSTC_WORKSPACE_WRAPPER), run by cargo for each
workspace crate.

- A unit that uses the support crate names its kernel library, non-bundled
  (`units.library_flags`): the rlib records only its name.
- The link of an executable, test or shared library finds those libraries and
  records the ones it linked in its dep-info (`link_artifact`): when the
  device step makes a new library, cargo links again what links it, and
  compiles no crate again.
- In pass 1, for a unit whose macros expanded a marked function (they record
  it in `marked_dir`), rustc runs once more for device-friendly bitcode (the
  flags below: no vectorisation or runtime unrolling, panic=abort): beside the
  host compile when the unit had marked functions last time, else after it.
  LLVM's passes then run on what the marked functions reach, not on the whole
  crate (`optimise_marked`), and the unit is recorded for the driver.

Everything else (`-vV`, `--print`, crates without the support crate) goes to
rustc untouched. The shell script cargo runs (`units.script_text`) does that
itself, and the host compile of units that use the support crate; Python
starts only for what needs it (see there).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from cargo_mlir.abi import ACCEL_PREFIX, GRAD_PREFIX, KERNEL_PREFIX, MARKER_PREFIX, PRIMAL_PREFIX
from cargo_mlir.cargo import units
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import write_atomic
from cargo_mlir.process import cmd

DEVICE_FLAGS = (
    "-C", "opt-level=3", "-C", "codegen-units=1", "-C", "no-vectorize-loops", "-C", "no-vectorize-slp",
    "-C", "llvm-args=-unroll-runtime=false", "-C", "llvm-args=-unroll-threshold=0",
    "-C", "debuginfo=line-tables-only", "-C", "target-cpu=generic", "--cap-lints", "allow",
    # identical functions (two derivatives' primal entries) stay functions, not aliases
    # llvm-extract cannot pull out
    "-C", "llvm-args=-mergefunc-use-aliases=false",
)
# the same optimisation, run by `opt` on what the marked functions reach
# (`optimise_marked`), and on crates compiled at opt-level 0 (build/dependencies.py)
O3_OPTIONS = ("-vectorize-loops=false", "-vectorize-slp=false", "-unroll-runtime=false", "-unroll-threshold=0")
OPT_FLAGS = ("-passes=default<O3>", *O3_OPTIONS)
# What the device step reads of a unit: the pipeline's entries (markers, abi.py),
# the markers, and what they reach (calls, function pointers in constants,
# vtables). The rest of the crate (host code) needs no optimisation, which was
# most of the device compile's time.
_KEPT = ",".join(f"{prefix}*" for prefix in (KERNEL_PREFIX, ACCEL_PREFIX, PRIMAL_PREFIX, GRAD_PREFIX, MARKER_PREFIX))
# Kernels never unwind on a device. A test harness cannot be built with
# panic=abort on stable (`-Zpanic_abort_tests`), so a test unit's device
# bitcode comes from the same sources as a library with `cfg(test)` set:
# the kernels are the same, the harness (which we do not need) is absent.
PANIC_ABORT = ("-C", "panic=abort")
TEST_AS_LIB = ("--cfg", "test", "--crate-type", "lib")
# rustc flags that the device run replaces (with their value when separate)
_DROP_WITH_VALUE = {"--emit", "--out-dir", "--error-format", "--json", "-o", "--cap-lints"}
_DROP_PREFIX = ("--emit", "--out-dir=", "--error-format=", "--json=", "--cap-lints=")
_DROP_CODEGEN = ("incremental=", "opt-level=", "debuginfo=", "codegen-units=", "panic=", "target-cpu=",
                 "lto", "embed-bitcode=", "strip=", "split-debuginfo=")


def arg_value(args: list[str], flag: str) -> list[str]:
    """All values of `flag` given as `flag V` or `flag=V`."""
    out = []
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            out.append(args[i + 1])
        elif a.startswith(flag + "="):
            out.append(a[len(flag) + 1:])
    return out


def codegen_value(args: list[str], key: str) -> str | None:
    for v in arg_value(args, "-C") + [a[2:] for a in args if a.startswith("-C") and len(a) > 2]:
        if v.startswith(key + "="):
            return v[len(key) + 1:]
    return None


def uses_support_crate(args: list[str]) -> bool:
    return any(v.split("=", 1)[0] == units.SUPPORT_CRATE for v in arg_value(args, "--extern"))


def device_args(args: list[str], bitcode: Path) -> list[str]:
    """The host arguments minus output, incremental and optimisation flags."""
    out: list[str] = []
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in _DROP_WITH_VALUE:
            skip = True
            continue
        if a == "-C" and i + 1 < len(args) and args[i + 1].startswith(_DROP_CODEGEN):
            skip = True
            continue
        if a.startswith("-C") and a[2:].startswith(_DROP_CODEGEN):
            continue
        if a.startswith(_DROP_PREFIX) or a == "--test":
            continue
        out.append(a)
    test = TEST_AS_LIB if "--test" in args else ()
    return out + [*DEVICE_FLAGS, *PANIC_ABORT, *test, *profile_checks(args), f"--emit=llvm-bc={bitcode}"]


def dependency_device_args(args: list[str], bitcode: Path) -> list[str]:
    """The device compile of a library another crate's kernels call into
    (build/dependencies.py): as `device_args`, built as a plain `lib`. A crate
    the host build does not optimise is compiled at opt-level 0 too: rustc then
    makes none of its functions cross-crate inlinable, and the kernel's crate,
    compiled against the host build's metadata, calls them all (the caller
    optimises the bitcode afterwards, see `unoptimised`)."""
    kept: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a == "--crate-type":
            skip = True
        elif not a.startswith("--crate-type="):
            kept.append(a)
    out = device_args([*kept, "--crate-type", "lib"], bitcode)
    return ["opt-level=0" if a == "opt-level=3" else a for a in out] if unoptimised(args) else out


def unoptimised(args: list[str]) -> bool:
    return codegen_value(args, "opt-level") in (None, "0")


def dependency_dirs(args: list[str]) -> tuple[str, ...]:
    """Where the unit's dependencies are: cargo's `-L dependency=` directories
    and those of its `--extern` paths."""
    dirs = [v.split("=", 1)[1] for v in arg_value(args, "-L") if v.startswith("dependency=")]
    dirs += [os.path.dirname(v.split("=", 1)[1]) for v in arg_value(args, "--extern") if "=" in v]
    return tuple(dict.fromkeys(d for d in dirs if d))


def profile_checks(args: list[str]) -> tuple[str, ...]:
    """The host build's debug assertions (and with them overflow checks), which
    the device run's `-C opt-level=3` would otherwise turn off: rustc enables them
    by default only at opt-level 0, so a debug build keeps its panics on
    overflow. Explicit settings are passed through unchanged."""
    if codegen_value(args, "debug-assertions") is not None or codegen_value(args, "overflow-checks") is not None:
        return ()
    return ("-C", "debug-assertions=on") if unoptimised(args) else ()


def links_artifact(args: list[str]) -> bool:
    """A unit whose compile links an executable, a test harness or a shared
    library: a final link, where the kernel libraries go."""
    return "--test" in args or any(t in ("bin", "cdylib", "dylib") for t in arg_value(args, "--crate-type"))


def libraries_exist(state: Path) -> bool:
    return any(units.library_dir(state).glob(f"lib{units.LIBRARY_PREFIX}*.a"))


def dep_info_path(args: list[str]) -> Path | None:
    """Where rustc writes the unit's dep-info (cargo reads it after rustc exits)."""
    wanted = False
    for emit in arg_value(args, "--emit"):
        for part in emit.split(","):
            if part.startswith("dep-info="):
                return Path(part[len("dep-info="):])
            wanted = wanted or part == "dep-info"
    out_dirs, names = arg_value(args, "--out-dir"), arg_value(args, "--crate-name")
    if not wanted or not out_dirs or not names:
        return None
    return Path(out_dirs[-1]) / f"{names[0]}{codegen_value(args, 'extra-filename') or ''}.d"


def record_inputs(dep_info: Path, paths: list[Path]) -> None:
    """Add `paths` to the inputs of the dep-info's first rule, the one cargo
    reads: cargo then runs the unit again when one of them changes (or is missing)."""
    lines = dep_info.read_text().split("\n")
    escaped = " ".join(str(p).replace(" ", "\\ ") for p in paths)
    for i, line in enumerate(lines):
        if ": " in line or line.endswith(":"):
            lines[i] = f"{line} {escaped}"
            break
    else:
        return
    write_atomic(dep_info, "\n".join(lines))


_LINKED = re.compile(re.escape(units.LIBRARY_PREFIX) + r"(\w+)")


def link_artifact(base: list[str], args: list[str], flags: list[str], env: dict[str, str], state: Path) -> int:
    """The link of an executable, test or shared library. rustc finds the
    kernel library each unit's rlib names in `library_dir`; the ones it linked
    are added to the unit's dep-info, so cargo links it again when the device
    step makes a new one, and compiles nothing else. A library that no longer
    links (made for the old version of a unit that pass 1 just compiled again)
    is left out: the artifact is linked with empty ones in their place, and
    must be linked again after the device step (`units.relink_path`)."""
    libdir = units.library_dir(state)
    printed = state / "links" / f"{os.getpid()}.txt"
    printed.parent.mkdir(parents=True, exist_ok=True)

    def link(first: list[str]):
        return cmd(*base, *args, *first, *flags, "-L", f"native={libdir}", f"--print=link-args={printed}") \
            .with_env(**env).run(check=False, hint=None, text=False, keep_fds=True)

    result, relink = link([]), False
    if result.returncode != 0 and units.LIBRARY_PREFIX.encode() in result.stderr:
        for uid in _LINKED.findall(result.stderr.decode(errors="replace")):
            units.ensure_library(state, uid)        # a deleted placeholder (the linker cannot find it)
        empty = state / "lib-empty"
        for lib in libdir.glob(f"lib{units.LIBRARY_PREFIX}*.a"):
            if not (empty / lib.name).exists():
                write_atomic(empty / lib.name, units.PLACEHOLDER)
        retried = link(["-L", f"native={empty}"])
        if retried.returncode == 0:
            result, relink = retried, True
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(result.stderr)
    sys.stderr.buffer.flush()
    try:
        linked = sorted(set(_LINKED.findall(printed.read_text()))) if result.returncode == 0 else []
    except FileNotFoundError:
        linked = []
    printed.unlink(missing_ok=True)
    dep_info = dep_info_path(args)
    if (linked or relink) and dep_info is not None and dep_info.exists():
        # a file that never exists: cargo links the artifact again, in pass 2
        record_inputs(dep_info, [units.library_path(state, uid) for uid in linked]
                      + ([libdir / ".relink"] if relink else []))
    if relink:
        write_atomic(units.relink_path(state), os.environ.get(units.BUILD_ENV, ""))
    return result.returncode


def main(argv: list[str]) -> int:
    """Errors here reach the user through cargo, once per rustc call: keep them to one line."""
    try:
        return _main(argv)
    except CargoMlirError as exc:
        sys.stderr.write(f"error: cargo-mlir (rustc wrapper): {exc}\n")
        return 1
    except OSError as exc:         # a read-only or full target/cargo-mlir, …
        state = Path(os.environ.get(units.STATE_ENV) or "target/cargo-mlir")
        what, fix = units.state_problem(exc, state)
        sys.stderr.write(f"error: cargo-mlir (rustc wrapper): {what}; {fix}\n")
        return 1
    except KeyboardInterrupt:
        return 130


def _main(argv: list[str]) -> int:
    rustc, args = argv[0], argv[1:]
    chained = os.environ.get(units.CHAIN_ENV)
    base = [chained, rustc] if chained else [rustc]
    crate_names = arg_value(args, "--crate-name")
    links = "link" in ",".join(arg_value(args, "--emit"))
    if not crate_names or not links or not os.environ.get(units.STATE_ENV):
        return cmd(*base, *args).passthrough()       # probes, `cargo check`
    state = Path(os.environ[units.STATE_ENV])
    support = uses_support_crate(args)
    artifact = links_artifact(args) and libraries_exist(state)
    if not support and not artifact:
        return cmd(*base, *args).passthrough()
    unit_id = codegen_value(args, "metadata") or crate_names[0]
    pass_1 = os.environ.get(units.PASS_ENV) == "1"
    # pass 1's host compile of a unit, run by the script (units.script_text)
    host_done = pass_1 and os.environ.pop(units.HOST_DONE_ENV, None) == "1"
    marked = units.marked_dir(state) / unit_id
    bitcode = units.bitcode_dir(state) / f"{crate_names[0]}-{unit_id}.bc"
    env: dict[str, str] = {}
    flags: list[str] = []
    early = None
    if support:
        env[units.UNIT_ENV] = unit_id
        units.ensure_library(state, unit_id)
        flags = units.library_flags(state, unit_id)
        if pass_1 and not host_done:
            # the macros create `marked` when they expand a marked function (rustc
            # always expands macros, incremental or not)
            marked.parent.mkdir(parents=True, exist_ok=True)
            marked.unlink(missing_ok=True)
            env[units.MARKED_ENV] = str(marked.parent)
            previous = units.read_unit(state, unit_id)
            if previous is not None and previous.bitcode:
                # it had marked functions last time: its device compile runs beside
                # the host compile (into a file of its own until it is wanted)
                early = _device_compile(rustc, args, unit_id, bitcode).start(keep_fds=True)
    try:
        if host_done:                   # the script ran it, and it succeeded
            status = 0
        elif artifact:
            status = link_artifact(base, args, flags, env, state)
        else:
            status = cmd(*base, *args, *flags).with_env(**env).passthrough()
        if status != 0 or not pass_1 or not support or not marked.exists():
            if early is not None:
                early.stop()
                early = None
                _partial(bitcode).unlink(missing_ok=True)
            if status == 0 and pass_1 and support:
                _no_marked_functions(state, unit_id, crate_names[0], args)
            return status
        result = early.wait() if early is not None else \
            _device_compile(rustc, args, unit_id, bitcode).run(check=False, hint=None, keep_fds=True)
        early = None
    finally:
        if early is not None:           # interrupted
            early.stop()
    ok = result.returncode == 0 and _partial(bitcode).exists() and optimise_marked(_partial(bitcode))
    if ok:
        os.replace(_partial(bitcode), bitcode)
    else:
        # recorded without bitcode: the driver drops the unit's library, so no stale kernels are linked
        sys.stderr.write(f"warning: cargo-mlir: the device compile of `{crate_names[0]}` failed; "
                         f"its kernels will run as plain Rust\n{result.stderr[-4000:]}\n")
    units.write_unit(state, units.Unit(
        unit_id=unit_id, crate_name=crate_names[0], package=os.environ.get("CARGO_PKG_NAME", crate_names[0]),
        crate_types=tuple(arg_value(args, "--crate-type")), test="--test" in args,
        bitcode=str(bitcode) if ok else "", build_id=os.environ.get(units.BUILD_ENV, ""),
        device_failed=not ok, dependency_dirs=dependency_dirs(args)))
    return status


def _partial(bitcode: Path) -> Path:
    return bitcode.with_name(bitcode.name + ".partial")


def _device_compile(rustc: str, args: list[str], unit_id: str, bitcode: Path):
    """rustc once more, for the unit's device bitcode (written as `_partial`
    until it is complete). With opt at hand, LLVM's passes are left to
    `optimise_marked`."""
    bitcode.parent.mkdir(parents=True, exist_ok=True)
    later = ["-C", "no-prepopulate-passes"] if _opt() else []
    return cmd(rustc, *device_args(args, _partial(bitcode)), *later).with_env(**{units.UNIT_ENV: unit_id})


def _opt() -> str | None:
    """The toolchain's opt (the driver passes it on, units.OPT_ENV)."""
    return os.environ.get(units.OPT_ENV) or None


def optimise_marked(bitcode: Path) -> bool:
    """The unit's device bitcode, compiled without LLVM's passes, cut down to
    what the device step reads (`_KEPT` and what it reaches: everything else
    internalised and dropped) and optimised as rustc's device compile would
    (O3_OPTIONS)."""
    opt = _opt()
    if opt is None:
        return True             # rustc optimised it
    done = cmd(opt, "-passes=internalize,globaldce,default<O3>", f"-internalize-public-api-list={_KEPT}",
               *O3_OPTIONS, bitcode, "-o", bitcode).run(check=False, hint=None)
    if done.returncode != 0:
        sys.stderr.write(f"warning: cargo-mlir: optimising the device code failed:\n{done.stderr[-4000:]}\n")
    return done.returncode == 0


def _no_marked_functions(state: Path, unit_id: str, crate_name: str, args: list[str]) -> None:
    """No device compile. A unit that had marked functions before (a record
    with bitcode, or a kernel library) is recorded without bitcode, so the
    driver drops its library; otherwise nothing is written."""
    previous = units.read_unit(state, unit_id)
    if not units.has_library(state, unit_id) and not (previous and previous.bitcode):
        return
    units.write_unit(state, units.Unit(
        unit_id=unit_id, crate_name=crate_name, package=os.environ.get("CARGO_PKG_NAME", crate_name),
        crate_types=tuple(arg_value(args, "--crate-type")), test="--test" in args,
        bitcode="", build_id=os.environ.get(units.BUILD_ENV, "")))
