"""Forward mode (docs/autodiff.md): `differentiate_forward(module, d)` defines
`d.name`, which runs the primal's code once more with tangents carried along.

The derivative is a copy of the primal function, op by op and block by block
(same control flow), interleaved with tangent code:

- every *active* float value (one that depends on a `Dual` input) has WIDTH
  tangents (vector mode is WIDTH scalar copies); a zero tangent is `None`,
  skipped symbolically, so no `fmul x, 0.0` is ever emitted;
- every pointer into differentiated memory has WIDTH *shadow* pointers: the
  `Dual` pointer arguments' shadows and a shadow alloca for each local that
  holds active data. GEPs are cloned onto the shadows; a float loaded through
  a shadowed pointer takes its tangent from the shadow, a store writes the
  tangent (0 for an inactive value) into it; memcpy/memset are mirrored;
- block arguments (phis) of active values get tangent block arguments;
- calls to the crate's own functions call forward versions of them, made
  the same way (one per callee and activity pattern); libm calls and float
  intrinsics use rules.py; panic calls and `unreachable` stay as they are.

An analysis runs first, to a fixed point over the whole CFG: which floats are
active, what every pointer is (into shadowed memory, into constant memory,
untraceable), which locals need shadows. Whatever the analysis cannot trace
(a float loaded through a pointer that came out of memory, an active float
stored to constant memory, inline asm, an indirect call, an unknown external
function with active arguments) is an `Unsupported` error that names the
derivative, the construct and its source line: never a silently wrong result.
Pointers stored to memory lose their shadow: loaded back they are untraceable,
and a local holding them may be passed to a panic only (formatting arguments).
"""

from __future__ import annotations

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline.mlir_util import find, is_declaration, sym_name
from cargo_mlir.pipeline.stages.autodiff import rules
from cargo_mlir.pipeline.stages.autodiff.rules import Unsupported, contains_float, float_type
from cargo_mlir.pipeline.stages.autodiff.spec import Derivative

# pointer classes; join: NULL is compatible with anything, CONST and SHADOW conflict
NULL, CONST, SHADOW, UNKNOWN, CONFLICT = "null", "const", "shadow", "unknown", "conflict"

_BRANCHES = ("llvm.br", "llvm.cond_br", "llvm.switch")
_MEMCPY = ("llvm.intr.memcpy", "llvm.intr.memmove", "llvm.intr.memcpy.inline")
_MEMSET = ("llvm.intr.memset", "llvm.intr.memset.inline")
_LIFETIME = ("llvm.intr.lifetime.start", "llvm.intr.lifetime.end")
_PTR_DERIVED = ("llvm.getelementptr", "llvm.addrspacecast", "llvm.intr.ptrmask", "llvm.freeze")
_AGGREGATE = ("llvm.extractvalue", "llvm.insertvalue", "llvm.extractelement", "llvm.insertelement",
              "llvm.shufflevector", "llvm.freeze")
# ops that may see a shadowed pointer without touching its memory
_PTR_HARMLESS = ("llvm.icmp", "llvm.ptrtoint", "llvm.intr.prefetch", "llvm.intr.assume", "llvm.intr.invariant.start",
                 "llvm.intr.invariant.end", "llvm.intr.launder.invariant.group", "llvm.intr.is.constant")
# ops that take an active float and give a non-float with no derivative
_FLOAT_CONSUMERS = ("llvm.fcmp", "llvm.fptosi", "llvm.fptoui", "llvm.intr.is.fpclass", "llvm.intr.lround",
                    "llvm.intr.llround", "llvm.intr.lrint", "llvm.intr.llrint")
# function attributes that may become wrong on a derivative (it reads and writes more memory)
_DROP_PASSTHROUGH = {"readnone", "readonly", "writeonly", "argmemonly", "inaccessiblememonly",
                     "inaccessiblemem_or_argmemonly", "memory", "nocallback", "nosync"}


