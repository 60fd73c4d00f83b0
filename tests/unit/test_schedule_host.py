"""The host matmul schedule at the IR level: every variant verifies after
`schedule_matmuls`, lowers with its prefix + the host lowering through the
bindings' PassManager, and an exact matmul has no FMA left after lowering."""

from __future__ import annotations

import pytest

pytest.importorskip("mlir")

from mlir import ir, passmanager  # noqa: E402

from cargo_mlir.pipeline.stages.schedule_host import default_script, schedule_matmuls, tiles  # noqa: E402
from cargo_mlir.pipeline.table import HOST_LOWERING  # noqa: E402

TRANSPOSED = ("indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, "
              "affine_map<(d0, d1, d2) -> (d0, d1)>] ")


def module_text(t="f32", layout="", trans=False, exact=False, fill=True) -> str:
    ty = f"memref<?x?x{t}{layout}>"
    return f"""
func.func @mm(%A: {ty}, %B: {ty}, %C: {ty}) {{
  %z = arith.constant 0.0 : {t}
  {f"linalg.fill ins(%z : {t}) outs(%C : {ty})" if fill else ""}
  linalg.matmul {TRANSPOSED if trans else ""}{"{cargo_mlir.exact} " if exact else ""}ins(%A, %B : {ty}, {ty}) outs(%C : {ty})
  return
}}"""


def lowered(text: str) -> tuple[str, str]:
    """(IR after the schedule, IR after the lowering)."""
    with ir.Context():
        module = ir.Module.parse(text)
        schedule_matmuls(module, None)
        module.operation.verify()
        scheduled = str(module)
        passmanager.PassManager.parse(f"builtin.module({HOST_LOWERING})").run(module.operation)
        module.operation.verify()
        return scheduled, str(module)


CASES = {
    "f32": {},
    "f64": {"t": "f64"},
    "strided": {"layout": ", strided<[?, 1], offset: ?>"},
    "transposed": {"trans": True, "t": "f64"},
    "exact": {"exact": True},
    "no fill": {"fill": False},
}


@pytest.mark.parametrize("case", CASES)
def test_schedules_and_lowers(case):
    scheduled, final = lowered(module_text(**CASES[case]))
    assert "linalg.matmul" not in scheduled
    assert "cargo_mlir_rt_parallel_for" in scheduled and "cargo_mlir_rt_cpu_level" in scheduled
    assert 'target_cpu = "x86-64-v3"' in scheduled
    # the micro-kernel is vectorised: MR×NR accumulators carried across k
    mr, nr = tiles(default_script())[CASES[case].get("t", "f32")][:2]
    assert "iter_args" in scheduled and f"vector<{mr}x{nr}x" in scheduled
    for leftover in ("linalg.", "scf.", "memref.", "vector.", "unrealized_conversion_cast"):
        assert leftover not in final, leftover
    if not CASES[case].get("exact"):
        assert "llvm.intr.fmuladd" in final or "llvm.intr.fma" in final


def test_exact_has_no_fma():
    scheduled, final = lowered(module_text(exact=True))
    assert "vector.fma" not in scheduled
    assert "fmuladd" not in final and "llvm.intr.fma" not in final and "contract" not in final


def test_unhandled_layout_is_left_alone():
    text = module_text(layout=", strided<[?, ?], offset: ?>")
    with ir.Context():
        module = ir.Module.parse(text)
        schedule_matmuls(module, None)
        assert "linalg.matmul" in str(module)


def test_notes_what_it_did():
    from types import SimpleNamespace
    ctx = SimpleNamespace(notes=[], marker=SimpleNamespace(kind="accelerate", name="mm"), gpu_arches=())
    with ir.Context():
        module = ir.Module.parse(module_text() + module_text(t="f64", exact=True).replace("@mm", "@mm2"))
        schedule_matmuls(module, ctx)
    assert len(ctx.notes) == 1 and "2 linalg.matmul" in ctx.notes[0].message
