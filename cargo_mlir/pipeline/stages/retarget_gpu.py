"""Stage `retarget` for GPUs (a Python pass, MLIR bindings), inside the
`gpu.module` that stage `entry` made (`into_gpu_module`, below):

- the `cargo_mlir::gpu` hooks become the target's id intrinsics (AMD: the
  workgroup size and grid size come from the HSA dispatch packet, the same in
  every code object version, since `gpu.block_dim` would need ROCm's device
  libraries);
- float math becomes native intrinsics or calls into the vendor's device
  library, which stage `serialize` links (gpu_math.py);
- panic calls record the panic in a global of the image and end the thread
  (`_report_panics`): the launcher raises it as a Rust panic after the launch;
- host-only attributes go (target-cpu, probe-stack, uwtable, personality);
- AMD: every alloca moves to the private address space 5.
"""

from __future__ import annotations

from pathlib import Path

from cargo_mlir.abi import (BARRIER_HOOK, DYN_CACHE_GLOBAL, GPU_PANIC_KINDS, GPU_PANIC_RECORD, HOOK_PREFIX,
                            WORKGROUP_MEM_HOOK, WORKGROUP_MEM_SIZE_HOOK)
from cargo_mlir.abi import ID_SLOTS as SLOTS
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline import mlir_util as U
from cargo_mlir.pipeline.stage import Context
from cargo_mlir.pipeline.stages import gpu_math
from cargo_mlir.pipeline.stages.retarget_host import remove_hooks

HOST_ONLY_ATTRS = ("passthrough", "target_cpu", "target_features", "uwtable_kind", "personality",
                   "frame_pointer", "dso_local")
NV_SREG = {"workitem_id": "tid", "workgroup_id": "ctaid", "workgroup_size": "ntid", "num_workgroups": "nctaid"}
AMD_ID = {"workitem_id": "llvm.amdgcn.workitem.id", "workgroup_id": "llvm.amdgcn.workgroup.id"}
# hsa_kernel_dispatch_packet_t: workgroup_size_{x,y,z} (u16) at 4, grid_size_{x,y,z} (u32, in threads) at 12
AMD_PACKET = {"workgroup_size": (4, 2, "i16"), "grid_size": (12, 4, "i32")}


def target_attr(ctx: Context) -> str:
    if ctx.target.kind == "amdgpu":
        return f'#rocdl.target<chip = "{ctx.target.name}", abi = "{ctx.code_object_version}00">'
    return f'#nvvm.target<chip = "{ctx.target.name}">'


def _id_value(kind: str, what: str, axis: int, var: str) -> str:
    """MLIR lines computing the i64 `%{var}` for hook `what` on `axis` (0..2)."""
    ax = "xyz"[axis]
    if kind == "nvptx":
        return (f'    %{var}32 = llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.{NV_SREG[what]}.{ax}"() : () -> i32\n'
                f"    %{var} = llvm.zext %{var}32 : i32 to i64\n")
    if what in AMD_ID:
        return (f'    %{var}32 = llvm.call_intrinsic "{AMD_ID[what]}.{ax}"() : () -> i32\n'
                f"    %{var} = llvm.zext %{var}32 : i32 to i64\n")
    if what == "num_workgroups":      # ceil(grid size / workgroup size)
        return (_id_value(kind, "grid_size", axis, f"{var}g") + _id_value(kind, "workgroup_size", axis, f"{var}s")
                + f"    %{var}1 = llvm.mlir.constant(1 : i64) : i64\n"
                + f"    %{var}m = llvm.sub %{var}s, %{var}1 : i64\n"
                + f"    %{var}a = llvm.add %{var}g, %{var}m : i64\n"
                + f"    %{var} = llvm.udiv %{var}a, %{var}s : i64\n")
    base, size, ty = AMD_PACKET[what]
    return (f'    %{var}p = llvm.call_intrinsic "llvm.amdgcn.dispatch.ptr"() : () -> !llvm.ptr<4>\n'
            f"    %{var}q = llvm.getelementptr %{var}p[{base + axis * size}] : (!llvm.ptr<4>) -> !llvm.ptr<4>, i8\n"
            f"    %{var}n = llvm.load %{var}q : !llvm.ptr<4> -> {ty}\n"
            f"    %{var} = llvm.zext %{var}n : {ty} to i64\n")


