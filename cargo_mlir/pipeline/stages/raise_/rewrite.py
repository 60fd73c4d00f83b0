"""The steps of one raise, in order: copy, analyse, hoist the checks, make
memref views, convert arithmetic, structure the control flow. Everything
happens on a new function; the original is only renamed once the new one
verifies, and the new one is erased when any step gives up."""

from __future__ import annotations

import re

from mlir import ir
from mlir.dialects import cf, llvm, memref

from . import arith_, memory, structure
from .analyze import analyze, innermost
from .box import id_box
from .build import body_source, clone_body, find_func, new_shell, result_types, slow_call
from .cfg import terminator
from .checks import find_checks, precondition
from .emit import Emitter, Unbounded
from .names import Names
from .poly import HOOK_PREFIX, callee, op_of


# entries whose function-local heap buffers are raised (memory.local_buffers):
# accelerate functions, which run on the host
LOCAL_BUFFERS_IN = "__cargo_mlir_accel_"


def location(op: ir.Operation) -> str:
    """"src/lib.rs:14" from a debug location: the innermost frame in the user's
    own sources (the line in the function, not in core's iterators it inlined,
    and not the attribute line of the wrapper the function was inlined into).
    Textual positions of the .mlir itself do not count."""
    frames = _frames(op.location)
    user = [f for f in frames if not _LIBRARY.search(f[0])]
    found = (user or frames or [None])[0]
    return f"{found[0]}:{found[1]}" if found else "<function>"


# std's sources as rustc's debug info names them (`library/core/src/iter/range.rs`,
# or under /rustc/<hash>/), and registry crates'
_LIBRARY = re.compile(r"^/rustc/|(^|/)library/(core|std|alloc)/|/\.cargo/registry/")


def _frames(loc: ir.Location) -> list[tuple[str, int]]:
    """The .rs positions of a location, innermost (the callee of an inlined call) first."""
    if loc.is_a_callsite():
        return _frames(loc.callee) + _frames(loc.caller)
    if loc.is_a_fused():
        for inner in loc.locations:
            found = _frames(inner)
            if found:
                return found
        return []
    if loc.is_a_name():
        return _frames(loc.child_loc)
    if loc.is_a_file() and loc.filename.endswith(".rs"):
        return [(loc.filename, loc.start_line)]
    return []


def attempt(module: ir.Module, entry: str, report) -> None:
    src = find_func(module, entry)
    if src is None or src.operation.name != "llvm.func" or not len(src.regions[0].blocks):
        raise NotImplementedError("no llvm.func with a body of that name")
    region, fwd = body_source(module, src)
    results = result_types(region)
    f = new_shell(module, src, entry + ".raise", results)
    try:
        _build(module, src, f, region, fwd, results, report)
    except BaseException:
        f.operation.erase()
        raise


def _build(module, src, f, region, fwd, results, report):
    pre = f.entry_block
    bmap = clone_body(region, f.body, {})
    blocks = [bmap[b] for b in region.blocks]
    arith_.pure_calls(blocks)
    fast = blocks[0]
    outer_args = list(list(src.regions[0].blocks)[0].arguments)
    into = [fwd[a] for a in region.blocks[0].arguments] if fwd else outer_args
    pre_args = [pre.arguments[outer_args.index(v)] for v in into]
    an, loops, dom = analyze(blocks, local=report.function.startswith(LOCAL_BUFFERS_IN))
    structure.mark_latches(loops)
    names = Names(an, list(fast.arguments))
    em = Emitter(an, ir.InsertionPoint(pre), dict(zip(fast.arguments, pre_args)))
    notes = {id(lp): [] for lp in loops}
    boxes = _Boxes(an, dom)
    conds, hoisted, alloc_checks = _hoist(an, em, blocks, loops, notes, names, boxes)
    accs = _accesses(an, em, blocks, loops, notes, names, conds, report, boxes)
    _loop_notes(an, loops, notes, blocks, report)
    if any(not n.raised for n in report.loops):
        raise Unbounded("a loop cannot be raised")
    conds += [(c, f"{names.expr(an.atoms[a])} < 2^40") for a, c in em.atom_limits()]
    distinct: dict = {}
    for c, t in conds:                  # each distinct condition once (with its first text)
        distinct.setdefault(c, t)
    conds = list(distinct.items())
    slow_name = src.attributes["sym_name"].value + ".slow"
    made = _branch(pre, fast, pre_args, em, [c for c, _ in conds], slow_name, results, f, an.local_allocs)
    report.preconditions = [t for _, t in conds]
    if made:
        report.preconditions.append(f"{len(made)} local buffer{'s' if len(made) > 1 else ''} allocated")
    _drop_checks(hoisted + alloc_checks)
    memory.replace_rust_allocations(an.local_allocs, made, blocks, an, accs)
    report.fast_path_can_panic = _can_panic(blocks)
    _fast_path(an, blocks, fast, accs)
    _reuse_ids(pre, em, blocks)
    _commit(module, src, f, slow_name, report)


