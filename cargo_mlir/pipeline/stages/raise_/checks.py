"""Bounds checks and other panic branches: which can be hoisted to the entry
as preconditions, and the precondition code for those.

A check is a `cf.cond_br` with one successor ending in `llvm.unreachable`
(the panic call). Over symbols only, its condition is simply recomputed at
the entry. Over induction variables, `x <u y` holds everywhere in the loop
box when min(x) >= 0 and max(x - y) < 0 (and y's exact value is a valid
unsigned one), which the entry can test with the bounds of emit.py."""

from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith

from .cfg import successors, terminator
from .box import covers
from .emit import Emitter, Unbounded
from .guards import NEGATE
from .poly import PURE, Analysis, Poly, op_of


@dataclass
class Check:
    branch: ir.Operation     # the cf.cond_br
    ok_index: int            # successor taken when the check passes
    block: ir.Block
    reason: str = ""         # why it cannot be hoisted ("" when it can)


def is_panic(block: ir.Block, seen: frozenset = frozenset()) -> bool:
    """The block ends in a panic on every path: it is the panic call, or it only
    tests pure values and branches to such blocks (LLVM keeps the order of
    several bounds checks by re-testing them where a hoisted one fails)."""
    t = terminator(block)
    if t.name == "llvm.unreachable":
        return True
    if t.name not in ("cf.br", "cf.cond_br") or block in seen or len(seen) > 8:
        return False
    if any(op.operation.name not in PURE for op in block.operations if op.operation != t):
        return False
    return all(is_panic(x, seen | {block}) for x in successors(block))


def find_checks(blocks: list[ir.Block]) -> list[Check]:
    found = []
    for b in blocks:
        t = terminator(b)
        if t.name != "cf.cond_br":
            continue
        s = successors(b)
        bad = [is_panic(x) for x in s]
        if bad[0] != bad[1]:
            found.append(Check(t, 1 if bad[0] else 0, b))
    return found


def precondition(an: Analysis, em: Emitter, chk: Check, names, box=None) -> tuple[ir.Value, str]:
    """Emits the hoisted form of one check; raises Unbounded with a reason.
    box: ranges of the per-point ids at the check (box.py), used when they turn
    the check into one that is the same for every point."""
    cond = chk.branch.operands[0]
    want = chk.ok_index == 0
    if box and an.is_symbol(cond):
        found = _over_box(an, em, cond, want, names, box)
        if found is not None:
            return found
    if an.is_symbol(cond):
        v = em.sym(cond)
        if not want:
            with em.ip(), ir.Location.unknown():
                v = arith.XOrIOp(v, arith.ConstantOp(v.type, 1).result).result
        return v, ("" if want else "not ") + names.expr(cond)
    op = op_of(cond)
    if op is None or op.name != "llvm.icmp":
        raise Unbounded("check on a value computed in the loop")
    p = ir.IntegerAttr(op.attributes["predicate"]).value
    p = p if want else NEGATE[p]
    x, y = (an.poly(o) for o in op.operands)
    if x is None or y is None:
        raise Unbounded("index depends on loaded data")
    if p == 1:                                   # `i == len` exits to the panic: i != len
        return _apart(em, x - y), f"{names.poly(x)} != {names.poly(y)}" + names.over(x - y)
    if p in (8, 9):                              # x > y reads y < x
        p, x, y = {8: 6, 9: 7}[p], y, x
    if p not in (6, 7):
        raise Unbounded("check is not an unsigned bound")
    return _less(em, x, y, strict=(p == 6)), names.ineq(x, y, p == 6)


def _over_box(an: Analysis, em: Emitter, cond, want: bool, names, box):
    """An unsigned bound over ids proved for every id the guards admit; None when
    that does not work (then the exact per-point check is emitted)."""
    op = op_of(cond)
    if op is None or op.name != "llvm.icmp":
        return None
    p = ir.IntegerAttr(op.attributes["predicate"]).value
    p = p if want else NEGATE[p]
    x, y = (an.poly(o) for o in op.operands)
    if x is None or y is None or not covers(an, box, x, y):
        return None
    if p in (8, 9):
        p, x, y = {8: 6, 9: 7}[p], y, x
    if p not in (6, 7):
        return None
    try:
        with em.boxed(box):
            v = _less(em, x, y, strict=(p == 6))
    except Unbounded:
        return None
    return v, names.ineq(x, y, p == 6) + names.over_box(box, x, y)


def _apart(em: Emitter, d: Poly) -> ir.Value:
    """d != 0 (mod 2^64) at every point of the loop box: the exact d stays on one
    side of zero and within 2^64 of it."""
    P = arith.CmpIPredicate
    lo, hi = em.bound(d, upper=False), em.bound(d, upper=True)
    below = em.all_of([em.cmp(P.slt, hi, em.c(0)), em.cmp(P.sgt, lo, em.c(-(1 << 64)))])
    above = em.all_of([em.cmp(P.sgt, lo, em.c(0)), em.cmp(P.slt, hi, em.c(1 << 64))])
    with em.ip(), ir.Location.unknown():
        return arith.OrIOp(below, above).result


def _less(em: Emitter, x: Poly, y: Poly, strict: bool) -> ir.Value:
    P = arith.CmpIPredicate
    conds = [em.cmp(P.sge, em.bound(x, upper=False), em.c(0)),
             em.cmp(P.slt if strict else P.sle, em.bound(x - y, upper=True), em.c(0))]
    if not (len(y) == 1 and list(y.values()) == [1] and len(list(y)[0]) == 1):
        conds += [em.cmp(P.sge, em.bound(y, upper=False), em.c(0)),
                  em.cmp(P.slt, em.bound(y, upper=True), em.c(1 << 64))]
    return em.all_of(conds)
