"""Stage `codegen` for the host: LLVM IR → x86-64 object. Only the grid
entry stays public; everything else is internal so nothing clashes with the
crate's own copies of the same functions.

The object must also link where the crate is built with LTO, which
internalises core's panic functions: each panic the code can reach becomes an
internal function that hands its arguments (index and length, message,
`&Location`) to the runtime's `cargo_mlir_rt_panic` (a `#[no_mangle]` symbol
LTO keeps), which reports it as Rust would and unwinds: the device bitcode is
built with panic=abort, so `nounwind` is dropped here and every function gets
unwind tables; the panic reaches the `offload!` call (or the derivative's
caller) as an ordinary panic. Any other external left (none pass the
diagnostics) stops the program through `cargo_mlir_rt_kernel_panic`."""

from __future__ import annotations

import re
from cargo_mlir.abi import PANIC_FN, PANIC_HOOK, RUNTIME_PREFIX
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline.diagnostics import LIBM, TRAPPABLE, demangle
from cargo_mlir.pipeline.stage import Context
from cargo_mlir.pipeline.stages.entry import direct_entry, host_entry
from cargo_mlir.process import cmd
_DECLARE = re.compile(r'^declare (?P<ret>[^@\n]*)@(?P<name>"[^"]+"|[\w.$]+)\((?P<params>[^\n]*)\)(?P<rest>[^\n]*)$',
                      re.M)
ALLOCATOR = ("malloc", "free", "aligned_alloc", "realloc")   # scheduled buffers, autodiff tapes
_PERSONALITY = re.compile(r" personality ptr @rust_eh_personality")
_NOUNWIND = re.compile(r"\bnounwind\b ?")
_EMPTY_GROUP = re.compile(r"^(attributes #\d+ = \{) ?\}", re.M)     # a group that held nounwind alone


def _param_types(params: str) -> list[str]:
    """The types of a declaration's parameters (`i64 noundef, ptr align 8 range(…)` → i64, ptr)."""
    parts, depth, cur = [], 0, ""
    for ch in params:
        depth += ch in "(<{["
        depth -= ch in ")>}]"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.split()[0] for p in parts if p.strip()]


def _panic_call(kernel_global: str, kernel_len: int, kind_global: str, kind_len: int, types: list[str]) -> str:
    """The call that hands a panic function's arguments to the runtime: the
    first two integers, a `&str` (pointer + length) when there is one besides
    the location, and the location (its last pointer)."""
    ints = [f"%p{i}" for i, t in enumerate(types) if t == "i64"]
    ptrs = [f"%p{i}" for i, t in enumerate(types) if t == "ptr"]
    a, b = (ints + ["0", "0"])[:2]
    text, text_len = (ptrs[0], ints[0]) if len(ptrs) >= 2 and ints else ("null", "0")
    loc = ptrs[-1] if ptrs else "null"
    return (f"  call void @{PANIC_FN}(ptr {kernel_global}, i64 {kernel_len}, ptr {kind_global}, i64 {kind_len}, "
            f"i64 {a}, i64 {b}, ptr {text}, i64 {text_len}, ptr {loc})")


# printable ASCII as it is, every other byte (and `"`, `\`) as \XX
_C_ESCAPES = {b: f"\\{b:02X}" for b in range(256) if not (32 <= b < 127) or chr(b) in '"\\'}


def c_bytes(data: bytes) -> str:
    """`data` as the body of an LLVM IR c"…" string (GPU images: str.translate keeps it fast)."""
    return bytes(data).decode("latin-1").translate(_C_ESCAPES)


