"""Packaging: one static library per unit, which every final link of the
unit's code links (whole-archive, see units.library_flags). It holds every kernel's host object and a
registration object whose constructor hands the kernel table to the runtime
(`cargo_mlir_rt_register`). Device images travel as standard LLVM offload
binaries (what `llvm-offload-binary` writes) in the `.llvm.offloading`
section, so `llvm-objdump --offloading` lists them in the final binary; the
table points at the image inside each one."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cargo_mlir.abi import REGISTER_FN, TABLE_VERSION
from cargo_mlir.build.markers import Marker
from cargo_mlir.cargo import units
from cargo_mlir.fsutil import sha256_file
from cargo_mlir.pipeline.stages.codegen import c_bytes
from cargo_mlir.pipeline.stages.entry import direct_entry, host_entry
from cargo_mlir.pipeline.targets import Target
from cargo_mlir.process import cmd
from cargo_mlir.toolchain.record import Toolchain

OFFLOAD_KIND = {"amdgpu": "hip", "nvptx": "cuda"}
# llvm-offload-binary infers the image kind from the file name
IMAGE_SUFFIX = {"hsaco": ".o", "cubin": ".cubin", "ptx": ".s"}


@dataclass(frozen=True)
class KernelObjects:
    marker: Marker
    host_object: Path | None            # None: an accelerate function with no fast path
    images: tuple[tuple[Target, Path], ...] = field(default_factory=tuple)


def image_in_offload_binary(data: bytes) -> tuple[int, int]:
    """(offset, size) of the single image in an offload binary (LLVM's
    OffloadBinary: header magic, version, size, entry offset/size; entry:
    kinds, flags, string table, image offset/size)."""
    magic, _version, _size, entry_offset, _entry_size = struct.unpack_from("<4sIQQQ", data, 0)
    if magic != b"\x10\xff\x10\xad":
        raise ValueError("not an LLVM offload binary")
    _ik, _ok, _flags, _so, _ns, offset, size = struct.unpack_from("<HHIQQQQ", data, entry_offset)
    return offset, size


def offload_binary(tc: Toolchain, marker: Marker, target: Target, image: Path, out_dir: Path) -> Path:
    """The image as an LLVM offload binary, kept beside the cached image (whose
    name is its content's key), so an unchanged kernel is not packaged again."""
    out = image.with_name(image.name + ".offload")
    try:
        image_in_offload_binary(out.read_bytes())
        return out
    except (OSError, ValueError, struct.error):
        pass                                    # missing or damaged: make it again
    suffix = IMAGE_SUFFIX[image.suffix.lstrip('.')]
    named = out_dir / f"{marker.key}.{target.name}{suffix}"
    data = image.read_bytes()
    # PTX is loaded as a C string by the driver: keep it NUL-terminated
    named.write_bytes(data + b"\0" if named.suffix == ".s" and not data.endswith(b"\0") else data)
    tmp = out_dir / f"{marker.key}.{target.name}{suffix}.offload"
    cmd(tc.tool("llvm-offload-binary"), "-o", tmp,
        f"--image=file={named},triple={target.triple},arch={target.name},kind={OFFLOAD_KIND[target.kind]}").run(
        what=f"packaging the {target.name} image of kernel `{marker.name}`")
    os.replace(tmp, out)
    return out


def _bytes_global(name: str, data: bytes, extra: str = "") -> str:
    return f'@{name} = private constant [{len(data)} x i8] c"{c_bytes(data)}"{extra}'


def registration_ir(unit_id: str, kernels: list[KernelObjects], binaries: dict[str, Path]) -> str:
    """The kernel table; `binaries`: each image's offload binary, by the image's path."""
    lines, entries = [], []
    for i, k in enumerate(kernels):
        name = k.marker.entry.encode()
        lines.append(_bytes_global(f"name{i}", name))
        kernel = k.marker.kind == "kernel"
        # a kernel has a CPU grid entry; an accelerate function a direct entry
        code = None if k.host_object is None else host_entry(k.marker) if kernel else direct_entry(k.marker)
        if code:
            lines.append(f"declare void @{code}(ptr, ptr, i64, i64)" if kernel else f"declare i8 @{code}(ptr, ptr)")
        images = []
        for j, (target, image) in enumerate(k.images):
            blob = binaries[str(image)].read_bytes()
            offset, size = image_in_offload_binary(blob)
            lines.append(_bytes_global(f"ofb{i}_{j}", blob, ', section ".llvm.offloading", align 8'))
            lines.append(_bytes_global(f"arch{i}_{j}", target.name.encode()))
            images.append(f"%image {{ ptr @arch{i}_{j}, i64 {len(target.name)}, "
                          f"ptr getelementptr (i8, ptr @ofb{i}_{j}, i64 {offset}), i64 {size} }}")
        image_table = "ptr null"
        if images:
            lines.append(f"@images{i} = private constant [{len(images)} x %image] [{', '.join(images)}]")
            image_table = f"ptr @images{i}"
        host = f"ptr @{code}" if kernel and code else "ptr null"
        direct = f"ptr @{code}" if not kernel and code else "ptr null"
        entries.append(f"%entry {{ ptr @name{i}, i64 {len(name)}, {host}, {image_table}, i64 {len(images)}, "
                       f"{direct} }}")
    n = len(kernels)
    return "\n".join([
        "%entry = type { ptr, i64, ptr, ptr, i64, ptr }",
        "%image = type { ptr, i64, ptr, i64 }",
        *lines,
        f"@entries = private constant [{n} x %entry] [{', '.join(entries)}]",
        f"@table = private constant {{ i32, i32, ptr }} {{ i32 {TABLE_VERSION}, i32 {n}, ptr @entries }}",
        f"declare void @{REGISTER_FN}(ptr)",
        f"define internal void @register_{unit_id}() {{",
        f"  call void @{REGISTER_FN}(ptr @table)",
        "  ret void",
        "}",
        f"@llvm.global_ctors = appending global [1 x {{ i32, ptr, ptr }}] [{{ i32, ptr, ptr }} {{ i32 65535, ptr @register_{unit_id}, ptr null }}]",
        "",
    ])


def package_unit(state: Path, unit_id: str, kernels: list[KernelObjects], tc: Toolchain) -> tuple[Path, str]:
    """Write lib<name>.a for the unit; return its path and content hash."""
    out_dir = units.kernels_dir(state, unit_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    # one llvm-offload-binary per image: subprocesses, so threads run them in parallel
    todo = [(k.marker, t, image) for k in kernels for t, image in k.images]
    with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1)) as pool:
        made = list(pool.map(lambda a: offload_binary(tc, *a, out_dir), todo))
    binaries = {str(image): path for (_, _, image), path in zip(todo, made)}
    reg_ll = out_dir / "register.ll"
    reg_ll.write_text(registration_ir(unit_id, kernels, binaries))
    reg_o = out_dir / "register.o"
    cmd(tc.tool("llc"), "-O2", "-relocation-model=pic", "-filetype=obj", reg_ll, "-o", reg_o).run(
        what="compiling the kernel registration table")
    objects = [reg_o]
    for k in kernels:
        if k.host_object is None:
            continue
        local = out_dir / f"{k.marker.key}.{'host' if k.marker.kind == 'kernel' else 'direct'}.o"
        local.write_bytes(k.host_object.read_bytes())
        objects.append(local)
    lib = units.library_path(state, unit_id)
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_name(f".{lib.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    cmd(tc.tool("llvm-ar"), "rcsD", tmp, *objects).run(what="archiving kernels")
    digest = sha256_file(tmp)[:16]
    try:
        same = sha256_file(lib)[:16] == digest
    except OSError:
        same = False
    if same:        # the library as it was: what links it is not linked again
        tmp.unlink()
    else:
        tmp.replace(lib)
    return lib, digest
