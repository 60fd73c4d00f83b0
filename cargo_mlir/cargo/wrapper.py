"""The rustc wrapper (RUSTC_WORKSPACE_WRAPPER), run by cargo for each
workspace crate. For units that use the support crate it

- links the unit's kernel library when the driver has made one (pass 2, and
  pass 1 of later builds, so both passes build the same thing), and
- in pass 1, after the host compile, runs rustc once more for device-friendly
  bitcode (the flags below: no vectorisation or runtime unrolling, panic=abort) and records the unit for the driver.

Everything else (`-vV`, `--print`, crates without the support crate) goes to
rustc untouched: the shell script cargo runs (`units.script_text`) execs rustc
itself for those, and runs the host compile of units that use the support
crate but have no kernel library to link; Python starts only for what needs
it (see there). A unit whose host compile expanded no marked function (the
macros record one in `marked_dir`) gets no device compile.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cargo_mlir.cargo import units
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import sha256_file
from cargo_mlir.process import cmd

DEVICE_FLAGS = (
    "-C", "opt-level=3", "-C", "codegen-units=1", "-C", "no-vectorize-loops", "-C", "no-vectorize-slp",
    "-C", "llvm-args=-unroll-runtime=false", "-C", "llvm-args=-unroll-threshold=0",
    "-C", "debuginfo=line-tables-only", "-C", "target-cpu=generic", "--cap-lints", "allow",
    # identical functions (two derivatives' primal entries) stay functions, not aliases
    # llvm-extract cannot pull out
    "-C", "llvm-args=-mergefunc-use-aliases=false",
)
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


def link_args(state: Path, unit_id: str, args: list[str]) -> list[str]:
    """Bundle the kernel library into this unit: whole-archive, so its
    registration constructor is kept wherever the unit is linked."""
    expected = os.environ.get(units.KERNELS_ENV_PREFIX + unit_id)
    lib_dir = units.kernels_dir(state, unit_id)
    lib = lib_dir / f"lib{units.library_name(unit_id)}.a"
    emits = ",".join(arg_value(args, "--emit"))
    if not expected or expected.startswith(units.RETRY_PREFIX) or not lib.exists() or "link" not in emits:
        return []
    # the library the driver recorded, byte for byte: a damaged or foreign one is not
    # linked (the build would fail, or run stale kernels); the device step makes it again
    try:
        if not expected.endswith("-" + sha256_file(lib)[:16]):
            return []
    except OSError:
        return []
    return ["-L", f"native={lib_dir}", "-l", f"static:+whole-archive={units.library_name(unit_id)}"]


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
    if not crate_names or not uses_support_crate(args):
        return cmd(*base, *args).passthrough()
    state = Path(os.environ[units.STATE_ENV])
    unit_id = codegen_value(args, "metadata") or crate_names[0]
    pass_1 = os.environ.get(units.PASS_ENV) == "1"
    # pass 1's host compile of a unit without a kernel library, run by the script (units.script_text)
    host_done = pass_1 and os.environ.pop(units.HOST_DONE_ENV, None) == "1"
    marked = units.marked_dir(state) / unit_id
    env = {units.UNIT_ENV: unit_id}
    if pass_1 and not host_done:
        # the macros create `marked` when they expand a marked function (rustc
        # always expands macros, incremental or not)
        marked.parent.mkdir(parents=True, exist_ok=True)
        marked.unlink(missing_ok=True)
        env[units.MARKED_ENV] = str(marked.parent)
    linked = [] if host_done else link_args(state, unit_id, args)
    host = cmd(*base, *args, *linked).with_env(**env)
    dropped = False
    if host_done:                   # the script ran it, and it succeeded
        status = 0
    elif pass_1 and linked and _links_an_executable(args):
        # the library of an earlier build may no longer link (a kernel that
        # references a symbol the unit no longer has): pass 1 then builds
        # without it, so the device work still runs and replaces it. The
        # kernels variable gets another value, which makes pass 2 rebuild the unit.
        first = host.run(check=False, hint=None, text=False, keep_fds=True)
        if first.returncode == 0:
            sys.stdout.buffer.write(first.stdout)
            sys.stdout.buffer.flush()
            sys.stderr.buffer.write(first.stderr)
            sys.stderr.buffer.flush()
            status = 0
        else:
            dropped = True
            env[units.KERNELS_ENV_PREFIX + unit_id] = units.RETRY_PREFIX + os.environ.get(units.BUILD_ENV, "")
            status = cmd(*base, *args).with_env(**env).passthrough()
    else:
        status = host.passthrough()
    if status != 0 or not pass_1:
        return status
    emits = ",".join(arg_value(args, "--emit"))
    if "link" not in emits:          # `cargo check`: no code, no device work
        return status
    if not marked.exists():
        _no_marked_functions(state, unit_id, crate_names[0], args)
        return status
    bitcode = units.bitcode_dir(state) / f"{crate_names[0]}-{unit_id}.bc"
    bitcode.parent.mkdir(parents=True, exist_ok=True)
    device = cmd(rustc, *device_args(args, bitcode)).with_env(**{units.UNIT_ENV: unit_id})
    result = device.run(check=False, hint=None, keep_fds=True)
    if result.returncode != 0:
        # recorded without bitcode: the driver drops the unit's library, so no stale kernels are linked
        sys.stderr.write(f"warning: cargo-mlir: the device compile of `{crate_names[0]}` failed; "
                         f"its kernels will run as plain Rust\n{result.stderr[-4000:]}\n")
    units.write_unit(state, units.Unit(
        unit_id=unit_id, crate_name=crate_names[0], package=os.environ.get("CARGO_PKG_NAME", crate_names[0]),
        crate_types=tuple(arg_value(args, "--crate-type")), test="--test" in args,
        bitcode=str(bitcode) if result.returncode == 0 else "", build_id=os.environ.get(units.BUILD_ENV, ""),
        device_failed=result.returncode != 0, library_dropped=dropped, dependency_dirs=dependency_dirs(args)))
    return status


def _links_an_executable(args: list[str]) -> bool:
    """A unit whose compile links (a test harness, a binary, a shared library):
    the only kind where a kernel library can fail to link."""
    return "--test" in args or any(t not in ("lib", "rlib", "staticlib") for t in arg_value(args, "--crate-type"))


def _no_marked_functions(state: Path, unit_id: str, crate_name: str, args: list[str]) -> None:
    """No device compile. A unit that had marked functions before (a record
    with bitcode, or a kernel library) is recorded without bitcode, so the
    driver drops its library; otherwise nothing is written."""
    previous = units.read_unit(state, unit_id)
    if not os.environ.get(units.KERNELS_ENV_PREFIX + unit_id) and not (previous and previous.bitcode):
        return
    units.write_unit(state, units.Unit(
        unit_id=unit_id, crate_name=crate_name, package=os.environ.get("CARGO_PKG_NAME", crate_name),
        crate_types=tuple(arg_value(args, "--crate-type")), test="--test" in args,
        bitcode="", build_id=os.environ.get(units.BUILD_ENV, "")))
