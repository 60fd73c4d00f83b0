"""llvm integer/float ops to `arith`/`math`, one for one: same operation,
same operands, the flags rustc set (nsw/nuw, fastmath) carried over and no
new ones, so wrapping and rounding stay exactly as they were. Ops without a
one-for-one equivalent stay llvm ops (the host lowering accepts both)."""

from __future__ import annotations

from mlir import ir

# llvm op -> arith/math op; the predicate enums of icmp/fcmp number alike.
SAME = {
    "llvm.add": "arith.addi", "llvm.sub": "arith.subi", "llvm.mul": "arith.muli",
    "llvm.shl": "arith.shli", "llvm.udiv": "arith.divui", "llvm.sdiv": "arith.divsi",
    "llvm.urem": "arith.remui", "llvm.srem": "arith.remsi", "llvm.and": "arith.andi",
    "llvm.or": "arith.ori", "llvm.xor": "arith.xori", "llvm.lshr": "arith.shrui",
    "llvm.ashr": "arith.shrsi", "llvm.icmp": "arith.cmpi", "llvm.select": "arith.select",
    "llvm.zext": "arith.extui", "llvm.sext": "arith.extsi", "llvm.trunc": "arith.trunci",
    "llvm.fadd": "arith.addf", "llvm.fsub": "arith.subf", "llvm.fmul": "arith.mulf",
    "llvm.fdiv": "arith.divf", "llvm.frem": "arith.remf", "llvm.fneg": "arith.negf",
    "llvm.fcmp": "arith.cmpf", "llvm.sitofp": "arith.sitofp", "llvm.uitofp": "arith.uitofp",
    "llvm.fptosi": "arith.fptosi", "llvm.fptoui": "arith.fptoui", "llvm.fpext": "arith.extf",
    "llvm.fptrunc": "arith.truncf",
    "llvm.intr.umin": "arith.minui", "llvm.intr.umax": "arith.maxui",
    "llvm.intr.smin": "arith.minsi", "llvm.intr.smax": "arith.maxsi",
    "llvm.intr.minnum": "arith.minnumf", "llvm.intr.maxnum": "arith.maxnumf",
    "llvm.intr.minimum": "arith.minimumf", "llvm.intr.maximum": "arith.maximumf",
    "llvm.intr.fma": "math.fma", "llvm.intr.sqrt": "math.sqrt", "llvm.intr.fabs": "math.absf",
    "llvm.intr.exp": "math.exp", "llvm.intr.exp2": "math.exp2", "llvm.intr.log": "math.log",
    "llvm.intr.log2": "math.log2", "llvm.intr.log10": "math.log10", "llvm.intr.sin": "math.sin",
    "llvm.intr.cos": "math.cos", "llvm.intr.floor": "math.floor", "llvm.intr.ceil": "math.ceil",
    "llvm.intr.trunc": "math.trunc", "llvm.intr.round": "math.round",
    "llvm.intr.roundeven": "math.roundeven", "llvm.intr.copysign": "math.copysign",
    "llvm.intr.pow": "math.powf",
    **{f"llvm.intr.{n}": f"math.{n}" for n in ("tanh", "sinh", "cosh", "tan", "asin", "acos", "atan")},
}
# libm functions rustc's IR calls by name (f32::tanh is `call @tanhf`), pure, whose
# LLVM intrinsic the host's LLVM lowers to that same call (and the GPU lowering to
# the vendor library's, stages/gpu_math.py): in the raised copy they are the
# intrinsic (`pure_calls`), then a math op, so loops that call them are raised
# and fused like other arithmetic. atan2, cbrt, … have no such intrinsic.
PURE_CALLS = {f"{n}{suffix}": (f"llvm.intr.{n}", width) for n in ("tanh", "sinh", "cosh", "tan", "asin", "acos", "atan")
              for suffix, width in (("f", 32), ("", 64))}
KEEP = ("cargo_mlir.loop",)      # our own markers travel with the op


def _is(cls, x) -> bool:
    """These bindings have no `cls.isinstance`: a cast that fails says no."""
    try:
        cls(x)
        return True
    except ValueError:
        return False


def _scalar(t: ir.Type) -> bool:
    return _is(ir.IntegerType, t) or _is(ir.FloatType, t)


def _flags(op: ir.Operation, new: str) -> dict:
    attrs = {}
    a = op.attributes
    if "overflowFlags" in a and new in ("arith.addi", "arith.subi", "arith.muli", "arith.shli"):
        text = str(a["overflowFlags"])
        if "none" not in text:
            attrs["overflowFlags"] = ir.Attribute.parse(text.replace("#llvm.", "#arith."))
    if "fastmathFlags" in a:
        text = str(a["fastmathFlags"])
        if "none" not in text:
            attrs["fastmath"] = ir.Attribute.parse(text.replace("#llvm.", "#arith."))
    if "predicate" in a:
        attrs["predicate"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64),
                                                ir.IntegerAttr(a["predicate"]).value)
    for k in KEEP:
        if k in a:
            attrs[k] = a[k]
    return attrs


def convert_op(op: ir.Operation) -> bool:
    """Replaces op by its arith/math twin; False when it has none."""
    if op.name == "llvm.mlir.constant":
        return _constant(op)
    new = SAME.get(op.name)
    if new is None or len(op.results) != 1:
        return False
    if not all(_scalar(v.type) for v in list(op.operands) + [op.results[0]]):
        return False
    with ir.InsertionPoint(op), op.location:
        twin = ir.Operation.create(new, results=[op.results[0].type], operands=list(op.operands),
                                   attributes=_flags(op, new))
    op.results[0].replace_all_uses_with(twin.results[0])
    op.erase()
    return True


def pure_calls(blocks) -> None:
    """`llvm.call @tanhf(%x)` and the other PURE_CALLS, one float of the
    function's own width in and out, become their intrinsic."""
    from .poly import callee
    for b in blocks:
        for op in list(b.operations):
            op = op.operation
            if op.name != "llvm.call" or len(op.operands) != 1 or len(op.results) != 1:
                continue
            intr, width = PURE_CALLS.get(callee(op), (None, 0))
            t = op.results[0].type
            if intr is None or op.operands[0].type != t or not _is(ir.FloatType, t) or ir.FloatType(t).width != width:
                continue
            attrs = {"fastmathFlags": op.attributes["fastmathFlags"]} if "fastmathFlags" in op.attributes else {}
            with ir.InsertionPoint(op), op.location:
                twin = ir.Operation.create(intr, results=[t], operands=[op.operands[0]], attributes=attrs)
            op.results[0].replace_all_uses_with(twin.results[0])
            op.erase()


def _constant(op: ir.Operation) -> bool:
    t = op.results[0].type
    v = op.attributes["value"]
    if not _scalar(t) or not (_is(ir.IntegerAttr, v) or _is(ir.FloatAttr, v)):
        return False
    with ir.InsertionPoint(op), op.location:
        twin = ir.Operation.create("arith.constant", results=[t], attributes={"value": v})
    op.results[0].replace_all_uses_with(twin.results[0])
    op.erase()
    return True


def convert_blocks(blocks) -> None:
    for b in blocks:
        for op in list(b.operations):
            convert_op(op.operation)
