"""Stage `entry` (per target): the function the runtime calls, around the
marked function's own entry. Debug locations go first (they served the
diagnostics and the raise notes; no target needs them).

- host, kernel: `__cargo_mlir_host_<key>(params, dims, begin, end)` walks
  workgroups `begin..end` and every thread in them, setting the thread-local
  id block the `cargo_mlir::gpu` hooks read (the retarget stage defines them);
- GPU, kernel: a `gpu.module` for the target holding a `gpu.func … kernel`
  named after the Rust function (pointers in the global address space) and
  everything the entry calls;
- host, accelerate: `__cargo_mlir_direct_<key>(params, ret) -> i8` runs the
  raised fast path and returns 1, or returns 0 when a precondition fails
  (the slow path, the original code, is replaced by "decline": the caller
  then runs the Rust body, so panics stay ordinary Rust panics);
- host, autodiff: `__cargo_mlir_direct_<key>(params, ret) -> i8` calls the
  derivative the autodiff stage made (its results go through its own pointer
  parameters; `ret` is unused).
"""

from __future__ import annotations

from cargo_mlir.abi import DIRECT_PREFIX, HOOK_PREFIX, HOST_PREFIX, IDS_GLOBAL, ID_SLOTS, RUNTIME_PREFIX
from cargo_mlir.build.markers import Marker
from cargo_mlir.errors import CargoMlirError
from cargo_mlir.pipeline import mlir_util as U
from cargo_mlir.pipeline.stage import Context, Finding

DECLINED = "__cargo_mlir_declined"


def host_entry(marker: Marker) -> str:
    return HOST_PREFIX + marker.key


def direct_entry(marker: Marker) -> str:
    return DIRECT_PREFIX + marker.key


def strip_debug_info(module) -> None:
    from mlir import passmanager
    passmanager.PassManager.parse("builtin.module(strip-debuginfo)").run(module.operation)


def entry(module, ctx: Context):
    strip_debug_info(module)
    if ctx.marker.kind in ("accelerate", "autodiff"):
        if ctx.target.kind != "host":
            raise CargoMlirError(f"{ctx.what}: {ctx.marker.kind} functions are built for the host only")
        return direct(module, ctx) if ctx.marker.kind == "accelerate" else direct_derivative(module, ctx)
    if ctx.target.kind == "host":
        U.append(module.body, grid_wrapper(module.body, ctx.marker))
        return module
    from cargo_mlir.pipeline.stages.retarget_gpu import into_gpu_module
    return into_gpu_module(module, ctx)


def _load_params(marker: Marker, lines: list[str], types: tuple[str, ...] | None = None) -> list[str]:
    """`%params[i]` points at flattened parameter i (what offload!/accelerate pass)."""
    args = []
    for i, ty in enumerate(marker.flat_types if types is None else types):
        lines += [f"    %q{i} = llvm.getelementptr %params[{i}] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr",
                  f"    %p{i} = llvm.load %q{i} : !llvm.ptr -> !llvm.ptr",
                  f"    %a{i} = llvm.load %p{i} : !llvm.ptr -> {ty}"]
        args.append(f"%a{i}")
    return args


FULL_X = ".full_x"
# predicates (LLVM/arith numbering) of `global_id_x() <pred> param`: which hold for
# every thread of a workgroup whose last global x id is below the parameter
_SWAP = {2: 4, 3: 5, 4: 2, 5: 3, 6: 8, 7: 9, 8: 6, 9: 7}
_TRUE_IN_FULL = {2: True, 3: True, 6: False, 7: False}     # slt, sle, ult, ule -> signed?
_FALSE_IN_FULL = {4: True, 5: True, 8: False, 9: False}    # sgt, sge, ugt, uge -> signed?


