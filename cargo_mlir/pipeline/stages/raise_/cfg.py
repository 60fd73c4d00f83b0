"""Control-flow facts about one function body in CFG form: blocks, dominators,
natural loops and their counting induction variables.

rustc's loops (FINDINGS "rustc IR shapes") are rotated: a header block whose
arguments carry the induction variable, one latch that increments it by one
and leaves with `icmp eq next, ub` (or keeps going with `icmp ult next, ub`),
and a guard in front that skips the loop when it would run zero times."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlir import ir


def terminator(block: ir.Block) -> ir.Operation:
    ops = block.operations
    return ops[len(ops) - 1].operation


def successors(block: ir.Block) -> list[ir.Block]:
    return list(terminator(block).successors)


def branch_args(term: ir.Operation, succ_index: int) -> list[ir.Value]:
    """The operands a `cf.br`/`cf.cond_br` passes to its successor `succ_index`."""
    ops = list(term.operands)
    if term.name == "cf.br":
        return ops
    sizes = list(ir.DenseI32ArrayAttr(term.attributes["operandSegmentSizes"]))
    start = 1 + (sizes[1] if succ_index == 1 else 0)
    return ops[start:start + sizes[1 + succ_index]]


def dominators(blocks: list[ir.Block]) -> dict[ir.Block, set[ir.Block]]:
    """Iterative dominator sets; kernels are small, so the simple algorithm does."""
    preds = {b: [] for b in blocks}
    for b in blocks:
        for s in successors(b):
            if s in preds:
                preds[s].append(b)
    every = set(blocks)
    dom = {b: set(every) for b in blocks}
    dom[blocks[0]] = {blocks[0]}
    changed = True
    while changed:
        changed = False
        for b in blocks[1:]:
            ps = [dom[p] for p in preds[b]]
            new = (set.intersection(*ps) if ps else set()) | {b}
            if new != dom[b]:
                dom[b], changed = new, True
    return dom


@dataclass
class Loop:
    header: ir.Block
    latch: ir.Block
    blocks: set[ir.Block]
    parent: "Loop | None" = None
    iv: ir.Value | None = None          # the header argument counting by one
    start: ir.Value | None = None       # its value on entry
    ub: ir.Value | None = None          # the exit compare's bound
    exit_kind: str = ""                 # "eq": leaves at next == ub; "ult": runs while next < ub
    derived: dict = field(default_factory=dict)  # header arg -> (init, step) with step per iteration
    why_not: str = ""                   # why the loop has no counting form
    entry: ir.Block | None = None       # the one block outside that branches to the header
    guarded: bool = False               # a dominating test proves start < ub on entry


def natural_loops(blocks: list[ir.Block], dom) -> list[Loop]:
    """One loop per back edge `latch -> header` (header dominates latch)."""
    preds = {b: [] for b in blocks}
    for b in blocks:
        for s in successors(b):
            if s in preds:
                preds[s].append(b)
    loops = []
    for b in blocks:
        for s in successors(b):
            if s in dom[b]:
                body, work = {s, b}, ([b] if b != s else [])   # never walk above the header
                while work:
                    for p in preds[work.pop()]:
                        if p not in body:
                            body.add(p)
                            work.append(p)
                loops.append(Loop(header=s, latch=b, blocks=body))
    for lp in loops:   # the innermost enclosing loop is the smallest superset
        outer = [o for o in loops if o is not lp and lp.blocks < o.blocks]
        lp.parent = min(outer, key=lambda o: len(o.blocks)) if outer else None
    return loops


def _arg_index(block: ir.Block, value: ir.Value) -> int | None:
    for i, a in enumerate(block.arguments):
        if a == value:
            return i
    return None


def find_induction(loop: Loop, is_invariant, step_of) -> None:
    """Fills loop.iv/start/ub/exit_kind from the latch's exit test, and
    loop.derived from the other header arguments (`step_of(arg, next)` gives
    the per-iteration increment of a derived variable or None)."""
    term = terminator(loop.latch)
    entries = [p for p in loop.header.predecessors if p not in loop.blocks]
    if term.name != "cf.cond_br" or len(entries) != 1:
        loop.why_not = "loop has no single entry and counting latch"
        return
    loop.entry = entries[0]
    back = 0 if list(term.successors)[0] == loop.header else 1
    nexts = branch_args(term, back)
    inits = branch_args(terminator(entries[0]),
                        [i for i, s in enumerate(successors(entries[0])) if s == loop.header][0])
    cmp = term.operands[0].owner
    if not isinstance(cmp, ir.OpView) or cmp.operation.name != "llvm.icmp":
        loop.why_not = "loop exit is not an integer compare"
        return
    pred = ir.IntegerAttr(cmp.operation.attributes["predicate"]).value
    nxt, ub = cmp.operation.operands[0], cmp.operation.operands[1]
    if pred in (0, 1) and nxt not in nexts:      # `eq ub, next` reads the same
        nxt, ub = ub, nxt
    # (predicate, which successor loops) -> how the loop ends; 0 eq, 1 ne, 6 ult, 9 uge
    kind = {(0, 1): "eq", (1, 0): "eq", (6, 0): "ult", (9, 1): "ult"}.get((pred, back))
    for i, arg in enumerate(loop.header.arguments):
        n = nexts[i]
        if n == nxt and kind and is_invariant(ub, loop) and step_of(arg, n) == {(): 1}:
            loop.iv, loop.start, loop.ub = arg, inits[i], ub
            loop.exit_kind = kind
    if loop.iv is None:
        loop.why_not = "no induction variable counting to a loop-invariant bound"
        return
    for i, arg in enumerate(loop.header.arguments):
        if arg != loop.iv:
            step = step_of(arg, nexts[i])
            if step is not None:
                loop.derived[arg] = (inits[i], step)
