"""Packaging: one static library per unit, bundled into the unit's rlib by
the wrapper (whole-archive). It holds every kernel's host object and a
registration object whose constructor hands the kernel table to the runtime
(`cargo_mlir_rt_register`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cargo_mlir import units
from cargo_mlir.fsutil import sha256_file
from cargo_mlir.pipeline.retarget import host_entry
from cargo_mlir.markers import Marker
from cargo_mlir.process import cmd
from cargo_mlir.toolchain import Toolchain

TABLE_VERSION = 1   # must match runtime.rs


@dataclass(frozen=True)
class KernelObjects:
    marker: Marker
    host_object: Path


def _c_bytes(data: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:02X}" for b in data)


def registration_ir(unit_id: str, kernels: list[KernelObjects]) -> str:
    lines, entries = [], []
    for i, k in enumerate(kernels):
        name = k.marker.entry.encode()
        lines.append(f'@name{i} = private unnamed_addr constant [{len(name)} x i8] c"{_c_bytes(name)}"')
        lines.append(f"declare void @{host_entry(k.marker)}(ptr, ptr, i64, i64)")
        entries.append(f"%entry {{ ptr @name{i}, i64 {len(name)}, ptr @{host_entry(k.marker)}, ptr null, i64 0 }}")
    n = len(kernels)
    return "\n".join([
        "%entry = type { ptr, i64, ptr, ptr, i64 }",
        *lines,
        f"@entries = private constant [{n} x %entry] [{', '.join(entries)}]",
        f"@table = private constant {{ i32, i32, ptr }} {{ i32 {TABLE_VERSION}, i32 {n}, ptr @entries }}",
        "declare void @cargo_mlir_rt_register(ptr)",
        f"define internal void @register_{unit_id}() {{",
        "  call void @cargo_mlir_rt_register(ptr @table)",
        "  ret void",
        "}",
        f"@llvm.global_ctors = appending global [1 x {{ i32, ptr, ptr }}] [{{ i32, ptr, ptr }} {{ i32 65535, ptr @register_{unit_id}, ptr null }}]",
        "",
    ])


def package_unit(state: Path, unit_id: str, kernels: list[KernelObjects], tc: Toolchain) -> tuple[Path, str]:
    """Write lib<name>.a for the unit; return its path and content hash."""
    out_dir = units.kernels_dir(state, unit_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    reg_ll = out_dir / "register.ll"
    reg_ll.write_text(registration_ir(unit_id, kernels))
    reg_o = out_dir / "register.o"
    cmd(tc.tool("llc"), "-O2", "-relocation-model=pic", "-filetype=obj", reg_ll, "-o", reg_o).run(
        what="compiling the kernel registration table")
    objects = [reg_o]
    for k in kernels:
        local = out_dir / f"{k.marker.name}.host.o"
        local.write_bytes(k.host_object.read_bytes())
        objects.append(local)
    lib = out_dir / f"lib{units.library_name(unit_id)}.a"
    tmp = lib.with_suffix(".a.tmp")
    tmp.unlink(missing_ok=True)
    cmd(tc.tool("llvm-ar"), "rcsD", tmp, *objects).run(what="archiving kernels")
    tmp.replace(lib)
    return lib, sha256_file(lib)[:16]
