"""raise_function on committed rustc IR (tests/lit/raise): the report and the
shape of the result, without external tools."""

from pathlib import Path

import pytest

ir = pytest.importorskip("mlir.ir")
from cargo_mlir.pipeline.stages.raise_ import raise_function  # noqa: E402

LIT = Path(__file__).parent.parent / "lit" / "raise"


def _raise(name, entry):
    with ir.Context() as ctx, ir.Location.unknown():
        module = ir.Module.parse((LIT / name).read_text(), ctx)
        report = raise_function(module, entry)
        return report, str(module)


def test_matmul_ijk_raises_with_preconditions():
    r, text = _raise("loops.mlir", "__cargo_mlir_accel_mm_ijk")
    assert r.raised and r.slow_symbol == "__cargo_mlir_accel_mm_ijk.slow"
    assert len(r.loops) == 5 and all(n.raised for n in r.loops)
    assert any("(2-D view)" in p for p in r.preconditions)
    assert not r.fast_path_can_panic
    fast = text.split("func.func")[1].split("\n  }\n")[0]
    assert fast.count("scf.for") == 5 and "llvm.br" not in fast


@pytest.mark.parametrize("entry,reason", [
    ("__cargo_mlir_accel_square", "index not affine"),
    ("__cargo_mlir_accel_sidefx", "call with side effects in the loop"),
])
def test_negatives_stay_unchanged(entry, reason):
    r, text = _raise("loops.mlir", entry)
    assert not r.raised and r.slow_symbol is None
    assert [n.reason for n in r.loops if not n.raised][0] == reason
    assert "func.func" not in text and ".slow" not in text


def test_unknown_entry_is_reported_not_raised():
    r, _ = _raise("saxpy.mlir", "nope")
    assert not r.raised and r.reason


def test_forwarding_wrapper_is_followed():
    r, text = _raise("dot.mlir", "__cargo_mlir_kernel_dot_dot_partial_8_4")
    assert r.raised and r.loops == [type(r.loops[0])("<function>", True, "")]
    assert "memref.load" in text


@pytest.mark.parametrize("entry", ["__cargo_mlir_accel_dot", "__cargo_mlir_accel_sum", "__cargo_mlir_accel_mm_raw",
                                   "__cargo_mlir_accel_scale2d", "__cargo_mlir_accel_find",
                                   "__cargo_mlir_accel_prefix", "__cargo_mlir_accel_membound"])
def test_more_shapes_raise(entry):
    r, text = _raise("shapes.mlir", entry)
    assert r.raised and r.loops and all(n.raised for n in r.loops), (r.reason, r.loops)
    assert not r.fast_path_can_panic


@pytest.mark.parametrize("entry", ["__cargo_mlir_accel_gather", "__cargo_mlir_accel_scatter"])
def test_data_dependent_indices_say_so(entry):
    r, text = _raise("shapes.mlir", entry)
    assert not r.raised and [n.reason for n in r.loops] == ["index depends on loaded data"]


def test_loop_locations_from_debug_info():
    r, _ = _raise("locations.mlir", "__cargo_mlir_accel_dot")
    assert r.raised and [n.location for n in r.loops] == ["src/lib.rs:7"]
    r, _ = _raise("locations.mlir", "__cargo_mlir_accel_gather")
    assert [(n.location, n.raised, n.reason) for n in r.loops] == \
        [("src/lib.rs:16", False, "index depends on loaded data")]


def test_grid_guards_make_preconditions_per_launch():
    """Stencil: the kernel's own guards (i < n, i != 0, i != n - 1, …) bound the
    ids, so no precondition reads an id and the ids are read once (the fast
    path reuses the precondition block's values)."""
    r, text = _raise("stencil.mlir", "__cargo_mlir_kernel_stencil_jacobi_8_4")
    assert r.raised and r.overlap_conditions == ["arg3 and arg1 do not overlap"]
    assert all("gpu_global_id" not in p or " for gpu_global_id_" in p for p in r.preconditions)
    assert len(r.preconditions) == len(set(r.preconditions))
    fast = text.split("func.func")[1].split("\n  }\n")[0]
    assert fast.count("@cargo_mlir_gpu_global_id_x()") == 1 and fast.count("@cargo_mlir_gpu_global_id_y()") == 1
    assert "ptrtoint" not in fast


def test_saxpy_has_no_overlap_check():
    r, text = _raise("saxpy.mlir", "__cargo_mlir_kernel_saxpy_saxpy_7_4")
    assert r.raised and r.overlap_conditions and not any("overlap" in p for p in r.preconditions)


def test_pure_libm_calls_become_intrinsics_in_the_raised_copy():
    """f32::tanh is `call @tanhf` in rustc's IR: the raised copy has llvm.intr.tanh
    (then math.tanh), which the host lowers to that same call. A function
    without such an intrinsic (atan2f) stays a call."""
    from cargo_mlir.pipeline.stages.raise_ import arith_
    text = """
    llvm.func @tanhf(f32) -> f32
    llvm.func @tanh(f64) -> f64
    llvm.func @atanf(f32) -> f32
    llvm.func @atan2f(f32, f32) -> f32
    llvm.func @f(%x: f32, %y: f64) -> f64 {
      %a = llvm.call @tanhf(%x) : (f32) -> f32
      %b = llvm.call @tanh(%y) : (f64) -> f64
      %c = llvm.call @atanf(%a) : (f32) -> f32
      %d = llvm.call @atan2f(%c, %x) : (f32, f32) -> f32
      llvm.return %b : f64
    }
    """
    with ir.Context() as ctx, ir.Location.unknown():
        module = ir.Module.parse(text, ctx)
        func = [op for op in module.body.operations if "@f(" in str(op)][0]
        arith_.pure_calls(list(func.regions[0].blocks))
        assert module.operation.verify()
        out = str(func)
    assert out.count("llvm.intr.tanh") == 2 and "llvm.intr.atan(" in out, out
    assert "llvm.call @atan2f" in out and "llvm.call @tanh" not in out and "llvm.call @atanf" not in out, out
    assert arith_.SAME["llvm.intr.tanh"] == "math.tanh"
