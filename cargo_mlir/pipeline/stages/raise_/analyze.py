"""Runs the CFG and value analyses over the copied body: loops with their
induction variables (primary ones first, then the variables derived from
them, since a derived step may mention an outer loop's counter)."""

from __future__ import annotations

from mlir import ir

from .cfg import Loop, dominators, find_induction, natural_loops
from .guards import mark_guarded
from .memory import local_buffers
from .poly import SIZES, Analysis, Poly, int_const, op_of


def defined_in(v: ir.Value, blocks) -> bool:
    op = op_of(v)
    block = v.owner if op is None else op.block
    return block in blocks


def _step(an: Analysis, loop: Loop, arg: ir.Value, nxt: ir.Value, constants_only: bool):
    op = op_of(nxt)
    if op is None or arg not in list(op.operands):
        return None
    other = [o for o in op.operands if o != arg]
    if op.name == "llvm.add" and len(other) == 1:
        size, step = 1, other[0]
    elif op.name == "llvm.getelementptr" and op.operands[0] == arg and len(other) == 1:
        size = SIZES.get(str(ir.TypeAttr(op.attributes["elem_type"]).value))
        step = other[0]
    else:
        return None
    if constants_only:
        c = int_const(op_of(step))
        return Poly.const(c * size) if c is not None and size else None
    if defined_in(step, loop.blocks) or size is None:
        return None
    p = an.poly(step)
    return p.scale(size) if p is not None and an.iv_degree(p) == 0 else None


def analyze(blocks: list[ir.Block], local: bool = False):
    """(Analysis, loops, dominators) for the fast path's blocks; with `local`,
    the function's own heap buffers too (memory.local_buffers)."""
    an = Analysis(list(blocks[0].arguments), blocks[0])
    dom = dominators(blocks)
    loops = natural_loops(blocks, dom)
    if local:
        an.local_bases, an.local_allocs = local_buffers(an, blocks, loops)
    inv = lambda v, lp: not defined_in(v, lp.blocks)
    for lp in loops:
        find_induction(lp, inv, lambda a, n, lp=lp: _step(an, lp, a, n, True))
        if lp.iv is not None:
            an.iv_loop[lp.iv] = lp
    for lp in loops:
        if lp.iv is not None:
            lp.derived.clear()
            find_induction(lp, inv, lambda a, n, lp=lp: _step(an, lp, a, n, False))
            for arg, (init, step) in lp.derived.items():
                if arg != lp.iv:
                    an.derived[arg] = (lp, init, step)
    an.memo.clear()
    for lp in loops:
        if lp.iv is not None and lp.exit_kind == "eq":
            mark_guarded(an, lp, dom)
    return an, loops, dom


def innermost(loops: list[Loop], block: ir.Block) -> Loop | None:
    inside = [lp for lp in loops if block in lp.blocks]
    return min(inside, key=lambda lp: len(lp.blocks)) if inside else None
