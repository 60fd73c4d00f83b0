"""Local derivatives of the float operations rustc emits, shared by forward
and reverse mode: for one primal op, the partial derivative of its result with
respect to each float operand, emitted as llvm-dialect ops at the current
insertion point from operand values the caller supplies (reverse mode passes
values re-read from its tape, forward mode the primal values themselves).

API (stable; both modes use it):

    class Unsupported(CargoMlirError)     # raised with the op's name and source line

    def is_differentiable(op) -> bool
        # an op whose float result depends on float operands
        # (fadd fsub fmul fdiv fneg frem select, the llvm.intr float intrinsics,
        #  libm calls such as tanhf/tanh, casts fpext/fptrunc, …)

    def partials(op, operands: list[Value]) -> list[Value | None]
        # at the current InsertionPoint, ∂result/∂operand_k for each operand k
        # (None: the operand is not a float or has no derivative, e.g. select's
        # condition, powi's integer exponent); `operands` replace op.operands in
        # the formulas (same order); ops that need the result (exp, sqrt, tanh)
        # recompute it from `operands`.

    def zero(ty) -> Value / def constant(ty, x: float) -> Value

Conventions and extras (additions, same stability):

- A partial has the type of the op's *result*. For `fpext`/`fptrunc` it is
  1.0 in the result's type: the mode converts the tangent (adjoint) across
  the cast itself, with the same cast (the opposite one).
- `partials(op, operands, needed=[bool, …])` emits only the partials asked
  for (None for the others): forward mode skips operands whose tangent is zero.
- Piecewise-constant ops (floor, ceil, trunc, round, roundeven, rint,
  nearbyint; copysign's sign operand) give None, i.e. a symbolic zero.
- `picks_first(op, operands) -> Value` (i1) for the choosing ops (select,
  minnum, maxnum, minimum, maximum): true where the result is the first value
  operand; a mode can route tangents/adjoints with a select instead of
  multiplying by 1/0.
- `float_type(ty)`: f16/bf16/f32/f64 or a vector of them; `contains_float(ty)`
  also looks inside structs and arrays.
- `libm_name(op)`: the libm function a call op calls, when it is one we know.
- `constant_value(v) -> float | None`: the float an `llvm.mlir.constant` is
  (forward mode folds partials of ±1).
- `Unsupported(what, op=None, hint=None)`: `op` adds "(`name` at file:line)".
"""

from __future__ import annotations

import math
import re

from cargo_mlir.errors import CargoMlirError

# ops whose partials are plain arithmetic on the operands
_ARITH = {"llvm.fadd", "llvm.fsub", "llvm.fmul", "llvm.fdiv", "llvm.fneg", "llvm.frem", "llvm.select",
          "llvm.fpext", "llvm.fptrunc"}
# float intrinsics, by name without "llvm.intr."
_INTR = {"fmuladd", "fma", "sqrt", "exp", "exp2", "exp10", "log", "log2", "log10", "sin", "cos", "tan", "pow",
         "powi", "fabs", "minnum", "maxnum", "minimum", "maximum", "minimumnum", "maximumnum", "copysign", "floor",
         "ceil", "trunc", "round", "roundeven", "rint", "nearbyint", "sinh", "cosh", "tanh", "asin", "acos", "atan",
         "atan2"}
_PIECEWISE_CONSTANT = {"floor", "ceil", "trunc", "round", "roundeven", "rint", "nearbyint"}
# libm functions (and their `f` variants) rustc calls instead of intrinsics
_LIBM = {"tanh", "sinh", "cosh", "tan", "atan", "asin", "acos", "exp", "exp2", "expm1", "log", "log2", "log10",
         "log1p", "cbrt", "hypot", "atan2", "sin", "cos", "pow", "sqrt", "fabs", "fmod", "floor", "ceil", "trunc",
         "round", "fmin", "fmax"}
_CHOOSING = {"llvm.select", "llvm.intr.minnum", "llvm.intr.maxnum", "llvm.intr.minimum", "llvm.intr.maximum",
             "llvm.intr.minimumnum", "llvm.intr.maximumnum"}
_FLOAT_NAME = re.compile(r"\b(f16|bf16|f32|f64|f80|f128)\b")


