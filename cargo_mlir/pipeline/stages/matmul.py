"""Matmul recognition (the Python pass `recognise-matmul`, run in the `raise`
stage after `raise-to-scf`): a naive loop nest over the raised form that
computes C = A·B or C += A·B becomes `linalg.matmul` (after a `linalg.fill`
for C = A·B), so the per-target `schedule` stage can give it a tiled, packed,
vectorised or GPU schedule.

What is recognised, over f32 and f64 memref views (the raise made them from
slices or raw pointers, bounds already versioned):

    for i { for j { acc = init; for p { acc += a[i,p] * b[p,j] }; c[i,j] = acc } }
    for i { for j { for p { c[i,j] += a[i,p] * b[p,j] } } }     (any loop order)

with `init` 0.0 (C = A·B) or c[i,j], and b[j,p] for a transposed B. Every C
element is still summed in increasing p, as in the loop, so the result is the
loop's up to FMA contraction (none under `accelerate(exact)`: the matmul then
carries `cargo_mlir.exact`).

The match is guarded at run time: C must not overlap A or B (a matmul reads
all of A and B before C is final; the loop did not), and m·n·k must be worth a
schedule's set-up; else the original nest runs. Nests that look like a matmul but are not one stay, with the reason."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, memref, scf

from cargo_mlir.pipeline.mlir_util import inside as _inside

EXACT_ATTR = "cargo_mlir.exact"
# Below m·n·k = 8³ the loop as written is faster than any schedule's set-up.
MIN_WORK = 512
_ALLOWED = {"arith.index_castui", "arith.index_cast", "arith.constant", "memref.load", "memref.store",
            "arith.mulf", "arith.addf", "scf.yield", "scf.for"}


class NotMatmul(Exception):
    """Why a nest that looked like a matmul is not one."""


@dataclass
class Recognised:
    location: str
    elem: str                 # "f32" | "f64"
    assign: bool              # C = A·B (C is filled with 0 first); else C += A·B
    transpose_b: bool
    sizes: tuple[str, str, str]   # "dynamic" or the constant, for m, n, k

    def describe(self, where: str, fallback_location: str) -> str:
        """`matmul recognised in mm (src/lib.rs:12) → linalg.matmul f32 [m,n,k dynamic], …`"""
        dynamic = [d for d, s in zip("mnk", self.sizes) if s == "dynamic"]
        static = [f"{d}={s}" for d, s in zip("mnk", self.sizes) if s != "dynamic"]
        shape = ", ".join(static + ([f"{','.join(dynamic)} dynamic"] if dynamic else []))
        what = "C = A·B" if self.assign else "C += A·B"
        tb = ", B transposed" if self.transpose_b else ""
        loc = self.location if self.location != "<function>" else fallback_location
        return (f"matmul recognised in {where} ({loc}) → linalg.matmul {self.elem} [{shape}]{tb} "
                f"({what}), guarded (C must not overlap A or B; m·n·k ≥ {MIN_WORK})")


@dataclass
class NearMiss:
    location: str
    reason: str


@dataclass
class Report:
    recognised: list[Recognised]
    near_misses: list[NearMiss]


def recognise(module: ir.Module, entry: str, exact: bool, location) -> Report:
    """Rewrite every matmul nest in `@entry` (a func.func; nothing happens to an
    llvm.func, which was not raised). `location(op)` names an op's source line."""
    report = Report([], [])
    func = _find_func(module, entry)
    if func is None:
        return report
    done: list[ir.Operation] = []
    for loop in _pre_order_fors(func):
        if any(_inside(loop, d) for d in done):
            continue
        nest = _nest(loop)
        if nest is None:
            continue
        try:
            m = _match(nest, location)
        except NotMatmul as e:
            if _looks_close(nest):
                report.near_misses.append(NearMiss(location(loop), str(e)))
            continue
        _rewrite(m, m.public, exact)
        report.recognised.append(m.public)
        done.append(loop)
    return report


# --- structure ------------------------------------------------------------

def _find_func(module, name):
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
            return op.operation
    return None


def _pre_order_fors(func) -> list[ir.Operation]:
    out = []

    def visit(op):
        if op.name == "scf.for":
            out.append(op)
        return ir.WalkResult.ADVANCE
    func.walk(visit, ir.WalkOrder.PRE_ORDER)
    return out


