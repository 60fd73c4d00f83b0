"""The pipeline as data: an ordered table of stages per target kind.

Stage names double as the middle part of dump file names
(`<kernel>.<target>.<stage>.<ext>`); a dumped file can be fed back to start
at the next stage. `extract` and `import` do not depend on the target and run
once per kernel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from cargo_mlir.config import PassSpec
from cargo_mlir.pipeline import codegen, extract, mlir_tools, retarget, retarget_gpu, serialize
from cargo_mlir.pipeline.targets import Target

StageFn = Callable  # (KernelJob, src: Path, dst: Path) -> None


@dataclass(frozen=True)
class Stage:
    name: str
    ext: Union[str, Callable]     # or a function of the job (nvptx: cubin, or ptx without ptxas)
    run: StageFn
    what: str

    def ext_for(self, job) -> str:
        return self.ext(job) if callable(self.ext) else self.ext


HOST_LOWERING = PassSpec(pipeline="builtin.module(convert-scf-to-cf,convert-arith-to-llvm,convert-index-to-llvm,"
                                  "convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)")

ROCDL_LOWERING = "builtin.module(gpu.module(convert-gpu-to-rocdl{{chipset={chip}}}),reconcile-unrealized-casts)"
NVVM_LOWERING = PassSpec(pipeline="builtin.module(gpu.module(convert-gpu-to-nvvm),reconcile-unrealized-casts)")


def rocdl_lowering(chip: str) -> PassSpec:
    return PassSpec(pipeline=ROCDL_LOWERING.format(chip=chip))


def _gpu_stages(lowering, image: str) -> tuple["Stage", ...]:
    return (
        Stage("retarget", "mlir", retarget_gpu.retarget_gpu,
              "a gpu.module for the target: id intrinsics, traps, kernel wrapper"),
        Stage("raise", "mlir", mlir_tools.pass_stage("raise"), "high-level rewrites (none by default)"),
        Stage("autodiff", "mlir", mlir_tools.pass_stage("autodiff"), "differentiation (none by default)"),
        Stage("lower", "mlir", mlir_tools.pass_stage("lower", lowering), "to the ROCDL/NVVM dialects"),
        Stage("serialize", serialize.image_ext, serialize.serialize, f"gpu-module-to-binary: {image}"),
    )


COMMON = (
    Stage("extract", "ll", extract.extract, "the kernel and its callees, out of the crate's bitcode"),
    Stage("import", "mlir", mlir_tools.import_llvm, "mlir-translate --import-llvm"),
)

PER_KIND: dict[str, tuple[Stage, ...]] = {
    "host": (
        Stage("retarget", "mlir", retarget.retarget_host, "resolve cargo_mlir::gpu ids; add the CPU grid loop"),
        Stage("raise", "mlir", mlir_tools.pass_stage("raise"), "high-level rewrites (none by default)"),
        Stage("autodiff", "mlir", mlir_tools.pass_stage("autodiff"), "differentiation (none by default)"),
        Stage("lower", "mlir", mlir_tools.pass_stage("lower", HOST_LOWERING), "to the LLVM dialect"),
        Stage("translate", "ll", mlir_tools.translate, "mlir-translate --mlir-to-llvmir"),
        Stage("codegen", "o", codegen.codegen_host, "opt -O3, llc: an x86-64 object"),
    ),
    "nvptx": _gpu_stages(NVVM_LOWERING, "a cubin (ptxas), or PTX without ptxas"),
}


def stages_for(target: Target) -> tuple[Stage, ...]:
    if target.kind == "amdgpu":
        return COMMON + _gpu_stages(rocdl_lowering(target.name), "a HSACO")
    return COMMON + PER_KIND[target.kind]

