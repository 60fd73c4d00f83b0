"""Structured control flow for the fast path: upstream lift-cf-to-scf (with
the checks gone it yields clean do-while `scf.while` nests, FINDINGS
"Raising rustc's IR to scf"), then our do-while -> `scf.for` rewrite.

A rotated loop lifts to `scf.while` whose "before" region is the whole body
and ends with `next = iv + 1; scf.condition(next != ub)` (or `next < ub`).
Before lifting, the increment of every counting loop gets a marker saying
whether the loop may become `for iv = start to ub` (an `eq` exit behind a
guard proving start < ub) or `for iv = start to max(ub, start + 1)` (a
`ult` exit: a do-while runs once even when start >= ub)."""

from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, scf
from mlir.passmanager import PassManager

from .emit import Unbounded
from .poly import op_of

MARK = "cargo_mlir.loop"


def mark_latches(loops) -> None:
    for lp in loops:
        if lp.iv is None:
            continue
        for use in lp.iv.uses:
            o = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
            if o.name == "llvm.add" and o.block in lp.blocks:
                kind = "ult" if lp.exit_kind == "ult" else ("eq" if lp.guarded else "unguarded")
                o.attributes[MARK] = ir.StringAttr.get(kind)


def run(f, pipeline: str) -> None:
    try:
        PassManager.parse(f"func.func({pipeline})").run(f.operation)
    except ir.MLIRError as e:
        raise Unbounded(f"{pipeline} failed: {e}") from None


def _whiles(op: ir.Operation, out: list) -> list:
    for r in op.regions:
        for b in r.blocks:
            for o in b.operations:
                _whiles(o.operation, out)
                if o.operation.name == "scf.while":
                    out.append(o.operation)
    return out


def structure(f, report) -> None:
    run(f, "canonicalize,lift-cf-to-scf,canonicalize,cse")
    _no_poison(f.operation)
    left = [w for w in _whiles(f.operation, []) if not to_for(w)]
    run(f, "canonicalize,cse")
    _no_poison(f.operation)
    for o in _marked(f.operation, []):
        del o.attributes[MARK]
    report.while_loops = len(left)


def _marked(op, out):
    for r in op.regions:
        for b in r.blocks:
            for o in b.operations:
                if MARK in o.operation.attributes:
                    out.append(o.operation)
                _marked(o.operation, out)
    return out


def _match(w: ir.Operation):
    """(iv slot, next, ub, kind) of a do-while `scf.while`, or None."""
    before, after = list(w.regions[0].blocks), list(w.regions[1].blocks)
    if len(before) != 1 or len(after) != 1:
        return None
    yl = after[0].operations[0].operation
    if yl.name != "scf.yield" or list(yl.operands) != list(after[0].arguments):
        return None
    ops = before[0].operations
    cond = ops[len(ops) - 1].operation
    fwd = list(cond.operands)[1:]
    cmp = op_of(cond.operands[0])
    if cmp is None or cmp.name != "arith.cmpi" or len(fwd) != len(w.results):
        return None
    pred = ir.IntegerAttr(cmp.attributes["predicate"]).value   # 1 ne, 6 ult
    nxt, ub = cmp.operands[0], cmp.operands[1]
    inc = op_of(nxt)
    if pred not in (1, 6) or inc is None or MARK not in inc.attributes or nxt not in fwd:
        return None
    kind = ir.StringAttr(inc.attributes[MARK]).value
    slot = fwd.index(nxt)
    args = list(before[0].arguments)
    if inc.operands[0] != args[slot] or op_of(ub) is not None and op_of(ub).block == before[0]:
        return None
    if (pred == 1 and kind != "eq") or (pred == 6 and kind != "ult"):
        return None
    return slot, nxt, ub, kind


def to_for(w: ir.Operation) -> bool:
    """Rewrites one do-while; False when it does not have the counting shape."""
    m = _match(w)
    if m is None:
        return False
    slot, nxt, ub, kind = m
    inits = list(w.operands)
    block = list(w.regions[0].blocks)[0]
    ops = block.operations
    cond = ops[len(ops) - 1].operation
    fwd = list(cond.operands)[1:]
    with ir.InsertionPoint(w), w.location:
        start = inits[slot]
        upper = ub
        if kind == "ult":
            one = arith.ConstantOp(start.type, 1).result
            upper = arith.MaxUIOp(ub, arith.AddIOp(start, one).result).result
        step = arith.ConstantOp(start.type, 1).result
        others = [v for i, v in enumerate(inits) if i != slot]
        loop = scf.ForOp(start, upper, step, others)
        loop.operation.attributes["unsignedCmp"] = ir.UnitAttr.get()
    _move_body(block, loop, slot, cond, [v for i, v in enumerate(fwd) if i != slot])
    res = list(loop.results)
    for i, r in enumerate(w.results):
        r.replace_all_uses_with(upper if i == slot else res[i - (i > slot)])
    w.erase()
    return True


def _move_body(block, loop, slot, cond, yields) -> None:
    body = loop.body
    args = list(block.arguments)
    news = [loop.induction_variable] + list(loop.inner_iter_args)
    order = [slot] + [i for i in range(len(args)) if i != slot]
    with ir.InsertionPoint(body), cond.location:
        y = scf.YieldOp(yields)
    for op in list(block.operations):
        if op.operation != cond:
            op.operation.move_before(y)
    for i, new in zip(order, news):
        args[i].replace_all_uses_with(new)
    cond.erase()


def _no_poison(op: ir.Operation) -> None:
    """lift-cf-to-scf feeds `ub.poison` into values no path reads; the host
    lowering has no ub-to-llvm step, and a zero is a valid refinement of poison."""
    for r in op.regions:
        for b in r.blocks:
            for o in list(b.operations):
                _no_poison(o.operation)
                if o.operation.name == "ub.poison":
                    t = o.operation.results[0].type
                    with ir.InsertionPoint(o), o.location:
                        if str(t).startswith("!llvm"):
                            z = ir.Operation.create("llvm.mlir.zero", results=[t]).results[0]
                        else:
                            z = arith.ConstantOp(t, ir.FloatAttr.get(t, 0.0) if "f" in str(t)[:2]
                                                 else ir.IntegerAttr.get(t, 0)).result
                    o.operation.results[0].replace_all_uses_with(z)
                    o.operation.erase()