# HIP's dispatch packet: group_segment_size (u32) is the static plus the launch's dynamic LDS
AMD_GROUP_SEGMENT_SIZE = 28


def workgroup_hook(kind: str, name: str) -> str | None:
    """A barrier, or the workgroup memory (`dyn_cache` bytes: CUDA's dynamic
    shared memory, HIP's dynamic LDS, both a zero-sized external global in
    address space 3 placed after the kernel's static part) and its size."""
    if name == BARRIER_HOOK:
        # gpu.barrier: bar.sync 0 on NVIDIA; on AMD workgroup fences around s_barrier
        return f"    llvm.func internal @{name}() attributes {{always_inline}} {{\n      gpu.barrier\n      llvm.return\n    }}\n"
    if name == WORKGROUP_MEM_HOOK:
        return (f"    llvm.mlir.global external @{DYN_CACHE_GLOBAL}() {{addr_space = 3 : i32, alignment = 16 : i64}} "
                f": !llvm.array<0 x i8>\n"
                f"    llvm.func internal @{name}() -> !llvm.ptr attributes {{always_inline}} {{\n"
                f"      %a = llvm.mlir.addressof @{DYN_CACHE_GLOBAL} : !llvm.ptr<3>\n"
                f"      %p = llvm.addrspacecast %a : !llvm.ptr<3> to !llvm.ptr\n"
                f"      llvm.return %p : !llvm.ptr\n    }}\n")
    if name == WORKGROUP_MEM_SIZE_HOOK:
        if kind == "nvptx":
            body = ('      %n = llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.dynamic_smem_size"() : () -> i32\n'
                    "      %v = llvm.zext %n : i32 to i64\n")
        else:
            body = ('      %d = llvm.call_intrinsic "llvm.amdgcn.dispatch.ptr"() : () -> !llvm.ptr<4>\n'
                    f"      %q = llvm.getelementptr %d[{AMD_GROUP_SEGMENT_SIZE}] : (!llvm.ptr<4>) -> !llvm.ptr<4>, i8\n"
                    "      %g = llvm.load %q : !llvm.ptr<4> -> i32\n"
                    '      %s = llvm.call_intrinsic "llvm.amdgcn.groupstaticsize"() : () -> i32\n'
                    "      %n = llvm.sub %g, %s : i32\n"
                    "      %v = llvm.zext %n : i32 to i64\n")
        return (f"    llvm.func internal @{name}() -> i64 attributes {{always_inline}} {{\n{body}"
                f"      llvm.return %v : i64\n    }}\n")
    return None


def gpu_hook(kind: str, name: str) -> str:
    what = name.removeprefix(HOOK_PREFIX)
    if (text := workgroup_hook(kind, name)) is not None:
        return text
    if what in SLOTS:
        body = _id_value(kind, what[:-2], "xyz".index(what[-1]), "v")
    elif what.startswith("global_id_"):
        axis = "xyz".index(what[-1])
        body = (_id_value(kind, "workgroup_id", axis, "w") + _id_value(kind, "workgroup_size", axis, "s")
                + _id_value(kind, "workitem_id", axis, "t")
                + "    %m = llvm.mul %w, %s : i64\n    %v = llvm.add %m, %t : i64\n")
    else:
        raise CargoMlirError(f"unknown cargo_mlir::gpu function `{what}`: the support crate is newer than cargo-mlir")
    return (f"    llvm.func internal @{name}() -> i64 attributes {{always_inline}} {{\n{body}"
            f"      llvm.return %v : i64\n    }}\n")


def kernel_wrapper(block, ctx: Context) -> str:
    m = ctx.marker
    params, casts, args = [], [], []
    for i, ty in enumerate(m.flat_types):
        if ty == "!llvm.ptr":
            params.append(f"%p{i}: !llvm.ptr<1>")
            casts.append(f"      %a{i} = llvm.addrspacecast %p{i} : !llvm.ptr<1> to !llvm.ptr\n")
            args.append(f"%a{i}")
        else:
            params.append(f"%p{i}: {ty}")
            args.append(f"%p{i}")
    # without it the ROCDL lowering caps AMD kernels at 256 threads per workgroup
    attrs = ' attributes {rocdl.flat_work_group_size = "1,1024"}' if ctx.target.kind == "amdgpu" else ""
    return (U.declare_like(block, m.entry, m.flat_types)
            + f"    gpu.func @{m.name}({', '.join(params)}) kernel{attrs} {{\n{''.join(casts)}"
            f"      {U.call(block, m.entry, args, m.flat_types)}\n"
            f"      gpu.return\n    }}\n")


