"""Readable text for preconditions: `%arg3`, `len(%arg3)` is not recoverable
without debug info, so arguments keep their position; thread ids read
`gpu_global_id_x()`."""

from __future__ import annotations

from mlir import ir

from .poly import HOOK_PREFIX, Analysis, Poly, callee, op_of

SHORT = {"llvm.add": "+", "llvm.sub": "-", "llvm.mul": "*", "llvm.udiv": "/", "llvm.urem": "%",
         "llvm.and": "&", "llvm.or": "|", "llvm.xor": "^", "llvm.shl": "<<", "llvm.lshr": ">>"}
ICMP = ["==", "!=", "<s", "<=s", ">s", ">=s", "<", "<=", ">", ">="]


class Names:
    def __init__(self, an: Analysis, entry_args: list[ir.Value]):
        self.an = an
        self.args = {a: f"arg{i}" for i, a in enumerate(entry_args)}

    def expr(self, v: ir.Value, depth: int = 0) -> str:
        if v in self.args:
            return self.args[v]
        op = op_of(v)
        if op is None or depth > 4:
            return "…"
        if op.name == "llvm.mlir.constant":
            return str(op.attributes["value"]).split(" :")[0]
        if op.name == "llvm.call":
            return callee(op).removeprefix(HOOK_PREFIX.removesuffix("gpu_")) + "()"
        sub = [self.expr(o, depth + 1) for o in op.operands]
        if op.name in SHORT and len(sub) == 2:
            return f"({sub[0]} {SHORT[op.name]} {sub[1]})"
        if op.name == "llvm.icmp":
            return f"{sub[0]} {ICMP[ir.IntegerAttr(op.attributes['predicate']).value]} {sub[1]}"
        return f"{op.name.split('.')[-1]}({', '.join(sub)})"

    def poly(self, p: Poly) -> str:
        if not p:
            return "0"
        terms = []
        for m, c in sorted(p.items(), key=lambda mc: (-len(mc[0]), mc[0])):
            factors = [self.expr(self.an.atoms[a]) if self.an.atoms[a] not in self.an.iv_loop
                       else f"i{a}" for a in m]
            body = "*".join(factors)
            terms.append(f"{c}" if not m else body if c == 1 else f"{c}*{body}")
        return " + ".join(terms).replace("+ -", "- ")

    def over(self, p: Poly) -> str:
        ivs = sorted({a for m in p for a in m if self.an.is_iv_atom(a)})
        return f" for all i{', i'.join(map(str, ivs))} in their loops" if ivs else ""

    def ineq(self, x: Poly, y: Poly, strict: bool) -> str:
        return f"{self.poly(x)} {'<' if strict else '<='} {self.poly(y)}{self.over(x)}"

    def range2d(self, y: Poly, ld: int) -> str:
        return f"0 <= {self.poly(y)} < {self.expr(self.an.atoms[ld])} (2-D view)"

    def row2d(self, x: Poly) -> str:
        return f"0 <= {self.poly(x)} (2-D view row)"

    def over_box(self, box, *polys: Poly) -> str:
        """" for gpu_global_id_x() in [1, arg0 - 2]" for the guarded ids the polys use."""
        used = sorted({a for p in polys for m in p for a in m if a in box})
        ranges = [f"{self.expr(self.an.atoms[a])} in [{self.poly(box[a][0])}, {self.poly(box[a][1])}]"
                  for a in used]
        return f" for {', '.join(ranges)}" if ranges else ""
