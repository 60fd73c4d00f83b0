"""Stage `serialize` for GPUs: `gpu-module-to-binary` turns the lowered
gpu.module into a HSACO (AMD) or cubin (NVIDIA, through ptxas; PTX when
ptxas is absent). No ROCm is needed: a minimal toolkit directory (an empty
bitcode dir and Debian's ld.lld) is enough for code without device libraries.

This stage runs mlir-opt as a subprocess: the LLVM inside the MLIR Python
bindings (22.1) has no AMDGPU target, so the bindings cannot serialise AMD
code; NVIDIA goes the same way to keep one path."""

from __future__ import annotations

import os
from pathlib import Path

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import cache_home
from cargo_mlir.pipeline import mlir_util as U
from cargo_mlir.pipeline.stage import Context
from cargo_mlir.process import cmd

ROCM_DIRS = ("/opt/rocm",)


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.is_symlink() and os.readlink(path) == target):
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(path)


def rocm_toolkit(ctx: Context) -> Path:
    for d in ROCM_DIRS:
        if (Path(d) / "llvm" / "bin" / "ld.lld").exists():
            return Path(d)
    root = cache_home() / "toolkits" / "rocm-minimal"
    (root / "amdgcn" / "bitcode").mkdir(parents=True, exist_ok=True)
    _link(root / "llvm" / "bin" / "ld.lld", ctx.toolchain.tool("ld.lld"))
    return root


def cuda_toolkit(ctx: Context) -> Path | None:
    if not ctx.toolchain.has("ptxas"):
        return None
    root = cache_home() / "toolkits" / "cuda-ptxas"
    _link(root / "bin" / "ptxas", ctx.toolchain.tool("ptxas"))
    return root


def image_ext(ctx: Context) -> str:
    if ctx.target.kind == "amdgpu":
        return "hsaco"
    return "cubin" if ctx.toolchain.has("ptxas") else "ptx"


def internalize(module) -> None:
    """Only kernels are symbols of the image: the GPU lowerings give lowered
    func.funcs external linkage and `_mlir_ciface_` wrappers nothing calls."""
    from mlir import ir

    for gpu_module in module.body.operations:
        if gpu_module.operation.name != "gpu.module":
            continue
        body = gpu_module.operation.regions[0].blocks[0]
        for op in list(body.operations):
            attrs = op.operation.attributes
            if op.operation.name != "llvm.func" or "gpu.kernel" in attrs or not op.operation.regions[0].blocks:
                continue
            if U.sym_name(op).startswith("_mlir_ciface_"):
                op.operation.erase()
                continue
            attrs["linkage"] = ir.Attribute.parse("#llvm.linkage<internal>")
            for name in ("llvm.emit_c_interface", "sym_visibility"):
                if name in attrs:
                    del attrs[name]


def serialize(module, ctx: Context) -> bytes:
    internalize(module)
    if ctx.target.kind == "amdgpu":
        options = f"format=bin toolkit={rocm_toolkit(ctx)}"
    else:
        toolkit = cuda_toolkit(ctx)
        options = f"format=bin toolkit={toolkit}" if toolkit else "format=isa"
    src, binary = ctx.tmp("lowered.mlir"), ctx.tmp("binary.mlir")
    src.write_text(str(module))
    cmd(ctx.toolchain.tool("mlir-opt"), src, f"--gpu-module-to-binary={options}", "-o", binary).run(
        what=f"serialising {ctx.what}")
    return binary_object(binary.read_text(), ctx.what)


def binary_object(text: str, what: str) -> bytes:
    """The object (HSACO, cubin or PTX) in the `gpu.binary` of mlir-opt's output."""
    from mlir import ir
    from mlir.dialects import gpu

    with ir.Context():
        module = ir.Module.parse(text)
        for op in module.body.operations:
            if op.operation.name == "gpu.binary":
                objects = ir.ArrayAttr(op.operation.attributes["objects"])
                return bytes(gpu.ObjectAttr(objects[0]).object)
    raise CargoMlirError(f"gpu-module-to-binary produced no binary for {what}")
