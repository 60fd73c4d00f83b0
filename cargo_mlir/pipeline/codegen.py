"""Stage `codegen` for the host: LLVM IR → x86-64 object. Only the grid
entry stays public; everything else is internal so nothing clashes with the
crate's own copies of the same functions."""

from __future__ import annotations

from pathlib import Path

from cargo_mlir.pipeline.job import KernelJob
from cargo_mlir.pipeline.retarget import host_entry
from cargo_mlir.process import cmd


def codegen_host(job: KernelJob, src: Path, dst: Path) -> None:
    tc = job.toolchain
    optimized = dst.with_suffix(".opt.bc")
    cmd(tc.tool("opt"), "-passes=internalize,default<O3>,globaldce",
        f"-internalize-public-api-list={host_entry(job.marker)}", src, "-o", optimized).run(
        what=f"optimising kernel `{job.marker.name}` for the host")
    cmd(tc.tool("llc"), "-O3", "-relocation-model=pic", "-filetype=obj", optimized, "-o", dst).run(
        what=f"generating host code for kernel `{job.marker.name}`")
    optimized.unlink()
