"""Float math in kernels built for GPUs (pipeline/stages/gpu_math.py), with
the real tools and device libraries (CUDA's libdevice, ROCm's OCML from
Debian's rocm-device-libs): every function of the fixture builds for gfx90a
and sm_90 into images with no unresolved calls, and on the host the kernels
give plain Rust's bits. No GPU runs here: the images are checked statically.
docs/gpu-math.md states each function's accuracy on each GPU."""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import CLI, llvm, copy_crate, run

pytestmark = pytest.mark.e2e
FIXTURE = __import__("pathlib").Path(__file__).parent / "fixtures" / "gpu_math"
KERNELS = ("unary_f32", "binary_f32", "unary_f64", "binary_f64")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    crate = copy_crate(FIXTURE, tmp_path_factory.mktemp("gpu_math") / "gpu_math")
    dump = crate / "ir"
    result = run([CLI, "mlir", "run", "--release", "--emit-ir", dump], crate, CARGO_MLIR_LOG="info")
    return crate, dump, result


def test_every_function_gives_plain_rusts_bits_on_the_host(built):
    _, _, result = built
    assert result.returncode == 0, result.stderr
    counts = re.findall(r"^(f32|f64) mismatches (\d+) of (\d+)$", result.stdout, re.M)
    assert [(t, m) for t, m, _ in counts] == [("f32", "0"), ("f64", "0")], result.stdout + result.stderr
    assert all(int(n) > 10000 for _, _, n in counts)
    for kernel in KERNELS:
        assert f"kernel `{kernel}` ran on host (MLIR code" in result.stderr


@pytest.mark.parametrize("kernel", KERNELS)
def test_images_have_no_unresolved_calls(built, kernel):
    _, dump, result = built
    assert result.returncode == 0, result.stderr
    hsaco = llvm("llvm-readelf", "-s", dump / f"{kernel}.gfx90a.serialize.hsaco")
    assert re.search(rf"FUNC\s+GLOBAL\s+PROTECTED\s+\d+\s+{kernel}$", hsaco, re.M), hsaco
    # the only undefined entry is ELF's null symbol; the OCML code is inside
    assert not re.search(r"\bUND[ \t]+\S", hsaco), hsaco
    assert "__ocml" not in hsaco
    cubin = llvm("llvm-readelf", "-s", dump / f"{kernel}.sm_90.serialize.cubin")
    assert re.search(rf"FUNC\s+GLOBAL\s.*\s{kernel}$", cubin, re.M), cubin
    # ptxas's own reserved-shared-memory symbol aside, nothing is left undefined
    assert not re.search(r"\bUND[ \t]+(?!\.nv\.reservedSmem)\S", cubin), cubin
    assert "__nv_" not in cubin.replace("__nv_reservedSMEM", "")
    # the PTX packaged beside the cubin (for drivers too old for it) carries libdevice's code too
    ptx = (dump / f"{kernel}.sm_90.serialize.cubin.ptx").read_text()
    assert f".entry {kernel}(" in ptx and ".extern" not in ptx


def test_transcendentals_call_the_vendor_library_and_exact_operations_stay_native(built):
    _, dump, _ = built
    nv = (dump / "unary_f32.sm_90.retarget.mlir").read_text()
    amd = (dump / "unary_f64.gfx90a.retarget.mlir").read_text()
    for name in ("tanhf", "expf", "logf", "sinf", "cbrtf", "expm1f", "log1pf", "asinf"):
        assert f"llvm.call @__nv_{name}(" in nv, name
    for name in ("tanh", "exp", "log", "sin", "cbrt", "expm1", "log1p", "asin"):
        assert f"llvm.call @__ocml_{name}_f64(" in amd, name
    for native in ("sqrt", "floor", "ceil", "trunc", "round", "rint", "fabs"):      # round_ties_even: rint
        assert f'llvm.call_intrinsic "llvm.{native}.f32"' in nv, native
        assert f'llvm.call_intrinsic "llvm.{native}.f64"' in amd, native
    assert not re.search(r"llvm\.intr\.(exp|log|sin|cos|sqrt|floor)\b", nv + amd)


def test_without_ptxas_the_ptx_carries_libdevices_code(tmp_path):
    crate = copy_crate(FIXTURE, tmp_path / "gpu_math")
    dump = tmp_path / "ir"
    result = run([CLI, "mlir", "build", "--release", "--offload-arch", "sm_90", "--emit-ir", dump], crate,
                 CARGO_MLIR_TOOLCHAIN_FILE=str(tmp_path / "tc.toml"), CARGO_MLIR_PTXAS=str(tmp_path / "no-ptxas"))
    assert result.returncode == 0, result.stderr
    ptx = (dump / "binary_f64.sm_90.serialize.ptx").read_text()
    assert ".entry binary_f64" in ptx
    assert ".extern" not in ptx and "__nv_" not in ptx          # pow, atan2, … linked in, not called