def into_gpu_module(host, ctx: Context):
    """Stage `entry` for GPUs: a `gpu.module` for the target with a `gpu.func …
    kernel` named after the Rust function (pointers in the global address space)
    that calls the entry, and everything the entry calls, internal (only the
    kernel is a symbol of the image)."""
    from mlir import ir

    device = ir.Module.parse(
        f"module attributes {{gpu.container_module}} {{\n"
        f"  gpu.module @{ctx.marker.name}_{ctx.target.name} [{target_attr(ctx)}] {{\n  }}\n}}\n")
    body = device.body.operations[0].regions[0].blocks[0]
    for op in list(host.body.operations):
        if op.operation.name != "llvm.module_flags":
            body.append(op.operation)
    for op in body.operations:
        if U.is_declaration(op):
            continue
        if op.operation.name == "llvm.func":
            op.operation.attributes["linkage"] = ir.Attribute.parse("#llvm.linkage<internal>")
        elif op.operation.name == "func.func":
            op.operation.attributes["sym_visibility"] = ir.StringAttr.get("private")
    _append_in_gpu_module(body, kernel_wrapper(body, ctx))
    return device


def _append_in_gpu_module(body, text: str) -> None:
    """gpu.func only parses inside a gpu.module: wrap, parse, move (as
    mlir_util.append: declarations of symbols `body` has are dropped)."""
    from mlir import ir
    existing = {U.sym_name(op) for op in body.operations}
    parsed = ir.Module.parse(f"module attributes {{gpu.container_module}} {{ gpu.module @m {{\n{text}\n}} }}")
    inner = parsed.body.operations[0].regions[0].blocks[0]
    for op in list(inner.operations):
        if U.sym_name(op) not in existing:
            body.append(op.operation)
    del parsed


def _strip_host_attributes(body) -> None:
    for op in body.operations:
        if op.operation.name == "llvm.func":
            for attr in HOST_ONLY_ATTRS:
                if attr in op.operation.attributes:
                    del op.operation.attributes[attr]


# the panic functions rustc calls, by a part of their (mangled) name -> what the panic says
_PANIC_KINDS = (
    ("panic_bounds_check", "index out of bounds"),
    ("panic_const_add_overflow", "attempt to add with overflow"),
    ("panic_const_sub_overflow", "attempt to subtract with overflow"),
    ("panic_const_mul_overflow", "attempt to multiply with overflow"),
    ("panic_const_div_by_zero", "attempt to divide by zero"),
    ("panic_const_rem_by_zero", "attempt to calculate the remainder with a divisor of zero"),
    ("panic_const_neg_overflow", "attempt to negate with overflow"),
    ("panic_const_shl_overflow", "attempt to shift left with overflow"),
    ("panic_const_shr_overflow", "attempt to shift right with overflow"),
    ("panic_const_div_overflow", "attempt to divide with overflow"),
    ("panic_const_rem_overflow", "attempt to calculate the remainder with overflow"),
    ("unwrap_failed", "called `Option::unwrap()` on a `None` value"),
    ("slice_", "slice index out of range"),
    ("panic_fmt", "explicit panic (a GPU keeps no formatted message)"),
)


# the record's kind: 1 + the message's index in abi.GPU_PANIC_KINDS (a message
# missing there fails at import, so every test that builds for a GPU catches it)
_KIND_OF = [(part, 1 + GPU_PANIC_KINDS.index(text)) for part, text in _PANIC_KINDS]
ABORTED = 1 + next(i for i, k in enumerate(GPU_PANIC_KINDS) if k.startswith("aborted"))


def panic_kind(symbol: str) -> int:
    """The record's kind for a call to panic function `symbol` (1: a panic of no known kind)."""
    return next((kind for part, kind in _KIND_OF if part in symbol), 1)


