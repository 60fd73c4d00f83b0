"""cargo_mlir::gpu's barrier and workgroup memory with the real tools: kernels
whose threads read what other threads of their workgroup wrote before a
barrier (a tree reduction, a reversal, a 2-D tile transposition) give plain
Rust's results on the host, built by cargo mlir (release and debug, one and
two host threads, fibers as stack switches or as OS threads) and by plain
cargo; a panic after a barrier unwinds to the `offload!`; a barrier only in a
helper is a clear error; the GPU images synchronise and use the dynamic
workgroup memory (checked statically)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CLI, copy_crate, llvm, run

pytestmark = pytest.mark.e2e
FIXTURE = Path(__file__).parent / "fixtures" / "workgroups"
CHECKS = [*(f"block_sum {n} ok" for n in (0, 1, 255, 256, 100003)), "reverse_groups ok", "transpose ok",
          "after a panic ok"]
KERNELS = ("block_sum", "reverse_groups", "transpose")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    crate = copy_crate(FIXTURE, tmp_path_factory.mktemp("workgroups") / "workgroups")
    dump = crate / "ir"
    result = run([CLI, "mlir", "run", "--release", "--emit-ir", dump], crate, CARGO_MLIR_HOST_THREADS="2",
                 CARGO_MLIR_LOG="info")
    return crate, dump, result


def test_threads_of_a_workgroup_see_each_others_writes(built):
    crate, _, result = built
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == CHECKS, result.stdout
    assert "kernel `block_sum` ran on host (Rust; each workgroup's 256 threads at once, as fibers)" in result.stderr
    assert "kernel `transpose` ran on host (Rust; each workgroup's 128 threads at once, as fibers)" in result.stderr


@pytest.mark.parametrize("env", [{"CARGO_MLIR_HOST_THREADS": "1"}, {"CARGO_MLIR_HOST_FIBERS": "threads"}],
                         ids=["one-thread", "os-thread-fibers"])
def test_every_way_of_running_fibers_gives_the_same_results(built, env):
    crate, _, result = built
    assert result.returncode == 0, result.stderr
    again = run([CLI, "mlir", "run", "--release", "-q"], crate, **env)
    assert again.stdout.splitlines() == CHECKS, again.stdout + again.stderr


def test_debug_builds_and_plain_cargo_agree(built):
    crate, _, _ = built
    debug = run([CLI, "mlir", "run", "-q"], crate)
    assert debug.stdout.splitlines() == CHECKS, debug.stdout + debug.stderr
    plain = run(["cargo", "run", "--release", "-q"], crate)
    assert plain.stdout.splitlines() == CHECKS, plain.stdout + plain.stderr


@pytest.mark.parametrize("cargo", ["mlir", "plain"])
def test_a_panic_after_a_barrier_is_rusts_panic(built, cargo):
    crate, _, _ = built
    command = [CLI, "mlir", "run", "--release", "-q"] if cargo == "mlir" else ["cargo", "run", "--release", "-q"]
    r = run([*command, "--", "oob"], crate)
    assert r.returncode == 101, r.stderr
    assert re.search(r"panicked at src/main\.rs:75:\d+:\nindex out of bounds: the len is 1000 but the index is 1000",
                     r.stderr), r.stderr
    assert "cannot unwind" not in r.stderr


@pytest.mark.parametrize("cargo", ["mlir", "plain"])
def test_a_barrier_only_in_a_helper_is_a_clear_error(built, cargo):
    crate, _, _ = built
    command = [CLI, "mlir", "run", "--release", "-q"] if cargo == "mlir" else ["cargo", "run", "--release", "-q"]
    r = run([*command, "--", "helper"], crate)
    assert r.returncode == 101, r.stderr
    assert "gpu::barrier() was called on the host by a kernel that cargo-mlir did not see use it" in r.stderr
    assert "in the #[offload_kernel] function's own body" in r.stderr


def test_explain_says_why_there_is_no_grid_loop(built):
    crate, _, _ = built
    r = run([CLI, "mlir", "build", "--release", "--explain"], crate)
    assert r.returncode == 0, r.stderr
    assert re.search(r"kernel `block_sum` \(src/main\.rs:16\) uses gpu::barrier and workgroup memory: no grid loop "
                     r"for the host", r.stdout), r.stdout


@pytest.mark.parametrize("kernel", KERNELS)
def test_nvidia_images_synchronise_through_dynamic_shared_memory(built, kernel):
    _, dump, result = built
    assert result.returncode == 0, result.stderr
    ptx = (dump / f"{kernel}.sm_90.serialize.cubin.ptx").read_text()
    assert "bar.sync \t0;" in ptx
    assert ".extern .shared .align 16 .b8 __cargo_mlir_dyn_cache[];" in ptx
    assert "%dynamic_smem_size" in ptx                           # the slice's length
    assert re.search(r"st\.shared\.b(32|64)", ptx) and re.search(r"ld\.shared\.b(32|64)", ptx)
    cubin = llvm("llvm-readelf", "-s", dump / f"{kernel}.sm_90.serialize.cubin")
    assert not re.search(r"\bUND[ \t]+(?!\.nv\.reservedSmem)\S", cubin), cubin


@pytest.mark.parametrize("kernel", KERNELS)
def test_amd_images_synchronise_through_dynamic_lds(built, kernel):
    _, dump, result = built
    assert result.returncode == 0, result.stderr
    hsaco = dump / f"{kernel}.gfx90a.serialize.hsaco"
    code = llvm("llvm-objdump", "-d", hsaco)
    assert "s_barrier" in code
    assert re.search(r"ds_write_b(32|64)", code) and re.search(r"ds_read_b(32|64)", code)
    # the LDS size comes from the dispatch packet's group_segment_size (offset 28 = 0x1c)
    assert re.search(r"s_load_dword s\d+, s\[\d+:\d+\], 0x1c", code), code
    symbols = llvm("llvm-readelf", "-s", hsaco)
    assert not re.search(r"\bUND[ \t]+\S", symbols), symbols
    notes = llvm("llvm-readelf", "--notes", hsaco)
    # no static LDS: all of it is the launch's dynamic part
    assert re.search(r"\.group_segment_fixed_size:\s+0\b", notes), notes


@pytest.mark.skipif(not Path("/dev/nvidia0").exists(), reason="needs an NVIDIA GPU (/dev/nvidia0)")
def test_runs_on_nvidia_gpu(built):
    """The same checks with every kernel on the GPU: the panic after a barrier is reported
    by the launcher from the GPU's panic record, and the next launch works."""
    crate, _, _ = built
    gpu = run([crate / "target/release/workgroups"], crate, CARGO_MLIR_DEVICE="gpu", CARGO_MLIR_LOG="info")
    assert gpu.returncode == 0, gpu.stderr
    assert gpu.stdout.splitlines() == CHECKS, gpu.stdout
    assert "kernel `oob_after_barrier` panicked on GPU 0 at src/main.rs:75" in gpu.stderr
    assert "kernel `block_sum` ran on GPU 0" in gpu.stderr and "ran on host" not in gpu.stderr
