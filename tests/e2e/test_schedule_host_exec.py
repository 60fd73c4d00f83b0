"""The host matmul schedule, executed: kernels for every variant (f32/f64,
B plain/transposed, exact/FMA, with and without the fill) are scheduled,
lowered with the schedule's prefix + the host lowering, compiled with opt/llc
as `codegen` does, linked into a C driver and run on many shapes (strided
operands with offsets, remainders, k = 0, the threaded path) against a naive
i-j-k loop: bit-identical for exact matmuls, within FMA rounding otherwise;
on both the AVX2+FMA and the baseline kernels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

LLVM = Path("/usr/lib/llvm-22/bin")
DESC = "!llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>"
LAYOUT = "strided<[?, 1], offset: ?>"
VARIANTS = [(t, trans, exact, fill) for t in ("f32", "f64") for trans in (False, True)
            for exact in (False, True) for fill in (False, True)]


def _desc(name: str, ptr: str, rows: str, cols: str, ld: str, t: str) -> str:
    steps = [(ptr, "0"), (ptr, "1"), ("%off", "2"), (rows, "3, 0"), (cols, "3, 1"), (ld, "4, 0"), ("%one", "4, 1")]
    lines, prev = [f"%{name}0 = llvm.mlir.undef : {DESC}"], f"%{name}0"
    for i, (v, pos) in enumerate(steps, 1):
        lines.append(f"%{name}{i} = llvm.insertvalue {v}, {prev}[{pos}] : {DESC}")
        prev = f"%{name}{i}"
    lines.append(f"%{name} = builtin.unrealized_conversion_cast {prev} : {DESC} to memref<?x?x{t}, {LAYOUT}>")
    return "\n  ".join(lines)


def kernel(name: str, t: str, trans: bool, exact: bool, fill: bool) -> str:
    """`name(a, b, c, m, n, k, lda, ldb, ldc, off)`: C (+)= A·B on strided views."""
    ty = f"memref<?x?x{t}, {LAYOUT}>"
    maps = ("indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, "
            "affine_map<(d0, d1, d2) -> (d0, d1)>] ") if trans else ""
    return f"""
func.func @{name}(%a: !llvm.ptr, %b: !llvm.ptr, %c: !llvm.ptr, %m: i64, %n: i64, %k: i64, %lda: i64, %ldb: i64,
                 %ldc: i64, %off: i64) {{
  %one = arith.constant 1 : i64
  {_desc("A", "%a", "%m", "%k", "%lda", t)}
  {_desc("B", "%b", "%n" if trans else "%k", "%k" if trans else "%n", "%ldb", t)}
  {_desc("C", "%c", "%m", "%n", "%ldc", t)}
  {f"%z = arith.constant 0.0 : {t}" if fill else ""}
  {f"linalg.fill ins(%z : {t}) outs(%C : {ty})" if fill else ""}
  linalg.matmul {maps}{"{cargo_mlir.exact} " if exact else ""}ins(%A, %B : {ty}, {ty}) outs(%C : {ty})
  return
}}"""


def name_of(t, trans, exact, fill):
    return f"mm_{t}_{'t' if trans else 'n'}_{'x' if exact else 'f'}_{'z' if fill else 'a'}"


DRIVER = r"""
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef void (*hostfn)(void **, const uint64_t *, uint64_t, uint64_t);
int cargo_mlir_rt_cpu_level(void) {
  __builtin_cpu_init();
  if (getenv("CPU_LEVEL")) return atoi(getenv("CPU_LEVEL"));
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 3 : 0;
}
static long launches;
struct part { hostfn h; void **p; uint64_t b, e; };
static void *run_part(void *a) { struct part *q = a; q->h(q->p, 0, q->b, q->e); return 0; }
void cargo_mlir_rt_parallel_for(hostfn h, void **p, uint64_t total) {   /* 3 threads, uneven parts */
  pthread_t id[3]; struct part q[3]; launches++;
  for (int i = 0; i < 3; i++) { q[i] = (struct part){h, p, total * i / 3, total * (i + 1) / 3}; }
  for (int i = 1; i < 3; i++) pthread_create(&id[i], 0, run_part, &q[i]);
  run_part(&q[0]);
  for (int i = 1; i < 3; i++) pthread_join(id[i], 0);
}
#define ARGS void *, void *, void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t
@DECLS@
struct variant { const char *name; void (*fn)(ARGS); int f64, trans, exact, fill; };
static struct variant variants[] = { @TABLE@ };
/* full mantissas: products and sums round, so FMA or another order would show */
static double val(unsigned *s) { *s = *s * 1103515245u + 12345u; return (*s >> 8) / 16777216.0 * 2.0 - 1.0 + 1e-3 / 3; }
#define REF(T) static void ref_##T(int trans, int fill, T *a, T *b, T *c, long m, long n, long k, long lda, \
    long ldb, long ldc) { \
  for (long i = 0; i < m; i++) for (long j = 0; j < n; j++) { \
    T acc = fill ? 0 : c[i * ldc + j]; \
    for (long p = 0; p < k; p++) { T prod = a[i * lda + p] * (trans ? b[j * ldb + p] : b[p * ldb + j]); acc = acc + prod; } \
    c[i * ldc + j] = acc; } }
