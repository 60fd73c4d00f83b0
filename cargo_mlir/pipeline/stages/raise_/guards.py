"""Finds the test rustc keeps in front of a rotated loop (`n == 0` skips it),
which makes a do-while loop with an `eq` exit the same as `for iv in start..ub`."""

from __future__ import annotations

from mlir import ir

from .cfg import Loop, successors, terminator
from .poly import Analysis, Poly, op_of

# icmp predicates: 0 eq, 1 ne, 2 slt, 3 sle, 4 sgt, 5 sge, 6 ult, 7 ule, 8 ugt, 9 uge
NEGATE = {0: 1, 1: 0, 2: 5, 3: 4, 4: 3, 5: 2, 6: 9, 7: 8, 8: 7, 9: 6}


def facts(cond: ir.Value, truth: bool) -> list[tuple[int, ir.Value, ir.Value]]:
    """Compares known to hold when `cond` has the value `truth`."""
    op = op_of(cond)
    if op is None:
        return []
    if op.name == "llvm.icmp":
        p = ir.IntegerAttr(op.attributes["predicate"]).value
        return [(p if truth else NEGATE[p], op.operands[0], op.operands[1])]
    if (op.name == "llvm.or" and not truth) or (op.name == "llvm.and" and truth):
        return facts(op.operands[0], truth) + facts(op.operands[1], truth)
    return []


def _proves(an: Analysis, loop: Loop, fs) -> bool:
    start, ub = an.poly(loop.start), an.poly(loop.ub)
    if start is None or ub is None:
        return False
    for p, x, y in fs:
        px, py = an.poly(x), an.poly(y)
        if p in (8, 9, 4, 5):                   # x > y reads y < x
            p, px, py = {8: 6, 9: 7, 4: 2, 5: 3}[p], py, px
        if p == 1 and start == Poly() and {_k(px), _k(py)} == {_k(ub), _k(Poly())}:
            return True                          # ub != 0 with start 0
        if p == 6 and px == start and py == ub:
            return True                          # start < ub
    return False


def _k(p):
    return tuple(sorted(p.items())) if p is not None else None


def mark_guarded(an: Analysis, loop: Loop, dom) -> None:
    """Sets loop.guarded when some conditional edge that every entry into
    the loop passes proves start < ub."""
    for d in dom[loop.entry]:
        term = terminator(d)
        if term.name != "cf.cond_br":
            continue
        succ = successors(d)
        for i, s in enumerate(succ):
            if succ[1 - i] == s:
                continue
            # the edge d -> s dominates the loop: s does, and s's other
            # predecessors are s's own back edges (facts on symbols persist)
            others = [p for p in s.predecessors if p != d]
            edge = s in dom[loop.entry] and all(s in dom[p] for p in others)
            direct = s == loop.header and d == loop.entry
            if (edge or direct) and _proves(an, loop, facts(term.operands[0], i == 0)):
                loop.guarded = True
                return