class Unsupported(CargoMlirError):
    """An operation the autodiff stage cannot differentiate."""

    def __init__(self, what: str, op=None, hint: str | None = None):
        where = f" ({_where(op)})" if op is not None else ""
        super().__init__(f"{what}{where}", hint=hint or "rewrite this part of the primal with operations "
                         "cargo-mlir can differentiate (docs/autodiff.md), or mark the value constant")


def _where(op) -> str:
    from cargo_mlir.pipeline.stages.raise_.rewrite import location
    return f"`{_op_name(op)}` at {location(op.operation)}"


def _op_name(op) -> str:
    name = op.operation.name
    callee = _callee(op)
    return f"{name} @{callee}" if callee else name


# ------------------------------------------------------------------ types

def float_type(ty) -> bool:
    """f16/bf16/f32/f64 (…) or a vector of them."""
    from mlir import ir
    t = ty.maybe_downcast()
    if isinstance(t, ir.VectorType):
        t = t.element_type.maybe_downcast()
    return isinstance(t, ir.FloatType)


def contains_float(ty) -> bool:
    """A float type, or an aggregate (struct, array, vector) with float leaves."""
    return float_type(ty) or bool(_FLOAT_NAME.search(str(ty)))


def _element(ty):
    from mlir import ir
    t = ty.maybe_downcast()
    return t.element_type if isinstance(t, ir.VectorType) else ty


def constant(ty, x: float):
    """A float constant (splat for a vector type) at the current insertion point."""
    from mlir import ir
    from mlir.dialects import llvm
    t = ty.maybe_downcast()
    if isinstance(t, ir.VectorType):
        attr = ir.DenseElementsAttr.get_splat(t, ir.FloatAttr.get(t.element_type, x))
    else:
        attr = ir.FloatAttr.get(ty, x)
    return llvm.mlir_constant(attr)


def zero(ty):
    """0.0 of a float type; for other types (aggregates, integers, pointers)
    `llvm.mlir.zero`, all bits zero."""
    from mlir.dialects import llvm
    return constant(ty, 0.0) if float_type(ty) else llvm.mlir_zero(ty)


def constant_value(value) -> float | None:
    """The float a value is, when it is an `llvm.mlir.constant` scalar (or splat)."""
    from mlir import ir
    owner = value.owner
    if not isinstance(owner, ir.OpView) or owner.operation.name != "llvm.mlir.constant":
        return None
    attr = owner.operation.attributes["value"]
    if isinstance(attr, ir.FloatAttr):
        return ir.FloatAttr(attr).value
    if isinstance(attr, ir.DenseElementsAttr) and ir.DenseElementsAttr(attr).is_splat:
        splat = ir.DenseElementsAttr(attr).get_splat_value()
        try:
            return ir.FloatAttr(splat).value
        except ValueError:
            return None
    return None


# ------------------------------------------------------------------ what an op is

def _callee(op) -> str | None:
    from mlir import ir
    attrs = op.operation.attributes
    if op.operation.name != "llvm.call" or "callee" not in attrs:
        return None
    return ir.FlatSymbolRefAttr(attrs["callee"]).value


def libm_name(op) -> str | None:
    """`tanh` for a call to `tanh` or `tanhf` (a libm function we differentiate)."""
    callee = _callee(op)
    if callee is None:
        return None
    base = callee[:-1] if callee.endswith("f") and callee[:-1] in _LIBM else callee
    return base if base in _LIBM else None


def _kind(op) -> str | None:
    """The rule an op follows: "llvm.fmul", "intr.sqrt", "libm.tanh", or None."""
    name = op.operation.name
    if name in _ARITH:
        return name
    if name.startswith("llvm.intr.") and name[len("llvm.intr."):] in _INTR:
        return "intr." + name[len("llvm.intr."):]
    if name in ("llvm.sitofp", "llvm.uitofp"):
        return name
    lib = libm_name(op)
    return f"libm.{lib}" if lib else None


def is_differentiable(op) -> bool:
    """An op with a float result that depends on float operands, whose
    partials we know (`sitofp`/`uitofp` are known but not differentiable)."""
    kind = _kind(op)
    if kind in (None, "llvm.sitofp", "llvm.uitofp"):
        return False
    results = op.operation.results
    return len(results) == 1 and float_type(results[0].type)


