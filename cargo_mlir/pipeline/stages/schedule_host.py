"""The host `schedule` for recognised matmuls: each `linalg.matmul` (dynamic
shapes, f32/f64, row-major operands with unit inner stride, B plain or
transposed) becomes a call into a GotoBLAS-style kernel family made here:

* driver `@__cargo_mlir_gemm_<v>`: packs B once into NR-wide panels (zero
  padded), then runs row blocks of C inline, or on the support crate's pool
  through `cargo_mlir_rt_parallel_for` when the product is big enough;
* `…_host`: the pool's work item (a HostFn): rows `begin*MC .. end*MC` of C
  (one A block each, so every thread keeps the blocking of one);
* `…_<isa>_rows`: for each MC×KC block of A: pack it into MR-tall panels, then
  for every NR panel of B and MR panel of A one micro-kernel, accumulating in
  increasing k from C's own value (results equal the naive loop's order);
* `…_<isa>_packb`: the B packing.

The `_rows`/`_packb` pair exists twice: `v3` (x86-64-v3: AVX2 + FMA, per-function
target attributes) and `v0` (the baseline), chosen at run time by
`cargo_mlir_rt_cpu_level()`. The micro-kernel step is a static MR×NR×1
`linalg.generic`; templates/schedules/host-matmul.mlir (which also holds the tile
sizes) vectorises it into register-blocked outer products. Python keeps what the
transform dialect does not do on dynamic memrefs: remainder versioning (edge
tiles go through a zero-padded scratch tile), packing, the thread split and the
CPU dispatch. `cargo_mlir.exact` matmuls, and the baseline ISA, get separate
multiply and add (no FMA)."""

from __future__ import annotations

import re
from pathlib import Path

from cargo_mlir.pipeline.stage import Finding



def default_script() -> Path:
    """The shipped schedule (package data: a wheel install has it too)."""
    from cargo_mlir.resources import templates_dir
    return templates_dir() / "schedules" / "host-matmul.mlir"


# Below PARALLEL_FLOPS (2·m·n·k) one thread.
PARALLEL_FLOPS = 2 * 160 ** 3
ISAS = {"v3": 'attributes {target_cpu = "x86-64-v3", target_features = #llvm.target_features<["+avx2", "+fma"]>}',
        "v0": ""}
_INNER_UNIT = re.compile(r"^memref<\?x\?x(f32|f64)(, strided<\[\?, 1\](, offset: [?0-9]+)?>)?>$")


def tiles(script: Path) -> dict[str, tuple[int, int, int, int]]:
    """[MR, NR, KC, MC] per element type, from the script's module attribute."""
    m = re.search(r"cargo_mlir\.tiles\s*=\s*\{([^}]*)\}", script.read_text())
    return {t: tuple(int(x) for x in v.split(","))
            for t, v in re.findall(r"(f32|f64)\s*=\s*array<i64:([^>]*)>", m[1])}


def _flat(name: str, ptr: str, t: str) -> str:
    """A memref<?xT> over raw pointer `ptr` (through an LLVM descriptor)."""
    d = "!llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>"
    return (f"%{name}_0 = llvm.mlir.undef : {d}\n"
            f"%{name}_1 = llvm.insertvalue {ptr}, %{name}_0[0] : {d}\n"
            f"%{name}_2 = llvm.insertvalue {ptr}, %{name}_1[1] : {d}\n"
            f"%{name}_3 = llvm.insertvalue %z64, %{name}_2[2] : {d}\n"
            f"%{name}_4 = llvm.insertvalue %big64, %{name}_3[3, 0] : {d}\n"
            f"%{name}_5 = llvm.insertvalue %one64, %{name}_4[4, 0] : {d}\n"
            f"%{name} = builtin.unrealized_conversion_cast %{name}_5 : {d} to memref<?x{t}>\n")


_CONSTS = """%z64 = arith.constant 0 : i64
%one64 = arith.constant 1 : i64
%big64 = arith.constant 4611686018427387904 : i64
%c0 = arith.constant 0 : index
%c1 = arith.constant 1 : index
"""


def _packb(v: str, isa: str, t: str, nr: int, trans: bool) -> str:
    outer, inner = ("%jc", "%p") if trans else ("%p", "%jc")
    return f"""
func.func private @{v}_{isa}_packb(%pb: !llvm.ptr, %ldb: index, %pbp: !llvm.ptr, %n: index, %k: index) {ISAS[isa]} {{
{_CONSTS}{_flat("B", "%pb", t)}{_flat("Bf", "%pbp", t)}
  %cNR = arith.constant {nr} : index
  %zero = arith.constant 0.0 : {t}
  %np = arith.ceildivui %n, %cNR : index
  scf.for %jp = %c0 to %np step %c1 {{
    %j0 = arith.muli %jp, %cNR : index
    %pan = arith.muli %j0, %k : index
    scf.for %p = %c0 to %k step %c1 {{
      %row = arith.muli %p, %cNR : index
      %dst = arith.addi %pan, %row : index
      scf.for %c = %c0 to %cNR step %c1 {{
        %jc = arith.addi %j0, %c : index
        %in = arith.cmpi ult, %jc, %n : index
        %x = scf.if %in -> {t} {{
          %s0 = arith.muli {outer}, %ldb : index
          %s = arith.addi %s0, {inner} : index
          %l = memref.load %B[%s] : memref<?x{t}>
          scf.yield %l : {t}
        }} else {{
          scf.yield %zero : {t}
        }}
        %d = arith.addi %dst, %c : index
        memref.store %x, %Bf[%d] : memref<?x{t}>
      }}
    }}
  }}
  return
}}"""


