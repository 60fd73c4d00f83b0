"""Integer values as polynomials over atoms (FINDINGS: indices are
`add(mul(iv, arg), iv2)`, pointers are GEP chains from an argument).

An atom is an induction variable or a *symbol*: a value the entry block can
recompute (arguments, constants, `cargo_mlir_gpu_*` ids, pure ops of those).
Pointers are polynomials too: their base pointer is an atom with coefficient
one and the rest is a byte offset. Arithmetic is exact here; rustc's i64 ops
wrap, but wrapping is a ring map mod 2^64, so an exact value proved to lie in
[0, len) is also what the wrapped code computes."""

from __future__ import annotations


from mlir import ir

HOOK_PREFIX = "cargo_mlir_gpu_"
# Side-effect-free llvm ops whose results may be recomputed at the entry.
PURE = {
    "llvm.mlir.constant", "llvm.add", "llvm.sub", "llvm.mul", "llvm.udiv", "llvm.sdiv",
    "llvm.urem", "llvm.srem", "llvm.and", "llvm.or", "llvm.xor", "llvm.shl", "llvm.lshr",
    "llvm.ashr", "llvm.zext", "llvm.sext", "llvm.trunc", "llvm.select", "llvm.icmp",
    "llvm.intr.umin", "llvm.intr.umax", "llvm.intr.smin", "llvm.intr.smax", "llvm.freeze",
}
SIZES = {"f32": 4, "f64": 8, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "!llvm.ptr": 8, "f16": 2, "bf16": 2}


class Poly(dict):
    """{monomial: coefficient}; a monomial is a sorted tuple of atom ids."""

    @staticmethod
    def const(c: int) -> "Poly":
        return Poly({(): c}) if c else Poly()

    def __add__(self, o):
        r = Poly(self)
        for m, c in o.items():
            r[m] = r.get(m, 0) + c
            if r[m] == 0:
                del r[m]
        return r

    def scale(self, k: int) -> "Poly":
        return Poly({m: c * k for m, c in self.items()}) if k else Poly()

    def __sub__(self, o):
        return self + o.scale(-1)

    def __mul__(self, o):
        r = Poly()
        for m1, c1 in self.items():
            for m2, c2 in o.items():
                r = r + Poly({tuple(sorted(m1 + m2)): c1 * c2})
        return r

    def constant(self) -> int | None:
        return self.get((), 0) if all(m == () for m in self) else None


def op_of(v: ir.Value):
    """The defining operation of a value, or None for a block argument."""
    owner = v.owner
    return owner.operation if isinstance(owner, ir.OpView) else None


def callee(op: ir.Operation) -> str:
    a = op.attributes["callee"] if "callee" in op.attributes else None
    return ir.FlatSymbolRefAttr(a).value if a is not None else ""


def int_const(op) -> int | None:
    if op is not None and op.name == "llvm.mlir.constant":
        a = op.attributes["value"]
        try:
            return ir.IntegerAttr(a).value
        except ValueError:     # float or aggregate constants
            return None
    return None