def picks_first(op, operands):
    """For a choosing op (select, min/max, libm fmin/fmax): an i1 that is true
    where the result is the first value operand."""
    from mlir.dialects import llvm
    name = op.operation.name
    if name == "llvm.select":
        return operands[0]
    name = {"fmin": "minnum", "fmax": "maxnum"}.get(libm_name(op) or "", name)
    a, b = operands
    with op.operation.location:
        if name.endswith("num"):
            # minnum(NaN, b) = b, minnum(a, NaN) = a: a where a <= b (ordered) or b is NaN
            pick_a = llvm.fcmp(_fcmp_pred("ole" if "min" in name else "oge"), a, b)
            return llvm.or_(pick_a, llvm.fcmp(_fcmp_pred("uno"), b, b))
        # minimum/maximum propagate NaNs; ties: the first operand
        return llvm.fcmp(_fcmp_pred("ole" if "min" in name else "oge"), a, b)


def _fcmp_pred(name: str):
    from mlir import ir
    preds = ["_false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord", "ueq", "ugt", "uge", "ult", "ule", "une",
             "uno", "_true"]
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), preds.index(name))


# ------------------------------------------------------------------ partials

def partials(op, operands, needed: list[bool] | None = None):
    """∂result/∂operand_k for each operand (see the module docstring)."""
    kind = _kind(op)
    if kind is None or not op.operation.results or not float_type(op.operation.results[0].type):
        raise Unsupported("cannot differentiate this operation", op)
    if kind in ("llvm.sitofp", "llvm.uitofp"):
        return [None]
    ty = op.operation.results[0].type
    needed = needed if needed is not None else [True] * len(operands)
    rule = _RULES.get(kind)
    if rule is None:
        raise Unsupported("no derivative rule for this operation", op)
    out = rule(_Emit(op, ty), list(operands), needed)
    return [p if k < len(needed) and needed[k] else None for k, p in enumerate(out)]


class _Emit:
    """Builders for the formulas, in the op's float type, at the op's location
    (for messages and debug info)."""

    def __init__(self, op, ty):
        self.op, self.ty = op, ty
        self.loc = op.operation.location

    def c(self, x: float):
        with self.loc:
            return constant(self.ty, x)

    def add(self, a, b):
        from mlir.dialects import llvm
        with self.loc:
            return llvm.fadd(a, b)

    def sub(self, a, b):
        from mlir.dialects import llvm
        with self.loc:
            return llvm.fsub(a, b)

    def mul(self, a, b):
        from mlir.dialects import llvm
        with self.loc:
            return llvm.fmul(a, b)

    def div(self, a, b):
        from mlir.dialects import llvm
        with self.loc:
            return llvm.fdiv(a, b)

    def neg(self, a):
        from mlir.dialects import llvm
        with self.loc:
            return llvm.fneg(a)

    def intr(self, name: str, *args):
        from mlir.dialects import llvm
        with self.loc:
            return getattr(llvm, f"intr_{name}")(*args)

    def sq(self, a):
        return self.mul(a, a)

    def select(self, cond, a, b):
        from mlir.dialects import llvm
        with self.loc:
            return llvm.select(cond, a, b)

    def libm(self, name: str, *args):
        """A call to libm's `name` (f-suffixed for f32), declared if needed."""
        from mlir import ir
        from mlir.dialects import llvm
        elem = str(_element(self.ty))
        if str(self.ty) not in ("f32", "f64"):
            raise Unsupported(f"`{name}` on {self.ty} has no libm function", self.op)
        symbol = name + ("f" if elem == "f32" else "")
        if _callee(self.op) == symbol:      # the op's own function: a copy keeps its attributes
            new = self.op.operation.clone(ip=ir.InsertionPoint.current)
            for i, a in enumerate(args):
                new.operands[i] = a
            return new.results[0]
        module = self.op.operation
        while module.name != "builtin.module":
            module = module.parent
        body = module.regions[0].blocks[0]
        if not any(op.operation.name == "llvm.func" and
                   ir.StringAttr(op.operation.attributes["sym_name"]).value == symbol for op in body.operations):
            from cargo_mlir.pipeline.mlir_util import append
            params = ", ".join([elem] * len(args))
            append(body, f"llvm.func @{symbol}({params}) -> {elem} attributes {{no_unwind}}\n")
        with self.loc:
            return llvm.call(self.ty, list(args), [], [], callee=ir.FlatSymbolRefAttr.get(symbol))


def _one(e, ops, need):
    return [e.c(1.0) if n else None for n in need]