def _rows(v: str, isa: str, t: str, mr: int, nr: int, kc: int, mc: int, epi: bool = False) -> str:
    ap = f"memref<{mc // mr}x{kc}x{mr}x{t}>"
    bp = f"memref<?x?x{nr}x{t}, strided<[?, {nr}, 1]>>"
    return f"""
func.func private @{v}_{isa}_rows(%pa: !llvm.ptr, %lda: index, %pbp: !llvm.ptr, %pc: !llvm.ptr, %ldc: index,
    %m: index, %n: index, %k: index, %r0: index, %r1: index{", %ctx: !llvm.ptr" if epi else ""}) {ISAS[isa]} {{
{_CONSTS}{_flat("A", "%pa", t)}{_flat("C", "%pc", t)}{_flat("Bf", "%pbp", t)}
  %cMR = arith.constant {mr} : index
  %cNR = arith.constant {nr} : index
  %cKC = arith.constant {kc} : index
  %cMC = arith.constant {mc} : index
  %zero = arith.constant 0.0 : {t}
  %np = arith.ceildivui %n, %cNR : index
  %kNR = arith.muli %k, %cNR : index
  %Bp = memref.reinterpret_cast %Bf to offset: [0], sizes: [%np, %k, {nr}], strides: [%kNR, {nr}, 1]
      : memref<?x{t}> to {bp}
  %Ap = memref.alloca() {{alignment = 64 : i64}} : {ap}
  %acc = memref.alloca() {{alignment = 64 : i64}} : memref<{mr}x{nr}x{t}>
  scf.for %ic = %r0 to %r1 step %cMC {{
    %mleft = arith.subi %r1, %ic : index
    %mb = arith.minui %mleft, %cMC : index
    %nmp = arith.ceildivui %mb, %cMR : index
    scf.for %pc0 = %c0 to %k step %cKC {{
      %kleft = arith.subi %k, %pc0 : index
      %kb = arith.minui %kleft, %cKC : index
      scf.for %ip = %c0 to %nmp step %c1 {{
        %i0 = arith.muli %ip, %cMR : index
        %i1 = arith.addi %ic, %i0 : index
        scf.for %r = %c0 to %cMR step %c1 {{
          %i = arith.addi %i1, %r : index
          %in = arith.cmpi ult, %i, %r1 : index
          scf.if %in {{
            %ia = arith.muli %i, %lda : index
            %base = arith.addi %ia, %pc0 : index
            scf.for %p = %c0 to %kb step %c1 {{
              %s = arith.addi %base, %p : index
              %x = memref.load %A[%s] : memref<?x{t}>
              memref.store %x, %Ap[%ip, %p, %r] : {ap}
            }}
          }} else {{
            scf.for %p = %c0 to %kb step %c1 {{
              memref.store %zero, %Ap[%ip, %p, %r] : {ap}
            }}
          }}
        }}
      }}
      scf.for %jp = %c0 to %np step %c1 {{
        %j = arith.muli %jp, %cNR : index
        %nleft = arith.subi %n, %j : index
        %cols = arith.minui %nleft, %cNR : index
        %fullc = arith.cmpi eq, %cols, %cNR : index
        scf.for %ip = %c0 to %nmp step %c1 {{
          %i0 = arith.muli %ip, %cMR : index
          %i = arith.addi %ic, %i0 : index
          %rleft = arith.subi %r1, %i : index
          %rows = arith.minui %rleft, %cMR : index
          %fullr = arith.cmpi eq, %rows, %cMR : index
          %full = arith.andi %fullr, %fullc : i1
          scf.if %full {{
            scf.for %r = %c0 to %cMR step %c1 {{
              %ir = arith.addi %i, %r : index
              %o0 = arith.muli %ir, %ldc : index
              %o = arith.addi %o0, %j : index
              %x = vector.load %C[%o] : memref<?x{t}>, vector<{nr}x{t}>
              vector.store %x, %acc[%r, %c0] : memref<{mr}x{nr}x{t}>, vector<{nr}x{t}>
            }}
          }} else {{
            scf.for %r = %c0 to %cMR step %c1 {{
              scf.for %c = %c0 to %cNR step %c1 {{
                %inr = arith.cmpi ult, %r, %rows : index
                %inc = arith.cmpi ult, %c, %cols : index
                %inb = arith.andi %inr, %inc : i1
                %x = scf.if %inb -> {t} {{
                  %ir = arith.addi %i, %r : index
                  %o0 = arith.muli %ir, %ldc : index
                  %jc = arith.addi %j, %c : index
                  %o = arith.addi %o0, %jc : index
                  %l = memref.load %C[%o] : memref<?x{t}>
                  scf.yield %l : {t}
                }} else {{
                  scf.yield %zero : {t}
                }}
                memref.store %x, %acc[%r, %c] : memref<{mr}x{nr}x{t}>
              }}
            }}
          }}
          scf.for %p = %c0 to %kb step %c1 {{
            %pp = arith.addi %pc0, %p : index
            %as = memref.subview %Ap[%ip, %p, 0] [1, 1, {mr}] [1, 1, 1]
                : {ap} to memref<1x{mr}x{t}, strided<[{mr}, 1], offset: ?>>
            %bs = memref.subview %Bp[%jp, %pp, 0] [1, 1, {nr}] [1, 1, 1]
                : {bp} to memref<1x{nr}x{t}, strided<[{nr}, 1], offset: ?>>
            linalg.generic {{indexing_maps = [affine_map<(d0, d1, d2) -> (d2, d0)>,
                                             affine_map<(d0, d1, d2) -> (d2, d1)>,
                                             affine_map<(d0, d1, d2) -> (d0, d1)>],
                            iterator_types = ["parallel", "parallel", "reduction"]}}
                ins(%as, %bs : memref<1x{mr}x{t}, strided<[{mr}, 1], offset: ?>>,
                               memref<1x{nr}x{t}, strided<[{nr}, 1], offset: ?>>)
                outs(%acc : memref<{mr}x{nr}x{t}>) attrs = {{cargo_mlir.micro_step}} {{
            ^bb0(%a: {t}, %b: {t}, %o: {t}):
              %y = arith.mulf %a, %b : {t}
              %z = arith.addf %o, %y : {t}
              linalg.yield %z : {t}
            }}
          }}
          {_epilogue_hook(v, isa, t, mr, nr) if epi else ""}scf.if %full {{
            scf.for %r = %c0 to %cMR step %c1 {{
              %ir = arith.addi %i, %r : index
              %o0 = arith.muli %ir, %ldc : index
              %o = arith.addi %o0, %j : index
              %x = vector.load %acc[%r, %c0] : memref<{mr}x{nr}x{t}>, vector<{nr}x{t}>
              vector.store %x, %C[%o] : memref<?x{t}>, vector<{nr}x{t}>
            }}
          }} else {{
            scf.for %r = %c0 to %rows step %c1 {{
              scf.for %c = %c0 to %cols step %c1 {{
                %ir = arith.addi %i, %r : index
                %o0 = arith.muli %ir, %ldc : index
                %jc = arith.addi %j, %c : index
                %o = arith.addi %o0, %jc : index
                %x = memref.load %acc[%r, %c] : memref<{mr}x{nr}x{t}>
                memref.store %x, %C[%o] : memref<?x{t}>
              }}
            }}
          }}{"}" if epi else ""}
        }}
      }}
    }}
  }}
  return
}}"""


def _epilogue_hook(v: str, isa: str, t: str, mr: int, nr: int) -> str:
    """In the write-back of the last KC panel: the epilogue's tile function writes
    the tile (the opened `else` holds the plain write-back, closed after it)."""
    return f"""%kend = arith.addi %pc0, %kb : index
          %lastk = arith.cmpi eq, %kend, %k : index
          scf.if %lastk {{
            func.call @{v}_{isa}_tile(%ctx, %acc, %pc, %ldc, %i, %j, %rows, %cols)
              : (!llvm.ptr, memref<{mr}x{nr}x{t}>, !llvm.ptr, index, index, index, index, index) -> ()
          }} else {{
          """


def _dispatch(call: str, tag: str = "") -> str:
    """`call` (with `{isa}` in it) for v3 when the CPU has AVX2+FMA, else v0."""
    return f"""
  %lvl{tag} = func.call @cargo_mlir_rt_cpu_level() : () -> i32
  %c3{tag} = arith.constant 3 : i32
  %v3{tag} = arith.cmpi sge, %lvl{tag}, %c3{tag} : i32
  scf.if %v3{tag} {{
    {call.format(isa="v3")}
  }} else {{
    {call.format(isa="v0")}
  }}"""


_CTXI = "\n      %ctxi = llvm.ptrtoint %ctx : !llvm.ptr to i64"


