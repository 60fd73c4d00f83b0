"""Producer–consumer fusion, end to end: element-wise nests after a recognised
matmul become its epilogue (applied to each C tile as the host schedule writes
it), consecutive element-wise nests become one loop; results equal plain
Rust's (bit for bit under `exact`; with FMA, bit for bit those of the same
build without fusion) over many shapes, including empty and 1-element ones;
out-of-bounds calls panic exactly as plain Rust does; a side effect between
the nests, a read of another C element, or an operand overlapping the output
(raw pointers, at run time) keeps the nests as written, and `--explain` says
what was fused and why not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import copy_crate, line_of, lines, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FIXTURES = Path(__file__).parent / "fixtures"

FUSED = {   # function -> (the matmul's line marker, [(kind, line marker)])
    "mlp": [("bias add", "+= b[i]"), ("relu", ".max(0.0)")],
    "mlp_exact": [("bias add", "+= b[i]"), ("relu", ".max(0.0)")],
    "mlp_raw": [("bias add", "+= *b.add(i)"), ("relu", ".max(0.0)")],
    "mlp_tanh": [("bias add", "+= b[i]"), ("tanh", ".tanh()")],     # tanhf: a libm call
    "mlp_kernel": [("bias add", "+= b[i]"), ("relu", ".max(0.0)")],
    "scaled_flat": [("scaling + bias add", "s * y"), ("relu", ".max(0.0)")],
    "residual_f64": [("add", "+ r[i * n + j]"), ("clamp", ".min(1.0)")],
}
NOT_FUSED = {"side_effect": "a read of memory (it would see C after the nests) at src/lib.rs:{first}",
             "row0_shift": "the loop nest at src/lib.rs:{shift}: it reads the matmul's C at other elements"}
CHAINS = {"chain": ["add", "scaling", "clamp"], "chain2": ["scaling + bias add", "relu"]}


@pytest.fixture(scope="module")
def crate(tmp_path_factory):
    return copy_crate(FIXTURES / "fusion", tmp_path_factory.mktemp("fusion") / "fusion")


@pytest.fixture(scope="module")
def plain(crate):
    result = run(["cargo", "run", "--release", "-q", "--target-dir", "target/plain"], crate)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def fused(crate):
    from conftest import CLI
    result = run([CLI, "mlir", "run", "--release", "--explain"], crate, CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def panic_lines(out: str) -> list[str]:
    return lines(out, "panic:", "mlp short", "scaled_flat short", "mlp_exact short", "side_effect no")


def test_plain_rust_passes_its_own_checks(plain):
    assert plain.rstrip().endswith("failed 0"), plain
    assert panic_lines(plain) == [
        "panic: index out of bounds: the len is 15 but the index is 15 at src/lib.rs:16",
        "mlp short b: panicked 9c8ccd50a46bb725",
        "panic: index out of bounds: the len is 13 but the index is 13 at src/lib.rs:49",
        "scaled_flat short b: panicked 170055a6968bb725",
        "panic: index out of bounds: the len is 255 but the index is 255 at src/lib.rs:29",
        "mlp_exact short y: panicked 45ee45ee2ee787c7",
        "panic: index out of bounds: the len is 0 but the index is 0 at src/lib.rs:100",
        "side_effect no first: panicked bb689b26736bb725"], plain


def test_fused_functions_give_plain_rusts_results_and_panics(fused, plain):
    out = fused.stdout
    assert out.rstrip().endswith("failed 0"), out
    assert "FAIL" not in out
    assert len(lines(out, "ok fused ")) == 16 and len(lines(out, "ok chains ")) == 7
    assert panic_lines(out) == panic_lines(plain)
    # bit for bit everywhere but the FMA-contracted matmuls of `mlp` (checked within rounding above)
    fma = ("bits mlp ", "bits mlp_kernel ")
    mine = [x for x in lines(out, "bits ") if not x.startswith(fma)]
    theirs = [x for x in lines(plain, "bits ") if not x.startswith(fma)]
    assert mine == theirs and len(mine) > 90
    for fn in [f for f in FUSED if f != "mlp_kernel"] + ["side_effect", "row0_shift", "chain", "chain2"]:
        assert f"accelerate `{fn}` uses MLIR code" in fused.stderr, fused.stderr
    assert "kernel `mlp_kernel` ran on host (MLIR code" in fused.stderr


def test_explain_says_what_was_fused_and_why_not(crate, fused):
    src = (crate / "src" / "lib.rs").read_text()
    out = fused.stdout + fused.stderr
    for fn, parts in FUSED.items():
        mm = line_of(src, fn, "+=")
        what = ", ".join(f"{k} (src/lib.rs:{line_of(src, fn, marker)})" for k, marker in parts)
        want = f"{'kernel' if fn == 'mlp_kernel' else 'accelerate'} `{fn}`: fused into the matmul at src/lib.rs:{mm}: {what} (applied to each C tile"
        assert want in out, (want, out)
        assert f"host schedule: epilogue {what} applied to each C tile in the micro-kernel's last write-back" in out
    for fn, why in NOT_FUSED.items():
        mm = line_of(src, fn, "+=")
        why = why.format(first=line_of(src, "side_effect", "first[0]"), shift=line_of(src, "row0_shift", "+ y[j]"))
        want = f"accelerate `{fn}`: not fused into the matmul at src/lib.rs:{mm}: {why}"
        assert want in out, (want, out)
        assert f"accelerate `{fn}`: fused" not in out
    for fn, kinds in CHAINS.items():
        said = [x for x in out.splitlines() if x.startswith(f"accelerate `{fn}`: element-wise nests fused into one loop")]
        assert len(said) == 1 and all(k in said[0] for k in kinds), out


def test_fusion_changes_no_arithmetic(crate, fused, tmp_path):
    """The same crate with `fuse-elementwise` left out of the raise pipeline: every
    output bit the same (FMA contraction of the matmul included), nothing fused."""
    from conftest import CLI
    other = copy_crate(crate, tmp_path / "unfused")
    manifest = other / "Cargo.toml"
    manifest.write_text(manifest.read_text() + '\n[package.metadata.cargo-mlir.pipeline]\n'
                        'raise = "raise-to-scf,canonicalize,cse,recognise-matmul"\n')
    result = run([CLI, "mlir", "run", "--release", "--explain"], other)
    assert result.returncode == 0 and result.stdout.rstrip().endswith("failed 0"), result.stdout + result.stderr
    assert "fused into" not in result.stdout + result.stderr
    assert lines(result.stdout, "bits ", "panic:") == lines(fused.stdout, "bits ", "panic:")


def test_offload_arches_build_and_the_cpu_runs_the_epilogue(crate, fused, tmp_path):
    """With offload architectures the fused matmul also carries the GPU kernel, which
    applies arithmetic epilogues as it stores C (tanh needs a device library: that one
    runs on the CPU after the copy-back); without a GPU the CPU runs all."""
    from conftest import CLI
    other = copy_crate(crate, tmp_path / "gpu")
    # (gfx90a: an NVIDIA kernel with `f32::max` needs libdevice's __nv_fmaxf, which the
    # toolkit lacks, fused or not)
    result = run([CLI, "mlir", "run", "--release", "--offload-arch", "gfx90a", "-v"], other)
    assert result.returncode == 0 and result.stdout.rstrip().endswith("failed 0"), result.stdout + result.stderr
    assert result.stderr.count("on a GPU the matmul kernel applies it to each C element it stores") == 5
    tanh = line_of((crate / "src" / "lib.rs").read_text(), "mlp_tanh", ".tanh()")
    assert (f"tanh (src/lib.rs:{tanh}) applied to each C tile in the micro-kernel's last write-back (threaded with "
            "the matmul); after a GPU matmul it runs on the CPU over C (the GPU kernel does not take `math.tanh`)"
            ) in result.stderr
    assert lines(result.stdout, "bits ", "panic:") == lines(fused.stdout, "bits ", "panic:")
    assert re.search(r"on a GPU \(gfx90a\)", result.stderr)


# --- the host schedule's epilogue, executed ---------------------------------------------

LLVM = Path("/usr/lib/llvm-22/bin")
EPI_VARIANTS = [(t, exact, fill) for t in ("f32", "f64") for exact in (False, True) for fill in (False, True)]


def _desc(name: str, ptr: str, sizes: list[str], strides: list[str]) -> tuple[str, str]:
    r = len(sizes)
    desc = f"!llvm.struct<(ptr, ptr, i64, array<{r} x i64>, array<{r} x i64>)>"
    steps = [(ptr, "0"), (ptr, "1"), ("%off", "2")] + [(s, f"3, {d}") for d, s in enumerate(sizes)] \
        + [(s, f"4, {d}") for d, s in enumerate(strides)]
    lines, prev = [f"%{name}0 = llvm.mlir.undef : {desc}"], f"%{name}0"
    for i, (v, pos) in enumerate(steps, 1):
        lines.append(f"%{name}{i} = llvm.insertvalue {v}, {prev}[{pos}] : {desc}")
        prev = f"%{name}{i}"
    return "\n  ".join(lines), prev


def epilogue_kernel(name: str, t: str, exact: bool, fill: bool) -> str:
    """`name(a, b, c, bias, m, n, k, lda, ldb, ldc, off)`: C (+)= A·B, then C = max(C + bias[i], 0)·s."""
    ty = f"memref<?x?x{t}, strided<[?, 1], offset: ?>>"
    vt = f"memref<?x{t}, strided<[1], offset: ?>>"
    parts = []
    for nm, ptr, sizes, strides in (("A", "%a", ["%m", "%k"], ["%lda", "%one"]), ("B", "%b", ["%k", "%n"], ["%ldb", "%one"]),
                                    ("C", "%c", ["%m", "%n"], ["%ldc", "%one"]), ("V", "%v", ["%m"], ["%one"])):
        text, last = _desc(nm, ptr, sizes, strides)
        parts.append(text + f"\n  %{nm} = builtin.unrealized_conversion_cast {last} : "
                     f"{text.split(' : ')[1].splitlines()[0]} to {vt if nm == 'V' else ty}")
    return f"""
