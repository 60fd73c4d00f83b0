"""`fuse-elementwise` at the IR level (stages/fusion.py) and the host schedule's
epilogue (stages/schedule_host.py): element-wise nests after a guarded matmul
become one `linalg.generic {cargo_mlir.epilogue}` after it (the nests kept for
when the guard fails, behind a flag), what stops a fusion is said, chains
without a matmul become one guarded loop, and the scheduled epilogue verifies
and lowers through the host lowering."""

from __future__ import annotations

import pytest

pytest.importorskip("mlir")

from mlir import ir, passmanager  # noqa: E402

from cargo_mlir.pipeline.stages.fusion import EPILOGUE_ATTR, fuse  # noqa: E402

V = "memref<?x?xf32>"
S = "memref<?x?xf32, strided<[?, 1]>>"


def relu(view="%Cv", idx="%i, %j"):
    return f"""
  scf.for %i = %c0 to %m step %c1 {{
    scf.for %j = %c0 to %n step %c1 {{
      %x = memref.load {view}[{idx}] : {V}
      %y = arith.maximumf %x, %z : f32
      memref.store %y, {view}[{idx}] : {V}
    }}
  }}"""


def bias(j_outer=False):
    loops = ("%j = %c0 to %n", "%i = %c0 to %m") if j_outer else ("%i = %c0 to %m", "%j = %c0 to %n")
    return f"""
  scf.for {loops[0]} step %c1 {{
    scf.for {loops[1]} step %c1 {{
      %x = memref.load %Cv[%i, %j] : {V}
      %bi = memref.load %b[%i] : memref<?xf32>
      %y = arith.addf %x, %bi : f32
      %s = arith.mulf %y, %alpha : f32
      memref.store %s, %Cv[%i, %j] : {V}
    }}
  }}"""


def module(*after: str, matmul=True) -> str:
    mm = f"""
  %C = memref.subview %Cv[0, 0] [%m, %n] [1, 1] : {V} to {S}
  %As = memref.subview %A[0, 0] [%m, %k] [1, 1] : {V} to {S}
  %Bs = memref.subview %B[0, 0] [%k, %n] [1, 1] : {V} to {S}
  scf.if %ok {{
    linalg.fill ins(%z : f32) outs(%C : {S})
    linalg.matmul ins(%As, %Bs : {S}, {S}) outs(%C : {S})
  }} else {{
    scf.for %i = %c0 to %m step %c1 {{
      scf.for %j = %c0 to %n step %c1 {{
        %acc = scf.for %p = %c0 to %k step %c1 iter_args(%a0 = %z) -> (f32) {{
          %x = memref.load %A[%i, %p] : {V}
          %y = memref.load %B[%p, %j] : {V}
          %xy = arith.mulf %x, %y : f32
          %s = arith.addf %a0, %xy : f32
          scf.yield %s : f32
        }}
        memref.store %acc, %Cv[%i, %j] : {V}
      }}
    }}
  }}""" if matmul else ""
    return f"""
func.func @f(%A: {V}, %B: {V}, %Cv: {V}, %b: memref<?xf32>, %out: memref<?xf32>, %alpha: f32, %m: index,
             %n: index, %k: index, %ok: i1) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %z = arith.constant 0.0 : f32{mm}{"".join(after)}
  return
}}"""


@pytest.fixture(autouse=True)
def context():
    with ir.Context() as ctx:
        yield ctx


def fused(text: str):
    m = ir.Module.parse(text)
    report = fuse(m, "f", lambda op: "<function>", "accelerate `f`", "src/lib.rs:1")
    m.operation.verify()
    return m, report


def test_bias_scale_and_relu_become_the_matmuls_epilogue():
    m, report = fused(module(bias(), relu()))
    text = str(m)
    assert report.fused == ["accelerate `f`: fused into the matmul at src/lib.rs:1: bias add + scaling "
                            "(src/lib.rs:1), relu (src/lib.rs:1) (applied to each C tile as it is written; "
                            "guarded: their other operands must not overlap C)"], report
    assert text.count(EPILOGUE_ATTR) == 1
    gen = text[text.index("linalg.generic"):text.index("linalg.yield")]
    # the arithmetic as the loops had it, in their order
    assert gen.index("arith.addf") < gen.index("arith.mulf") < gen.index("arith.maximumf")
    assert "%arg5" in gen.split("outs(")[0]          # alpha, a scalar operand
    # the nests stay for the guard's else-branch, behind the flag; the guard checks b against C
    assert text.count("memref.alloca() : memref<i8>") == 1 and text.count("scf.for") == 7
    assert "memref.extract_aligned_pointer_as_index" in text