def _body(loop: ir.Operation) -> ir.Block:
    return loop.regions[0].blocks[0]


def _ops(block: ir.Block) -> list[ir.Operation]:
    return [op.operation for op in block.operations]


def _nest(l1: ir.Operation) -> list[ir.Operation] | None:
    """Three loops, each the only loop of its parent's body, or None."""
    loops = [l1]
    while len(loops) < 3:
        inner = [op for op in _ops(_body(loops[-1])) if op.name == "scf.for"]
        if len(inner) != 1:
            return None
        loops.append(inner[0])
    if any(op.name == "scf.for" for op in _ops(_body(loops[-1]))):
        return None
    return loops


def _looks_close(nest) -> bool:
    """A 3-deep nest whose innermost body multiplies and adds floats from memory:
    worth a word when it is not a matmul."""
    names = {op.name for op in _ops(_body(nest[2]))}
    return {"arith.mulf", "memref.load"} <= names and bool(
        names & {"arith.addf", "arith.subf", "arith.maximumf", "arith.maxnumf", "arith.minimumf", "arith.minnumf"})


# --- values -----------------------------------------------------------------

def _owner_op(v: ir.Value) -> ir.Operation | None:
    owner = v.owner
    return owner.operation if isinstance(owner, (ir.OpView, ir.Operation)) else None


def _const_int(v) -> int | None:
    op = _owner_op(v)
    if op is not None and op.name == "arith.constant" and isinstance(op.attributes["value"], ir.IntegerAttr):
        return ir.IntegerAttr(op.attributes["value"]).value
    return None


def _const_float(v) -> float | None:
    op = _owner_op(v)
    if op is not None and op.name == "arith.constant" and isinstance(op.attributes["value"], ir.FloatAttr):
        return ir.FloatAttr(op.attributes["value"]).value
    return None


def _elem(t: ir.Type) -> str | None:
    return str(t) if str(t) in ("f32", "f64") else None


@dataclass
class _Access:
    view: ir.Value
    dims: tuple[int, int]     # which loops index it (0..2, outermost first)
    op: ir.Operation


@dataclass
class _Matched:
    public: Recognised
    nest: list
    C: ir.Value
    A: ir.Value
    B: ir.Value
    ivs_of: tuple[int, int, int]      # the loops of i, j, p
    ubs: list                          # the loops' upper bounds (i64)


