"""The rustc wrapper's argument surgery: the device compile is the host
compile minus output, incremental and optimisation flags (in every spelling
cargo and users use), plus the device flags (no vectorisation, no runtime unrolling, panic=abort)."""

from __future__ import annotations

import sys
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
    ["--cap-lints", "warn"], ["--cap-lints=warn"],      # registry crates: DEVICE_FLAGS has its own
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
    ["-C", "linker=clang"], ["-Clink-arg=-fuse-ld=lld"], ["--cfg", "feature=\"std\""],
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
    d.mkdir(exist_ok=True)
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


SUPPORT_ARGS = ["--crate-name", "k", "--crate-type", "lib", "--emit=dep-info,metadata,link", "-C", "metadata=u1",
                "--extern", "cargo_mlir=/d/libcargo_mlir-1.rlib"]


def _fake_rustc(tmp_path: Path, body: str = "") -> Path:
    """Logs each run (its arguments and the unit's variables) to log.txt."""
    rustc = tmp_path / "fake rustc"
    rustc.write_text(f'#!/bin/sh\necho "$* unit=${{__CARGO_MLIR_UNIT:-}} marked=${{__CARGO_MLIR_MARKED_DIR:-}}" '
                     f'>> "{tmp_path}/log.txt"\n{body}\n')
    rustc.chmod(0o755)
    return rustc


def _pass_env(tmp_path: Path, pass_no: str = "1", **extra: str) -> dict[str, str]:
    from cargo_mlir.cargo import units
    return {units.WRAPPER_ENV: "1", units.STATE_ENV: str(tmp_path / "s"), units.PASS_ENV: pass_no,
            units.BUILD_ENV: "b1", **extra}


@pytest.mark.parametrize("pass_no", ["1", "2"])
@pytest.mark.parametrize("args", [
    SUPPORT_ARGS,
    ["--crate-name", "k", "--extern=cargo_mlir=/d/libcargo_mlir-1.rlib", "--emit", "link"],
    ["--crate-name", "k", "--extern", "cargo_mlir"],
])
def test_the_script_compiles_a_unit_without_marked_functions_without_python(tmp_path, args, pass_no):
    """The support crate, no marked function: the host compile is the
    script's (Python's start cost ~70 ms a unit). It names the unit's kernel
    library, an empty archive until the device step makes one."""
    from cargo_mlir.cargo import units
    rustc = _fake_rustc(tmp_path)
    result = _run_script(_script(tmp_path), str(rustc), *args, **_pass_env(tmp_path, pass_no))
    assert result.returncode == 0 and result.stderr == "", "Python started"
    state, uid = tmp_path / "s", "u1" if "metadata=u1" in args else "k"
    if "link" not in " ".join(args):        # no code (`cargo check`): rustc as it is
        assert (tmp_path / "log.txt").read_text() == f"{' '.join(args)} unit= marked=\n"
        return
    marked = state / "marked" if pass_no == "1" else ""
    flags = " ".join(units.library_flags(state, uid))
    assert (tmp_path / "log.txt").read_text() == f"{' '.join(args)} {flags} unit={uid} marked={marked}\n"
    assert units.library_path(state, uid).read_bytes() == units.PLACEHOLDER
    # a library the device step made is kept
    units.library_path(state, uid).write_bytes(units.PLACEHOLDER + b"objects")
    assert _run_script(_script(tmp_path), str(rustc), *args, **_pass_env(tmp_path, pass_no)).returncode == 0
    assert units.library_path(state, uid).read_bytes() == units.PLACEHOLDER + b"objects"


def test_the_script_passes_a_failed_host_compile_on(tmp_path):
    rustc = _fake_rustc(tmp_path, "exit 3")
    result = _run_script(_script(tmp_path), str(rustc), *SUPPORT_ARGS, **_pass_env(tmp_path))
    assert result.returncode == 3 and result.stderr == ""