def _panic_reporter(kind: str) -> str:
    """`@__cargo_mlir_gpu_panic(kind, location)`: the first panicking thread
    fills the record (abi.GPU_PANIC_RECORD) from rustc's `core::panic::Location`
    (file as pointer and length, then line and column as u32), then the thread
    ends (NVIDIA: `exit`, that thread; AMD: `s_endpgm`, its wavefront)."""
    end = "llvm.nvvm.exit" if kind == "nvptx" else "llvm.amdgcn.endpgm"
    return f"""
    llvm.mlir.global external @{GPU_PANIC_RECORD}() {{addr_space = 1 : i32}} : !llvm.array<4 x i64> {{
      %z = llvm.mlir.zero : !llvm.array<4 x i64>
      llvm.return %z : !llvm.array<4 x i64>
    }}
    llvm.func internal @__cargo_mlir_gpu_panic(%kind: i32, %loc: !llvm.ptr) attributes {{no_inline}} {{
      %rec1 = llvm.mlir.addressof @{GPU_PANIC_RECORD} : !llvm.ptr<1>
      %rec = llvm.addrspacecast %rec1 : !llvm.ptr<1> to !llvm.ptr
      %zero = llvm.mlir.constant(0 : i32) : i32
      %old = llvm.cmpxchg %rec, %zero, %kind acq_rel monotonic : !llvm.ptr, i32
      %first = llvm.extractvalue %old[1] : !llvm.struct<(i32, i1)>
      %null = llvm.mlir.zero : !llvm.ptr
      %known = llvm.icmp "ne" %loc, %null : !llvm.ptr
      %write = llvm.and %first, %known : i1
      llvm.cond_br %write, ^fill, ^end
    ^fill:
      %file = llvm.load %loc : !llvm.ptr -> !llvm.ptr
      %lenp = llvm.getelementptr %loc[8] : (!llvm.ptr) -> !llvm.ptr, i8
      %len = llvm.load %lenp : !llvm.ptr -> i64
      %linep = llvm.getelementptr %loc[16] : (!llvm.ptr) -> !llvm.ptr, i8
      %line = llvm.load %linep : !llvm.ptr -> i32
      %colp = llvm.getelementptr %loc[20] : (!llvm.ptr) -> !llvm.ptr, i8
      %col = llvm.load %colp : !llvm.ptr -> i32
      %rline = llvm.getelementptr %rec[4] : (!llvm.ptr) -> !llvm.ptr, i8
      llvm.store volatile %line, %rline : i32, !llvm.ptr
      %rcol = llvm.getelementptr %rec[8] : (!llvm.ptr) -> !llvm.ptr, i8
      llvm.store volatile %col, %rcol : i32, !llvm.ptr
      %filei = llvm.ptrtoint %file : !llvm.ptr to i64
      %rfile = llvm.getelementptr %rec[16] : (!llvm.ptr) -> !llvm.ptr, i8
      llvm.store volatile %filei, %rfile : i64, !llvm.ptr
      %rlen = llvm.getelementptr %rec[24] : (!llvm.ptr) -> !llvm.ptr, i8
      llvm.store volatile %len, %rlen : i64, !llvm.ptr
      llvm.br ^end
    ^end:
      llvm.call_intrinsic "{end}"() : () -> ()
      llvm.unreachable
    }}
"""


