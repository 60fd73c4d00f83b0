"""Stage `retarget` (a Python pass over the imported module, MLIR bindings):
resolve the `cargo_mlir::gpu` hooks for the target and add the entry the
runtime calls.

Host: the hooks read a thread-local id block that the grid wrapper
`__cargo_mlir_host_<name>(params, dims, begin, end)` fills while it walks
workgroups `begin..end` and every thread in them (the runtime spreads
workgroups over CPU threads). After inlining, the id loads fold away.
"""

from __future__ import annotations

from pathlib import Path

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.build.markers import Marker
from cargo_mlir.pipeline.job import KernelJob

HOOK_PREFIX = "cargo_mlir_gpu_"
SLOTS = {f"{what}_{ax}": base + i for what, base in
         (("workitem_id", 0), ("workgroup_id", 3), ("workgroup_size", 6), ("num_workgroups", 9))
         for i, ax in enumerate("xyz")}
IDS_GLOBAL = "__cargo_mlir_ids"


def host_entry(marker: Marker) -> str:
    """The grid entry's symbol: unique like the kernel entry it wraps."""
    return "__cargo_mlir_host_" + marker.key


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


def host_wrapper(marker: Marker) -> str:
    """func.func + scf: load the flattened parameters, walk the grid, call the entry."""
    lines = [f"  llvm.func @{marker.entry}({', '.join(marker.flat_types)})",
             f"  llvm.mlir.global internal thread_local @{IDS_GLOBAL}(dense<0> : tensor<12xi64>) "
             f"{{addr_space = 0 : i32}} : !llvm.array<12 x i64>",
             f"  func.func @{host_entry(marker)}(%params: !llvm.ptr, %dims: !llvm.ptr, %begin: i64, %end: i64) {{",
             f"    %ids = llvm.mlir.addressof @{IDS_GLOBAL} : !llvm.ptr"]
    args = []
    for i, ty in enumerate(marker.flat_types):
        lines += [f"    %q{i} = llvm.getelementptr %params[{i}] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr",
                  f"    %p{i} = llvm.load %q{i} : !llvm.ptr -> !llvm.ptr",
                  f"    %a{i} = llvm.load %p{i} : !llvm.ptr -> {ty}"]
        args.append(f"%a{i}")
    dims = ["gx", "gy", "gz", "tx", "ty", "tz"]
    for i, d in enumerate(dims):
        lines += [f"    %{d}p = llvm.getelementptr %dims[{i}] : (!llvm.ptr) -> !llvm.ptr, i64",
                  f"    %{d} = llvm.load %{d}p : !llvm.ptr -> i64"]

    def store(value: str, slot: int) -> list[str]:
        return [f"    %s{slot}_{value} = llvm.getelementptr %ids[0, {slot}] : (!llvm.ptr) -> !llvm.ptr, !llvm.array<12 x i64>",
                f"    llvm.store %{value}, %s{slot}_{value} : i64, !llvm.ptr"]

    for d, slot in zip(dims, (9, 10, 11, 6, 7, 8)):
        lines += store(d, slot)
    call = (f"    llvm.call @{marker.entry}({', '.join(args)}) : "
            f"({', '.join(marker.flat_types)}) -> ()")
    lines += ["    %c0 = arith.constant 0 : i64", "    %c1 = arith.constant 1 : i64",
              "    scf.for %wg = %begin to %end step %c1 : i64 {",
              "    %wx = arith.remui %wg, %gx : i64", "    %wr = arith.divui %wg, %gx : i64",
              "    %wy = arith.remui %wr, %gy : i64", "    %wz = arith.divui %wr, %gy : i64",
              *store("wx", 3), *store("wy", 4), *store("wz", 5),
              "    scf.for %z = %c0 to %tz step %c1 : i64 {", *store("z", 2),
              "    scf.for %y = %c0 to %ty step %c1 : i64 {", *store("y", 1),
              "    scf.for %x = %c0 to %tx step %c1 : i64 {", *store("x", 0),
              call, "    }", "    }", "    }", "    }", "    return", "  }"]
    return "\n".join(lines) + "\n"


def remove_hooks(module) -> list[str]:
    """Erase the hook declarations (the target defines them) and return their
    names; calls to hooks lose the `no_inline` rustc put on them."""
    from mlir import ir

    hooks = []
    for op in list(module.body.operations):
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

    module.operation.walk(unpin)
    return hooks


def _append(module, text: str) -> None:
    """Parse `text` into the module; `text` declares the module's symbols it
    uses (so it parses alone), and those declarations are dropped."""
    from mlir import ir

    def sym(op) -> str | None:
        attr = op.operation.attributes
        return ir.StringAttr(attr["sym_name"]).value if "sym_name" in attr else None

    existing = {sym(op) for op in module.body.operations}
    parsed = ir.Module.parse(text)       # must outlive the moves below
    for op in list(parsed.body.operations):
        if sym(op) not in existing:
            module.body.append(op.operation)
    del parsed


def retarget_host(job: KernelJob, src: Path, dst: Path) -> None:
    from mlir import ir

    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse(src.read_text())
        hooks = remove_hooks(module)
        # the wrapper defines the id block the hooks read: parse them together
        _append(module, host_wrapper(job.marker) + "".join(host_hook(h) for h in hooks))
        if not module.operation.verify():
            raise CargoMlirError(f"retargeting kernel `{job.marker.name}` produced invalid IR")
        dst.write_text(str(module))