def _match(nest, location) -> "_Matched":
    ivs = [_body(l).arguments[0] for l in nest]
    for d, loop in enumerate(nest):
        if _const_int(loop.operands[0]) != 0 or _const_int(loop.operands[2]) != 1:
            raise NotMatmul("a loop does not run from 0 in steps of 1")
        n_iter = len(loop.operands) - 3
        if n_iter > (1 if d == 2 else 0):
            raise NotMatmul("a loop carries values other than one accumulator")
    ops = []
    for d, loop in enumerate(nest):
        ops += [op for op in _ops(_body(loop)) if d == 2 or op != nest[d + 1]]
    for op in ops:
        if op.name not in _ALLOWED:
            raise NotMatmul(f"the nest also does `{op.name}` (a matmul only loads, multiplies, adds and stores)")

    def loop_of(v: ir.Value) -> int:
        op = _owner_op(v)
        if op is not None and op.name in ("arith.index_castui", "arith.index_cast"):
            v = op.operands[0]
        for d, iv in enumerate(ivs):
            if v == iv:
                return d
        raise NotMatmul("an index is not a plain loop variable (a matmul indexes x[i*ld + j] only)")

    def access(op) -> _Access:
        idx = list(op.operands)[(2 if op.name == "memref.store" else 1):]
        view = op.operands[1] if op.name == "memref.store" else op.operands[0]
        if len(idx) != 2:
            raise NotMatmul("an access is not to a 2-D matrix")
        return _Access(view, (loop_of(idx[0]), loop_of(idx[1])), op)

    stores = [op for op in ops if op.name == "memref.store"]
    if len(stores) != 1:
        raise NotMatmul(f"the nest stores {len(stores)} times (a matmul stores one C element)")
    st = access(stores[0])
    i, j = st.dims
    if i == j:
        raise NotMatmul("C is indexed by one loop twice")
    p = 3 - i - j
    stored = stores[0].operands[0]
    elem = _elem(stored.type)
    if elem is None:
        raise NotMatmul(f"the values are {stored.type}, not f32 or f64")

    inner = nest[2]
    iter_args = list(_body(inner).arguments)[1:]
    if iter_args:
        # acc = init; for p { acc += a*b }; c[i,j] = acc
        if p != 2 or stores[0].block != _body(nest[1]):
            raise NotMatmul("the accumulator is not stored after the innermost loop")
        if stored != inner.results[0]:
            raise NotMatmul("what is stored is not the accumulator")
        yielded = _ops(_body(inner))[-1].operands[0]
        product = _sum_of(yielded, iter_args[0])
        init = inner.operands[3]
        zero = _const_float(init)
        if zero is not None:
            if zero != 0.0 or math.copysign(1.0, zero) < 0:
                raise NotMatmul(f"the accumulator starts at {zero}, not 0.0")
            assign = True
        else:
            ld = _owner_op(init)
            if ld is None or ld.name != "memref.load" or access(ld).view != st.view or access(ld).dims != (i, j):
                raise NotMatmul("the accumulator starts neither at 0.0 nor at c[i,j]")
            assign = False
    else:
        # for … { c[i,j] = c[i,j] + a*b }
        if stores[0].block != _body(inner):
            raise NotMatmul("C is not updated in the innermost loop")
        loads_c = [op for op in ops if op.name == "memref.load" and op.operands[0] == st.view]
        if len(loads_c) != 1:
            raise NotMatmul("C is read more than once")
        old = loads_c[0].results[0]
        if access(loads_c[0]).dims != (i, j):
            raise NotMatmul("C is read at another element than it is written")
        product = _sum_of(stored, old)
        assign = False
    mul = _owner_op(product)
    if mul is None or mul.name != "arith.mulf":
        raise NotMatmul("what is added is not a product")
    loads = []
    for factor in mul.operands:
        ld = _owner_op(factor)
        if ld is None or ld.name != "memref.load":
            raise NotMatmul("a factor is not read from a matrix")
        loads.append(access(ld))
    a, b = loads
    if b.dims == (i, p):
        a, b = b, a
    if a.dims != (i, p):
        raise NotMatmul("no factor is A[i,p] for C[i,j]")
    if b.dims not in ((p, j), (j, p)):
        raise NotMatmul("the other factor is not B[p,j] or B[j,p]")
    if st.view in (a.view, b.view):
        raise NotMatmul("C is also read as a factor")
    if any(op.name == "memref.load" and op != a.op and op != b.op and op.operands[0] != st.view for op in ops):
        raise NotMatmul("the nest reads other values than A, B and C")
    ubs = [l.operands[1] for l in nest]
    sizes = tuple("dynamic" if _const_int(ubs[d]) is None else str(_const_int(ubs[d])) for d in (i, j, p))
    where = location(mul)          # the multiply-add's line, else the loop's
    public = Recognised(where if where != "<function>" else location(nest[0]), elem, assign, b.dims == (j, p), sizes)
    return _Matched(public, nest, st.view, a.view, b.view, (i, j, p), ubs)


def _sum_of(total: ir.Value, acc: ir.Value) -> ir.Value:
    """`total` is acc + x or x + acc: x."""
    add = _owner_op(total)
    if add is None or add.name != "arith.addf":
        raise NotMatmul("the update is not an addition (another reduction operator)")
    x, y = add.operands
    if x == acc:
        return y
    if y == acc:
        return x
    raise NotMatmul("the sum does not accumulate into C")


# --- rewrite ----------------------------------------------------------------