def differentiate_forward(module, d: Derivative) -> None:
    """Define `d.name` in `module`: d.flat_types parameters, returns i8 1
    (docs/autodiff.md states the layout; `d.results()` the result slots)."""
    from mlir import ir

    if d.mode != "forward":
        raise CargoMlirError(f"{d.what}: differentiate_forward was given a {d.mode}-mode derivative")
    body = module.body
    primal = find(body, d.primal)
    if primal is None or primal.operation.name != "llvm.func" or is_declaration(primal):
        raise CargoMlirError(f"{d.what}: the primal `{d.primal}` is not a function defined in the module",
                             hint="this is a cargo-mlir bug; `--emit-ir DIR` shows the IR")
    primal_types = [a.type for a in primal.regions[0].blocks[0].arguments]
    flat = [t for a in d.args for t in a.types]
    if [str(t) for t in primal_types] != flat:
        raise CargoMlirError(f"{d.what}: the primal's parameters ({', '.join(map(str, primal_types))}) do not match "
                             f"the derivative's description ({', '.join(flat)})",
                             hint="this is a cargo-mlir bug (the marker and the primal disagree)")

    ret = _return_type(primal)
    ret = str(ret) if ret is not None else None
    if ret != d.ret:
        raise CargoMlirError(f"{d.what}: the primal returns {ret or 'nothing'}, the derivative's description says "
                             f"{d.ret or 'nothing'}",
                             hint="this is a cargo-mlir bug (the marker and the primal disagree)")

    existing = find(body, d.name)
    if existing is not None:
        if not is_declaration(existing):
            raise CargoMlirError(f"{d.what}: `{d.name}` is already defined")
        existing.operation.erase()

    fwd = _Forward(module, d)
    with ir.Location.unknown(module.context):
        fn = fwd.new_function(d.name, [ir.Type.parse(t) for t in d.flat_types], ir.IntegerType.get_signless(8),
                              primal, internal=False)
    params = list(fn.regions[0].blocks[0].arguments)

    # the primal's parameters and their tangents (floats) or shadows (pointers)
    values, tangents, k = [], [], 0
    for a in d.args:
        own = params[k:k + len(a.types)]
        k += len(a.types)
        shadows = []
        if a.shadows:
            for _ in range(d.width):
                shadows.append(params[k:k + len(a.types)])
                k += len(a.types)
        for j, v in enumerate(own):
            values.append(v)
            differentiable = float_type(v.type) or _is_ptr(v.type)
            tangents.append([s[j] for s in shadows] if shadows and differentiable else None)
    outs = dict(zip([role for role, _ in d.results()], params[k:]))

    def on_return(emit, value, ret_tangents):
        from mlir.dialects import llvm
        if "out.ret" in outs and value is not None:
            llvm.store(value, outs["out.ret"])
        for w in range(d.width):
            slot = outs.get(f"out.tangent{w}")
            if slot is not None and value is not None:
                llvm.store(ret_tangents[w] if ret_tangents else emit.zero(value.type), slot)
        llvm.return_(arg=llvm.mlir_constant(ir.IntegerAttr.get(ir.IntegerType.get_signless(8), 1)))

    _Body(fwd, primal, fn, values, tangents, on_return).run()
    fwd.finish()


def _is_ptr(ty) -> bool:
    from mlir.dialects import llvm
    return isinstance(ty.maybe_downcast(), llvm.PointerType)


class _Forward:
    """Per module: the derivative being made and the forward versions of the
    crate's functions it calls (made on demand, bodies filled by `finish`)."""

    def __init__(self, module, d: Derivative):
        self.module, self.d, self.width = module, d, d.width
        self.versions: dict[tuple[str, tuple[str, ...]], tuple[str, bool, object]] = {}
        self.pending: list = []

    def new_function(self, name: str, params: list, ret, primal, internal: bool):
        """An llvm.func with an entry block, the primal's code-generation
        attributes (not its memory effects or argument attributes)."""
        from mlir import ir
        from mlir.dialects import llvm

        ret_text = str(ret) if ret is not None else "void"
        ty = ir.Type.parse(f"!llvm.func<{ret_text} ({', '.join(str(p) for p in params)})>")
        with ir.InsertionPoint(self.module.body), primal.operation.location:
            fn = llvm.LLVMFuncOp(name, ir.TypeAttr.get(ty),
                                 linkage=ir.Attribute.parse("#llvm.linkage<internal>") if internal else None)
        attrs = primal.operation.attributes
        for key in ("target_cpu", "target_features", "tune_cpu", "uwtable_kind", "frame_pointer", "no_unwind",
                    *(("no_inline",) if internal else ())):
            if key in attrs:
                fn.operation.attributes[key] = attrs[key]
        if "passthrough" in attrs:
            kept = [a for a in ir.ArrayAttr(attrs["passthrough"])
                    if _passthrough_name(a) not in _DROP_PASSTHROUGH]
            fn.operation.attributes["passthrough"] = ir.ArrayAttr.get(kept)
        fn.regions[0].blocks.append(*params)
        return fn

    def version(self, callee, pattern: tuple[str, ...]) -> tuple[str, bool, object]:
        """The forward version of `callee` for an activity pattern (per
        parameter: "a" active float, "s" shadowed pointer, "c" constant,
        "u" untraceable pointer): its symbol, whether it returns
        `{result, tangent × WIDTH}` rather than the plain result, and its
        return type (None: void)."""
        name = sym_name(callee)
        key = (name, pattern)
        if key in self.versions:
            return self.versions[key]
        from mlir import ir
        params = [a.type for a in callee.regions[0].blocks[0].arguments]
        ret = _return_type(callee)
        tangent_ret = ret is not None and contains_float(ret)
        extra = [t for t, p in zip(params, pattern) if p in "as" for _ in range(self.width)]
        new_ret = ir.Type.parse(f"!llvm.struct<({', '.join([str(ret)] * (1 + self.width))})>") \
            if tangent_ret else ret
        symbol = f"{name}.fwd{self.width}.{''.join(pattern)}"
        self.versions[key] = (symbol, tangent_ret, new_ret)
        if find(self.module.body, symbol) is None:      # else made for another derivative in this module
            fn = self.new_function(symbol, params + extra, new_ret, callee, internal=True)
            self.pending.append((callee, fn, pattern, tangent_ret))
        return self.versions[key]

    def finish(self) -> None:
        """Fill the bodies of the forward versions asked for (they may ask for more)."""
        while self.pending:
            callee, fn, pattern, tangent_ret = self.pending.pop()
            args = list(fn.regions[0].blocks[0].arguments)
            n = len(pattern)
            values, tangents, k = args[:n], [], n
            for p in pattern:
                if p in "as":
                    tangents.append(args[k:k + self.width])
                    k += self.width
                else:
                    tangents.append(None if p == "c" else UNKNOWN)

            def on_return(emit, value, ret_tangents, tangent_ret=tangent_ret):
                from mlir.dialects import llvm
                if value is None:
                    llvm.return_()
                    return
                if not tangent_ret:
                    llvm.return_(arg=value)
                    return
                agg = llvm.mlir_undef(_struct_of(value.type, 1 + self.width))
                agg = llvm.insertvalue(agg, value, [0])
                for w in range(self.width):
                    agg = llvm.insertvalue(agg, ret_tangents[w] if ret_tangents else emit.zero(value.type), [w + 1])
                llvm.return_(arg=agg)

            _Body(self, callee, fn, values, tangents, on_return).run()