def _gid_x_compare(op, args) -> tuple[int, bool, bool] | None:
    """(parameter index, signed, holds) when `op` compares `global_id_x()` with
    a parameter of the entry (`args`, its entry block's arguments) and its
    result is the same (`holds`) for every thread of a full workgroup."""
    from mlir import ir
    if op.name not in ("arith.cmpi", "llvm.icmp") or len(op.operands) != 2:
        return None
    if str(op.results[0].type) != "i1":
        return None
    pred = ir.IntegerAttr(op.attributes["predicate"]).value

    def is_gid(v) -> bool:
        call = v.owner
        if isinstance(call, ir.Block):
            return False
        call = getattr(call, "operation", call)
        return (call.name == "llvm.call" and "callee" in call.attributes
                and ir.FlatSymbolRefAttr(call.attributes["callee"]).value == HOOK_PREFIX + "global_id_x")

    def param(v) -> int | None:
        if not isinstance(v.owner, ir.Block) or v.owner != args or str(v.type) != "i64":
            return None
        return ir.BlockArgument(v).arg_number

    lhs, rhs = op.operands[0], op.operands[1]
    if is_gid(rhs) and not is_gid(lhs):
        lhs, rhs, pred = rhs, lhs, _SWAP.get(pred)
    k = param(rhs) if is_gid(lhs) else None
    if k is None or pred is None:
        return None
    if pred in _TRUE_IN_FULL:
        return k, _TRUE_IN_FULL[pred], True
    if pred in _FALSE_IN_FULL:
        return k, _FALSE_IN_FULL[pred], False
    return None


def full_x_version(block, marker: Marker) -> list[tuple[int, bool]]:
    """Version the entry for full workgroups along x: a copy `<entry>.full_x` in
    which every compare of `global_id_x()` with a parameter (the element-wise
    guard `if i < y.len()`) is a constant, valid when `wx*tx + tx <= param`.
    Returns the (parameter, signed) conditions, or [] (and no copy) if there
    is no such compare. With the guard gone the x loop body is straight-line
    code that LLVM's loop vectoriser takes (SSE2 has no masked stores)."""
    from mlir import ir
    from mlir.dialects import arith
    op = U.find(block, marker.entry)
    if op is None or U.is_declaration(op):
        return []
    clone = op.operation.clone(ip=ir.InsertionPoint(block))
    clone.attributes["sym_name"] = ir.StringAttr.get(marker.entry + FULL_X)
    args = clone.regions[0].blocks[0]
    found = []
    clone.walk(lambda o: (found.append((o, g)) if (g := _gid_x_compare(o, args)) else None)
               or ir.WalkResult.ADVANCE)
    if not found:
        clone.erase()
        return []
    conds = []
    for o, (k, signed, holds) in found:
        with ir.InsertionPoint(o), o.location:
            c = arith.ConstantOp(ir.IntegerType.get_signless(1), 1 if holds else 0)
        o.results[0].replace_all_uses_with(c.result)
        o.erase()
        if (k, signed) not in conds:
            conds.append((k, signed))
    return conds


