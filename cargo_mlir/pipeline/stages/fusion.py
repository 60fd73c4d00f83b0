"""Python pass `fuse-elementwise` (raise pipeline, after `recognise-matmul`):
element-wise loop nests that consume a recognised matmul's output, or another
element-wise nest's, fused into their producer (issue 14).

An element-wise nest, in the raised form, is one or two `scf.for` loops from 0
in steps of 1 (maybe inside rustc's `if bound == 0 {} else {…}`) whose body
only loads, computes with `arith`/`math` ops and stores once, to C[i, j] of
the array it also reads at [i, j] and nowhere else; its other operands are
read at [i], [j], [i, j] or [j, i], and function arguments or values computed
before are scalars. A flat loop `for t in 0..m*n { y[t] = f(y[t]) }` over the
matmul's C (same buffer, rows n apart) counts too.

* Into a matmul: the nests that follow a guarded `linalg.matmul` (nothing in
  between but pure arithmetic; the guard's `scf.if`s may be climbed out of)
  become one `linalg.generic` right after the matmul, marked
  `cargo_mlir.epilogue` (its value: what was fused, for the notes). The host
  schedule applies it to each finished C tile as the micro-kernel writes it
  back (schedule_host.py); any other lowering runs it as a second loop nest,
  which gives the same results. The matmul's guard also requires every other
  operand of the epilogue not to overlap C; when the guard fails the matmul
  and the nests run as written (a flag says whether the fused path ran).
* Without a matmul: consecutive nests over the same bounds, where every array
  the nests write is read by them only at the element being written, become
  one loop nest (the later bodies run right after the first's, per element),
  guarded by a check that the arrays written overlap nothing else read, with
  the nests as written otherwise.
* Function-local temporaries (temporaries.py): when C is the function's own
  `vec!` that only the matmul (assigning it) and the chain touch, a nest that
  reads C at its element and writes another array y moves the product there:
  the guarded fill and matmul write y, the epilogue takes C's value in
  registers (guard: y must not overlap A or B either). In a chain of nests, a
  temporary that only the chain touches, written before it is read, is never
  stored: the fused loop hands its value on. Either way its zero fill goes.

Each element is computed by the same operations in the same order as in the
loops (they are cloned, fast-math flags and all), so results are bit for bit
those of the loops. `--explain` says what was fused and why a nest that
follows a matmul was not."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlir import ir
from mlir.dialects import arith, memref, scf

from cargo_mlir.pipeline.mlir_util import walk_ops
from cargo_mlir.pipeline.stages import temporaries as tm

EPILOGUE_ATTR = "cargo_mlir.epilogue"
_INDEX_CASTS = ("arith.index_castui", "arith.index_cast")
# ops that may sit between a producer and its consumer nest without observing memory
_PURE_PREFIXES = ("arith.", "math.")
_PURE_OPS = {"memref.subview", "memref.extract_strided_metadata", "memref.extract_aligned_pointer_as_index",
             "builtin.unrealized_conversion_cast", "llvm.mlir.undef", "llvm.insertvalue", "llvm.extractvalue",
             "llvm.mlir.constant", "memref.reinterpret_cast", "memref.cast"}


class NotFused(Exception):
    """Why a nest cannot be fused."""


@dataclass
class Nest:
    top: ir.Operation                 # the op in its block: the loop, or rustc's `if bound == 0` around it
    loops: list[ir.Operation]         # outermost first
    view: ir.Value                    # the array it stores to (C)
    positions: tuple[int, ...]        # positions[d]: which index of C loop d drives
    ubs: list[ir.Value]               # the bound of each index of C
    ops: list[ir.Operation]           # the body, in order (loads, arithmetic, the store)
    store: ir.Operation
    location: str
    kinds: list[str] = field(default_factory=list)

    @property
    def flat(self) -> bool:
        return len(self.positions) == 1

    def describe(self) -> str:
        return f"{' + '.join(self.kinds) or 'element-wise'} ({self.location})"


@dataclass
class Fusion:
    """Report of the pass: explain lines."""
    fused: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def fuse_elementwise(module, ctx) -> None:
    from cargo_mlir.pipeline.stage import Finding
    from cargo_mlir.pipeline.stages.raise_.rewrite import location

    m = ctx.marker
    if not ctx.facts.raised:
        return
    report = fuse(module, m.entry, location, f"{m.kind} `{m.name}`", m.location)
    for line in report.fused + report.refused:
        ctx.notes.append(Finding("note", line))


def fuse(module: ir.Module, entry: str, location, where: str = "", fallback: str = "") -> Fusion:
    """Fuse in `@entry` (a func.func); `location(op)` names an op's source line."""
    report = Fusion()
    func = _find_func(module, entry)
    if func is None:
        return report
    loc = lambda op: _loc(location, op, fallback)  # noqa: E731
    matmuls = []
    func.walk(lambda op: (matmuls.append(op.operation) if op.operation.name == "linalg.matmul" else None,
                          ir.WalkResult.ADVANCE)[1])
    consumed: list[ir.Operation] = []
    for mm in matmuls:
        _into_matmul(func, mm, loc, where, report, consumed)
    _chains(func, loc, where, report, consumed)
    return report


def _loc(location, op, fallback):
    text = location(op)
    return fallback if text == "<function>" and fallback else text


# --- structure ----------------------------------------------------------------

def _find_func(module, name):
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
            return op.operation
    return None


def _owner_op(v: ir.Value):
    owner = v.owner
    return owner.operation if isinstance(owner, (ir.OpView, ir.Operation)) else None


def _strip(v: ir.Value) -> ir.Value:
    op = _owner_op(v)
    while op is not None and op.name in _INDEX_CASTS:
        v = op.operands[0]
        op = _owner_op(v)
    return v