@pytest.mark.parametrize("case", ["marked", "recorded before", "artifact", "argfile"])
def test_the_script_starts_the_python_wrapper_when_the_unit_needs_it(tmp_path, case):
    from cargo_mlir.cargo import units
    state = tmp_path / "s"
    # the macros mark the unit when they expand a marked function
    rustc = _fake_rustc(tmp_path, 'for a in "$@"; do case $a in --emit=llvm-bc=*) : > "${a#--emit=llvm-bc=}" ;; esac; '
                                  'done; case "$*" in *llvm-bc*) ;; *) [ -z "$__CARGO_MLIR_MARKED_DIR" ] || '
                                  ': > "$__CARGO_MLIR_MARKED_DIR/$__CARGO_MLIR_UNIT" ;; esac')
    args, env = list(SUPPORT_ARGS), _pass_env(tmp_path)
    if case == "recorded before":
        units.write_unit(state, units.Unit("u1", "k", "k", ("lib",), False, "/x.bc", "b0"))
    elif case == "artifact":         # a final link, while there are kernel libraries
        args = [a if a != "lib" else "bin" for a in args]
        units.ensure_library(state, "u0")
    elif case == "argfile":
        args = [f"@{tmp_path}/argfile"]
        (tmp_path / "argfile").write_text("\n".join(SUPPORT_ARGS))
    result = _run_script(_script(tmp_path), str(rustc), *args, **env)
    assert "cargo_mlir.cargo.wrapper" in result.stderr        # Python started, and without site-packages
    assert "import time:" in result.stderr and " site\n" not in result.stderr
    log = (tmp_path / "log.txt").read_text().splitlines()
    host = [line for line in log if "llvm-bc" not in line]
    assert len(host) == 1, log                          # the host compile ran once, by the script or by Python
    if case in ("marked", "recorded before"):
        assert units.read_unit(state, "u1").build_id == "b1"
    if case == "marked":                                # and the device compile after it
        assert any("--emit=llvm-bc=" in line for line in log), log


@pytest.mark.parametrize("still_marked", [True, False])
def test_a_unit_marked_before_gets_its_device_compile_beside_the_host_compile(tmp_path, still_marked):
    """The device compile (rustc for bitcode, the longer of the two) starts with
    the host compile; it is stopped when the unit turns out to have no marked
    function now, and its bitcode is used only when complete."""
    from cargo_mlir.cargo import units
    state = tmp_path / "s"
    units.write_unit(state, units.Unit("u1", "k", "k", ("lib",), False, "/x.bc", "b0"))
    mark = ': > "$__CARGO_MLIR_MARKED_DIR/$__CARGO_MLIR_UNIT";' if still_marked else ""
    rustc = _fake_rustc(tmp_path, f"""case "$*" in
    *llvm-bc*) echo device-started >> "{tmp_path}/log.txt"; sleep 2
               for a in "$@"; do case $a in --emit=llvm-bc=*) : > "${{a#--emit=llvm-bc=}}" ;; esac; done ;;
    *) sleep 0.5; {mark} echo host-done >> "{tmp_path}/log.txt" ;;
esac""")
    result = _run_script(_script(tmp_path), str(rustc), *SUPPORT_ARGS, **_pass_env(tmp_path))
    assert result.returncode == 0, result.stderr
    events = [line for line in (tmp_path / "log.txt").read_text().splitlines() if line.endswith(("-started", "-done"))]
    assert events[:2] == ["device-started", "host-done"]
    unit = units.read_unit(state, "u1")
    assert unit.build_id == "b1"
    bitcode = units.bitcode_dir(state) / "k-u1.bc"
    if still_marked:
        assert unit.bitcode == str(bitcode) and bitcode.exists()
    else:       # stopped before it wrote anything: recorded without bitcode (its library is dropped)
        assert unit.bitcode == "" and not bitcode.exists() and not (state / "bitcode" / "k-u1.bc.partial").exists()


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
    units.library_path(state, "u1").parent.mkdir(parents=True)
    units.library_path(state, "u1").write_bytes(units.PLACEHOLDER + b"x")   # a linked library: dropped
    wrapper._no_marked_functions(state, "u1", "k", args)
    assert units.read_unit(state, "u1").build_id == "b3"


@pytest.mark.parametrize("damage", ["truncated", "overwritten", "deleted", "another producer", "unrecorded",
                                    "record lost"])
