"""Stages that run MLIR tools: `import` (mlir-translate), the user-settable
pass stages (`raise`, `autodiff`, `lower`: mlir-opt pass pipelines or
transform-dialect scripts) and `translate` back to LLVM IR."""

from __future__ import annotations

import shutil
from pathlib import Path

from cargo_mlir.config import PassSpec
from cargo_mlir.pipeline.job import KernelJob
from cargo_mlir.process import cmd


def import_llvm(job: KernelJob, src: Path, dst: Path) -> None:
    cmd(job.toolchain.tool("mlir-translate"), "--import-llvm", src, "-o", dst).run(
        what=f"importing kernel `{job.marker.name}` into MLIR")


def run_spec(job: KernelJob, spec: PassSpec, src: Path, dst: Path, stage: str) -> None:
    opt = cmd(job.toolchain.tool("mlir-opt"), src, "-o", dst)
    if spec.pipeline:
        opt = opt.arg(f"--pass-pipeline={spec.pipeline}")
    else:
        opt = opt.arg(f"--transform-preload-library=transform-library-paths={spec.transform}",
                      "--transform-interpreter")
    opt.run(what=f"stage `{stage}` of kernel `{job.marker.name}` for {job.target.name} ({spec.describe()})")


def pass_stage(name: str, default: PassSpec | None = None):
    """A stage that runs the configured passes, or copies its input when none are set."""
    def stage(job: KernelJob, src: Path, dst: Path) -> None:
        spec = job.spec(name) or default
        if spec is None:
            shutil.copyfile(src, dst)
        else:
            run_spec(job, spec, src, dst, name)
    stage.__name__ = f"{name}_stage"
    stage.default = default
    return stage


def translate(job: KernelJob, src: Path, dst: Path) -> None:
    cmd(job.toolchain.tool("mlir-translate"), "--mlir-to-llvmir", src, "-o", dst).run(
        what=f"translating kernel `{job.marker.name}` to LLVM IR")
