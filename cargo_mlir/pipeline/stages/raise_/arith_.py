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
}
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