def _const_int(v) -> int | None:
    op = _owner_op(v)
    if op is not None and op.name == "arith.constant":
        a = op.attributes["value"]
        if isinstance(a, ir.BoolAttr):
            return int(a.value)
        if isinstance(a, ir.IntegerAttr):
            return a.value
    return None


def _const_float(v) -> float | None:
    op = _owner_op(v)
    if op is not None and op.name == "arith.constant" and isinstance(op.attributes["value"], ir.FloatAttr):
        return ir.FloatAttr(op.attributes["value"]).value
    return None


def _ops(block: ir.Block) -> list[ir.Operation]:
    return [op.operation for op in block.operations]


def _body(loop) -> ir.Block:
    return loop.regions[0].blocks[0]


def _next(op: ir.Operation) -> ir.Operation | None:
    ops = _ops(op.block)
    for i, o in enumerate(ops):
        if o == op:
            return ops[i + 1] if i + 1 < len(ops) else None
    return None


def _ancestors(op: ir.Operation):
    p = op.parent
    while p is not None and p.name != "builtin.module":
        yield p
        p = p.parent


def _inside(op, ancestor) -> bool:
    return any(a == ancestor for a in _ancestors(op))


def _dominates(v: ir.Value, op: ir.Operation) -> bool:
    """`v` is defined before `op` in one of the blocks around it (structured code: no CFG)."""
    chain = [op] + list(_ancestors(op))
    d = _owner_op(v)
    if d is None:               # a block argument: its block must hold op (or an op around it)
        return any(c.block == v.owner for c in chain)
    for c in chain:
        if c.block == d.block:
            return d.is_before_in_block(c)
    return False


def _pure(op: ir.Operation) -> bool:
    return (op.name.startswith(_PURE_PREFIXES) and not len(op.regions)) or op.name in _PURE_OPS


def _what(op: ir.Operation) -> str:
    if op.name in ("memref.store", "llvm.store"):
        return "a store"
    if op.name in ("llvm.call", "func.call"):
        callee = op.attributes["callee"] if "callee" in op.attributes else None
        return f"a call{f' to `{str(callee).lstrip(chr(64))}`' if callee is not None else ''}"
    if op.name in ("memref.load", "llvm.load"):
        return "a read of memory (it would see C after the nests)"
    if op.name == "scf.for":
        return "a loop with side effects"
    if op.name == "scf.if":
        return "a branch with side effects"
    return f"`{op.name}`"


# --- element-wise nests ---------------------------------------------------------

def _unwrap(op: ir.Operation) -> tuple[ir.Operation, ir.Value | None] | None:
    """(the loop, the condition of rustc's `if bound == 0 {} else {loop}` around it, or None)."""
    if op.name == "scf.for":
        return op, None
    if op.name != "scf.if" or len(op.results) or len(op.regions[1].blocks) == 0:
        return None
    then, other = _ops(op.regions[0].blocks[0]), _ops(op.regions[1].blocks[0])
    if len(then) != 1:
        return None
    loops = [o for o in other if o.name == "scf.for"]
    if len(loops) != 1 or not all(o == loops[0] or _pure(o) or o.name == "scf.yield" for o in other):
        return None
    return loops[0], op.operands[0]


def _zero_trip(cond: ir.Value, ubs: list[ir.Value]) -> bool:
    """`cond` is true only where some bound in `ubs` is 0 (an `or` of `x == 0`)."""
    op = _owner_op(cond)
    if op is None:
        return False
    if _const_int(cond) == 0:
        return True             # never true
    if op.name == "arith.ori":
        return _zero_trip(op.operands[0], ubs) and _zero_trip(op.operands[1], ubs)
    if op.name == "arith.andi":
        return _zero_trip(op.operands[0], ubs) or _zero_trip(op.operands[1], ubs)
    if op.name == "arith.select":
        return _zero_trip(op.operands[1], ubs) and _zero_trip(op.operands[2], ubs)
    if op.name == "arith.cmpi" and ir.IntegerAttr(op.attributes["predicate"]).value == 0:     # eq
        a, b = op.operands
        x = a if _const_int(b) == 0 else b if _const_int(a) == 0 else None
        return x is not None and any(_strip(x) == _strip(u) for u in ubs)
    return False


