"""What reverse mode needs to know about one primal function before it writes
any code: its control-flow graph (which blocks can reach a return, which lie
on cycles, dominators), where each pointer points (its *root*: a parameter,
an alloca, constant memory, or something untraceable), which float values are
active (varied: depend on active inputs; useful: reach the output), and what
each operation asks of the reverse sweep (its *plan*).

Everything here reads the primal; nothing is written. Errors name the
derivative (`what`), the construct and its source line."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlir import ir

from cargo_mlir.pipeline.stages.autodiff import rules
from cargo_mlir.pipeline.stages.autodiff.reverse_cfg import Cfg, fail, successor_operands

# ops whose results carry no derivative although a float operand may be active
HARMLESS = {"llvm.fcmp", "llvm.fptosi", "llvm.fptoui", "llvm.intr.is.fpclass", "llvm.intr.lround",
            "llvm.intr.llround", "llvm.intr.lrint", "llvm.intr.llrint", "llvm.intr.fptosi.sat",
            "llvm.intr.fptoui.sat"}
# ops that only tell the optimiser something: copied forward, nothing backward
MARKERS = {"llvm.intr.assume", "llvm.intr.experimental.noalias.scope.decl", "llvm.intr.lifetime.end",
           "llvm.intr.invariant.start", "llvm.intr.invariant.end", "llvm.intr.prefetch",
           "llvm.intr.var.annotation", "llvm.intr.ptr.annotation", "llvm.intr.annotation",
           "llvm.intr.experimental.constrained.fence"}
CONSTANT_OPS = {"llvm.mlir.constant", "llvm.mlir.zero", "llvm.mlir.undef", "llvm.mlir.poison",
                "llvm.mlir.addressof"}
COPIES = {"llvm.intr.memcpy", "llvm.intr.memmove", "llvm.intr.memcpy.inline"}
SETS = {"llvm.intr.memset", "llvm.intr.memset.inline"}


def is_float(ty) -> bool:
    """A scalar float (vectors are not supported by the engine)."""
    t = ty.maybe_downcast() if hasattr(ty, "maybe_downcast") else ty
    return isinstance(t, (ir.F16Type, ir.BF16Type, ir.F32Type, ir.F64Type))


def is_ptr(ty) -> bool:
    return str(ty).startswith("!llvm.ptr")


def callee(op) -> str | None:
    attrs = op.operation.attributes
    if op.operation.name != "llvm.call" or "callee" not in attrs:
        return None
    return ir.FlatSymbolRefAttr(attrs["callee"]).value


# ------------------------------------------------------------------ roots

SHADOW, CONST, UNKNOWN, TAINTED = "shadow", "const", "unknown", "tainted"


@dataclass(frozen=True)
class Root:
    """Where a pointer points: `kind` is "param" (index `ref`), "alloca" (the
    op), "global" (constant or global memory), "unknown" (memory no active data
    can reach: from a call, a load of constant memory) or "tainted" (a pointer
    read out of active memory, converted from an integer, or merged from two
    different roots)."""
    kind: str
    ref: object = None


GLOBAL, UNKNOWN_ROOT, TAINTED_ROOT = Root("global"), Root("unknown"), Root("tainted")


def _join(a: Root | None, b: Root | None) -> Root | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    return TAINTED_ROOT


@dataclass
class ParamSpec:
    """How the derivative treats each primal parameter: `kinds[k]` one of
    "active" (a float whose adjoint is wanted), "shadow" (a pointer with a
    shadow), "const", "unknown"/"tainted" (a pointer of that provenance);
    `elems[k]` the float type a shadowed pointer's memory holds (or None);
    `ret_active`: the return's adjoint is seeded."""
    kinds: tuple[str, ...]
    elems: tuple[str | None, ...]
    ret_active: bool

    def key(self) -> tuple:
        return (self.kinds, self.elems, self.ret_active)


