"""Loads and stores through argument pointers as memref accesses.

Each (base argument, element type, row length) gets one view made at the
top of the fast path: the descriptor of FINDINGS ("A memref over a raw
pointer") cast to `memref<?xT>` or `memref<?x?xT>`. A linear index
`ld*x + y` becomes the 2-D access [x, y] when ld is a symbol and the
preconditions prove 0 <= y < ld; otherwise the access stays 1-D."""

from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, llvm, memref

from .box import covers
from .emit import Emitter, Unbounded
from .poly import SIZES, Analysis, Poly, group_terms, monomials_by_iv

ELEMENTS = ("f32", "f64", "f16", "bf16", "i8", "i16", "i32", "i64")


@dataclass
class Access:
    op: ir.Operation
    base: ir.Value
    elem: ir.Type
    index: Poly                  # element index (1-D)
    ld: int | None = None        # atom id of the row length for 2-D
    rows: Poly | None = None
    cols: Poly | None = None


def classify(an: Analysis, op: ir.Operation) -> Access | str:
    """An Access, or the reason the op stays an llvm load/store."""
    store = op.name == "llvm.store"
    ptr = op.operands[1] if store else op.operands[0]
    elem = op.operands[0].type if store else op.results[0].type
    if "volatile_" in op.attributes or ("ordering" in op.attributes and
                                        ir.IntegerAttr(op.attributes["ordering"]).value != 0):
        return "volatile or atomic access"
    p = an.poly(ptr)
    if p is None:
        return "index depends on loaded data" if _reads_memory(ptr) else "index not affine"
    split = an.split_address(p)
    if split is None or split[0] not in an.entry_args:
        return "address not based on an argument pointer"
    size = SIZES.get(str(elem))
    if str(elem) not in ELEMENTS or any(c % size for c in split[1].values()):
        return "element type or alignment"
    return Access(op, split[0], elem, Poly({m: c // size for m, c in split[1].items()}))


def _reads_memory(v: ir.Value, depth: int = 0, seen=None) -> bool:
    """Whether v is computed from a load (through up to a few ops)."""
    seen = set() if seen is None else seen
    owner = v.owner
    if not isinstance(owner, ir.OpView) or depth > 12 or v in seen:
        return False
    seen.add(v)
    op = owner.operation
    return op.name == "llvm.load" or any(_reads_memory(o, depth + 1, seen) for o in op.operands)


def try_2d(an: Analysis, acc: Access, em: Emitter, names, box=None) -> list[tuple[ir.Value, str]]:
    """Picks a row length for acc; returns the preconditions it needs (over the
    guarded ids of box when that covers every per-point atom of the index)."""
    if box and covers(an, box, acc.index):
        try:
            with em.boxed(box):
                found = try_2d(an, acc, em, names)
            if found:
                return [(c, t + names.over_box(box, acc.index)) for c, t in found]
        except Unbounded:
            pass
    cands = [a for m in acc.index if len(m) == 2 for a in m if not an.is_iv_atom(a)]
    cands.sort(key=lambda a: an.atoms[a] not in an.entry_args)   # arguments first
    for ld in cands:
        x, y = group_terms(acc.index, ld)
        try:
            P = arith.CmpIPredicate
            ldv = em.value(Poly({(ld,): 1}))
            cols = em.all_of([em.cmp(P.sge, em.bound(y, False), em.c(0)),
                              em.cmp(P.slt, em.bound(y, True), ldv)])
            rows = em.cmp(P.sge, em.bound(x, False), em.c(0))
        except Unbounded:
            continue
        acc.ld, acc.rows, acc.cols = ld, x, y
        return [(cols, names.range2d(y, ld)), (rows, names.row2d(x))]
    return []


def _descriptor(base: ir.Value, sizes: list[ir.Value], strides: list[ir.Value], mtype) -> ir.Value:
    rank = len(sizes)
    i64 = ir.IntegerType.get_signless(64)
    st = ir.Type.parse(f"!llvm.struct<(ptr, ptr, i64, array<{rank} x i64>, array<{rank} x i64>)>")
    d = llvm.UndefOp(st).result
    d = llvm.InsertValueOp(d, base, [0]).result
    d = llvm.InsertValueOp(d, base, [1]).result
    d = llvm.InsertValueOp(d, arith.ConstantOp(i64, 0).result, [2]).result
    for i, (s, t) in enumerate(zip(sizes, strides)):
        d = llvm.InsertValueOp(d, s, [3, i]).result
        d = llvm.InsertValueOp(d, t, [4, i]).result
    return ir.Operation.create("builtin.unrealized_conversion_cast", results=[mtype],
                               operands=[d]).results[0]


def make_views(an: Analysis, accs: list[Access], em: Emitter) -> dict:
    """One view per (base, type, ld); sizes from the index bounds, in i64."""
    views, i64 = {}, ir.IntegerType.get_signless(64)
    for a in accs:
        key = (a.base, str(a.elem), a.ld)
        if key in views:
            continue
        with em.ip(), ir.Location.unknown():
            ext = lambda p: arith.TruncIOp(i64, arith.AddIOp(em.bound(p, True), em.c(1)).result).result
            one = arith.ConstantOp(i64, 1).result
            if a.ld is None:
                sizes, strides = [_extent(em, accs, key, ext)], [one]
            else:
                ld = em.sym(an.atoms[a.ld])
                sizes, strides = [_extent(em, accs, key, ext), ld], [ld, one]
            mt = ir.Type.parse(f"memref<{'?x' * len(sizes)}{a.elem}>")
            views[key] = _descriptor(a.base, sizes, strides, mt)
    return views


def _extent(em, accs, key, ext):
    """max over the accesses of one view of their row (or element) index, plus one."""
    polys = [a.rows if a.ld is not None else a.index for a in accs
             if (a.base, str(a.elem), a.ld) == key]
    vals = list(dict.fromkeys(ext(p) for p in polys))
    out = vals[0]
    for v in vals[1:]:
        out = arith.MaxUIOp(out, v).result
    return out


def index_value(an: Analysis, p: Poly, em: Emitter) -> ir.Value:
    """p in i64 at the access (symbols come from the fast path's entry), as index."""
    i64 = ir.IntegerType.get_signless(64)
    total = arith.ConstantOp(i64, 0).result
    for c, syms, iv in monomials_by_iv(an, p):
        t = arith.ConstantOp(i64, c).result
        for a in syms:
            t = arith.MulIOp(t, em.sym(an.atoms[a])).result
        if iv is not None:
            t = arith.MulIOp(t, an.atoms[iv]).result
        total = arith.AddIOp(total, t).result
    return arith.IndexCastUIOp(ir.IndexType.get(), total).result


def rewrite(an: Analysis, a: Access, view: ir.Value, em: Emitter) -> None:
    with ir.InsertionPoint(a.op), a.op.location:
        parts = [a.index] if a.ld is None else [a.rows, a.cols]
        idx = [index_value(an, p, em) for p in parts]
        if a.op.name == "llvm.store":
            memref.StoreOp(a.op.operands[0], view, idx)
        else:
            new = memref.LoadOp(view, idx)
            a.op.results[0].replace_all_uses_with(new.result)
    a.op.erase()


def alias_pairs(accs: list[Access]) -> list[tuple[ir.Value, ir.Value]]:
    """(stored base, other base) pairs whose byte ranges a reordering of the
    accesses would need apart: each written buffer against every other buffer
    accessed, bases in the order of their first access."""
    order = []
    for a in accs:
        if a.base not in order:
            order.append(a.base)
    stored = [b for b in order if any(a.base == b and a.op.name == "llvm.store" for a in accs)]
    return [(s, r) for s in stored for r in order
            if r != s and not (r in stored and order.index(r) < order.index(s))]


def alias_text(names, pair) -> str:
    return f"{names.expr(pair[0])} and {names.expr(pair[1])} do not overlap"


def alias_checks(an: Analysis, em: Emitter, accs: list[Access], names) -> list:
    """Preconditions for alias_pairs: [base + min*size, base + (max+1)*size)
    ranges compared as integers (i128). Not emitted by the raise itself, whose
    fast path keeps the order of loads and stores; for a stage that reorders."""
    out = []
    for s, r in alias_pairs(accs):
        s_lo, s_hi = _range(an, em, accs, s)
        r_lo, r_hi = _range(an, em, accs, r)
        P = arith.CmpIPredicate
        with em.ip(), ir.Location.unknown():
            apart = arith.OrIOp(em.cmp(P.sle, s_hi, r_lo), em.cmp(P.sle, r_hi, s_lo)).result
        out.append((apart, alias_text(names, (s, r))))
    return out


def _range(an, em, accs, base):
    """Byte range [lo, hi) that the accesses of base touch, in i128."""
    i64 = ir.IntegerType.get_signless(64)
    with em.ip(), ir.Location.unknown():
        addr = em.binop(lambda x, y: arith.AddIOp(x, y), em.c(0),
                        arith.ExtUIOp(em.wt, llvm.PtrToIntOp(i64, em.sym(base)).result).result)
    lo = hi = None
    for a in accs:
        if a.base != base:
            continue
        size = SIZES[str(a.elem)]
        l = em.binop(arith.AddIOp, addr, em.bound(a.index.scale(size), False))
        h = em.binop(arith.AddIOp, addr, em.bound(a.index.scale(size) + Poly.const(size), True))
        lo = l if lo is None else em.binop(arith.MinSIOp, lo, l)
        hi = h if hi is None else em.binop(arith.MaxSIOp, hi, h)
    return lo, hi