def test_a_missing_device_library_is_an_error_naming_the_functions(tmp_path):
    crate = copy_crate(FIXTURE, tmp_path / "gpu_math")
    result = run([CLI, "mlir", "build", "--release"], crate, CARGO_MLIR_TOOLCHAIN_FILE=str(tmp_path / "tc.toml"),
                 CARGO_MLIR_ROCM_DEVICE_LIBS=str(tmp_path / "none"), CARGO_MLIR_LIBDEVICE_DIR=str(tmp_path / "none"))
    assert result.returncode != 0
    assert ("error: kernel `binary_f32` for gfx90a (src/lib.rs:59) calls % (rem), atan2, hypot, powf, powi: that "
            "needs ROCm's device libraries (OCML: float math on AMD GPUs), and none was found") in result.stderr
    assert "kernel `unary_f64` for sm_90 (src/lib.rs:60) calls " in result.stderr
    assert "that needs CUDA's libdevice (float math on NVIDIA GPUs), and none was found" in result.stderr
    assert "help: cargo mlir bootstrap install   (Debian's rocm-device-libs)" in result.stderr
    assert "Traceback" not in result.stderr
    doctor = run([CLI, "doctor"], tmp_path, CARGO_MLIR_TOOLCHAIN_FILE=str(tmp_path / "tc.toml"),
                 CARGO_MLIR_ROCM_DEVICE_LIBS=str(tmp_path / "none"))
    assert re.search(r"optional rocm-device-libs\s+not found \(looked in CARGO_MLIR_ROCM_DEVICE_LIBS=", doctor.stdout)


def test_device_libraries_without_the_gpus_isa_file_are_an_error(tmp_path):
    """A ROCm release older than the GPU (Debian's 5.2.3 knows no gfx942)."""
    from conftest import REPO  # noqa: F401  (the fixture's crate is this checkout's)
    found = run([CLI, "doctor", "--json"], tmp_path).stdout
    ocml = __import__("json").loads(found)["found"]["rocm-device-libs"]["path"]
    libs = tmp_path / "bitcode"
    libs.mkdir()
    for name in ("ocml.bc", "ockl.bc"):
        shutil.copy(__import__("pathlib").Path(ocml).parent / name, libs / name)
    crate = copy_crate(FIXTURE, tmp_path / "gpu_math")
    result = run([CLI, "mlir", "build", "--release", "--offload-arch", "gfx90a"], crate,
                 CARGO_MLIR_TOOLCHAIN_FILE=str(tmp_path / "tc.toml"), CARGO_MLIR_ROCM_DEVICE_LIBS=str(libs))
    assert result.returncode != 0
    assert (f"kernel `unary_f32` (src/lib.rs:59) for gfx90a: the ROCm device libraries in {libs} lack "
            "oclc_isa_version_90a.bc, "
            "needed for gfx90a code") in result.stderr, result.stderr


def test_the_default_architecture_never_breaks_a_build(tmp_path):
    """No `offload-arch` (cargo-mlir's default, gfx90a) on a machine without ROCm's
    device libraries: a warning per kernel, the build and the run succeed on the
    host. The same architecture asked for on the command line is an error."""
    crate = copy_crate(FIXTURE, tmp_path / "gpu_math")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('offload-arch = ["gfx90a", "sm_90"]\n', ""))
    env = dict(CARGO_MLIR_TOOLCHAIN_FILE=str(tmp_path / "tc.toml"), CARGO_MLIR_ROCM_DEVICE_LIBS=str(tmp_path / "none"))
    result = run([CLI, "mlir", "run", "--release"], crate, **env)
    assert result.returncode == 0, result.stderr
    assert re.findall(r"^(f32|f64) mismatches (\d+)", result.stdout, re.M) == [("f32", "0"), ("f64", "0")]
    warned = re.findall(r"^warning: kernel `(\w+)` \(src/lib.rs:\d+\) was not built for gfx90a, cargo-mlir's default "
                        r"GPU architecture, and runs on the host on such a GPU: kernel `\w+` for gfx90a", result.stderr,
                        re.M)
    assert sorted(warned) == sorted(KERNELS), result.stderr
    assert "a failure for an architecture you name is an error" in result.stderr
    asked = run([CLI, "mlir", "build", "--release", "--offload-arch", "gfx90a"], crate, **env)
    assert asked.returncode != 0
    assert "error: kernel `unary_f32` for gfx90a (src/lib.rs:59) calls " in asked.stderr
    assert "was not built for gfx90a" not in asked.stderr
