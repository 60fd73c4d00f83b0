"""Loads and stores through argument pointers as memref accesses.

Each (base argument, element type, row length) gets one view made at the
top of the fast path: the descriptor of FINDINGS ("A memref over a raw
pointer") cast to `memref<?xT>` or `memref<?x?xT>`. A linear index
`ld*x + y` becomes the 2-D access [x, y] when ld is a symbol and the
preconditions prove 0 <= y < ld; otherwise the access stays 1-D.

A function-local heap buffer (`let mut t = vec![0.0; n]`: rustc's
`__rust_alloc_zeroed`/`__rust_alloc` call outside every loop, its null check
and `__rust_dealloc` at the end) is a base like an argument: its bounds checks
against the Vec's length are hoisted as usual, the allocation, its failure
panic and the deallocation stay the Rust calls they were, and its view is made
right where the pointer is defined (`local_buffers`). The view carries
LOCAL_ATTR, so later passes (`reorder-matmul-chains`) know the buffer is the
function's own."""

from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, llvm, memref

from .box import covers
from .emit import Emitter, Unbounded
from .poly import SIZES, Analysis, Poly, group_terms, monomials_by_iv

ELEMENTS = ("f32", "f64", "f16", "bf16", "i8", "i16", "i32", "i64")
LOCAL_ATTR = "cargo_mlir.local_buffer"
# rustc's allocator shims (mangled `…___rust_alloc_zeroed`, `…___rust_alloc`)
ALLOC_SUFFIXES = ("__rust_alloc_zeroed", "__rust_alloc")


def local_id(ident: int) -> ir.Attribute:
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), ident)


def _callee(op: ir.Operation) -> str:
    return ir.FlatSymbolRefAttr(op.attributes["callee"]).value if "callee" in op.attributes else ""


def is_alloc_call(op: ir.Operation) -> bool:
    return op.name == "llvm.call" and len(op.results) == 1 and _callee(op).endswith(ALLOC_SUFFIXES)


def is_dealloc_call(op: ir.Operation) -> bool:
    return op.name == "llvm.call" and _callee(op).endswith("__rust_dealloc")


def is_alloc_shim(op: ir.Operation) -> bool:
    """rustc's `__rust_no_alloc_shim_is_unstable` call before an allocation (does nothing)."""
    return op.name == "llvm.call" and "__rust_no_alloc_shim_is_unstable" in _callee(op)


@dataclass
class LocalAlloc:
    """One function-local heap buffer: its allocation call, byte size (a symbol)
    and whether Rust zeroes it; the deallocations of it; an id for LOCAL_ATTR."""
    call: ir.Operation
    size: ir.Value
    zeroed: bool
    deallocs: list
    ident: int


def local_buffers(an: Analysis, blocks, loops) -> tuple[dict[ir.Value, LocalAlloc], list[LocalAlloc]]:
    """({pointer: its allocation}, the allocations) for the heap buffers the
    function allocates outside every loop with a size the entry can compute
    (a symbol) and a small constant alignment, whose pointer does not escape:
    it is only offset, loaded from, stored to (as the address), compared, passed
    through block arguments (rustc's `ptrtoint`/phi/`inttoptr` of the empty
    Vec's dangling pointer) and given to `__rust_dealloc` outside loops.
    Pointers defined inside loops do not count (a view is made where they are)."""
    in_loop = set().union(*(lp.blocks for lp in loops)) if loops else set()
    bases: dict[ir.Value, LocalAlloc] = {}
    allocs: list[LocalAlloc] = []
    for b in blocks:
        if b in in_loop:
            continue
        for op in b.operations:
            o = op.operation
            if not is_alloc_call(o) or len(o.operands) != 2:
                continue
            align = _const_value(o.operands[1])
            if align is None or not 0 < align <= 16 or not an.is_symbol(o.operands[0]):
                continue
            found = _derived(o, blocks, in_loop)
            if found is None:
                continue
            derived, deallocs = found
            allocs.append(LocalAlloc(o, o.operands[0], _callee(o).endswith("__rust_alloc_zeroed"),
                                     deallocs, len(allocs)))
            for v in derived:
                if str(v.type) == "!llvm.ptr" and _defined_outside(v, in_loop):
                    bases[v] = allocs[-1]
    return bases, allocs