def _passthrough_name(attr) -> str:
    from mlir import ir
    if isinstance(attr, ir.StringAttr):
        return ir.StringAttr(attr).value
    if isinstance(attr, ir.ArrayAttr) and len(ir.ArrayAttr(attr)):
        first = ir.ArrayAttr(attr)[0]
        return ir.StringAttr(first).value if isinstance(first, ir.StringAttr) else ""
    return ""


def _return_type(fn):
    from mlir import ir
    ty = ir.TypeAttr(fn.operation.attributes["function_type"]).value
    text = str(ty)                        # !llvm.func<RET (PARAMS)>
    ret = text[len("!llvm.func<"):].split(" (")[0]
    if ret == "void":
        return None
    for block in fn.regions[0].blocks:    # the returned value's own type (the printed one drops `!llvm.`)
        term = list(block.operations)[-1] if len(block.operations) else None
        if term is not None and term.operation.name == "llvm.return" and len(term.operands):
            return term.operands[0].type
    return ir.Type.parse(ret if not ret.startswith(("struct", "array", "ptr")) else "!llvm." + ret)


def _struct_of(ty, n: int):
    from mlir import ir
    return ir.Type.parse(f"!llvm.struct<({', '.join([str(ty)] * n)})>")


class _Body:
    """One function's forward version: `values`/`tangents` are the new
    function's values for the primal's parameters and their tangents or
    shadows (lists of WIDTH; None: constant; UNKNOWN: an untraceable pointer);
    `on_return(emit, value, tangents)` emits the return sequence."""

    def __init__(self, fwd: _Forward, primal, fn, values, tangents, on_return):
        self.fwd, self.d, self.width = fwd, fwd.d, fwd.width
        self.primal, self.fn, self.on_return = primal, fn, on_return
        self.entry = fn.regions[0].blocks[0]
        self.params = list(primal.regions[0].blocks[0].arguments)
        self.param_values, self.param_tangents = values, tangents
        self.vmap: dict = {}          # primal value -> new value
        self.tan: dict = {}           # active float -> [tangent] * WIDTH (absent: zero)
        self.shadow: dict = {}        # shadowed pointer -> [shadow] * WIDTH
        self.bits: dict = {}          # integer read from shadowed memory / bitcast of a float -> shadow bits
        self.zeros: dict = {}
        self.bmap: dict = {}          # primal block -> new block
        self.extra: dict = {}         # primal block -> [(arg index, "t" | "s")] extra arguments

    # ------------------------------------------------------------------ analysis

    def analyse(self) -> None:
        """Activity and pointer classes to a fixed point; locals (allocas) get
        shadows when active data is stored or copied into them, or when they
        are handed to a differentiated call (then the analysis runs again)."""
        self.shadow_allocas: set = set()
        while True:
            self._analyse_once()
            more = self._alloca_evidence() - self.shadow_allocas
            if not more:
                break
            self.shadow_allocas |= more
        # locals that hold pointers into differentiated memory: the pointers
        # lose their shadows there, so no callee may follow them (panics may)
        self.laundered: set = set()
        for block in self.blocks:
            for op in block.operations:
                if op.operation.name == "llvm.store":
                    v, p = op.operands[0], op.operands[1]
                    if _is_ptr(v.type) and self.pclass.get(v) in (SHADOW, CONFLICT):
                        self.laundered |= self.roots.get(p, frozenset())

    def _analyse_once(self) -> None:
        self.active: set = set()
        self.pclass: dict = {}
        self.roots: dict = {}          # pointer -> allocas it may point into
        self.has_bits: set = set()     # integers with shadow bits
        self.tainted: set = set()      # integers computed from float bits
        for v, t in zip(self.params, self.param_tangents):
            if t is None:
                if _is_ptr(v.type):
                    self.pclass[v] = CONST
            elif t is UNKNOWN:
                self.pclass[v] = UNKNOWN
            elif _is_ptr(v.type):
                self.pclass[v] = SHADOW
            else:
                self.active.add(v)
        changed = True
        while changed:
            changed = False
            for block in self.blocks:
                for op in block.operations:
                    changed |= self._transfer(op)

    def _set_class(self, v, cls) -> bool:
        old = self.pclass.get(v)
        new = _join(old, cls)
        if new != old:
            self.pclass[v] = new
            return True
        return False

    def _add_roots(self, v, roots) -> bool:
        if not roots:
            return False
        old = self.roots.get(v, frozenset())
        new = old | roots
        if new != old:
            self.roots[v] = new
            return True
        return False

    def _mark(self, s: set, v) -> bool:
        if v in s:
            return False
        s.add(v)
        return True

    def _transfer(self, op) -> bool:
        name = op.operation.name
        operands = list(op.operands)
        results = list(op.operation.results)
        changed = False
        if name in _BRANCHES:
            for succ, args in self._successor_operands(op):
                for v, arg in zip(args, succ.arguments):
                    changed |= self._flow(v, arg)
            return changed
        if not results:
            return False
        res = results[0]
        if name == "llvm.alloca":
            changed |= self._set_class(res, SHADOW if res in self.shadow_allocas else CONST)
            changed |= self._add_roots(res, frozenset([res]))
        elif name in _PTR_DERIVED and _is_ptr(res.type):
            changed |= self._flow(operands[0], res)
        elif name in ("llvm.mlir.zero", "llvm.mlir.undef", "llvm.mlir.poison") and _is_ptr(res.type):
            changed |= self._set_class(res, NULL)
        elif name == "llvm.mlir.addressof":
            changed |= self._set_class(res, CONST)
        elif name == "llvm.select":
            for v in operands[1:]:
                changed |= self._flow(v, res)
        elif name == "llvm.load":
            cls = self.pclass.get(operands[0])
            if _is_ptr(res.type):
                changed |= self._set_class(res, UNKNOWN)
            elif contains_float(res.type):
                if cls == SHADOW:
                    changed |= self._mark(self.active, res)
            elif cls == SHADOW and any(u.owner.name in ("llvm.store", "llvm.bitcast") for u in res.uses):
                changed |= self._mark(self.has_bits, res)
        elif name == "llvm.call":
            changed |= self._transfer_call(op, res)
        elif name == "llvm.bitcast":
            src = operands[0]
            if _is_ptr(res.type):
                changed |= self._flow(src, res)
            elif float_type(res.type):
                if src in self.active or src in self.has_bits:
                    changed |= self._mark(self.active, res)
            elif src in self.active:            # float bits as an integer
                changed |= self._mark(self.has_bits, res) | self._mark(self.tainted, res)
            elif src in self.tainted:
                changed |= self._mark(self.tainted, res)
        elif rules.is_differentiable(op) or name in _AGGREGATE:
            if contains_float(res.type) and any(v in self.active for v in operands):
                changed |= self._mark(self.active, res)
            if _is_ptr(res.type):
                changed |= self._set_class(res, UNKNOWN)
        elif _is_ptr(res.type):                    # inttoptr, …
            changed |= self._set_class(res, UNKNOWN)
        elif not contains_float(res.type):
            if any(v in self.tainted for v in operands):
                changed |= self._mark(self.tainted, res)
        elif any(v in self.active for v in operands):
            # another op making floats from active ones: emission says it is unsupported
            changed |= self._mark(self.active, res)
        return changed

    def _transfer_call(self, op, res) -> bool:
        changed = False
        if _is_ptr(res.type):
            return self._set_class(res, UNKNOWN)
        if contains_float(res.type) and any(v in self.active or self.pclass.get(v) == SHADOW for v in op.operands):
            changed |= self._mark(self.active, res)
        return changed

    def _flow(self, v, dst) -> bool:
        """v reaches dst (a block argument, select result, derived pointer)."""
        changed = False
        if _is_ptr(dst.type):
            cls = self.pclass.get(v)
            if cls is not None:
                changed |= self._set_class(dst, cls)
            changed |= self._add_roots(dst, self.roots.get(v))
        elif v in self.active:
            changed |= self._mark(self.active, dst)
        elif v in self.tainted:
            changed |= self._mark(self.tainted, dst)
        return changed

    def _alloca_evidence(self) -> set:
        """Allocas that must be shadowed, given the current analysis."""
        need = set()
        for block in self.blocks:
            for op in block.operations:
                name = op.operation.name
                ops = list(op.operands)
                if name == "llvm.store":
                    v, p = ops[0], ops[1]
                    if v in self.active or v in self.has_bits:
                        need |= self.roots.get(p, frozenset())
                elif name in _MEMCPY:
                    if self.pclass.get(ops[1]) in (SHADOW, CONFLICT):
                        need |= self.roots.get(ops[0], frozenset())
                elif name == "llvm.call" and self._differentiated_call(op):
                    for v in ops:
                        need |= self.roots.get(v, frozenset())
        return need

    def _differentiated_call(self, op) -> bool:
        """A call to one of the crate's functions with active arguments."""
        callee = self._callee(op)
        if callee is None or is_declaration(callee):
            return False
        return any(v in self.active or self.pclass.get(v) in (SHADOW, CONFLICT) for v in op.operands)

    def _callee(self, op):
        from mlir import ir
        attrs = op.operation.attributes
        if "callee" not in attrs:
            return None
        return find(self.fwd.module.body, ir.FlatSymbolRefAttr(attrs["callee"]).value)

    # ------------------------------------------------------------------ emission

    def run(self) -> None:
        from mlir import ir
        self.blocks = _reverse_post_order(self.primal.regions[0].blocks[0])
        self.analyse()
        # blocks: the entry is the new function's entry; others get extra arguments
        self.bmap[self.blocks[0]] = self.entry
        for v, nv in zip(self.params, self.param_values):
            self.vmap[v] = nv
        for v, t in zip(self.params, self.param_tangents):
            if t is None or t is UNKNOWN:
                continue
            (self.shadow if _is_ptr(v.type) else self.tan)[v] = list(t)
        region = self.fn.regions[0]
        for block in self.blocks[1:]:
            types, extra = [a.type for a in block.arguments], []
            for i, a in enumerate(block.arguments):
                if a in self.active:
                    extra.append((i, "t"))
                elif self.pclass.get(a) == SHADOW:
                    extra.append((i, "s"))
            types += [block.arguments[i].type for i, _ in extra for _ in range(self.width)]
            self.bmap[block] = region.blocks.append(*types)
            self.extra[block] = extra
            new_args = list(self.bmap[block].arguments)
            for i, a in enumerate(block.arguments):
                self.vmap[a] = new_args[i]
            k = len(block.arguments)
            for i, kind in extra:
                (self.tan if kind == "t" else self.shadow)[block.arguments[i]] = new_args[k:k + self.width]
                k += self.width
        for block in self.blocks:
            self.ip = ir.InsertionPoint(self.bmap[block])
            ops = list(block.operations)
            for k, op in enumerate(ops):
                self.next_name = ops[k + 1].operation.name if k + 1 < len(ops) else None
                with self.ip, op.operation.location:
                    self.emit(op)

    # values

    def v(self, x):
        return self.vmap[x]

    def zero(self, ty):
        key = str(ty)
        if key not in self.zeros:
            from mlir import ir
            with ir.InsertionPoint.at_block_begin(self.entry):
                self.zeros[key] = rules.zero(ty)
        return self.zeros[key]

    def t(self, x):
        """x's tangents, or None for zero."""
        return self.tan.get(x)

    def tz(self, x, w):
        t = self.tan.get(x)
        return t[w] if t is not None else self.zero(x.type)

    def sh(self, p, op, what: str):
        """p's shadows (a null pointer is its own shadow)."""
        cls = self.pclass.get(p)
        if cls == SHADOW:
            return self.shadow[p]
        if cls == NULL:
            return [self.v(p)] * self.width
        raise self.unsupported(f"{what} through a pointer that {_CLASS_TEXT.get(cls, 'is not traceable')}", op)

    def unsupported(self, what: str, op, hint: str | None = None) -> Unsupported:
        return Unsupported(f"cannot differentiate {self.d.what}: {what}", op, hint=hint)

    def clone(self, op, operands=None):
        new = op.operation.clone(ip=self.ip)
        for i, x in enumerate(operands if operands is not None else [self.v(o) for o in op.operands]):
            new.operands[i] = x
        for r, nr in zip(op.operation.results, new.results):
            self.vmap[r] = nr
        return new

    def shadow_clone(self, op, operands):
        """A copy of a memory op onto shadow memory, without alias-scope
        metadata (shadows are other objects than the primal's)."""
        new = op.operation.clone(ip=self.ip)
        for i, x in enumerate(operands):
            new.operands[i] = x
        for key in ("alias_scopes", "noalias_scopes"):
            if key in new.attributes:
                del new.attributes[key]
        return new

    # ops

    def emit(self, op) -> None:
        name = op.operation.name
        if name in _BRANCHES:
            return self.emit_branch(op)
        if name == "llvm.return":
            value = self.v(op.operands[0]) if len(op.operands) else None
            tangents = [self.tz(op.operands[0], w) for w in range(self.width)] \
                if len(op.operands) and op.operands[0] in self.active else None
            return self.on_return(self, value, tangents)
        if name == "llvm.load":
            return self.emit_load(op)
        if name == "llvm.store":
            return self.emit_store(op)
        if name == "llvm.alloca":
            new = self.clone(op)
            res = op.operation.results[0]
            if res in self.shadow_allocas:
                self.shadow[res] = [self.shadow_clone(op, list(new.operands)).results[0] for _ in range(self.width)]
            return
        if name in _PTR_DERIVED and _is_ptr(op.operation.results[0].type):
            new = self.clone(op)
            res = op.operation.results[0]
            if self.pclass.get(res) == SHADOW:
                src = op.operands[0]
                rest = list(new.operands)[1:]
                self.shadow[res] = [self.shadow_clone(op, [s, *rest]).results[0]
                                    for s in self.sh(src, op, "a derived pointer")]
            return
        if name in _MEMCPY or name in _MEMSET:
            return self.emit_mem(op)
        if name in _LIFETIME:
            self.clone(op)
            p = op.operands[-1]
            if self.pclass.get(p) == SHADOW:
                for s in self.shadow[p]:
                    self.shadow_clone(op, [*[self.v(o) for o in list(op.operands)[:-1]], s])
            return
        if name == "llvm.select":
            return self.emit_select(op)
        if name == "llvm.call":
            return self.emit_call(op)
        if name == "llvm.call_intrinsic":
            # an intrinsic without an op of its own (fptosi.sat, …): fine while
            # no float result depends on active values and no shadowed memory is touched
            results = list(op.operation.results)
            if (results and contains_float(results[0].type) and self._touches_active(op)) or \
                    any(self.pclass.get(v) in (SHADOW, CONFLICT) for v in op.operands):
                raise self.unsupported(_CONSTRUCT[name], op)
            self.clone(op)
            return
        if name in ("llvm.inline_asm", "llvm.invoke", "llvm.atomicrmw", "llvm.cmpxchg", "llvm.va_arg"):
            if name in ("llvm.inline_asm", "llvm.invoke") or self._touches_active(op):
                raise self.unsupported(_CONSTRUCT.get(name, f"`{name}`"), op)
        if rules.is_differentiable(op):
            return self.emit_differentiable(op)
        if name == "llvm.bitcast":
            return self.emit_bitcast(op)
        if name in _AGGREGATE:
            return self.emit_aggregate(op)
        self.check_generic(op)
        self.clone(op)

    def _touches_active(self, op) -> bool:
        return any(v in self.active or v in self.tainted or self.pclass.get(v) in (SHADOW, CONFLICT)
                   for v in op.operands)

    def check_generic(self, op) -> None:
        """An op we copy without tangent code must not need any."""
        name = op.operation.name
        results = list(op.operation.results)
        for v in op.operands:
            if v in self.active and name not in _FLOAT_CONSUMERS:
                raise self.unsupported(f"no derivative rule for `{name}`", op)
            if self.pclass.get(v) in (SHADOW, CONFLICT) and name not in _PTR_HARMLESS:
                raise self.unsupported(f"`{name}` on a pointer into differentiated memory", op)
        if results and results[0] in self.active:
            raise self.unsupported(f"no derivative rule for `{name}`", op)

    def emit_load(self, op) -> None:
        self.clone(op)
        p, res = op.operands[0], op.operation.results[0]
        cls = self.pclass.get(p)
        if contains_float(res.type):
            if cls == SHADOW:
                self.tan[res] = [self.shadow_clone(op, [s]).results[0] for s in self.shadow[p]]
            elif cls in (UNKNOWN, CONFLICT, None):
                raise self.unsupported(f"a float is loaded through a pointer that {_CLASS_TEXT.get(cls, _UNTRACED)}",
                                       op, hint=_MEMORY_HINT)
        elif res in self.has_bits:
            self.bits[res] = [self.shadow_clone(op, [s]).results[0] for s in self.shadow[p]]

    def emit_store(self, op) -> None:
        self.clone(op)
        v, p = op.operands[0], op.operands[1]
        cls = self.pclass.get(p)
        active = v in self.active or v in self.tainted
        if _is_ptr(v.type) and self.pclass.get(v) in (SHADOW, CONFLICT) and not self.roots.get(p):
            raise self.unsupported("a pointer into differentiated memory is stored to memory that is not a "
                                   "local variable", op, hint=_MEMORY_HINT)
        if cls == SHADOW:
            if _is_ptr(v.type):
                return                          # pointers in memory are untraceable once loaded back
            if v in self.tainted and v not in self.bits:
                raise self.unsupported("an integer computed from a float's bits is stored to differentiated "
                                       "memory", op)
            for w, s in enumerate(self.shadow[p]):
                if contains_float(v.type):
                    shadow_value = self.tz(v, w)
                elif v in self.bits:
                    shadow_value = self.bits[v][w]
                else:
                    shadow_value = self.zero(v.type)
                self.shadow_clone(op, [shadow_value, s])
        elif active:
            raise self.unsupported(f"an active value is stored through a pointer that "
                                   f"{_CLASS_TEXT.get(cls, _UNTRACED)}", op, hint=_MEMORY_HINT)

    def emit_mem(self, op) -> None:
        self.clone(op)
        name, ops = op.operation.name, list(op.operands)
        dst = ops[0]
        cd = self.pclass.get(dst)
        if name in _MEMSET:
            if cd == SHADOW:
                from mlir import ir
                zero8 = self.zero(ir.IntegerType.get_signless(8))
                for s in self.shadow[dst]:
                    self.shadow_clone(op, [s, zero8, *[self.v(o) for o in ops[2:]]])
            return
        src = ops[1]
        cs = self.pclass.get(src)
        rest = [self.v(o) for o in ops[2:]]
        if cd == SHADOW:
            if cs == SHADOW:
                for sd, ss in zip(self.shadow[dst], self.shadow[src]):
                    self.shadow_clone(op, [sd, ss, *rest])
            elif cs in (CONST, NULL) and rest:
                from mlir import ir
                from mlir.dialects import llvm
                zero8 = self.zero(ir.IntegerType.get_signless(8))
                for sd in self.shadow[dst]:
                    llvm.intr_memset(sd, zero8, rest[0], ir.BoolAttr.get(False))
            else:
                raise self.unsupported(f"a copy from memory that {_CLASS_TEXT.get(cs, _UNTRACED)} into "
                                       "differentiated memory", op, hint=_MEMORY_HINT)
        elif cs in (SHADOW, CONFLICT):
            raise self.unsupported(f"a copy of differentiated memory into memory that "
                                   f"{_CLASS_TEXT.get(cd, _UNTRACED)}", op, hint=_MEMORY_HINT)

    def emit_select(self, op) -> None:
        from mlir.dialects import llvm
        self.clone(op)
        res = op.operation.results[0]
        c, a, b = op.operands
        if _is_ptr(res.type):
            if self.pclass.get(res) == SHADOW:
                self.shadow[res] = [llvm.select(self.v(c), x, y) for x, y in
                                    zip(self.sh(a, op, "a select"), self.sh(b, op, "a select"))]
            return
        if res in self.active and (self.t(a) or self.t(b)):
            self.tan[res] = [llvm.select(self.v(c), self.tz(a, w), self.tz(b, w)) for w in range(self.width)]

    def emit_differentiable(self, op) -> None:
        from mlir.dialects import llvm
        new = self.clone(op)
        res = op.operation.results[0]
        operands = list(op.operands)
        tangents = [self.t(x) if float_type(x.type) else None for x in operands]
        if not any(tangents):
            return
        name = op.operation.name
        kind = rules.libm_name(op) or name
        values = list(new.operands)
        W = range(self.width)
        if name in ("llvm.fpext", "llvm.fptrunc"):
            self.tan[res] = [self.shadow_clone(op, [tangents[0][w]]).results[0] for w in W]
        elif kind in ("llvm.intr.minnum", "llvm.intr.maxnum", "llvm.intr.minimum", "llvm.intr.maximum",
                      "llvm.intr.minimumnum", "llvm.intr.maximumnum", "fmin", "fmax"):
            pick = rules.picks_first(op, values)
            self.tan[res] = [llvm.select(pick, self.tz(operands[0], w), self.tz(operands[1], w)) for w in W]
        elif name in ("llvm.fadd", "llvm.fsub"):
            ta, tb = tangents
            if tb is None:
                self.tan[res] = list(ta)
            elif ta is None:
                self.tan[res] = list(tb) if name == "llvm.fadd" else [llvm.fneg(t) for t in tb]
            else:
                f = llvm.fadd if name == "llvm.fadd" else llvm.fsub
                self.tan[res] = [f(x, y) for x, y in zip(ta, tb)]
        elif name == "llvm.fneg":
            self.tan[res] = [llvm.fneg(t) for t in tangents[0]]
        else:
            ps = rules.partials(op, values, needed=[t is not None for t in tangents])
            out = []
            for w in W:
                acc = None
                for p, t in zip(ps, tangents):
                    if p is None or t is None:
                        continue
                    term = _scaled(p, t[w])
                    acc = term if acc is None else llvm.fadd(acc, term)
                out.append(acc)
            if out[0] is not None:
                self.tan[res] = out

    def emit_bitcast(self, op) -> None:
        self.clone(op)
        src, res = op.operands[0], op.operation.results[0]
        if _is_ptr(res.type):
            if self.pclass.get(res) == SHADOW:
                self.shadow[res] = [self.shadow_clone(op, [s]).results[0] for s in self.sh(src, op, "a bitcast")]
        elif float_type(res.type):
            if src in self.bits:
                self.tan[res] = [self.shadow_clone(op, [b]).results[0] for b in self.bits[src]]
            elif src in self.active:                        # float <-> float vector
                if self.t(src):
                    self.tan[res] = [self.shadow_clone(op, [t]).results[0] for t in self.t(src)]
            elif src in self.tainted:
                raise self.unsupported("a float made from integer arithmetic on a float's bits", op)
        elif src in self.active:
            self.bits[res] = [self.shadow_clone(op, [self.tz(src, w)]).results[0] for w in range(self.width)]

    def emit_aggregate(self, op) -> None:
        """Vectors and structs: the same op on the tangents (zero where inactive)."""
        self.clone(op)
        res = op.operation.results[0]
        if _is_ptr(res.type):
            return
        if res not in self.active or not any(self.t(x) for x in op.operands):
            return
        operands = list(op.operands)
        name = op.operation.name
        out = []
        for w in range(self.width):
            new_ops = []
            for k, x in enumerate(operands):
                index = name in ("llvm.extractelement", "llvm.insertelement") and k == len(operands) - 1
                if index:
                    new_ops.append(self.v(x))
                elif contains_float(x.type):
                    new_ops.append(self.tz(x, w))
                else:
                    new_ops.append(self.zero(x.type))
            out.append(self.shadow_clone(op, new_ops).results[0])
        self.tan[res] = out

    def emit_call(self, op) -> None:
        from mlir import ir
        from mlir.dialects import llvm
        attrs = op.operation.attributes
        if "callee" not in attrs:
            raise self.unsupported("an indirect call (through a function pointer or a `dyn` method)", op)
        if rules.is_differentiable(op):
            return self.emit_differentiable(op)
        callee = self._callee(op)
        name = ir.FlatSymbolRefAttr(attrs["callee"]).value
        operands = list(op.operands)
        noreturn = self._noreturn(op, callee)
        if not noreturn and any(self.roots.get(v, frozenset()) & self.laundered for v in operands):
            raise self.unsupported(f"a call to `{name}` with a local that holds pointers into differentiated "
                                   "memory", op, hint=_MEMORY_HINT)
        if callee is None or is_declaration(callee):
            if self._touches_active(op) and not noreturn:
                raise self.unsupported(f"a call to the external function `{name}` with active arguments "
                                       "(only libm functions are known)", op)
            self.clone(op)
            return
        if not self._differentiated_call(op):
            self.clone(op)
            return
        pattern = []
        for v in operands:
            cls = self.pclass.get(v)
            if v in self.active:
                pattern.append("a")
            elif cls == SHADOW:
                pattern.append("s")
            elif cls == CONFLICT:
                raise self.unsupported(f"a pointer that {_CLASS_TEXT[CONFLICT]} passed to `{name}`", op)
            elif cls == UNKNOWN:
                pattern.append("u")
            else:
                pattern.append("c")
        symbol, tangent_ret, ret_ty = self.fwd.version(callee, tuple(pattern))
        args = [self.v(v) for v in operands]
        for v, p in zip(operands, pattern):
            if p == "a":
                args += [self.tz(v, w) for w in range(self.width)]
            elif p == "s":
                args += self.shadow[v]
        results = list(op.operation.results)
        call = llvm.CallOp(ret_ty, args, [], ir.DenseI32ArrayAttr.get([]),
                           callee=ir.FlatSymbolRefAttr.get(symbol))
        if not results:
            return
        res = results[0]
        if tangent_ret:
            self.vmap[res] = llvm.extractvalue(res.type, call.result, [0])
            self.tan[res] = [llvm.extractvalue(res.type, call.result, [w + 1]) for w in range(self.width)]
        else:
            self.vmap[res] = call.result

    def _noreturn(self, op, callee) -> bool:
        """A call that never returns (a panic): allowed whatever its arguments."""
        if self.next_name == "llvm.unreachable":
            return True
        if callee is not None and "passthrough" in callee.operation.attributes:
            from mlir import ir
            return any(_passthrough_name(a) == "noreturn"
                       for a in ir.ArrayAttr(callee.operation.attributes["passthrough"]))
        return False

    def emit_branch(self, op) -> None:
        from mlir import ir
        from mlir.dialects import llvm
        name = op.operation.name
        succ_ops = self._successor_operands(op)
        lists = []
        for succ, args in succ_ops:
            new_args = [self.v(a) for a in args]
            for i, kind in self.extra[succ]:
                a = args[i]
                if kind == "t":
                    new_args += [self.tz(a, w) for w in range(self.width)]
                else:
                    new_args += self.sh(a, op, "a loop or join")
            lists.append(new_args)
        dests = [self.bmap[s] for s, _ in succ_ops]
        attrs = op.operation.attributes
        if name == "llvm.br":
            new = llvm.br(lists[0], dests[0])
        elif name == "llvm.cond_br":
            new = llvm.cond_br(self.v(op.operands[0]), lists[0], lists[1], dests[0], dests[1])
        else:
            sizes = [len(x) for x in lists[1:]]
            new = llvm.switch(self.v(op.operands[0]), lists[0], [v for x in lists[1:] for v in x],
                              sizes, dests[0], dests[1:])
        for key in ("branch_weights", "loop_annotation", "case_values"):
            if key in attrs:
                new.operation.attributes[key] = attrs[key]

    def _successor_operands(self, op) -> list:
        """(successor block, its operand values) of a branch, in successor order."""
        name = op.operation.name
        operands = list(op.operands)
        succs = list(op.operation.successors)
        if name == "llvm.br":
            return [(succs[0], operands)]
        seg = _segments(op)
        if name == "llvm.cond_br":
            n_true = seg[1]
            return [(succs[0], operands[1:1 + n_true]), (succs[1], operands[1 + n_true:])]
        # llvm.switch: value, default operands, case operands (case_operand_segments)
        from mlir import ir
        n_default = seg[1]
        out = [(succs[0], operands[1:1 + n_default])]
        k = 1 + n_default
        case_sizes = list(ir.DenseI32ArrayAttr(op.operation.attributes["case_operand_segments"])) \
            if "case_operand_segments" in op.operation.attributes else [0] * (len(succs) - 1)
        for s, n in zip(succs[1:], case_sizes):
            out.append((s, operands[k:k + n]))
            k += n
        return out


