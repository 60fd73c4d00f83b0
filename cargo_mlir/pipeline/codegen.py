"""Stage `codegen` for the host: LLVM IR → x86-64 object. Only the grid
entry stays public; everything else is internal so nothing clashes with the
crate's own copies of the same functions.

The object must also link where the crate is built with LTO, which
internalises core's panic functions: each panic a kernel can reach becomes
an internal function that reports the kernel and the panic through the
runtime's `cargo_mlir_rt_kernel_panic` (a `#[no_mangle]` symbol LTO keeps)."""

from __future__ import annotations

import re
from pathlib import Path

from cargo_mlir.pipeline.diagnostics import LIBM, demangle
from cargo_mlir.pipeline.job import KernelJob
from cargo_mlir.pipeline.retarget import host_entry
from cargo_mlir.process import cmd

PANIC_HOOK = "cargo_mlir_rt_kernel_panic"
_DECLARE = re.compile(r'^declare (?P<ret>[^@\n]*)@(?P<name>"[^"]+"|[\w.$]+)\((?P<params>[^\n]*)\)(?P<rest>[^\n]*)$',
                      re.M)
_PERSONALITY = re.compile(r" personality ptr @rust_eh_personality")


def c_bytes(data: bytes) -> str:
    """`data` as the body of an LLVM IR c"…" string."""
    return "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:02X}" for b in data)


def self_contained(ir: str, kernel: str, demangled: dict[str, str]) -> str:
    """Define every external the kernel still calls (only panics pass the
    diagnostics) as a call to the runtime's panic hook; drop the personality
    (the device bitcode is built with panic=abort: no landing pads)."""
    out, n = [], 0
    pos = 0
    for m in _DECLARE.finditer(ir):
        name = m["name"].strip('"')
        if name.startswith("llvm.") or name in LIBM or name == PANIC_HOOK:
            continue
        out.append(ir[pos:m.start()])
        pos = m.end()
        if name == "rust_eh_personality":
            continue
        data = f"kernel `{kernel}` panicked on the host in {demangled.get(name, name)}".encode()
        text, size = c_bytes(data), len(data)
        out.append(f'@__cargo_mlir_panic_{n} = private unnamed_addr constant [{size} x i8] c"{text}"\n'
                   f"define internal {m['ret']}@{m['name']}({m['params']}){m['rest']} {{\n"
                   f"  call void @{PANIC_HOOK}(ptr @__cargo_mlir_panic_{n}, i64 {size})\n"
                   f"  unreachable\n}}")
        n += 1
    out.append(ir[pos:])
    body = _PERSONALITY.sub("", "".join(out))
    return body + (f"\ndeclare void @{PANIC_HOOK}(ptr, i64)\n" if n else "")


def codegen_host(job: KernelJob, src: Path, dst: Path) -> None:
    tc = job.toolchain
    ir = src.read_text()
    contained = dst.with_suffix(".contained.ll")
    names = [m["name"].strip('"') for m in _DECLARE.finditer(ir) if not m["name"].startswith("llvm.")]
    contained.write_text(self_contained(ir, job.marker.name, demangle(job, names)))
    optimized = dst.with_suffix(".opt.bc")
    cmd(tc.tool("opt"), "-passes=internalize,default<O3>,globaldce",
        f"-internalize-public-api-list={host_entry(job.marker)}", contained, "-o", optimized).run(
        what=f"optimising kernel `{job.marker.name}` for the host")
    cmd(tc.tool("llc"), "-O3", "-relocation-model=pic", "-filetype=obj", optimized, "-o", dst).run(
        what=f"generating host code for kernel `{job.marker.name}`")
    optimized.unlink()
    contained.unlink()
