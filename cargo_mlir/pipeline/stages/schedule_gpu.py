"""The GPU kernel for a recognised matmul: C = C + A·B (row-major, dynamic
m, n, k, leading dimensions lda, ldb, ldc), for NVIDIA (cubin) and AMD (HSACO).

Kernel ABI (what the runtime launches; the CUDA/HIP module APIs pass an array
of pointers to the values):

    cargo_mlir_matmul(a: ptr, b: ptr, c: ptr, m: i64, n: i64, k: i64,
                      lda: i64, ldb: i64, ldc: i64)

pointers in the global address space; block = (THREADS, 1, 1); grid =
(ceil(n / BN), ceil(m / BM), 1) — see `grid()`. A zero grid dimension is
rejected by the drivers: for m == 0 or n == 0 do not launch. k == 0 leaves C
as it is. A is m×k (A[i*lda + p]); B is k×n (B[p*ldb + j]) or, transposed,
n×k (B[j*ldb + p]); C is m×n (C[i*ldc + j]).

Schedule: a BM×BN block tile per workgroup, k walked in BK-wide tiles staged
through workgroup (shared) memory, `gpu.barrier` between the load and compute
phases; each of the THREADS threads owns a TM×TN register tile at rows
ty + TY*i and columns tx + TX*j (strided: neighbouring threads touch
neighbouring columns, so global loads/stores coalesce and shared reads of B
are conflict-free). A is staged transposed (As[p][i]) with one element of
padding per row against bank conflicts. Every global access is guarded; the
last partial k tile runs a loop of exactly the remaining length, so each C
element is updated as C + a0*b0 + a1*b1 + … in increasing p, with no padding
terms: with `exact` (plain fmul/fadd, no `contract`, ptxas `-fmad=false`)
the result is bit-identical to the sequential Rust loop started from C.

With an epilogue (`KernelEpilogue`: fuse-elementwise's element-wise nests after
the matmul, arithmetic only) the kernel takes, after ldc, for each operand of
the epilogue either an array (`ptr`, and its leading dimension as i64: read at
[i], [j], [i, j] or [j, i] of C) or a scalar, and stores epilogue(acc) for each
C element instead of acc: the nests run in the matmul's tiles on the GPU too.

The kernel is generated here rather than by a transform script: the
transform dialect's thread mapping (`map_nested_forall_to_threads`) needs
static shapes, and the guarded dynamic-shape kernel with a register tile,
staged shared-memory tiles and barriers is short to write directly. The tile
sizes are the parameters of `Tiles`.

The same per-thread phases are also emitted as a host function
(`matmul_host_module`) that runs every workgroup and thread sequentially,
phase by phase (what the barriers separate), with each thread's register tile
kept in memory between phases: a CPU check of the kernel's index and guard
logic (tests/unit/test_schedule_gpu.py runs it against a naive loop).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from cargo_mlir.errors import CargoMlirError
from cargo_mlir.process import cmd

KERNEL = "cargo_mlir_matmul"
HOST_FUNC = "cargo_mlir_matmul_host"
LLVM_MAJOR = 22          # the MLIR bindings and tools are pinned to LLVM 22


@dataclass(frozen=True)
class Tiles:
    bm: int = 64         # block tile rows (m)
    bn: int = 64         # block tile columns (n)
    bk: int = 16         # k tile staged through shared memory
    tm: int = 4          # register tile rows per thread
    tn: int = 4          # register tile columns per thread
    pad: int = 1         # padding of transposed shared tiles (bank conflicts)

    @property
    def tx(self) -> int:
        return self.bn // self.tn

    @property
    def ty(self) -> int:
        return self.bm // self.tm

    @property
    def threads(self) -> int:
        return self.tx * self.ty

    def check(self) -> None:
        t = self.threads
        ok = (self.bm % self.tm == 0 and self.bn % self.tn == 0 and t % self.bk == 0 and t % self.bn == 0
              and (self.bm * self.bk) % t == 0 and (self.bn * self.bk) % t == 0 and t <= 1024)
        if not ok:
            raise CargoMlirError(f"unsupported GPU matmul tiles {self}")


@dataclass(frozen=True)
class KernelEpilogue:
    """An element-wise epilogue the kernel applies to each C element it stores:
    `operands[k]` is (element type, the C dimensions an array is read at — (0,),
    (1,), (0, 1) or (1, 0) — or None for a scalar); `body` the MLIR text of
    `func.func private @cargo_mlir_epi(%a0, …, %c) -> T` (operands, then C's value)."""
    operands: tuple[tuple[str, tuple[int, ...] | None], ...]
    body: str

    def header(self) -> str:
        """The comment line the kernel's text carries (`of_kernel` reads it back)."""
        return "// epilogue operands: " + json.dumps([[e, list(d) if d is not None else None] for e, d in self.operands])

    @classmethod
    def of_kernel(cls, text: str) -> "KernelEpilogue | None":
        """The epilogue of a kernel's text (`matmul_kernel_module`), None without one."""
        found = re.search(r"^// epilogue operands: (.*)$", text, re.M)
        start = text.find(f"func.func private @{EPI_FUNC}(")
        if found is None or start < 0:
            return None
        lines = text[start:].splitlines()
        end = next(i for i, line in enumerate(lines) if line.strip() == "}")
        operands = tuple((e, tuple(d) if d is not None else None) for e, d in json.loads(found.group(1)))
        return cls(operands, "\n".join(line.strip() for line in lines[:end + 1]))


EPI_FUNC = "cargo_mlir_epi"
DEFAULT_TILES = Tiles()
BM, BN, BK = DEFAULT_TILES.bm, DEFAULT_TILES.bn, DEFAULT_TILES.bk
THREADS = DEFAULT_TILES.threads


def grid(m: int, n: int, tiles: Tiles = DEFAULT_TILES) -> tuple[int, int, int]:
    """Workgroups for an m×n C: (x over n, y over m, 1)."""
    return (-(-n // tiles.bn), -(-m // tiles.bm), 1)


ELEMS = ("f32", "f64")
NV_MIN_WORKGROUPS_PER_SM = 2


class _Emitter:
    """MLIR text with fresh SSA names. Values are strings like `%v12`."""

    def __init__(self, elem: str, exact: bool, tiles: Tiles, transpose_b: bool, indent: str = "    "):
        self.lines: list[str] = []
        self.n = 0
        self.elem = elem
        self.exact = exact
        self.t = tiles
        self.transpose_b = transpose_b
        self.ind = indent
        self.consts: dict[str, str] = {}

    def fresh(self, hint: str = "v") -> str:
        self.n += 1
        return f"%{hint}{self.n}"

    def emit(self, line: str) -> None:
        self.lines.append(self.ind + line)

    def op(self, text: str, hint: str = "v") -> str:
        v = self.fresh(hint)
        self.emit(f"{v} = {text}")
        return v

    # constants are emitted where first used inside the current region; keep
    # them local (no caching across regions) to stay valid in any nesting
    def idx(self, c: int) -> str:
        return self.op(f"arith.constant {c} : index", "c")

    def add(self, a, b):
        return self.op(f"arith.addi {a}, {b} : index")

    def mul(self, a, b):
        return self.op(f"arith.muli {a}, {b} : index")

    def lt(self, a, b):
        return self.op(f"arith.cmpi ult, {a}, {b} : index")

    def and_(self, a, b):
        return self.op(f"arith.andi {a}, {b} : i1")

    def fmac(self, acc, a, b):
        """acc + a*b: separate fmul/fadd without `contract` when exact."""
        fm = "" if self.exact else " fastmath<contract>"
        p = self.op(f"arith.mulf {a}, {b}{fm} : {self.elem}")
        return self.op(f"arith.addf {acc}, {p}{fm} : {self.elem}")

    def guarded_load(self, cond, mem, index, mtype) -> str:
        v = self.fresh("g")
        e = self.elem
        self.emit(f"{v} = scf.if {cond} -> ({e}) {{")
        x = self.fresh("x")
        self.emit(f"  {x} = memref.load {mem}[{index}] : {mtype}")
        self.emit(f"  scf.yield {x} : {e}")
        self.emit("} else {")
        z = self.fresh("z")
        self.emit(f"  {z} = arith.constant 0.0 : {e}")
        self.emit(f"  scf.yield {z} : {e}")
        self.emit("}")
        return v

    def guarded_store(self, cond, value, mem, index, mtype) -> None:
        self.emit(f"scf.if {cond} {{")
        self.emit(f"  memref.store {value}, {mem}[{index}] : {mtype}")
        self.emit("}")


@dataclass
class _Env:
    """The values every phase uses: global memrefs, sizes, shared tiles."""
    A: str
    B: str
    C: str
    m: str
    n: str
    k: str
    lda: str
    ldb: str
    ldc: str
    As: str
    Bs: str
    gtype: str          # memref type of A, B, C
    as_type: str        # memref type of the shared A tile
    bs_type: str
    epi: list | None = None         # with an epilogue: per operand (memref or scalar, leading dimension, type, dims)
    epi_types: list | None = None


def _shared_types(elem: str, t: Tiles, transpose_b: bool, space: str) -> tuple[str, str]:
    sp = f", {space}" if space else ""
    bs_cols = t.bn + (t.pad if transpose_b else 0)
    return (f"memref<{t.bk}x{t.bm + t.pad}x{elem}{sp}>", f"memref<{t.bk}x{bs_cols}x{elem}{sp}>")


def _thread_coords(E: _Emitter, tid: str, bx: str, by: str):
    t = E.t
    ctx_, cbm, cbn = E.idx(t.tx), E.idx(t.bm), E.idx(t.bn)
    tx = E.op(f"arith.remui {tid}, {ctx_} : index", "tx")
    ty = E.op(f"arith.divui {tid}, {ctx_} : index", "ty")
    row0 = E.mul(by, cbm)
    col0 = E.mul(bx, cbn)
    return tx, ty, row0, col0


def _elem_coords(E: _Emitter, tx, ty, row0, col0):
    """The rows (tm) and columns (tn) of this thread's register tile."""
    t = E.t
    rows = [E.add(row0, E.add(ty, E.idx(t.ty * i))) if i else E.add(row0, ty) for i in range(t.tm)]
    cols = [E.add(col0, E.add(tx, E.idx(t.tx * j))) if j else E.add(col0, tx) for j in range(t.tn)]
    return rows, cols


def _init_acc(E: _Emitter, env: _Env, tx, ty, row0, col0) -> list[str]:
    """acc[i][j] = C[row_i, col_j] (0 outside C)."""
    rows, cols = _elem_coords(E, tx, ty, row0, col0)
    okr = [E.lt(r, env.m) for r in rows]
    okc = [E.lt(c, env.n) for c in cols]
    acc = []
    for i, r in enumerate(rows):
        base = E.mul(r, env.ldc)
        for j, c in enumerate(cols):
            acc.append(E.guarded_load(E.and_(okr[i], okc[j]), env.C, E.add(base, c), env.gtype))
    return acc


def _store_acc(E: _Emitter, env: _Env, tx, ty, row0, col0, acc: list[str]) -> None:
    rows, cols = _elem_coords(E, tx, ty, row0, col0)
    okr = [E.lt(r, env.m) for r in rows]
    okc = [E.lt(c, env.n) for c in cols]
    for i, r in enumerate(rows):
        base = E.mul(r, env.ldc)
        for j, c in enumerate(cols):
            ok, at = E.and_(okr[i], okc[j]), E.add(base, c)
            if env.epi is None:
                E.guarded_store(ok, acc[i * E.t.tn + j], env.C, at, env.gtype)
                continue
            E.emit(f"scf.if {ok} {{")
            args = []
            for mem, ld, mtype, dims in env.epi:
                if dims is None:
                    args.append(mem)
                    continue
                if dims == (0,):
                    idx = r
                elif dims == (1,):
                    idx = c
                elif dims == (0, 1):
                    idx = E.add(E.mul(r, ld), c)
                else:                                   # (1, 0)
                    idx = E.add(E.mul(c, ld), r)
                args.append(E.op(f"memref.load {mem}[{idx}] : {mtype}", "e"))
            types = ", ".join(env.epi_types + [E.elem])
            y = E.op(f"func.call @{EPI_FUNC}({', '.join(args + [acc[i * E.t.tn + j]])}) : ({types}) -> {E.elem}", "y")
            E.emit(f"  memref.store {y}, {env.C}[{at}] : {env.gtype}")
            E.emit("}")


def _load_phase(E: _Emitter, env: _Env, tid, row0, col0, k0) -> None:
    """This thread's share of the A and B tiles of k tile k0, into shared memory."""
    t = E.t
    cbk = E.idx(t.bk)
    # A: BM×BK; consecutive threads read consecutive p (coalesced), store transposed
    a_p = E.op(f"arith.remui {tid}, {cbk} : index")
    a_r = E.op(f"arith.divui {tid}, {cbk} : index")
    gp = E.add(k0, a_p)
    okp = E.lt(gp, env.k)
    for l in range((t.bm * t.bk) // t.threads):
        r = E.add(a_r, E.idx(l * (t.threads // t.bk))) if l else a_r
        grow = E.add(row0, r)
        ok = E.and_(E.lt(grow, env.m), okp)
        v = E.guarded_load(ok, env.A, E.add(E.mul(grow, env.lda), gp), env.gtype)
        E.emit(f"memref.store {v}, {env.As}[{a_p}, {r}] : {env.as_type}")
    if not E.transpose_b:
        # B: BK×BN, consecutive threads read consecutive columns
        cbn = E.idx(t.bn)
        b_c = E.op(f"arith.remui {tid}, {cbn} : index")
        b_r = E.op(f"arith.divui {tid}, {cbn} : index")
        gcol = E.add(col0, b_c)
        okc = E.lt(gcol, env.n)
        for l in range((t.bn * t.bk) // t.threads):
            r = E.add(b_r, E.idx(l * (t.threads // t.bn))) if l else b_r
            gp = E.add(k0, r)
            ok = E.and_(E.lt(gp, env.k), okc)
            v = E.guarded_load(ok, env.B, E.add(E.mul(gp, env.ldb), gcol), env.gtype)
            E.emit(f"memref.store {v}, {env.Bs}[{r}, {b_c}] : {env.bs_type}")
    else:
        # B is n×k: like A, store transposed
        b_p = a_p
        b_j = a_r
        gp = E.add(k0, b_p)
        okp = E.lt(gp, env.k)
        for l in range((t.bn * t.bk) // t.threads):
            j = E.add(b_j, E.idx(l * (t.threads // t.bk))) if l else b_j
            gcol = E.add(col0, j)
            ok = E.and_(E.lt(gcol, env.n), okp)
            v = E.guarded_load(ok, env.B, E.add(E.mul(gcol, env.ldb), gp), env.gtype)
            E.emit(f"memref.store {v}, {env.Bs}[{b_p}, {j}] : {env.bs_type}")


def _compute_loop(E: _Emitter, env: _Env, tx, ty, acc: list[str], count: str) -> list[str]:
    """acc += As[p, rows] * Bs[p, cols] for p in 0..count (increasing)."""
    t = E.t
    e = E.elem
    n = len(acc)
    res = E.fresh("r")
    c0, c1 = E.idx(0), E.idx(1)
    p = E.fresh("p")
    iters = [E.fresh("acc") for _ in range(n)]
    ts = ", ".join([e] * n)
    E.emit(f"{res}:{n} = scf.for {p} = {c0} to {count} step {c1} iter_args("
           + ", ".join(f"{a} = {b}" for a, b in zip(iters, acc)) + f") -> ({ts}) {{")
    outer = E.ind
    E.ind += "  "
    avals = []
    for i in range(t.tm):
        r = E.add(ty, E.idx(t.ty * i)) if i else ty
        avals.append(E.op(f"memref.load {env.As}[{p}, {r}] : {env.as_type}", "a"))
    bvals = []
    for j in range(t.tn):
        c = E.add(tx, E.idx(t.tx * j)) if j else tx
        bvals.append(E.op(f"memref.load {env.Bs}[{p}, {c}] : {env.bs_type}", "b"))
    new = [E.fmac(iters[i * t.tn + j], avals[i], bvals[j]) for i in range(t.tm) for j in range(t.tn)]
    E.emit(f"scf.yield {', '.join(new)} : {ts}")
    E.ind = outer
    E.emit("}")
    return [f"{res}#{q}" for q in range(n)]


def _compute_phase(E: _Emitter, env: _Env, tx, ty, acc: list[str], k0) -> list[str]:
    """A full k tile runs a loop of static length BK; the last partial one runs
    exactly k - k0 steps (no padding terms reach C)."""
    t = E.t
    e = E.elem
    n = len(acc)
    cbk = E.idx(t.bk)
    rest = E.op(f"arith.subi {env.k}, {k0} : index")
    full = E.op(f"arith.cmpi uge, {rest}, {cbk} : index")
    res = E.fresh("ph")
    ts = ", ".join([e] * n)
    E.emit(f"{res}:{n} = scf.if {full} -> ({ts}) {{")
    outer = E.ind
    E.ind += "  "
    out = _compute_loop(E, env, tx, ty, acc, E.idx(t.bk))
    E.emit(f"scf.yield {', '.join(out)} : {ts}")
    E.ind = outer
    E.emit("} else {")
    E.ind += "  "
    out = _compute_loop(E, env, tx, ty, acc, rest)
    E.emit(f"scf.yield {', '.join(out)} : {ts}")
    E.ind = outer
    E.emit("}")
    return [f"{res}#{q}" for q in range(n)]


def _descriptor(E: _Emitter, ptr: str, space: int, elem: str) -> tuple[str, str]:
    """A 1-D memref over a raw pointer (size unknown: every access is guarded)."""
    p = "ptr" if space == 0 else f"ptr<{space}>"
    st = f"!llvm.struct<({p}, {p}, i64, array<1 x i64>, array<1 x i64>)>"
    mtype = f"memref<?x{elem}>" if space == 0 else f"memref<?x{elem}, {space}>"
    zero = E.op("llvm.mlir.constant(0 : i64) : i64")
    one = E.op("llvm.mlir.constant(1 : i64) : i64")
    big = E.op("llvm.mlir.constant(9223372036854775807 : i64) : i64")
    d = E.op(f"llvm.mlir.undef : {st}")
    for val, pos in ((ptr, "0"), (ptr, "1"), (zero, "2"), (big, "3, 0"), (one, "4, 0")):
        d = E.op(f"llvm.insertvalue {val}, {d}[{pos}] : {st}")
    return E.op(f"builtin.unrealized_conversion_cast {d} : {st} to {mtype}"), mtype


def _prologue(E: _Emitter, space: int, As: str, Bs: str, shared_space: str,
              epi: KernelEpilogue | None = None) -> _Env:
    mems = {}
    gtype = ""
    for name in "abc":
        mems[name], gtype = _descriptor(E, f"%{name}", space, E.elem)
    sizes = {s: E.op(f"arith.index_cast %{s} : i64 to index", s) for s in ("m", "n", "k", "lda", "ldb", "ldc")}
    as_type, bs_type = _shared_types(E.elem, E.t, E.transpose_b, shared_space)
    env = _Env(mems["a"], mems["b"], mems["c"], sizes["m"], sizes["n"], sizes["k"], sizes["lda"],
               sizes["ldb"], sizes["ldc"], As, Bs, gtype, as_type, bs_type)
    if epi is not None:
        env.epi, env.epi_types = [], [elem for elem, _ in epi.operands]
        for k, (elem, dims) in enumerate(epi.operands):
            if dims is None:
                env.epi.append((f"%e{k}", None, elem, None))
                continue
            mem, mtype = _descriptor(E, f"%e{k}", space, elem)
            env.epi.append((mem, E.op(f"arith.index_cast %l{k} : i64 to index", "ld"), mtype, tuple(dims)))
    return env


def _params(space: int, epi: KernelEpilogue | None = None) -> str:
    p = "!llvm.ptr" if space == 0 else f"!llvm.ptr<{space}>"
    extra = []
    for k, (elem, dims) in enumerate(epi.operands if epi else ()):
        extra += [f"%e{k}: {elem}"] if dims is None else [f"%e{k}: {p}", f"%l{k}: i64"]
    return ", ".join([f"%{x}: {p}" for x in "abc"] + [f"%{s}: i64" for s in ("m", "n", "k", "lda", "ldb", "ldc")]
                     + extra)


def _check_epilogue(epi: KernelEpilogue | None) -> None:
    for elem, dims in epi.operands if epi else ():
        if (dims is None and not re.fullmatch(r"[if](8|16|32|64)", elem)) or \
                (dims is not None and (elem not in ELEMS or tuple(dims) not in ((0,), (1,), (0, 1), (1, 0)))):
            raise CargoMlirError(f"GPU matmul: an epilogue operand the kernel cannot take ({elem}, {dims})")


def _check(elem: str, tiles: Tiles) -> None:
    if elem not in ELEMS:
        raise CargoMlirError(f"GPU matmul: unsupported element type `{elem}` (f32 or f64)")
    tiles.check()


def target_attr(arch: str, code_object_version: int = 5) -> str:
    if arch.startswith("sm_"):
        return f'#nvvm.target<chip = "{arch}", O = 3>'
    if arch.startswith("gfx"):
        return f'#rocdl.target<chip = "{arch}", abi = "{code_object_version}00", O = 3>'
    raise CargoMlirError(f"GPU matmul: unknown GPU architecture `{arch}` (sm_NN or gfxNNN)")


def matmul_kernel_module(elem: str, transpose_b: bool, exact: bool, arch: str,
                         tiles: Tiles = DEFAULT_TILES, epilogue: KernelEpilogue | None = None) -> str:
    """MLIR text: a module with `gpu.module @cargo_mlir_matmul_module` holding the
    kernel `gpu.func @cargo_mlir_matmul` (see the module docstring for the ABI),
    and with an epilogue its body `@cargo_mlir_epi`."""
    _check(elem, tiles)
    _check_epilogue(epilogue)
    t = tiles
    E = _Emitter(elem, exact, t, transpose_b, indent="      ")
    ws = "#gpu.address_space<workgroup>"
    env = _prologue(E, 1, "%As", "%Bs", ws, epilogue)
    tid = E.op("gpu.thread_id x", "tid")
    bx = E.op("gpu.block_id x", "bx")
    by = E.op("gpu.block_id y", "by")
    tx, ty, row0, col0 = _thread_coords(E, tid, bx, by)
    acc = _init_acc(E, env, tx, ty, row0, col0)
    cbk = E.idx(t.bk)
    nkt = E.op(f"arith.ceildivui {env.k}, {cbk} : index", "nkt")
    c0, c1 = E.idx(0), E.idx(1)
    kt = E.fresh("kt")
    n = len(acc)
    ts = ", ".join([elem] * n)
    iters = [E.fresh("acc") for _ in range(n)]
    res = E.fresh("res")
    E.emit(f"{res}:{n} = scf.for {kt} = {c0} to {nkt} step {c1} iter_args("
           + ", ".join(f"{a} = {b}" for a, b in zip(iters, acc)) + f") -> ({ts}) {{")
    E.ind += "  "
    k0 = E.mul(kt, E.idx(t.bk))
    _load_phase(E, env, tid, row0, col0, k0)
    E.emit("gpu.barrier")
    out = _compute_phase(E, env, tx, ty, iters, k0)
    E.emit("gpu.barrier")
    E.emit(f"scf.yield {', '.join(out)} : {ts}")
    E.ind = E.ind[:-2]
    E.emit("}")
    _store_acc(E, env, tx, ty, row0, col0, [f"{res}#{q}" for q in range(n)])
    E.emit("gpu.return")
    body = "\n".join(E.lines)
    as_type, bs_type = env.as_type, env.bs_type
    attrs = f"known_block_size = array<i32: {t.threads}, 1, 1>"
    if arch.startswith("sm_"):
        # .minnctapersm 2: with only .maxntid, ptxas aims at 3 workgroups per SM (80
        # registers) and spills; 2 per SM leaves it ~96 registers and no spills
        attrs += f", nvvm.minctasm = {NV_MIN_WORKGROUPS_PER_SM} : i32"
    return (f"// GPU matmul kernel: C += A*B{'^T' if transpose_b else ''}, {elem}, "
            f"{'exact (no FMA)' if exact else 'FMA allowed'}, tiles {t}{', with an epilogue' if epilogue else ''}\n"
            + (epilogue.header() + "\n" if epilogue else "") +
            "module attributes {gpu.container_module} {\n"
            f"  gpu.module @{KERNEL}_module [{target_attr(arch)}] {{\n"
            + (_indent(epilogue.body, "    ") + "\n" if epilogue else "") +
            f"    gpu.func @{KERNEL}({_params(1, epilogue)})\n"
            f"        workgroup(%As : {as_type}, %Bs : {bs_type})\n"
            f"        kernel attributes {{{attrs}}} {{\n"
            f"{body}\n"
            "    }\n  }\n}\n")


def _indent(text: str, by: str) -> str:
    return "\n".join(by + line if line.strip() else line for line in text.strip("\n").splitlines())


def matmul_host_module(elem: str, transpose_b: bool, exact: bool, tiles: Tiles = DEFAULT_TILES,
                       epilogue: KernelEpilogue | None = None) -> str:
    """The kernel's per-thread phases as a host function
    `cargo_mlir_matmul_host(a, b, c, m, n, k, lda, ldb, ldc)` that runs every
    workgroup and thread sequentially; each barrier-separated phase is a loop
    over all threads, the register tiles live in memory between phases. For
    checking the kernel's logic on a CPU."""
    _check(elem, tiles)
    _check_epilogue(epilogue)
    t = tiles
    E = _Emitter(elem, exact, t, transpose_b, indent="    ")
    as_type, bs_type = _shared_types(elem, t, transpose_b, "")
    As = E.op(f"memref.alloca() : {as_type}", "As")
    Bs = E.op(f"memref.alloca() : {bs_type}", "Bs")
    nacc = t.tm * t.tn
    acc_type = f"memref<{t.threads}x{nacc}x{elem}>"
    ACC = E.op(f"memref.alloca() : {acc_type}", "ACC")
    env = _prologue(E, 0, As, Bs, "", epilogue)
    c0, c1 = E.idx(0), E.idx(1)
    gx = E.op(f"arith.ceildivui {env.n}, {E.idx(t.bn)} : index")
    gy = E.op(f"arith.ceildivui {env.m}, {E.idx(t.bm)} : index")
    nkt = E.op(f"arith.ceildivui {env.k}, {E.idx(t.bk)} : index")
    cthreads = E.idx(t.threads)

    def open_for(lo, hi, name):
        v = E.fresh(name)
        E.emit(f"scf.for {v} = {lo} to {hi} step {c1} {{")
        E.ind += "  "
        return v

    def close():
        E.ind = E.ind[:-2]
        E.emit("}")

    def save(tid, vals):
        for q, v in enumerate(vals):
            E.emit(f"memref.store {v}, {ACC}[{tid}, {E.idx(q)}] : {acc_type}")

    def restore(tid):
        return [E.op(f"memref.load {ACC}[{tid}, {E.idx(q)}] : {acc_type}", "acc") for q in range(nacc)]

    by = open_for(c0, gy, "by")
    bx = open_for(c0, gx, "bx")
    tid = open_for(c0, cthreads, "tid")
    tx, ty, row0, col0 = _thread_coords(E, tid, bx, by)
    save(tid, _init_acc(E, env, tx, ty, row0, col0))
    close()
    kt = open_for(c0, nkt, "kt")
    k0 = E.mul(kt, E.idx(t.bk))
    tid = open_for(c0, cthreads, "tid")
    tx, ty, row0, col0 = _thread_coords(E, tid, bx, by)
    _load_phase(E, env, tid, row0, col0, k0)
    close()
    # gpu.barrier
    tid = open_for(c0, cthreads, "tid")
    tx, ty, row0, col0 = _thread_coords(E, tid, bx, by)
    save(tid, _compute_phase(E, env, tx, ty, restore(tid), k0))
    close()
    # gpu.barrier
    close()
    tid = open_for(c0, cthreads, "tid")
    tx, ty, row0, col0 = _thread_coords(E, tid, bx, by)
    _store_acc(E, env, tx, ty, row0, col0, restore(tid))
    close()
    close()
    close()
    body = "\n".join(E.lines)
    return ("module {\n" + (_indent(epilogue.body, "  ") + "\n" if epilogue else "") +
            f"  func.func @{HOST_FUNC}({_params(0, epilogue)}) {{\n{body}\n    return\n  }}\n}}\n")


# ---------------------------------------------------------------- compiling

def _tools(keys=("mlir-opt", "ld.lld", "ptxas")) -> SimpleNamespace:
    """A stand-in for `ctx.toolchain` (tool/has/library), found the way `cargo
    mlir doctor` finds tools; the matmul kernel calls no device library."""
    from cargo_mlir.toolchain import tools as T

    found = {}
    for spec in T.TOOLS:
        if spec.key in keys:
            r = T.find_tool(spec, LLVM_MAJOR)
            if isinstance(r, T.Found):
                found[spec.key] = r.path

    def tool(key: str) -> str:
        if key not in found:
            raise CargoMlirError(f"the GPU matmul kernel needs `{key}`",
                                 hint="run `cargo mlir doctor` to see what is missing")
        return found[key]

    return SimpleNamespace(tool=tool, has=lambda key: key in found, library=lambda key: None)


def lowering(arch: str) -> str:
    """cargo_mlir.pipeline.table.GPU_LOWERING for this architecture."""
    from cargo_mlir.pipeline.table import GPU_LOWERING

    convert = f"convert-gpu-to-rocdl{{chipset={arch}}}" if arch.startswith("gfx") else "convert-gpu-to-nvvm"
    return GPU_LOWERING.format(convert=convert)


def compile_matmul_kernel(text: str, arch: str, workdir: Path, toolchain=None, *, keep_ptx: bool = True) -> bytes:
    """Lower `text` (from `matmul_kernel_module`) and serialise it: a cubin for
    `sm_*` (ptxas; `-fmad=false` when the module says exact), a HSACO for
    `gfx*`. Intermediate files stay in `workdir` (lowered.mlir, binary.mlir,
    and for NVIDIA kernel.ptx)."""
    from cargo_mlir.pipeline.stages import serialize as S

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tc = toolchain or _tools()
    ctx = SimpleNamespace(toolchain=tc)
    mlir_opt = tc.tool("mlir-opt")
    src, lowered, binary = workdir / "kernel.mlir", workdir / "lowered.mlir", workdir / "binary.mlir"
    src.write_text(text)
    what = f"the GPU matmul kernel for {arch}"
    cmd(mlir_opt, src, f"--pass-pipeline=builtin.module({lowering(arch)})", "-o", lowered).run(
        what=f"lowering {what}")
    exact = "fastmath<contract>" not in text          # no op may be fused
    if arch.startswith("gfx"):
        options = f"format=bin toolkit={S.rocm_toolkit(ctx)}"
    else:
        toolkit = S.cuda_toolkit(ctx)
        if toolkit is None:
            raise CargoMlirError(f"{what} needs CUDA's ptxas", hint="install the CUDA toolkit (/usr/local/cuda)")
        options = f"format=bin toolkit={toolkit}"
        # ptxas fuses mul+add into FMA by default (--fmad=true), even without LLVM's contract
        if exact:
            options += " opts=--fmad=false"
        if keep_ptx:
            isa = workdir / "kernel.ptx.mlir"
            cmd(mlir_opt, lowered, "--gpu-module-to-binary=format=isa", "-o", isa).run(what=f"PTX of {what}")
            (workdir / "kernel.ptx").write_text(S.binary_object(isa.read_text(), what).decode())
    cmd(mlir_opt, lowered, f"--gpu-module-to-binary={options}", "-o", binary).run(what=f"serialising {what}")
    return S.binary_object(binary.read_text(), what)


def ptx_has_fma(ptx: str) -> bool:
    return re.search(r"^\s*(fma|mad)\.", ptx, re.M) is not None


def compile_host_module(text: str, workdir: Path, toolchain=None) -> Path:
    """An x86-64 object of `matmul_host_module` text (the CPU check of the
    kernel's logic): table.HOST_LOWERING, mlir-translate, llc."""
    from cargo_mlir.pipeline.table import HOST_LOWERING

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tc = toolchain or _tools(("mlir-opt", "mlir-translate", "llc"))
    src, lowered, ll, obj = (workdir / n for n in ("host.mlir", "host.lowered.mlir", "host.ll", "host.o"))
    src.write_text(text)
    cmd(tc.tool("mlir-opt"), src, f"--pass-pipeline=builtin.module({HOST_LOWERING})", "-o", lowered).run(
        what="lowering the host emulation of the GPU matmul kernel")
    cmd(tc.tool("mlir-translate"), "--mlir-to-llvmir", lowered, "-o", ll).run(what="translating to LLVM IR")
    cmd(tc.tool("llc"), "-O2", "-relocation-model=pic", "-filetype=obj", ll, "-o", obj).run(what="compiling")
    return obj
