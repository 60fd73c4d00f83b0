"""Float math in GPU code (pipeline/stages/gpu_math.py), on small gpu.modules
as rustc's IR and the raise stage leave them: exact operations stay LLVM
intrinsics (as `llvm.call_intrinsic`, which the GPU lowerings leave alone),
the rest become calls into libdevice (NVIDIA) or OCML (AMD). The images the
real tools make from them are checked in tests/e2e/test_gpu_math.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline.stages import gpu_math

KERNEL = """
module attributes {gpu.container_module} {
  gpu.module @k {
    llvm.func @tanhf(f32) -> f32
    llvm.func @atan2(f64, f64) -> f64
    llvm.func @not_libm(f32) -> f32
    llvm.func @body(%x: f32, %y: f64, %v: vector<2xf32>, %n: i32) -> f32 {
      %a = llvm.intr.exp(%x) : (f32) -> f32
      %b = llvm.intr.fabs(%a) : (f32) -> f32
      %c = llvm.frem %b, %x : f32
      %d = llvm.call @tanhf(%c) : (f32) -> f32
      %e = llvm.call @atan2(%y, %y) : (f64, f64) -> f64
      %f = llvm.intr.powi(%d, %n) : (f32, i32) -> f32
      %g = llvm.intr.sin(%v) : (vector<2xf32>) -> vector<2xf32>
      %h = llvm.intr.maxnum(%f, %x) : (f32, f32) -> f32
      %i = llvm.call @not_libm(%h) : (f32) -> f32
      %r = math.floor %i : f32
      %s = math.tanh %r : f32
      %t = arith.maxnumf %s, %x : f32
      llvm.return %t : f32
    }
  }
}
"""


def rewritten(kind: str) -> tuple[str, gpu_math.MathUse]:
    from mlir import ir
    with ir.Context() as ctx:
        ctx.allow_unregistered_dialects = True
        module = ir.Module.parse(KERNEL)
        gpu_module = module.body.operations[0].operation
        use = gpu_math.rewrite(gpu_module.regions[0].blocks[0], gpu_module, kind)
        module.operation.verify()
        return str(module), use


def test_nvidia_calls_libdevice_and_keeps_exact_operations_native():
    text, use = rewritten("nvptx")
    for call in ("llvm.call @__nv_expf(", "llvm.call @__nv_fmodf(", "llvm.call @__nv_tanhf(", "llvm.call @__nv_atan2(",
                 "llvm.call @__nv_powif(", "llvm.call @__nv_sinf("):
        assert call in text, text
    for native in ('"llvm.fabs.f32"', '"llvm.maxnum.f32"', '"llvm.floor.f32"'):
        assert f"llvm.call_intrinsic {native}" in text, text
    assert "llvm.intr.exp" not in text and "llvm.frem" not in text and "math." not in text
    assert "arith.maxnumf" not in text
    # the libm declarations go; a function that merely looks like one stays a plain call
    assert "@tanhf" not in text and "@atan2(" not in text.replace("__nv_atan2(", "")
    assert "llvm.call @not_libm(" in text
    assert use.functions == {"__nv_expf", "__nv_fmodf", "__nv_tanhf", "__nv_atan2", "__nv_powif", "__nv_sinf"}
    assert use.rust_names() == "% (rem), atan2, exp, powi, sin, tanh"


def test_amd_calls_ocml_with_its_names():
    text, use = rewritten("amdgpu")
    for call in ("@__ocml_exp_f32(", "@__ocml_fmod_f32(", "@__ocml_tanh_f32(", "@__ocml_atan2_f64(",
                 "@__ocml_pown_f32(", "@__ocml_sin_f32("):
        assert call in text, text
    assert "llvm.func @__ocml_pown_f32(f32, i32) -> f32" in text


def test_vectors_are_computed_lane_by_lane():
    text, _ = rewritten("nvptx")
    assert text.count("llvm.call @__nv_sinf(") == 2                      # vector<2xf32>
    assert text.count("llvm.extractelement") == 2 and text.count("llvm.insertelement") == 2


@pytest.mark.parametrize("name, canonical", [("tanhf", "tanh"), ("tanh", "tanh"), ("fmodf", "fmod"),
                                             ("log1p", "log1p"), ("sinx", None), ("frem", None), ("powi", None)])
def test_library_function_names(name, canonical):
    assert gpu_math.library_function(name) == canonical


def test_a_library_without_the_chips_isa_file_is_an_error(tmp_path: Path):
    for name in ("ocml", "ockl", "oclc_isa_version_90a"):
        (tmp_path / f"{name}.bc").write_bytes(b"BC")
    gpu_math.check_library("amdgpu", "gfx90a", tmp_path / "ocml.bc", "kernel `k` for gfx90a")
    with pytest.raises(CargoMlirError) as err:
        gpu_math.check_library("amdgpu", "gfx942", tmp_path / "ocml.bc", "kernel `k` for gfx942")
    assert err.value.message == (f"kernel `k` for gfx942: the ROCm device libraries in {tmp_path} lack "
                                 "oclc_isa_version_942.bc, needed for gfx942 code")


@pytest.mark.parametrize("symbol, message", [
    ("_ZN4core9panicking18panic_bounds_check17h0123456789abcdefE", "index out of bounds"),
    ("_RNvNtNtCs1_4core9panicking11panic_const24panic_const_add_overflow", "attempt to add with overflow"),
    ("_RNvNtNtCs1_4core9panicking11panic_const23panic_const_div_by_zero", "attempt to divide by zero"),
    ("_RNvNtCs1_4core6option13unwrap_failed", "called `Option::unwrap()` on a `None` value"),
    ("_RNvNtCs1_4core9panicking9panic_fmt", "explicit panic (a GPU keeps no formatted message)"),
    ("_ZN5other4oops17h0123456789abcdefE", "panicked"),
])
def test_gpu_panics_are_recorded_with_the_message_rust_gives(symbol, message):
    """The kind a panic call records (retarget_gpu.py) names the launcher's message (abi.GPU_PANIC_KINDS)."""
    from cargo_mlir.abi import GPU_PANIC_KINDS
    from cargo_mlir.pipeline.stages.retarget_gpu import panic_kind
    assert GPU_PANIC_KINDS[panic_kind(symbol) - 1] == message