class _Boxes:
    """id_box per block, computed once."""

    def __init__(self, an, dom):
        self.an, self.dom, self.known = an, dom, {}

    def __call__(self, block):
        if block not in self.known:
            self.known[block] = id_box(self.an, self.dom, block)
        return self.known[block]


def _hoist(an, em, blocks, loops, notes, names, boxes):
    """Preconditions for the checks that can be hoisted; the reasons of the
    others go to their loop (outside loops they stop the raise)."""
    conds, hoisted, alloc_checks = [], [], []
    for chk in find_checks(blocks):
        if an.local_allocs and memory.is_alloc_check(chk.branch):
            alloc_checks.append(chk)    # the buffer is allocated before the fast path
            continue
        try:
            conds.append(precondition(an, em, chk, names, boxes(chk.block)))
            hoisted.append(chk)
        except Unbounded as e:
            lp = innermost(loops, chk.block)
            if lp is None:
                raise
            notes[id(lp)].append(str(e))
    return conds, hoisted, alloc_checks


def _can_panic(blocks) -> bool:
    """With the hoisted checks gone: does the fast path still reach a panic
    (`llvm.unreachable`) or call a function that might (any call that is not a
    gpu id hook)?"""
    seen, work = {blocks[0]}, [blocks[0]]
    while work:
        b = work.pop()
        for o in b.operations:
            o = o.operation
            if o.name == "llvm.unreachable" or (o.name == "llvm.call" and not callee(o).startswith(HOOK_PREFIX)):
                return True
        for s in terminator(b).successors:
            if s not in seen:
                seen.add(s)
                work.append(s)
    return False


def _drop_checks(hoisted) -> None:
    """Each hoisted check branches straight to its in-bounds successor."""
    for chk in hoisted:
        br, view = chk.branch, chk.branch.opview
        args = view.trueDestOperands if chk.ok_index == 0 else view.falseDestOperands
        with ir.InsertionPoint(br), br.location:
            cf.BranchOp(list(args), list(br.successors)[chk.ok_index])
        br.erase()


def _accesses(an, em, blocks, loops, notes, names, conds, report, boxes):
    accs = []
    for b in blocks:
        lp = innermost(loops, b)
        for op in b.operations:
            o = op.operation
            if o.name not in ("llvm.load", "llvm.store"):
                continue
            a = memory.classify(an, o)
            if isinstance(a, str):
                if lp is not None and (o.name == "llvm.store" or "element" not in a):
                    notes[id(lp)].append("store may alias a read buffer" if o.name == "llvm.store"
                                         else a)
                continue
            accs.append(a)
    for a in accs:
        try:
            conds += memory.try_2d(an, a, em, names, boxes(a.op.block))
        except Unbounded:
            pass
    report.overlap_conditions = [memory.alias_text(names, pr) for pr in memory.alias_pairs(accs)]
    return accs


def _loop_notes(an, loops, notes, blocks, report):
    for lp in sorted(loops, key=lambda lp: blocks.index(lp.header)):
        why = []
        for b in lp.blocks:
            for op in b.operations:
                o = op.operation
                if o.name == "llvm.call" and not callee(o).startswith(HOOK_PREFIX) and \
                        "panicking" not in callee(o):
                    why.append("call with side effects in the loop")
        why = ([lp.why_not] if lp.why_not else []) + why + notes[id(lp)]
        report.loops.append(LoopNote_(location(terminator(lp.latch)), not why, why[0] if why else ""))