def _defined_outside(v: ir.Value, in_loop) -> bool:
    owner = v.owner
    block = owner.operation.block if isinstance(owner, ir.OpView) else owner
    return block not in in_loop


def _derived(call: ir.Operation, blocks, in_loop):
    """(values carrying the allocation's address, its dealloc calls), or None when
    the address escapes (stored as a value, passed to another call, returned,
    computed with)."""
    from .cfg import branch_args
    seen, work, deallocs = set(), [call.results[0]], []
    while work:
        v = work.pop()
        if v in seen:
            continue
        seen.add(v)
        for use in v.uses:
            o = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
            k = use.operand_number
            if o.name in ("llvm.ptrtoint", "llvm.inttoptr") or (o.name == "llvm.getelementptr" and k == 0):
                work.append(o.results[0])
            elif (o.name == "llvm.load" and k == 0) or (o.name == "llvm.store" and k == 1) or o.name == "llvm.icmp":
                continue
            elif is_dealloc_call(o) and k == 0 and o.block not in in_loop:
                deallocs.append(o)
            elif o.name in ("cf.br", "cf.cond_br"):
                for si, succ in enumerate(o.successors):
                    for ai, x in enumerate(branch_args(o, si)):
                        if x == v:
                            work.append(succ.arguments[ai])
            else:
                return None
    # every block argument that carries the address must get it (or a constant) on every edge
    for v in seen:
        owner = v.owner
        if isinstance(owner, ir.Block):
            incoming = _incoming(owner, v.arg_number)
            if incoming is None or not all(x in seen or _const_value(x) is not None or _const_address(x)
                                           for x in incoming):
                return None
    return seen, deallocs


def _const_value(v: ir.Value) -> int | None:
    owner = v.owner
    if isinstance(owner, ir.OpView) and owner.operation.name == "llvm.mlir.constant" \
            and str(v.type).startswith("i"):
        try:
            return ir.IntegerAttr(owner.operation.attributes["value"]).value
        except ValueError:
            return None
    return None


def _const_address(v: ir.Value) -> bool:
    """`inttoptr` of a constant: an empty Vec's dangling pointer, passed as a pointer
    (rustc merges two Vecs' pointers so when the second is allocated in the first's
    success branch)."""
    owner = v.owner
    return isinstance(owner, ir.OpView) and owner.operation.name == "llvm.inttoptr" \
        and _const_value(owner.operation.operands[0]) is not None


def _incoming(block: ir.Block, index: int):
    """The values every predecessor passes to argument `index` of block, or None."""
    from .cfg import branch_args, terminator
    out = []
    for pred in block.predecessors:
        term = terminator(pred)
        slots = [k for k, s in enumerate(term.successors) if s == block]
        if term.name not in ("cf.br", "cf.cond_br") or not slots:
            return None
        for k in slots:
            out.append(branch_args(term, k)[index])
    return out or None


def allocate(em: Emitter, allocs: list[LocalAlloc]) -> list[tuple[ir.Value, ir.Value]]:
    """At the emitter's point (the block between the preconditions and the fast
    path): each buffer as `memref.alloc` of its byte size (at least one byte) →
    [(the memref, its address as !llvm.ptr)]."""
    out = []
    index, i64 = ir.IndexType.get(), ir.IntegerType.get_signless(64)
    for al in allocs:
        size = em.sym(al.size)
        with em.ip(), al.call.location:
            n = arith.MaxUIOp(size, arith.ConstantOp(i64, 1).result).result
            m = memref.AllocOp(ir.MemRefType.get([ir.ShapedType.get_dynamic_size()], ir.IntegerType.get_signless(8)),
                               [arith.IndexCastUIOp(index, n).result], []).result
            m.owner.attributes[LOCAL_ATTR] = local_id(al.ident)
            addr = memref.ExtractAlignedPointerAsIndexOp(m).result
            ptr = llvm.IntToPtrOp(ir.Type.parse("!llvm.ptr"), arith.IndexCastUIOp(i64, addr).result).result
        out.append((m, ptr))
    return out


