"""Stage `extract` (function scope): the marked function's entry and everything
it calls, out of the unit's bitcode, internalised so nothing clashes with the
host crate's own copies. Debug locations stay: the diagnostics and the raise
stage's notes name source lines with them (the entry stage drops them)."""

from __future__ import annotations

from pathlib import Path

from cargo_mlir.pipeline.stage import Context
from cargo_mlir.process import cmd


def extract(bitcode: Path, ctx: Context) -> str:
    tc, entry = ctx.toolchain, ctx.marker.entry
    extracted, out = ctx.tmp("extracted.bc"), ctx.tmp("extracted.ll")
    cmd(tc.tool("llvm-extract"), f"--func={entry}", "--recursive", "--keep-const-init", bitcode,
        "-o", extracted).run(what=f"extracting {ctx.what}")
    # --keep-const-init keeps every constant; internalize + globaldce keep only
    # what the entry reaches (panic locations, lookup tables), as private data.
    cmd(tc.tool("opt"), "-passes=internalize,globaldce", f"-internalize-public-api-list={entry}",
        extracted, "-S", "-o", out).run(what=f"extracting {ctx.what}")
    return out.read_text()
