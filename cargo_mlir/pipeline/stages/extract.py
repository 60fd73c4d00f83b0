"""Stage `extract` (function scope): the marked function's entry and everything
it calls, out of the unit's bitcode, internalised so nothing clashes with the
host crate's own copies. Debug locations stay: the diagnostics and the raise
stage's notes name source lines with them (the entry stage drops them).

Derivatives (docs/autodiff.md): an autodiff marker's code is made from its
primal, so the primal entry is what is extracted. Code that calls a derivative
(`__cargo_mlir_grad_<key>`, e.g. a kernel) gets that function as a declaration
(its Rust body only asks the host runtime for the pipeline's code) plus the
primal entry it is made from; the autodiff stage then defines it."""

from __future__ import annotations

import re
from pathlib import Path

from cargo_mlir.abi import GRAD_PREFIX, PRIMAL_PREFIX
from cargo_mlir.pipeline.stage import Context
from cargo_mlir.process import cmd

_GRAD_DEF = re.compile(rf"^define [^\n]*@({GRAD_PREFIX}\w+)\(", re.M)


def extract(bitcode: Path, ctx: Context) -> str:
    tc, m = ctx.toolchain, ctx.marker
    roots = [m.primal_entry if m.kind == "autodiff" else m.entry]
    extracted = _extract(bitcode, roots, [], ctx)
    grads = sorted(set(_GRAD_DEF.findall(extracted)))
    if grads:
        roots += [PRIMAL_PREFIX + g.removeprefix(GRAD_PREFIX) for g in grads]
        extracted = _extract(bitcode, roots, grads, ctx)
    return extracted


def _extract(bitcode: Path, roots: list[str], bodiless: list[str], ctx: Context) -> str:
    """`roots` and their callees, internalised; `bodiless` functions as declarations."""
    tc = ctx.toolchain
    extracted, out = ctx.tmp("extracted.bc"), ctx.tmp("extracted.ll")
    cmd(tc.tool("llvm-extract"), *(f"--func={r}" for r in roots), "--recursive", "--keep-const-init", bitcode,
        "-o", extracted).run(what=f"extracting {ctx.what}")
    if bodiless:
        cmd(tc.tool("llvm-extract"), "--delete", *(f"--func={g}" for g in bodiless), extracted,
            "-o", extracted).run(what=f"extracting {ctx.what}")
    # --keep-const-init keeps every constant; internalize + globaldce keep only
    # what the roots reach (panic locations, lookup tables), as private data.
    cmd(tc.tool("opt"), "-passes=internalize,globaldce", f"-internalize-public-api-list={','.join(roots)}",
        extracted, "-S", "-o", out).run(what=f"extracting {ctx.what}")
    return out.read_text()
