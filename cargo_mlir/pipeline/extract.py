"""Stage `extract`: the kernel's entry and everything it calls, out of the
unit's bitcode, internalised so nothing clashes with the host crate's own
copies. A copy with debug locations is kept beside the
output (`<name>.dbg.ll`) for the device-compatibility diagnostics."""

from __future__ import annotations

from pathlib import Path

from cargo_mlir.pipeline.job import KernelJob
from cargo_mlir.process import cmd


def debug_copy(dst: Path) -> Path:
    return dst.with_name(dst.name.removesuffix(".ll") + ".dbg.ll")


def extract(job: KernelJob, src: Path, dst: Path) -> None:
    tc = job.toolchain
    entry = job.marker.entry
    extracted = dst.with_suffix(".bc.tmp")
    with_debug = debug_copy(dst)
    cmd(tc.tool("llvm-extract"), f"--func={entry}", "--recursive", "--keep-const-init", src,
        "-o", extracted).run(what=f"extracting kernel `{job.marker.name}`")
    # --keep-const-init keeps every constant; internalize + globaldce keep only
    # what the entry reaches (panic locations, lookup tables), as private data.
    cmd(tc.tool("opt"), "-passes=internalize,globaldce", f"-internalize-public-api-list={entry}",
        extracted, "-S", "-o", with_debug).run(what=f"extracting kernel `{job.marker.name}`")
    extracted.unlink()
    cmd(tc.tool("opt"), "--strip-debug", with_debug, "-S", "-o", dst).run(what="stripping debug info")
