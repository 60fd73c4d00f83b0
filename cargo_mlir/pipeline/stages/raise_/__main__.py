"""`python -m cargo_mlir.pipeline.stages.raise_ INPUT.mlir [--entry SYMBOL] [--explain]`:
prints the raised module (for lit tests); --explain prints the report to stderr."""

from __future__ import annotations

import argparse
import sys

from mlir import ir

from . import raise_function

PREFIXES = ("__cargo_mlir_kernel_", "__cargo_mlir_accel_")


def default_entry(module: ir.Module) -> str | None:
    names = [ir.StringAttr(op.attributes["sym_name"]).value for op in module.body.operations
             if op.operation.name == "llvm.func" and len(op.regions[0].blocks)
             and "sym_visibility" not in op.attributes
             and ("linkage" not in op.attributes or "internal" not in str(op.attributes["linkage"]))]
    names = [n for n in names if n.startswith(PREFIXES)]
    return names[0] if len(names) == 1 else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="raise_", description=__doc__)
    p.add_argument("input")
    p.add_argument("--entry")
    p.add_argument("--explain", action="store_true")
    a = p.parse_args(argv)
    with ir.Context() as ctx, ir.Location.unknown():
        module = ir.Module.parse(open(a.input).read(), ctx)
        entry = a.entry or default_entry(module)
        if entry is None:
            print("raise_: no single kernel entry; pass --entry", file=sys.stderr)
            return 2
        report = raise_function(module, entry)
        print(module)
    if a.explain:
        _explain(report)
    return 0


def _explain(r) -> None:
    err = sys.stderr
    print(f"{r.function}: {'raised' if r.raised else 'not raised'}"
          f"{'' if r.raised else ': ' + r.reason}", file=err)
    for c in r.preconditions:
        print(f"  precondition: {c}", file=err)
    for c in r.overlap_conditions:
        print(f"  not checked (accesses keep their order): {c}", file=err)
    for n in r.loops:
        print(f"  loop at {n.location}: {'raised' if n.raised else 'not raised: ' + n.reason}", file=err)
    print(f"  fast path can panic: {str(r.fast_path_can_panic).lower()}", file=err)


if __name__ == "__main__":
    sys.exit(main())