REF(float)
REF(double)
static int check(struct variant *v, long m, long n, long k, long pad) {
  long lda = k + pad, ldb = (v->trans ? k : n) + pad, ldc = n + pad, off = pad ? 3 : 0;
  long brow = v->trans ? n : k, es = v->f64 ? 8 : 4;
  size_t na = off + m * lda + 1, nb = off + brow * ldb + 1, nc = off + m * ldc + 1;
  char *a = malloc(na * es), *b = malloc(nb * es), *c = malloc(nc * es), *r = malloc(nc * es);
  unsigned s = (unsigned)(m * 131 + n * 7 + k);
  for (size_t i = 0; i < na; i++) if (v->f64) ((double *)a)[i] = val(&s); else ((float *)a)[i] = val(&s);
  for (size_t i = 0; i < nb; i++) if (v->f64) ((double *)b)[i] = val(&s); else ((float *)b)[i] = val(&s);
  for (size_t i = 0; i < nc; i++) if (v->f64) ((double *)c)[i] = val(&s); else ((float *)c)[i] = val(&s);
  memcpy(r, c, nc * es);
  v->fn(a, b, c, m, n, k, lda, ldb, ldc, off);
  if (v->f64) ref_double(v->trans, v->fill, (double *)a + off, (double *)b + off, (double *)r + off, m, n, k, lda, ldb, ldc);
  else ref_float(v->trans, v->fill, (float *)a + off, (float *)b + off, (float *)r + off, m, n, k, lda, ldb, ldc);
  int bad = 0;
  for (size_t i = 0; i < nc && !bad; i++) {
    double x = v->f64 ? ((double *)c)[i] : ((float *)c)[i], y = v->f64 ? ((double *)r)[i] : ((float *)r)[i];
    double tol = v->exact ? 0 : (v->f64 ? 1e-12 : 1e-4) * (k + 1) * 4;
    if (v->exact ? memcmp(c + i * es, r + i * es, es) != 0 : !(fabs(x - y) <= tol)) {
      printf("FAIL %s m=%ld n=%ld k=%ld pad=%ld at %zu: %.17g vs %.17g\n", v->name, m, n, k, pad, i, x, y);
      bad = 1;
    }
  }
  free(a); free(b); free(c); free(r);
  return bad;
}
int main(void) {
  static const long shapes[][3] = {{1, 1, 1}, {1, 17, 3}, {7, 1, 5}, {13, 29, 0}, {6, 16, 256}, {7, 17, 257},
    {31, 33, 300}, {145, 40, 70}, {5, 300, 513}, {300, 9, 31}, {24, 48, 1}, {97, 130, 260}};
  int bad = 0, runs = 0;
  for (unsigned v = 0; v < sizeof variants / sizeof *variants; v++)
    for (unsigned s = 0; s < sizeof shapes / sizeof *shapes; s++)
      for (long pad = 0; pad <= 5; pad += 5) { bad += check(&variants[v], shapes[s][0], shapes[s][1], shapes[s][2], pad); runs++; }
  /* big enough for the threaded path */
  bad += check(&variants[0], 301, 203, 190, 1) + check(&variants[7], 250, 170, 260, 0); runs += 2;
  printf("%d runs, %d failed, %ld threaded launches\n", runs, bad, launches);
  return bad != 0 || launches < 2;
}
"""


def build(tmp: Path) -> Path:
    from mlir import ir, passmanager
    from mlir.dialects import llvm

    from cargo_mlir.pipeline.stages.schedule_host import schedule_matmuls
    from cargo_mlir.pipeline.table import HOST_LOWERING
    with ir.Context():
        module = ir.Module.parse("\n".join(kernel(name_of(*v), *v) for v in VARIANTS))
        schedule_matmuls(module, None)
        module.operation.verify()
        passmanager.PassManager.parse(f"builtin.module({HOST_LOWERING})").run(module.operation)
        (tmp / "k.ll").write_text(llvm.translate_module_to_llvmir(module.operation))
    run = lambda *a: subprocess.run([str(x) for x in a], check=True, capture_output=True, text=True)  # noqa: E731
    run(LLVM / "opt", "-passes=default<O3>", tmp / "k.ll", "-o", tmp / "k.bc")
    run(LLVM / "llc", "-O3", "-relocation-model=pic", "-filetype=obj", tmp / "k.bc", "-o", tmp / "k.o")
    decls = "\n".join(f"void {name_of(*v)}(ARGS);" for v in VARIANTS)
    table = ", ".join(f'{{"{name_of(*v)}", {name_of(*v)}, {int(v[0] == "f64")}, {int(v[1])}, {int(v[2])}, '
                      f'{int(v[3])}}}' for v in VARIANTS)
    (tmp / "driver.c").write_text(DRIVER.replace("@DECLS@", decls).replace("@TABLE@", table))
    # the reference must not contract a*b+c either
    run(LLVM / "clang", "-O1", "-ffp-contract=off", tmp / "driver.c", tmp / "k.o", "-o", tmp / "driver",
        "-lpthread", "-lm")
    return tmp / "driver"


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not (LLVM / "clang").exists() and not shutil.which("clang"):
        pytest.skip("clang-22 not installed")
    return build(tmp_path_factory.mktemp("schedule_host"))


@pytest.mark.parametrize("level", ["3", "0"])
def test_all_shapes_match_naive_loop(driver, level):
    import os
    if level == "3":
        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        if " avx2" not in flags or " fma" not in flags:
            pytest.skip("this CPU has no AVX2+FMA")
    out = subprocess.run([driver], env={**os.environ, "CPU_LEVEL": level}, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
