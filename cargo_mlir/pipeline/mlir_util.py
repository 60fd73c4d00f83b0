"""Small helpers over the MLIR bindings that several stages use."""

from __future__ import annotations

from cargo_mlir.errors import CargoMlirError


def sym_name(op) -> str | None:
    from mlir import ir
    attrs = op.operation.attributes
    return ir.StringAttr(attrs["sym_name"]).value if "sym_name" in attrs else None


def is_declaration(op) -> bool:
    return op.operation.name in ("llvm.func", "func.func") and len(op.operation.regions[0].blocks) == 0


def find(block, name: str):
    return next((op for op in block.operations if sym_name(op) == name), None)


def call(block, callee: str, args: list[str], types: tuple[str, ...], result: str | None = None,
         ret: str | None = None) -> str:
    """The text of a call to `callee` (an llvm.func or, once raised, a func.func)."""
    op = find(block, callee)
    lhs = f"%{result} = " if result and ret else ""
    if op is not None and op.operation.name == "func.func":
        return f"{lhs}func.call @{callee}({', '.join(args)}) : ({', '.join(types)}) -> ({ret or ''})"
    return f"{lhs}llvm.call @{callee}({', '.join(args)}) : ({', '.join(types)}) -> {ret or '()'}"


def declare_like(block, callee: str, types: tuple[str, ...], ret: str | None = None) -> str:
    """A declaration of `callee` of the same op kind as its definition in
    `block`, for text that must parse alone (see `append`)."""
    op = find(block, callee)
    if op is not None and op.operation.name == "func.func":
        return f"  func.func private @{callee}({', '.join(types)}) -> ({ret or ''})\n"
    return f"  llvm.func @{callee}({', '.join(types)})" + (f" -> {ret}" if ret else "") + "\n"


def append(block, text: str) -> None:
    """Parse `text` (a module body) and move its ops into `block`; `text`
    declares the symbols it uses (so it parses alone) and those declarations,
    already in `block`, are dropped."""
    from mlir import ir

    existing = {sym_name(op) for op in block.operations}
    parsed = ir.Module.parse(text)       # must outlive the moves below
    for op in list(parsed.body.operations):
        if sym_name(op) not in existing:
            block.append(op.operation)
    del parsed


def verify(module, what: str) -> None:
    from mlir import ir
    try:
        module.operation.verify()
    except ir.MLIRError as exc:
        raise CargoMlirError(f"{what} produced invalid IR: {exc}",
                             hint="this is a cargo-mlir bug; `--emit-ir DIR` shows the IR before it") from None


def walk_ops(root, names: tuple[str, ...], pre_order: bool = False) -> list:
    """Every op under `root` (an Operation) named one of `names` (with `pre_order`,
    an op before the ops inside it: outermost first)."""
    from mlir import ir
    found = []
    order = ir.WalkOrder.PRE_ORDER if pre_order else ir.WalkOrder.POST_ORDER
    root.walk(lambda op: (found.append(op) if op.name in names else None) or ir.WalkResult.ADVANCE, order)
    return found


def inside(op, ancestor) -> bool:
    """`op` is nested in `ancestor` (an op around it, at any depth)."""
    p = op.parent
    while p is not None:
        if p == ancestor:
            return True
        p = p.parent
    return False
