"""Kernels on the host keep Rust's panics (issue 10): overflow and shifts (debug
builds only), division by zero, `i32::MIN / -1`, an index out of bounds,
`unwrap` on `None` and `assert!` give plain cargo's exit code and stderr (a
panic in a grid that two host threads run included), in
debug and release, and `#[should_panic]` tests pass under `cargo mlir test`.
The panic comes from the MLIR-compiled host code (the backtrace shows the
runtime's panic function), not from a plain-Rust fallback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import CLI, copy_crate, run

pytestmark = pytest.mark.e2e
FIXTURE = Path(__file__).parent / "fixtures" / "panic_suite"
CASES = ("overflow", "divide_by_zero", "min_by_minus_one", "out_of_bounds", "shift", "unwrap_none", "assert",
         "out_of_bounds_wide")
PROFILES = ("debug", "release")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("panic_suite")
    crate = copy_crate(FIXTURE, root / "panic_suite")
    binaries = {}
    for profile in PROFILES:
        flags = ["--release"] if profile == "release" else []
        plain = run(["cargo", "build", *flags], crate)
        assert plain.returncode == 0, plain.stderr
        binaries["plain", profile] = shutil.copy2(crate / "target" / profile / "panic_suite", root / f"plain-{profile}")
        mlir = run([CLI, "mlir", "build", *flags], crate)
        assert mlir.returncode == 0, mlir.stderr
        binaries["mlir", profile] = crate / "target" / profile / "panic_suite"
    return crate, binaries


def said(result) -> tuple[int, str, str]:
    """Exit code, stdout and stderr with the OS thread id left out."""
    return result.returncode, result.stdout, re.sub(r"^(thread '[^']*') \(\d+\)", r"\1 (ID)", result.stderr, flags=re.M)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("case", CASES)
def test_a_panicking_kernel_says_what_plain_cargo_says(built, profile, case):
    crate, binaries = built
    plain = run([binaries["plain", profile], case], crate, RUST_BACKTRACE="0")
    # out_of_bounds_wide: two host threads run the grid; the panic is said once, by
    # the launching thread, as plain Rust (which runs the grid on it) says it
    mlir = run([binaries["mlir", profile], case], crate, RUST_BACKTRACE="0", CARGO_MLIR_HOST_THREADS="2")
    assert said(mlir) == said(plain)
    panics = profile == "debug" or case not in ("overflow", "shift")
    assert plain.returncode == (101 if panics else 0), plain.stderr
    if panics:
        traced = run([binaries["mlir", profile], case], crate, RUST_BACKTRACE="1", CARGO_MLIR_HOST_THREADS="2")
        # said where it happened, or where the launching thread re-raised it
        said_by = "cargo_mlir::runtime::resume_panic" if case == "out_of_bounds_wide" else "cargo_mlir_rt_panic"
        assert said_by in traced.stderr, traced.stderr
    else:
        logged = run([binaries["mlir", profile], case], crate, CARGO_MLIR_LOG="info")
        assert "ran on host (MLIR code" in logged.stderr, logged.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_should_panic_tests_pass_under_cargo_mlir_test(built, profile):
    crate, _ = built
    flags = ["--release"] if profile == "release" else []
    result = run([CLI, "mlir", "test", *flags], crate)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test result: ok. 8 passed; 0 failed" in result.stdout, result.stdout
