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
    """Fills loop.iv/start/ub/exit_kind from the loop's counting exit, and
    loop.derived from the other header arguments (`step_of(arg, next)` gives
    the per-iteration increment of a derived variable or None).

    The counting exit is rustc's rotated latch test on `next = iv + 1`, or
    (kind "top") a header test `iv == ub` that leaves before the body runs,
    as in loops with a `break`: other exits only end the loop earlier, so the
    body still runs with iv in [start, ub-1]."""
    term = terminator(loop.latch)
    entries = [p for p in loop.header.predecessors if p not in loop.blocks]
    if term.name not in ("cf.cond_br", "cf.br") or len(entries) != 1:
        loop.why_not = "loop has no single entry and counting latch"
        return
    loop.entry = entries[0]
    back = [i for i, s in enumerate(term.successors) if s == loop.header][0]
    nexts = branch_args(term, back)
    inits = branch_args(terminator(entries[0]),
                        [i for i, s in enumerate(successors(entries[0])) if s == loop.header][0])
    if term.name == "cf.cond_br" and _counting_latch(loop, term, back, nexts, inits, is_invariant, step_of):
        pass
    elif _top_test(loop, nexts, inits, is_invariant, step_of):
        pass
    else:
        loop.why_not = loop.why_not or "no induction variable counting to a loop-invariant bound"
        return
    for i, arg in enumerate(loop.header.arguments):
        if arg != loop.iv:
            step = step_of(arg, nexts[i])
            if step is not None:
                loop.derived[arg] = (inits[i], step)


def _icmp(v: ir.Value):
    owner = v.owner
    if not isinstance(owner, ir.OpView) or owner.operation.name != "llvm.icmp":
        return None
    o = owner.operation
    return ir.IntegerAttr(o.attributes["predicate"]).value, o.operands[0], o.operands[1]


def _counting_latch(loop, term, back, nexts, inits, is_invariant, step_of) -> bool:
    cmp = _icmp(term.operands[0])
    if cmp is None:
        loop.why_not = "loop exit is not an integer compare"
        return False
    pred, nxt, ub = cmp
    if pred in (0, 1) and nxt not in nexts:      # `eq ub, next` reads the same
        nxt, ub = ub, nxt
    # (predicate, which successor loops) -> how the loop ends; 0 eq, 1 ne, 6 ult, 9 uge
    kind = {(0, 1): "eq", (1, 0): "eq", (6, 0): "ult", (9, 1): "ult"}.get((pred, back))
    for i, arg in enumerate(loop.header.arguments):
        n = nexts[i]
        if n == nxt and kind and is_invariant(ub, loop) and step_of(arg, n) == {(): 1}:
            loop.iv, loop.start, loop.ub = arg, inits[i], ub
            loop.exit_kind = kind
    return loop.iv is not None


def _top_test(loop, nexts, inits, is_invariant, step_of) -> bool:
    """`^hdr(%iv): cond_br (%iv == %ub), ^out, ^body` with iv counting from 0."""
    t = terminator(loop.header)
    if t.name != "cf.cond_br":
        return False
    inside = [s in loop.blocks for s in t.successors]
    if inside.count(False) != 1:
        return False
    cmp = _icmp(t.operands[0])
    if cmp is None:
        return False
    pred, x, ub = cmp
    args = list(loop.header.arguments)
    if x not in args:
        x, ub = ub, x
    leaves = inside.index(False)
    if x not in args or not ((pred == 0 and leaves == 0) or (pred == 1 and leaves == 1)):
        return False
    i = args.index(x)
    c = inits[i].owner
    zero = isinstance(c, ir.OpView) and c.operation.name == "llvm.mlir.constant" and \
        str(c.operation.attributes["value"]).startswith("0 ")
    if not zero or not is_invariant(ub, loop) or step_of(x, nexts[i]) != {(): 1}:
        return False
    if any(o.operation.name in ("llvm.load", "llvm.store") for o in loop.header.operations):
        loop.why_not = "memory access before the loop test"
        return False
    loop.iv, loop.start, loop.ub, loop.exit_kind = x, inits[i], ub, "top"
    loop.why_not = ""
    return True