def test_j_outer_nests_fuse_too():
    m, report = fused(module(bias(j_outer=True), relu()))
    assert len(report.fused) == 1 and not report.refused


def test_a_store_between_stops_the_fusion_and_says_so():
    between = f"\n  memref.store %z, %out[%c0] : memref<?xf32>"
    m, report = fused(module(between, relu()))
    assert not report.fused
    assert report.refused == ["accelerate `f`: not fused into the matmul at src/lib.rs:1: a store at src/lib.rs:1 "
                              "comes between them"], report
    assert EPILOGUE_ATTR not in str(m)


def test_a_store_after_the_chain_ends_it_quietly():
    after = f"\n  memref.store %z, %out[%c0] : memref<?xf32>"
    m, report = fused(module(bias(), after))
    assert len(report.fused) == 1 and not report.refused


def test_another_element_is_not_element_wise():
    first = relu().replace("%y = arith.maximumf %x, %z", f"%x0 = memref.load %Cv[%i, %c0] : {V}\n"
                                                          "      %y = arith.subf %x, %x0")
    m, report = fused(module(first))
    assert not report.fused
    assert report.refused == ["accelerate `f`: not fused into the matmul at src/lib.rs:1: the loop nest at "
                              "src/lib.rs:1 is not element-wise: an array is indexed by something else than the "
                              "loop counters"], report


def test_another_array_stops_the_chain():
    other = relu().replace("%Cv", "%A")
    m, report = fused(module(bias(), other))
    assert len(report.fused) == 1 and "bias add" in report.fused[0] and "relu" not in report.fused[0]


def test_a_chain_without_a_matmul_becomes_one_guarded_loop():
    m, report = fused(module(bias(), relu(), matmul=False))
    text = str(m)
    assert len(report.fused) == 1 and "fused into one loop" in report.fused[0], report
    # if (b does not overlap C) { one nest } else { the two nests }
    assert text.count("scf.for") == 6 and text.count("scf.if") == 1


def test_the_scheduled_epilogue_verifies_and_lowers():
    from cargo_mlir.pipeline.stages.schedule_host import schedule_matmuls
    from cargo_mlir.pipeline.table import HOST_LOWERING
    m, report = fused(module(bias(), relu()))
    schedule_matmuls(m, None)
    m.operation.verify()
    text = str(m)
    assert "linalg.matmul" not in text and EPILOGUE_ATTR not in text
    for f in ("_v3_tile", "_v0_tile", "_epi_rows", "_e0_epi("):
        assert f in text, f
    passmanager.PassManager.parse(f"builtin.module({HOST_LOWERING})").run(m.operation)
    m.operation.verify()
    final = str(m)
    for leftover in ("linalg.", "scf.", "memref.", "vector.", "unrealized_conversion_cast"):
        assert leftover not in final, leftover


# --- function-local temporaries ------------------------------------------------------

DESC = "!llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>"


def with_temp(text: str) -> str:
    """`text` (from `module`) with %Cv a function-local temporary (a raise view with
    `cargo_mlir.local_buffer`, zero-filled) and %Y, an argument, where it was."""
    text = text.replace("%Cv: memref<?x?xf32>", "%Y: memref<?x?xf32>", 1)
    temp = f"""
  %bytes = arith.constant 64 : index
  %buf = memref.alloc(%bytes) {{cargo_mlir.local_buffer = 0 : i64}} : memref<?xi8>
  %d = llvm.mlir.undef : {DESC}
  %Cv = builtin.unrealized_conversion_cast %d : {DESC} to {V} {{cargo_mlir.local_buffer = 0 : i64}}
  %ptr = llvm.mlir.zero : !llvm.ptr
  %zb = llvm.mlir.constant(0 : i8) : i8
  %len = llvm.mlir.constant(64 : i64) : i64
  "llvm.intr.memset"(%ptr, %zb, %len) <{{isVolatile = false}}> {{cargo_mlir.local_buffer = 0 : i64}} : (!llvm.ptr, i8, i64) -> ()"""
    at = text.index("  %z = arith.constant 0.0 : f32")
    return text[:at] + temp.lstrip("\n") + "\n" + text[at:]


def relu_into(src="%Cv", dst="%Y"):
    return relu(src).replace(f"memref.store %y, {src}", f"memref.store %y, {dst}")


def outs_argument(m, name="linalg.matmul") -> int | None:
    """Which argument of @f the op's output is a subview of (None: not an argument)."""
    found = []
    m.operation.walk(lambda op: (found.append(op.operation) if op.operation.name == name else None,
                                 ir.WalkResult.ADVANCE)[1])
    sub = found[0].operands[-1].owner
    src = sub.operands[0]
    return src.arg_number if isinstance(src, ir.BlockArgument) else None