func.func @{name}(%a: !llvm.ptr, %b: !llvm.ptr, %c: !llvm.ptr, %v: !llvm.ptr, %m: i64, %n: i64, %k: i64, %lda: i64,
                 %ldb: i64, %ldc: i64, %off: i64) {{
  %one = arith.constant 1 : i64
  {chr(10).join("  " + p for p in parts)}
  %z = arith.constant 0.0 : {t}
  %s = arith.constant -1.5 : {t}
  {f"linalg.fill ins(%z : {t}) outs(%C : {ty})" if fill else ""}
  linalg.matmul {"{cargo_mlir.exact} " if exact else ""}ins(%A, %B : {ty}, {ty}) outs(%C : {ty})
  linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> ()>,
                                   affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}}
      ins(%V, %s : {vt}, {t}) outs(%C : {ty}) attrs = {{cargo_mlir.epilogue = "test"}} {{
  ^bb0(%bi: {t}, %sc: {t}, %x: {t}):
    %y = arith.addf %x, %bi : {t}
    %r = arith.maximumf %y, %z : {t}
    %w = arith.mulf %r, %sc : {t}
    linalg.yield %w : {t}
  }}
  return
}}"""


EPI_DRIVER = r"""
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef void (*hostfn)(void **, const uint64_t *, uint64_t, uint64_t);
int cargo_mlir_rt_cpu_level(void) { return atoi(getenv("CPU_LEVEL")); }
static long launches;
struct part { hostfn h; void **p; uint64_t b, e; };
static void *run_part(void *a) { struct part *q = a; q->h(q->p, 0, q->b, q->e); return 0; }
void cargo_mlir_rt_parallel_for(hostfn h, void **p, uint64_t total) {
  pthread_t id[3]; struct part q[3]; launches++;
  for (int i = 0; i < 3; i++) q[i] = (struct part){h, p, total * i / 3, total * (i + 1) / 3};
  for (int i = 1; i < 3; i++) pthread_create(&id[i], 0, run_part, &q[i]);
  run_part(&q[0]);
  for (int i = 1; i < 3; i++) pthread_join(id[i], 0);
}
#define ARGS void *, void *, void *, void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t
@DECLS@
struct variant { const char *name; void (*fn)(ARGS); int f64, exact, fill; };
static struct variant variants[] = { @TABLE@ };
static double val(unsigned *s) { *s = *s * 1103515245u + 12345u; return (*s >> 8) / 16777216.0 * 2.0 - 1.0 + 1e-3 / 3; }
#define REF(T, MAX) static void ref_##T(int fill, T *a, T *b, T *c, T *v, long m, long n, long k, long lda, \
    long ldb, long ldc) { \
  for (long i = 0; i < m; i++) for (long j = 0; j < n; j++) { \
    T acc = fill ? 0 : c[i * ldc + j]; \
    for (long p = 0; p < k; p++) { T prod = a[i * lda + p] * b[p * ldb + j]; acc = acc + prod; } \
    T y = acc + v[i]; y = MAX(y, (T)0); c[i * ldc + j] = y * (T)-1.5; } }