class Analysis:
    """Maps values of one function body to polynomials; None means opaque."""

    def __init__(self, entry_args, entry_block=None):
        self.entry_args = set(entry_args)
        self.entry_block = entry_block
        self.atoms: list[ir.Value] = []
        self.atom_id: dict[ir.Value, int] = {}
        self.iv_loop = {}           # induction value -> Loop
        self.derived = {}           # header arg -> (Loop, init, step Poly)
        self.memo: dict[ir.Value, Poly | None] = {}
        self.sym_memo: dict[ir.Value, bool] = {}
        # pointers to function-local heap buffers (memory.local_buffers): bases of
        # accesses like argument pointers, but defined in the body, not at the entry
        self.local_bases: dict[ir.Value, ir.Operation] = {}
        self.local_allocs: list = []        # memory.LocalAlloc

    def atom(self, v: ir.Value) -> Poly:
        if v not in self.atom_id:
            self.atom_id[v] = len(self.atoms)
            self.atoms.append(v)
        return Poly({(self.atom_id[v],): 1})

    def is_symbol(self, v: ir.Value) -> bool:
        if v not in self.sym_memo:
            self.sym_memo[v] = False     # cycles through block args are not symbols
            op = op_of(v)
            if op is None:
                self.sym_memo[v] = v in self.entry_args
            elif op.name == "llvm.load":
                self.sym_memo[v] = self._entry_load(op)
            elif op.name == "llvm.call":
                self.sym_memo[v] = callee(op).startswith(HOOK_PREFIX) and len(op.operands) == 0
            else:
                self.sym_memo[v] = op.name in PURE and all(self.is_symbol(o) for o in op.operands)
        return self.sym_memo[v]

    def _entry_load(self, op) -> bool:
        """A plain load in the entry block with nothing before it that writes
        memory: the precondition block may read the same value first (a bound
        read from memory before the loop)."""
        if op.block != self.entry_block or "volatile_" in op.attributes or \
                ("ordering" in op.attributes and ir.IntegerAttr(op.attributes["ordering"]).value != 0):
            return False
        for o in self.entry_block.operations:
            o = o.operation
            if o == op:
                return self.is_symbol(op.operands[0])
            if o.name in ("llvm.store", "llvm.call") or o.name.startswith(("llvm.intr.mem", "llvm.atomic")):
                return False
        return False

    def is_iv_atom(self, aid: int) -> bool:
        return self.atoms[aid] in self.iv_loop

    def poly(self, v: ir.Value) -> Poly | None:
        if v not in self.memo:
            self.memo[v] = None          # guards against cycles through header args
            self.memo[v] = self._poly(v)
        return self.memo[v]

    def _poly(self, v):
        if v in self.iv_loop or v in self.local_bases:
            return self.atom(v)
        if v in self.derived:
            loop, init, step = self.derived[v]
            p0, ps = self.poly(init), self.poly(loop.start)
            if p0 is None or ps is None:
                return None
            return p0 + step * (self.atom(loop.iv) - ps)
        op = op_of(v)
        c = int_const(op)
        if c is not None:
            return Poly.const(c)
        if op is not None and op.name == "llvm.freeze":
            # freeze(x) is x when x is not poison, and an index the fast path uses
            # is in range (its preconditions say so), so never poison there
            return self.poly(op.operands[0])
        if op is not None and op.name in ("llvm.add", "llvm.sub", "llvm.mul", "llvm.shl") \
                and str(v.type) == "i64":
            return self._binary(op)
        if op is not None and op.name == "llvm.getelementptr":
            return self._gep(op)
        return self.atom(v) if self.is_symbol(v) else None

    def _binary(self, op):
        a, b = (self.poly(x) for x in op.operands)
        if a is None or b is None:
            return None
        if op.name == "llvm.add":
            return a + b
        if op.name == "llvm.sub":
            return a - b
        if op.name == "llvm.mul":
            return a * b
        k = b.constant()
        return a.scale(1 << k) if k is not None and 0 <= k < 63 else None

    def _gep(self, op):
        """Byte offset of a GEP: only the one-index form `base[idx]` of a scalar element."""
        raw = list(ir.DenseI32ArrayAttr(op.attributes["rawConstantIndices"]))
        size = SIZES.get(str(ir.TypeAttr(op.attributes["elem_type"]).value))
        base = self.poly(op.operands[0])
        if len(raw) != 1 or size is None or base is None:
            return None
        idx = self.poly(op.operands[1]) if raw[0] == -2147483648 else Poly.const(raw[0])
        return None if idx is None else base + idx.scale(size)

    def split_address(self, p: Poly):
        """(base pointer value, byte offset poly) or None."""
        bases = [m for m in p if len(m) == 1 and str(self.atoms[m[0]].type) == "!llvm.ptr"]
        if len(bases) != 1 or p[bases[0]] != 1:
            return None
        rest = Poly(p)
        del rest[bases[0]]
        if any(str(self.atoms[a].type) == "!llvm.ptr" for m in rest for a in m):
            return None
        return self.atoms[bases[0][0]], rest

    def iv_degree(self, p: Poly) -> int:
        """Highest number of induction-variable factors in one monomial."""
        return max((sum(1 for a in m if self.is_iv_atom(a)) for m in p), default=0)


def monomials_by_iv(an: Analysis, p: Poly):
    """Yields (coefficient, symbol atom ids, iv atom id or None) per monomial."""
    for m, c in p.items():
        ivs = [a for a in m if an.is_iv_atom(a)]
        yield c, [a for a in m if not an.is_iv_atom(a)], (ivs[0] if ivs else None)


def group_terms(p: Poly, atom_id: int) -> tuple[Poly, Poly]:
    """Splits p = atom * x + y (y free of `atom` in degree one)."""
    x, y = Poly(), Poly()
    for m, c in p.items():
        if atom_id in m:
            rest = list(m)
            rest.remove(atom_id)
            x = x + Poly({tuple(rest): c})
        else:
            y = y + Poly({m: c})
    return x, y


