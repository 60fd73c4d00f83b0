"""The rustc wrapper's argument surgery: the device compile is the host
compile minus output, incremental and optimisation flags (in every spelling
cargo and users use), plus the device flags (no vectorisation, no runtime unrolling, panic=abort)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargo_mlir.cargo import wrapper

BC = Path("/t/cargo-mlir/bitcode/saxpy-abc.bc")

# what cargo 1.95 passes for `cargo build --release` of a lib crate
CARGO_LIB = [
    "--crate-name", "saxpy", "--edition=2021", "src/lib.rs", "--error-format=json",
    "--json=diagnostic-rendered-ansi,artifacts,future-incompat", "--crate-type", "lib",
    "--emit=dep-info,metadata,link", "-C", "opt-level=3", "-C", "embed-bitcode=no", "-C", "strip=debuginfo",
    "-C", "metadata=4ab743df125b7154", "-C", "extra-filename=-4ab743df125b7154",
    "--out-dir", "/t/release/deps", "-C", "incremental=/t/release/incremental",
    "-L", "dependency=/t/release/deps",
    "--extern", "cargo_mlir=/t/release/deps/libcargo_mlir-0123.rlib",
]
KEPT = [
    "--crate-name", "saxpy", "--edition=2021", "src/lib.rs", "--crate-type", "lib",
    "-C", "metadata=4ab743df125b7154", "-C", "extra-filename=-4ab743df125b7154",
    "-L", "dependency=/t/release/deps", "--extern", "cargo_mlir=/t/release/deps/libcargo_mlir-0123.rlib",
]


def test_device_args_for_a_cargo_lib_compile():
    out = wrapper.device_args(CARGO_LIB, BC)
    assert out == KEPT + list(wrapper.DEVICE_FLAGS) + [*wrapper.PANIC_ABORT, f"--emit=llvm-bc={BC}"]


@pytest.mark.parametrize("dropped", [
    ["-C", "incremental=/i"], ["-Cincremental=/i"],
    ["-C", "opt-level=1"], ["-Copt-level=s"],
    ["-C", "debuginfo=2"], ["-Cdebuginfo=2"],
    ["-C", "codegen-units=16"], ["-Ccodegen-units=16"],
    ["-C", "panic=unwind"], ["-Cpanic=unwind"],
    ["-C", "target-cpu=native"], ["-Ctarget-cpu=native"],
    ["-C", "lto"], ["-Clto=fat"],
    ["--emit=link"], ["--emit", "link"],
    ["--out-dir", "/o"], ["--out-dir=/o"],
    ["--error-format", "json"], ["--error-format=json"],
    ["--json", "artifacts"], ["--json=artifacts"],
    ["-o", "/o/x"],
])
def test_flags_the_device_compile_replaces(dropped):
    args = ["--crate-name", "k", "src/lib.rs", *dropped, "-C", "metadata=1"]
    out = wrapper.device_args(args, BC)
    assert out[:5] == ["--crate-name", "k", "src/lib.rs", "-C", "metadata=1"]
    # nothing of the dropped flag survives, values included (DEVICE_FLAGS
    # has its own opt-level/debuginfo/target-cpu, so compare the prefix)
    assert out[5:] == list(wrapper.DEVICE_FLAGS) + [*wrapper.PANIC_ABORT, *wrapper.profile_checks(args),
                                                    f"--emit=llvm-bc={BC}"]


@pytest.mark.parametrize("kept", [
    ["-C", "linker=clang"], ["-Clink-arg=-fuse-ld=lld"], ["--cfg", "feature=\"std\""], ["--cap-lints", "warn"],
    ["-C", "llvm-args=-x"], ["--target", "x86_64-unknown-linux-gnu"],
])
def test_other_flags_pass_through_in_order(kept):
    args = ["--crate-name", "k", *kept, "src/lib.rs"]
    assert wrapper.device_args(args, BC)[:len(args)] == args


def test_device_flags_are_the_findings_recipe():
    flags = wrapper.device_args(["--crate-name", "k"], BC)
    for want in ("opt-level=3", "no-vectorize-loops", "no-vectorize-slp", "llvm-args=-unroll-runtime=false",
                 "llvm-args=-unroll-threshold=0", "target-cpu=generic", "debuginfo=line-tables-only"):
        assert flags[flags.index(want) - 1] == "-C"
    assert flags[-1] == f"--emit=llvm-bc={BC}"


def test_test_units_become_libraries_with_cfg_test():
    # the libtest harness cannot be built with panic=abort on stable; the
    # kernels are the same without it, so a test unit is compiled as a lib
    out = wrapper.device_args(["--crate-name", "k", "--test", "src/lib.rs"], BC)
    assert "--test" not in out
    assert out[out.index("--cfg") + 1] == "test" and out[out.index("--crate-type") + 1] == "lib"
    assert out[out.index("panic=abort") - 1] == "-C"
    assert out[-1] == f"--emit=llvm-bc={BC}"


def test_arg_value_both_spellings_and_repeats():
    args = ["--extern", "a=/x", "--extern=b=/y", "--crate-type", "lib", "--extern"]   # trailing flag: no value
    assert wrapper.arg_value(args, "--extern") == ["a=/x", "b=/y"]
    assert wrapper.arg_value(args, "--crate-type") == ["lib"]
    assert wrapper.arg_value(["--externals=1"], "--extern") == []     # a longer flag is not this one
    assert wrapper.arg_value([], "--emit") == []


def test_codegen_value_both_spellings():
    assert wrapper.codegen_value(["-C", "metadata=abc"], "metadata") == "abc"
    assert wrapper.codegen_value(["-Cmetadata=def"], "metadata") == "def"
    assert wrapper.codegen_value(["-C", "extra-filename=-x"], "metadata") is None


@pytest.mark.parametrize("args, uses", [
    (["--extern", "cargo_mlir=/d/libcargo_mlir-1.rlib"], True),
    (["--extern=cargo_mlir=/d/libcargo_mlir-1.rlib"], True),
    (["--extern", "cargo_mlir"], True),                                          # path-less form
    (["--extern", "cargo_mlir_macros=/d/libcargo_mlir_macros-1.so"], False),   # the proc macro alone
    (["--extern", "serde=/d/libserde.rlib", "src/cargo_mlir.rs"], False),
    ([], False),
])
def test_uses_support_crate(args, uses):
    assert wrapper.uses_support_crate(args) is uses


@pytest.mark.parametrize("host, device", [
    ([], ["-C", "debug-assertions=on"]),                          # cargo's dev profile: opt-level 0
    (["-C", "opt-level=0"], ["-C", "debug-assertions=on"]),
    (["-C", "opt-level=3"], []),                                  # release: no checks, as on the host
    (["-C", "opt-level=3", "-C", "debug-assertions=on"], []),      # explicit: passed through as it is
    (["-C", "overflow-checks=on"], []),
    (["-Cdebug-assertions=off"], []),
])
def test_the_device_compile_keeps_the_profiles_checks(host, device):
    """Debug builds panic on overflow: the device bitcode (built at opt-level 3)
    must keep those checks, or the MLIR code would silently wrap."""
    args = ["--crate-name", "k", "src/lib.rs", *host]
    out = wrapper.device_args(args, BC)
    assert wrapper.profile_checks(args) == tuple(device)
    assert out[-1] == f"--emit=llvm-bc={BC}" and out[-1 - len(device):-1] == device
    for flag in host:
        assert flag in out or flag.startswith("opt-level") or "opt-level" in flag


# ---------------------------------------------------------------- the shell script cargo runs

def _script(tmp_path: Path) -> Path:
    import sys
    from cargo_mlir.cargo import units
    d = tmp_path / "state with space"
    d.mkdir()
    path = d / "rustc-wrapper"
    path.write_text(units.script_text(sys.executable, str(Path(units.__file__).resolve().parents[2])))
    path.chmod(0o755)
    return path


def _run_script(script: Path, *args: str, **env: str):
    import os
    import subprocess
    base = {k: v for k, v in os.environ.items() if not k.startswith("__CARGO_MLIR")}
    # Python prints its import times when it starts: stderr shows whether it did
    return subprocess.run([str(script), *args], capture_output=True, text=True,
                          env={**base, "PYTHONPROFILEIMPORTTIME": "1", **env})


@pytest.mark.parametrize("args", [
    ["-vV"], ["-", "--crate-name", "___", "--print=file-names"],
    ["--crate-name", "k", "--extern", "serde=/d/libserde.rlib"],
    ["--crate-name", "k", "--extern", "cargo_mlir_macros=/d/m.so"],
    ["--crate-name", "k", "src/cargo_mlir.rs", "cargo_mlir=/x"],       # not after --extern
    ["with space", "--extern"],
])
def test_the_script_runs_rustc_without_python_when_the_support_crate_is_absent(tmp_path, args):
    result = _run_script(_script(tmp_path), "printf", "%s|", *args)
    assert result.returncode == 0 and result.stdout == "".join(f"{a}|" for a in args)
    assert result.stderr == "", "Python started"


def test_the_script_chains_the_users_wrapper(tmp_path):
    from cargo_mlir.cargo import units
    user = tmp_path / "user wrapper"
    user.write_text('#!/bin/sh\necho "user:$1"\n')
    user.chmod(0o755)
    result = _run_script(_script(tmp_path), "rustc", "-vV", **{units.CHAIN_ENV: str(user)})
    assert result.stdout == "user:rustc\n" and result.stderr == ""


@pytest.mark.parametrize("args", [
    ["--crate-name", "k", "--extern", "cargo_mlir=/d/libcargo_mlir-1.rlib"],
    ["--crate-name", "k", "--extern=cargo_mlir=/d/libcargo_mlir-1.rlib"],
    ["--crate-name", "k", "--extern", "cargo_mlir"],
    ["@/tmp/argfile"],
])
def test_the_script_starts_the_python_wrapper_for_the_support_crate(tmp_path, args):
    from cargo_mlir.cargo import units
    # pass 2 of a unit without a kernel library: the wrapper runs the host compile as it is
    result = _run_script(_script(tmp_path), "printf", "%s|", *args,
                         **{units.WRAPPER_ENV: "1", units.STATE_ENV: str(tmp_path / "s"), units.PASS_ENV: "2"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(f"{a}|" for a in args)
    assert "cargo_mlir.cargo.wrapper" in result.stderr        # Python started, and without site-packages
    assert "import time:" in result.stderr and " site\n" not in result.stderr


def test_a_unit_without_marked_functions_is_recorded_only_when_it_had_some(tmp_path, monkeypatch):
    from cargo_mlir.cargo import units
    state = tmp_path
    args = ["--crate-name", "k", "--crate-type", "lib"]
    monkeypatch.setenv(units.BUILD_ENV, "b2")
    wrapper._no_marked_functions(state, "u1", "k", args)
    assert units.read_units(state) == []                       # never had any: nothing written
    units.write_unit(state, units.Unit("u1", "k", "k", ("lib",), False, "/x.bc", "b1"))
    wrapper._no_marked_functions(state, "u1", "k", args)
    assert units.read_unit(state, "u1").bitcode == "" and units.read_unit(state, "u1").build_id == "b2"
    monkeypatch.setenv(units.BUILD_ENV, "b3")
    wrapper._no_marked_functions(state, "u1", "k", args)      # already recorded without: no write
    assert units.read_unit(state, "u1").build_id == "b2"
    monkeypatch.setenv(units.KERNELS_ENV_PREFIX + "u1", "lib-hash")   # a linked library: dropped
    wrapper._no_marked_functions(state, "u1", "k", args)
    assert units.read_unit(state, "u1").build_id == "b3"


def test_only_the_kernel_library_the_driver_recorded_is_linked(tmp_path, monkeypatch):
    """A damaged library (truncated, overwritten) would fail the link, or run stale
    kernels, until a manual clean (tests/fault_matrix.py found it): it is left out
    and the device step makes it again."""
    from cargo_mlir.cargo import units
    from cargo_mlir.fsutil import sha256_file
    lib_dir = units.kernels_dir(tmp_path, "u1")
    lib_dir.mkdir(parents=True)
    lib = lib_dir / f"lib{units.library_name('u1')}.a"
    lib.write_bytes(b"!<arch>\n" + b"x" * 100)
    args = ["--emit=dep-info,link"]
    monkeypatch.setenv(units.KERNELS_ENV_PREFIX + "u1", f"producer-{sha256_file(lib)[:16]}")
    assert wrapper.link_args(tmp_path, "u1", args)[-1] == f"static:+whole-archive={units.library_name('u1')}"
    lib.write_bytes(b"!<arch>\n" + b"x" * 50)                       # truncated
    assert wrapper.link_args(tmp_path, "u1", args) == []
    lib.unlink()
    assert wrapper.link_args(tmp_path, "u1", args) == []
