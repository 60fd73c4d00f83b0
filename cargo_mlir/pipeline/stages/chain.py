"""Python pass `reorder-matmul-chains` (raise stage, after `recognise-matmul`):
a chain of matrix products through a function-local temporary,

    let mut t = vec![0.0; m * n];
    t = A·B          (a recognised matmul, C = A·B)
    y = t·x          (a recognised matmul, or a matrix-vector nest)

is re-associated by the matrix-chain cost model (multiply-adds of each
parenthesisation: m·k·n + m·n·q as written, k·n·q + m·k·q as A·(B·x)) when
the function is `#[cargo_mlir::accelerate(reassociate)]`: the order changes
floating-point summation, so results differ from plain Rust's by rounding
(README "Matmul" states the tolerance). The sizes are only known at run time,
so the choice is made there: the re-associated products run when they are
cheaper and the guard below holds, else the code as written (the recognised
matmuls, themselves guarded) runs.

What must hold, checked here (else the chain stays and `--explain` says why):
the temporary is the function's own heap buffer (the raise's
`cargo_mlir.local_buffer` views: a `&mut [f32]` scratch parameter escapes to
the caller), nothing but the two products touches it, nothing between them
has a side effect, the first product assigns it (C = A·B), the second reads
it with the layout the first wrote. And at run time: the second product reads
exactly the rows and columns the first wrote, and y overlaps none of A, B, x
(the re-associated code reads A and B while it writes y).

The re-associated products: a matrix-vector product (x a vector) is a row-wise
dot product loop whose additions may be re-associated (`fastmath<reassoc,
contract>`, so LLVM vectorises it), its rows split over the support crate's
host pool when it is big (memory-bound: two cores stream more than one); a
transposed B runs as column updates; matrix operands become `linalg.fill` +
`linalg.matmul` for the host schedule.
The new temporary B·x is a `memref.alloc` freed after its use. When the
temporary's reads are provably of elements the first product wrote (the same
size values), the zero fill of `vec![0.0; …]` is dropped."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlir import ir
from mlir.dialects import arith, memref, scf

from cargo_mlir.pipeline.mlir_util import walk_ops

from .temporaries import memory_uses, source as _source, temporary

CHAIN_ATTR = "cargo_mlir.chain"
FASTMATH = "#arith.fastmath<reassoc,contract>"
# ops without effects on memory (the things between two products that may move)
_PURE_PREFIX = ("arith.", "math.", "index.", "affine.apply")
_PURE = {"memref.subview", "memref.extract_strided_metadata", "memref.extract_aligned_pointer_as_index",
         "memref.expand_shape", "memref.collapse_shape", "memref.cast", "memref.reinterpret_cast", "memref.dim",
         "builtin.unrealized_conversion_cast", "llvm.insertvalue", "llvm.extractvalue", "llvm.mlir.undef",
         "llvm.mlir.constant", "llvm.mlir.zero", "llvm.inttoptr", "llvm.ptrtoint", "llvm.getelementptr",
         "llvm.icmp", "llvm.mlir.poison", "scf.yield", "ub.poison"}


class NotChain(Exception):
    """Why a chain candidate is not re-associated."""


@dataclass
class Product:
    """One product out = L·R of the function: a guarded linalg.matmul (matmul.py) or a
    matrix-vector nest. Views: 2-D subviews (matmul) or raise views (nest)."""
    op: ir.Operation            # the top-level op: the guard scf.if, or the outer scf.for
    out: ir.Value
    lhs: ir.Value               # the view the products read as L (matmul: A's source view)
    lhs_sub: ir.Value | None    # matmul: A's subview
    rhs: ir.Value
    assign: bool
    transpose_rhs: bool
    vector: bool                # R and out are vectors (memref<?xT>)
    sizes: tuple                # (rows, inner, cols) as i64/index values (casts stripped); cols None for a vector
    location: str
    elem: str
    holder: ir.Operation | None = None   # the op that holds it with rustc's zero-trip variants (else op)

    def __post_init__(self):
        self.holder = self.holder or self.op


@dataclass
class Report:
    reordered: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def reorder_matmul_chains(module, ctx) -> None:
    from cargo_mlir.pipeline.stage import Finding
    from cargo_mlir.pipeline.stages.raise_.rewrite import location

    m = ctx.marker
    if not ctx.facts.raised or m.kind != "accelerate":
        return
    report = reorder(module, m.entry, "reassociate" in m.flags, location, m.name)
    for text in report.reordered + report.kept:
        ctx.notes.append(Finding("note", text))


def reorder(module, entry: str, reassociate: bool, location, name: str = "") -> Report:
    """Re-associate every chain in `@entry` (a func.func) when `reassociate`;
    says what it did and why a candidate stayed."""
    report = Report()
    func = _find_func(module, entry)
    if func is None:
        return report
    name = name or entry
    for first in _first_products(func, location):
        holder, second, between = _consumer(first, location)
        if second is None:
            continue
        where = f"matrix chain in {name} ({first.location} → {second.location})"
        try:
            if not reassociate:
                raise NotChain("the function is not `#[cargo_mlir::accelerate(reassociate)]` "
                               "(re-association changes floating-point rounding)")
            plan = _check(func, first, second, between, location, holder)
            text = _rewrite(first, second, between, plan, holder)
            report.reordered.append(f"{where}: {text}")
        except NotChain as e:
            report.kept.append(f"{where} not re-associated: {e}")
    return report


# --- finding products --------------------------------------------------------

def _find_func(module, name):
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
            return op.operation
    return None


def _owner(v: ir.Value) -> ir.Operation | None:
    o = v.owner
    return o.operation if isinstance(o, (ir.OpView, ir.Operation)) else None


def _walk(op: ir.Operation, names: tuple) -> list[ir.Operation]:
    return walk_ops(op, names, pre_order=True)


def _ops(block) -> list[ir.Operation]:
    return [o.operation for o in block.operations]


def _first_products(func, location) -> list[Product]:
    """Recognised matmuls (their guards), outermost first."""
    out = []
    for mm in _walk(func, ("linalg.matmul",)):
        p = _matmul_product(mm, location)
        if p is not None:
            out.append(p)
    return out


def _matmul_product(mm: ir.Operation, location) -> Product | None:
    guard = mm.parent
    if guard is None or guard.name != "scf.if" or CHAIN_ATTR in mm.attributes:
        return None
    then = guard.regions[0].blocks[0]
    if mm.block != then:
        return None
    a, b, c = mm.operands
    assign = any(o.name == "linalg.fill" and o.operands[1] == c for o in _ops(then))
    maps = str(mm.attributes["indexing_maps"]) if "indexing_maps" in mm.attributes else ""
    trans = "(d0, d1, d2) -> (d1, d2)" in maps
    muls = _walk(guard.regions[1].blocks[0].operations[0].operation, ("arith.mulf",)) \
        if guard.regions[1].blocks and len(guard.regions[1].blocks[0].operations) else []
    loc = location(muls[0]) if muls else location(guard)
    elem = str(ir.MemRefType(c.type).element_type)
    (m, k), (_, n) = _sub_sizes(a), _sub_sizes(c)
    return Product(guard, c, _source(a), a, _source(b), assign, trans, False,
                   (_strip(m), _strip(k), _strip(n)), loc, elem)


def _matvec_product(loop: ir.Operation, location) -> Product | None:
    """`for i { acc = 0 (or y[i]); for p { acc += L[i,p] * x[p] }; y[i] = acc }`."""
    if loop.name != "scf.for" or len(loop.results) or not _zero_to(loop):
        return None
    body = loop.regions[0].blocks[0]
    ops = _ops(body)
    inner = [o for o in ops if o.name == "scf.for"]
    stores = [o for o in ops if o.name == "memref.store"]
    if len(inner) != 1 or len(stores) != 1 or not _zero_to(inner[0]) or len(inner[0].results) != 1:
        return None
    other = [o for o in ops if o.name not in ("scf.for", "memref.store", "scf.yield", "memref.load")
             and not o.name.startswith("arith.")]
    if other:
        return None
    inn = inner[0]
    iv, pv = body.arguments[0], inn.regions[0].blocks[0].arguments[0]
    acc = inn.regions[0].blocks[0].arguments[1]
    st = stores[0]
    if st.operands[0] != inn.results[0] or len(st.operands) != 3 or not _is_iv(st.operands[2], iv):
        return None
    y = st.operands[1]
    init = inn.operands[3]
    io = _owner(init)
    if io is not None and io.name == "arith.constant" and _float_zero(io):
        assign = True
    elif io is not None and io.name == "memref.load" and io.operands[0] == y and _is_iv(io.operands[1], iv):
        assign = False
    else:
        return None
    iops = _ops(inn.regions[0].blocks[0])
    allowed = {"memref.load", "arith.mulf", "arith.addf", "scf.yield", "arith.index_castui", "arith.index_cast"}
    if any(o.name not in allowed for o in iops):
        return None
    yld = iops[-1]
    add = _owner(yld.operands[0])
    if add is None or add.name != "arith.addf" or acc not in list(add.operands):
        return None
    prod = [v for v in add.operands if v != acc]
    mul = _owner(prod[0]) if len(prod) == 1 else None
    if mul is None or mul.name != "arith.mulf":
        return None
    mat = vec = None
    for f in mul.operands:
        ld = _owner(f)
        if ld is None or ld.name != "memref.load":
            return None
        idx = list(ld.operands)[1:]
        if len(idx) == 2 and _is_iv(idx[0], iv) and _is_iv(idx[1], pv):
            mat = ld.operands[0]
        elif len(idx) == 1 and _is_iv(idx[0], pv):
            vec = ld.operands[0]
    if mat is None or vec is None or y in (mat, vec):
        return None
    elem = str(ir.MemRefType(y.type).element_type)
    if elem not in ("f32", "f64"):
        return None
    return Product(loop, y, mat, None, vec, assign, False, True,
                   (_strip(loop.operands[1]), _strip(inn.operands[1]), None), location(mul), elem)


def _zero_to(loop) -> bool:
    lb, step = _owner(loop.operands[0]), _owner(loop.operands[2])
    return _int_value(lb) == 0 and _int_value(step) == 1


def _int_value(op) -> int | None:
    if op is not None and op.name == "arith.constant":
        try:
            return ir.IntegerAttr(op.attributes["value"]).value
        except ValueError:
            return None
    return None


def _float_zero(op) -> bool:
    try:
        v = ir.FloatAttr(op.attributes["value"]).value
    except ValueError:
        return False
    return v == 0.0


def _is_iv(v: ir.Value, iv: ir.Value) -> bool:
    o = _owner(v)
    if o is not None and o.name in ("arith.index_castui", "arith.index_cast"):
        v = o.operands[0]
    return v == iv


def _consumer(first: Product, location):
    """(the op that holds the first product at the level of the second, the
    product after it that reads its result as L, the ops in between), or
    (None, None, None). The first product may sit inside rustc's zero-trip
    variants (`if k == 0 { t = 0 } else { t = A·B }`: loop unswitching), which
    compute the same t; nothing else is looked through."""
    t = _source(first.out)
    sizes = set(first.sizes)
    op = first.op
    while True:
        ops = _ops(op.block)
        between = []
        for o in ops[ops.index(op) + 1:]:
            p = _as_product(o, location)
            if p is not None and p.lhs == t:
                return op, p, between
            between.append(o)
        parent = op.parent
        if parent is None or parent.name != "scf.if" or not _zero_variant(parent, op, sizes, t):
            return None, None, None
        op = parent


def _zero_variant(guard: ir.Operation, inner: ir.Operation, sizes, t) -> bool:
    """`if s == 0 { (t[..] = 0.0)* } else { …inner… }` with s a size of the product."""
    cond = _owner(guard.operands[0])
    if cond is None or cond.name != "arith.cmpi" or ir.IntegerAttr(cond.attributes["predicate"]).value != 0:
        return False
    x, y = cond.operands
    if _int_value(_owner(y)) != 0 or _strip(x) not in sizes:
        return False
    if len(guard.regions[1].blocks) != 1 or inner.block != guard.regions[1].blocks[0]:
        return False
    if any(o != inner and not _pure(o) for o in _ops(inner.block)):
        return False
    stores = [x for top in _ops(guard.regions[0].blocks[0]) for x in _walk(top, ("memref.store",))]
    for o in stores:
        if _source(o.operands[1]) != t or _float_value(_owner(o.operands[0])) != 0.0:
            return False
    then = guard.regions[0].blocks[0]
    return all(o.name in ("scf.for", "scf.yield", "memref.store") or _pure(o) for o in _ops(then))


def _float_value(op):
    if op is None or op.name != "arith.constant":
        return None
    try:
        return ir.FloatAttr(op.attributes["value"]).value
    except ValueError:
        return None


def _as_product(o: ir.Operation, location) -> Product | None:
    """A product, possibly inside rustc's zero-trip variants of it
    (`if q == 0 { } else { y = t·X }`; `y[..] = 0.0` when the inner size is 0)."""
    p = _bare_product(o, location)
    if p is not None or o.name != "scf.if" or len(o.regions[1].blocks) != 1:
        return p
    inner = [x for x in _ops(o.regions[1].blocks[0]) if not _pure(x)]
    if len(inner) != 1:
        return None
    p = _as_product(inner[0], location)
    if p is None:
        return None
    cond = _owner(o.operands[0])
    if cond is None or cond.name != "arith.cmpi" or ir.IntegerAttr(cond.attributes["predicate"]).value != 0:
        return None
    x, y = cond.operands
    if _int_value(_owner(y)) != 0 or _strip(x) not in set(p.sizes) - {None}:
        return None
    then = o.regions[0].blocks[0]
    stores = [st for top in _ops(then) for st in _walk(top, ("memref.store",))]
    if any(not (x.name in ("scf.for", "scf.yield", "memref.store") or _pure(x)) for x in _ops(then)):
        return None
    if stores and (not p.assign or _strip(x) != p.sizes[1] or any(
            _source(st.operands[1]) != _source(p.out) or _float_value(_owner(st.operands[0])) != 0.0
            for st in stores)):
        return None
    p.holder = o
    return p


def _bare_product(o: ir.Operation, location) -> Product | None:
    if o.name == "scf.if":
        mms = [x for x in _ops(o.regions[0].blocks[0]) if x.name == "linalg.matmul"] if o.regions[0].blocks else []
        return _matmul_product(mms[0], location) if len(mms) == 1 else None
    if o.name == "scf.for":
        return _matvec_product(o, location)
    return None


# --- checks --------------------------------------------------------------------

@dataclass
class _Plan:
    same_shape: bool         # the second reads exactly what the first wrote (same size values)
    fills: list              # zero fills of the temporary (memsets) that can go
    temp_line: str


def _check(func, first: Product, second: Product, between, location, holder) -> _Plan:
    t = _source(first.out)
    temp = temporary(func, t)
    if temp is None:
        raise NotChain("the temporary is not a local `vec!` of the function (a parameter or another "
                       "buffer the caller can read: the temporary escapes)")
    if not first.assign:
        raise NotChain("the first product accumulates into the temporary (t += A·B)")
    if first.elem != second.elem:
        raise NotChain("the products have different element types")
    if first.transpose_rhs and not second.vector:
        raise NotChain("B is transposed and x has several columns (no schedule for Bᵀ·X)")
    for o in between:
        if not _pure(o):
            raise NotChain(f"a side effect between the products (`{o.name}` at {location(o)})")
    # every use of the buffer: its views (any layout), the zero fill, alloc and dealloc
    if any(v.results[0] != t for v in temp.views if _uses(v.results[0])):
        raise NotChain("the temporary is also read with another row length")
    temp_line = location(temp.alloc) if temp.alloc is not None else ""
    for use in memory_uses(t):
        if not (_inside(use, holder) or _inside(use, second.holder)):
            after = _after(use, second.holder)
            raise NotChain(f"the temporary is also {'read after the chain' if after else 'used'} "
                           f"(`{use.name}` at {location(use)})")
    o = temp.pointer_access()
    if o is not None:
        raise NotChain(f"the temporary is also accessed through its pointer (`{o.name}` at {location(o)})")
    same = _same_size(first, second)
    return _Plan(same, temp.fills if same else [], temp_line)


def _pure(o: ir.Operation) -> bool:
    if o.name.startswith(_PURE_PREFIX) or o.name in _PURE:
        return True
    if o.name in ("scf.if", "scf.for", "scf.index_switch"):
        return all(_pure(x) for r in o.regions for b in r.blocks for x in _ops(b))
    return False


def _uses(v: ir.Value) -> bool:
    return any(True for _ in v.uses)


def _inside(op: ir.Operation, anc: ir.Operation) -> bool:
    p = op
    while p is not None:
        if p == anc:
            return True
        p = p.parent
    return False


def _after(op: ir.Operation, anchor: ir.Operation) -> bool:
    """op comes after anchor (at the level of anchor's block, or an enclosing one)."""
    p = op
    while p is not None and p.block != anchor.block:
        p = p.parent
    if p is None:
        return True
    ops = _ops(anchor.block)
    return ops.index(p) > ops.index(anchor)


def _strip(v: ir.Value) -> ir.Value:
    o = _owner(v)
    while o is not None and o.name in ("arith.index_castui", "arith.index_cast", "arith.extui"):
        v = o.operands[0]
        o = _owner(v)
    return v


def _sub_sizes(sub: ir.Value) -> list[ir.Value]:
    o = _owner(sub)
    return list(o.operands)[1:] if o is not None and o.name == "memref.subview" else []


def _same_size(first: Product, second: Product) -> bool:
    """The second reads the rows and columns the first wrote, by the same size values."""
    return second.sizes[0] == first.sizes[0] and second.sizes[1] == first.sizes[2]


# --- rewrite ---------------------------------------------------------------------

def _index(v: ir.Value) -> ir.Value:
    return v if str(v.type) == "index" else arith.index_castui(ir.IndexType.get(), v)


def _rewrite(first: Product, second: Product, between, plan: _Plan, holder) -> str:
    for o in between:                  # pure: computed before the chain (the new code uses them too)
        o.move_before(holder)
    with ir.InsertionPoint(holder), holder.location:
        m, k, n = (_index(_avail(v, holder)) for v in first.sizes)
        A = _sub(first.lhs, m, k)
        B = _sub(first.rhs, *((n, k) if first.transpose_rhs else (k, n)))
        rows, inner = (_index(_avail(v, holder)) for v in second.sizes[:2])
        if second.vector:
            q = _c(1)
            X, Y = second.rhs, second.out
        else:
            q = _index(_avail(second.sizes[2], holder))
            X = _sub(second.rhs, *((q, inner) if second.transpose_rhs else (inner, q)))
            Y = _sub(_source(second.out), rows, q)
        conds = []
        if not plan.same_shape:
            conds += [arith.cmpi(arith.CmpIPredicate.eq, rows, m), arith.cmpi(arith.CmpIPredicate.eq, inner, n)]
        y_span = _span(Y)
        for v in (A, B, X):
            conds.append(_apart(y_span, _span(v)))
        f = lambda *xs: _mulf([_tof(x) for x in xs])
        written = arith.addf(f(m, k, n), f(m, n, q))
        reordered = arith.addf(f(k, n, q), f(m, k, q))
        conds.append(arith.cmpf(arith.CmpFPredicate.OLT, reordered, written))
        ok = conds[0]
        for c in conds[1:]:
            ok = arith.andi(ok, c)
        guard = scf.IfOp(ok, [], has_else=True)
        with ir.InsertionPoint(guard.then_block):
            _emit_reordered(first, second, A, B, X, Y, m, k, n, q)
            scf.YieldOp([])
        with ir.InsertionPoint(guard.else_block):
            scf.YieldOp([])
    y_last = guard.else_block.operations[0].operation
    holder.move_before(y_last)
    second.holder.move_before(y_last)
    for fill in plan.fills:
        fill.erase()
    form = "x" if second.vector else "X"
    temp = f"temporary t ({plan.temp_line})" if plan.temp_line and plan.temp_line != "<function>" else "temporary t"
    return (f"(A·B)·{form} re-associated as A·(B·{form}) when cheaper at run time (multiply-adds m·k·n + "
            f"m·n·{'1' if second.vector else 'q'} as written, k·n·{'1' if second.vector else 'q'} + "
            f"m·k·{'1' if second.vector else 'q'} re-associated); the {temp} is not computed then"
            f"{' and its zero fill is dropped' if plan.fills else ''}; guarded (y must not overlap A, B or "
            f"{form}; otherwise the products run as written)")


def _avail(v: ir.Value, at: ir.Operation) -> ir.Value:
    """v, or a copy of its pure computation placed before `at`, where it is
    available; NotChain when it depends on a value of a loop or region."""
    d = _owner(v)
    if d is None:
        block = v.owner
        if any(p.block == block for p in _ancestors(at)):
            return v
        raise NotChain("a size is computed inside the products' loops")
    for p in _ancestors(at):
        if p.block == d.block:
            ops = _ops(d.block)
            if ops.index(d) < ops.index(p):
                return v
    if not _pure(d) or d.regions and len(d.regions):
        raise NotChain("a size is computed inside the products' loops")
    operands = [_avail(o, at) for o in d.operands]
    new = d.clone(ip=ir.InsertionPoint(at))
    for i, o in enumerate(operands):
        new.operands[i] = o
    return new.results[0]


def _ancestors(op: ir.Operation) -> list[ir.Operation]:
    out, p = [], op
    while p is not None and p.name != "func.func":
        out.append(p)
        p = p.parent
    return out


def _sub(view: ir.Value, rows: ir.Value, cols: ir.Value) -> ir.Value:
    """matmul's rows×cols view of a matrix, its refusal as this pass's."""
    from cargo_mlir.pipeline.stages.matmul import NotMatmul, _sub as matrix_view
    try:
        return matrix_view(view, rows, cols)
    except NotMatmul as exc:
        raise NotChain(str(exc)) from None


def _c(k: int) -> ir.Value:
    return arith.constant(ir.IndexType.get(), k)


def _tof(v: ir.Value) -> ir.Value:
    f64, i64 = ir.F64Type.get(), ir.IntegerType.get_signless(64)
    return arith.uitofp(f64, arith.index_castui(i64, v) if str(v.type) == "index" else v)


def _mulf(xs):
    out = xs[0]
    for x in xs[1:]:
        out = arith.mulf(out, x)
    return out


def _span(view: ir.Value):
    """[start, end) in bytes of the view's memory (whole rows of its stride)."""
    t = ir.MemRefType(view.type)
    es = _c(4 if str(t.element_type) == "f32" else 8)
    md = memref.ExtractStridedMetadataOp(view)
    rank = t.rank
    offset = md.results[1]
    sizes = list(md.results[2:2 + rank])
    strides = list(md.results[2 + rank:2 + 2 * rank])
    base = memref.extract_aligned_pointer_as_index(view)
    start = arith.addi(base, arith.muli(offset, es))
    extent = arith.muli(sizes[0], strides[0])
    if rank == 2:
        extent = arith.addi(extent, sizes[1])       # stride·rows covers the last row too
    return start, arith.addi(start, arith.muli(extent, es))


def _apart(x, y) -> ir.Value:
    (xs, xe), (ys, ye) = x, y
    return arith.ori(arith.cmpi(arith.CmpIPredicate.ule, xe, ys), arith.cmpi(arith.CmpIPredicate.ule, ye, xs))


def _emit_reordered(first, second, A, B, X, Y, m, k, n, q) -> None:
    """S = B·X (a new buffer), then Y = A·S (or Y += A·S)."""
    t = first.elem
    ft = ir.F32Type.get() if t == "f32" else ir.F64Type.get()
    dyn = ir.ShapedType.get_dynamic_size()
    if second.vector:
        S = memref.alloc(ir.MemRefType.get([dyn], ft), [k], [])
        if first.transpose_rhs:
            _matvec_t(B, X, S, k, n, ft)        # B stored n×k
        else:
            _matvec(B, X, S, k, n, ft, assign=True)
        _matvec(A, S, Y, m, k, ft, assign=second.assign)
        memref.dealloc(S)
        return
    S = memref.alloc(ir.MemRefType.get([dyn, dyn], ft), [k, q], [])
    zero = arith.constant(ft, 0.0)
    _text("linalg.fill ins(%x0 : {0}) outs(%x1 : {1})", [zero, S])
    bmap = "(d1, d2)" if second.transpose_rhs else "(d2, d1)"
    mm = _text("linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, "
               f"affine_map<(d0, d1, d2) -> {bmap}>, affine_map<(d0, d1, d2) -> (d0, d1)>] "
               "ins(%x0, %x1 : {0}, {1}) outs(%x2 : {2})", [B, X, S])
    mm.attributes[CHAIN_ATTR] = ir.UnitAttr.get()
    if second.assign:
        _text("linalg.fill ins(%x0 : {0}) outs(%x1 : {1})", [zero, Y])
    mm = _text("linalg.matmul ins(%x0, %x1 : {0}, {1}) outs(%x2 : {2})", [A, _strided(S), Y])
    mm.attributes[CHAIN_ATTR] = ir.UnitAttr.get()
    memref.dealloc(S)


def _strided(S: ir.Value) -> ir.Value:
    """S as the strided type the host schedule expects (a no-op cast)."""
    t = ir.MemRefType(S.type)
    dyn = ir.ShapedType.get_dynamic_size()
    st = ir.MemRefType.get([dyn, dyn], t.element_type, layout=ir.StridedLayoutAttr.get(offset=0, strides=[dyn, 1]))
    return memref.cast(st, S)


def _fm(op) -> None:
    op.owner.attributes["fastmath"] = ir.Attribute.parse(FASTMATH)


# A matrix-vector product of at least PARALLEL_MADDS multiply-adds runs its rows
# on the support crate's host pool (`cargo_mlir_rt_parallel_for`, like the host
# matmul schedule), ROWS_PER_ITEM rows per work item: it is memory-bound, and
# two cores stream more than one.
PARALLEL_MADDS = 1 << 18
ROWS_PER_ITEM = 32
PARALLEL_FOR = "cargo_mlir_rt_parallel_for"


def _matvec(L, v, out, rows, cols, ft, assign: bool) -> None:
    """out[i] (=|+=) Σ_p L[i,p]·v[p], the sum re-associable (vectorised by LLVM);
    a big one on the host pool (rows split between threads, each row's sum as here)."""
    module = _module_of(ir.InsertionPoint.current.block)
    host = _ensure_matvec_host(module, str(ft))
    i64 = ir.IntegerType.get_signless(64)
    big = arith.cmpf(arith.CmpFPredicate.OGE, _mulf([_tof(rows), _tof(cols)]),
                     arith.constant(ir.F64Type.get(), float(PARALLEL_MADDS)))
    several = arith.cmpi(arith.CmpIPredicate.ugt, rows, _c(ROWS_PER_ITEM))
    par = scf.IfOp(arith.andi(big, several), [], has_else=True)
    with ir.InsertionPoint(par.then_block):
        es = 4 if str(ft) == "f32" else 8
        slots = [_address(L, es), _as_i64(_row_stride(L)), _address(v, es), _address(out, es),
                 _as_i64(rows), _as_i64(cols), arith.constant(i64, 0 if assign else 1)]
        n = arith.constant(i64, len(slots))
        params = ir.Operation.create("llvm.alloca", results=[ir.Type.parse("!llvm.ptr")], operands=[n],
                                     attributes={"elem_type": ir.TypeAttr.get(i64)}).results[0]
        for k, val in enumerate(slots):
            at = ir.Operation.create("llvm.getelementptr", results=[ir.Type.parse("!llvm.ptr")],
                                     operands=[params], attributes={
                                         "rawConstantIndices": ir.DenseI32ArrayAttr.get([k]),
                                         "elem_type": ir.TypeAttr.get(i64)}).results[0]
            ir.Operation.create("llvm.store", operands=[val, at])
        items = arith.ceildivui(_as_i64(rows), arith.constant(i64, ROWS_PER_ITEM))
        fn_t = ir.Type.parse("(!llvm.ptr, !llvm.ptr, i64, i64) -> ()")
        h = ir.Operation.create("func.constant", results=[fn_t],
                                attributes={"value": ir.FlatSymbolRefAttr.get(host)}).results[0]
        hp = ir.Operation.create("builtin.unrealized_conversion_cast", results=[ir.Type.parse("!llvm.ptr")],
                                 operands=[h]).results[0]
        ir.Operation.create("func.call", operands=[hp, params, items],
                            attributes={"callee": ir.FlatSymbolRefAttr.get(PARALLEL_FOR)})
        scf.YieldOp([])
    with ir.InsertionPoint(par.else_block):
        _matvec_rows(L, v, out, _c(0), rows, cols, ft, assign)
        scf.YieldOp([])


def _module_of(block) -> ir.Operation:
    op = block.owner
    while op.name != "builtin.module":
        op = op.parent
    return op


def _as_i64(v: ir.Value) -> ir.Value:
    i64 = ir.IntegerType.get_signless(64)
    return arith.index_castui(i64, v) if str(v.type) == "index" else v


def _row_stride(view: ir.Value) -> ir.Value:
    md = memref.ExtractStridedMetadataOp(view)
    return md.results[2 + ir.MemRefType(view.type).rank]


def _address(view: ir.Value, es: int) -> ir.Value:
    """The address of view's first element, as i64."""
    md = memref.ExtractStridedMetadataOp(view)
    base = memref.extract_aligned_pointer_as_index(view)
    return _as_i64(arith.addi(base, arith.muli(md.results[1], _c(es))))


def _ensure_matvec_host(module: ir.Operation, t: str) -> str:
    """`@__cargo_mlir_chain_matvec_<t>_host`, the pool's work item (a HostFn): rows
    `begin*R .. min(end*R, rows)` of out (=|+=) L·v, from the 7 i64 slots of params
    (L, L's row stride, v, out, rows, cols, accumulate); and the runtime's declaration."""
    name = f"__cargo_mlir_chain_matvec_{t}_host"
    body = module.regions[0].blocks[0]
    names = {ir.StringAttr(o.attributes["sym_name"]).value for o in body.operations if "sym_name" in o.attributes}
    if name in names:
        return name
    slots = "".join(f"  %g{k} = llvm.getelementptr %params[{k}] : (!llvm.ptr) -> !llvm.ptr, i64\n"
                    f"  %w{k} = llvm.load %g{k} : !llvm.ptr -> i64\n" for k in range(7))
    d = "!llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>"
    flat = lambda nm, ptr: (
        f"  %{nm}p = llvm.inttoptr {ptr} : i64 to !llvm.ptr\n  %{nm}0 = llvm.mlir.undef : {d}\n"
        f"  %{nm}1 = llvm.insertvalue %{nm}p, %{nm}0[0] : {d}\n  %{nm}2 = llvm.insertvalue %{nm}p, %{nm}1[1] : {d}\n"
        f"  %{nm}3 = llvm.insertvalue %z64, %{nm}2[2] : {d}\n  %{nm}4 = llvm.insertvalue %big, %{nm}3[3, 0] : {d}\n"
        f"  %{nm}5 = llvm.insertvalue %one64, %{nm}4[4, 0] : {d}\n"
        f"  %{nm} = builtin.unrealized_conversion_cast %{nm}5 : {d} to memref<?x{t}>\n")
    text = f"""
func.func private @{PARALLEL_FOR}(!llvm.ptr, !llvm.ptr, i64)
func.func private @{name}(%params: !llvm.ptr, %dims: !llvm.ptr, %begin: i64, %end: i64) {{
  %z64 = arith.constant 0 : i64
  %one64 = arith.constant 1 : i64
  %big = arith.constant {1 << 60} : i64
  %zero = arith.constant 0.0 : {t}
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %rpi = arith.constant {ROWS_PER_ITEM} : i64
{slots}{flat("L", "%w0")}{flat("V", "%w2")}{flat("O", "%w3")}
  %ld = arith.index_castui %w1 : i64 to index
  %cols = arith.index_castui %w5 : i64 to index
  %acc = arith.cmpi ne, %w6, %z64 : i64
  %b0 = arith.muli %begin, %rpi : i64
  %e0 = arith.muli %end, %rpi : i64
  %e1 = arith.minui %e0, %w4 : i64
  %r0 = arith.index_castui %b0 : i64 to index
  %r1 = arith.index_castui %e1 : i64 to index
  scf.for %i = %r0 to %r1 step %c1 {{
    %row = arith.muli %i, %ld : index
    %s = scf.for %p = %c0 to %cols step %c1 iter_args(%a = %zero) -> ({t}) {{
      %at = arith.addi %row, %p : index
      %l = memref.load %L[%at] : memref<?x{t}>
      %x = memref.load %V[%p] : memref<?x{t}>
      %m = arith.mulf %l, %x fastmath<reassoc,contract> : {t}
      %n = arith.addf %a, %m fastmath<reassoc,contract> : {t}
      scf.yield %n : {t}
    }}
    %new = scf.if %acc -> ({t}) {{
      %old = memref.load %O[%i] : memref<?x{t}>
      %sum = arith.addf %old, %s : {t}
      scf.yield %sum : {t}
    }} else {{
      scf.yield %s : {t}
    }}
    memref.store %new, %O[%i] : memref<?x{t}>
  }}
  return
}}
"""
    parsed = ir.Module.parse(text, module.context)
    for o in list(parsed.body.operations):
        oname = ir.StringAttr(o.operation.attributes["sym_name"]).value
        if oname not in names:
            body.append(o.operation)
    return name


def _matvec_rows(L, v, out, first, rows, cols, ft, assign: bool) -> None:
    """Rows first..rows of out (=|+=) L·v, inline."""
    c0, c1 = _c(0), _c(1)
    zero = arith.constant(ft, 0.0)
    outer = scf.ForOp(first, rows, c1)
    with ir.InsertionPoint(outer.body):
        i = outer.induction_variable
        inner = scf.ForOp(c0, cols, c1, [zero])
        with ir.InsertionPoint(inner.body):
            p = inner.induction_variable
            prod = arith.mulf(memref.load(L, [i, p]), memref.load(v, [p]))
            _fm(prod)
            s = arith.addf(inner.inner_iter_args[0], prod)
            _fm(s)
            scf.YieldOp([s])
        total = inner.results[0]
        if not assign:
            total = arith.addf(memref.load(out, [i]), total)
        memref.store(total, out, [i])
        scf.YieldOp([])


def _matvec_t(Lt, v, out, rows, cols, ft) -> None:
    """out[i] = Σ_p Lt[p,i]·v[p] (L stored transposed): column updates, p increasing."""
    c0, c1 = _c(0), _c(1)
    zero = arith.constant(ft, 0.0)
    fill = scf.ForOp(c0, rows, c1)
    with ir.InsertionPoint(fill.body):
        memref.store(zero, out, [fill.induction_variable])
        scf.YieldOp([])
    outer = scf.ForOp(c0, cols, c1)
    with ir.InsertionPoint(outer.body):
        p = outer.induction_variable
        x = memref.load(v, [p])
        inner = scf.ForOp(c0, rows, c1)
        with ir.InsertionPoint(inner.body):
            i = inner.induction_variable
            prod = arith.mulf(memref.load(Lt, [p, i]), x)
            _fm(prod)
            s = arith.addf(memref.load(out, [i]), prod)
            _fm(s)
            memref.store(s, out, [i])
            scf.YieldOp([])
        scf.YieldOp([])


def _text(text: str, operands: list[ir.Value]) -> ir.Operation:
    """One op in MLIR's syntax over `%x0, %x1, …` (`{0}, {1}, …` their types), built
    at the current insertion point (the bindings' linalg builders need numpy)."""
    types = [str(v.type) for v in operands]
    sig = ", ".join(f"%x{i}: {t}" for i, t in enumerate(types))
    scratch = ir.Module.parse(f"func.func @f({sig}) {{\n  {text.format(*types)}\n  return\n}}")
    op = scratch.body.operations[0].regions[0].blocks[0].operations[0].operation
    new = op.clone(ip=ir.InsertionPoint.current)
    for i, v in enumerate(operands):
        new.operands[i] = v
    return new