def analyse(top: ir.Operation, location) -> Nest | None:
    """The element-wise nest `top` is, None when it is no loop nest at all;
    NotFused when it is a loop nest but not an element-wise one."""
    un = _unwrap(top)
    if un is None:
        return None
    outer, cond = un
    loops = [outer]
    while True:
        body = _ops(_body(loops[-1]))
        inner = [o for o in body if o.name == "scf.for"]
        if not inner:
            break
        if len(inner) > 1 or len(loops) == 2:
            raise NotFused("it is not a one- or two-deep loop nest")
        loops.append(inner[0])
    for lp in loops:
        if _const_int(lp.operands[0]) != 0 or _const_int(lp.operands[2]) != 1:
            raise NotFused("a loop does not run from 0 in steps of 1")
        if len(lp.operands) != 3 or len(lp.results):
            raise NotFused("a loop carries values")
    ivs = [_body(lp).arguments[0] for lp in loops]
    ops: list[ir.Operation] = []
    for d, lp in enumerate(loops):
        body = _ops(_body(lp))
        if d + 1 < len(loops):
            k = body.index(loops[d + 1])
            if any(not _pure(o) for o in body[k + 1:-1]):
                raise NotFused("the outer loop does more after the inner one")
            ops += body[:k]
        else:
            ops += body[:-1]
    if cond is not None and not _zero_trip(cond, [lp.operands[1] for lp in loops]):
        return None     # a real condition: not a plain nest

    def loop_of(v: ir.Value) -> int:
        v = _strip(v)
        for d, iv in enumerate(ivs):
            if v == iv:
                return d
        raise NotFused("an array is indexed by something else than the loop counters")

    stores = [o for o in ops if o.name == "memref.store"]
    if len(stores) != 1:
        raise NotFused(f"it stores {len(stores)} times (an element-wise nest stores one element)")
    st = stores[0]
    view = st.operands[1]
    dims = tuple(loop_of(x) for x in list(st.operands)[2:])
    if sorted(dims) != list(range(len(loops))):
        raise NotFused("it does not store to each element once (the array is not indexed by every loop once)")
    positions = tuple(dims.index(d) for d in range(len(loops)))
    ubs = [loops[dims[p]].operands[1] for p in range(len(dims))]
    kinds: list[str] = []
    seen_store = False
    for o in ops:
        if o == st:
            seen_store = True
            continue
        if o.name in _INDEX_CASTS and _strip(o.result) in ivs:
            for use in o.result.uses:
                u = use.owner
                if u.name not in ("memref.load", "memref.store") or use.operand_number < (
                        1 if u.name == "memref.load" else 2):
                    raise NotFused("it uses a loop counter as a number")
            continue
        if o.name == "memref.load":
            idx = tuple(loop_of(x) for x in list(o.operands)[1:])
            if o.operands[0] == view:
                if idx != dims:
                    raise NotFused("it reads the array at another element than it writes")
                if seen_store:
                    raise NotFused("it reads the array after writing it")
            elif len(set(idx)) != len(idx):
                raise NotFused("it reads an array on a diagonal")
            continue
        if o.name.startswith(_PURE_PREFIXES) and not len(o.regions):
            for x in o.operands:
                if x in ivs:
                    raise NotFused("it uses a loop counter as a number")
            continue
        raise NotFused(f"it does {_what(o)}")
    nest = Nest(top, loops, view, positions, ubs, ops, st, location(st))
    nest.kinds = _kinds(nest, ivs)
    return nest


def _kinds(nest: Nest, ivs) -> list[str]:
    """What the body does, in words: bias add, relu, scaling, …"""
    out: list[str] = []
    loads = {o.result: o for o in nest.ops if o.name == "memref.load"}

    def operand_kind(v):
        ld = loads.get(v)
        if ld is not None and ld.operands[0] != nest.view:
            return "bias" if len(ld.operands) - 1 < len(nest.loops) else "array"
        if ld is None and (_const_float(v) is not None or not any(v == r for o in nest.ops for r in o.results)):
            return "scalar"
        return None

    for o in nest.ops:
        n = o.name
        if n in ("arith.maxnumf", "arith.maximumf") and any(_const_float(x) == 0.0 for x in o.operands):
            w = "relu"
        elif n in ("math.tanh",):
            w = "tanh"
        elif n in ("arith.addf", "arith.subf"):
            k = [operand_kind(x) for x in o.operands]
            w = "bias add" if "bias" in k else "add" if "array" in k else "add" if "scalar" in k else \
                "element-wise"
        elif n in ("arith.mulf", "arith.divf"):
            k = [operand_kind(x) for x in o.operands]
            w = "scaling" if "scalar" in k or "bias" in k else "element-wise"
        elif n.startswith(("arith.max", "arith.min")):
            w = "clamp"
        elif n.startswith("math."):
            w = n.split(".")[1]
        else:
            continue
        if w not in out:
            out.append(w)
    if "element-wise" in out and len(out) > 1:
        out.remove("element-wise")
    return out


# --- into a matmul ---------------------------------------------------------------

@dataclass
class _Target:
    matmul: ir.Operation
    guard: ir.Operation        # the scf.if whose then-branch holds fill + matmul
    C: ir.Value                # the matmul's C (subview of `view`)
    view: ir.Value             # the 2-D array C is a subview of
    M: ir.Value
    N: ir.Value


def _target(mm: ir.Operation) -> _Target | None:
    guard = mm.parent
    if guard is None or guard.name != "scf.if" or len(guard.regions[1].blocks) == 0:
        return None
    C = mm.operands[2]
    sub = _owner_op(C)
    if sub is None or sub.name != "memref.subview" or len(sub.operands) != 3:
        return None
    return _Target(mm, guard, C, sub.operands[0], sub.operands[1], sub.operands[2])


def _descriptor(view: ir.Value) -> dict[tuple[int, ...], ir.Value]:
    """The fields a raise view's descriptor was built from (llvm.insertvalue chain)."""
    out: dict[tuple[int, ...], ir.Value] = {}
    op = _owner_op(view)
    if op is None or op.name != "builtin.unrealized_conversion_cast":
        return out
    v = op.operands[0]
    while True:
        op = _owner_op(v)
        if op is None or op.name != "llvm.insertvalue":
            return out
        pos = tuple(ir.DenseI64ArrayAttr(op.attributes["position"]))
        out.setdefault(pos, op.operands[1])
        v = op.operands[0]


def _same(a: ir.Value | None, b: ir.Value | None) -> bool:
    if a is None or b is None:
        return False
    a, b = _strip(a), _strip(b)
    return a == b or (_const_int(a) is not None and _const_int(a) == _const_int(b))


def _product_of(v: ir.Value, x: ir.Value, y: ir.Value) -> bool:
    op = _owner_op(_strip(v))
    if op is None or op.name != "arith.muli":
        return False
    a, b = op.operands
    return (_same(a, x) and _same(b, y)) or (_same(a, y) and _same(b, x))