def _div(e, ops, need):
    a, b = ops
    q = e.div(a, b) if need[1] else None
    return [e.div(e.c(1.0), b) if need[0] else None, e.neg(e.div(q, b)) if need[1] else None]


def _frem(e, ops, need):
    a, b = ops
    return [e.c(1.0), e.neg(e.intr("trunc", e.div(a, b))) if need[1] else None]


def _select(e, ops, need):
    c, _, _ = ops
    one, zero_ = e.c(1.0), e.c(0.0)
    return [None, e.select(c, one, zero_) if need[1] else None, e.select(c, zero_, one) if need[2] else None]


def _choose(e, ops, need):
    c = picks_first(e.op, ops)
    one, zero_ = e.c(1.0), e.c(0.0)
    return [e.select(c, one, zero_) if need[0] else None, e.select(c, zero_, one) if need[1] else None]


def _pow(e, ops, need, pow_=None):
    a, b = ops
    pow_ = pow_ or (lambda x, y: e.intr("pow", x, y))
    da = e.mul(b, pow_(a, e.sub(b, e.c(1.0)))) if need[0] else None
    db = e.mul(pow_(a, b), e.intr("log", a)) if need[1] else None
    return [da, db]


def _powi(e, ops, need):
    from mlir.dialects import llvm
    a, n = ops
    if _is_vector(e.ty):
        raise Unsupported("no derivative rule for powi on a vector", e.op)
    with e.loc:
        # d/da a^n = n · a^(n-1)
        nm1 = llvm.sub(n, llvm.mlir_constant(_int_attr(n.type, 1)), llvm.IntegerOverflowFlags.none)
        return [e.mul(llvm.sitofp(e.ty, n), llvm.intr_powi(e.ty, a, nm1)), None]


def _int_attr(ty, x: int):
    from mlir import ir
    return ir.IntegerAttr.get(ty, x)


def _is_vector(ty) -> bool:
    from mlir import ir
    return isinstance(ty.maybe_downcast(), ir.VectorType)


def _fabs(e, ops, need):
    return [e.intr("copysign", e.c(1.0), ops[0])]


def _copysign(e, ops, need):
    a, b = ops
    # copysign(a, b) = |a|·sign(b): ∂/∂a = sign(a)·sign(b); the sign operand: 0
    return [e.mul(e.intr("copysign", e.c(1.0), a), e.intr("copysign", e.c(1.0), b)), None]


def _unary(f):
    """A rule for a one-operand function from f(e, a) -> ∂/∂a."""
    return lambda e, ops, need: [f(e, ops[0])]


_LN2, _LN10 = math.log(2.0), math.log(10.0)

