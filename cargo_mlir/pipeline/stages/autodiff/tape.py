"""Small llvm-dialect builders (at the current InsertionPoint) and the tape of
reverse mode.

The tape is a LIFO stack of 8-byte slots: the forward sweep pushes, at the
end of each straight-line stretch of a block, the values the reverse sweep of
that stretch will need; the reverse sweep pops them back in the opposite
order. Every generated function keeps the tape's `base`, `top` and `cap` in
local allocas (mem2reg turns them into registers) and hands them to the
functions it calls through a small state struct `{ptr base, i64 top, i64 cap}`.

- `heap` tapes grow with `realloc` and live in a thread-local global per
  derivative (`{ptr, i64 cap}`), so a second call reuses the first call's buffer.
- `stack` tapes (device code, where there is no allocator) are an alloca of
  the derivative: exactly as many slots as the longest path needs when no
  function involved has a loop, else `STACK_SLOTS` slots and a check before
  every push that traps on overflow.
"""

from __future__ import annotations

from mlir import ir
from mlir.dialects import llvm

# A `stack` tape of a derivative with loops holds at most this many 8-byte
# slots (16 KiB); pushing past it executes `llvm.trap`.
STACK_SLOTS = 2048
_GROW_MIN = 1024
_DYNAMIC = -2147483648          # GEP rawConstantIndices: a dynamic index


def i64():
    return ir.IntegerType.get_signless(64)


def i32():
    return ir.IntegerType.get_signless(32)


def ptr():
    return ir.Type.parse("!llvm.ptr")


def state_type():
    return ir.Type.parse("!llvm.struct<(ptr, i64, i64)>")


def cint(ty, x: int):
    return llvm.mlir_constant(ir.IntegerAttr.get(ty, x))


def cfloat(ty, x: float):
    return llvm.mlir_constant(ir.FloatAttr.get(ty, x))


def add(a, b):
    return llvm.add(a, b, llvm.IntegerOverflowFlags.none)


def sub(a, b):
    return llvm.sub(a, b, llvm.IntegerOverflowFlags.none)


def mul(a, b):
    return llvm.mul(a, b, llvm.IntegerOverflowFlags.none)


_ICMP = {"eq": 0, "ne": 1, "ult": 6, "ule": 7, "ugt": 8}


def icmp(pred: str, a, b):
    return llvm.icmp(ir.IntegerAttr.get(i64(), _ICMP[pred]), a, b)


def gep(base, index, elem):
    """`base[index]` in units of `elem` (no inbounds: shadow and tape arithmetic)."""
    return llvm.GEPOp(ptr(), base, [index], ir.DenseI32ArrayAttr.get([_DYNAMIC]), ir.TypeAttr.get(elem),
                      None).result


def field(base, k: int, struct):
    return llvm.GEPOp(ptr(), base, [], ir.DenseI32ArrayAttr.get([0, k]), ir.TypeAttr.get(struct), None).result


def size_of(elem, count):
    """The byte size of `count` values of `elem` (folded by LLVM)."""
    null = llvm.mlir_zero(ptr())
    return llvm.ptrtoint(i64(), gep(null, count, elem))


def load(ty, p):
    return llvm.load(ty, p)


def store(v, p):
    llvm.store(v, p)


def call(name: str, args: list, ret=None):
    r = llvm.call(ret, list(args), [], [], callee=ir.FlatSymbolRefAttr.get(name))
    return r if ret is not None else None


def br(dest, args=()):
    llvm.br(list(args), dest)


def cond_br(c, t, f, targs=(), fargs=()):
    llvm.cond_br(c, list(targs), list(fargs), t, f)


def switch(value, default, cases: list, dargs=(), cargs=None, values=None):
    """`cases`: destinations for the case values `values` (default 1, 2, …)."""
    values = values if values is not None else list(range(1, len(cases) + 1))
    cargs = cargs if cargs is not None else [[] for _ in cases]
    ty = value.type
    attr = ir.Attribute.parse(f"dense<[{', '.join(map(str, values))}]> : vector<{len(values)}x{ty}>")
    llvm.SwitchOp(value, list(dargs), [a for args in cargs for a in args],
                  ir.DenseI32ArrayAttr.get([len(a) for a in cargs]), default, list(cases), case_values=attr)


def memset0(p, n):
    llvm.intr_memset(p, cint(ir.IntegerType.get_signless(8), 0), n, False)


