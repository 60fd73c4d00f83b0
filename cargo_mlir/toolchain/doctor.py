"""`cargo mlir doctor`: one line per item, found (path, version) or missing
with the exact command that fixes it; non-zero when a required item is
missing or on another LLVM major than rustc."""

from __future__ import annotations

import json
from dataclasses import asdict

from cargo_mlir.toolchain import record
from cargo_mlir.toolchain import tools
from cargo_mlir.term import Shell


def report(p: record.Probe) -> dict:
    return {
        "ok": p.ok,
        "rustc": asdict(p.rustc) | {"llvm_major": p.rustc.llvm_major},
        "found": {k: asdict(f) for k, f in p.found.items()},
        "problems": [asdict(x) for x in p.problems],
    }


def run(shell: Shell, *, as_json: bool = False) -> int:
    p = record.probe()
    if as_json:
        shell.out(json.dumps(report(p), indent=2))
    else:
        _print(shell, p)
    if p.ok:
        record.save(record.from_probe(p))
        return 0
    return 1


def _print(shell: Shell, p: record.Probe) -> None:
    out = [f"rustc {p.rustc.release} ({p.rustc.host}), LLVM {p.rustc.llvm_version}: "
           f"tools must be LLVM {p.rustc.llvm_major}"]
    order = ([s.key for s in tools.TOOLS] + [k for k, _ in tools.LIBRARIES] + [s.key for s in tools.DEVICE_LIBRARIES]
             + [m[0] for m in tools.PYTHON_MODULES])
    problems = {x.key: x for x in p.problems}
    width = max(len(k) for k in order)
    for key in order:
        if key in p.found:
            f = p.found[key]
            out.append(f"  ok       {key:<{width}}  {f.version:<10} {f.path}")
            if key == "ptxas":
                driver = tools.min_driver(f.version)
                needs = f"NVIDIA driver >= {driver}" if driver else "an NVIDIA driver of its CUDA release or newer"
                out.append(f"  {'':8} {'':<{width}}  cubins from it need {needs}; PTX images need "
                           f">= {tools.PTX_MIN_DRIVER}")
        else:
            x = problems[key]
            tag = "MISSING " if x.required else "optional"
            out.append(f"  {tag} {key:<{width}}  {x.message}\n  {'':8} {'':<{width}}  fix: {x.fix}")
    required = [x for x in p.problems if x.required]
    if required:
        out.append(f"{len(required)} required item(s) missing or mismatched; the fixes are listed above")
    else:
        out.append(f"toolchain complete (recorded in {record.record_path()})")
    shell.out("\n".join(out))
