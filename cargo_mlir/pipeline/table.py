"""The pipeline as data: the stages of one function, in order, each with its
scope. Stage names double as the middle part of dump file names
(`<fn>.any.<stage>.<ext>` for the function stages, `<fn>.<target>.<stage>.<ext>`
for the per-target ones); a dumped file can be fed back to start at the next
stage (`python -m cargo_mlir.pipeline.tool`).

The settable stages (`raise`, `autodiff`, `schedule`, `lower`) run a pass
pipeline or transform script from the configuration, else their default."""

from __future__ import annotations

from cargo_mlir.config import PassSpec
from cargo_mlir.pipeline.passes import run_spec
from cargo_mlir.pipeline.stage import FUNCTION, TARGET, Context, Stage
from cargo_mlir.pipeline.stages import (codegen, entry, extract, import_, raise_stage, retarget_gpu,
                                        retarget_host, serialize)
from cargo_mlir.pipeline.targets import Target

# What scheduled host code holds besides scf/memref/arith/func/llvm (vector
# ops of the matmul micro-kernels; linalg ops no schedule took), then the usual.
HOST_LOWERING = ("convert-linalg-to-loops,lower-affine,convert-vector-to-scf{full-unroll=true},"
                 "convert-vector-to-llvm{enable-x86vector=false},expand-strided-metadata,lower-affine,"
                 "convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-math-to-llvm,"
                 "convert-arith-to-llvm,convert-index-to-llvm,convert-ub-to-llvm,convert-cf-to-llvm,"
                 "convert-func-to-llvm,reconcile-unrealized-casts")
GPU_LOWERING = ("gpu.module(convert-linalg-to-loops,convert-scf-to-cf,expand-strided-metadata,{convert}),convert-ub-to-llvm,"
                "reconcile-unrealized-casts")


def default_lowering(ctx: Context) -> PassSpec:
    kind = ctx.target.kind
    if kind == "host":
        return PassSpec(pipeline=HOST_LOWERING)
    convert = f"convert-gpu-to-rocdl{{chipset={ctx.target.name}}}" if kind == "amdgpu" else "convert-gpu-to-nvvm"
    return PassSpec(pipeline=GPU_LOWERING.format(convert=convert))


AUTODIFF = PassSpec(pipeline="differentiate")


def default_autodiff(ctx: Context) -> PassSpec:
    """Every derivative the function needs (docs/autodiff.md); nothing when it needs none."""
    return AUTODIFF


def default_schedule(ctx: Context) -> PassSpec | None:
    """Host: recognised matmuls get the packed, vectorised, threaded schedule
    (templates/schedules/host-matmul.mlir); GPU targets: none."""
    return PassSpec(pipeline="schedule-matmul-host") if ctx.target.kind == "host" else None


def pass_stage(name: str, default):
    """A stage that runs the configured passes, else `default(ctx)` (None: nothing)."""
    def run(module, ctx: Context):
        spec = ctx.spec(name) or default(ctx)
        if spec is not None:
            run_spec(spec, module, ctx, name)
        return module
    run.__name__ = f"{name}_stage"
    return run


def schedule_stage(module, ctx: Context):
    """The configured schedule, else the default. A configured transform script
    that carries `cargo_mlir.tiles` is a matmul schedule (a copy of
    templates/schedules/host-matmul.mlir): on the host it replaces the shipped
    one inside `schedule-matmul-host`; any other script runs on the module."""
    spec = ctx.spec("schedule")
    if spec is not None and spec.transform is not None and ctx.target.kind == "host" \
            and "cargo_mlir.tiles" in spec.transform.read_text():
        from cargo_mlir.pipeline.stages.schedule_host import schedule_matmuls
        schedule_matmuls(module, ctx, spec.transform)
        return module
    return pass_stage("schedule", default_schedule)(module, ctx)


def autodiff_stage(module, ctx: Context):
    """The configured `autodiff` passes, else `differentiate`; a derivative the
    code needs that they did not make is an error here (it would otherwise
    trap on a GPU or stop the program on the host)."""
    from cargo_mlir.abi import GRAD_PREFIX
    from cargo_mlir.errors import CargoMlirError
    from cargo_mlir.pipeline import mlir_util as U
    pass_stage("autodiff", default_autodiff)(module, ctx)
    missing = [U.sym_name(op) for op in module.body.operations
               if (U.sym_name(op) or "").startswith(GRAD_PREFIX) and U.is_declaration(op)]
    if ctx.marker.kind == "autodiff" and U.find(module.body, ctx.marker.entry) is None:
        missing.append(ctx.marker.entry)
    if missing:
        raise CargoMlirError(f"{ctx.what} ({ctx.marker.location}) needs derivatives the `autodiff` stage did not "
                             f"make ({', '.join(missing)})",
                             hint="keep the pass `differentiate` in the `autodiff` pipeline of "
                                  "[package.metadata.cargo-mlir.pipeline]")
    return module


def _by_kind(host, gpu):
    return lambda module, ctx: (host if ctx.target.kind == "host" else gpu)(module, ctx)


FUNCTION_STAGES = (
    Stage("extract", FUNCTION, "ll", extract.extract, "the function and its callees, out of the crate's bitcode"),
    Stage("import", FUNCTION, "mlir", import_.import_llvm, "LLVM IR into the MLIR LLVM dialect (mlir-translate)"),
    Stage("raise", FUNCTION, "mlir", raise_stage.raise_stage,
          "loops to scf.for, buffers to memref, bounds checks versioned", raise_stage.default),
    Stage("autodiff", FUNCTION, "mlir", autodiff_stage,
          "derivatives (#[autodiff_*]) made from their primal's code", default_autodiff),
)

TARGET_STAGES = (
    Stage("entry", TARGET, "mlir", entry.entry, "the entry the runtime calls (CPU grid, gpu.func kernel, direct)"),
    Stage("retarget", TARGET, "mlir", _by_kind(retarget_host.retarget_host, retarget_gpu.retarget_gpu),
          "cargo_mlir::gpu ids, panics and address spaces for the target"),
    Stage("schedule", TARGET, "mlir", schedule_stage, "tiling, vectorisation, mapping", default_schedule),
    Stage("lower", TARGET, "mlir", pass_stage("lower", default_lowering),
          "to the LLVM / ROCDL / NVVM dialects", default_lowering),
)

HOST_EMIT = (
    Stage("translate", TARGET, "ll", codegen.translate, "the LLVM dialect to LLVM IR (in-process)"),
    Stage("codegen", TARGET, "o", codegen.codegen_host, "opt -O3, llc: an x86-64 object"),
)
GPU_EMIT = (
    Stage("serialize", TARGET, serialize.image_ext, serialize.serialize,
          "gpu-module-to-binary: a HSACO, a cubin (ptxas) or PTX without ptxas"),
)


def target_stages(target: Target) -> tuple[Stage, ...]:
    return TARGET_STAGES + (HOST_EMIT if target.kind == "host" else GPU_EMIT)


def stages_for(target: Target) -> tuple[Stage, ...]:
    """Every stage one function goes through for `target`, in order."""
    return FUNCTION_STAGES + target_stages(target)