def _driver(v: str, t: str, nr: int, rpi: int, epi: bool = False) -> str:
    """The entry one matmul calls (i64 sizes and leading dimensions, raw pointers;
    with an epilogue, last the pointer to its operands)."""
    ctx, ctx_t = (", %ctx", ", !llvm.ptr") if epi else ("", "")
    rows = (f"func.call @{v}_{{isa}}_rows(%pa, %lda, %pbp, %pc, %ldc, %m, %n, %k, %r0, %r1{ctx}) : (!llvm.ptr, "
            f"index, !llvm.ptr, !llvm.ptr, index, index, index, index, index, index{ctx_t}) -> ()")
    host_t = "(!llvm.ptr, !llvm.ptr, i64, i64) -> ()"
    slots = ["%pai", "%lda64", "%pbpi", "%pci", "%ldc64", "%m64", "%n64", "%k64"] + (["%ctxi"] if epi else [])
    loads = "".join(f"  %q{i} = llvm.getelementptr %params[{i}] : (!llvm.ptr) -> !llvm.ptr, i64\n"
                    f"  %w{i} = llvm.load %q{i} : !llvm.ptr -> i64\n" for i in range(len(slots)))
    stores = "".join(f"      %q{i} = llvm.getelementptr %params[{i}] : (!llvm.ptr) -> !llvm.ptr, i64\n"
                     f"      llvm.store {s}, %q{i} : i64, !llvm.ptr\n" for i, s in enumerate(slots))
    idx = "".join(f"  %{n} = arith.index_cast %w{i} : i64 to index\n"
                  for i, n in ((1, "lda"), (4, "ldc"), (5, "m"), (6, "n"), (7, "k")))
    return f"""
func.func private @{v}_host(%params: !llvm.ptr, %dims: !llvm.ptr, %begin: i64, %end: i64) {{
{loads}{idx}  %pa = llvm.inttoptr %w0 : i64 to !llvm.ptr
  %pbp = llvm.inttoptr %w2 : i64 to !llvm.ptr
  %pc = llvm.inttoptr %w3 : i64 to !llvm.ptr
{"  %ctx = llvm.inttoptr %w8 : i64 to !llvm.ptr" + chr(10) if epi else ""}  %rpi = arith.constant {rpi} : index
  %b = arith.index_cast %begin : i64 to index
  %e = arith.index_cast %end : i64 to index
  %r0 = arith.muli %b, %rpi : index
  %e0 = arith.muli %e, %rpi : index
  %r1 = arith.minui %e0, %m : index{_dispatch(rows)}
  return
}}

func.func private @{v}(%pa: !llvm.ptr, %lda64: i64, %pb: !llvm.ptr, %ldb64: i64, %pc: !llvm.ptr, %ldc64: i64,
                       %m64: i64, %n64: i64, %k64: i64{ctx}{": !llvm.ptr" if epi else ""}) {{
  %c0 = arith.constant 0 : index
  %lda = arith.index_cast %lda64 : i64 to index
  %ldb = arith.index_cast %ldb64 : i64 to index
  %ldc = arith.index_cast %ldc64 : i64 to index
  %m = arith.index_cast %m64 : i64 to index
  %n = arith.index_cast %n64 : i64 to index
  %k = arith.index_cast %k64 : i64 to index
  %z = arith.constant 0 : i64
  %e1 = arith.cmpi eq, %m64, %z : i64
  %e2 = arith.cmpi eq, %n64, %z : i64
  %e3 = arith.cmpi eq, %k64, %z : i64
  %e12 = arith.ori %e1, %e2 : i1
  %empty = arith.ori %e12, %e3 : i1
  scf.if %empty {{{_epilogue_k0(v) if epi else ""}
  }} else {{
    %cNR = arith.constant {nr} : index
    %np = arith.ceildivui %n, %cNR : index
    %Bp = memref.alloc(%np, %k) {{alignment = 64 : i64}} : memref<?x?x{nr}x{t}>
    %pbpx = memref.extract_aligned_pointer_as_index %Bp : memref<?x?x{nr}x{t}> -> index
    %pbpi = arith.index_cast %pbpx : index to i64
    %pbp = llvm.inttoptr %pbpi : i64 to !llvm.ptr
    {_dispatch(f"func.call @{v}_{{isa}}_packb(%pb, %ldb, %pbp, %n, %k) : (!llvm.ptr, index, !llvm.ptr, index, index) -> ()", "b")}
    %fm = arith.uitofp %m64 : i64 to f64
    %fn = arith.uitofp %n64 : i64 to f64
    %fk = arith.uitofp %k64 : i64 to f64
    %fmn = arith.mulf %fm, %fn : f64
    %fmnk = arith.mulf %fmn, %fk : f64
    %lim = arith.constant {PARALLEL_FLOPS / 2:.1f} : f64
    %big = arith.cmpf oge, %fmnk, %lim : f64
    %rpi64 = arith.constant {rpi} : i64
    %several = arith.cmpi ugt, %m64, %rpi64 : i64
    %par = arith.andi %big, %several : i1
    scf.if %par {{
      %pai = llvm.ptrtoint %pa : !llvm.ptr to i64
      %pci = llvm.ptrtoint %pc : !llvm.ptr to i64{_CTXI if epi else ""}
      %nslots = arith.constant {len(slots)} : i64
      %params = llvm.alloca %nslots x i64 : (i64) -> !llvm.ptr
{stores}      %items = arith.ceildivui %m64, %rpi64 : i64
      %hf = func.constant @{v}_host : {host_t}
      %h = builtin.unrealized_conversion_cast %hf : {host_t} to !llvm.ptr
      func.call @cargo_mlir_rt_parallel_for(%h, %params, %items) : (!llvm.ptr, !llvm.ptr, i64) -> ()
    }} else {{
      %r0 = arith.constant 0 : index
      %r1 = arith.addi %m, %c0 : index{_dispatch(rows)}
    }}
    memref.dealloc %Bp : memref<?x?x{nr}x{t}>
  }}
  return
}}"""


RUNTIME_DECLS = """
func.func private @cargo_mlir_rt_cpu_level() -> i32
func.func private @cargo_mlir_rt_parallel_for(!llvm.ptr, !llvm.ptr, i64)
func.func private @cargo_mlir_rt_gpu_matmul(!llvm.ptr, i64, !llvm.ptr, i64, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64, i64) -> i32
func.func private @cargo_mlir_rt_gpu_matmul_epi(!llvm.ptr, i64, !llvm.ptr, i64, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64, i64, !llvm.ptr, i64) -> i32
"""
# runtime::gpu_matmul::EpiArg {kind, ptr, bytes, value}: an epilogue operand for the GPU kernel
EPI_ARG = "!llvm.struct<(i64, ptr, i64, i64)>"

# At or above GPU_FLOPS (2·m·n·k) a matmul goes to the GPU when one matches the
# build's images: below it, copying A, B and C costs more than the GPU saves.
GPU_FLOPS = 2 * 192 ** 3


def _bytes_attr(data: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:02X}" for b in data)


def _global_bytes(name: str, data: bytes) -> str:
    return (f'llvm.mlir.global internal constant @{name}("{_bytes_attr(data)}") {{addr_space = 0 : i32}} '
            f": !llvm.array<{len(data)} x i8>\n")


def gpu_images(prefix: str, images: list[tuple[str, bytes]]) -> str:
    """Globals: each image and its architecture's name, and `@<prefix>` the
    array of `runtime::Image {arch, arch_len, data, size}` over them."""
    out, entry = [], "!llvm.struct<(ptr, i64, ptr, i64)>"
    body = [f"  %u = llvm.mlir.undef : !llvm.array<{len(images)} x {entry}>"]
    prev = "%u"
    for i, (arch, data) in enumerate(images):
        out.append(_global_bytes(f"{prefix}_arch{i}", arch.encode()) + _global_bytes(f"{prefix}_img{i}", data))
        body += [f"  %a{i} = llvm.mlir.addressof @{prefix}_arch{i} : !llvm.ptr",
                 f"  %al{i} = llvm.mlir.constant({len(arch)} : i64) : i64",
                 f"  %d{i} = llvm.mlir.addressof @{prefix}_img{i} : !llvm.ptr",
                 f"  %dl{i} = llvm.mlir.constant({len(data)} : i64) : i64"]
        for f, v in enumerate((f"%a{i}", f"%al{i}", f"%d{i}", f"%dl{i}")):
            body.append(f"  %x{i}_{f} = llvm.insertvalue {v}, {prev}[{i}, {f}] : !llvm.array<{len(images)} x {entry}>")
            prev = f"%x{i}_{f}"
    body.append(f"  llvm.return {prev} : !llvm.array<{len(images)} x {entry}>")
    out.append(f"llvm.mlir.global internal constant @{prefix}() {{addr_space = 0 : i32}} "
               f": !llvm.array<{len(images)} x {entry}> {{\n" + "\n".join(body) + "\n}\n")
    return "".join(out)


