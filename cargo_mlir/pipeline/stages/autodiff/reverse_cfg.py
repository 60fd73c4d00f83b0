"""The control-flow graph reverse mode works on: blocks reachable from the
entry, edges (predecessor, successor slot), the blocks that can reach a
return (*live*), cycles, dominators, and the simple loops whose iterations the
reverse sweep counts."""

from __future__ import annotations

from dataclasses import dataclass

from mlir import ir

from cargo_mlir.errors import CargoMlirError


def where(op) -> str:
    from cargo_mlir.pipeline.stages.raise_.rewrite import location
    return location(op.operation)


class ReverseError(CargoMlirError):
    pass


def fail(what: str, message: str, op=None) -> ReverseError:
    at = f" at {where(op)}" if op is not None else ""
    return ReverseError(f"{what}: reverse mode cannot differentiate {message}{at}",
                        hint="rewrite this part of the primal with operations cargo-mlir can differentiate "
                             "(docs/autodiff.md), or make the values involved `Const`")


def _i32s(attr) -> list[int]:
    return list(ir.DenseI32ArrayAttr(attr))


def successor_operands(term) -> list[list]:
    """The operands passed to each successor of a terminator, in successor order."""
    op = term.operation
    ops = list(op.operands)
    name = op.name
    if name == "llvm.br":
        return [ops]
    if name == "llvm.cond_br":
        _, nt, nf = _i32s(op.attributes["operandSegmentSizes"])
        return [ops[1:1 + nt], ops[1 + nt:1 + nt + nf]]
    if name == "llvm.switch":
        _, nd, _ = _i32s(op.attributes["operandSegmentSizes"])
        out, at = [ops[1:1 + nd]], 1 + nd
        for n in _i32s(op.attributes["case_operand_segments"]):
            out.append(ops[at:at + n])
            at += n
        return out
    return []


@dataclass(frozen=True)
class Loop:
    header: int
    entry: tuple[int, int]       # the edge (predecessor, successor slot) into the loop
    back: tuple[int, int]        # the back edge
    body: frozenset


class Cfg:
    """Blocks reachable from the entry, edges (predecessor, successor slot),
    live blocks (those that can reach a return), cycles and dominators."""

    def __init__(self, func, what: str):
        blocks = list(func.regions[0].blocks)
        index = {b: i for i, b in enumerate(blocks)}
        succ: list[list[int]] = []
        for b in blocks:
            term = b.operations[len(b.operations) - 1]
            name = term.operation.name
            if name not in ("llvm.br", "llvm.cond_br", "llvm.switch", "llvm.return", "llvm.unreachable"):
                raise fail(what, f"control flow through `{name}`", term)
            succ.append([index[s] for s in term.operation.successors])
        seen, stack = {0}, [0]
        while stack:
            for s in succ[stack.pop()]:
                if s not in seen:
                    seen.add(s)
                    stack.append(s)
        self.blocks = blocks
        self.index = index
        self.reachable = [i for i in range(len(blocks)) if i in seen]
        self.succ = succ
        self.terms = [b.operations[len(b.operations) - 1] for b in blocks]
        self.returns = [i for i in self.reachable if self.terms[i].operation.name == "llvm.return"]
        # edges into each block, from reachable predecessors: (pred, slot)
        self.edges: dict[int, list[tuple[int, int]]] = {i: [] for i in self.reachable}
        for p in self.reachable:
            for slot, s in enumerate(succ[p]):
                self.edges[s].append((p, slot))
        preds = {i: {p for p, _ in self.edges[i]} for i in self.reachable}
        live, stack = set(self.returns), list(self.returns)
        while stack:
            for p in preds[stack.pop()]:
                if p not in live:
                    live.add(p)
                    stack.append(p)
        self.live = live
        self.in_cycle = {i for i in self.reachable if self._on_cycle(i)}
        self._dominators()
        self._counted_loops()

    def _on_cycle(self, i: int) -> bool:
        seen, stack = set(), list(self.succ[i])
        while stack:
            b = stack.pop()
            if b == i:
                return True
            if b not in seen:
                seen.add(b)
                stack.extend(self.succ[b])
        return False

    def _dominators(self) -> None:
        order, seen = [], set()

        def visit(b):                       # iterative post-order
            stack = [(b, iter(self.succ[b]))]
            seen.add(b)
            while stack:
                node, it = stack[-1]
                nxt = next((s for s in it if s not in seen), None)
                if nxt is None:
                    order.append(node)
                    stack.pop()
                else:
                    seen.add(nxt)
                    stack.append((nxt, iter(self.succ[nxt])))
        visit(0)
        rpo = list(reversed(order))
        pos = {b: k for k, b in enumerate(rpo)}
        idom = {0: 0}

        def intersect(a, b):
            while a != b:
                while pos[a] > pos[b]:
                    a = idom[a]
                while pos[b] > pos[a]:
                    b = idom[b]
            return a
        changed = True
        while changed:
            changed = False
            for b in rpo[1:]:
                ps = [p for p, _ in self.edges[b] if p in idom]
                new = ps[0]
                for p in ps[1:]:
                    new = intersect(p, new)
                if idom.get(b) != new:
                    idom[b] = new
                    changed = True
        self.idom = idom
        self.rpo = rpo

    def _counted_loops(self) -> None:
        """Natural loops whose header has exactly one entry edge and one back
        edge: the reverse sweep counts their iterations instead of taping an
        edge id per iteration (`counted`: header -> Loop); `exits[(S, slot)]`
        and `ret_exits[S]`: the counted loops an edge (or a return) leaves,
        innermost first."""
        self.counted: dict[int, Loop] = {}
        for h in sorted(self.live):
            edges = self.edges[h]
            if len(edges) != 2:
                continue
            back = [e for e in edges if self.dominates(h, e[0])]
            entry = [e for e in edges if not self.dominates(h, e[0])]
            if len(back) != 1 or len(entry) != 1:
                continue
            body, stack = {h, back[0][0]}, [back[0][0]] if back[0][0] != h else []
            while stack:
                for p, _ in self.edges[stack.pop()]:
                    if p not in body:
                        body.add(p)
                        stack.append(p)
            if all(self.dominates(h, b) for b in body):
                self.counted[h] = Loop(h, entry[0], back[0], frozenset(body))
        inner_first = sorted(self.counted.values(), key=lambda lp: len(lp.body))
        self.exits: dict[tuple[int, int], list[int]] = {}
        for s in self.live:
            for slot, t in enumerate(self.succ[s]):
                if t in self.live:
                    self.exits[(s, slot)] = [lp.header for lp in inner_first if s in lp.body and t not in lp.body]
        self.ret_exits = {r: [lp.header for lp in inner_first if r in lp.body] for r in self.returns}

    def dominates(self, a: int, b: int) -> bool:
        while True:
            if a == b:
                return True
            if b == 0:
                return False
            b = self.idom[b]

    def once_before_exit(self, b: int) -> bool:
        """The block runs at most once per call and before every return, so its
        values can be read again by a reverse sweep in the same function."""
        return b not in self.in_cycle and all(self.dominates(b, r) for r in self.returns)

    def multi(self, b: int) -> bool:
        return len(self.edges.get(b, [])) > 1