def test_only_the_kernel_library_the_driver_recorded_is_linked(tmp_path, damage):
    """A damaged library (truncated, overwritten) would fail the link, or run
    stale kernels, until a manual clean (tests/fault_matrix.py found it): before
    pass 1 it becomes the placeholder and its unit's device work is owed, so
    pass 1 compiles it again (a retry value) and the device step makes it again."""
    import json
    from cargo_mlir.cargo import units
    from cargo_mlir.fsutil import sha256_file
    state = tmp_path
    good, lib = units.library_path(state, "good"), units.library_path(state, "u1")
    lib.parent.mkdir(parents=True)
    for path in (good, lib):
        path.write_bytes(units.PLACEHOLDER + path.name.encode() * 10)
    units.ensure_library(state, "empty")
    hashes = {"good": f"p1-{sha256_file(good)[:16]}", "u1": f"p1-{sha256_file(lib)[:16]}"}
    units.save_library_hashes(state, hashes)
    (state / "done.json").write_text(json.dumps({"good": {"kernels": 1}, "u1": {"kernels": 2}}))
    assert units.check_libraries(state, "p1") == hashes and units.failed_units(state) == []
    if damage == "truncated":
        lib.write_bytes(lib.read_bytes()[:20])
    elif damage == "overwritten":
        lib.write_bytes(units.PLACEHOLDER + b"x" * 100)
    elif damage == "deleted":
        lib.unlink()
    elif damage == "unrecorded":
        units.save_library_hashes(state, {"good": hashes["good"]})
    elif damage == "record lost":
        units.save_library_hashes(state, {"good": hashes["good"]})
        lib.write_bytes(units.PLACEHOLDER)
    made_by = "p2" if damage == "another producer" else "p1"     # every library is another's
    left = units.check_libraries(state, made_by)
    assert "u1" not in left and units.library_hashes(state) == left
    assert lib.read_bytes() == units.PLACEHOLDER
    assert units.failed_units(state) == (["good", "u1"] if made_by == "p2" else ["u1"])
    assert units.library_path(state, "empty").read_bytes() == units.PLACEHOLDER
    if made_by == "p1":
        assert left == {"good": hashes["good"]} and good.read_bytes().startswith(units.PLACEHOLDER + b"lib")
    # pass 1 compiles the unit again: a retry value of this build, the same in later passes and builds
    units.schedule_retries(state, "b7")
    assert units.retry_env(state)[units.RETRY_ENV_PREFIX + "u1"] == "b7"
    units.schedule_retries(state, "b7")
    (state / "done.json").write_text(json.dumps({"u1": {"kernels": 2}}))    # the device work succeeded
    units.schedule_retries(state, "b8")
    assert units.retry_env(state)[units.RETRY_ENV_PREFIX + "u1"] == "b7"


@pytest.mark.parametrize("case", ["links", "no kernel library named", "a stale library", "another error"])
def test_the_script_links_an_artifact_and_records_its_libraries_without_python(tmp_path, case):
    """The link of a program while kernel libraries exist: the script adds the
    libraries' directory, and the libraries rustc linked to the dep-info; a
    failure that names a kernel library goes to Python (wrapper.link_artifact
    links without it), any other is rustc's."""
    from cargo_mlir.cargo import units
    state = tmp_path / "s"
    units.ensure_library(state, "u1")
    out = tmp_path / "deps"
    out.mkdir()
    dep_info = out / "app-9.d"
    fail = {"links": "false", "no kernel library named": "false", "a stale library": "true",
            "another error": "true"}[case]
    printed = ('"cc" "-lcargo_mlir_kernels_u2" "x" "-lcargo_mlir_kernels_u1" "-lcargo_mlir_kernels_u2"'
               if case != "no kernel library named" else '"cc" "-lc"')
    mention = "libcargo_mlir_kernels_u1.a" if case == "a stale library" else "libfoo.a"
    rustc = _fake_rustc(tmp_path, f"""for a in "$@"; do case $a in --print=link-args=*) out=${{a#--print=link-args=}} ;; esac; done
printf '%s: src/main.rs\\n\\nsrc/main.rs:\\n' "{dep_info}" > "{dep_info}"
if {fail}; then echo "error: undefined symbol in {mention}" >&2; exit 1; fi
printf '%s' '{printed}' > "$out"
echo '{{"message":"ok"}}' >&2""")
    args = ["--crate-name", "app", "--crate-type", "bin", "--emit=dep-info,link", "-C", "extra-filename=-9",
            "--out-dir", str(out), "src/main.rs"]
    result = _run_script(_script(tmp_path), str(rustc), *args, **_pass_env(tmp_path))
    python = "cargo_mlir.cargo.wrapper" in result.stderr
    log = (tmp_path / "log.txt").read_text().splitlines()
    assert f"-L native={state}/lib --print=link-args={state}/links/" in log[0]
    if case == "a stale library":
        assert python and result.returncode == 1 and len(log) == 3, log      # Python: once as it is, once without
        return
    assert not python, result.stderr
    if case == "another error":
        assert result.returncode == 1 and "undefined symbol in libfoo.a" in result.stderr
        return
    assert result.returncode == 0 and result.stderr == '{"message":"ok"}\n'
    libs = "" if case == "no kernel library named" else \
        f" {units.library_path(state, 'u2')} {units.library_path(state, 'u1')}"
    assert dep_info.read_text() == f"{dep_info}: src/main.rs{libs}\n\nsrc/main.rs:\n"
    assert list((state / "links").iterdir()) == []


