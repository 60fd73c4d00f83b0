"""Stage `serialize` for GPUs: `gpu-module-to-binary` turns the lowered
gpu.module into a HSACO (AMD) or cubin (NVIDIA, through ptxas; PTX when
ptxas is absent). No ROCm or CUDA install is needed: the pass looks for
tools and device libraries in a "toolkit" directory, made here from what the
toolchain record found (ld.lld, ptxas, libdevice, ROCm's device libraries).

This stage runs mlir-opt as a subprocess: the LLVM inside the MLIR Python
bindings (22.1) has no AMDGPU target, so the bindings cannot serialise AMD
code; NVIDIA goes the same way to keep one path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.fsutil import cache_home
from cargo_mlir.pipeline import mlir_util as U
from cargo_mlir.pipeline.stage import Context, WithCompanions
from cargo_mlir.process import cmd

ROCM_DIRS = ("/opt/rocm",)


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.is_symlink() and os.readlink(path) == target):
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(path)


def _toolkit_dir(kind: str, *parts: str | None) -> Path:
    """A directory per combination of tools and libraries (several may be in use at once)."""
    digest = hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()[:12]
    return cache_home() / "toolkits" / f"{kind}-{digest}"


def rocm_toolkit(ctx: Context) -> Path:
    """A ROCm install as gpu-module-to-binary wants one: `llvm/bin/ld.lld` and,
    for code that calls OCML, `amdgcn/bitcode` (the device libraries the
    toolchain found; gpu_math.py)."""
    lld, bitcode = ctx.toolchain.tool("ld.lld"), ctx.toolchain.library("rocm-device-libs")
    bitcode_dir = str(Path(bitcode).parent) if bitcode else None
    for d in ROCM_DIRS:
        if (Path(d) / "llvm" / "bin" / "ld.lld").exists() and bitcode_dir == str(Path(d) / "amdgcn" / "bitcode"):
            return Path(d)
    root = _toolkit_dir("rocm", lld, bitcode_dir)
    _link(root / "llvm" / "bin" / "ld.lld", lld)
    if bitcode_dir:
        _link(root / "amdgcn" / "bitcode", bitcode_dir)
    else:
        (root / "amdgcn" / "bitcode").mkdir(parents=True, exist_ok=True)
    return root


def cuda_toolkit(ctx: Context) -> Path | None:
    """A CUDA install as gpu-module-to-binary wants one: `bin/ptxas` and
    `nvvm/libdevice/libdevice.10.bc`, each when found (None: neither)."""
    ptxas = ctx.toolchain.tool("ptxas") if ctx.toolchain.has("ptxas") else None
    libdevice = ctx.toolchain.library("libdevice")
    if not ptxas and not libdevice:
        return None
    root = _toolkit_dir("cuda", ptxas, libdevice)
    if ptxas:
        _link(root / "bin" / "ptxas", ptxas)
    if libdevice:
        _link(root / "nvvm" / "libdevice" / "libdevice.10.bc", libdevice)
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
    """AMD: a HSACO. NVIDIA: the PTX (libdevice linked in), and with ptxas
    the cubin it assembles, the PTX beside it (stage.WithCompanions): a
    driver that cannot load the cubin (too old for its ELF ABI) JITs the PTX."""
    internalize(module)
    if ctx.target.kind == "amdgpu":
        options = f"format=bin toolkit={rocm_toolkit(ctx)}"
    else:
        toolkit = cuda_toolkit(ctx)
        options = "format=isa" + (f" toolkit={toolkit}" if toolkit else "")
    src, binary = ctx.tmp("lowered.mlir"), ctx.tmp("binary.mlir")
    src.write_text(str(module))
    cmd(ctx.toolchain.tool("mlir-opt"), src, f"--gpu-module-to-binary={options}", "-o", binary).run(
        what=f"serialising {ctx.what}")
    image = binary_object(binary.read_text(), ctx.what)
    if ctx.target.kind == "amdgpu" or not ctx.toolchain.has("ptxas"):
        return image
    ptx, cubin = ctx.tmp("kernel.ptx"), ctx.tmp("kernel.cubin")
    ptx.write_bytes(image)
    cmd(ctx.toolchain.tool("ptxas"), f"-arch={ctx.target.name}", "-O3", ptx, "-o", cubin).run(
        what=f"assembling {ctx.what} (ptxas)")
    return WithCompanions(cubin.read_bytes(), {"ptx": image})


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
