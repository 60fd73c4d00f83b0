"""The GPU launcher's host-side logic against a stand-in CUDA driver
(fixtures/fake_cuda: device query, module load, argument transfer, copy-back,
error reporting). The real GPU run is test_gpu_targets.py::test_runs_on_nvidia_gpu."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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
    # edge cases next to the sample's own run (no argument): `empty`, `zero-slice`, `tall`
    lib_rs = crate / "src" / "lib.rs"
    lib_rs.write_text(lib_rs.read_text() + '''
pub fn run_grid(a: f32, x: &[f32], y: &mut [f32], groups: [u32; 3]) {
    offload! { kernel = saxpy, workgroup_dim = groups, thread_dim = [THREADS as u32, 1, 1], args = (a, x, y) };
}

pub fn run_shared(a: f32, x: &[f32], y: &mut [f32], bytes: u32) {
    let groups = [x.len().div_ceil(THREADS) as u32, 1, 1];
    offload! { kernel = saxpy, workgroup_dim = groups, thread_dim = [THREADS as u32, 1, 1], dyn_cache = bytes,
               args = (a, x, y) };
}
''')
    main = crate / "src" / "main.rs"
    main.write_text(main.read_text().replace("fn main() {", '''fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("empty") => {
            let (x, mut y) = saxpy::inputs(0);
            saxpy::run(3.0, &x, &mut y); // workgroup_dim = [0, 1, 1]
            return println!("empty ok");
        }
        Some("repeat") => {
            let (x, mut y) = saxpy::inputs(saxpy::N);
            for _ in 0..3 {
                saxpy::run(1.5, &x, &mut y);
            }
            return println!("repeat checksum={:.1}", saxpy::checksum(&y));
        }
        Some("zero-slice") => {
            let mut y: Vec<f32> = Vec::new();
            saxpy::run_grid(3.0, &[], &mut y, [1, 1, 1]); // one workgroup, two empty slices
            return println!("zero-slice ok");
        }
        Some("panic") => {
            let (x, mut y) = saxpy::inputs(1024);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| saxpy::run(3.0, &x, &mut y)));
            let msg = r.err().and_then(|e| e.downcast_ref::<String>().cloned()).unwrap_or_default();
            println!("caught: {msg}");
            saxpy::run(3.0, &x, &mut y); // the next launch works
            return println!("after: {}", saxpy::checksum(&y));
        }
        Some("shared") => {
            let bytes = std::env::args().nth(2).unwrap().parse().unwrap();
            let (x, mut y) = saxpy::inputs(1024);
            saxpy::run_shared(3.0, &x, &mut y, bytes); // dyn_cache = bytes
            return println!("shared {}", saxpy::checksum(&y));
        }
        Some("tall") => {
            let (x, mut y) = saxpy::inputs(4);
            saxpy::run_grid(0.0, &x, &mut y, [1, 70_000, 1]); // a = 0: y unchanged however often it runs
            return println!("tall {y:?}");
        }
        _ => {}
    }''', 1))
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
    # the copies go through one pinned staging area (8 MiB and the panic record's 64 bytes):
    # both copies in are queued ahead of the launch, the copy back behind it with the panic
    # record, and the launcher waits once. x: in only; y: in and back; the buffers and the
    # staging area stay in the pool for the next launch.
    assert trace.read_text().splitlines() == [
        "retain 0", "load elf", "function saxpy", "global __cargo_mlir_panic_record",
        f"alloc {n}", f"alloc {n}", f"host-alloc {8 * 2**20 + 64}",
        f"htod-async {n}", f"htod-async {n}", "record",
        "launch 4096 1 1 x 256 1 1", "dtoh-async 32", f"dtoh-async {n}", "record", "wait"]


def test_without_staging_each_copy_is_a_direct_call(saxpy_with_fake_driver):
    crate, lib, root = saxpy_with_fake_driver
    trace = root / "direct.txt"
    result = run([crate / "target/release/saxpy"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_DEVICE="gpu",
                 CARGO_MLIR_GPU_STAGING="0", FAKE_CUDA_TRACE=str(trace))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "saxpy n=1048576 checksum=28311526.0"
    n = 4 * (1 << 20)
    assert trace.read_text().splitlines() == [
        "retain 0", "load elf", "function saxpy", "global __cargo_mlir_panic_record",
        f"alloc {n}", f"alloc {n}", f"htod {n}", f"htod {n}",
        "launch 4096 1 1 x 256 1 1", "sync", "dtoh 32",   # the panic record: did it panic? no
        f"dtoh {n}"]


def test_data_larger_than_the_staging_area_goes_through_its_halves_in_turn(saxpy_with_fake_driver):
    """A 1 MiB staging area for 8 MiB in and 4 MiB back: 512 KiB halves, refilled only after
    the stand-in driver ran the copies that used them (it runs queued copies late, as a GPU
    does, so refilling a half too early would give wrong results); three launches share one area."""
    crate, lib, root = saxpy_with_fake_driver
    trace = root / "halves.txt"
    result = run([crate / "target/release/saxpy", "repeat"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_DEVICE="gpu",
                 CARGO_MLIR_GPU_STAGING="1", FAKE_CUDA_TRACE=str(trace))
    assert result.returncode == 0, result.stderr
    want = subprocess.run([crate / "target/release/saxpy", "repeat"], cwd=crate, env=dict(os.environ, CARGO_MLIR_DEVICE="host"),
                          capture_output=True, text=True, check=True).stdout
    assert result.stdout == want and "checksum" in want
    calls = trace.read_text().splitlines()
    assert calls.count(f"host-alloc {2**20 + 64}") == 1 and "host-free" not in calls
    assert not [c for c in calls if "(pageable)" in c or c.startswith(("htod ", "dtoh ", "sync"))]
    half = 2**19
    assert calls.count(f"htod-async {half}") == 3 * 16 and calls.count(f"dtoh-async {half}") == 3 * 8
    assert calls.count("launch 4096 1 1 x 256 1 1") == 3
    # copies in: the third chunk waits for the first's half to be copied, and so on
    first = calls[:calls.index("launch 4096 1 1 x 256 1 1")]
    assert first.count("record") == 16 and first.count("wait") == 14


def test_a_cubin_the_driver_cannot_load_gives_way_to_its_ptx(saxpy_with_fake_driver):
    """A driver older than the cubin's ELF ABI: the PTX built beside the cubin is JIT-compiled."""
    crate, lib, root = saxpy_with_fake_driver
    listing = subprocess.run(["/usr/lib/llvm-22/bin/llvm-objdump", "--offloading", crate / "target/release/saxpy"],
                             capture_output=True, text=True, check=True).stdout
    kinds = re.findall(r"kind\s+(\S+)\narch\s+(\S+)", listing)
    assert kinds == [("cubin", "sm_90"), ("ptx", "sm_90")], listing
    trace = root / "t-old-driver.txt"
    result = run([crate / "target/release/saxpy"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_DEVICE="gpu",
                 CARGO_MLIR_LOG="info", FAKE_CUDA_REJECT_CUBIN="1", FAKE_CUDA_PTX="jit", FAKE_CUDA_TRACE=str(trace))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "saxpy n=1048576 checksum=28311526.0"
    assert "kernel `saxpy` ran on GPU 0 (sm_90, sm_90 PTX image, libcuda.so.1)" in result.stderr
    assert trace.read_text().splitlines()[:3] == ["retain 0", "load elf (rejected)", "load not-elf (jit)"]


def test_a_kernel_that_panics_on_the_gpu_is_a_rust_panic_and_the_next_launch_works(saxpy_with_fake_driver):
    crate, lib, root = saxpy_with_fake_driver
    trace = root / "t-panic.txt"
    result = run([crate / "target/release/saxpy", "panic"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_DEVICE="gpu",
                 FAKE_CUDA_PANIC="once", FAKE_CUDA_TRACE=str(trace))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "caught: kernel `saxpy` panicked on GPU 0 at src/lib.rs:12:9: index out of bounds"
    # the panicking launch copied nothing back; the next one ran saxpy once
    assert lines[1] == f"after: {sum(3 * (i % 17) + 1 + i % 5 for i in range(1024)):.1f}".replace(".0", "")
    # an ordinary Rust panic, reported at the `offload!` that launched the kernel
    assert re.search(r"panicked at src/lib.rs:\d+:\d+:\nkernel `saxpy` panicked on GPU 0", result.stderr), result.stderr
    calls = trace.read_text().splitlines()
    # one primary context, module and kernel lookup for the process, however many launches;
    # the second launch reuses the first one's two buffers (x and y, 4 KiB each)
    assert calls.count("retain 0") == 1 and calls.count("load elf") == 1 and calls.count("function saxpy") == 1
    assert calls.count("alloc 4096") == 2 and "free" not in calls
    assert calls.count("launch 4 1 1 x 256 1 1") == 2


def test_a_driver_error_names_the_kernel_and_the_drivers_message(saxpy_with_fake_driver):
    crate, lib, root = saxpy_with_fake_driver
    result = run([crate / "target/release/saxpy"], crate, LD_LIBRARY_PATH=str(lib), FAKE_CUDA_FAIL="launch",
                 FAKE_CUDA_TRACE=str(root / "t2.txt"))
    assert result.returncode != 0
    assert "cargo-mlir: launching kernel `saxpy`: fake launch failure (error 719 from libcuda.so.1)" in result.stderr


def test_a_gpu_without_a_matching_image_falls_back_to_the_host(tmp_path, saxpy_with_fake_driver):
    _, lib, _ = saxpy_with_fake_driver
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    # sm_100: its cubin is for another GPU, its PTX for a newer one (sm_80's PTX would run on sm_90)
    assert run([CLI, "mlir", "build", "--offload-arch", "sm_100"], crate).returncode == 0
    result = run([crate / "target/debug/saxpy"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_LOG="info",
                 FAKE_CUDA_TRACE=str(tmp_path / "t.txt"))
    assert result.returncode == 0
    assert "no GPU matches the kernel's images (sm_100); GPUs found: sm_90" in result.stderr
    assert "ran on host (MLIR code" in result.stderr
    forced = run([crate / "target/debug/saxpy"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_DEVICE="gpu",
                 FAKE_CUDA_TRACE=str(tmp_path / "t.txt"))
    assert forced.returncode != 0 and "CARGO_MLIR_DEVICE=gpu" in forced.stderr


def test_an_image_that_does_not_load_gives_way_to_the_next_one(saxpy_with_fake_driver, tmp_path):
    """PTX for sm_80 and sm_90 (no ptxas): both fit an sm_90 GPU; the first is
    refused by the driver, the second runs. When none loads, the error lists each."""
    _, lib, _ = saxpy_with_fake_driver
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    built = run([CLI, "mlir", "build", "--release", "--offload-arch", "sm_80,sm_90"], crate,
                CARGO_MLIR_TOOLCHAIN_FILE=str(tmp_path / "tc.toml"), CARGO_MLIR_PTXAS=str(tmp_path / "no-ptxas"))
    assert built.returncode == 0, built.stderr
    trace = tmp_path / "t.txt"
    env = dict(LD_LIBRARY_PATH=str(lib), CARGO_MLIR_DEVICE="gpu", CARGO_MLIR_LOG="info", FAKE_CUDA_TRACE=str(trace),
               FAKE_CUDA_PTX="jit")
    result = run([crate / "target/release/saxpy"], crate, FAKE_CUDA_REJECT_PTX="sm_80", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "saxpy n=1048576 checksum=28311526.0"
    assert "kernel `saxpy` ran on GPU 0 (sm_90, sm_90 PTX image, libcuda.so.1)" in result.stderr
    assert trace.read_text().splitlines()[:4] == ["retain 0", "load not-elf (rejected)", "load not-elf (jit)",
                                                  "function saxpy"]
    trace.unlink()
    env["FAKE_CUDA_PTX"] = "none"       # a driver that JITs nothing: neither image loads
    failed = run([crate / "target/release/saxpy"], crate, **env)
    assert failed.returncode != 0
    unsupported = "the provided PTX was compiled with an unsupported toolchain (error 222 from libcuda.so.1)"
    assert (f"kernel `saxpy`: no image of it could be loaded: the sm_80 PTX image: {unsupported}; "
            f"the sm_90 PTX image: {unsupported}") in failed.stderr, failed.stderr


def test_the_stand_in_rejects_what_real_drivers_reject(saxpy_with_fake_driver, tmp_path):
    """Zero and over-limit launch dimensions, 0-byte allocations and copies to a null device
    pointer: CUDA_ERROR_INVALID_VALUE (1), as libcuda answers (run in a child: the library stays out
    of this process)."""
    _, lib, _ = saxpy_with_fake_driver
    script = f"""
import ctypes
cuda = ctypes.CDLL({str(lib / "libcuda.so.1")!r})
u, vp = ctypes.c_uint, ctypes.c_void_p
cuda.cuLaunchKernel.argtypes = [vp, u, u, u, u, u, u, u, vp, vp, vp]
cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
cuda.cuMemcpyHtoD_v2.argtypes = [ctypes.c_uint64, vp, ctypes.c_size_t]
rejected = [(0, 1, 1, 256, 1, 1), (4, 0, 1, 256, 1, 1), (4, 1, 0, 256, 1, 1), (4, 1, 1, 0, 1, 1),
            (4, 1, 1, 256, 0, 1), (4, 1, 1, 256, 1, 0), (1 << 31, 1, 1, 1, 1, 1), (1, 70000, 1, 1, 1, 1),
            (1, 1, 65536, 1, 1, 1), (1, 1, 1, 1025, 1, 1), (1, 1, 1, 1, 2048, 1), (1, 1, 1, 1, 1, 65),
            (1, 1, 1, 32, 32, 2)]
print([cuda.cuLaunchKernel(None, *d, 0, None, None, None) for d in rejected])
# more than 48 KiB of dynamic shared memory: only after opting in, and at most 227 KiB
print(cuda.cuLaunchKernel(None, 1, 1, 1, 32, 1, 1, 49153, None, None, None),
      cuda.cuFuncSetAttribute(None, 8, 232449), cuda.cuFuncSetAttribute(None, 8, 65536))
p = ctypes.c_uint64(0)
print(cuda.cuMemAlloc_v2(ctypes.byref(p), 0), cuda.cuMemcpyHtoD_v2(0, None, 0))
print(cuda.cuMemAlloc_v2(ctypes.byref(p), 16), p.value != 0)
"""
    trace = tmp_path / "t.txt"
    out = run([sys.executable, "-c", script], tmp_path, FAKE_CUDA_TRACE=str(trace))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str([1] * 13), "1 1 0", "1 1", "0 True"]
    lines = trace.read_text().splitlines()
    assert "rejected launch with 49153 bytes of shared memory" in lines
    assert "rejected attribute 8 = 232449" in lines and "max dynamic shared 65536" in lines
    assert lines[:2] == ["rejected launch 0 1 1 x 256 1 1", "rejected launch 4 0 1 x 256 1 1"]
    assert lines[-3:] == ["rejected alloc 0", "rejected htod 0 to null", "alloc 16"]


def test_an_empty_grid_launches_nothing_and_succeeds(saxpy_with_fake_driver):
    """saxpy on an empty input: workgroup_dim = [0, 1, 1] never reaches the driver (it would refuse it)."""
    crate, lib, root = saxpy_with_fake_driver
    trace = root / "empty.txt"
    result = run([crate / "target/release/saxpy", "empty"], crate, LD_LIBRARY_PATH=str(lib),
                 CARGO_MLIR_DEVICE="gpu", CARGO_MLIR_LOG="info", FAKE_CUDA_TRACE=str(trace))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "empty ok"
    assert "kernel `saxpy` ran on host (MLIR code, 0 workgroups x 256 threads, 0 CPU threads)" in result.stderr
    assert not trace.exists() or trace.read_text() == ""      # not even a module load


def test_a_zero_length_slice_is_passed_as_a_null_pointer_without_allocating(saxpy_with_fake_driver):
    crate, lib, root = saxpy_with_fake_driver
    trace = root / "zero.txt"
    result = run([crate / "target/release/saxpy", "zero-slice"], crate, LD_LIBRARY_PATH=str(lib),
                 CARGO_MLIR_DEVICE="gpu", CARGO_MLIR_LOG="info", FAKE_CUDA_TRACE=str(trace))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "zero-slice ok"
    assert "kernel `saxpy` ran on GPU 0" in result.stderr
    # no device buffer, no copy; the smallest staging area (64 KiB halves) for the panic record
    assert trace.read_text().splitlines() == ["retain 0", "load elf", "function saxpy",
                                             "global __cargo_mlir_panic_record", f"host-alloc {2 * 65536 + 64}",
                                             "launch 1 1 1 x 256 1 1", "dtoh-async 32", "record", "wait"]


def test_a_grid_over_the_drivers_limits_is_refused_before_the_driver_sees_it(saxpy_with_fake_driver):
    crate, lib, root = saxpy_with_fake_driver
    trace = root / "tall.txt"
    forced = run([crate / "target/release/saxpy", "tall"], crate, LD_LIBRARY_PATH=str(lib),
                 CARGO_MLIR_DEVICE="gpu", FAKE_CUDA_TRACE=str(trace))
    assert forced.returncode != 0
    assert ("cargo-mlir: CARGO_MLIR_DEVICE=gpu, but kernel `saxpy`: workgroup_dim[1] = 70000 is over "
            "libcuda.so.1's limit of 65535 (grid x ≤ 2147483647, y and z ≤ 65535 workgroups)") in forced.stderr
    assert not trace.exists() or trace.read_text() == ""
    # without CARGO_MLIR_DEVICE=gpu this launch runs on the host, which has no such limits
    auto = run([crate / "target/release/saxpy", "tall"], crate, LD_LIBRARY_PATH=str(lib), CARGO_MLIR_LOG="info",
               FAKE_CUDA_TRACE=str(trace))
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout.strip() == "tall [1.0, 2.0, 3.0, 4.0]"
    assert "workgroup_dim[1] = 70000 is over libcuda.so.1's limit of 65535" in auto.stderr
    assert "this launch runs on the host" in auto.stderr and "ran on host (MLIR code" in auto.stderr
    assert not trace.exists() or trace.read_text() == ""


def test_workgroup_memory_over_48_kib_is_opted_in_and_over_the_limit_refused(saxpy_with_fake_driver):
    """dyn_cache over CUDA's default 48 KiB: cuFuncSetAttribute first (the stand-in, as libcuda,
    refuses the launch otherwise); over the 227 KiB any NVIDIA GPU allows: refused before the
    driver sees it, with the limit named."""
    crate, lib, root = saxpy_with_fake_driver
    trace = root / "shared.txt"
    want = f"shared {sum(3 * (i % 17) + 1 + i % 5 for i in range(1024)):.1f}".replace(".0", "")
    ok = run([crate / "target/release/saxpy", "shared", str(64 << 10)], crate, LD_LIBRARY_PATH=str(lib),
             CARGO_MLIR_DEVICE="gpu", CARGO_MLIR_LOG="info", FAKE_CUDA_TRACE=str(trace))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == want
    calls = trace.read_text().splitlines()
    assert calls.index("max dynamic shared 65536") < calls.index("launch 4 1 1 x 256 1 1"), calls
    small = run([crate / "target/release/saxpy", "shared", str(48 << 10)], crate, LD_LIBRARY_PATH=str(lib),
                CARGO_MLIR_DEVICE="gpu", FAKE_CUDA_TRACE=str(root / "shared-small.txt"))
    assert small.returncode == 0, small.stderr
    assert "max dynamic shared" not in (root / "shared-small.txt").read_text()
    huge = run([crate / "target/release/saxpy", "shared", "300000"], crate, LD_LIBRARY_PATH=str(lib),
               CARGO_MLIR_DEVICE="gpu", FAKE_CUDA_TRACE=str(root / "shared-huge.txt"))
    assert huge.returncode != 0
    assert ("CARGO_MLIR_DEVICE=gpu, but kernel `saxpy`: dyn_cache = 300000 bytes of workgroup memory is over "
            "libcuda.so.1's limit of 232448 (227 KiB on sm_90 and sm_100, less on older GPUs)") in huge.stderr
    auto = run([crate / "target/release/saxpy", "shared", "300000"], crate, LD_LIBRARY_PATH=str(lib),
               CARGO_MLIR_LOG="info", FAKE_CUDA_TRACE=str(root / "shared-auto.txt"))
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout.strip() == want and "this launch runs on the host" in auto.stderr
