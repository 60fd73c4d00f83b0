"""Function-local temporaries in raised code: the heap buffers the raise made
views of (raise_/memory.py: a `vec![…]` the function allocates outside its
loops and frees itself), found by the `cargo_mlir.local_buffer` attribute on
their views, zero fills and allocation. The passes that may drop a temporary
(`reorder-matmul-chains`, `fuse-elementwise`) ask here what else touches it."""

from __future__ import annotations

from dataclasses import dataclass

from mlir import ir

from cargo_mlir.pipeline.mlir_util import inside as _inside, walk_ops

LOCAL_ATTR = "cargo_mlir.local_buffer"
# ops that make another view of the same memory
VIEW_OPS = ("memref.subview", "memref.expand_shape", "memref.collapse_shape", "memref.cast",
            "memref.reinterpret_cast", "builtin.unrealized_conversion_cast")
# ops that read a view's metadata only
_METADATA = ("memref.extract_strided_metadata", "memref.extract_aligned_pointer_as_index", "memref.dim")
# what may use a buffer's pointer without going through a view
_POINTER_ACCESS = ("llvm.load", "llvm.store", "llvm.getelementptr", "llvm.call")


def owner(v: ir.Value) -> ir.Operation | None:
    o = v.owner
    return o.operation if isinstance(o, (ir.OpView, ir.Operation)) else None


def source(v: ir.Value) -> ir.Value:
    """The raise view a subview (or cast) was taken of."""
    while True:
        o = owner(v)
        if o is None or o.name not in ("memref.subview", "memref.expand_shape", "memref.cast"):
            return v
        v = o.operands[0]


def local_id(view: ir.Value) -> int | None:
    """The local buffer a raise view is of, None for other views."""
    o = owner(view)
    if o is None or LOCAL_ATTR not in o.attributes:
        return None
    return ir.IntegerAttr(o.attributes[LOCAL_ATTR]).value


def memory_uses(view: ir.Value) -> list[ir.Operation]:
    """The ops that read or write memory through `view` (through subviews and casts)."""
    out, work = [], [view]
    while work:
        v = work.pop()
        for use in v.uses:
            o = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
            if o.name in VIEW_OPS:
                work.extend(o.results)
            elif o.name not in _METADATA:
                out.append(o)
    return out


def pointer_bases(views) -> list[ir.Value]:
    """The pointers the views' descriptors are built on (their cast ops)."""
    out = []
    for v in views:
        d = owner(v.operands[0])
        while d is not None and d.name == "llvm.insertvalue":
            pos = list(ir.DenseI64ArrayAttr(d.attributes["position"]))
            if pos in ([0], [1]) and d.operands[0] not in out:
                out.append(d.operands[0])
            d = owner(d.operands[1])
    return out


@dataclass
class Temporary:
    """A function-local buffer: its views (their cast ops), zero fills, allocation."""
    ident: int
    views: list[ir.Operation]
    fills: list[ir.Operation]           # `llvm.intr.memset` of `vec![0.0; …]`
    alloc: ir.Operation | None

    def uses(self) -> list[ir.Operation]:
        """Every op that touches the buffer's memory through a view."""
        return [o for v in self.views for o in memory_uses(v.results[0])]

    def pointer_access(self) -> ir.Operation | None:
        """An op that reads or writes the buffer through its pointer, not a view."""
        for base in pointer_bases(self.views):
            for use in base.uses:
                o = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
                if o.name in _POINTER_ACCESS:
                    return o
        return None


def temporary(func: ir.Operation, view: ir.Value) -> Temporary | None:
    """The local buffer `view` (a raise view) is of, None when it is not one."""
    ident = local_id(view)
    if ident is None:
        return None
    views = [c for c in walk_ops(func, ("builtin.unrealized_conversion_cast",), pre_order=True)
             if local_id(c.results[0]) == ident]
    fills, alloc = [], None
    for o in walk_ops(func, ("llvm.intr.memset", "memref.alloc"), pre_order=True):
        if LOCAL_ATTR in o.attributes and ir.IntegerAttr(o.attributes[LOCAL_ATTR]).value == ident:
            if o.name == "llvm.intr.memset":
                fills.append(o)
            else:
                alloc = o
    return Temporary(ident, views, fills, alloc)


def _at_or_after(op: ir.Operation, first: ir.Operation) -> bool:
    """`op` is `first`, inside it, or after it in its block (or inside such an op)."""
    p = op
    while p is not None and p.block != first.block:
        p = p.parent
    if p is None:
        return False
    return p == first or first.is_before_in_block(p)


def reallocate(temp: Temporary, view: ir.Value, first: ir.Operation, last: ir.Operation,
               needed: ir.Value | None) -> bool:
    """Give the temporary a buffer that lives from `first` to `last` (ops of one
    block): allocated right before `first`, one byte only where `needed` is
    false, freed right after `last`; the views go to it, and the function's own
    allocation shrinks to one byte. For a temporary that a fused path leaves
    alone: that path then allocates nothing of its size and touches no page of
    it. False (nothing changed) unless every access to it is through `view`,
    from `first` to `last`, and its size is known before `first`."""
    from mlir.dialects import arith, llvm, memref

    if temp.alloc is None or first.block != last.block or last.is_before_in_block(first):
        return False
    size = temp.alloc.operands[0]
    if owner(size) is not None and owner(size).block == first.block and not owner(size).is_before_in_block(first):
        return False
    cast = owner(view)
    if cast is None or cast.name != "builtin.unrealized_conversion_cast" or len(cast.operands) != 1:
        return False
    for v in temp.views:
        for use in memory_uses(v.results[0]):
            if v.results[0] != view or not _at_or_after(use, first) or (use != last and _at_or_after(use, last)
                                                                     and not _inside(use, last)):
                return False
    index, i64 = ir.IndexType.get(), ir.IntegerType.get_signless(64)
    with ir.InsertionPoint(first), first.location:
        one = arith.constant(index, 1)
        bytes_ = size if needed is None else arith.select(needed, size, one)
        buf = memref.alloc(ir.MemRefType.get([ir.ShapedType.get_dynamic_size()], ir.IntegerType.get_signless(8)),
                           [bytes_], [])
        addr = arith.index_castui(i64, memref.extract_aligned_pointer_as_index(buf))
        ptr = llvm.inttoptr(ir.Type.parse("!llvm.ptr"), addr)
        desc = cast.operands[0]
        desc = llvm.insertvalue(desc, ptr, [0])
        desc = llvm.insertvalue(desc, ptr, [1])
        new = ir.Operation.create("builtin.unrealized_conversion_cast", results=[view.type], operands=[desc]).result
    for use in list(view.uses):
        o = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
        if _at_or_after(o, first):
            o.operands[use.operand_number] = new
    after = last.block.operations
    ops = [o.operation for o in after]
    nxt = ops[ops.index(last) + 1]
    with ir.InsertionPoint(nxt), last.location:
        memref.dealloc(buf)
    with ir.InsertionPoint(temp.alloc), temp.alloc.location:
        temp.alloc.operands[0] = arith.constant(index, 1)
    return True
