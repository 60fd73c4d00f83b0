"""Stage `retarget` for the host (a Python pass, MLIR bindings): the
`cargo_mlir::gpu` hooks read the thread-local id block that the grid wrapper
(stage `entry`) fills while it walks the grid (the runtime spreads workgroups
over CPU threads). After inlining, the id loads fold away.

A kernel that calls a barrier or uses workgroup memory (`abi.WORKGROUP_HOOKS`)
gets no host code: the grid wrapper runs a workgroup's threads one after the
other, so a barrier could not hold. The support crate runs its Rust body
instead, each workgroup's threads at once as fibers (runtime/workgroup.rs).
"""

from __future__ import annotations

from cargo_mlir.abi import BARRIER_HOOK, HOOK_PREFIX, IDS_GLOBAL, WORKGROUP_HOOKS
from cargo_mlir.abi import ID_SLOTS as SLOTS
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline import mlir_util as U
from cargo_mlir.pipeline.stage import Context, Finding

IDS_DECL = (f"  llvm.mlir.global internal thread_local @{IDS_GLOBAL}(dense<0> : tensor<12xi64>) "
            f"{{addr_space = 0 : i32}} : !llvm.array<12 x i64>\n")


def _slot_load(var: str, slot: int) -> str:
    return (f"    %{var}p = llvm.getelementptr %ids[0, {slot}] : (!llvm.ptr) -> !llvm.ptr, !llvm.array<12 x i64>\n"
            f"    %{var} = llvm.load %{var}p : !llvm.ptr -> i64\n")


def host_hook(name: str) -> str:
    what = name.removeprefix(HOOK_PREFIX)
    body = f"    %ids = llvm.mlir.addressof @{IDS_GLOBAL} : !llvm.ptr\n"
    if what in SLOTS:
        body += _slot_load("v", SLOTS[what])
    elif what.startswith("global_id_"):
        ax = what[-1]
        body += (_slot_load("w", SLOTS[f"workgroup_id_{ax}"]) + _slot_load("s", SLOTS[f"workgroup_size_{ax}"])
                 + _slot_load("t", SLOTS[f"workitem_id_{ax}"])
                 + "    %m = llvm.mul %w, %s : i64\n    %v = llvm.add %m, %t : i64\n")
    else:
        raise CargoMlirError(f"unknown cargo_mlir::gpu function `{what}`: the support crate is newer "
                             f"than this cargo-mlir")
    return (f"  llvm.func internal @{name}() -> i64 attributes {{always_inline}} {{\n{body}"
            f"    llvm.return %v : i64\n  }}\n")


def remove_hooks(body, root) -> list[str]:
    """Erase the hook declarations in `body` (the target defines them) and
    return their names; calls to hooks under `root` lose the `no_inline` rustc
    put on them."""
    from mlir import ir

    hooks = []
    for op in list(body.operations):
        if op.operation.name == "llvm.func":
            name = ir.StringAttr(op.operation.attributes["sym_name"]).value
            if name.startswith(HOOK_PREFIX):
                hooks.append(name)
                op.operation.erase()

    def unpin(op):
        if op.name == "llvm.call" and "callee" in op.attributes:
            callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
            if callee.startswith(HOOK_PREFIX) and "no_inline" in op.attributes:
                del op.attributes["no_inline"]
        return ir.WalkResult.ADVANCE

    root.walk(unpin)
    return hooks


def workgroup_uses(hooks: list[str]) -> list[str]:
    """What of `cargo_mlir::gpu` in `hooks` needs a workgroup's threads at once."""
    uses = ["gpu::barrier"] if BARRIER_HOOK in hooks else []
    if any(h in hooks for h in WORKGROUP_HOOKS if h != BARRIER_HOOK):
        uses.append("workgroup memory")
    return uses


def retarget_host(module, ctx: Context):
    hooks = remove_hooks(module.body, module.operation)
    if uses := workgroup_uses(hooks):
        m = ctx.marker
        ctx.notes.append(Finding("note", f"{m.kind} `{m.name}` ({m.location}) uses {' and '.join(uses)}: no grid "
                                         f"loop for the host; there it runs as Rust, each workgroup's threads at "
                                         f"once (as fibers)"))
        return None
    if hooks:
        U.append(module.body, IDS_DECL + "".join(host_hook(h) for h in hooks))
    return module
