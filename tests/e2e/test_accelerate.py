"""`#[cargo_mlir::accelerate]` through `cargo mlir`: the functions go through
the pipeline (raised, a direct entry in the kernel library), give the same
results as the same code without the attribute (`exact`: bit-identical), and
panic exactly as plain Rust does (the direct entry declines; the Rust body
panics), in debug and release builds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import SUPPORT_CRATE as SUPPORT, copy_crate, run

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def crate(tmp_path_factory):
    return copy_crate(FIXTURES / "accelerate_plain", tmp_path_factory.mktemp("accel-mlir") / "accelerate_plain")


def mlir(crate: Path, *args: str, **env: str):
    from conftest import CLI
    return run([CLI, "mlir", *args], crate, **env)


@pytest.mark.parametrize("profile", ["--release", "--profile=dev"])
def test_unit_tests_pass_with_the_pipelines_code(crate, profile):
    # tests/direct.rs registers a hand-made table: under cargo mlir the real one wins
    result = mlir(crate, "test", profile, "--lib")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"test result: ok\. 6 passed; 0 failed", result.stdout), result.stdout
    for name in ("tests::bad_index_panics - should panic",
                 "tests::bad_index_unwinds_with_the_plain_rust_message_and_location"):
        assert f"test {name} ... ok" in result.stdout, name


def test_run_gives_plain_rusts_results_through_mlir_code(crate):
    built = mlir(crate, "build", "--release", "--explain")
    assert built.returncode == 0, built.stderr
    # --explain says per function what was raised
    assert re.search(r"accelerate `matmul` \(src/lib.rs:\d+\): raised to scf/memref", built.stdout), built.stdout
    result = mlir(crate, "run", "--release", "-q", CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 12, result.stdout
    for line in lines:            # `name <with the attribute> <without>`: bit patterns or values
        name, ours, theirs = line.split()
        assert ours == theirs, line
    assert "[cargo-mlir] accelerate `matmul` uses MLIR code" in result.stderr, result.stderr
    assert "[cargo-mlir] accelerate `dot` uses MLIR code" in result.stderr, result.stderr


def test_report_lists_accelerate_functions_for_the_host_only(crate):
    assert mlir(crate, "build", "--release", "-q").returncode == 0
    report = json.loads((crate / "target" / "cargo-mlir" / "report.json").read_text())
    accel = [e for e in report["kernels"] if e["kind"] == "accelerate"]
    assert {e["kernel"] for e in accel} >= {"matmul", "dot", "axpy_raw", "scale4", "pick"}
    assert {e["target"] for e in accel} == {"host"}


OVERFLOW_MAIN = """\
#[cargo_mlir::accelerate]
pub fn isum(x: &[i32]) -> i32 {
    let mut s = 0;
    for i in 0..x.len() {
        s += x[i];
    }
    s
}

fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let mut x = vec![1i32; n];
    x[0] = i32::MAX;
    println!("{}", isum(&x));
}
"""


@pytest.fixture(scope="module")
def overflow(tmp_path_factory):
    crate = tmp_path_factory.mktemp("accel-overflow") / "ovf"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "ovf"\nversion = "0.1.0"\nedition = "2021"\n'
                                      '[dependencies]\ncargo-mlir = { path = "%s" }\n' % SUPPORT)
    (crate / "src" / "main.rs").write_text(OVERFLOW_MAIN)
    return crate


@pytest.mark.parametrize("profile", ["dev", "release"])
def test_integer_overflow_behaves_as_in_the_profile(overflow, profile):
    """A debug build panics on overflow (plain Rust does); a release build wraps."""
    plain = run(["cargo", "run", "-q", "--profile", profile, "--", "3"], overflow)
    ours = mlir(overflow, "run", "-q", "--profile", profile, "--", "3", CARGO_MLIR_LOG="info")
    assert ours.returncode == plain.returncode == (101 if profile == "dev" else 0), ours.stderr
    assert ours.stdout == plain.stdout
    if profile == "dev":
        assert "attempt to add with overflow" in ours.stderr and "src/main.rs:5" in ours.stderr
    else:
        assert ours.stdout.strip() == str(-2**31 + 1)
    assert "[cargo-mlir] accelerate `isum`" in ours.stderr


STATIC_MAIN = """\
use std::sync::atomic::{AtomicU32, Ordering};
static HITS: AtomicU32 = AtomicU32::new(0);

#[cargo_mlir::accelerate]
pub fn counted(x: &[f32]) -> f32 {
    HITS.fetch_add(1, Ordering::Relaxed);
    let mut s = 0.0;
    for i in 0..x.len() {
        s += x[i].exp();
    }
    s
}

fn main() {
    let x: Vec<f32> = (0..100).map(|i| i as f32 * 0.01).collect();
    println!("{} {}", counted(&x).to_bits(), HITS.load(Ordering::Relaxed));
}
"""


def test_a_function_that_touches_a_static_runs_as_plain_rust(tmp_path):
    """The kernel library cannot link the crate's statics (rustc makes them
    internal): the function declines at build time instead of failing to link."""
    crate = tmp_path / "st"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "st"\nversion = "0.1.0"\nedition = "2021"\n'
                                      '[dependencies]\ncargo-mlir = { path = "%s" }\n' % SUPPORT)
    (crate / "src" / "main.rs").write_text(STATIC_MAIN)
    plain = run(["cargo", "run", "-q", "--release"], crate)
    built = mlir(crate, "build", "--release", "--explain")
    assert built.returncode == 0, built.stderr
    assert "accelerate `counted` (src/main.rs:5) runs as plain Rust: its fast path uses `st::HITS`" in built.stdout
    ours = mlir(crate, "run", "-q", "--release")
    assert ours.returncode == 0 and ours.stdout == plain.stdout, ours.stderr