def _fits(nest: Nest, t: _Target, produced: list[ir.Value]) -> str:
    """"" when `nest` works element by element on the array that holds the
    matmul's product now (`produced[-1]`: C, or where an earlier nest of the
    chain wrote it), else why not. A nest that writes another array moves the
    product there when it reads the current one at the element it writes (the
    caller then checks that the array left behind is a temporary)."""
    cur = produced[-1]
    bases = [b for b in (_descriptor(v).get((1,)) for v in produced) if b is not None]
    for o in nest.ops:
        if o.name != "memref.load":
            continue
        if any(o.operands[0] == v for v in produced):
            if o.operands[0] != nest.view and not _identity(o, nest):
                return "it reads the matmul's C at other elements"
        elif o.operands[0] != nest.view and any(_same(_descriptor(o.operands[0]).get((1,)), b) for b in bases):
            return "it reads the matmul's C at other elements"
    if not nest.flat:
        if not (_same(nest.ubs[0], t.M) and _same(nest.ubs[1], t.N)):
            return "its bounds are not the matmul's m and n"
        if nest.view == cur:
            return ""
        if not any(o.name == "memref.load" and o.operands[0] == cur for o in nest.ops):
            return "it writes another array than the matmul's C"
        if any(o.name == "memref.load" and o.operands[0] == nest.view for o in nest.ops):
            return "it writes another array than the matmul's C, and reads that array's old value"
        return ""
    cd, fd = _descriptor(cur), _descriptor(nest.view)
    if not cd or not fd or not _same(cd.get((1,)), fd.get((1,))):
        return "it writes another array than the matmul's C"
    if not _same(cd.get((2,)), fd.get((2,))):
        return "it writes another array than the matmul's C"
    if not _same(cd.get((4, 0)), t.N):
        return "it is a flat loop, and C's rows are not n apart"
    if not _product_of(nest.ubs[0], t.M, t.N):
        return "it is a flat loop over other than m·n elements"
    if any(o.name == "memref.load" and o.operands[0] != nest.view for o in nest.ops):
        return "it is a flat loop that reads other arrays"
    return ""


def _producer(t: _Target, first: Nest) -> ir.Operation:
    """The op around the matmul (its guard, or rustc's zero-trip tests around that)
    in the block the nests follow in: what writes C as the code is written."""
    a = t.guard
    while a.parent is not None and not _inside(first.top, a.parent):
        a = a.parent
    return a


def _left_behind(func, view: ir.Value, t: _Target, chain: list[Nest], producer, loc) -> tm.Temporary | str:
    """The temporary the product moved out of (C, or an array a nest of the chain
    wrote), or why it is not one the fused code may leave unwritten: only the
    matmul (writing it) and the chain (at the element it works on) touch it."""
    temp = tm.temporary(func, view)
    if temp is None:
        return "C is not a temporary of the function (a parameter or a buffer the caller can read: it escapes)"
    o = temp.pointer_access()
    if o is not None:
        return f"the temporary is also accessed through its pointer (`{o.name}` at {loc(o)})"
    if view == t.view and not any(o.name == "linalg.fill" and o.operands[1] == t.C for o in _ops(t.matmul.block)):
        return "the matmul accumulates into the temporary (t += A·B)"
    ops = [o for n in chain for o in n.ops]
    for use in temp.uses():
        if _inside(use, producer) and view == t.view:
            if use.name == "memref.store" or use.name == "linalg.fill" or \
                    (use.name == "linalg.matmul" and use.operands[2] == t.C
                     and tm.local_id(tm.source(use.operands[0])) != temp.ident
                     and tm.local_id(tm.source(use.operands[1])) != temp.ident):
                continue
        elif any(use == o for o in ops):
            continue
        after = not _inside(use, producer) and not any(_inside(use, n.top) for n in chain)
        return f"the temporary is also {'read after' if after else 'used'} (`{use.name}` at {loc(use)})"
    return temp


def _zero_test(cond: ir.Value) -> bool:
    """`cond` has the form of rustc's zero-trip tests: an `or` of `x == 0`."""
    op = _owner_op(cond)
    if op is None:
        return False
    if _const_int(cond) == 0:
        return True
    if op.name == "arith.ori":
        return _zero_test(op.operands[0]) and _zero_test(op.operands[1])
    if op.name == "arith.andi":
        return _zero_test(op.operands[0]) or _zero_test(op.operands[1])
    if op.name == "arith.select":
        return _zero_test(op.operands[1]) and _zero_test(op.operands[2])
    return op.name == "arith.cmpi" and ir.IntegerAttr(op.attributes["predicate"]).value == 0 and (
        _const_int(op.operands[0]) == 0 or _const_int(op.operands[1]) == 0)


def _wrapper(op: ir.Operation) -> bool:
    """rustc's `if bound == 0 {} else {…}` around loops."""
    return (op.name == "scf.if" and not len(op.results) and len(op.regions[1].blocks) > 0
            and len(_ops(op.regions[0].blocks[0])) == 1 and _zero_test(op.operands[0]))


def _following(op: ir.Operation):
    """(op, conditions) for the ops after `op`, climbing out of the `scf.if`s around
    it (never out of a loop) and into rustc's zero-trip tests (their conditions)."""
    cur, conds, entered = op, [], []
    while True:
        nxt = _next(cur)
        if nxt is None:
            return
        if _next(nxt) is None:          # the terminator
            parent = cur.parent
            if nxt.name != "scf.yield" or parent is None or parent.name != "scf.if" or len(parent.results) \
                    or len(nxt.operands):
                return
            if entered and entered[-1] == parent:
                entered.pop()
                conds.pop()
            cur = parent
            continue
        if _wrapper(nxt):
            entered.append(nxt)
            conds.append(nxt.operands[0])
            inner = _ops(nxt.regions[1].blocks[0])
            if len(inner) == 1:
                cur = nxt
                continue
            yield inner[0], tuple(conds)
            cur = inner[0]
            continue
        yield nxt, tuple(conds)
        cur = nxt