def grid_wrapper(block, marker: Marker) -> str:
    """func.func + scf: load the flattened parameters, walk the grid, call the entry.
    Where the entry guards on `global_id_x() < param`, each workgroup whose
    threads all pass that guard runs the versioned copy (see `full_x_version`)."""
    conds = full_x_version(block, marker)
    lines = [U.declare_like(block, marker.entry, marker.flat_types).rstrip("\n"),
             f"  llvm.mlir.global internal thread_local @{IDS_GLOBAL}(dense<0> : tensor<12xi64>) "
             f"{{addr_space = 0 : i32}} : !llvm.array<12 x i64>",
             f"  func.func @{host_entry(marker)}(%params: !llvm.ptr, %dims: !llvm.ptr, %begin: i64, %end: i64) {{",
             f"    %ids = llvm.mlir.addressof @{IDS_GLOBAL} : !llvm.ptr"]
    if conds:
        lines.insert(1, U.declare_like(block, marker.entry + FULL_X, marker.flat_types).rstrip("\n"))
    args = _load_params(marker, lines)
    dims = ["gx", "gy", "gz", "tx", "ty", "tz"]
    for i, d in enumerate(dims):
        lines += [f"    %{d}p = llvm.getelementptr %dims[{i}] : (!llvm.ptr) -> !llvm.ptr, i64",
                  f"    %{d} = llvm.load %{d}p : !llvm.ptr -> i64"]

    def store(value: str, slot: int, tag: str = "") -> list[str]:
        return [f"    %s{slot}_{value}{tag} = llvm.getelementptr %ids[0, {slot}] : (!llvm.ptr) -> !llvm.ptr, !llvm.array<12 x i64>",
                f"    llvm.store %{value}, %s{slot}_{value}{tag} : i64, !llvm.ptr"]

    slot = ID_SLOTS

    def threads(callee: str, tag: str) -> list[str]:
        return ["    scf.for %z = %c0 to %tz step %c1 : i64 {", *store("z", slot["workitem_id_z"], tag),
                "    scf.for %y = %c0 to %ty step %c1 : i64 {", *store("y", slot["workitem_id_y"], tag),
                "    scf.for %x = %c0 to %tx step %c1 : i64 {", *store("x", slot["workitem_id_x"], tag),
                "    " + U.call(block, callee, args, marker.flat_types), "    }", "    }", "    }"]

    for d, s in zip(dims, ("num_workgroups_x", "num_workgroups_y", "num_workgroups_z",
                           "workgroup_size_x", "workgroup_size_y", "workgroup_size_z")):
        lines += store(d, slot[s])
    lines += ["    %c0 = arith.constant 0 : i64", "    %c1 = arith.constant 1 : i64",
              "    scf.for %wg = %begin to %end step %c1 : i64 {",
              "    %wx = arith.remui %wg, %gx : i64", "    %wr = arith.divui %wg, %gx : i64",
              "    %wy = arith.remui %wr, %gy : i64", "    %wz = arith.divui %wr, %gy : i64",
              *store("wx", slot["workgroup_id_x"]), *store("wy", slot["workgroup_id_y"]),
              *store("wz", slot["workgroup_id_z"])]
    if conds:
        lines += ["    %xbase = arith.muli %wx, %tx overflow<nsw, nuw> : i64",
                  "    %xend = arith.addi %xbase, %tx overflow<nsw, nuw> : i64"]
        full = []
        for k, signed in conds:
            lines.append(f"    %full{len(full)} = arith.cmpi {'sle' if signed else 'ule'}, %xend, %a{k} : i64")
            full.append(f"%full{len(full)}")
        while len(full) > 1:
            lines.append(f"    {full[0]}a = arith.andi {full[0]}, {full[1]} : i1")
            full = [f"{full[0]}a"] + full[2:]
        lines += [f"    scf.if {full[0]} {{", *threads(marker.entry + FULL_X, "f"),
                  "    } else {", *threads(marker.entry, ""), "    }"]
    else:
        lines += threads(marker.entry, "")
    lines += ["    }", "    return", "  }"]
    return "\n".join(lines) + "\n"


def direct(module, ctx: Context):
    """The accelerate entry, or nothing at all when there is no fast path to
    offer (then the runtime finds no direct entry and the Rust body runs)."""
    f, m = ctx.facts, ctx.marker
    if not f.raised or f.fast_path_can_panic or not f.slow_symbol:
        why = ("it was not raised" if not f.raised else "a panic is still reachable on its fast path")
        ctx.notes.append(Finding("note", f"accelerate `{m.name}` ({m.location}) runs as plain Rust: {why}"))
        return None
    _decline(module, f.slow_symbol, m)
    _drop_unused_internal(module)
    outside = _outside_symbols(module)
    if outside:
        from cargo_mlir.pipeline.diagnostics import TRAPPABLE, demangle
        readable = demangle(ctx, outside)
        # panics stay declared but are unreachable on the fast path (the raise
        # stage checked); codegen defines them as calls to the runtime's panic hook
        outside = [readable.get(s, s) for s in outside if not TRAPPABLE.match(readable.get(s, s))]
    if outside:
        # a mutable static or a function of another crate: the kernel library cannot
        # link them (rustc gives them internal or hidden linkage in the crate)
        ctx.notes.append(Finding("note", f"accelerate `{m.name}` ({m.location}) runs as plain Rust: its fast path "
                                         f"uses {', '.join(f'`{s}`' for s in outside)}, defined outside the function"))
        return None
    lines = [U.declare_like(module.body, m.entry, m.flat_types, m.ret_type).rstrip("\n"),
             f"  func.func @{direct_entry(m)}(%params: !llvm.ptr, %ret: !llvm.ptr) -> i8 {{",
             f"    %flag = llvm.mlir.addressof @{DECLINED} : !llvm.ptr",
             "    %no = llvm.mlir.constant(0 : i8) : i8", "    %yes = llvm.mlir.constant(1 : i8) : i8",
             "    llvm.store %no, %flag : i8, !llvm.ptr"]
    args = _load_params(m, lines)
    lines.append("    " + U.call(module.body, m.entry, args, m.flat_types, "r", m.ret_type))
    lines += ["    %d = llvm.load %flag : !llvm.ptr -> i8",
              "    %ran = arith.cmpi eq, %d, %no : i8",
              "    cf.cond_br %ran, ^done, ^declined", "  ^done:"]
    if m.ret_type:
        lines.append(f"    llvm.store %r, %ret : {m.ret_type}, !llvm.ptr")
    lines += ["    return %yes : i8", "  ^declined:", "    return %no : i8", "  }"]
    U.append(module.body, f"  llvm.mlir.global internal thread_local @{DECLINED}(0 : i8) "
                          f"{{addr_space = 0 : i32}} : i8\n" + "\n".join(lines) + "\n")
    return module