def replace_rust_allocations(allocs: list[LocalAlloc], made, blocks, an: Analysis, accs: list[Access]) -> None:
    """On the fast path: each allocation call becomes the buffer made before it
    (zeroed there by an `llvm.intr.memset` for `__rust_alloc_zeroed`, with
    LOCAL_ATTR), its `__rust_dealloc` calls go, and every return frees it.
    The call's result becomes the pointer where the call was (a no-op cast,
    which canonicalize folds): the analysis' local bases and the accesses that
    named the result name it instead (views of the buffer are made there; the
    result goes with the call, and a value whose op is erased must not be
    touched again)."""
    for al, (m, ptr) in zip(allocs, made):
        call = al.call
        with ir.InsertionPoint(call), call.location:
            if al.zeroed:
                zero = llvm.ConstantOp(ir.IntegerType.get_signless(8), ir.IntegerAttr.get(
                    ir.IntegerType.get_signless(8), 0)).result
                op = llvm.MemsetOp(ptr, zero, al.size, False)
                op.operation.attributes[LOCAL_ATTR] = local_id(al.ident)
            here = llvm.BitcastOp(ptr.type, ptr).result
        old = call.results[0]
        an.local_bases = {(here if k == old else k): v for k, v in an.local_bases.items()}
        for a in accs:
            if a.base == old:
                a.base = here
        old.replace_all_uses_with(here)
        call.erase()
        for d in al.deallocs:
            d.erase()
    for b in blocks:
        for op in list(b.operations):
            o = op.operation
            if is_alloc_shim(o):
                o.erase()
            elif o.name == "func.return":
                with ir.InsertionPoint(o), o.location:
                    for m, _ in made:
                        memref.DeallocOp(m)


def is_alloc_check(branch: ir.Operation) -> bool:
    """`if ptr == null { handle_error() }` right after an allocation: the
    allocation-failure panic, which stays where it is (on the fast path too)."""
    from .poly import op_of
    cmp = op_of(branch.operands[0])
    if cmp is None or cmp.name != "llvm.icmp":
        return False
    kinds = []
    for v in cmp.operands:
        d = op_of(v)
        kinds.append("alloc" if d is not None and is_alloc_call(d)
                     else "null" if d is not None and d.name == "llvm.mlir.zero" else "")
    return sorted(kinds) == ["alloc", "null"]


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
    if split is None or (split[0] not in an.entry_args and split[0] not in an.local_bases):
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


def make_views(an: Analysis, accs: list[Access], em: Emitter, local_em=None) -> dict:
    """One view per (base, type, ld); sizes from the index bounds, in i64.
    Views of a local buffer are made where its pointer is defined, with the
    emitter `local_em(base)`, and carry LOCAL_ATTR."""
    views = {}
    for a in accs:
        key = (a.base, str(a.elem), a.ld)
        if key in views:
            continue
        local = a.base in an.local_bases
        em_here = local_em(a.base) if local else em
        views[key] = _view(an, accs, a, key, em_here)
        if local:
            views[key].owner.attributes[LOCAL_ATTR] = local_id(an.local_bases[a.base].ident)
    return views


def _view(an, accs, a, key, em):
    i64 = ir.IntegerType.get_signless(64)
    with em.ip(), ir.Location.unknown():
        ext = lambda p: arith.TruncIOp(i64, arith.AddIOp(em.bound(p, True), em.c(1)).result).result
        one = arith.ConstantOp(i64, 1).result
        if a.ld is None:
            sizes, strides = [_extent(em, accs, key, ext)], [one]
        else:
            ld = em.sym(an.atoms[a.ld])
            sizes, strides = [_extent(em, accs, key, ext), ld], [ld, one]
        mt = ir.Type.parse(f"memref<{'?x' * len(sizes)}{a.elem}>")
        return _descriptor(a.base, sizes, strides, mt)


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