def _into_matmul(func, mm, loc, where, report: Fusion, consumed: list) -> None:
    t = _target(mm)
    if t is None:
        return
    mm_loc = loc(t.guard)
    for o in _ops(_body_of_else(t.guard)):
        if o.name == "scf.for":
            mm_loc = _matmul_line(o, loc)
            break
    chain: list[Nest] = []
    produced = [t.view]         # the arrays that hold the product in turn
    stop = None
    for op, conds in _following(t.guard):
        if _pure(op):
            continue
        try:
            nest = analyse(op, loc)
        except NotFused as e:
            stop = (op, f"the loop nest at {loc(op)} is not element-wise: {e}")
            break
        if nest is None:
            stop = (op, f"{_what(op)} at {loc(op)} comes between them")
            break
        why = _fits(nest, t, produced)
        if not why and not all(_zero_trip(c, [t.M, t.N] + nest.ubs) for c in conds):
            why = "it runs under a condition"
        if why:
            stop = (op, f"the loop nest at {nest.location}: {why}")
            break
        chain.append(nest)
        if not nest.flat and nest.view != produced[-1]:
            produced.append(nest.view)
    temps, left = [], False
    if len(produced) > 1:
        producer = _producer(t, chain[0])
        for r, view in enumerate(produced[:-1]):
            temp = _left_behind(func, view, t, chain, producer, loc)
            if isinstance(temp, str):
                cut = next(i for i, n in enumerate(chain) if n.view == produced[r + 1])
                stop = (chain[cut].top, f"the loop nest at {chain[cut].location}: it writes another array "
                                        f"than the matmul's C, and {temp}")
                chain, produced, left = chain[:cut], produced[:r + 1], True
                break
            temps.append(temp)
    if stop is not None and (left or _touches_c_later(stop[0], t, loc)):
        op, why = stop
        report.refused.append(f"{where}: not fused into the matmul at {mm_loc}" +
                              (f" after {', '.join(n.describe() for n in chain)}" if chain else "") + f": {why}")
    if not chain:
        return
    try:
        _fuse_epilogue(func, t, chain, produced)
    except NotFused as e:
        report.refused.append(f"{where}: not fused into the matmul at {mm_loc}: {e}")
        return
    for temp in temps:
        for f in temp.fills:
            f.erase()
    if temps:
        _allocate_when_needed(t, chain, produced[:-1], temps, _producer(t, chain[0]))
    consumed.extend(n.top for n in chain)
    moved = f"; the product goes straight to the array the last nest writes{_temp_note(temps, loc)}" if temps else ""
    report.fused.append(f"{where}: fused into the matmul at {mm_loc}: "
                        f"{', '.join(n.describe() for n in chain)} (applied to each C tile as it is written; "
                        f"guarded: their other operands must not overlap C{moved})")


# ops that compute without touching memory, which may be computed earlier
_HOISTABLE = _PURE_OPS | {"llvm.inttoptr", "llvm.ptrtoint", "memref.dim"}


def _hoist(v: ir.Value, before: ir.Operation, memo: dict) -> ir.Value | None:
    """`v` computed before `before` (its pure ops cloned there), None when it reads
    memory or comes out of a region."""
    if _dominates(v, before):
        return v
    if v in memo:
        return memo[v]
    op = _owner_op(v)
    if op is None or len(op.regions) or not (op.name.startswith("arith.") or op.name in _HOISTABLE):
        return None
    args = [_hoist(x, before, memo) for x in op.operands]
    if any(x is None for x in args):
        return None
    new = op.clone(ip=ir.InsertionPoint(before))
    for i, x in enumerate(args):
        new.operands[i] = x
    for r_old, r_new in zip(op.results, new.results):
        memo[r_old] = r_new
    return memo[v]


def _allocate_when_needed(t: _Target, chain: list[Nest], views, temps: list[tm.Temporary], producer) -> None:
    """The fused path leaves the temporaries alone: decide before `producer` whether
    it runs (the guard and rustc's zero-trip tests around it, computed there, the
    guard then using that value), and give the temporaries buffers of their own
    there, of one byte when it does, so that path allocates nothing of their size."""
    conds, child = [(t.guard.operands[0], True)], t.guard
    while child != producer:
        p = child.parent
        if p is None or p.name != "scf.if":
            return
        conds.append((p.operands[0], child.block == p.regions[0].blocks[0]))
        child = p
    memo: dict = {}
    early = [(_hoist(c, producer, memo), then) for c, then in conds]
    if any(c is None for c, _ in early):
        return
    last = chain[-1].top
    while last.block != producer.block:
        last = last.parent
    i1 = ir.IntegerType.get_signless(1)
    with ir.InsertionPoint(producer), producer.location:
        true = arith.constant(i1, 1)
        fused = None
        for c, then in early:
            c = c if then else arith.xori(c, true)
            fused = c if fused is None else arith.andi(fused, c)
        needed = arith.xori(fused, true)
    t.guard.operands[0] = early[0][0]
    for view, temp in zip(views, temps):
        tm.reallocate(temp, view, producer, last, needed)


def _body_of_else(guard) -> ir.Block:
    return guard.regions[1].blocks[0]


def _matmul_line(loop, loc) -> str:
    found = []

    def visit(op):
        if op.operation.name == "arith.mulf" and not found:
            found.append(loc(op.operation))
        return ir.WalkResult.ADVANCE
    loop.walk(visit)
    return found[0] if found else loc(loop)


def _touches_c_later(stop_op, t: _Target, loc) -> bool:
    """`stop_op` or a loop after it writes C, or reads C when C is a temporary of
    the function (then the refusal is worth a note)."""
    seen = False
    temp = tm.local_id(t.view) is not None
    for op, _ in _following(t.guard):
        seen = seen or op == stop_op
        if seen and op.name in ("scf.for", "scf.if") and (_writes_c(op, t) or temp and any(
                o.operands[0] == t.view for o in walk_ops(op, ("memref.load",)))):
            return True
    return False


