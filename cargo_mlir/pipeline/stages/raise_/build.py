"""Copies a function body into a new `func.func`, with the llvm branches made
`cf` ones (what upstream lift-cf-to-scf understands), and adds the versioning
shell: a precondition block that picks the copy or a call to the original."""

from __future__ import annotations

from mlir import ir
from mlir.dialects import cf, func

from .cfg import terminator
from .poly import callee

# Ops that only carry alias or debug facts: dropped from the fast path.
DROP = ("llvm.intr.experimental.noalias.scope.decl", "llvm.intr.dbg.")


def find_func(module: ir.Module, name: str):
    for op in module.body.operations:
        if op.operation.name in ("llvm.func", "func.func") and \
                ir.StringAttr(op.attributes["sym_name"]).value == name:
            return op
    return None


def body_source(module: ir.Module, entry):
    """The region to raise: the entry's own, or the one internal function the
    entry merely forwards to (rustc does not always inline the kernel into
    its C-ABI wrapper). Returns (region, callee args -> entry args)."""
    blocks = list(entry.regions[0].blocks)
    ops = [o.operation for o in blocks[0].operations] if len(blocks) == 1 else []
    if len(ops) == 2 and ops[0].name == "llvm.call" and ops[1].name == "llvm.return":
        target = find_func(module, callee(ops[0]))
        if target is not None and len(target.regions[0].blocks) and \
                len(ops[1].operands) == len(ops[0].results):
            inner = list(target.regions[0].blocks)[0].arguments
            return target.regions[0], dict(zip(inner, ops[0].operands))
    return entry.regions[0], {}


def result_types(region: ir.Region) -> list[ir.Type]:
    for b in region.blocks:
        t = terminator(b)
        if t.name == "llvm.return":
            return [o.type for o in t.operands]
    return []


def new_shell(module: ir.Module, entry, name: str, results: list[ir.Type]):
    """`func.func @name` with the entry's flat parameters and one block."""
    arg_types = [a.type for a in list(entry.regions[0].blocks)[0].arguments]
    with ir.InsertionPoint.after(entry), plain_location(entry.location):
        f = func.FuncOp(name, ir.FunctionType.get(arg_types, results))
    f.add_entry_block()
    return f


def plain_location(loc: ir.Location) -> ir.Location:
    """loc without its DISubprogram: a function with one must give every inlinable
    call a debug location in its own scope, which the versioning call to the slow
    path has not (and the subprogram stays the slow path's, whose body it describes)."""
    if loc.is_a_fused():
        return ir.Location.fused(list(loc.locations))
    return loc


def clone_body(src: ir.Region, dst: ir.Region, arg_map: dict) -> dict:
    """Clones every block and op of src to the end of dst; returns the value map.
    Operands are remapped after all ops exist, since textual block order is
    not dominance order."""
    vmap, bmap = dict(arg_map), {}
    for b in src.blocks:
        nb = dst.blocks.append(*[a.type for a in b.arguments])
        bmap[b] = nb
        for a, na in zip(b.arguments, nb.arguments):
            vmap.setdefault(a, na)
    made = []
    for b in src.blocks:
        for op in b.operations:
            o = op.operation
            if o.name.startswith(DROP):
                continue
            with ir.InsertionPoint(bmap[b]), o.location:
                made.append(_clone_op(o, bmap))
            for r, nr in zip(o.results, made[-1].results):
                vmap[r] = nr
    for o in made:
        for i, v in enumerate(list(o.operands)):
            if v in vmap:
                o.operands[i] = vmap[v]
    return bmap


def _clone_op(o: ir.Operation, bmap) -> ir.Operation:
    succ = [bmap[s] for s in o.successors]
    if o.name == "llvm.br":
        return cf.BranchOp(list(o.operands), succ[0]).operation
    if o.name == "llvm.cond_br":
        view = o.opview
        return cf.CondBranchOp(o.operands[0], list(view.trueDestOperands),
                               list(view.falseDestOperands), succ[0], succ[1]).operation
    if o.name == "llvm.return":
        return func.ReturnOp(list(o.operands)).operation
    if succ:
        raise NotImplementedError(f"terminator {o.name}")
    return o.clone(ip=ir.InsertionPoint.current)


def slow_call(block: ir.Block, slow_name: str, results: list[ir.Type]) -> None:
    """`return llvm.call @slow(args)` at the end of block (generic form: the
    builder cannot make a call without results)."""
    args = list(block.arguments)
    with ir.InsertionPoint(block), ir.Location.unknown():
        call = ir.Operation.create("llvm.call", results=results, operands=args, attributes={
            "callee": ir.FlatSymbolRefAttr.get(slow_name),
            "operandSegmentSizes": ir.DenseI32ArrayAttr.get([len(args), 0]),
            "op_bundle_sizes": ir.DenseI32ArrayAttr.get([])})
        func.ReturnOp(list(call.results))