def test_a_temporary_between_the_matmul_and_its_reader_is_bypassed():
    m, report = fused(with_temp(module(relu_into(), relu("%Y"))))
    text = str(m)
    assert report.fused == ["accelerate `f`: fused into the matmul at src/lib.rs:1: relu (src/lib.rs:1), relu "
                            "(src/lib.rs:1) (applied to each C tile as it is written; guarded: their other "
                            "operands must not overlap C; the product goes straight to the array the last nest "
                            "writes; the temporary at src/lib.rs:1 never written or read on that path (zero fill dropped))"], report
    assert outs_argument(m) == 2 and outs_argument(m, "linalg.fill") == 2 and outs_argument(m, "linalg.generic") == 2
    assert "llvm.intr.memset" not in text
    # the nests as written stay behind the flag (the matmul's else-branch still writes the temporary)
    assert text.count("memref.alloca() : memref<i8>") == 1 and text.count("scf.for") == 7
    # the temporary's own allocation is one byte; the code as written gets a buffer of its size
    # (one byte where the guard holds) before the matmul, freed after the last nest
    allocs = [line.strip() for line in text.splitlines() if "memref.alloc(" in line]
    assert len(allocs) == 2 and "local_buffer" in allocs[0] and "arith.select" in text, text
    lines = text.splitlines()
    at = {k: next(i for i, line in enumerate(lines) if k in line) for k in ("arith.select", "scf.if", "memref.dealloc")}
    assert at["arith.select"] < at["scf.if"] < at["memref.dealloc"]
    assert lines[at["memref.dealloc"]].strip().startswith("memref.dealloc") and \
        all("scf.for" not in line for line in lines[at["memref.dealloc"]:])


def test_a_temporary_read_after_stays_and_the_note_says_why():
    after = f"\n  %last = memref.load %Cv[%c0, %c0] : {V}\n  memref.store %last, %out[%c0] : memref<?xf32>"
    m, report = fused(with_temp(module(relu_into(), after)))
    assert not report.fused
    assert report.refused == ["accelerate `f`: not fused into the matmul at src/lib.rs:1: the loop nest at "
                              "src/lib.rs:1: it writes another array than the matmul's C, and the temporary is "
                              "also read after (`memref.load` at src/lib.rs:1)"], report
    assert "llvm.intr.memset" in str(m) and outs_argument(m) is None


def test_a_parameter_is_not_a_temporary():
    m, report = fused(module(relu_into(dst="%A")))
    assert not report.fused
    assert report.refused == ["accelerate `f`: not fused into the matmul at src/lib.rs:1: the loop nest at "
                              "src/lib.rs:1: it writes another array than the matmul's C, and C is not a temporary "
                              "of the function (a parameter or a buffer the caller can read: it escapes)"], report


def test_an_accumulating_matmul_keeps_its_temporary():
    text = with_temp(module(relu_into())).replace(f"    linalg.fill ins(%z : f32) outs(%C : {S})\n", "")
    m, report = fused(text)
    assert not report.fused and "the matmul accumulates into the temporary (t += A·B)" in report.refused[0]


def test_a_chain_through_a_temporary_passes_the_values_on():
    first = relu("%A").replace("memref.store %y, %A", "memref.store %y, %Cv")
    m, report = fused(with_temp(module(first, relu_into(), matmul=False)))
    text = str(m)
    assert len(report.fused) == 1 and "fused into one loop" in report.fused[0], report
    assert report.fused[0].endswith("the temporary at src/lib.rs:1 never written or read on that path (zero fill dropped))")
    then = text[text.index("scf.if"):text.index("} else {")]
    # the fused loop stores only to Y, reads only A; the nests as written stay in the else-branch
    stores = [line for line in then.splitlines() if "memref.store" in line]
    assert len(stores) == 1 and "%arg2[" in stores[0], then
    assert "llvm.intr.memset" not in text
    # the temporary's buffer is allocated in the else-branch only (the nests as written)
    other = text[text.index("} else {"):]
    assert other.count("memref.alloc(") == 1 and other.count("memref.dealloc") == 1


def test_a_temporary_read_at_another_element_is_not_passed_on():
    first = relu("%A").replace("memref.store %y, %A", "memref.store %y, %Cv")
    second = relu_into().replace("memref.load %Cv[%i, %j]", "memref.load %Cv[%j, %i]")
    m, report = fused(with_temp(module(first, second, matmul=False)))
    assert not report.fused
    assert "llvm.intr.memset" in str(m)
