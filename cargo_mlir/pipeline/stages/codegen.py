"""Stage `codegen` for the host: LLVM IR → x86-64 object. Only the grid
entry stays public; everything else is internal so nothing clashes with the
crate's own copies of the same functions.

The object must also link where the crate is built with LTO, which
internalises core's panic functions: each panic a kernel can reach becomes
an internal function that reports the kernel and the panic through the
runtime's `cargo_mlir_rt_kernel_panic` (a `#[no_mangle]` symbol LTO keeps)."""

from __future__ import annotations

import re
from cargo_mlir.abi import PANIC_HOOK, RUNTIME_PREFIX
from cargo_mlir.pipeline.diagnostics import LIBM, demangle
from cargo_mlir.pipeline.stage import Context
from cargo_mlir.pipeline.stages.entry import direct_entry, host_entry
from cargo_mlir.process import cmd
_DECLARE = re.compile(r'^declare (?P<ret>[^@\n]*)@(?P<name>"[^"]+"|[\w.$]+)\((?P<params>[^\n]*)\)(?P<rest>[^\n]*)$',
                      re.M)
ALLOCATOR = ("malloc", "free", "aligned_alloc", "realloc")   # scheduled buffers, autodiff tapes
_PERSONALITY = re.compile(r" personality ptr @rust_eh_personality")


def c_bytes(data: bytes) -> str:
    """`data` as the body of an LLVM IR c"…" string."""
    return "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:02X}" for b in data)


def self_contained(ir: str, kernel: str, demangled: dict[str, str]) -> str:
    """Define every external the kernel still calls (only panics pass the
    diagnostics) as a call to the runtime's panic hook, except the runtime's own
    entries (`cargo_mlir_rt_*`: the panic hook, the host pool, the GPU matmul)
    and the C allocator (scheduled code's buffers); drop the personality
    (the device bitcode is built with panic=abort: no landing pads)."""
    out, n = [], 0
    pos = 0
    for m in _DECLARE.finditer(ir):
        name = m["name"].strip('"')
        if name.startswith(("llvm.", RUNTIME_PREFIX)) or name in LIBM or name in ALLOCATOR:
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


def translate(module, ctx: Context) -> str:
    """Stage `translate`: the LLVM dialect to LLVM IR, in-process."""
    from mlir.dialects import llvm
    return llvm.translate_module_to_llvmir(module.operation)


def codegen_host(ir: str, ctx: Context) -> bytes:
    tc, m = ctx.toolchain, ctx.marker
    public = host_entry(m) if m.kind == "kernel" else direct_entry(m)
    contained, optimized, obj = ctx.tmp("contained.ll"), ctx.tmp("optimized.bc"), ctx.tmp("host.o")
    names = [d["name"].strip('"') for d in _DECLARE.finditer(ir) if not d["name"].startswith("llvm.")]
    contained.write_text(self_contained(ir, m.name, demangle(ctx, names)))
    cmd(tc.tool("opt"), "-passes=internalize,default<O3>,globaldce",
        f"-internalize-public-api-list={public}", contained, "-o", optimized).run(
        what=f"optimising {ctx.what}")
    cmd(tc.tool("llc"), "-O3", "-relocation-model=pic", "-filetype=obj", optimized, "-o", obj).run(
        what=f"generating host code for {ctx.what}")
    return obj.read_bytes()
