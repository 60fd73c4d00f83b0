"""`#[cargo_mlir::accelerate]` under PLAIN cargo (no cargo mlir): the crate
builds, the functions are ordinary Rust (same results, same panics as the same
code without the attribute), the markers and C entries the pipeline reads are
in the object code, and misuses are compile errors at the right token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import copy_crate, llvm, run

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def crate(tmp_path_factory):
    return copy_crate(FIXTURES / "accelerate_plain", tmp_path_factory.mktemp("accel") / "accelerate_plain")


def position(src: str, needle: str, top: bool = False) -> tuple[int, int]:
    """1-based line and column of `needle` in a source text (its only
    occurrence; with `top`, its only one at the start of a line)."""
    starts = [m.start() for m in re.finditer(("^" if top else "") + re.escape(needle), src, re.M)]
    assert len(starts) == 1, needle
    before = src[:starts[0]]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


@pytest.mark.parametrize("profile", ["dev", "release"])
def test_plain_cargo_test_passes(crate, profile):
    result = run(["cargo", "test", "--profile", profile], crate)
    assert result.returncode == 0, result.stdout + result.stderr
    # unit tests (results equal to the code without the attribute, panics) …
    assert re.search(r"test result: ok\. 6 passed; 0 failed", result.stdout), result.stdout
    # … and tests/direct.rs (a hand-registered table with direct entries)
    assert re.search(r"test result: ok\. 3 passed; 0 failed", result.stdout), result.stdout
    for name in ("tests::bad_index_panics - should panic", "declined_call_panics_in_the_rust_body - should panic",
                 "tests::bad_index_unwinds_with_the_plain_rust_message_and_location", "declined_call_unwinds"):
        assert f"test {name} ... ok" in result.stdout, name


def test_plain_run_matches_the_code_without_the_attribute(crate):
    quiet = run(["cargo", "run", "-q"], crate)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    lines = quiet.stdout.splitlines()
    assert len(lines) == 12, quiet.stdout
    for line in lines:            # `name <with the attribute> <without>`
        name, ours, theirs = line.split()
        assert ours == theirs, line
    # CARGO_MLIR_LOG=info: once per function (each is called twice), not per call
    logged = run(["cargo", "run", "-q"], crate, CARGO_MLIR_LOG="info")
    assert logged.returncode == 0, logged.stderr
    for name in ("matmul", "dot", "scale4", "axpy_raw", "pick"):
        says = [l for l in logged.stderr.splitlines() if f"accelerate `{name}`" in l]
        assert says == [f"[cargo-mlir] accelerate `{name}` runs as plain Rust (not built by cargo mlir)"], \
            logged.stderr
    assert logged.stderr.count("kernel `saxpy` ran on host (plain Rust, not built by cargo mlir)") == 2


def file_hash(path: str) -> str:
    """The macros' short stable hash of a source path (FNV-1a, 32 bits) in symbols."""
    h = 0x811C9DC5
    for b in path.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def test_markers_and_entries_are_in_the_object_code(crate):
    assert run(["cargo", "build", "--lib"], crate).returncode == 0
    rlib = crate / "target" / "debug" / "libaccelerate_plain.rlib"
    src = (crate / "src" / "lib.rs").read_text()
    data = rlib.read_bytes()
    markers = {m.decode() for m in re.findall(rb"cargo-mlir-marker/2;[^\0]*\0", data)}
    nm = llvm("llvm-nm", "--defined-only", rlib)
    expected = {
        "matmul": ("pub fn matmul(", "usize,usize,usize,&[f32],&[f32],&mut [f32]", "", ""),
        "dot": ("pub fn dot(", "&[f32],&[f32]", "f32", "exact"),
        "axpy_raw": ("pub unsafe fn axpy_raw(", "usize,f32,*const f32,*mut f32", "", ""),
        "scale4": ("pub fn scale4(", "f64,&mut [f64; 4],&[f64; 4]", "f64", "reassociate"),
        "pick": ("pub fn pick(", "&[i32],usize", "i32", ""),
        "count_above": ("pub fn count_above(", "i64,u32,&[i64],bool", "bool", ""),
        "mix": ("pub(crate) fn mix(", "u32,u64,isize,i32", "usize", ""),
    }
    for name, (decl, params, ret, flags) in expected.items():
        line, col = position(src, decl, top=True)
        col += len(decl) - len(name) - 1                   # the name's column
        unique = f"accelerate_plain_{name}_{file_hash('src/lib.rs')}_{line}_{col}"
        marker = (f"cargo-mlir-marker/2;accelerate;{name};__cargo_mlir_accel_{unique};{params};{ret};{flags};"
                  f"src/lib.rs:{line}\0")
        assert marker in markers, (marker, markers)
        assert re.search(rf"^[0-9a-f]+ T __cargo_mlir_accel_{unique}$", nm, re.M), (unique, nm)
        assert re.search(rf"^[0-9a-f]+ [DdRr] __cargo_mlir_marker_accelerate_{unique}$", nm, re.M), (unique, nm)
    # a kernel's marker is v2 too: empty return type and flags
    line, col = position(src, "pub fn saxpy(", top=True)
    kernel = (f"cargo-mlir-marker/2;kernel;saxpy;__cargo_mlir_kernel_accelerate_plain_saxpy_{file_hash('src/lib.rs')}_{line}_{col + 7};"
              f"f32,&[f32],&mut [f32];;;src/lib.rs:{line}\0")
    assert kernel in markers, (kernel, markers)
    assert len(markers) == len(expected) + 2            # and fib's
    # no unique name gets two markers; no other kind
    assert all(m.split(";")[1] in ("kernel", "accelerate") for m in markers)


def test_misuses_are_compile_errors_at_the_offending_token(tmp_path):
    crate = copy_crate(FIXTURES / "accelerate_misuse", tmp_path / "accelerate_misuse")
    result = run(["cargo", "build"], crate)
    assert result.returncode != 0
    err = result.stderr
    src = (crate / "src" / "lib.rs").read_text()
    allowed = "an #[accelerate] function takes f32, f64, i32, u32, i64, u64, usize, isize, bool, &[T], &mut [T]"
    expect = [
        ("an #[accelerate] function cannot be generic", "generic<T", 7, allowed),
        ("unsupported #[accelerate] argument type `&Vec<f32>`", "v: &Vec<f32>", 3, allowed),
        ("unknown #[accelerate] option `fast`", "accelerate(fast)", 11, "`exact`"),
        ("#[accelerate] takes one option, not both `exact` and `reassociate`", "exact, reassociate", 7, "`exact`"),
        ("unsupported #[accelerate] return type `Vec<f32>`", "-> Vec<f32>", 3, "returns () or one scalar"),
        ("an #[accelerate] function cannot be `async`", "async fn", 0, ""),
        ("#[accelerate] goes on free functions, not methods", "&self", 0, ""),
        ("#[accelerate] goes on free functions, not on associated functions (this body names `Self`)",
         "Self::twice", 0, ""),
        ("unsupported #[accelerate] argument type `*const *const f32`", "*const *const", 0, allowed),
    ]
    for message, anchor, offset, also in expect:
        assert message in err, (message, err)
        at = err[err.index(message):]
        first = at.splitlines()[0]
        assert also in first, first
        line, col = position(src, anchor)
        assert at.splitlines()[1].strip() == f"--> src/lib.rs:{line}:{col + offset}", (message, at[:400])
    assert f"due to {len(expect)} previous errors" in err, err
