"""Stage `raise` (function scope), and its Python pass `raise-to-scf`: the
marked function lifted from the LLVM dialect to scf/memref/arith (the raising
itself lives in `raise_/`). Raising is an optimisation: what cannot be raised
stays as it was, and the notes say why (`-v`, `--explain`)."""

from __future__ import annotations

from cargo_mlir.config import PassSpec
from cargo_mlir.pipeline.passes import run_spec
from cargo_mlir.pipeline.stage import Context, Finding, LoopFact

DEFAULT = PassSpec(pipeline="raise-to-scf,canonicalize,cse,recognise-matmul,reorder-matmul-chains,fuse-elementwise")


def default(ctx: Context) -> PassSpec:
    return DEFAULT


def raise_stage(module, ctx: Context):
    """The configured `raise` pipeline, else the default; says so when it does not raise."""
    spec = ctx.spec("raise") or DEFAULT
    if ctx.marker.kind == "autodiff":
        return module       # the autodiff stage differentiates the LLVM dialect
    run_spec(spec, module, ctx, "raise")
    if not ctx.facts.raise_ran:
        m = ctx.marker
        ctx.notes.append(Finding("note", f"{m.kind} `{m.name}` ({m.location}): not raised (the `raise` "
                                         f"pipeline `{spec.describe()}` does not run raise-to-scf)"))
    return module


def raise_to_scf(module, ctx: Context) -> None:
    from cargo_mlir.pipeline.stages.raise_ import raise_function

    report = raise_function(module, ctx.marker.entry)
    facts = ctx.facts
    facts.raise_ran = True
    facts.raised = report.raised
    facts.slow_symbol = report.slow_symbol
    facts.preconditions = list(report.preconditions)
    facts.loops = [LoopFact(n.location, n.raised, n.reason) for n in report.loops]
    facts.fast_path_can_panic = report.fast_path_can_panic
    facts.reason = getattr(report, "reason", "")
    ctx.notes.extend(explain(ctx))


def recognise_matmul(module, ctx: Context) -> None:
    """Naive matmul nests of the raised function become linalg.matmul (stages/matmul.py)."""
    from cargo_mlir.pipeline.stages.matmul import recognise
    from cargo_mlir.pipeline.stages.raise_.rewrite import location

    m = ctx.marker
    if not ctx.facts.raised:
        return
    report = recognise(module, m.entry, "exact" in m.flags, location)
    where = f"{m.kind} `{m.name}`"
    for r in report.recognised:
        text = r.describe(m.name, m.location)
        ctx.facts.matmuls.append(text)
        ctx.notes.append(Finding("note", text))
    for miss in report.near_misses:
        loc = miss.location if miss.location != "<function>" else m.location
        ctx.notes.append(Finding("note", f"{where}: the loop nest at {loc} looks like a matmul but is not "
                                         f"recognised: {miss.reason}"))


def explain(ctx: Context) -> list[Finding]:
    f, name = ctx.facts, f"{ctx.marker.kind} `{ctx.marker.name}` ({ctx.marker.location})"
    if not f.raised:
        head = f"{name}: not raised (stays in the LLVM dialect)" + (f": {f.reason}" if f.reason else "")
    else:
        pre = "; ".join(f.preconditions) or "none"
        head = f"{name}: raised to scf/memref (fast path when {pre})"
    notes = [Finding("note", head)]
    for loop in f.loops:
        notes.append(Finding("note", f"  loop at {loop.location}: "
                             + ("raised to scf.for" if loop.raised else loop.reason)))
    return notes
