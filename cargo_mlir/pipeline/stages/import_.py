"""Stage `import` (function scope): LLVM IR into the MLIR LLVM dialect.

mlir-translate runs as a subprocess: the MLIR Python bindings (22.1) have no
LLVM IR importer (`translate_module_to_llvmir` goes the other way only).
Debug locations are kept as plain MLIR locations (file:line:col), for the
raise stage's notes; the debug-info metadata around them (`fused<#di_subprogram>`)
and the debug intrinsics are dropped: no later stage sees them as uses of
values, and the verifier does not ask new calls for DWARF locations."""

from __future__ import annotations

import re

from cargo_mlir.pipeline.stage import Context

_DI_METADATA = re.compile(r"fused<#di_\w+>")
from cargo_mlir.process import cmd


def import_llvm(ll: str, ctx: Context):
    from mlir import ir

    src, dst = ctx.tmp("import.ll"), ctx.tmp("import.mlir")
    src.write_text(ll)
    cmd(ctx.toolchain.tool("mlir-translate"), "--import-llvm", "--mlir-print-debuginfo", src, "-o", dst).run(
        what=f"importing {ctx.what} into MLIR")
    module = ir.Module.parse(_DI_METADATA.sub("fused", dst.read_text()), context=ctx.mlir)
    drop_debug_intrinsics(module)
    return module


def drop_debug_intrinsics(module) -> None:
    from mlir import ir

    found = []
    module.operation.walk(lambda op: (found.append(op) if op.name.startswith("llvm.intr.dbg.") else None)
                          or ir.WalkResult.ADVANCE)
    for op in found:
        op.erase()