def test_the_dep_info_of_a_link_names_the_libraries_it_linked(tmp_path):
    args = ["--crate-name", "app", "--emit=dep-info,link", "-C", "extra-filename=-ab12", "--out-dir", str(tmp_path)]
    assert wrapper.dep_info_path(args) == tmp_path / "app-ab12.d"
    assert wrapper.dep_info_path(["--crate-name", "app", "--emit=link", "--out-dir", str(tmp_path)]) is None
    assert wrapper.dep_info_path(["--emit", "dep-info=/x/y.d,link"]) == Path("/x/y.d")
    d = tmp_path / "app-ab12.d"
    d.write_text(f"{tmp_path}/app-ab12.d: src/main.rs src/a.rs\n\n{tmp_path}/app-ab12: src/main.rs\n\n"
                 "src/main.rs:\n\n# env-dep:X=1\n")
    wrapper.record_inputs(d, [Path("/t/lib/libk.a"), Path("/with space/libk.a")])
    lines = d.read_text().splitlines()
    # the first rule is the one cargo reads; a space is escaped as cargo unescapes it
    assert lines[0] == f"{tmp_path}/app-ab12.d: src/main.rs src/a.rs /t/lib/libk.a /with\\ space/libk.a"
    assert lines[2:] == [f"{tmp_path}/app-ab12: src/main.rs", "", "src/main.rs:", "", "# env-dep:X=1"]


@pytest.mark.parametrize("case", ["links", "a stale library", "another error"])
def test_a_link_records_its_libraries_and_leaves_out_one_that_no_longer_links(tmp_path, monkeypatch, capfd, case):
    """rustc (a stand-in) prints its link arguments; a library made for the old
    version of its unit fails the link until the empty ones are searched first."""
    from cargo_mlir.cargo import units
    state = tmp_path / "s"
    for uid in ("u1", "u2"):
        units.library_path(state, uid).parent.mkdir(parents=True, exist_ok=True)
        units.library_path(state, uid).write_bytes(units.PLACEHOLDER + b"objects")
    fail = {"links": "false", "a stale library": 'case "$*" in *lib-empty*) false ;; *) true ;; esac',
            "another error": "true"}[case]
    rustc = tmp_path / "rustc"
    rustc.write_text(f"""#!/bin/sh
for a in "$@"; do case $a in --print=link-args=*) out=${{a#--print=link-args=}} ;; esac; done
if {fail}; then
    echo "error: linking failed: undefined symbol: x in {state}/lib/libcargo_mlir_kernels_u1.a" >&2; exit 1
fi
printf '"cc" "-Wl,--whole-archive" "-lcargo_mlir_kernels_u2" "-lcargo_mlir_kernels_u1" "-Wl,--no-whole-archive"' > "$out"
echo '{{"message":"ok"}}' >&2
""")
    rustc.chmod(0o755)
    dep_info = tmp_path / "app-1.d"
    dep_info.write_text(f"{dep_info}: src/main.rs\n")
    args = ["--crate-name", "app", "--crate-type", "bin", "--emit=dep-info,link", "-C", "extra-filename=-1",
            "--out-dir", str(tmp_path)]
    monkeypatch.setenv(units.BUILD_ENV, "b5")
    status = wrapper.link_artifact([str(rustc)], args, [], {}, state)
    err = capfd.readouterr().err
    if case == "another error":
        assert status == 1 and "undefined symbol" in err and not units.relink_path(state).exists()
        assert dep_info.read_text() == f"{dep_info}: src/main.rs\n"
        return
    assert status == 0 and err == '{"message":"ok"}\n'
    named = f"{dep_info}: src/main.rs {units.library_path(state, 'u1')} {units.library_path(state, 'u2')}"
    if case == "links":
        assert dep_info.read_text() == named + "\n" and not units.relink_path(state).exists()
    else:       # linked with empty libraries: pass 2 links again (a file that never exists)
        assert dep_info.read_text() == f"{named} {state / 'lib' / '.relink'}\n"
        assert units.relink_path(state).read_text() == "b5"
        assert (state / "lib-empty" / "libcargo_mlir_kernels_u1.a").read_bytes() == units.PLACEHOLDER
    assert list((state / "links").iterdir()) == []


