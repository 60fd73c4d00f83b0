"""Stage `serialize` for GPUs: `gpu-module-to-binary` turns the lowered
gpu.module into a HSACO (AMD) or cubin (NVIDIA, through ptxas; PTX when
ptxas is absent). No ROCm is needed: a minimal toolkit directory (an empty
bitcode dir and Debian's ld.lld) is enough for code without device libraries."""

from __future__ import annotations

import os
from pathlib import Path

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import cache_home
from cargo_mlir.pipeline.job import KernelJob
from cargo_mlir.process import cmd

ROCM_DIRS = ("/opt/rocm",)


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.is_symlink() and os.readlink(path) == target):
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(path)


def rocm_toolkit(job: KernelJob) -> Path:
    for d in ROCM_DIRS:
        if (Path(d) / "llvm" / "bin" / "ld.lld").exists():
            return Path(d)
    root = cache_home() / "toolkits" / "rocm-minimal"
    (root / "amdgcn" / "bitcode").mkdir(parents=True, exist_ok=True)
    _link(root / "llvm" / "bin" / "ld.lld", job.toolchain.tool("ld.lld"))
    return root


def cuda_toolkit(job: KernelJob) -> Path | None:
    if not job.toolchain.has("ptxas"):
        return None
    root = cache_home() / "toolkits" / "cuda-ptxas"
    _link(root / "bin" / "ptxas", job.toolchain.tool("ptxas"))
    return root


def image_ext(job: KernelJob) -> str:
    if job.target.kind == "amdgpu":
        return "hsaco"
    return "cubin" if job.toolchain.has("ptxas") else "ptx"


def serialize(job: KernelJob, src: Path, dst: Path) -> None:
    if job.target.kind == "amdgpu":
        options = f"format=bin toolkit={rocm_toolkit(job)}"
    else:
        toolkit = cuda_toolkit(job)
        options = f"format=bin toolkit={toolkit}" if toolkit else "format=isa"
    binary = dst.with_name(dst.name + ".mlir")
    cmd(job.toolchain.tool("mlir-opt"), src, f"--gpu-module-to-binary={options}", "-o", binary).run(
        what=f"serialising kernel `{job.marker.name}` for {job.target.name}")
    dst.write_bytes(_object_bytes(binary.read_text(), job))
    binary.unlink()


def _object_bytes(text: str, job: KernelJob) -> bytes:
    from mlir import ir
    from mlir.dialects import gpu

    with ir.Context():
        module = ir.Module.parse(text)
        for op in module.body.operations:
            if op.operation.name == "gpu.binary":
                objects = ir.ArrayAttr(op.operation.attributes["objects"])
                return bytes(gpu.ObjectAttr(objects[0]).object)
    raise CargoMlirError(f"gpu-module-to-binary produced no binary for kernel `{job.marker.name}`")