def self_contained(ir: str, kernel: str, demangled: dict[str, str]) -> str:
    """Define every external the kernel still calls (only panics pass the
    diagnostics): core's panics as calls to `cargo_mlir_rt_panic`, anything else
    to the runtime's panic hook; except the runtime's own entries
    (`cargo_mlir_rt_*`: the hooks, the host pool, the GPU matmul) and the C
    allocator (scheduled code's buffers, autodiff tapes). Drop the personality
    (the device bitcode is built with panic=abort: no landing pads) and
    `nounwind`, so panics unwind through this code."""
    out, n = [], 0
    pos = 0
    kernel_data = kernel.encode()
    panics = 0
    for m in _DECLARE.finditer(ir):
        name = m["name"].strip('"')
        if name.startswith(("llvm.", RUNTIME_PREFIX)) or name in LIBM or name in ALLOCATOR:
            continue
        out.append(ir[pos:m.start()])
        pos = m.end()
        if name == "rust_eh_personality":
            continue
        readable = demangled.get(name, name)
        if TRAPPABLE.match(readable):
            kind = readable.removeprefix("core::").encode()
            types = _param_types(m["params"])
            params = ", ".join(f"{t} %p{i}" for i, t in enumerate(types))
            out.append(f'@__cargo_mlir_panic_kind_{n} = private unnamed_addr constant [{len(kind)} x i8] '
                       f'c"{c_bytes(kind)}"\n'
                       f"define internal {m['ret']}@{m['name']}({params}) {{\n"
                       + _panic_call("@__cargo_mlir_kernel_name", len(kernel_data), f"@__cargo_mlir_panic_kind_{n}",
                                     len(kind), types) + "\n  unreachable\n}")
            n += 1
            panics += 1
            continue
        data = f"kernel `{kernel}` panicked on the host in {demangled.get(name, name)}".encode()
        text, size = c_bytes(data), len(data)
        out.append(f'@__cargo_mlir_panic_{n} = private unnamed_addr constant [{size} x i8] c"{text}"\n'
                   f"define internal {m['ret']}@{m['name']}({m['params']}){m['rest']} {{\n"
                   f"  call void @{PANIC_HOOK}(ptr @__cargo_mlir_panic_{n}, i64 {size})\n"
                   f"  unreachable\n}}")
        n += 1
    out.append(ir[pos:])
    body = _EMPTY_GROUP.sub(r"\1 uwtable }", _NOUNWIND.sub("", _PERSONALITY.sub("", "".join(out))))
    if panics:
        body += (f'\n@__cargo_mlir_kernel_name = private unnamed_addr constant [{len(kernel_data)} x i8] '
                 f'c"{c_bytes(kernel_data)}"\n'
                 f"declare void @{PANIC_FN}(ptr, i64, ptr, i64, i64, i64, ptr, i64, ptr)\n")
    return body + (f"\ndeclare void @{PANIC_HOOK}(ptr, i64)\n" if n > panics else "")


def translate(module, ctx: Context) -> str:
    """Stage `translate`: the LLVM dialect to LLVM IR, in-process. Anything
    but the LLVM dialect left by `lower` (a user's pipeline that misses a
    conversion) is an error naming the operations: MLIR's translation would
    fail on it, and its Python binding then crashes the process."""
    from mlir.dialects import llvm
    left = sorted(set(_not_llvm(module.operation)))
    if left:
        shown = ", ".join(left[:8]) + (f" and {len(left) - 8} more" if len(left) > 8 else "")
        raise CargoMlirError(      # the runner adds the function's Rust line (runner._at_source)
            f"{ctx.what}: stage `lower` left operations that LLVM IR cannot express: {shown}",
            hint="the target's `lower` pipeline needs the passes that convert them to the llvm dialect "
                 "(for arith: convert-arith-to-llvm); `cargo mlir build --print-pipeline` shows the default one")
    return llvm.translate_module_to_llvmir(module.operation)


# dialects (and ops) that MLIR translates to LLVM IR only after `lower` converts them to the
# llvm dialect; the llvm dialect itself and the intrinsic dialects (x86vector, nvvm, …) translate
_NOT_TRANSLATED = ("affine.", "arith.", "bufferization.", "cf.", "complex.", "func.", "gpu.", "index.", "linalg.",
                   "math.", "memref.", "scf.", "tensor.", "ub.", "vector.", "builtin.unrealized_conversion_cast")


def _not_llvm(op):
    """Names of the operations nested in `op` that LLVM IR cannot express as they are."""
    for region in op.regions:
        for block in region.blocks:
            for inner in block.operations:
                name = inner.operation.name
                if name.startswith(_NOT_TRANSLATED):
                    yield name
                yield from _not_llvm(inner.operation)


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