def _writes_c(op, t: _Target) -> bool:
    base = _descriptor(t.view).get((1,))
    found = []

    def visit(o):
        o = o.operation
        if o.name == "memref.store" and (o.operands[1] == t.view or base is not None and _same(
                _descriptor(o.operands[1]).get((1,)), base)):
            found.append(o)
        return ir.WalkResult.ADVANCE
    op.walk(visit)
    return bool(found)


def _fuse_epilogue(func, t: _Target, chain: list[Nest], produced: list[ir.Value]) -> None:
    """The chain as one linalg.generic after the matmul; the nests run only when
    the guarded matmul did not. When the chain moved the product to another
    array (`produced`), the fill and matmul of the fused path write that array."""
    elem = ir.MemRefType(t.C.type).element_type

    def made(v):
        return any(v == p for p in produced)
    inputs: list[tuple] = []          # (key, value, map, block arg type)
    for nest in chain:
        for o in nest.ops:
            if o.name == "memref.load" and not made(o.operands[0]) and o.operands[0] != nest.view:
                pos = _positions_of(o, nest)
                key = ("view", o.operands[0], pos)
                if not any(k[0] == key for k in inputs):
                    inputs.append((key, o.operands[0], pos, o.result.type))
            elif o.name not in _INDEX_CASTS and o != nest.store and o.name != "memref.load":
                for x in o.operands:
                    if _defined_in(x, nest) or _const_int(x) is not None or _const_float(x) is not None:
                        continue
                    if _const_op(x):
                        continue
                    if not _dominates(x, t.guard):
                        raise NotFused("a nest uses a value computed after the matmul")
                    key = ("scalar", x)
                    if not any(k[0] == key for k in inputs):
                        inputs.append((key, x, None, x.type))
    for key, v, pos, _ in inputs:
        if key[0] == "view" and not _dominates(v, t.guard):
            raise NotFused("a nest reads an array made after the matmul")
    index = ir.IndexType.get()
    M = t.M if t.M.type == index else None
    N = t.N if t.N.type == index else None
    if M is None or N is None:
        raise NotFused("the matmul's sizes are not indices")
    if len(produced) > 1:
        # the product goes straight to the last array: the guard's overlap checks of C
        # against A and B, the fill and the matmul take its subview instead of C's
        sub = _owner_op(t.C)
        if not _dominates(produced[-1], sub):
            raise NotFused("the array the last nest writes is made after the matmul")
        with ir.InsertionPoint(_next(sub)), sub.location:
            C = _subview(produced[-1], [M, N])
        t.C.replace_all_uses_with(C)
        t = _Target(t.matmul, t.guard, C, produced[-1], t.M, t.N)
    # operands cut to what the nests read, checked not to overlap C, before the guard
    with ir.InsertionPoint(t.guard), t.guard.location:
        operands, ok = [], t.guard.operands[0]
        for key, v, pos, _ in inputs:
            if key[0] == "scalar":
                operands.append(v)
                continue
            sizes = [M if p == 0 else N for p in pos]
            sub = _subview(v, sizes)
            ok = arith.andi(ok, _disjoint(t.C, sub))
            operands.append(sub)
        t.guard.operands[0] = ok
    maps = []
    for key, v, pos, _ in inputs:
        maps.append("affine_map<(d0, d1) -> ()>" if pos is None else
                    "affine_map<(d0, d1) -> (" + ", ".join(f"d{p}" for p in pos) + ")>")
    maps.append("affine_map<(d0, d1) -> (d0, d1)>")
    text = ("linalg.generic {{indexing_maps = [" + ", ".join(maps) + "], iterator_types = [\"parallel\", "
            "\"parallel\"]}} " + (("ins(" + ", ".join(f"%x{i}" for i in range(len(operands))) + " : "
                                  + ", ".join("{%d}" % i for i in range(len(operands))) + ") ") if operands else "")
            + f"outs(%x{len(operands)} : {{{len(operands)}}}) {{{{\n^bb0("
            + ", ".join(f"%a{i}: {ty}" for i, (_, _, _, ty) in enumerate(inputs))
            + (", " if inputs else "") + f"%c: {elem}):\n  linalg.yield %c : {elem}\n}}}}")
    mm_block_ops = _ops(t.matmul.block)
    with ir.InsertionPoint(mm_block_ops[-1]), t.matmul.location:      # before the then-branch's yield
        gen = _op_from_text(text, operands + [t.C])
    gen.attributes[EPILOGUE_ATTR] = ir.StringAttr.get(", ".join(n.describe() for n in chain))
    block = gen.regions[0].blocks[0]
    args = list(block.arguments)
    yield_op = _ops(block)[-1]
    values = [(produced[0], args[-1])]      # each array of the product: its element here

    def value_of(view):
        return next(x for v, x in reversed(values) if v == view)
    with ir.InsertionPoint(yield_op):
        for nest in chain:
            vmap: dict = {}
            for o in nest.ops:
                if o.name in _INDEX_CASTS and _strip(o.result) in [_body(lp).arguments[0] for lp in nest.loops]:
                    continue
                if o.name == "memref.load":
                    if made(o.operands[0]):
                        vmap[o.result] = value_of(o.operands[0])
                    elif o.operands[0] == nest.view:          # a flat nest over C
                        vmap[o.result] = value_of(produced[-1])
                    else:
                        k = ("view", o.operands[0], _positions_of(o, nest))
                        vmap[o.result] = args[[i for i, inp in enumerate(inputs) if inp[0] == k][0]]
                    continue
                if o == nest.store:
                    x = o.operands[0]
                    values.append((produced[-1] if nest.flat else nest.view,
                                   vmap[x] if x in vmap else _outside(x, inputs, args, vmap)))
                    continue
                mapped = {i: vmap[x] if x in vmap else _outside(x, inputs, args, vmap)
                          for i, x in enumerate(o.operands) if x in vmap or not _defined_in(x, nest)}
                new = o.clone()
                for i, x in mapped.items():
                    new.operands[i] = x
                for r_old, r_new in zip(o.results, new.results):
                    vmap[r_old] = r_new
        yield_op.operands[0] = value_of(produced[-1])
    # the flag (i8: memref lowering stores whole bytes): the fused path ran, so the nests must not
    i8 = ir.IntegerType.get_signless(8)
    entry = func.regions[0].blocks[0]
    last_chain = [chain[-1].top] + list(_ancestors(chain[-1].top))
    top = next(a for a in [t.guard] + list(_ancestors(t.guard)) if any(b.block == a.block for b in last_chain))
    with ir.InsertionPoint.at_block_begin(entry), func.location:
        flag = memref.alloca(ir.MemRefType.get([], i8), [], [])
    with ir.InsertionPoint(top), func.location:
        memref.store(arith.constant(i8, 0), flag, [])
    with ir.InsertionPoint(mm_block_ops[-1]), func.location:
        memref.store(arith.constant(i8, 1), flag, [])
    for nest in chain:
        with ir.InsertionPoint(nest.top), nest.top.location:
            fused = memref.load(flag, [])
            unfused = arith.cmpi(arith.CmpIPredicate.eq, fused, arith.constant(i8, 0))
            wrap = scf.IfOp(unfused, [], has_else=False)
            with ir.InsertionPoint(wrap.then_block):
                y = scf.YieldOp([])
        nest.top.move_before(y.operation)


