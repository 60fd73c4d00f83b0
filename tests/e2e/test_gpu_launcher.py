"""The GPU launcher's host-side logic against a stand-in CUDA driver
(fixtures/fake_cuda: device query, module load, argument transfer, copy-back,
error reporting). The real GPU run is test_gpu_targets.py::test_runs_on_nvidia_gpu."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import CLI, REPO, copy_crate, run

pytestmark = pytest.mark.e2e
FAKE = Path(__file__).parent / "fixtures" / "fake_cuda" / "fake_cuda.c"


@pytest.fixture(scope="module")
def saxpy_with_fake_driver(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake")
    lib = root / "lib"
    lib.mkdir()
    subprocess.run(["/usr/lib/llvm-22/bin/clang", "-shared", "-fPIC", "-O1", FAKE, "-o", lib / "libcuda.so.1"],
                   check=True)
    crate = copy_crate(REPO / "sample_crates" / "saxpy", root / "saxpy")
    built = run([CLI, "mlir", "build", "--release", "--offload-arch", "sm_90"], crate)
    assert built.returncode == 0, built.stderr
    return crate, lib, root


def test_launch_copies_in_runs_and_copies_back_only_mut(saxpy_with_fake_driver):
    crate, lib, root = saxpy_with_fake_driver
    trace = root / "trace.txt"
    trace.unlink(missing_ok=True)
    result = run([crate / "target/release/saxpy"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_DEVICE="gpu",
                 CARGO_MLIR_LOG="info", FAKE_CUDA_TRACE=str(trace))
    assert result.returncode == 0, result.stderr
    # the stand-in "GPU" computed saxpy from the parameters and buffers it was given
    assert result.stdout.strip() == "saxpy n=1048576 checksum=28311526.0"
    assert "kernel `saxpy` ran on GPU 0 (sm_90, sm_90 image, libcuda.so.1)" in result.stderr
    n = 4 * (1 << 20)
    assert trace.read_text().splitlines() == [
        "load elf", "function saxpy", f"alloc {n}", f"htod {n}", f"alloc {n}", f"htod {n}",
        "launch 4096 1 1 x 256 1 1", f"dtoh {n}", "free", "free"]     # x: in only; y: in and back


def test_a_driver_error_names_the_kernel_and_the_drivers_message(saxpy_with_fake_driver):
    crate, lib, root = saxpy_with_fake_driver
    result = run([crate / "target/release/saxpy"], crate, LD_LIBRARY_PATH=str(lib), FAKE_CUDA_FAIL="launch",
                 FAKE_CUDA_TRACE=str(root / "t2.txt"))
    assert result.returncode != 0
    assert "cargo-mlir: launching kernel `saxpy`: fake launch failure (error 719 from libcuda.so.1)" in result.stderr


def test_a_gpu_without_a_matching_image_falls_back_to_the_host(tmp_path, saxpy_with_fake_driver):
    _, lib, _ = saxpy_with_fake_driver
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    assert run([CLI, "mlir", "build", "--offload-arch", "sm_80"], crate).returncode == 0
    result = run([crate / "target/debug/saxpy"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_LOG="info",
                 FAKE_CUDA_TRACE=str(tmp_path / "t.txt"))
    assert result.returncode == 0
    assert "no GPU matches the kernel's images (sm_80); GPUs found: sm_90" in result.stderr
    assert "ran on host (MLIR code" in result.stderr
    forced = run([crate / "target/debug/saxpy"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_DEVICE="gpu",
                 FAKE_CUDA_TRACE=str(tmp_path / "t.txt"))
    assert forced.returncode != 0 and "CARGO_MLIR_DEVICE=gpu" in forced.stderr