class Tape:
    """The tape as one generated function sees it: allocas `base`, `top`,
    `cap` in the function's entry block `pre` (before its terminator)."""

    def __init__(self, gen, pre, mode: str, checked: bool):
        self.gen, self.mode, self.checked = gen, mode, checked
        with ir.InsertionPoint.at_block_terminator(pre):
            one = cint(i32(), 1)
            self.base = llvm.alloca(ptr(), one, ir.TypeAttr.get(ptr()))
            self.top = llvm.alloca(ptr(), one, ir.TypeAttr.get(i64()))
            self.cap = llvm.alloca(ptr(), one, ir.TypeAttr.get(i64()))
        self.pre = pre

    # ------------------------------------------------ set-up and hand-over
    def init_global(self, symbol: str) -> None:
        """Heap tape of the derivative itself: the thread-local buffer, top 0."""
        with ir.InsertionPoint.at_block_terminator(self.pre):
            g = self.global_addr(symbol)
            glob = ir.Type.parse("!llvm.struct<(ptr, i64)>")
            store(load(ptr(), field(g, 0, glob)), self.base)
            store(load(i64(), field(g, 1, glob)), self.cap)
            store(cint(i64(), 0), self.top)

    def save_global(self, symbol: str) -> None:
        glob = ir.Type.parse("!llvm.struct<(ptr, i64)>")
        g = self.global_addr(symbol)
        store(load(ptr(), self.base), field(g, 0, glob))
        store(load(i64(), self.cap), field(g, 1, glob))

    @staticmethod
    def global_addr(symbol: str):
        return llvm.intr_threadlocal_address(ptr(), llvm.mlir_addressof(ptr(), symbol))

    def init_stack(self, slots: int) -> None:
        """Stack tape of the derivative itself: an alloca of `slots` slots."""
        with ir.InsertionPoint.at_block_terminator(self.pre):
            buf = llvm.alloca(ptr(), cint(i64(), max(slots, 1)), ir.TypeAttr.get(i64()), alignment=16)
            store(buf, self.base)
            store(cint(i64(), slots), self.cap)
            store(cint(i64(), 0), self.top)

    def to_state(self, st) -> None:
        s = state_type()
        for k, a, ty in ((0, self.base, ptr()), (1, self.top, i64()), (2, self.cap, i64())):
            store(load(ty, a), field(st, k, s))

    def from_state(self, st) -> None:
        s = state_type()
        for k, a, ty in ((0, self.base, ptr()), (1, self.top, i64()), (2, self.cap, i64())):
            store(load(ty, field(st, k, s)), a)

    # ------------------------------------------------ push and pop
    def push(self, values: list) -> None:
        """Push `values` at the generator's current block (which may change:
        the capacity check branches)."""
        if not values:
            return
        gen = self.gen
        with ir.InsertionPoint(gen.cur):
            top = load(i64(), self.top)
            need = add(top, cint(i64(), len(values)))
            if self.checked:
                ok = icmp("ule", need, load(i64(), self.cap))
                cont, grow = gen.new_block(), gen.new_block()
                cond_br(ok, cont, grow)
        if self.checked:
            with ir.InsertionPoint(grow):
                if self.mode == "heap":
                    cap = load(i64(), self.cap)
                    twice = add(cap, cap)
                    more = add(need, cint(i64(), _GROW_MIN))
                    new_cap = llvm.select(icmp("ugt", twice, more), twice, more)
                    nb = call("realloc", [load(ptr(), self.base), mul(new_cap, cint(i64(), 8))], ptr())
                    store(nb, self.base)
                    store(new_cap, self.cap)
                    failed, fine = gen.new_block(), gen.new_block()
                    cond_br(icmp("eq", llvm.ptrtoint(i64(), nb), cint(i64(), 0)), failed, fine)
                    with ir.InsertionPoint(failed):
                        llvm.intr_trap()
                        llvm.unreachable()
                    with ir.InsertionPoint(fine):
                        br(cont)
                else:
                    llvm.intr_trap()
                    llvm.unreachable()
            gen.cur = cont
        with ir.InsertionPoint(gen.cur):
            base = load(ptr(), self.base)
            for j, v in enumerate(values):
                at = top if j == 0 else add(top, cint(i64(), j))
                store(v, gep(base, at, i64()))
            store(need, self.top)

    def pop(self, types: list) -> list:
        if not types:
            return []
        with ir.InsertionPoint(self.gen.cur):
            top = sub(load(i64(), self.top), cint(i64(), len(types)))
            store(top, self.top)
            base = load(ptr(), self.base)
            out = []
            for j, ty in enumerate(types):
                at = top if j == 0 else add(top, cint(i64(), j))
                out.append(load(ty, gep(base, at, i64())))
            return out