def _report_panics(body, root, keep: frozenset[str], kind: str) -> bool:
    """Calls to external functions left after diagnostics, but the device
    library's (`keep`), are panics: each becomes a call that records the
    panic and ends the thread (`_panic_reporter`), so the launcher can raise
    it as a Rust panic and later launches still work (a `trap` would poison
    a CUDA context and abort a HIP process). Whether there were any."""
    from mlir import ir
    from mlir.dialects import llvm

    externals = {U.sym_name(op) for op in body.operations if U.is_declaration(op)} - keep
    calls = []

    def visit(op):
        if op.name == "llvm.invoke":
            raise CargoMlirError("kernel code that unwinds (landing pads) cannot run on a GPU; "
                                 "build the crate with panic = \"abort\"")
        if op.name == "llvm.call" and "callee" in op.attributes:
            if ir.FlatSymbolRefAttr(op.attributes["callee"]).value in externals:
                calls.append(op)
        return ir.WalkResult.ADVANCE

    root.walk(visit)
    # a trap the code itself has (a derivative's stack tape overflowing, an abort) is reported too
    calls += U.walk_ops(root, ("llvm.intr.trap",))
    if not calls:
        return False
    i32, ptr = ir.IntegerType.get_signless(32), ir.Type.parse("!llvm.ptr")
    for call in calls:
        trap = call.name == "llvm.intr.trap"
        kind = ABORTED if trap else panic_kind(ir.FlatSymbolRefAttr(call.attributes["callee"]).value)
        # rustc passes the `&'static Location` last
        pointers = [] if trap else [v for v in call.operands if str(v.type) == "!llvm.ptr"]
        with ir.InsertionPoint(call), call.location:
            kind_value = llvm.mlir_constant(ir.IntegerAttr.get(i32, kind))
            loc = pointers[-1] if pointers else llvm.mlir_zero(ptr)
            ir.Operation.create("llvm.call", results=[], operands=[kind_value, loc], attributes={
                "callee": ir.FlatSymbolRefAttr.get("__cargo_mlir_gpu_panic"),
                "operandSegmentSizes": ir.DenseI32ArrayAttr.get([2, 0]),
                "op_bundle_sizes": ir.DenseI32ArrayAttr.get([])})
        for r in call.results:
            if len(list(r.uses)):
                with ir.InsertionPoint(call), call.location:
                    r.replace_all_uses_with(llvm.mlir_poison(r.type))
        call.erase()
    for op in list(body.operations):
        if U.is_declaration(op) and U.sym_name(op) in externals:
            op.operation.erase()
    return True


def _allocas_to_private(root) -> None:
    """AMDGPU: `alloca on amdgpu must be in addrspace(5)`; the rest of the
    code keeps flat pointers through an addrspacecast."""
    from mlir import ir
    from mlir.dialects import llvm

    allocas = U.walk_ops(root, ("llvm.alloca",))
    private, flat = ir.Type.parse("!llvm.ptr<5>"), ir.Type.parse("!llvm.ptr")
    for op in allocas:
        with ir.InsertionPoint(op), op.location:
            new = op.clone()
            new.result.set_type(private)
            cast = llvm.AddrSpaceCastOp(flat, new.result)
        users = [u.owner for u in op.result.uses]
        op.result.replace_all_uses_with(cast.result)
        for user in users:      # lifetime markers must see the alloca itself
            if user.name in ("llvm.intr.lifetime.start", "llvm.intr.lifetime.end"):
                user.operands[len(user.operands) - 1] = new.result
        op.erase()


def _require_device_library(ctx: Context, math: gpu_math.MathUse) -> None:
    """Stage `serialize` links the vendor's math library; an absent one is an
    error here, naming the functions that need it."""
    key = gpu_math.LIBRARY_KEY[ctx.target.kind]
    found = ctx.toolchain.library(key)
    if found is None:
        from cargo_mlir.toolchain.tools import device_library_spec
        spec = device_library_spec(key)
        raise CargoMlirError(
            f"{ctx.what} ({ctx.marker.location}) calls {math.rust_names()}: that needs {spec.purpose}, "
            f"and none was found", hint=spec.fix)
    gpu_math.check_library(ctx.target.kind, ctx.target.name, Path(found), ctx.what)


def retarget_gpu(device, ctx: Context):
    gpu_module = device.body.operations[0].operation
    body = gpu_module.regions[0].blocks[0]
    hooks = remove_hooks(body, gpu_module)
    _strip_host_attributes(body)
    math = gpu_math.rewrite(body, gpu_module, ctx.target.kind)
    panics = _report_panics(body, gpu_module, math.functions, ctx.target.kind)
    if math.functions:
        _require_device_library(ctx, math)
    if ctx.target.kind == "amdgpu":
        _allocas_to_private(gpu_module)
    _append_in_gpu_module(body, "".join(gpu_hook(ctx.target.kind, h) for h in hooks)
                          + (_panic_reporter(ctx.target.kind) if panics else ""))
    return device