def _const_op(x) -> bool:
    op = _owner_op(x)
    return op is not None and op.name in ("arith.constant", "llvm.mlir.constant")


def _outside(x, inputs, args, vmap):
    """A value from outside a nest, inside the generic: a cloned constant or its scalar operand."""
    if x in vmap:
        return vmap[x]
    op = _owner_op(x)
    if op is not None and op.name == "arith.constant":
        new = op.clone()
        vmap[x] = new.results[0]
        return vmap[x]
    for i, inp in enumerate(inputs):
        if inp[0] == ("scalar", x):
            return args[i]
    raise NotFused("a nest uses a value that is neither a constant nor a scalar from before")


def _defined_in(x: ir.Value, nest: Nest) -> bool:
    op = _owner_op(x)
    if op is None:
        return any(x == _body(lp).arguments[0] for lp in nest.loops)
    return any(_inside(op, lp) for lp in nest.loops)


def _positions_of(load, nest: Nest) -> tuple[int, ...]:
    ivs = [_body(lp).arguments[0] for lp in nest.loops]
    out = []
    for x in list(load.operands)[1:]:
        d = ivs.index(_strip(x))
        out.append(nest.positions[d])
    return tuple(out)


def _subview(view: ir.Value, sizes: list[ir.Value]) -> ir.Value:
    t = ir.MemRefType(view.type)
    strides, offset = t.get_strides_and_offset()
    dyn = ir.ShapedType.get_dynamic_size()
    result = ir.MemRefType.get([dyn] * len(sizes), t.element_type,
                               layout=ir.StridedLayoutAttr.get(offset=offset, strides=strides))
    return memref.subview(view, [0] * len(sizes), sizes, [1] * len(sizes), result_type=result)


def _span(view: ir.Value) -> tuple[ir.Value, ir.Value]:
    """[start, end) in bytes of `view` (over-approximated: whole rows)."""
    index = ir.IndexType.get()
    t = ir.MemRefType(view.type)
    rank = t.rank
    md = memref.ExtractStridedMetadataOp(view)
    offset, rows, stride = md.results[1], md.results[2], md.results[2 + rank]
    es = arith.constant(index, 4 if str(t.element_type) in ("f32", "i32") else 8)
    base = memref.extract_aligned_pointer_as_index(view)
    start = arith.addi(base, arith.muli(offset, es))
    return start, arith.addi(start, arith.muli(arith.muli(rows, stride), es))


def _disjoint(x: ir.Value, y: ir.Value) -> ir.Value:
    xs, xe = _span(x)
    ys, ye = _span(y)
    return arith.ori(arith.cmpi(arith.CmpIPredicate.ule, xe, ys), arith.cmpi(arith.CmpIPredicate.ule, ye, xs))


def _op_from_text(text: str, operands: list[ir.Value]) -> ir.Operation:
    from cargo_mlir.pipeline.stages.matmul import _op_from_text as build
    return build(text, operands)


# --- chains without a matmul -------------------------------------------------------

def _chains(func, loc, where, report: Fusion, consumed: list) -> None:
    """Runs of consecutive element-wise nests over the same bounds: one loop."""
    blocks = []

    def visit(op):
        for r in op.operation.regions:
            for b in r.blocks:
                blocks.append(b)
        return ir.WalkResult.ADVANCE
    func.walk(visit, ir.WalkOrder.PRE_ORDER)
    for block in blocks:
        run: list[Nest] = []
        for op in _ops(block) + [None]:
            if op is not None and _pure(op):
                continue
            nest = None
            if op is not None and not any(op == c for c in consumed):
                try:
                    nest = analyse(op, loc)
                except NotFused:
                    nest = None
            if nest is not None and run and _joins(run, nest):
                run.append(nest)
                continue
            if len(run) > 1:
                _fuse_run(func, run, loc, where, report)
            run = [nest] if nest is not None else []


def _identity(load, nest: Nest) -> bool:
    """`load` reads the element the nest's iteration writes (C position d by index d)."""
    return len(load.operands) - 1 == len(nest.positions) and \
        _positions_of(load, nest) == tuple(range(len(nest.positions)))


