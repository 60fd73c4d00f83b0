"""The `raise` stage's core: lifts one imported function from the llvm dialect
to structured MLIR (scf loops, arith/math, memref accesses), versioned by
preconditions that replace the bounds checks it removes.

`raise_function(module, entry)` rewrites `@entry` in place: the original body
moves to `@entry.slow`, and `@entry` becomes a `func.func` that tests the
preconditions and runs the structured copy or calls the slow one. Anything
it cannot handle stays unchanged and the report says why."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlir import ir

from .emit import Unbounded


@dataclass
class LoopNote:
    location: str        # "src/lib.rs:14" from the op's location if it has one, else "<function>"
    raised: bool
    reason: str          # "" when raised


@dataclass
class RaiseReport:
    function: str
    raised: bool
    slow_symbol: str | None
    preconditions: list[str] = field(default_factory=list)
    # Conditions the fast path does not rely on, so they are not checked: its loads
    # and stores keep their order, so overlapping buffers give the original's
    # results. A stage that reorders accesses (a matmul rewrite) must check them.
    overlap_conditions: list[str] = field(default_factory=list)
    loops: list[LoopNote] = field(default_factory=list)
    fast_path_can_panic: bool = False
    reason: str = ""     # why the function as a whole was not raised ("" when it was)


def raise_function(module: ir.Module, entry: str) -> RaiseReport:
    """Rewrite `entry` in place (inside the module's current ir.Context). Never raises on
    code it cannot handle: it leaves that code unchanged and says why in the report."""
    from .rewrite import attempt
    report = RaiseReport(function=entry, raised=False, slow_symbol=None)
    try:
        attempt(module, entry, report)
    except (Unbounded, NotImplementedError) as e:
        report.raised, report.slow_symbol, report.overlap_conditions = False, None, []
        report.reason = report.reason or str(e)
    except Exception as e:     # noqa: BLE001 - a raise is optional; the module is left as it was
        report.raised, report.slow_symbol, report.overlap_conditions = False, None, []
        report.reason = f"internal error: {type(e).__name__}: {e}"
    return report


__all__ = ["LoopNote", "RaiseReport", "raise_function"]