static float maxf(float x, float y) { return x != x || y != y ? NAN : (x > y ? x : (y > x ? y : (signbit(x) ? y : x))); }
static double maxd(double x, double y) { return x != x || y != y ? NAN : (x > y ? x : (y > x ? y : (signbit(x) ? y : x))); }
REF(float, maxf)
REF(double, maxd)
static int check(struct variant *v, long m, long n, long k, long pad) {
  long lda = k + pad, ldb = n + pad, ldc = n + pad, off = pad ? 3 : 0, es = v->f64 ? 8 : 4;
  size_t na = off + m * lda + 1, nb = off + k * ldb + 1, nc = off + m * ldc + 1, nv = off + m + 1;
  char *a = malloc(na * es), *b = malloc(nb * es), *c = malloc(nc * es), *r = malloc(nc * es), *bv = malloc(nv * es);
  unsigned s = (unsigned)(m * 131 + n * 7 + k);
#define FILL(p, cnt) for (size_t i = 0; i < cnt; i++) if (v->f64) ((double *)p)[i] = val(&s); else ((float *)p)[i] = val(&s);
  FILL(a, na) FILL(b, nb) FILL(c, nc) FILL(bv, nv)
  memcpy(r, c, nc * es);
  v->fn(a, b, c, bv, m, n, k, lda, ldb, ldc, off);
  if (v->f64) ref_double(v->fill, (double *)a + off, (double *)b + off, (double *)r + off, (double *)bv + off, m, n, k, lda, ldb, ldc);
  else ref_float(v->fill, (float *)a + off, (float *)b + off, (float *)r + off, (float *)bv + off, m, n, k, lda, ldb, ldc);
  int bad = 0;
  for (size_t i = 0; i < nc && !bad; i++) {
    double x = v->f64 ? ((double *)c)[i] : ((float *)c)[i], y = v->f64 ? ((double *)r)[i] : ((float *)r)[i];
    double tol = v->exact ? 0 : (v->f64 ? 1e-12 : 1e-4) * (k + 1) * 8;
    if (v->exact ? memcmp(c + i * es, r + i * es, es) != 0 : !(fabs(x - y) <= tol)) {
      printf("FAIL %s m=%ld n=%ld k=%ld pad=%ld at %zu: %.17g vs %.17g\n", v->name, m, n, k, pad, i, x, y);
      bad = 1;
    }
  }
  free(a); free(b); free(c); free(r); free(bv);
  return bad;
}
int main(void) {
  static const long shapes[][3] = {{1, 1, 1}, {1, 17, 3}, {7, 1, 5}, {13, 29, 0}, {6, 16, 256}, {7, 17, 257},
    {31, 33, 300}, {145, 40, 70}, {5, 300, 513}, {300, 9, 31}, {24, 48, 1}, {97, 130, 260}, {0, 5, 3}, {5, 0, 0}};
  int bad = 0, runs = 0;
  for (unsigned v = 0; v < sizeof variants / sizeof *variants; v++)
    for (unsigned s = 0; s < sizeof shapes / sizeof *shapes; s++)
      for (long pad = 0; pad <= 5; pad += 5) { bad += check(&variants[v], shapes[s][0], shapes[s][1], shapes[s][2], pad); runs++; }
  bad += check(&variants[0], 301, 203, 290, 1) + check(&variants[7], 250, 170, 260, 0); runs += 2;
  printf("%d runs, %d failed, %ld threaded launches\n", runs, bad, launches);
  return bad != 0 || launches < 2;
}
"""


def epi_name(t, exact, fill):
    return f"epi_{t}_{'x' if exact else 'f'}_{'z' if fill else 'a'}"


@pytest.fixture(scope="module")
def epilogue_driver(tmp_path_factory):
    import subprocess

    from mlir import ir, passmanager
    from mlir.dialects import llvm as llvm_d

    from cargo_mlir.pipeline.stages.schedule_host import schedule_matmuls
    from cargo_mlir.pipeline.table import HOST_LOWERING
    if not (LLVM / "clang").exists():
        pytest.skip("clang-22 not installed")
    tmp = tmp_path_factory.mktemp("epilogue")
    with ir.Context():
        module = ir.Module.parse("\n".join(epilogue_kernel(epi_name(*v), *v) for v in EPI_VARIANTS))
        schedule_matmuls(module, None)
        module.operation.verify()
        assert "linalg.matmul" not in str(module) and "linalg.generic" not in str(module)
        passmanager.PassManager.parse(f"builtin.module({HOST_LOWERING})").run(module.operation)
        (tmp / "k.ll").write_text(llvm_d.translate_module_to_llvmir(module.operation))
    sh = lambda *a: subprocess.run([str(x) for x in a], check=True, capture_output=True, text=True)  # noqa: E731
    sh(LLVM / "opt", "-passes=default<O3>", tmp / "k.ll", "-o", tmp / "k.bc")
    sh(LLVM / "llc", "-O3", "-relocation-model=pic", "-filetype=obj", tmp / "k.bc", "-o", tmp / "k.o")
    decls = "\n".join(f"void {epi_name(*v)}(ARGS);" for v in EPI_VARIANTS)
    table = ", ".join(f'{{"{epi_name(*v)}", {epi_name(*v)}, {int(v[0] == "f64")}, {int(v[1])}, {int(v[2])}}}'
                      for v in EPI_VARIANTS)
    (tmp / "driver.c").write_text(EPI_DRIVER.replace("@DECLS@", decls).replace("@TABLE@", table))
    sh(LLVM / "clang", "-O1", "-ffp-contract=off", tmp / "driver.c", tmp / "k.o", "-o", tmp / "driver", "-lpthread",
       "-lm")
    return tmp / "driver"


@pytest.mark.parametrize("level", ["3", "0"])
def test_scheduled_epilogue_matches_the_loops(epilogue_driver, level):
    """Every variant, many shapes (edge tiles, k = 0, several KC panels, the threaded
    path), both ISAs: bit for bit under exact, within FMA rounding otherwise."""
    import os
    import subprocess
    if level == "3" and " avx2" not in Path("/proc/cpuinfo").read_text():
        pytest.skip("this CPU has no AVX2+FMA")
    out = subprocess.run([epilogue_driver], env={**os.environ, "CPU_LEVEL": level}, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " 0 failed" in out.stdout