# ---------------------------------------------------------------- records of how cargo compiles libraries

def _recorder(tmp_path: Path, member: str = "/no/member/wrapper") -> Path:
    from cargo_mlir.cargo import units
    path = tmp_path / "rustc-recorder"
    path.write_text(units.recorder_text(member, sys.executable, str(Path(units.__file__).resolve().parents[2])))
    path.chmod(0o755)
    return path


LIB_ARGS = ["--crate-name", "extmath", "--edition=2021", "/x/extmath/src/lib.rs", "--crate-type", "lib",
            "-C", "metadata=77", "-C", "extra-filename=-86c1", "--out-dir", "/t/debug/deps", "--cfg", "x=\"a b\""]


@pytest.mark.parametrize("script", ["member", "recorder"])
def test_the_scripts_record_how_a_library_is_compiled(tmp_path, script):
    from cargo_mlir.cargo import rustc_record, units
    state = tmp_path / "state"
    units.rustc_records_dir(state).mkdir(parents=True)
    path = _script(tmp_path) if script == "member" else _recorder(tmp_path)
    result = _run_script(path, "printf", "%s|", *LIB_ARGS, **{
        units.STATE_ENV: str(state), "CARGO_PKG_VERSION_MINOR": "3", "CARGO_PKG_DESCRIPTION": "a\nb 'c' $d",
        "CARGO_MANIFEST_DIR": "/x/extmath", "SECRET_TOKEN": "never recorded"})
    assert result.returncode == 0 and result.stdout == "".join(f"{a}|" for a in LIB_ARGS), result.stderr
    record = rustc_record.read(state, "libextmath-86c1")
    assert record is not None and record.rustc == "printf" and record.args == ["%s|", *LIB_ARGS]
    assert record.cwd == str(Path.cwd()) and record.crate_name == "extmath"
    env = dict(record.env)
    assert env["CARGO_PKG_VERSION_MINOR"] == "3" and env["CARGO_PKG_DESCRIPTION"] == "a\nb 'c' $d"
    assert "SECRET_TOKEN" not in env and "never recorded" not in units.rustc_records_dir(state).joinpath(
        "libextmath-86c1").read_text(errors="replace")


@pytest.mark.parametrize("args", [
    ["--crate-name", "build_script_build", "--crate-type", "bin", "build.rs"],
    ["--crate-name", "app", "--test", "src/main.rs"],
    ["-", "--crate-name", "___", "--print=file-names", "--crate-type", "lib"],     # cargo's probe
    ["@/tmp/argfile"],
    ["-vV"],
])
def test_the_recorder_records_only_library_compiles(tmp_path, args):
    from cargo_mlir.cargo import units
    state = tmp_path / "state"
    units.rustc_records_dir(state).mkdir(parents=True)
    result = _run_script(_recorder(tmp_path), "true", *args, **{units.STATE_ENV: str(state)})
    assert result.returncode == 0 and list(units.rustc_records_dir(state).iterdir()) == []