def _joins(run: list[Nest], nest: Nest) -> bool:
    """`nest` may run element by element with `run`: the same bounds, and every
    array the nests write is read by them only at the element being written (so
    each iteration of the fused loop sees what the nests as written saw)."""
    a = run[0]
    if len(a.positions) != len(nest.positions) or not all(_same(x, y) for x, y in zip(a.ubs, nest.ubs)):
        return False
    nests = run + [nest]
    written = [n.view for n in nests]
    return all(_identity(o, n) for n in nests for o in n.ops
               if o.name == "memref.load" and any(o.operands[0] == w for w in written))


def _unique(values) -> list:
    out = []
    for v in values:
        if not any(v == u for u in out):
            out.append(v)
    return out


def _forwardable(func, view: ir.Value, run: list[Nest], loc) -> tm.Temporary | None:
    """The function-local temporary `view` is, when nothing but the run touches
    it (through this view) and the run writes each element before reading it:
    then the fused loop passes the values on and never stores or loads it, and
    its zero fill is dead."""
    temp = tm.temporary(func, view)
    if temp is None or temp.pointer_access() is not None:
        return None
    ops = [o for n in run for o in n.ops]
    for use in temp.uses():
        if not any(use == o for o in ops) or (use.operands[0] if use.name == "memref.load" else use.operands[1]) != view:
            return None
    for n in run:
        touches = [o for o in n.ops if (o.name == "memref.load" and o.operands[0] == view)
                   or (o.name == "memref.store" and o.operands[1] == view)]
        if touches:
            return temp if touches[0].name == "memref.store" and len(touches) == 1 else None
    return None


def _temp_note(temps: list[tm.Temporary], loc) -> str:
    """What happens to the temporaries the fused code passes by, for the notes."""
    if not temps:
        return ""
    lines = [loc(t.alloc) for t in temps if t.alloc is not None and loc(t.alloc) != "<function>"]
    what = f"temporar{'ies' if len(temps) > 1 else 'y'}{' at ' + ', '.join(lines) if lines else ''}"
    fill = " (zero fill dropped)" if any(t.fills for t in temps) else ""
    return f"; the {what} never written or read on that path{fill}"


def _fuse_run(func, run: list[Nest], loc, where, report: Fusion) -> None:
    """`if (the arrays written overlap nothing else read) { one nest doing all bodies }
    else { the nests }`; a temporary only the run uses is passed on in registers."""
    first = run[0]
    written = _unique(n.view for n in run)
    others = _unique(o.operands[0] for n in run for o in n.ops
                     if o.name == "memref.load" and not any(o.operands[0] == w for w in written))
    for v in others + written:
        if not _dominates(v, first.top):
            return
    for nest in run:            # what the fused nest uses from outside must exist where it goes
        for o in nest.loops + nest.ops:
            for x in o.operands:
                if not _defined_in(x, nest) and not _dominates(x, first.top):
                    return
    temps = {}
    for w in written:
        t = _forwardable(func, w, run, loc)
        if t is not None:
            temps[w] = t
    kept = [w for w in written if w not in temps]
    index = ir.IndexType.get()
    with ir.InsertionPoint(first.top), first.top.location:
        ok = arith.constant(ir.IntegerType.get_signless(1), 1)
        sizes = [u if u.type == index else arith.index_castui(index, u) for u in first.ubs]
        wholes = [_subview(w, sizes) if len(sizes) == ir.MemRefType(w.type).rank else w for w in kept]
        for i, whole in enumerate(wholes):
            for v in others + wholes[i + 1:]:
                ok = arith.andi(ok, _disjoint(whole, v))
        guard = scf.IfOp(ok, [], has_else=True)
        with ir.InsertionPoint(guard.then_block):
            y_then = scf.YieldOp([])
        with ir.InsertionPoint(guard.else_block):
            y_else = scf.YieldOp([])
    fused = first.loops[0].clone(ip=ir.InsertionPoint(y_then))
    for nest in run:
        nest.top.move_before(y_else.operation)
    fused_loops = [fused]
    if len(first.loops) == 2:
        fused_loops.append([o for o in _ops(_body(fused)) if o.name == "scf.for"][0])
    fivs = [_body(lp).arguments[0] for lp in fused_loops]
    # loop d of the first nest drives C index first.positions[d]; iv of C position p in the fused nest:
    iv_of_pos = {first.positions[d]: fivs[d] for d in range(len(fivs))}
    inner = _body(fused_loops[-1])
    current: dict = {}          # a temporary's value at this element
    for o in _ops(inner):       # the first nest, cloned with its loop
        if o.name == "memref.store" and o.operands[1] in temps:
            current[o.operands[1]] = o.operands[0]
            o.erase()
    term = _ops(inner)[-1]
    with ir.InsertionPoint(term):
        for nest in run[1:]:
            ivs = [_body(lp).arguments[0] for lp in nest.loops]
            vmap = {iv: iv_of_pos[nest.positions[d]] for d, iv in enumerate(ivs)}
            for o in nest.ops:
                if o.name == "memref.store" and o.operands[1] in temps:
                    current[o.operands[1]] = vmap.get(o.operands[0], o.operands[0])
                    continue
                if o.name == "memref.load" and o.operands[0] in temps:
                    vmap[o.result] = current[o.operands[0]]
                    continue
                new = o.clone()
                for i, x in enumerate(o.operands):
                    if x in vmap:
                        new.operands[i] = vmap[x]
                for r_old, r_new in zip(o.results, new.results):
                    vmap[r_old] = r_new
    dropped = list(temps.values())
    for w, t in temps.items():
        for f in t.fills:
            f.erase()
        tm.reallocate(t, w, run[0].top, run[-1].top, None)     # (the nests as written: the else-branch)
    report.fused.append(f"{where}: element-wise nests fused into one loop at {first.location}: "
                        f"{', '.join(n.describe() for n in run)} (guarded: their other operands must not "
                        f"overlap the arrays they write{_temp_note(dropped, loc)})")