def compile_gpu_images(ctx, t: str, trans: bool, exact: bool, epilogue=None) -> list[tuple[str, bytes]]:
    """The GPU matmul kernel (schedule_gpu.py) of this variant (with `epilogue`, a
    schedule_gpu.KernelEpilogue, applied to each C element it stores), for each
    of the build's architectures. The kernel depends only on the variant, the
    epilogue, the architecture and the tools, not on the function: compiled
    once per machine (kept under cargo-mlir's cache home), whichever function
    asks first."""
    from cargo_mlir.fsutil import cache_home, sha256_text, write_atomic
    from cargo_mlir.pipeline.stages import schedule_gpu as G
    out = []
    for arch in ctx.gpu_arches:
        text = G.matmul_kernel_module(t, trans, exact, arch, epilogue=epilogue)
        cached = cache_home() / "gpu-matmul" / sha256_text(text, arch, ctx.toolchain.versions_key())
        try:
            image = cached.read_bytes()
            if not image.startswith(b"\x7fELF"):     # cubins and HSACOs are ELF: a damaged file is made again
                raise OSError(f"{cached} is not an ELF image")
        except OSError:
            work = ctx.tmp(f"gpu-matmul-{t}{'-t' if trans else ''}{'-exact' if exact else ''}"
                           f"{'-epi-' + sha256_text(text)[:12] if epilogue else ''}-{arch}")
            image = G.compile_matmul_kernel(text, arch, work, ctx.toolchain, keep_ptx=False)
            try:
                write_atomic(cached.with_name(cached.name + ".mlir"), text.encode())  # what the image is
                write_atomic(cached, image)
            except OSError:
                pass                # a read-only cache only costs the compile next time
        out.append((arch, image))
    return out


def family(t: str, trans: bool, exact: bool, sizes=None, epi: "Epilogue | None" = None) -> tuple[str, str]:
    """(symbol of the driver, MLIR text of the whole kernel family) for one variant
    (with `epi`, one matmul's own family: its epilogue applied to each finished tile)."""
    mr, nr, kc, mc = (sizes or tiles(default_script()))[t]
    v = f"__cargo_mlir_gemm_{t}_{'t' if trans else 'n'}{'_exact' if exact else ''}"
    if epi is not None:
        v += f"_e{epi.index}"
    text = "".join(_packb(v, isa, t, nr, trans) + _rows(v, isa, t, mr, nr, kc, mc, epi is not None)
                   for isa in ISAS)
    if epi is not None:
        epi.nr = nr
        text += "".join(_epilogue_tile(v, isa, t, mr, nr, epi) for isa in ISAS) + _epilogue_rows(v, t, epi)
    return v, text + _driver(v, t, nr, mc, epi is not None)


# --- epilogues (fuse-elementwise's `linalg.generic {cargo_mlir.epilogue}`) -------------------