@dataclass
class Plan:
    """What the reverse sweep does for one op: `kind` one of "diff", "cast",
    "load", "store", "set", "copy", "lifetime", "call", "return"; `ptrs`: the
    operand positions whose shadow pointers it needs; extra data per kind."""
    kind: str
    ptrs: tuple[int, ...] = ()
    data: dict = field(default_factory=dict)


class Analysis:
    def __init__(self, func, spec: ParamSpec, what: str, module_funcs: dict):
        self.func, self.spec, self.what = func, spec, what
        self.cfg = Cfg(func, what)
        self.params = list(func.regions[0].blocks[0].arguments)
        self.funcs = module_funcs          # name -> llvm.func op
        self.ops = [list(self.cfg.blocks[i].operations) for i in range(len(self.cfg.blocks))]
        self._roots()
        self._readonly()
        self._float_memory()
        self._activity()
        self.plans: dict = {}
        self._plan()

    # -------------------------------------------------------- helpers
    def live_ops(self):
        for i in sorted(self.cfg.live):
            yield from self.ops[i]

    def all_ops(self):
        for i in self.cfg.reachable:
            yield from self.ops[i]

    def incoming(self, block: int) -> list[list]:
        """Per block argument, the values every edge passes to it."""
        args = list(self.cfg.blocks[block].arguments)
        out = [[] for _ in args]
        for p, slot in self.cfg.edges[block]:
            for k, v in enumerate(successor_operands(self.cfg.terms[p])[slot]):
                out[k].append(v)
        return out

    def root(self, v) -> Root:
        return self.roots.get(v, UNKNOWN_ROOT)

    def shadowed(self, r: Root) -> bool:
        if r.kind == "param":
            return self.spec.kinds[r.ref] == SHADOW
        if r.kind == "alloca":
            return r in self.alloca_float
        return False

    def float_of(self, r: Root) -> str | None:
        if r.kind == "param":
            return self.spec.elems[r.ref]
        if r.kind == "alloca":
            t = self.alloca_float.get(r)
            return t if t != "mixed" else None
        return None

    # -------------------------------------------------------- pointer roots
    def _roots(self) -> None:
        roots: dict = {}
        for k, p in enumerate(self.params):
            if is_ptr(p.type):
                kind = self.spec.kinds[k]
                roots[p] = {UNKNOWN: UNKNOWN_ROOT, TAINTED: TAINTED_ROOT}.get(kind, Root("param", k))
        changed = True
        while changed:
            changed = False

            def put(v, r):
                nonlocal changed
                if r is not None and roots.get(v) != r:
                    roots[v] = r
                    changed = True
            for b in self.cfg.rpo:
                for k, arg in enumerate(self.cfg.blocks[b].arguments):
                    if is_ptr(arg.type):
                        r = None
                        for v in self.incoming(b)[k]:
                            r = _join(r, roots.get(v))
                        put(arg, r)
                for op in self.ops[b]:
                    name = op.operation.name
                    res = op.operation.results
                    if len(res) != 1 or not is_ptr(res[0].type):
                        continue
                    if name == "llvm.alloca":
                        put(res[0], Root("alloca", op.operation))
                    elif name in ("llvm.getelementptr", "llvm.addrspacecast"):
                        put(res[0], roots.get(op.operation.operands[0]))
                    elif name == "llvm.select":
                        o = op.operation.operands
                        put(res[0], _join(roots.get(o[1]), roots.get(o[2])))
                    elif name in CONSTANT_OPS:
                        put(res[0], GLOBAL)
                    elif name == "llvm.load":
                        src = roots.get(op.operation.operands[0])
                        put(res[0], TAINTED_ROOT if src is not None and src.kind in ("param", "tainted")
                            and self._active_memory(src) else UNKNOWN_ROOT)
                    elif name == "llvm.inttoptr":
                        put(res[0], TAINTED_ROOT)
                    else:                   # a call or intrinsic: may return one of its pointers
                        from_active = any(is_ptr(v.type) and (roots.get(v) is None or roots[v].kind == "alloca"
                                                              or self._active_memory(roots[v]))
                                          for v in op.operation.operands)
                        put(res[0], TAINTED_ROOT if from_active else UNKNOWN_ROOT)
        self.roots = roots

    def _readonly(self) -> None:
        """Parameters whose memory no live op writes (nor any call or store
        could reach): loads from them can be repeated by the reverse sweep."""
        ro = {k for k, p in enumerate(self.params) if is_ptr(p.type)}
        for op in self.live_ops():
            o = op.operation
            name = o.name
            written = []
            if name == "llvm.store":
                written.append(o.operands[1])
                if is_ptr(o.operands[0].type):
                    written.append(o.operands[0])
            elif name in COPIES or name in SETS:
                written.append(o.operands[0])
            elif name in ("llvm.call", "llvm.atomicrmw", "llvm.cmpxchg", "llvm.inline_asm", "llvm.va_arg"):
                written += [v for v in o.operands if is_ptr(v.type)]
            for v in written:
                r = self.root(v)
                if r.kind == "param":
                    ro.discard(r.ref)
                elif r.kind in ("unknown", "tainted", "global"):
                    ro.clear()
        self.readonly = ro

    def _active_memory(self, r: Root) -> bool:
        return r.kind == "tainted" or (r.kind == "param" and self.spec.kinds[r.ref] == SHADOW)

    def _float_memory(self) -> None:
        """The float type each alloca holds (from the float loads and stores
        through it and the copies into it); allocas that hold floats get shadows."""
        found: dict = {}

        def note(r, t):
            if r.kind != "alloca" or t is None:
                return False
            old = found.get(r)
            new = t if old in (None, t) else "mixed"
            found[r] = new
            return old != new
        for op in self.all_ops():
            name = op.operation.name
            if name == "llvm.load" and is_float(op.operation.results[0].type):
                note(self.root(op.operation.operands[0]), str(op.operation.results[0].type))
            elif name == "llvm.store" and is_float(op.operation.operands[0].type):
                note(self.root(op.operation.operands[1]), str(op.operation.operands[0].type))
        self.alloca_float = found
        changed = True
        while changed:
            changed = False
            for op in self.all_ops():
                if op.operation.name in COPIES:
                    d, s = (self.root(v) for v in list(op.operation.operands)[:2])
                    changed |= note(d, self.float_of(s) if s.kind != "alloca" else found.get(s))
                    changed |= note(s, self.float_of(d) if d.kind != "alloca" else found.get(d))

    # -------------------------------------------------------- activity
    def _activity(self) -> None:
        varied: set = set()
        for k, p in enumerate(self.params):
            if self.spec.kinds[k] == "active" and is_float(p.type):
                varied.add(p)
        changed = True
        while changed:
            changed = False

            def mark(v):
                nonlocal changed
                if v not in varied and is_float(v.type):
                    varied.add(v)
                    changed = True
            for b in self.cfg.rpo:
                for k, arg in enumerate(self.cfg.blocks[b].arguments):
                    if any(v in varied for v in self.incoming(b)[k]):
                        mark(arg)
                for op in self.ops[b]:
                    o = op.operation
                    if not o.results or not is_float(o.results[0].type):
                        continue
                    name = o.name
                    if name == "llvm.load":
                        if self.shadowed(self.root(o.operands[0])):
                            mark(o.results[0])
                    elif rules.is_differentiable(op) or name in ("llvm.freeze",):
                        if any(v in varied for v in o.operands):
                            mark(o.results[0])
                    elif name == "llvm.call" and self._internal(op):
                        if any(v in varied or (is_ptr(v.type) and self.shadowed(self.root(v)))
                               for v in o.operands):
                            mark(o.results[0])
        self.varied = varied
        useful: set = set()
        for r in self.cfg.returns:
            term = self.cfg.terms[r].operation
            if self.spec.ret_active and len(term.operands):
                useful.add(term.operands[0])
        for op in self.all_ops():
            o = op.operation
            if o.name == "llvm.store" and self.shadowed(self.root(o.operands[1])):
                useful.add(o.operands[0])
            elif o.name == "llvm.call" and self._internal(op):
                useful.update(v for v in o.operands if is_float(v.type))
        changed = True
        while changed:
            changed = False
            for b in reversed(self.cfg.rpo):
                for op in reversed(self.ops[b]):
                    o = op.operation
                    if o.results and o.results[0] in useful and (rules.is_differentiable(op)
                                                                 or o.name == "llvm.freeze"):
                        for v in o.operands:
                            if is_float(v.type) and v not in useful:
                                useful.add(v)
                                changed = True
                args = list(self.cfg.blocks[b].arguments)
                for k, vals in enumerate(self.incoming(b)):
                    if args[k] in useful:
                        for v in vals:
                            if is_float(v.type) and v not in useful:
                                useful.add(v)
                                changed = True
        self.active = {v for v in varied if v in useful}

    def is_active(self, v) -> bool:
        return v in self.active

    def _internal(self, op) -> bool:
        name = callee(op)
        f = self.funcs.get(name) if name else None
        return f is not None and len(f.regions[0].blocks) > 0 and rules.libm_name(op) is None

    # -------------------------------------------------------- plans
    def _plan(self) -> None:
        what = self.what
        for b in sorted(self.cfg.live):
            for op in self.ops[b]:
                o = op.operation
                name = o.name
                operands = list(o.operands)
                res = o.results[0] if len(o.results) == 1 else None
                if name == "llvm.inline_asm":
                    raise fail(what, "inline assembly", op)
                if name in CONSTANT_OPS or name in MARKERS:
                    continue
                if name == "llvm.return":
                    if operands and is_ptr(operands[0].type) and self.shadowed(self.root(operands[0])):
                        raise fail(what, "a function that returns a pointer into active memory", op)
                    self.plans[o] = Plan("return")
                elif name in ("llvm.br", "llvm.cond_br", "llvm.switch", "llvm.unreachable"):
                    continue
                elif name == "llvm.load":
                    self._plan_load(op, res)
                elif name == "llvm.store":
                    self._plan_store(op)
                elif name in COPIES:
                    self._plan_copy(op)
                elif name in SETS:
                    r = self.root(operands[0])
                    if r.kind == "tainted":
                        raise fail(what, "a memset of memory not traceable to an argument or a local", op)
                    if self.shadowed(r):
                        self.plans[o] = Plan("set", (0,))
                elif name == "llvm.intr.lifetime.start":
                    r = self.root(operands[0])
                    if self.shadowed(r) and r.kind == "alloca":
                        self.plans[o] = Plan("lifetime", data={"alloca": r.ref})
                elif name == "llvm.call" and rules.libm_name(op) is None:
                    self._plan_call(op, res)
                elif res is not None and is_float(res.type) and res in self.active:
                    if name in ("llvm.fpext", "llvm.fptrunc", "llvm.freeze"):
                        self.plans[o] = Plan("cast")
                    elif rules.is_differentiable(op):
                        self.plans[o] = Plan("diff")
                    else:
                        raise fail(what, f"`{name}` on an active float", op)
                else:
                    self._check_inactive(op)

    def _check_inactive(self, op) -> None:
        o = op.operation
        name = o.name
        if name in HARMLESS or name == "llvm.select" or rules.is_differentiable(op) \
                or name in ("llvm.fpext", "llvm.fptrunc", "llvm.freeze"):
            return
        if any(v in self.varied for v in o.operands):
            raise fail(self.what, f"`{name}` on an active float", op)
        for v in o.operands:
            if is_ptr(v.type) and self.shadowed(self.root(v)) and name not in (
                    "llvm.getelementptr", "llvm.select", "llvm.icmp", "llvm.ptrtoint", "llvm.addrspacecast"):
                raise fail(self.what, f"`{name}` on a pointer into active memory", op)
            if name in ("llvm.atomicrmw", "llvm.cmpxchg") and self._active_memory(self.root(v)):
                raise fail(self.what, "atomic operations on active memory", op)

    def _plan_load(self, op, res) -> None:
        o = op.operation
        r = self.root(o.operands[0])
        if not is_float(res.type):
            if any(str(t) in str(res.type) for t in ("f32", "f64", "f16")):
                if self.shadowed(r) or r.kind == "tainted":
                    raise fail(self.what, f"a load of `{res.type}` (an aggregate of floats) from active memory", op)
            return
        if r.kind == "tainted":
            raise fail(self.what, "a float load through a pointer not traceable to an argument or a local "
                                  "(a pointer read from active memory, an integer cast or a merge of two "
                                  "different arguments)", op)
        if self.shadowed(r) and res in self.active:
            self.plans[o] = Plan("load", (0,))

    def _plan_store(self, op) -> None:
        o = op.operation
        v, p = o.operands[0], o.operands[1]
        r = self.root(p)
        if is_ptr(v.type) and self.shadowed(self.root(v)):
            raise fail(self.what, "storing a pointer into active memory to memory (it escapes)", op)
        if not is_float(v.type):
            t = self.float_of(r)
            if self.shadowed(r) and t is not None and str(v.type) not in ("i1", "i8"):
                raise fail(self.what, f"a store of `{v.type}` into memory holding {t} (a copy of floats "
                                      "as integers or aggregates)", op)
            return
        if r.kind == "tainted" or (r.kind in ("unknown", "global") and v in self.varied) \
                or (r.kind == "param" and not self.shadowed(r) and v in self.varied):
            raise fail(self.what, "a store of an active float into memory that has no shadow (a `Const` "
                                  "argument, a global, or memory not traceable to an argument or a local)", op)
        if self.shadowed(r):
            self.plans[o] = Plan("store", (1,))

    def _plan_copy(self, op) -> None:
        o = op.operation
        d, s = self.root(o.operands[0]), self.root(o.operands[1])
        if d.kind == "tainted" or s.kind == "tainted":
            raise fail(self.what, "a memcpy through a pointer not traceable to an argument or a local", op)
        ds, ss = self.shadowed(d), self.shadowed(s)
        if ss and not ds:
            raise fail(self.what, "a copy of active memory into memory that has no shadow", op)
        if not ds:
            return
        if o.name == "llvm.intr.memmove" and d == s:
            raise fail(self.what, "a memmove within one buffer", op)
        elem = self.float_of(d) or self.float_of(s)
        if ss and elem is None:
            raise fail(self.what, "a memcpy of memory whose float type is unknown or mixed", op)
        self.plans[o] = Plan("copy", (0, 1) if ss else (0,), {"elem": elem, "src": ss})

    def _plan_call(self, op, res) -> None:
        o = op.operation
        name = callee(op)
        operands = list(o.operands)
        f = self.funcs.get(name) if name else None
        touches = any(v in self.varied for v in operands) or any(
            is_ptr(v.type) and (self.shadowed(self.root(v)) or self.root(v).kind == "tainted") for v in operands)
        if f is None or not len(f.regions[0].blocks):
            kind = "an indirect call" if name is None else f"a call to `{name}` (defined outside the crate)"
            if touches:
                raise fail(self.what, f"{kind} with active arguments", op)
            return
        if not touches:
            return
        if res is not None and not is_float(res.type) and rules.contains_float(res.type):
            raise fail(self.what, f"a call to `{name}` that returns `{res.type}` (an aggregate of floats)", op)
        kinds, elems = [], []
        for v in operands:
            if is_float(v.type):
                kinds.append("active" if v in self.varied else CONST)
                elems.append(None)
            elif is_ptr(v.type):
                r = self.root(v)
                if self.shadowed(r):
                    kinds.append(SHADOW)
                    elems.append(self.float_of(r))
                else:
                    kinds.append({"tainted": TAINTED, "unknown": UNKNOWN}.get(r.kind, CONST))
                    elems.append(None)
            else:
                kinds.append(CONST)
                elems.append(None)
        ret_active = res is not None and res in self.active
        spec = ParamSpec(tuple(kinds), tuple(elems), ret_active)
        ptrs = tuple(k for k, kind in enumerate(kinds) if kind == SHADOW)
        self.plans[o] = Plan("call", ptrs, {"callee": name, "spec": spec})