def LoopNote_(loc, raised, reason):
    from . import LoopNote
    return LoopNote(loc, raised, reason)


def _branch(pre, fast, pre_args, em, conds, slow_name, results, f, allocs=()):
    """pre: the preconditions, then the fast path or the slow call. With local
    buffers, the fast path is entered through a block that allocates them; when
    an allocation fails, they are freed and the slow path runs (which allocates
    as Rust does, and fails as Rust does). Returns [(memref, address)] per buffer."""
    ok = em.all_of(conds)
    slow = f.body.blocks.append(*[a.type for a in pre.arguments])
    made = []
    if allocs:
        alloc_b, free_b = f.body.blocks.append(), f.body.blocks.append()
        aem = Emitter(em.an, ir.InsertionPoint(alloc_b), em.arg_map)
        aem.cloned = em.cloned          # symbols are computed once, in pre (dominating)
        made = memory.allocate(aem, allocs)
        with ir.InsertionPoint(alloc_b), ir.Location.unknown():
            null = llvm.ZeroOp(ir.Type.parse("!llvm.ptr")).result
            fine = aem.all_of([llvm.ICmpOp(llvm.ICmpPredicate.ne, p, null).result for _, p in made])
            cf.CondBranchOp(fine, pre_args, [], fast, free_b)
        with ir.InsertionPoint(free_b), ir.Location.unknown():
            for m, _ in made:
                memref.DeallocOp(m)
            cf.BranchOp(list(pre.arguments), slow)
        fast = alloc_b
        pre_args_to = []
    else:
        pre_args_to = pre_args
    with ir.InsertionPoint(pre), ir.Location.unknown():
        cf.CondBranchOp(ok, pre_args_to, list(pre.arguments), fast, slow)
    slow_call(slow, slow_name, results)
    return made


def _fast_path(an, blocks, fast, accs):
    em = Emitter(an, ir.InsertionPoint(fast.operations[0]), {a: a for a in fast.arguments})
    local: dict = {}

    def local_em(base):
        """An emitter right after the definition of a local buffer's pointer."""
        if base not in local:
            d = op_of(base)
            block = base.owner if d is None else d.block
            ops = [o.operation for o in block.operations]
            at = ops[0] if d is None else ops[ops.index(d) + 1]
            local[base] = Emitter(an, ir.InsertionPoint(at), {a: a for a in fast.arguments})
        return local[base]
    views = memory.make_views(an, accs, em, local_em)
    for a in accs:
        memory.rewrite(an, a, views[(a.base, str(a.elem), a.ld)], em)
    arith_.convert_blocks(blocks)


def _reuse_ids(pre, em, blocks) -> None:
    """The fast path reads the gpu ids the precondition block has read already
    (one call each per launch point, not one per use)."""
    term = terminator(pre)
    for b in blocks:
        for op in list(b.operations):
            o = op.operation
            if o.name != "llvm.call" or len(o.operands) or not callee(o).startswith(HOOK_PREFIX):
                continue
            r = o.results[0]
            known = next((v for k, v in em.cloned.items() if op_of(v) is not None
                          and callee(op_of(v)) == callee(o)), None)
            if known is None:
                known = o.clone(ip=ir.InsertionPoint(term)).results[0]
                em.cloned[r] = known
            r.replace_all_uses_with(known)
            o.erase()


def _commit(module, src, f, slow_name, report):
    entry = report.function
    src.attributes["sym_name"] = ir.StringAttr.get(slow_name)
    old_linkage = src.attributes["linkage"] if "linkage" in src.attributes else None
    src.attributes["linkage"] = ir.Attribute.parse("#llvm.linkage<internal>")
    f.attributes["sym_name"] = ir.StringAttr.get(entry)
    try:
        structure.structure(f, report)
        try:
            module.operation.verify()
        except ir.MLIRError as e:
            raise Unbounded(f"raised function does not verify: {e}") from None
    except BaseException:
        src.attributes["sym_name"] = ir.StringAttr.get(entry)
        if old_linkage is not None:
            src.attributes["linkage"] = old_linkage
        raise
    report.raised, report.slow_symbol = True, slow_name