_RULES = {
    "llvm.fadd": _one,
    "llvm.fsub": lambda e, ops, need: [e.c(1.0) if need[0] else None, e.c(-1.0) if need[1] else None],
    "llvm.fmul": lambda e, ops, need: [ops[1], ops[0]],
    "llvm.fdiv": _div,
    "llvm.fneg": lambda e, ops, need: [e.c(-1.0)],
    "llvm.frem": _frem,
    "llvm.select": _select,
    "llvm.fpext": _one,
    "llvm.fptrunc": _one,
    "intr.fmuladd": lambda e, ops, need: [ops[1], ops[0], e.c(1.0)],
    "intr.fma": lambda e, ops, need: [ops[1], ops[0], e.c(1.0)],
    "intr.sqrt": _unary(lambda e, a: e.div(e.c(0.5), e.intr("sqrt", a))),
    "intr.exp": _unary(lambda e, a: e.intr("exp", a)),
    "intr.exp2": _unary(lambda e, a: e.mul(e.intr("exp2", a), e.c(_LN2))),
    "intr.exp10": _unary(lambda e, a: e.mul(e.intr("exp10", a), e.c(_LN10))),
    "intr.log": _unary(lambda e, a: e.div(e.c(1.0), a)),
    "intr.log2": _unary(lambda e, a: e.div(e.c(1.0), e.mul(a, e.c(_LN2)))),
    "intr.log10": _unary(lambda e, a: e.div(e.c(1.0), e.mul(a, e.c(_LN10)))),
    "intr.sin": _unary(lambda e, a: e.intr("cos", a)),
    "intr.cos": _unary(lambda e, a: e.neg(e.intr("sin", a))),
    "intr.tan": _unary(lambda e, a: e.add(e.c(1.0), e.sq(e.intr("tan", a)))),
    "intr.sinh": _unary(lambda e, a: e.intr("cosh", a)),
    "intr.cosh": _unary(lambda e, a: e.intr("sinh", a)),
    "intr.tanh": _unary(lambda e, a: e.sub(e.c(1.0), e.sq(e.intr("tanh", a)))),
    "intr.asin": _unary(lambda e, a: e.div(e.c(1.0), e.intr("sqrt", e.sub(e.c(1.0), e.sq(a))))),
    "intr.acos": _unary(lambda e, a: e.neg(e.div(e.c(1.0), e.intr("sqrt", e.sub(e.c(1.0), e.sq(a)))))),
    "intr.atan": _unary(lambda e, a: e.div(e.c(1.0), e.add(e.c(1.0), e.sq(a)))),
    "intr.atan2": lambda e, ops, need: _atan2(e, ops),
    "intr.pow": _pow,
    "intr.powi": _powi,
    "intr.fabs": _fabs,
    "intr.copysign": _copysign,
    **{f"intr.{n}": _choose for n in ("minnum", "maxnum", "minimum", "maximum", "minimumnum", "maximumnum")},
    **{f"intr.{n}": (lambda e, ops, need: [None]) for n in _PIECEWISE_CONSTANT},
    # libm calls
    "libm.tanh": _unary(lambda e, a: e.sub(e.c(1.0), e.sq(e.libm("tanh", a)))),
    "libm.sinh": _unary(lambda e, a: e.libm("cosh", a)),
    "libm.cosh": _unary(lambda e, a: e.libm("sinh", a)),
    "libm.tan": _unary(lambda e, a: e.add(e.c(1.0), e.sq(e.libm("tan", a)))),
    "libm.atan": _unary(lambda e, a: e.div(e.c(1.0), e.add(e.c(1.0), e.sq(a)))),
    "libm.asin": _unary(lambda e, a: e.div(e.c(1.0), e.intr("sqrt", e.sub(e.c(1.0), e.sq(a))))),
    "libm.acos": _unary(lambda e, a: e.neg(e.div(e.c(1.0), e.intr("sqrt", e.sub(e.c(1.0), e.sq(a)))))),
    "libm.exp": _unary(lambda e, a: e.intr("exp", a)),
    "libm.exp2": _unary(lambda e, a: e.mul(e.intr("exp2", a), e.c(_LN2))),
    "libm.expm1": _unary(lambda e, a: e.intr("exp", a)),
    "libm.log": _unary(lambda e, a: e.div(e.c(1.0), a)),
    "libm.log2": _unary(lambda e, a: e.div(e.c(1.0), e.mul(a, e.c(_LN2)))),
    "libm.log10": _unary(lambda e, a: e.div(e.c(1.0), e.mul(a, e.c(_LN10)))),
    "libm.log1p": _unary(lambda e, a: e.div(e.c(1.0), e.add(e.c(1.0), a))),
    # cbrt(a)' = 1 / (3 cbrt(a)²)
    "libm.cbrt": _unary(lambda e, a: e.div(e.c(1.0), e.mul(e.c(3.0), e.sq(e.libm("cbrt", a))))),
    "libm.hypot": lambda e, ops, need: [e.div(ops[0], e.libm("hypot", *ops)) if need[0] else None,
                                        e.div(ops[1], e.libm("hypot", *ops)) if need[1] else None],
    "libm.atan2": lambda e, ops, need: _atan2(e, ops),
    "libm.sin": _unary(lambda e, a: e.intr("cos", a)),
    "libm.cos": _unary(lambda e, a: e.neg(e.intr("sin", a))),
    "libm.pow": _pow,
    "libm.sqrt": _unary(lambda e, a: e.div(e.c(0.5), e.intr("sqrt", a))),
    "libm.fabs": _fabs,
    "libm.fmod": _frem,
    "libm.fmin": _choose,
    "libm.fmax": _choose,
    **{f"libm.{n}": (lambda e, ops, need: [None]) for n in ("floor", "ceil", "trunc", "round")},
}


def _atan2(e, ops):
    # atan2(y, x): ∂/∂y = x / (x² + y²), ∂/∂x = -y / (x² + y²)
    y, x = ops
    r2 = e.add(e.sq(x), e.sq(y))
    return [e.div(x, r2), e.neg(e.div(y, r2))]
