"""Ranges of the per-point gpu ids at a block, from the branches that dominate it.

A kernel runs once per grid point and guards its accesses itself
(`if i >= n || j >= n { return }`, `if j == 0 || j == n - 1 { … }`). A check
under such guards needs to hold only for the ids the guards let through, so
it can be proved over a box of ids, like over a loop's iteration box: its
precondition then mentions no id, is the same at every point, and the host's
optimiser computes it once per launch instead of once per point.

A range is (lo, hi), exact polynomials over symbols that do not vary per point.
Facts are read only where their exact meaning is certain: `id <u e` with e an
argument-like atom or a small constant gives hi = e - 1; `id != lo` and
`id != hi` (the compared value has the same polynomial) move that end inwards;
ids are unsigned, so lo starts at 0. If the guards admit no id at all, the
access does not run and whatever the bounds say is harmless."""

from __future__ import annotations

from mlir import ir

from .cfg import successors, terminator
from .guards import facts
from .poly import Analysis, Poly, callee, op_of

# hooks whose value differs between the points of one launch
VARYING = ("cargo_mlir_gpu_global_id_", "cargo_mlir_gpu_workitem_id_", "cargo_mlir_gpu_workgroup_id_")


def varies(an: Analysis, v: ir.Value, seen=None) -> bool:
    """Whether v depends on a per-point id."""
    seen = set() if seen is None else seen
    op = op_of(v)
    if op is None or v in seen:
        return False
    seen.add(v)
    if op.name == "llvm.call":
        return callee(op).startswith(VARYING)
    return any(varies(an, o, seen) for o in op.operands)


def varying_atoms(an: Analysis, *polys: Poly) -> set[int]:
    return {a for p in polys for m in p for a in m
            if not an.is_iv_atom(a) and varies(an, an.atoms[a])}


def _atom(p: Poly | None):
    if p is not None and len(p) == 1:
        (m, c), = p.items()
        if len(m) == 1 and c == 1:
            return m[0]
    return None


def _plain(an: Analysis, p: Poly | None) -> bool:
    """An exact unsigned value: a constant in [0, 2^63) or one atom that does not vary."""
    if p is None:
        return False
    k = p.constant()
    if k is not None:
        return 0 <= k < 1 << 63
    a = _atom(p)
    return a is not None and not an.is_iv_atom(a) and not varying_atoms(an, p)


def _edge_facts(dom, block: ir.Block):
    """Compares known to hold in block: those of the conditional edges that dominate it."""
    out = []
    for d in dom.get(block, ()):
        term = terminator(d)
        if term.name != "cf.cond_br":
            continue
        succ = successors(d)
        for i, s in enumerate(succ):
            if succ[1 - i] == s or s not in dom[block]:
                continue
            if all(s in dom.get(p, ()) for p in s.predecessors if p != d):
                out += facts(term.operands[0], i == 0)
    return out


def id_box(an: Analysis, dom, block: ir.Block) -> dict[int, tuple[Poly, Poly]]:
    """{varying atom: (lo, hi)} for the ids whose upper end the guards of block fix."""
    lo, hi, apart = {}, {}, []
    for p, x, y in _edge_facts(dom, block):
        px, py = an.poly(x), an.poly(y)
        if px is None or py is None:
            continue
        if p in (8, 9):                             # x > y reads y < x
            p, px, py = {8: 6, 9: 7}[p], py, px
        ax, ay = _atom(px), _atom(py)
        if p in (6, 7):
            if ax is not None and varying_atoms(an, px) and _plain(an, py):
                hi.setdefault(ax, py - Poly.const(1) if p == 6 else py)
            elif ay is not None and varying_atoms(an, py) and _plain(an, px):
                lo.setdefault(ay, px + Poly.const(1) if p == 6 else px)
        elif p == 1:
            for a, other in ((ax, py), (ay, px)):
                if a is not None and varying_atoms(an, Poly({(a,): 1})):
                    apart.append((a, other))
    box = {a: (lo.get(a, Poly()), h) for a, h in hi.items()}
    for _ in range(2):
        for a, other in apart:
            if a in box:
                l, h = box[a]
                if other == l:
                    l = l + Poly.const(1)
                if other == h:
                    h = h - Poly.const(1)
                box[a] = (l, h)
    return box


def box_key(box) -> tuple:
    return tuple(sorted((a, tuple(sorted(l.items())), tuple(sorted(h.items()))) for a, (l, h) in box.items()))


def covers(an: Analysis, box, *polys: Poly) -> bool:
    """Whether every per-point atom of the polynomials has a range in box."""
    v = varying_atoms(an, *polys)
    return bool(v) and v <= set(box)