class Epilogue:
    """The element-wise epilogue that follows a matmul: its operands (arrays read at
    [i], [j], [i, j] or [j, i] of C, and scalars) travel to the kernel family in one
    LLVM struct (`ctx`); `@<family>_epi` is its body, one C element at a time."""

    def __init__(self, op, index: int):
        from mlir import ir
        self.op, self.index = op, index
        self.on_gpu = ""    # why the GPU kernel cannot apply it ("": it can, or no GPU)
        self.what = ir.StringAttr(op.attributes["cargo_mlir.epilogue"]).value
        ins = list(op.operands)[:-1]
        self.types = [str(x.type) for x in ins]
        maps = [str(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
        self.dims = [tuple(int(d) for d in re.findall(r"d(\d)", m.split("->")[1])) for m in maps[:-1]]
        self.ranks = [ir.MemRefType(x.type).rank if str(x.type).startswith("memref<") else None for x in ins]
        self.elems = [str(ir.MemRefType(x.type).element_type) if r is not None else str(x.type)
                      for x, r in zip(ins, self.ranks)]
        if any(r is None and not re.fullmatch(r"[if](8|16|32|64)", e) for r, e in zip(self.ranks, self.elems)):
            raise ValueError("an epilogue scalar of a type the kernel family does not pass")
        body = op.regions[0].blocks[0]
        inside = set(body.arguments)
        for o in body.operations:
            o = o.operation
            if len(o.regions):
                raise ValueError("an epilogue op with regions")
            for x in o.operands:
                owner = x.owner
                if x not in inside and not (isinstance(owner, (ir.OpView, ir.Operation))
                                            and owner.operation.name == "arith.constant"):
                    raise ValueError("an epilogue that uses a value from outside other than a constant")
            inside.update(o.results)
        # full tiles run the body on NR-wide vectors: elementwise arith/math ops on
        # rows of C, operands read at [i] (broadcast), [j] or [i, j] (contiguous)
        self.vector_ok = all(d in ((), (0,), (1,), (0, 1)) for d in self.dims) and all(
            o.operation.name.split(".")[0] in ("arith", "math") and o.operation.name not in (
                "arith.index_cast", "arith.index_castui", "arith.bitcast") and all(
                not str(r.type).startswith(("index", "vector", "memref")) for r in o.operation.results)
            for o in list(body.operations)[:-1])

    def kernel(self, context, t: str):
        """The epilogue for the GPU matmul kernel (schedule_gpu.KernelEpilogue), or
        why it cannot go there: an op that needs a device library (math), or an
        array not contiguous along its rows."""
        from mlir import ir
        from cargo_mlir.pipeline.stages import schedule_gpu as G
        for o in list(self.op.regions[0].blocks[0].operations)[:-1]:
            o = o.operation
            if not o.name.startswith("arith.") or o.name in ("arith.index_cast", "arith.index_castui"):
                return f"`{o.name}`"
        operands = []
        for k, ty in enumerate(self.types):
            if self.ranks[k] is None:
                operands.append((self.elems[k], None))
                continue
            strides, _ = ir.MemRefType(ir.Type.parse(ty, context)).get_strides_and_offset()
            if strides[-1] != 1 or self.elems[k] not in G.ELEMS or self.dims[k] not in ((0,), (1,), (0, 1), (1, 0)):
                return f"an operand of type {ty}"
            operands.append((self.elems[k], self.dims[k]))
        shell = ir.Module.parse(self.body_shell(G.EPI_FUNC[:-len("_epi")], t), context)
        self.fill_body(shell, G.EPI_FUNC[:-len("_epi")])
        return G.KernelEpilogue(tuple(operands), str(list(shell.body.operations)[0]))

    def gpu_args(self) -> str:
        """`%eargs`: the operands as runtime::gpu_matmul::EpiArg {kind, ptr, bytes,
        value} — an array: 1, its first element, its span in bytes, its leading
        dimension; a scalar: 0, null, 0, its bits — for the GPU kernel."""
        n = len(self.types)
        arr = f"!llvm.array<{max(n, 1)} x {EPI_ARG}>"
        prev = "%ea"
        out = [f"  %ea = llvm.mlir.undef : {arr}", "  %enull = llvm.mlir.zero : !llvm.ptr",
               "  %ezero = arith.constant 0 : i64", "  %eone = arith.constant 1 : i64"]
        for k, ty in enumerate(self.types):
            r, e = self.ranks[k], self.elems[k]
            if r is None:
                bits = {"f32": f"%E{k}b = arith.bitcast %E{k} : f32 to i32\n  %E{k}v = arith.extui %E{k}b : i32 to i64",
                        "f64": f"%E{k}v = arith.bitcast %E{k} : f64 to i64", "i64": ""}.get(
                    e, f"%E{k}v = arith.extui %E{k} : {e} to i64")
                fields = ("%ezero", "%enull", "%ezero", f"%E{k}" if e == "i64" else f"%E{k}v")
                out.append("  " + bits if bits else "")
            else:
                size = 4 if e == "f32" else 8
                sizes = ", ".join(f"%Es{k}_{d}" for d in range(r))
                strides = ", ".join(f"%Et{k}_{d}" for d in range(r))
                out.append(f"""  %Eb{k}, %Eo{k}, {sizes}, {strides} = memref.extract_strided_metadata %E{k} : {ty}
      -> memref<{e}>, index, {", ".join(["index"] * 2 * r)}
  %Ex{k} = memref.extract_aligned_pointer_as_index %E{k} : {ty} -> index
  %Eesz{k} = arith.constant {size} : index
  %Eoff{k} = arith.muli %Eo{k}, %Eesz{k} : index
  %Eaddr{k} = arith.addi %Ex{k}, %Eoff{k} : index
  %Eai{k} = arith.index_cast %Eaddr{k} : index to i64
  %Ep{k} = llvm.inttoptr %Eai{k} : i64 to !llvm.ptr""")
                if r == 1:
                    out.append(f"  %En{k} = arith.muli %Es{k}_0, %Eesz{k} : index\n  %Eld{k} = arith.constant 0 : i64")
                else:
                    out.append(f"""  %Ec0{k} = arith.constant 0 : index
  %Ec1{k} = arith.constant 1 : index
  %Ez0{k} = arith.cmpi eq, %Es{k}_0, %Ec0{k} : index
  %Ez1{k} = arith.cmpi eq, %Es{k}_1, %Ec0{k} : index
  %Ez{k} = arith.ori %Ez0{k}, %Ez1{k} : i1
  %Er{k} = arith.subi %Es{k}_0, %Ec1{k} : index
  %Erl{k} = arith.muli %Er{k}, %Et{k}_0 : index
  %Eel{k} = arith.addi %Erl{k}, %Es{k}_1 : index
  %Eall{k} = arith.muli %Eel{k}, %Eesz{k} : index
  %En{k} = arith.select %Ez{k}, %Ec0{k}, %Eall{k} : index
  %Eld{k} = arith.index_cast %Et{k}_0 : index to i64""")
                out.append(f"  %Enb{k} = arith.index_cast %En{k} : index to i64")
                fields = ("%eone", f"%Ep{k}", f"%Enb{k}", f"%Eld{k}")
            for f, v in enumerate(fields):
                out.append(f"  %ea{k}_{f} = llvm.insertvalue {v}, {prev}[{k}, {f}] : {arr}")
                prev = f"%ea{k}_{f}"
        out.append(f"  %eone1 = llvm.mlir.constant(1 : i64) : i64\n"
                   f"  %eargs = llvm.alloca %eone1 x {arr} : (i64) -> !llvm.ptr\n"
                   f"  llvm.store {prev}, %eargs : {arr}, !llvm.ptr\n"
                   f"  %enargs = arith.constant {n} : i64")
        return "\n".join(x for x in out if x)

    def field(self, k: int) -> str:
        """The struct field of operand k: a memref descriptor, or the scalar itself."""
        r = self.ranks[k]
        if r is None:
            return self.types[k]
        return f"!llvm.struct<(ptr, ptr, i64, array<{r} x i64>, array<{r} x i64>)>"

    @property
    def struct(self) -> str:
        return "!llvm.struct<(" + ", ".join(self.field(k) for k in range(len(self.types))) + ")>" \
            if self.types else "!llvm.struct<(i8)>"

    def unpack(self) -> str:
        """`%e<k>`: the operands, from the struct `%ctx` points to."""
        if not self.types:
            return ""
        out = [f"  %es = llvm.load %ctx : !llvm.ptr -> {self.struct}\n"]
        for k in range(len(self.types)):
            f = self.field(k)
            if self.ranks[k] is None:
                out.append(f"  %e{k} = llvm.extractvalue %es[{k}] : {self.struct}\n")
            else:
                out.append(f"  %ed{k} = llvm.extractvalue %es[{k}] : {self.struct}\n"
                           f"  %e{k} = builtin.unrealized_conversion_cast %ed{k} : {f} to {self.types[k]}\n")
        return "".join(out)

    def apply(self, v: str, t: str, x: str, ii: str, jj: str, out: str) -> str:
        """`out` = the epilogue of C value `x` at row `ii`, column `jj`."""
        lines, args, types = [], [], []
        for k, ty in enumerate(self.types):
            if self.ranks[k] is None:
                args.append(f"%e{k}")
            else:
                idx = ", ".join(ii if d == 0 else jj for d in self.dims[k])
                lines.append(f"{out}_l{k} = memref.load %e{k}[{idx}] : {ty}")
                args.append(f"{out}_l{k}")
            types.append(self.elems[k])
        lines.append(f"{out} = func.call @{v}_epi({', '.join(args + [x])}) : ({', '.join(types + [t])}) -> {t}")
        return "\n".join(lines)

    def vec_arg(self, k: int) -> bool:
        """Operand k enters the vector body as a vector (read at [j] or [i, j])."""
        return self.ranks[k] is not None and 1 in self.dims[k]

    def apply_vec(self, v: str, isa: str, t: str, nr: int, x: str, ii: str, j: str, out: str) -> str:
        """`out` = the epilogue of the C row vector `x` (row `ii`, columns j..j+NR)."""
        vt = f"vector<{nr}x{t}>"
        lines, args, types = [], [], []
        for k, ty in enumerate(self.types):
            if self.ranks[k] is None:
                args.append(f"%e{k}")
                types.append(self.elems[k])
            elif self.vec_arg(k):
                idx = ", ".join(ii if d == 0 else j for d in self.dims[k])
                lines.append(f"{out}_l{k} = vector.load %e{k}[{idx}] : {ty}, vector<{nr}x{self.elems[k]}>")
                args.append(f"{out}_l{k}")
                types.append(f"vector<{nr}x{self.elems[k]}>")
            else:
                lines.append(f"{out}_l{k} = memref.load %e{k}[{ii}] : {ty}")
                args.append(f"{out}_l{k}")
                types.append(self.elems[k])
        lines.append(f"{out} = func.call @{v}_{isa}_epi_vec({', '.join(args + [x])}) : "
                     f"({', '.join(types + [vt])}) -> {vt}")
        return "\n        ".join(lines)

    def vec_shell(self, v: str, isa: str, t: str, nr: int) -> str:
        """(one per ISA: vectors cross no call between functions of different vector ABIs)"""
        types = [f"vector<{nr}x{e}>" if self.vec_arg(k) else e for k, e in enumerate(self.elems)]
        sig = ", ".join([f"%a{k}: {ty}" for k, ty in enumerate(types)] + [f"%c: vector<{nr}x{t}>"])
        return f"""
func.func private @{v}_{isa}_epi_vec({sig}) -> vector<{nr}x{t}> {ISAS[isa]} {{
  return %c : vector<{nr}x{t}>
}}"""

    def fill_vec_body(self, module, name: str, nr: int) -> None:
        """The body again, every value an NR-wide vector (scalars broadcast): the same
        IEEE operation in each lane as in the scalar body."""
        from mlir import ir
        from mlir.dialects import vector
        fn = next(o.operation for o in module.body.operations
                  if "sym_name" in o.attributes and ir.StringAttr(o.attributes["sym_name"]).value == name)
        entry = fn.regions[0].blocks[0]
        ret = list(entry.operations)[-1].operation
        src = self.op.regions[0].blocks[0]
        ops = [o.operation for o in src.operations]
        vec = lambda ty: ir.VectorType.get([nr], ty)  # noqa: E731
        with ir.InsertionPoint(ret), fn.location:
            vmap = {}
            for a, b in zip(src.arguments, entry.arguments):
                vmap[a] = b if isinstance(b.type, ir.VectorType) else vector.broadcast(vec(b.type), b)
            for o in ops[:-1]:
                for x in o.operands:
                    if x not in vmap:           # a constant from outside the generic
                        c = x.owner.operation.clone().results[0]
                        vmap[x] = vector.broadcast(vec(c.type), c)
                if o.name == "arith.constant":
                    c = o.clone().results[0]
                    vmap[o.results[0]] = vector.broadcast(vec(c.type), c)
                    continue
                new = ir.Operation.create(o.name, results=[vec(r.type) for r in o.results],
                                          operands=[vmap[x] for x in o.operands],
                                          attributes={a: o.attributes[a] for a in o.attributes})
                for a, b in zip(o.results, new.results):
                    vmap[a] = b
        y = ops[-1].operands[0]
        ret.operands[0] = vmap[y]

    def body_shell(self, v: str, t: str) -> str:
        types = self.elems
        sig = ", ".join([f"%a{k}: {ty}" for k, ty in enumerate(types)] + [f"%c: {t}"])
        return f"""
func.func private @{v}_epi({sig}) -> {t} {{
  return %c : {t}
}}"""

    def fill_body(self, module, v: str) -> None:
        """Clone the generic's body into `@<v>_epi` (its arguments in the generic's block order)."""
        from mlir import ir
        fn = next(o.operation for o in module.body.operations
                  if "sym_name" in o.attributes and ir.StringAttr(o.attributes["sym_name"]).value == f"{v}_epi")
        entry = fn.regions[0].blocks[0]
        ret = list(entry.operations)[-1].operation
        src = self.op.regions[0].blocks[0]
        vmap = {a: b for a, b in zip(src.arguments, entry.arguments)}
        ops = [o.operation for o in src.operations]
        with ir.InsertionPoint(ret):
            for o in ops[:-1]:
                for x in o.operands:
                    if x not in vmap:           # a constant from outside the generic
                        vmap[x] = x.owner.operation.clone().results[0]
                new = o.clone()
                for i, x in enumerate(o.operands):
                    new.operands[i] = vmap[x]
                for a, b in zip(o.results, new.results):
                    vmap[a] = b
        y = ops[-1].operands[0]
        ret.operands[0] = vmap.get(y, y)


def _epilogue_tile(v: str, isa: str, t: str, mr: int, nr: int, epi: Epilogue) -> str:
    """The last write-back of an MR×NR tile: C[i+r, j+c] = epilogue(acc[r, c])."""
    return f"""
func.func private @{v}_{isa}_tile(%ctx: !llvm.ptr, %acc: memref<{mr}x{nr}x{t}>, %pc: !llvm.ptr, %ldc: index,
    %i: index, %j: index, %rows: index, %cols: index) {ISAS[isa]} {{
{_CONSTS}{_flat("C", "%pc", t)}{epi.unpack()}
  %cMR = arith.constant {mr} : index
  %cNR = arith.constant {nr} : index
  %fr = arith.cmpi eq, %rows, %cMR : index
  %fc = arith.cmpi eq, %cols, %cNR : index
  %full = arith.andi %fr, %fc : i1
  scf.if %full {{{_tile_rows_vec(v, isa, t, mr, nr, epi) if epi.vector_ok
                  else _tile_loops(v, t, mr, nr, epi, "%cMR", "%cNR")}
  }} else {{{_tile_loops(v, t, mr, nr, epi, "%rows", "%cols")}
  }}
  return
}}"""


def _tile_rows_vec(v: str, isa: str, t: str, mr: int, nr: int, epi: Epilogue) -> str:
    """A full tile: each row of the accumulators through the vector body, one store."""
    return f"""
    scf.for %r = %c0 to %cMR step %c1 {{
      %ir = arith.addi %i, %r : index
      %o0 = arith.muli %ir, %ldc : index
      %o = arith.addi %o0, %j : index
      %xv = vector.load %acc[%r, %c0] : memref<{mr}x{nr}x{t}>, vector<{nr}x{t}>
      {epi.apply_vec(v, isa, t, nr, "%xv", "%ir", "%j", "%yv")}
      vector.store %yv, %C[%o] : memref<?x{t}>, vector<{nr}x{t}>
    }}"""


def _tile_loops(v: str, t: str, mr: int, nr: int, epi: Epilogue, rows: str, cols: str) -> str:
    """(a full tile gets constant trip counts: unrolled and vectorised without remainders)"""
    return f"""
    scf.for %r = %c0 to {rows} step %c1 {{
      %ir = arith.addi %i, %r : index
      %o0 = arith.muli %ir, %ldc : index
      scf.for %c = %c0 to {cols} step %c1 {{
        %jc = arith.addi %j, %c : index
        %o = arith.addi %o0, %jc : index
        %x = memref.load %acc[%r, %c] : memref<{mr}x{nr}x{t}>
        {epi.apply(v, t, "%x", "%ir", "%jc", "%y")}
        memref.store %y, %C[%o] : memref<?x{t}>
      }}
    }}"""


def _epilogue_rows(v: str, t: str, epi: Epilogue) -> str:
    """The epilogue over rows r0..r1 of C in place (k = 0, or after the GPU ran), and its body."""
    return f"""
func.func private @{v}_epi_rows(%ctx: !llvm.ptr, %pc: !llvm.ptr, %ldc: index, %r0: index, %r1: index,
    %n: index) {{
{_CONSTS}{_flat("C", "%pc", t)}{epi.unpack()}
  scf.for %ir = %r0 to %r1 step %c1 {{
    %o0 = arith.muli %ir, %ldc : index
    scf.for %jc = %c0 to %n step %c1 {{
      %o = arith.addi %o0, %jc : index
      %x = memref.load %C[%o] : memref<?x{t}>
      {epi.apply(v, t, "%x", "%ir", "%jc", "%y")}
      memref.store %y, %C[%o] : memref<?x{t}>
    }}
  }}
  return
}}""" + epi.body_shell(v, t) + ("".join(epi.vec_shell(v, isa, t, epi.nr) for isa in ISAS) if epi.vector_ok else "")


def _epilogue_k0(v: str) -> str:
    """k = 0 (C is A·B = 0, or as it was): the epilogue alone, when C has elements."""
    return f"""
    scf.if %e12 {{
    }} else {{
      func.call @{v}_epi_rows(%ctx, %pc, %ldc, %c0, %m, %n) : (!llvm.ptr, !llvm.ptr, index, index, index, index) -> ()
    }}"""


_DIM = r"(?:\?|\d+)"
_OPERAND = re.compile(rf"^memref<{_DIM}x{_DIM}x(f32|f64)(?:, strided<\[{_DIM}, 1\](?:, offset: {_DIM})?>)?>$")
_MAPS_NN = ("(d0, d2)", "(d2, d1)", "(d0, d1)")
_MAPS_NT = ("(d0, d2)", "(d1, d2)", "(d0, d1)")


def _variant(op) -> tuple[str, bool] | None:
    """(element type, B transposed) of a matmul this schedule handles, else None
    (then `convert-linalg-to-loops` lowers it as it is)."""
    types = [str(v.type) for v in op.operands]
    kinds = [_OPERAND.match(t) for t in types]
    if len(types) != 3 or not all(kinds) or len({k[1] for k in kinds}) != 1:
        return None
    maps = op.attributes["indexing_maps"] if "indexing_maps" in op.attributes else None
    results = tuple(str(m).split("->")[1].strip().rstrip(">").strip() for m in maps) if maps else _MAPS_NN
    if results not in (_MAPS_NN, _MAPS_NT):
        return None
    return kinds[0][1], results == _MAPS_NT


def _site(name: str, driver: str, ta: str, tb: str, tc: str, t: str, trans: bool, gpu=None,
          epi: Epilogue | None = None, gpu_epi: bool = False) -> str:
    """A function taking the matmul's memrefs that calls the driver with raw
    pointers; with `gpu` = (images symbol, count, name symbol, name length) it
    first offers a big enough matmul to the runtime's GPU path. With `epi` it
    also takes the epilogue's operands and packs them for the family; the GPU
    kernel applies the epilogue too when `gpu_epi` (its images have it: the
    operands go to the runtime as EpiArgs), else the CPU applies it to C after
    a GPU ran the matmul."""
    size = 4 if t == "f32" else 8
    ctx, ctx_t = (", %ctx", ", !llvm.ptr") if epi else ("", "")
    call = (f"func.call @{driver}(%pa, %lda, %pb, %ldb, %pc, %ldc, %m, %n, %k{ctx})\n"
            f"      : (!llvm.ptr, i64, !llvm.ptr, i64, !llvm.ptr, i64, i64, i64, i64{ctx_t}) -> ()")
    after_gpu = ""
    if epi is not None and not gpu_epi:
        after_gpu = f"""
    %ldcx = arith.index_cast %ldc : i64 to index
    %mx = arith.index_cast %m : i64 to index
    %nx = arith.index_cast %n : i64 to index
    %c0x = arith.constant 0 : index
    func.call @{driver}_epi_rows(%ctx, %pc, %ldcx, %c0x, %mx, %nx)
        : (!llvm.ptr, !llvm.ptr, index, index, index, index) -> ()"""
    if gpu is not None:
        images, count, fname, flen = gpu
        types = "!llvm.ptr, i64, !llvm.ptr, i64, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64, i64"
        args = "%imgs, %nimg, %fname, %flen, %pa, %pb, %pc, %m, %n, %k, %lda, %ldb, %ldc, %es, %bt"
        if epi is not None and gpu_epi:
            offer = (f"\n{epi.gpu_args()}\n    %r = func.call @cargo_mlir_rt_gpu_matmul_epi({args}, %eargs, %enargs)"
                     f"\n        : ({types}, !llvm.ptr, i64) -> i32")
        else:
            offer = f"\n    %r = func.call @cargo_mlir_rt_gpu_matmul({args})\n        : ({types}) -> i32"
        call = f"""%fm = arith.uitofp %m : i64 to f64
  %fn = arith.uitofp %n : i64 to f64
  %fk = arith.uitofp %k : i64 to f64
  %fmn = arith.mulf %fm, %fn : f64
  %fmnk = arith.mulf %fmn, %fk : f64
  %glim = arith.constant {GPU_FLOPS / 2:.1f} : f64
  %big = arith.cmpf oge, %fmnk, %glim : f64
  %zero32 = arith.constant 0 : i32
  %g = scf.if %big -> i32 {{
    %imgs = llvm.mlir.addressof @{images} : !llvm.ptr
    %nimg = arith.constant {count} : i64
    %fname = llvm.mlir.addressof @{fname} : !llvm.ptr
    %flen = arith.constant {flen} : i64
    %es = arith.constant {size} : i64
    %bt = arith.constant {int(trans)} : i64{offer}
    scf.yield %r : i32
  }} else {{
    scf.yield %zero32 : i32
  }}
  %ran = arith.cmpi ne, %g, %zero32 : i32
  scf.if %ran {{{after_gpu}
  }} else {{
    {call}
  }}"""
    parts = []
    for x, ty in (("a", ta), ("b", tb), ("c", tc)):
        parts.append(f"""
  %b{x}, %o{x}, %s{x}:2, %t{x}:2 = memref.extract_strided_metadata %{x.upper()} : {ty}
      -> memref<{t}>, index, index, index, index, index
  %x{x} = memref.extract_aligned_pointer_as_index %{x.upper()} : {ty} -> index
  %y{x} = arith.muli %o{x}, %esz : index
  %z{x} = arith.addi %x{x}, %y{x} : index
  %i{x} = arith.index_cast %z{x} : index to i64
  %p{x} = llvm.inttoptr %i{x} : i64 to !llvm.ptr
  %ld{x} = arith.index_cast %t{x}#0 : index to i64""")
    n = "%sb#0" if trans else "%sb#1"
    extra, pack = "", ""
    if epi is not None:
        extra = "".join(f", %E{k}: {ty}" for k, ty in enumerate(epi.types))
        st = epi.struct
        pack = (f"\n  %one1 = llvm.mlir.constant(1 : i64) : i64\n"
                f"  %ctx = llvm.alloca %one1 x {st} : (i64) -> !llvm.ptr\n  %st0 = llvm.mlir.undef : {st}\n")
        for k, ty in enumerate(epi.types):
            if epi.ranks[k] is None:
                pack += f"  %st{k + 1} = llvm.insertvalue %E{k}, %st{k}[{k}] : {st}\n"
            else:
                pack += (f"  %sd{k} = builtin.unrealized_conversion_cast %E{k} : {ty} to {epi.field(k)}\n"
                         f"  %st{k + 1} = llvm.insertvalue %sd{k}, %st{k}[{k}] : {st}\n")
        pack += f"  llvm.store %st{len(epi.types)}, %ctx : {st}, !llvm.ptr"
    return f"""
func.func private @{name}(%A: {ta}, %B: {tb}, %C: {tc}{extra}) {{
  %esz = arith.constant {size} : index{"".join(parts)}{pack}
  %m = arith.index_cast %sa#0 : index to i64
  %k = arith.index_cast %sa#1 : index to i64
  %n = arith.index_cast {n} : index to i64
  {call}
  return
}}"""


def _scalar_a_loads(module, mr: dict[str, int]) -> None:
    """Each A element of the micro-kernel as its own scalar load. Works around the
    transform dialect: `apply_patterns.vector.sink_mem_ops` only rewrites a
    `vector.load` with one `vector.extract` user (MLIR 22), and LLVM turns the
    MR-wide load + extracts into shuffles (a `vpermps` on the critical path)
    instead of broadcasts from memory."""
    from mlir import ir
    from mlir.dialects import arith, memref
    loads = []

    def visit(op):
        o = op.operation
        if o.name == "vector.load" and len(o.results) == 1:
            vt = ir.VectorType(o.results[0].type)
            users = [u.owner for u in o.results[0].uses]
            if vt.rank == 1 and vt.shape[0] == mr.get(str(vt.element_type)) and users and all(
                    u.name == "vector.extract" and len(u.operands) == 1 for u in users):
                loads.append(o)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    for o in loads:
        base, idx = o.operands[0], list(o.operands[1:])
        for ex in [u.owner for u in o.results[0].uses]:
            pos = ir.DenseI64ArrayAttr(ex.attributes["static_position"])[0]
            with ir.InsertionPoint(ex), ex.location:
                c = arith.ConstantOp(ir.IndexType.get(), pos)
                last = arith.AddIOp(idx[-1], c)
                scalar = memref.LoadOp(base, idx[:-1] + [last.result])
            ex.results[0].replace_all_uses_with(scalar.result)
            ex.erase()
        o.erase()


def _split_fma(module, keep) -> None:
    """`vector.fma` → `arith.mulf` + `arith.addf` in every function `keep(name)`
    rejects: exact matmuls (bit-identical to the naive loop) and the baseline
    ISA (an FMA there would be a libm call per element)."""
    from mlir import ir
    from mlir.dialects import arith
    for fn in module.body.operations:
        if fn.operation.name != "func.func" or keep(ir.StringAttr(fn.attributes["sym_name"]).value):
            continue
        fmas = []
        fn.operation.walk(lambda op: (fmas.append(op.operation) if op.operation.name == "vector.fma" else None,
                                      ir.WalkResult.ADVANCE)[1])
        for o in fmas:
            a, b, c = o.operands
            with ir.InsertionPoint(o), o.location:
                prod = arith.MulFOp(a, b)
                total = arith.AddFOp(c, prod.result)
            o.results[0].replace_all_uses_with(total.result)
            o.erase()


def _epilogue_of(op, index: int) -> Epilogue | None:
    """The `cargo_mlir.epilogue` generic right after matmul `op` on its C, if any."""
    block_ops = [o.operation for o in op.block.operations]
    at = block_ops.index(op)
    nxt = block_ops[at + 1] if at + 1 < len(block_ops) else None
    if nxt is None or nxt.name != "linalg.generic" or "cargo_mlir.epilogue" not in nxt.attributes \
            or nxt.operands[len(nxt.operands) - 1] != op.operands[2]:
        return None
    try:
        return Epilogue(nxt, index)
    except ValueError:
        return None


def _apply_script(helpers, script: Path) -> None:
    from mlir import ir
    from mlir.dialects.transform import interpreter
    library = ir.Module.parse(script.read_text(), helpers.context)
    entry = next(op.operation for op in library.body.operations
                 if op.operation.name == "transform.named_sequence"
                 and ir.StringAttr(op.operation.attributes["sym_name"]).value == "__transform_main")
    interpreter.apply_named_sequence(helpers.operation, entry, library.operation)


def schedule_matmuls(module, ctx=None, script: Path | None = None) -> None:
    """Rewrite every `linalg.matmul` this schedule handles into a call to the
    packed, vectorised, threaded kernel family of its variant (see the module
    docstring); others stay for `convert-linalg-to-loops`."""
    from mlir import ir
    from mlir.dialects import func

    script = script or default_script()
    matmuls = []
    module.operation.walk(lambda op: (matmuls.append(op.operation) if op.operation.name == "linalg.matmul" else None,
                                      ir.WalkResult.ADVANCE)[1])
    sizes = tiles(script)
    # an accelerate function's matmul is offered to the GPU (a kernel is already on one, or its host fallback)
    gpu = bool(ctx is not None and ctx.marker.kind == "accelerate" and ctx.gpu_arches)
    families, sites, calls, skipped, images = {}, {}, [], 0, {}
    epilogues = []
    for op in matmuls:
        var = _variant(op)
        if var is None:
            skipped += 1
            continue
        t, trans = var
        exact = "cargo_mlir.exact" in op.attributes
        epi = _epilogue_of(op, len(epilogues))
        fkey = (t, trans, exact) + ((epi.index,) if epi else ())
        if fkey not in families:
            families[fkey] = family(t, trans, exact, sizes, epi)
        driver = families[fkey][0]
        kernel_epi = epi.kernel(module.context, t) if gpu and epi else None
        if epi and gpu:
            epi.on_gpu = kernel_epi if isinstance(kernel_epi, str) else ""
        gpu_epi = kernel_epi is not None and not isinstance(kernel_epi, str)
        gkey = (t, trans, exact) + ((epi.index,) if gpu_epi else ())
        if gpu and gkey not in images:
            symbol = "__cargo_mlir_gemm_" + "_".join([t, "t" if trans else "n"] + (["exact"] if exact else [])
                                                     + ([f"e{epi.index}"] if gpu_epi else [])) + "_images"
            images[gkey] = (symbol, compile_gpu_images(ctx, t, trans, exact, kernel_epi if gpu_epi else None))
        key = (driver,) + tuple(str(v.type) for v in op.operands) + ((epi.index,) if epi else ())
        if key not in sites:
            offer = ((images[gkey][0], len(images[gkey][1]), "__cargo_mlir_gemm_name",
                      len(ctx.marker.name.encode())) if gpu else None)
            sites[key] = (f"{driver}_site{len(sites)}",
                          _site(f"{driver}_site{len(sites)}", driver, *key[1:4], t, trans, offer, epi, gpu_epi))
        calls.append((op, sites[key][0], epi))
        if epi:
            epilogues.append(epi)
    if not calls:
        if ctx is not None and skipped:
            ctx.notes.append(Finding("note", f"host schedule: {skipped} linalg.matmul left to plain loops "
                                             f"(layout or types not handled)"))
        return
    symbols = {ir.StringAttr(o.attributes["sym_name"]).value for o in module.body.operations
               if "sym_name" in o.attributes}
    # every declaration the helpers use (they parse on their own); those the module has are not appended
    decls = "\n".join(d for d in RUNTIME_DECLS.strip().split("\n") if gpu or "gpu_matmul" not in d)
    gpu_text = "".join(gpu_images(symbol, imgs) for symbol, imgs in images.values())
    if gpu:
        gpu_text += _global_bytes("__cargo_mlir_gemm_name", ctx.marker.name.encode())
    text = "\n".join([decls, gpu_text] + [f[1] for f in families.values()] + [s[1] for s in sites.values()])
    helpers = ir.Module.parse(text, module.context)
    _apply_script(helpers, script)
    _scalar_a_loads(helpers, {t: s[0] for t, s in sizes.items()})
    exact_drivers = {f[0] for k, f in families.items() if k[2]}
    _split_fma(helpers, lambda name: "_v3_" in name and not any(name.startswith(d + "_") for d in exact_drivers)
               and not name.endswith("_tile"))
    for f in families.values():
        for e in epilogues:
            if f[0].endswith(f"_e{e.index}"):
                e.fill_body(helpers, f[0])
                for isa in ISAS if e.vector_ok else ():
                    e.fill_vec_body(helpers, f"{f[0]}_{isa}_epi_vec", e.nr)
    for op in list(helpers.body.operations):
        if op.operation.name == "func.func" and not op.operation.regions[0].blocks and \
                ir.StringAttr(op.operation.attributes["sym_name"]).value in symbols:
            continue
        module.body.append(op.operation)
    for op, site, epi in calls:
        with ir.InsertionPoint(op), op.location:
            func.CallOp([], ir.FlatSymbolRefAttr.get(site),
                        list(op.operands) + (list(epi.op.operands)[:-1] if epi else []))
        if epi:
            epi.op.erase()
        op.erase()
    if ctx is not None:
        desc = ", ".join(dict.fromkeys(f"{t}{' Bᵀ' if tr else ''}{' exact' if ex else ''}"
                                       for t, tr, ex, *_ in families))
        ctx.notes.append(Finding("note", (
            f"host schedule: {len(calls)} linalg.matmul ({desc}) → packed A/B panels, "
            f"{'/'.join(f'{t} {s[0]}×{s[1]} kc {s[2]} mc {s[3]}' for t, s in sizes.items())} micro-kernels, "
            f"AVX2+FMA or baseline chosen at run time, rows of C split over the host pool above "
            f"{PARALLEL_FLOPS / 1e6:.0f} MFLOP" + (f"; {skipped} left to plain loops" if skipped else "")
            + (f"; on a GPU ({', '.join(ctx.gpu_arches)}) above {GPU_FLOPS / 1e6:.0f} MFLOP when one matches"
               if gpu else ""))))
        for e in epilogues:
            ctx.notes.append(Finding("note", (
                f"host schedule: epilogue {e.what} applied to each C tile in the micro-kernel's last write-back "
                f"(threaded with the matmul)" + (
                    "" if not gpu else "; on a GPU the matmul kernel applies it to each C element it stores"
                    if not e.on_gpu else f"; after a GPU matmul it runs on the CPU over C (the GPU kernel does not "
                                         f"take {e.on_gpu})"))))