def test_the_recorder_does_the_member_wrappers_work_and_chains_the_users_wrapper(tmp_path):
    from cargo_mlir.cargo import units
    state = tmp_path / "state"
    units.rustc_records_dir(state).mkdir(parents=True)
    member = tmp_path / "member wrapper"
    member.write_text('#!/bin/sh\necho "member:$1"\n')
    member.chmod(0o755)
    user = tmp_path / "sccache"
    user.write_text('#!/bin/sh\necho "user:$1"\nexec "$@"\n')
    user.chmod(0o755)
    recorder = _recorder(tmp_path, str(member))
    # a member, no user wrapper: the recorder does the member wrapper's work (records, runs rustc)
    first = _run_script(recorder, str(member), "echo", *LIB_ARGS, **{units.STATE_ENV: str(state)})
    assert first.stdout == " ".join(LIB_ARGS) + "\n" and first.returncode == 0
    assert [p.name for p in units.rustc_records_dir(state).iterdir()] == ["libextmath-86c1"]
    # with one: the user's wrapper runs the member wrapper
    chained = _run_script(recorder, str(member), "rustc", *LIB_ARGS,
                          **{units.STATE_ENV: str(state), units.OUTER_CHAIN_ENV: str(user)})
    assert chained.stdout == f"user:{member}\nmember:rustc\n"
    second = _run_script(recorder, "true", *LIB_ARGS, **{units.STATE_ENV: str(state), units.OUTER_CHAIN_ENV: str(user)})
    assert second.stdout == "user:true\n" and second.returncode == 0
    assert [p.name for p in units.rustc_records_dir(state).iterdir()] == ["libextmath-86c1"]


def test_a_record_cut_short_or_garbage_is_not_trusted(tmp_path):
    from cargo_mlir.cargo import rustc_record, units
    state = tmp_path / "state"
    units.rustc_records_dir(state).mkdir(parents=True)
    _run_script(_recorder(tmp_path), "true", *LIB_ARGS, **{units.STATE_ENV: str(state)})
    good = rustc_record.record_path(state, "libextmath-86c1").read_bytes()
    assert rustc_record.parse("s", good) is not None
    for bad in (good[:-1], good[:len(good) // 2], b"", b"\xff\x00garbage\x00end\x00",
                good.replace(b"CARGO_", b"OTHER_", 1) if b"CARGO_" in good else b"x",
                good.replace(units.RECORD_MAGIC.encode(), b"cargo-mlir-rustc-0")):
        assert rustc_record.parse("s", bad) is None
    assert rustc_record.read(state, "libnothing-1") is None


def test_a_build_scripts_rustc_env_reaches_the_dependency_compile(tmp_path):
    from cargo_mlir.cargo import rustc_record
    out = tmp_path / "build" / "extmath-1" / "out"
    out.mkdir(parents=True)
    (out.parent / "output").write_text("cargo:rustc-cfg=fast\ncargo:rustc-env=GIT_HASH=abc=d\ncargo::rustc-env=B=2\n")
    record = rustc_record.RustcRecord("libextmath-1", "/x", ("rustc",), (("OUT_DIR", str(out)),))
    assert record.environ() == {"OUT_DIR": str(out), "GIT_HASH": "abc=d", "B": "2"}


def test_a_dependency_is_compiled_as_a_lib_at_the_hosts_optimisation():
    debug = wrapper.dependency_device_args(
        ["--crate-name", "m", "--crate-type", "lib", "--crate-type=cdylib", "--cap-lints", "allow", "src/lib.rs"], BC)
    assert debug.count("--crate-type") == 1 and debug[debug.index("--crate-type") + 1] == "lib"
    assert "--crate-type=cdylib" not in debug and debug.count("--cap-lints") == 1
    # the host build of a debug profile makes nothing cross-crate inlinable: neither does this one
    assert "opt-level=0" in debug and "opt-level=3" not in debug and "debug-assertions=on" in debug
    release = wrapper.dependency_device_args(["--crate-name", "m", "--crate-type", "lib", "-C", "opt-level=3"], BC)
    assert "opt-level=3" in release and "opt-level=0" not in release
    assert wrapper.dependency_dirs(["-L", "dependency=/t/deps", "-L", "native=/n", "--extern", "a=/o/liba.rlib",
                                    "--extern", "proc_macro", "--extern", "b=/t/deps/libb.rmeta"]) == ("/t/deps", "/o")