def _rewrite(m: "_Matched", rec: Recognised, exact: bool) -> None:
    l1 = m.nest[0]
    i, j, p = m.ivs_of
    index = ir.IndexType.get()
    with ir.InsertionPoint(l1), l1.location:
        size = {d: m.ubs[d] if m.ubs[d].type == index else arith.index_castui(index, m.ubs[d]) for d in (i, j, p)}
        C = _sub(m.C, size[i], size[j])
        A = _sub(m.A, size[i], size[p])
        B = _sub(m.B, *((size[j], size[p]) if rec.transpose_b else (size[p], size[j])))
        ok = arith.andi(arith.andi(_disjoint(C, A), _disjoint(C, B)), _big_enough([m.ubs[d] for d in (i, j, p)]))
        guard = scf.IfOp(ok, [], has_else=True)
        with ir.InsertionPoint(guard.then_block):
            if rec.assign:
                zero = arith.constant(ir.F32Type.get() if rec.elem == "f32" else ir.F64Type.get(), 0.0)
                _op_from_text("linalg.fill ins(%x0 : {0}) outs(%x1 : {1})", [zero, C])
            b_map = "(d1, d2)" if rec.transpose_b else "(d2, d1)"
            mm = _op_from_text(
                "linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, "
                f"affine_map<(d0, d1, d2) -> {b_map}>, affine_map<(d0, d1, d2) -> (d0, d1)>] "
                "ins(%x0, %x1 : {0}, {1}) outs(%x2 : {2})", [A, B, C])
            if exact:
                mm.attributes[EXACT_ATTR] = ir.UnitAttr.get()
            scf.YieldOp([])
        with ir.InsertionPoint(guard.else_block):
            scf.YieldOp([])
    l1.move_before(guard.else_block.operations[0].operation)


def _big_enough(sizes: list[ir.Value]) -> ir.Value:
    """m·n·k >= MIN_WORK (in f64: the product of three sizes may not fit 64 bits)."""
    f64 = ir.F64Type.get()
    product = None
    i64 = ir.IntegerType.get_signless(64)
    for s in sizes:
        f = arith.uitofp(f64, s if s.type == i64 else arith.index_castui(i64, s))
        product = f if product is None else arith.mulf(product, f)
    return arith.cmpf(arith.CmpFPredicate.OGE, product, arith.constant(f64, float(MIN_WORK)))


def _op_from_text(text: str, operands: list[ir.Value]) -> ir.Operation:
    """One op written in MLIR's syntax over `%x0, %x1, …` (`{0}, {1}, …` their
    types), built at the current insertion point on `operands`. (The bindings'
    linalg builders need numpy, which cargo-mlir does not depend on.)"""
    types = [str(v.type) for v in operands]
    sig = ", ".join(f"%x{i}: {t}" for i, t in enumerate(types))
    scratch = ir.Module.parse(f"func.func @f({sig}) {{\n  {text.format(*types)}\n  return\n}}")
    op = scratch.body.operations[0].regions[0].blocks[0].operations[0].operation
    new = op.clone(ip=ir.InsertionPoint.current)
    for i, v in enumerate(operands):
        new.operands[i] = v
    return new


def _sub(view: ir.Value, rows: ir.Value, cols: ir.Value) -> ir.Value:
    t = ir.MemRefType(view.type)
    dyn = ir.ShapedType.get_dynamic_size()
    strides, offset = t.get_strides_and_offset()
    if strides[1] != 1:
        raise NotMatmul("a matrix's rows are not contiguous")
    result = ir.MemRefType.get([dyn, dyn], t.element_type,
                               layout=ir.StridedLayoutAttr.get(offset=offset, strides=[strides[0], 1]))
    return memref.subview(view, [0, 0], [rows, cols], [1, 1], result_type=result)


def _span(view: ir.Value) -> tuple[ir.Value, ir.Value]:
    """[start, end) in bytes of the rows of `view` (over-approximated by whole rows of its stride)."""
    index = ir.IndexType.get()
    md = memref.ExtractStridedMetadataOp(view)
    offset, rows, stride = md.results[1], md.results[2], md.results[4]
    es = arith.constant(index, 4 if str(ir.MemRefType(view.type).element_type) == "f32" else 8)
    base = memref.extract_aligned_pointer_as_index(view)
    start = arith.addi(base, arith.muli(offset, es))
    return start, arith.addi(start, arith.muli(arith.muli(rows, stride), es))


def _disjoint(x: ir.Value, y: ir.Value) -> ir.Value:
    xs, xe = _span(x)
    ys, ye = _span(y)
    return arith.ori(arith.cmpi(arith.CmpIPredicate.ule, xe, ys), arith.cmpi(arith.CmpIPredicate.ule, ye, xs))