def direct_derivative(module, ctx: Context):
    """The runtime's entry to a derivative: load its flat parameters, call it."""
    from cargo_mlir.pipeline.stages.autodiff import derivative_for
    m = ctx.marker
    types = derivative_for(m).flat_types
    lines = [f"  llvm.func @{m.entry}({', '.join(types)}) -> i8",
             f"  func.func @{direct_entry(m)}(%params: !llvm.ptr, %ret: !llvm.ptr) -> i8 {{"]
    args = _load_params(m, lines, types)
    lines += [f"    %r = llvm.call @{m.entry}({', '.join(args)}) : ({', '.join(types)}) -> i8",
              "    return %r : i8", "  }"]
    U.append(module.body, "\n".join(lines) + "\n")
    return module


def _drop_unused_internal(module) -> None:
    """Internal functions nothing calls any more (the Rust body the declined
    slow path used to call) go, so their calls do not count as the fast path's."""
    from mlir import ir
    while True:
        used = set()
        for op in U.walk_ops(module.operation, ("llvm.call", "func.call", "llvm.mlir.addressof")):
            attr = "global_name" if op.name == "llvm.mlir.addressof" else "callee"
            if attr in op.attributes:
                used.add(ir.FlatSymbolRefAttr(op.attributes[attr]).value)
        dead = [op for op in module.body.operations if op.operation.name == "llvm.func"
                and not U.is_declaration(op) and "linkage" in op.operation.attributes
                and "internal" in str(op.operation.attributes["linkage"]) and U.sym_name(op) not in used]
        if not dead:
            return
        for op in dead:
            op.operation.erase()


def _outside_symbols(module) -> list[str]:
    """Symbols the code still uses that the module only declares (not LLVM
    intrinsics, the `cargo_mlir::gpu` hooks, the runtime's `cargo_mlir_rt_*` entries
    or libm): statics and other crates' functions."""
    from mlir import ir
    from cargo_mlir.pipeline.diagnostics import LIBM

    declared = {U.sym_name(op) for op in module.body.operations
                if U.is_declaration(op) or (op.operation.name == "llvm.mlir.global"
                                            and "value" not in op.operation.attributes
                                            and not op.operation.regions[0].blocks)}
    used = []
    for op in U.walk_ops(module.operation, ("llvm.call", "func.call", "llvm.mlir.addressof")):
        attr = "global_name" if op.name == "llvm.mlir.addressof" else "callee"
        if attr in op.attributes:
            used.append(ir.FlatSymbolRefAttr(op.attributes[attr]).value)
    return sorted({s for s in used if s in declared and not s.startswith(("llvm.", HOOK_PREFIX, RUNTIME_PREFIX))
                   and s not in LIBM})


def _decline(module, slow_name: str, marker: Marker) -> None:
    """The slow path (the original code) becomes: set the declined flag, return zero."""
    U.find(module.body, slow_name).operation.erase()
    ret = marker.ret_type
    params = ", ".join(f"%x{i}: {t}" for i, t in enumerate(marker.flat_types))
    tail = (f"    %z = llvm.mlir.zero : {ret}\n    llvm.return %z : {ret}" if ret else "    llvm.return")
    U.append(module.body, f"  llvm.mlir.global internal thread_local @{DECLINED}(0 : i8) {{addr_space = 0 : i32}} : i8\n"
                          f"  llvm.func internal @{slow_name}({params}){f' -> {ret}' if ret else ''} {{\n"
                          f"    %flag = llvm.mlir.addressof @{DECLINED} : !llvm.ptr\n"
                          f"    %yes = llvm.mlir.constant(1 : i8) : i8\n"
                          f"    llvm.store %yes, %flag : i8, !llvm.ptr\n{tail}\n  }}\n")
