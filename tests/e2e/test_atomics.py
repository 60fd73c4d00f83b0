"""cargo_mlir::gpu's atomics (atomic_add/min/max on u32, u64, f32, f64) with the
real tools: a histogram and grid-wide sums, minima and maxima give plain Rust's
results when the host runs the grid on two threads, under plain cargo too, and
the GPU images use the devices' atomic instructions (checked statically)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CLI, copy_crate, llvm, run

pytestmark = pytest.mark.e2e
FIXTURE = Path(__file__).parent / "fixtures" / "atomics"
CHECKS = ["histogram ok", "stats_f32 ok", "stats_f64 ok", "stats_u64 ok"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    crate = copy_crate(FIXTURE, tmp_path_factory.mktemp("atomics") / "atomics")
    dump = crate / "ir"
    result = run([CLI, "mlir", "run", "--release", "--emit-ir", dump], crate, CARGO_MLIR_HOST_THREADS="2",
                 CARGO_MLIR_LOG="info")
    return crate, dump, result


def test_grid_wide_updates_lose_nothing_on_two_host_threads(built):
    crate, _, result = built
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == CHECKS, result.stdout
    assert result.stderr.count("ran on host (MLIR code, 782 workgroups x 256 threads, 2 CPU threads)") == 4
    plain = run(["cargo", "run", "--release", "-q"], crate)
    assert plain.stdout.splitlines() == CHECKS, plain.stdout + plain.stderr


def test_gpu_images_use_atomic_instructions(built):
    _, dump, result = built
    assert result.returncode == 0, result.stderr
    ptx = {k: (dump / f"{k}.sm_90.serialize.cubin.ptx").read_text() for k in ("histogram", "stats_f32", "stats_u64")}
    assert "atom.global.add.u32" in ptx["histogram"]
    assert ".cas.b32" in ptx["stats_f32"]                      # floats: compare-and-swap on the bits
    assert "atom.global.min.u64" in ptx["stats_u64"] and "atom.global.max.u64" in ptx["stats_u64"]
    amd = {k: llvm("llvm-objdump", "-d", dump / f"{k}.gfx90a.serialize.hsaco") for k in ("histogram", "stats_f32")}
    assert "global_atomic_add " in amd["histogram"]
    assert "global_atomic_cmpswap " in amd["stats_f32"]


@pytest.mark.skipif(not Path("/dev/nvidia0").exists(), reason="needs an NVIDIA GPU (/dev/nvidia0)")
def test_runs_on_nvidia_gpu(built):
    crate, _, _ = built
    gpu = run([crate / "target/release/atomics"], crate, CARGO_MLIR_DEVICE="gpu", CARGO_MLIR_LOG="info")
    assert gpu.returncode == 0, gpu.stderr
    assert gpu.stdout.splitlines() == CHECKS, gpu.stdout
    assert gpu.stderr.count("ran on GPU 0") == 4, gpu.stderr
