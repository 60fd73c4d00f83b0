"""Emits integer code for polynomials and their bounds.

Precondition code runs in the precondition block before anything else, so
symbols are recomputed there (pure ops cloned, divisions made safe: their own
zero check is a precondition too, ANDed in, so a dummy divisor is harmless).
Bounds are computed in i128: with atoms below 2^40, degree at most two and
small coefficients nothing overflows, and exact values are what the proofs
in poly.py need."""

from __future__ import annotations

from contextlib import contextmanager

from mlir import ir
from mlir.dialects import arith

from .box import box_key
from .poly import Analysis, Poly, monomials_by_iv, op_of

DIVS = ("llvm.udiv", "llvm.sdiv", "llvm.urem", "llvm.srem")
ATOM_LIMIT = 1 << 40
POISON_FLAGS = ("overflowFlags", "isExact", "nonNeg", "isDisjoint", "samesign")


class Unbounded(Exception):
    """A bound that this module cannot compute (the reason is the message)."""


class Emitter:
    """Emits at the end of `block` (before its terminator when it has one)."""

    def __init__(self, an: Analysis, ip: ir.InsertionPoint, arg_map: dict, wide_bits=128):
        self.an, self._ip, self.arg_map = an, ip, arg_map
        self.wt = ir.IntegerType.get_signless(wide_bits)
        self.cloned: dict = {}
        self.widened: dict = {}
        self.atom_checks: set[int] = set()   # atoms that need the < 2^40 precondition
        self.ivb: dict = {}                  # iv atom -> (lo, hi) emitted values
        self.memo: dict = {}                 # identical requests give the same value
        self.box: dict = {}                  # id atom -> (lo, hi) Polys while boxed()
        self._box_key: tuple = ()

    def ip(self):
        return self._ip

    def sym(self, v: ir.Value) -> ir.Value:
        """The value of symbol v, recomputed in this block."""
        if v in self.arg_map:
            return self.arg_map[v]
        if v not in self.cloned:
            op = op_of(v)
            with self.ip(), ir.Location.unknown():
                ops = [self.sym(o) for o in op.operands]
                if op.name in DIVS:
                    ops[1] = self._safe_divisor(ops[1])
                new = op.clone(ip=self.ip())
                for flag in POISON_FLAGS:   # recomputed on any path: no promises that make poison
                    if flag in new.attributes:
                        del new.attributes[flag]
                for i, o in enumerate(ops):
                    new.operands[i] = o
            for r, nr in zip(op.results, new.results):
                self.cloned[r] = nr
        return self.cloned[v]

    def _safe_divisor(self, d: ir.Value) -> ir.Value:
        one = arith.ConstantOp(d.type, 1).result
        zero = arith.ConstantOp(d.type, 0).result
        isz = arith.CmpIOp(arith.CmpIPredicate.eq, d, zero).result
        return arith.SelectOp(isz, one, d).result

    def _once(self, key, make):
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    def c(self, k: int) -> ir.Value:
        def make():
            with self.ip(), ir.Location.unknown():
                # the builder takes k as a 64-bit value and zero-extends it: parse instead
                return arith.ConstantOp(self.wt, ir.IntegerAttr.parse(f"{k} : {self.wt}")).result
        return self._once(("c", k), make)

    def wide(self, v: ir.Value) -> ir.Value:
        if v not in self.widened:
            s = self.sym(v)
            with self.ip(), ir.Location.unknown():
                self.widened[v] = arith.ExtUIOp(self.wt, s).result
        return self.widened[v]

    def binop(self, cls, a, b):
        def make():
            with self.ip(), ir.Location.unknown():
                return cls(a, b).result
        return self._once(("op", cls, a, b), make)

    def value(self, p: Poly) -> ir.Value:
        """The exact value of a polynomial over symbols."""
        return self._once(("value", _key(p)), lambda: self._value(p))

    def _value(self, p: Poly) -> ir.Value:
        total = self.c(0)
        for c, syms, iv in monomials_by_iv(self.an, p):
            if iv is not None:
                raise Unbounded("index not affine")
            total = self.binop(arith.AddIOp, total, self._term(c, syms, None))
        return total

    def _term(self, c: int, syms: list[int], factor) -> ir.Value:
        if abs(c) >= 1 << 16 or len(syms) + (factor is not None) > 2:
            raise Unbounded("index not affine")
        t = self.c(c)
        for a in syms:
            self.atom_checks.add(a)
            t = self.binop(arith.MulIOp, t, self.wide(self.an.atoms[a]))
        return self.binop(arith.MulIOp, t, factor) if factor is not None else t

    def bound(self, p: Poly, upper: bool) -> ir.Value:
        """max (upper) or min of p over the iteration box of its induction variables
        (and of the ids in self.box, see box.py)."""
        return self._once(("bound", _key(p), upper, self._box_key),
                          lambda: self._bound(p, upper))

    @contextmanager
    def boxed(self, box: dict):
        """Bounds inside treat the ids of box like induction variables."""
        saved = self.box, self._box_key
        self.box, self._box_key = box, box_key(box)
        try:
            yield self
        finally:
            self.box, self._box_key = saved

    def _bound(self, p: Poly, upper: bool) -> ir.Value:
        if self.an.iv_degree(p) > 1:
            raise Unbounded("index not affine")
        total = self.c(0)
        for c, syms, iv in monomials_by_iv(self.an, p):
            factor = None
            boxed = [a for a in syms if a in self.box]
            if len(boxed) + (iv is not None) > 1:
                raise Unbounded("index not affine in the ids")
            if iv is not None:
                lo, hi = self.iv_bounds(iv)
                factor = hi if (c > 0) == upper else lo
            elif boxed:
                syms = [a for a in syms if a != boxed[0]]
                lo, hi = self.box[boxed[0]]
                factor = self.value(hi if (c > 0) == upper else lo)
            total = self.binop(arith.AddIOp, total, self._term(c, syms, factor))
        return total

    def iv_bounds(self, aid: int):
        """(lo, hi) of an induction variable: [start, ub-1] behind rustc's guard
        ("eq" exits) and in top-tested loops from 0 ("top"), [start, max(start, ub-1)]
        for do-while "ult" exits."""
        if aid not in self.ivb:
            loop = self.an.iv_loop[self.an.atoms[aid]]
            ps, pu = self.an.poly(loop.start), self.an.poly(loop.ub)
            if ps is None or pu is None or self.an.iv_degree(ps) or self.an.iv_degree(pu):
                raise Unbounded("loop bounds depend on other loops or on data")
            if loop.exit_kind == "eq" and not loop.guarded:
                raise Unbounded("loop is not guarded against zero trips")
            lo, hi = self.value(ps), self.value(pu - Poly.const(1))
            if loop.exit_kind == "ult":
                hi = self.binop(arith.MaxSIOp, lo, hi)
            self.ivb[aid] = (lo, hi)
        return self.ivb[aid]

    def cmp(self, pred, a, b) -> ir.Value:
        def make():
            with self.ip(), ir.Location.unknown():
                return arith.CmpIOp(pred, a, b).result
        return self._once(("cmp", int(pred), a, b), make)

    def all_of(self, conds: list[ir.Value]) -> ir.Value:
        """The conjunction, each distinct condition once."""
        conds = tuple(dict.fromkeys(conds))
        return self._once(("all", conds), lambda: self._all_of(conds))

    def _all_of(self, conds) -> ir.Value:
        with self.ip(), ir.Location.unknown():
            if not conds:
                return arith.ConstantOp(ir.IntegerType.get_signless(1), 1).result
            ok = conds[0]
            for c in conds[1:]:
                ok = arith.AndIOp(ok, c).result
            return ok

    def atom_limits(self) -> list[tuple[int, ir.Value]]:
        """The `atom < 2^40` conditions the i128 arithmetic relies on."""
        return [(a, self.cmp(arith.CmpIPredicate.ult, self.wide(self.an.atoms[a]), self.c(ATOM_LIMIT)))
                for a in sorted(self.atom_checks)]


def _key(p: Poly):
    return tuple(sorted(p.items()))