def _segments(op) -> list[int]:
    from mlir import ir
    return list(ir.DenseI32ArrayAttr(op.operation.attributes["operandSegmentSizes"]))


def _scaled(p, t):
    """p · t, with p = ±1 folded (LLVM folds x·1 but a symbolic fneg reads better)."""
    from mlir.dialects import llvm
    c = rules.constant_value(p)
    if c == 1.0:
        return t
    if c == -1.0:
        return llvm.fneg(t)
    return llvm.fmul(p, t)


def _join(a, b):
    if a is None or a == b:
        return b
    if b is None:
        return a
    if a == NULL:
        return b
    if b == NULL:
        return a
    if CONFLICT in (a, b) or {a, b} == {CONST, SHADOW} or {a, b} == {UNKNOWN, SHADOW}:
        return CONFLICT
    return UNKNOWN                              # const ∨ unknown


def _reverse_post_order(entry) -> list:
    seen, order = set(), []
    stack = [(entry, iter(list(entry.successors)))]
    seen.add(entry)
    while stack:
        block, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            order.append(block)
            stack.pop()
        elif nxt not in seen:
            seen.add(nxt)
            stack.append((nxt, iter(list(nxt.successors))))
    return order[::-1]


_UNTRACED = "cannot be traced to an argument or a local variable"
_CLASS_TEXT = {
    CONST: "points into constant (not differentiated) memory",
    UNKNOWN: _UNTRACED + " (it was loaded from memory, made from an integer or returned by a call)",
    CONFLICT: "may point into either differentiated or constant memory",
    None: _UNTRACED,
}
_CONSTRUCT = {
    "llvm.inline_asm": "inline assembly",
    "llvm.invoke": "an unwinding call",
    "llvm.call_intrinsic": "an LLVM intrinsic without a derivative rule",
    "llvm.atomicrmw": "an atomic operation on differentiated data",
    "llvm.cmpxchg": "an atomic operation on differentiated data",
    "llvm.va_arg": "variadic arguments",
}
_MEMORY_HINT = ("pass the memory as a `Dual` argument (its shadow receives the tangents), or keep active values "
                "out of memory the derivative cannot follow")
