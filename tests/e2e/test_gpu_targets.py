"""GPU targets, checked statically (no GPU on developer or CI machines): every
sample builds for gfx90a and sm_90 without ROCm, its binary carries one LLVM
offload image per kernel and target, runs correctly on the host, and loads
no vendor library at link time. The kernels run on a real GPU only in
`test_runs_on_nvidia_gpu`, which needs /dev/nvidia0."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import CLI, REPO, copy_crate, llvm, run

pytestmark = pytest.mark.e2e
SAMPLES = {"saxpy": ["saxpy"], "stencil": ["jacobi"], "dot": ["dot_partial"]}
ARCHES = "gfx90a,sm_90"
SYSTEM_LIBS = re.compile(r"^\s*(linux-vdso\.so\.1|libc\.so\.6|libgcc_s\.so\.1|libm\.so\.6|libstdc\+\+\.so\.6|"
                         r"/lib64/ld-linux-x86-64\.so\.2)")


@pytest.fixture(scope="module")
def gpu_builds(tmp_path_factory):
    out = {}
    for name in SAMPLES:
        crate = copy_crate(REPO / "sample_crates" / name, tmp_path_factory.mktemp(name) / name)
        dump = crate / "ir"
        result = run([CLI, "mlir", "build", "--release", "--offload-arch", ARCHES, "--emit-ir", dump], crate)
        assert result.returncode == 0, result.stderr
        out[name] = (crate, dump, result.stderr)
    return out


@pytest.mark.parametrize("name", SAMPLES)
def test_binary_lists_one_offload_image_per_kernel_and_target(gpu_builds, name):
    crate, _, _ = gpu_builds[name]
    listing = llvm("llvm-objdump", "--offloading", crate / "target/release" / name)
    images = re.findall(r"OFFLOADING IMAGE \[\d+\]:\nkind\s+(\S+)\narch\s+(\S+)\ntriple\s+(\S+)", listing)
    # NVIDIA: the cubin, and the PTX a driver too old for it JITs
    expected = sorted([("elf", "gfx90a", "amdgcn-amd-amdhsa"), ("cubin", "sm_90", "nvptx64-nvidia-cuda"),
                       ("ptx", "sm_90", "nvptx64-nvidia-cuda")]
                      * len(SAMPLES[name]))
    assert sorted(images) == expected, listing


@pytest.mark.parametrize("name", SAMPLES)
def test_binary_runs_on_the_host_and_needs_no_vendor_library(gpu_builds, name):
    crate, _, _ = gpu_builds[name]
    binary = crate / "target/release" / name
    ran = run([binary], crate, CARGO_MLIR_LOG="info")
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    # last: a plain `cargo run` replaces target/release/<name> with its own build
    plain = run(["cargo", "run", "--release", "-q"], crate)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == plain.stdout
    how = "(Rust; each workgroup's 256 threads at once, as fibers)" if name == "dot" else "(MLIR code"
    assert "no GPU driver" in ran.stderr and f"ran on host {how}" in ran.stderr
    assert all(SYSTEM_LIBS.match(line) for line in ldd.strip().splitlines()), ldd


@pytest.mark.parametrize("name", SAMPLES)
def test_hsaco_is_a_gfx90a_code_object_v5_with_kernel_descriptors(gpu_builds, name):
    _, dump, _ = gpu_builds[name]
    for kernel in SAMPLES[name]:
        hsaco = dump / f"{kernel}.gfx90a.serialize.hsaco"
        header = llvm("llvm-readelf", "-h", "-s", hsaco)
        assert "EM_AMDGPU" in header and re.search(r"Flags:.*gfx90a", header), header
        assert re.search(rf"FUNC\s+GLOBAL\s+PROTECTED\s+\d+\s+{kernel}$", header, re.M), header
        assert re.search(rf"OBJECT\s+GLOBAL\s+\w+\s+\d+\s+{kernel}\.kd$", header, re.M), header
        notes = llvm("llvm-readelf", "--notes", hsaco)
        assert "amdhsa.target:   amdgcn-amd-amdhsa--gfx90a" in notes
        assert re.search(r"amdhsa.version:\s*\n\s*- 1\s*\n\s*- 2", notes), notes      # code object v5
        assert ".max_flat_workgroup_size: 1024" in notes
        # the entry was inlined into the kernel: no host symbols remain
        assert "__cargo_mlir_kernel" not in header


@pytest.mark.parametrize("name", SAMPLES)
def test_cubin_is_sm_90_with_the_kernel_symbol(gpu_builds, name):
    _, dump, _ = gpu_builds[name]
    for kernel in SAMPLES[name]:
        cubin = dump / f"{kernel}.sm_90.serialize.cubin"
        header = llvm("llvm-readelf", "-h", "-s", cubin)
        assert "NVIDIA CUDA architecture" in header and re.search(r"Flags:.*sm_90", header), header
        assert re.search(rf"FUNC\s+GLOBAL\s.*\s{kernel}$", header, re.M), header


def test_gpu_stages_in_the_dumped_ir(gpu_builds):
    from test_offload import filecheck
    _, dump, _ = gpu_builds["stencil"]
    filecheck(dump / "jacobi.gfx90a.retarget.mlir", """
        CHECK: gpu.module @jacobi_gfx90a [#rocdl.target<chip = "gfx90a", abi = "500">]
        CHECK: gpu.func @jacobi(%arg0: i64, %arg1: !llvm.ptr<1>, %arg2: i64, %arg3: !llvm.ptr<1>, %arg4: i64) kernel attributes {rocdl.flat_work_group_size = "1,1024"}
        CHECK: llvm.addrspacecast %arg1 : !llvm.ptr<1> to !llvm.ptr
        CHECK: llvm.call_intrinsic "llvm.amdgcn.workgroup.id.x"
        CHECK: llvm.call_intrinsic "llvm.amdgcn.dispatch.ptr"
    """)
    # the GPU stages consume the raised form: the entry is a func.func on memrefs
    filecheck(dump / "jacobi.gfx90a.entry.mlir", """
        CHECK: gpu.module @jacobi_gfx90a
        CHECK: func.func private @__cargo_mlir_kernel_stencil_jacobi_{{[0-9a-f]+_[0-9]+_[0-9]+}}(
        CHECK: memref.load {{.*}} : memref<?x?xf64
        CHECK: memref.store
        CHECK: gpu.func @jacobi(
    """)
    filecheck(dump / "jacobi.gfx90a.lower.mlir", """
        CHECK-NOT: gpu.func
        CHECK: llvm.func @jacobi({{.*}}) attributes {gpu.kernel, rocdl.flat_work_group_size = "1,1024", rocdl.kernel}
    """)
    filecheck(dump / "jacobi.sm_90.retarget.mlir", """
        CHECK: gpu.module @jacobi_sm_90 [#nvvm.target<chip = "sm_90">]
        CHECK: llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.ctaid.x"
        CHECK: llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.ntid.x"
        CHECK: llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.tid.x"
    """)
    filecheck(dump / "jacobi.sm_90.lower.mlir", """
        CHECK: llvm.func @jacobi({{.*}}) attributes {gpu.kernel, nvvm.kernel}
    """)


# dot's tree reduction (strided and halving `while` loops) stays in the LLVM dialect
RAISED = {"saxpy": ("saxpy", False), "stencil": ("jacobi", False)}


@pytest.mark.parametrize("name", RAISED)
def test_functions_are_raised_once_before_any_target(gpu_builds, name):
    """`<fn>.any.raise.mlir`: buffer accesses are memref ops, loops scf.for, no
    branches left in the fast path; the original code stays as the slow path."""
    _, dump, _ = gpu_builds[name]
    kernel, has_loop = RAISED[name]
    raised = (dump / f"{kernel}.any.raise.mlir").read_text()
    fast = raised[raised.index("func.func @"):]
    fast = fast[:fast.index("\n  }\n")]
    assert "memref.load" in fast and "memref.store" in fast, fast
    assert ("scf.for" in fast) == has_loop, fast
    assert "llvm.br" not in fast and "llvm.cond_br" not in fast, fast
    assert ".slow" in raised                       # preconditions fail: the original code
    assert not list(dump.glob(f"{kernel}.host.raise.*")), "raise runs once per function, not per target"


def test_panics_are_recorded_for_the_launcher_not_traps(gpu_builds):
    """saxpy's `x[i]` bounds check: on each GPU the call records the panic in the
    image's `__cargo_mlir_panic_record` and ends the thread (NVIDIA `exit`, AMD
    `s_endpgm`); the launcher finds the record by name (cuModuleGetGlobal /
    hipModuleGetGlobal), so it is a global symbol of each image. No warning."""
    _, dump, stderr = gpu_builds["saxpy"]
    assert "trap" not in stderr, stderr
    for target, end in (("sm_90", "llvm.nvvm.exit"), ("gfx90a", "llvm.amdgcn.endpgm")):
        retargeted = (dump / f"saxpy.{target}.retarget.mlir").read_text()
        assert "llvm.intr.trap" not in retargeted and "panic_bounds_check" not in retargeted
        assert "llvm.call @__cargo_mlir_gpu_panic(" in retargeted and f'llvm.call_intrinsic "{end}"' in retargeted
    for image in ("saxpy.sm_90.serialize.cubin", "saxpy.gfx90a.serialize.hsaco"):
        symbols = llvm("llvm-readelf", "-s", dump / image)
        assert re.search(r"32 OBJECT\s+GLOBAL\s+DEFAULT\s+\d+ __cargo_mlir_panic_record$", symbols, re.M), symbols
    ptx = llvm("llvm-objdump", "-d", dump / "saxpy.gfx90a.serialize.hsaco")
    assert "s_trap" not in ptx


def test_unknown_offload_arch_lists_valid_names(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    result = run([CLI, "mlir", "build", "--offload-arch", "gfx9000"], crate)
    assert result.returncode == 1
    assert "unknown offload architecture `gfx9000`" in result.stderr
    assert "gfx90a" in result.stderr and "gfx942" in result.stderr


def test_offload_arch_from_config_and_code_object_v4(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('offload-arch = ["gfx90a", "sm_90"]', 'offload-arch = ["gfx942"]\ncode-object-version = 4'))
    dump = tmp_path / "ir"
    result = run([CLI, "mlir", "build", "--emit-ir", dump], crate)
    assert result.returncode == 0, result.stderr
    notes = llvm("llvm-readelf", "--notes", dump / "saxpy.gfx942.serialize.hsaco")
    assert "amdgcn-amd-amdhsa--gfx942" in notes
    assert re.search(r"amdhsa.version:\s*\n\s*- 1\s*\n\s*- 1", notes), notes          # code object v4


def test_without_ptxas_nvidia_images_are_ptx_with_a_warning(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    record = tmp_path / "toolchain.toml"
    env = {"CARGO_MLIR_TOOLCHAIN_FILE": str(record), "CARGO_MLIR_PTXAS": str(tmp_path / "no-ptxas")}
    dump = tmp_path / "ir"
    result = run([CLI, "mlir", "build", "--offload-arch", "sm_90", "--emit-ir", dump], crate, **env)
    assert result.returncode == 0, result.stderr
    assert "ptxas was not found" in result.stderr
    ptx = (dump / "saxpy.sm_90.serialize.ptx").read_text()
    assert ".target sm_90" in ptx and ".entry saxpy" in ptx
    listing = llvm("llvm-objdump", "--offloading", crate / "target/debug/saxpy")
    assert "kind            ptx" in listing


@pytest.mark.skipif(not os.path.exists("/dev/nvidia0"), reason="needs an NVIDIA GPU (/dev/nvidia0)")
@pytest.mark.parametrize("name", SAMPLES)
def test_runs_on_nvidia_gpu(gpu_builds, name):
    crate, _, _ = gpu_builds[name]
    host = run([crate / "target/release" / name], crate, CARGO_MLIR_DEVICE="host")
    gpu = run([crate / "target/release" / name], crate, CARGO_MLIR_DEVICE="gpu", CARGO_MLIR_LOG="info")
    assert gpu.returncode == 0, gpu.stderr
    assert "ran on GPU" in gpu.stderr and gpu.stdout == host.stdout
