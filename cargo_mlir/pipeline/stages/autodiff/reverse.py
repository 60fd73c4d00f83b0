"""Reverse mode: `differentiate_reverse(module, d)` defines the llvm.func
`d.name` with `d.flat_types` parameters (docs/autodiff.md) that runs the
primal forward, recording on a tape what the reverse sweep needs, then walks
the primal's blocks backwards accumulating adjoints, and finally stores the
gradients of `Active` arguments (and the primal return, when `d.results()`
has a slot for it) through its trailing pointers. It returns i8 1.

Layout of the generated code (reverse_gen.py, per generated function):

- *Forward sweep*: the primal's blocks cloned (static allocas hoisted to the
  entry block). A join block gets an extra i32 argument, the id of the edge
  taken; the header of a simple loop gets an i64 iteration counter instead,
  pushed once on every edge (or return) leaving the loop. What the reverse of
  a *segment* (a stretch of a block between calls to differentiated
  functions) needs is pushed at its end and popped at the start of its
  reverse, so the tape is a plain stack (tape.py). Values are not taped when
  the reverse sweep can get them otherwise: constants, parameters, values of
  blocks that run once before every return (the derivative itself, where both
  sweeps share a function), loop induction variables (from the counter), and
  cheap arithmetic or loads from never-written arguments recomputed from at
  most one taped value.
- *Reverse sweep* (reverse_ops.py): one block (plus dispatch blocks) per
  primal block that can reach a return, in allocas initialised to -0.0 (the
  additive identity LLVM folds away; mem2reg removes the allocas); reading a
  value's adjoint at its definition resets it, so loops need nothing special.
  A float load adds its adjoint into the shadow at the same offset; a store
  moves the shadow's value into the stored value's adjoint and zeroes it;
  memset zeroes the shadow, memcpy adds the destination's shadow into the
  source's and zeroes it. The shadow of a pointer is its root's shadow (a
  `Duplicated` argument's, or a zeroed shadow alloca) at the byte offset
  `ptrtoint(p) - ptrtoint(root)`.
- *Calls* to other functions of the crate with active arguments get an
  augmented forward version `<d.name>.fwd<n>` (same parameters plus the tape
  state; pushes on the same tape) and a reverse version `<d.name>.rev<n>`
  (the same parameters, the shadows of its shadowed pointer parameters, the
  adjoint of its result, the tape state; returns the gradients of its active
  float parameters as a struct), one pair per callee and activity pattern.

What is refused (reverse_analysis.py), as a CargoMlirError naming `d.what`,
the construct and its source line, never a silently wrong gradient: inline
asm; indirect calls and calls to functions outside the crate (other than
libm) with active arguments; recursion; float memory not traceable to an
argument or a local (a pointer read from active memory, an integer cast,
a merge of two arguments); active floats stored to memory without a shadow
(`Const` arguments, globals, the heap); pointers into active memory stored
to memory or returned; active floats through unsupported ops (bitcasts,
aggregates, vectors); integer copies of float memory; local arrays of
run-time size holding active floats.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlir import ir

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline import mlir_util as U
from cargo_mlir.pipeline.stages.autodiff import rules
from cargo_mlir.pipeline.stages.autodiff.reverse_analysis import CONST, SHADOW, ParamSpec, callee
from cargo_mlir.pipeline.stages.autodiff.reverse_cfg import Cfg, fail
from cargo_mlir.pipeline.stages.autodiff.reverse_gen import Gen, result_type
from cargo_mlir.pipeline.stages.autodiff.spec import Derivative
from cargo_mlir.pipeline.stages.autodiff.tape import STACK_SLOTS, ptr


def differentiate_reverse(module, d: Derivative) -> None:
    """Define `d.name` in `module` (see the module docstring)."""
    with module.context, ir.Location.unknown(module.context):
        Engine(module, d).run()


@dataclass
class Variant:
    fwd: str
    rev: str
    active: list[int]          # the callee's parameters whose gradients rev returns
    rev_ret: object            # the struct type rev returns (None: void)
    slots: int                 # most tape slots a call pushes (loop-free call trees)


class Engine:
    def __init__(self, module, d: Derivative):
        if d.mode != "reverse":
            raise CargoMlirError(f"{d.what}: reverse mode was asked for a {d.mode}-mode derivative")
        self.module, self.d, self.body = module, d, module.body
        self.funcs = {U.sym_name(op): op for op in module.body.operations if op.operation.name == "llvm.func"}
        self.variants: dict = {}
        self.stack: list[str] = []
        self.probes: dict = {}
        self.scratch = None
        self.count = 0

    # -------------------------------------------------------- top level
    def run(self) -> None:
        d = self.d
        primal = self.funcs.get(d.primal)
        if primal is None or not len(primal.regions[0].blocks):
            raise CargoMlirError(f"{d.what}: the primal `{d.primal}` is not defined in the module")
        old = self.funcs.get(d.name)
        if old is not None:
            if not U.is_declaration(old):
                raise CargoMlirError(f"{d.what}: `{d.name}` is defined twice")
            old.operation.erase()
        spec = self._top_spec(primal)
        self.checked = d.tape == "heap" or self._has_loops(primal)
        before = {U.sym_name(op) for op in self.body.operations}
        try:
            f = self.new_func(d.name, [ir.Type.parse(t) for t in d.flat_types],
                              ir.IntegerType.get_signless(8), internal=False)
            gen = Gen(self, primal, spec, f, f, top=True)
            gen.run()
            if d.tape == "stack":
                gen.tape_w.init_stack(STACK_SLOTS if self.checked else gen.slots())
        except BaseException:
            for op in list(self.body.operations):        # leave the module as it was
                if U.sym_name(op) not in before:
                    op.operation.erase()
            raise
        if self.scratch is not None:
            self.scratch.operation.erase()

    def _top_spec(self, primal) -> ParamSpec:
        d = self.d
        params = list(primal.regions[0].blocks[0].arguments)
        flat = [(i, j, t) for i, a in enumerate(d.args) for j, t in enumerate(a.types)]
        got = [str(p.type) for p in params]
        if got != [t for _, _, t in flat]:
            raise CargoMlirError(f"{d.what}: the primal `{d.primal}` takes ({', '.join(got)}) but the derivative "
                                 f"describes ({', '.join(t for _, _, t in flat)})",
                                 hint="this is a cargo-mlir bug (the marker and the primal disagree)")
        ret = result_type(primal)
        if (ret or None) != (d.ret or None):
            raise CargoMlirError(f"{d.what}: the primal `{d.primal}` returns {ret or 'nothing'} but the derivative "
                                 f"describes {d.ret or 'nothing'}", hint="this is a cargo-mlir bug")
        kinds, elems = [], []
        for i, j, t in flat:
            a = d.args[i]
            if a.activity == "Active":
                if t not in ("f32", "f64", "f16", "bf16"):
                    raise CargoMlirError(f"{d.what}: argument {i + 1} is `Active` but is not a float ({t})",
                                         hint="use `Duplicated` for references and slices, `Const` otherwise")
                kinds.append("active")
            elif a.activity in ("Duplicated", "DuplicatedOnly") and t == "!llvm.ptr":
                kinds.append(SHADOW)
            elif a.activity in ("Duplicated", "DuplicatedOnly") and j == 0:
                raise CargoMlirError(f"{d.what}: argument {i + 1} is `{a.activity}` but is not a reference, "
                                     f"slice or pointer ({t})", hint="use `Active` for a float passed by value")
            else:
                kinds.append(CONST)
            elems.append(a.elem if kinds[-1] == SHADOW and a.elem in ("f32", "f64", "f16", "bf16") else None)
        ret_active = d.ret_activity in ("Active", "ActiveOnly")
        if ret_active and d.ret not in ("f32", "f64", "f16", "bf16"):
            raise CargoMlirError(f"{d.what}: the return is `{d.ret_activity}` but is not a float ({d.ret})")
        return ParamSpec(tuple(kinds), tuple(elems), ret_active)

    def _has_loops(self, primal) -> bool:
        seen, todo = set(), [primal]
        while todo:
            f = todo.pop()
            if Cfg(f, self.d.what).in_cycle:
                return True
            for op in U.walk_ops(f.operation, ("llvm.call",)):
                g = self.funcs.get(callee(op))
                name = callee(op)
                if g is not None and len(g.regions[0].blocks) and name not in seen:
                    seen.add(name)
                    todo.append(g)
        return False

    # -------------------------------------------------------- helpers for generators
    def fresh(self, name: str) -> str:
        """`name`, or `name` with a suffix if the module already has that symbol."""
        k, out = 0, name
        while U.find(self.body, out) is not None:
            k += 1
            out = f"{name}.{k}"
        return out

    def new_func(self, name: str, params: list, ret, internal: bool = True):
        ptxt = ", ".join(str(t) for t in params)
        U.append(self.body, f"llvm.func @\"{name}\"({ptxt})" + (f" -> {ret}" if ret is not None else "") + "\n")
        f = U.find(self.body, name)
        f.regions[0].blocks.append(*params)
        if internal:
            f.operation.attributes["linkage"] = ir.Attribute.parse("#llvm.linkage<internal>")
        self.funcs[name] = f
        return f

    def declare(self, name: str, text: str) -> None:
        if U.find(self.body, name) is None:
            U.append(self.body, text)
            self.funcs[name] = U.find(self.body, name)

    def tape_global(self) -> str:
        name = f"{self.d.name}.tape"
        if U.find(self.body, name) is None:
            U.append(self.body, f"llvm.mlir.global internal thread_local @\"{name}\"() {{addr_space = 0 : i32}} : "
                                "!llvm.struct<(ptr, i64)> {\n  %0 = llvm.mlir.zero : !llvm.struct<(ptr, i64)>\n"
                                "  llvm.return %0 : !llvm.struct<(ptr, i64)>\n}\n")
        return name

    def variant(self, name: str, spec: ParamSpec, op) -> Variant:
        key = (name, spec.key())
        if key in self.variants:
            return self.variants[key]
        if name in self.stack:
            raise fail(self.d.what, f"recursion (`{name}` calls itself, directly or through other functions)", op)
        f = self.funcs[name]
        params = [a.type for a in f.regions[0].blocks[0].arguments]
        res = op.operation.results[0].type if len(op.operation.results) else None
        n = self.count
        self.count += 1
        active = [k for k, kind in enumerate(spec.kinds) if kind == "active"]
        rev_ret = ir.Type.parse("!llvm.struct<(" + ", ".join(str(params[k]) for k in active) + ")>") if active \
            else None
        nshadow = sum(1 for kind in spec.kinds if kind == SHADOW)
        fwd, rev = self.fresh(f"{self.d.name}.fwd{n}"), self.fresh(f"{self.d.name}.rev{n}")
        w = self.new_func(fwd, params + [ptr()], res)
        r = self.new_func(rev, params + [ptr()] * nshadow + ([res] if spec.ret_active else []) + [ptr()], rev_ret)
        self.stack.append(name)
        gen = Gen(self, f, spec, w, r, top=False)
        gen.run()
        self.stack.pop()
        v = Variant(fwd, rev, active, rev_ret, 0 if self.checked else gen.slots())
        self.variants[key] = v
        return v

    def used_operands(self, op, needed: list[bool]) -> set[int]:
        """The operands `rules.partials` reads for `op` (it is run once on
        placeholders in a scratch block): only those are kept for the reverse sweep."""
        o = op.operation
        key = (o.name, callee(op), tuple(str(v.type) for v in o.operands), tuple(needed),
               str(o.attributes["predicate"]) if "predicate" in o.attributes else None)
        if key in self.probes:
            return self.probes[key]
        if self.scratch is None:
            self.scratch = self.new_func(self.fresh(f"{self.d.name}.probe"), [], None)
        block = self.scratch.regions[0].blocks.append(*[v.type for v in o.operands])
        args = list(block.arguments)
        try:
            with ir.InsertionPoint(block), o.location:
                ps = rules.partials(op, args, needed)
        except rules.Unsupported as exc:
            raise CargoMlirError(f"{self.d.what}: {exc.message}", hint=exc.hint) from None
        used = {k for k, a in enumerate(args) if any(True for _ in a.uses) or any(p == a for p in ps if p is not None)}
        for x in reversed(list(block.operations)):
            x.operation.erase()
        self.probes[key] = used
        return used


