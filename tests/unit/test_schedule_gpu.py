"""The GPU matmul kernel (cargo_mlir.pipeline.stages.schedule_gpu): the images
for sm_90 (cubin) and gfx90a (HSACO) are produced, use shared memory, do not
spill, honour `exact` (no FMA), and the kernel's logic — the same per-thread
phases run sequentially on the host — matches a naive loop bit for bit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cargo_mlir.pipeline.stages import schedule_gpu as G

LLVM_BIN = Path("/usr/lib/llvm-22/bin")
PTXAS = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"


def _cuda_tool(name: str) -> str | None:
    """cuobjdump/nvdisasm: $CUOBJDUMP/$NVDISASM, PATH, or the CUDA toolkit (optional)."""
    for cand in (os.environ.get(name.upper()), shutil.which(name), f"/usr/local/cuda/bin/{name}"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def _out(*argv) -> str:
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True)
    return r.stdout + r.stderr


def _needs_tools():
    if not (LLVM_BIN / "mlir-opt").exists():
        pytest.skip("LLVM/MLIR 22 tools are not installed")


# ---------------------------------------------------------------- text only (fast)

def test_constants_and_grid():
    assert (G.BM, G.BN, G.THREADS) == (64, 64, 256)
    assert G.grid(1, 1) == (1, 1, 1)
    assert G.grid(65, 129) == (3, 2, 1)      # x over n, y over m


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("elem", ["f32", "f64"])
def test_module_text_verifies(elem, transpose_b):
    from mlir import ir

    text = G.matmul_kernel_module(elem, transpose_b, True, "sm_90")
    with ir.Context():
        module = ir.Module.parse(text)
        assert module.operation.verify()
    assert f"gpu.func @{G.KERNEL}(%a: !llvm.ptr<1>, %b: !llvm.ptr<1>, %c: !llvm.ptr<1>, %m: i64" in text
    assert text.count("gpu.barrier") == 2
    assert "contract" not in text
    assert "fastmath<contract>" in G.matmul_kernel_module(elem, transpose_b, False, "gfx90a")
    with ir.Context():
        assert ir.Module.parse(G.matmul_host_module(elem, transpose_b, True)).operation.verify()


def test_unknown_inputs():
    from cargo_mlir.errors import CargoMlirError

    with pytest.raises(CargoMlirError):
        G.matmul_kernel_module("f16", False, False, "sm_90")
    with pytest.raises(CargoMlirError):
        G.matmul_kernel_module("f32", False, False, "x86")


# ---------------------------------------------------------------- images (tools)

# (arch, elem, exact, transpose_b); kept small: the suite should stay near 30 s on 2 cores
VARIANTS = ([(arch, elem, True, False) for arch in ("sm_90", "gfx90a") for elem in ("f32", "f64")]
            + [("sm_90", "f64", False, False), ("gfx90a", "f32", False, False), ("sm_90", "f32", True, True)])


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    _needs_tools()
    if not os.access(PTXAS, os.X_OK):
        pytest.skip("CUDA's ptxas is not installed")
    root = tmp_path_factory.mktemp("gpu-matmul")
    toolchain = G._tools()

    def build(variant):
        arch, elem, exact, tb = variant
        work = root / f"{arch}-{elem}-{'exact' if exact else 'fma'}-{'bt' if tb else 'b'}"
        image = G.compile_matmul_kernel(G.matmul_kernel_module(elem, tb, exact, arch), arch, work, toolchain)
        path = work / ("kernel.cubin" if arch.startswith("sm_") else "kernel.hsaco")
        path.write_bytes(image)
        return variant, (path, work)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return dict(pool.map(build, VARIANTS))


def _ids(v):
    arch, elem, exact, tb = v
    return f"{arch}-{elem}-{'exact' if exact else 'fma'}{'-bT' if tb else ''}"


@pytest.mark.e2e
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0] == "sm_90"], ids=_ids)
def test_cubin(images, variant):
    _, elem, exact, _ = variant
    cubin, work = images[variant]
    assert cubin.read_bytes()[:4] == b"\x7fELF"
    elf = _out(LLVM_BIN / "llvm-readelf", "-S", "-s", cubin)
    assert re.search(r"FUNC\s+GLOBAL.*\scargo_mlir_matmul$", elf, re.M), elf
    shared = re.search(r"\.nv\.shared\.cargo_mlir_matmul\s+NOBITS\s+\S+\s+\S+\s+([0-9a-f]+)", elf)
    assert shared and int(shared.group(1), 16) > 0, elf
    assert ".nv.local" not in elf                      # no local memory (spills, stack arrays)

    ptx = (work / "kernel.ptx").read_text()
    assert ".entry cargo_mlir_matmul(" in ptx and "bar.sync" in ptx
    flt = elem
    if exact:
        # no fused instructions; mul/add carry .rn, which ptxas never contracts
        assert not re.search(rf"^\s*(fma|mad)(\.\w+)*\.{flt}\b", ptx, re.M)
        assert re.search(rf"^\s*mul\.rn\.{flt}\b", ptx, re.M) and re.search(rf"^\s*add\.rn\.{flt}\b", ptx, re.M)
    else:
        assert re.search(rf"^\s*fma\.rn\.{flt}\b", ptx, re.M)
    opts = ["--fmad=false"] if exact else []
    report = _out(PTXAS, "-arch=sm_90", "-v", *opts, work / "kernel.ptx", "-o", work / "check.cubin")
    assert "0 bytes spill stores, 0 bytes spill loads" in report, report
    assert "0 bytes stack frame" in report, report
    regs = int(re.search(r"Used (\d+) registers", report).group(1))
    smem = int(re.search(r"(\d+) bytes smem", report).group(1))
    assert smem > 0 and regs <= 128, report           # 2 workgroups of 256 threads per SM

    cuobjdump = _cuda_tool("cuobjdump")
    if cuobjdump:
        usage = _out(cuobjdump, "-res-usage", cubin)
        assert "STACK:0" in usage and "LOCAL:0" in usage, usage
        assert not re.search(r"SHARED:0\b", usage), usage
        sass = _out(cuobjdump, "-sass", cubin)
        fused = re.findall(r"\b[FD]FMA\b", sass)
        assert (not fused) if exact else fused
    nvdisasm = _cuda_tool("nvdisasm")
    if nvdisasm:
        assert "cargo_mlir_matmul" in _out(nvdisasm, cubin)


@pytest.mark.e2e
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0] == "gfx90a"], ids=_ids)
def test_hsaco(images, variant):
    _, elem, exact, _ = variant
    hsaco, _ = images[variant]
    notes = _out(LLVM_BIN / "llvm-readelf", "--notes", hsaco)
    symbols = _out(LLVM_BIN / "llvm-readelf", "-s", hsaco)
    assert "cargo_mlir_matmul.kd" in symbols and ".symbol:         cargo_mlir_matmul.kd" in notes

    def field(name: str) -> int:
        return int(re.search(rf"\.{name}:\s+(\d+)", notes).group(1))

    assert field("group_segment_fixed_size") > 0
    assert field("private_segment_fixed_size") == 0
    assert field("vgpr_spill_count") == 0 and field("sgpr_spill_count") == 0
    assert field("max_flat_workgroup_size") == G.THREADS
    dis = _out(LLVM_BIN / "llvm-objdump", "-d", "--mcpu=gfx90a", hsaco)
    assert "s_barrier" in dis and "ds_read" in dis
    fused = re.findall(r"\bv_(?:pk_)?(?:fma|fmac|mad|mac)\w*_f(?:32|64)", dis)   # v_fmac_f64_e32, …
    assert (not fused) if exact else fused


# ---------------------------------------------------------------- the kernel's logic on the CPU

DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
void cargo_mlir_matmul_host(T *a, T *b, T *c, int64_t m, int64_t n, int64_t k,
                            int64_t lda, int64_t ldb, int64_t ldc);
static uint64_t s = 88172645463325252ull;
static T rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                     return (T)((int64_t)(s >> 40) - (1 << 23)) / (T)(1 << 20); }
int main(int argc, char **argv) {
  int tb = atoi(argv[1]), fails = 0, cases = 0;
  static const int64_t S[] = {0, 1, 2, 3, 15, 16, 17, 31, 63, 64, 65, 100, 127, 128, 129};
  int ns = sizeof S / sizeof *S;
  for (int im = 0; im < ns; im++) for (int in = 0; in < ns; in++)
  for (int ik = 0; ik < ns; ik += (im + in) % 3 + 1) {
    int64_t m = S[im], n = S[in], k = S[ik], pad = (im + ik) % 3;
    int64_t lda = k + pad, ldb = (tb ? k : n) + pad % 2, ldc = n + (in % 2) * 3;
    size_t na = (size_t)(m ? m : 1) * lda + 1, nc = (size_t)(m ? m : 1) * ldc + 1;
    size_t nb = (size_t)(tb ? (n ? n : 1) : (k ? k : 1)) * ldb + 1;
    T *a = malloc(na * sizeof(T)), *b = malloc(nb * sizeof(T));
    T *c = malloc(nc * sizeof(T)), *r = malloc(nc * sizeof(T));
    for (size_t i = 0; i < na; i++) a[i] = rnd();
    for (size_t i = 0; i < nb; i++) b[i] = rnd();
    for (size_t i = 0; i < nc; i++) c[i] = rnd();     /* C += A*B onto non-zero C */
    memcpy(r, c, nc * sizeof(T));
    for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) {
      T acc = r[i * ldc + j];
      for (int64_t p = 0; p < k; p++) acc = acc + a[i * lda + p] * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      r[i * ldc + j] = acc;
    }
    cargo_mlir_matmul_host(a, b, c, m, n, k, lda, ldb, ldc);
    cases++;
    if (memcmp(r, c, nc * sizeof(T)) != 0 && fails++ < 3)
      for (size_t i = 0; i < nc; i++) if (memcmp(&r[i], &c[i], sizeof(T))) {
        printf("m=%ld n=%ld k=%ld: C[%zu] = %g, expected %g\n", (long)m, (long)n, (long)k, i,
               (double)c[i], (double)r[i]); break; }
    free(a); free(b); free(c); free(r);
  }
  printf("%d cases, %d mismatches\n", cases, fails);
  return fails != 0;
}
"""


@pytest.mark.e2e
@pytest.mark.parametrize("transpose_b", [False, True], ids=["b", "bT"])
@pytest.mark.parametrize("elem", ["f32", "f64"])
def test_kernel_logic_on_host(tmp_path, elem, transpose_b):
    """Every workgroup and thread of the kernel, phase by phase (the barriers),
    on the CPU: bit-identical to the sequential loop (exact: same k order, no
    FMA), for sizes around the tile sizes, k = 0, padded leading dimensions."""
    _needs_tools()
    obj = G.compile_host_module(G.matmul_host_module(elem, transpose_b, True), tmp_path)
    driver = tmp_path / "driver.c"
    driver.write_text(DRIVER)
    exe = tmp_path / "check"
    ctype = "float" if elem == "f32" else "double"
    subprocess.run([LLVM_BIN / "clang", "-O1", "-ffp-contract=off", f"-DT={ctype}", driver, obj, "-o", exe],
                   check=True)
    r = subprocess.run([exe, str(int(transpose_b))], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2100 cases, 0 mismatches" in r.stdout


def test_the_runtime_launches_the_kernel_with_its_block_shape():
    """templates/cargo-mlir/src/runtime/gpu_matmul.rs computes the grid from
    the same tile sizes and names the same kernel."""
    from cargo_mlir.resources import templates_dir
    src = (templates_dir() / "cargo-mlir" / "src" / "runtime" / "gpu_matmul.rs").read_text()
    consts = dict(re.findall(r"const (\w+): \w+ = (\w+);", src))
    assert int(consts["BM"]) == G.DEFAULT_TILES.bm and int(consts["BN"]) == G.DEFAULT_TILES.bn
    assert int(consts["THREADS"]) == G.THREADS
    assert f'const KERNEL: &str = "{G.KERNEL}";' in src


# ---------------------------------------------------------------- with an epilogue

EPI_BODY = """func.func private @cargo_mlir_epi(%a0: T, %a1: T, %a2: T, %c: T) -> T {
  %z = arith.constant 0.0 : T
  %y = arith.addf %c, %a0 : T
  %r = arith.maximumf %y, %z : T
  %w = arith.mulf %r, %a1 : T
  %v = arith.addf %w, %a2 : T
  return %v : T
}"""


def epilogue(elem: str) -> "G.KernelEpilogue":
    """C = max(C + bias[i], 0)·s + R[j, i] (a bias per row, a scalar, a transposed residual)."""
    return G.KernelEpilogue(((elem, (0,)), (elem, None), (elem, (1, 0))), EPI_BODY.replace(": T", f": {elem}").replace("-> T", f"-> {elem}"))


EPI_DRIVER = DRIVER.replace(
    "int64_t lda, int64_t ldb, int64_t ldc);",
    "int64_t lda, int64_t ldb, int64_t ldc, T *bias, int64_t ldbias, T s, T *res, int64_t ldres);").replace(
    "    cargo_mlir_matmul_host(a, b, c, m, n, k, lda, ldb, ldc);",
    """    int64_t ldr = m + 2;
    T *bias = malloc(((size_t)m + 1) * sizeof(T)), *res = malloc(((size_t)(n ? n : 1) * ldr + 1) * sizeof(T));
    T sc = (T)-1.5;
    for (int64_t i = 0; i <= m; i++) bias[i] = rnd();
    for (int64_t i = 0; i < (n ? n : 1) * ldr + 1; i++) res[i] = rnd();
    for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) {
      T y = r[i * ldc + j] + bias[i];
      T z = y > (T)0 ? y : (T)0;
      r[i * ldc + j] = z * sc + res[j * ldr + i];
    }
    cargo_mlir_matmul_host(a, b, c, m, n, k, lda, ldb, ldc, bias, 0, sc, res, ldr);
    free(bias); free(res);""")


def test_module_with_an_epilogue_verifies_and_takes_its_operands():
    from mlir import ir

    from cargo_mlir.errors import CargoMlirError
    epi = epilogue("f32")
    text = G.matmul_kernel_module("f32", False, True, "sm_90", epilogue=epi)
    with ir.Context():
        assert ir.Module.parse(text).operation.verify()
    params = text[text.index(f"gpu.func @{G.KERNEL}("):].split(")")[0]
    assert params.endswith("%ldc: i64, %e0: !llvm.ptr<1>, %l0: i64, %e1: f32, %e2: !llvm.ptr<1>, %l2: i64")
    assert text.count(f"func.call @{G.EPI_FUNC}(") == G.DEFAULT_TILES.tm * G.DEFAULT_TILES.tn
    with pytest.raises(CargoMlirError):
        G.matmul_kernel_module("f32", False, True, "sm_90",
                               epilogue=G.KernelEpilogue((("f32", (1, 1)),), EPI_BODY))


@pytest.mark.e2e
@pytest.mark.parametrize("elem", ["f32", "f64"])
def test_kernel_with_an_epilogue_on_host(tmp_path, elem):
    """The kernel's phases with the epilogue at the store, on the CPU: bit-identical
    to the sequential loop followed by the epilogue over C."""
    _needs_tools()
    obj = G.compile_host_module(G.matmul_host_module(elem, False, True, epilogue=epilogue(elem)), tmp_path)
    driver = tmp_path / "driver.c"
    driver.write_text(EPI_DRIVER)
    exe = tmp_path / "check"
    ctype = "float" if elem == "f32" else "double"
    subprocess.run([LLVM_BIN / "clang", "-O1", "-ffp-contract=off", f"-DT={ctype}", driver, obj, "-o", exe],
                   check=True)
    r = subprocess.run([exe, "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2100 cases, 0 mismatches" in r.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("arch", ["sm_90", "gfx90a"])
def test_kernel_with_an_epilogue_compiles(tmp_path, arch):
    """For both vendors: an image with the epilogue inlined (no call left), no
    spills or stack, the exact kernel without fused multiply-adds."""
    _needs_tools()
    if arch.startswith("sm_") and not os.access(PTXAS, os.X_OK):
        pytest.skip("CUDA's ptxas is not installed")
    text = G.matmul_kernel_module("f32", False, True, arch, epilogue=epilogue("f32"))
    image = G.compile_matmul_kernel(text, arch, tmp_path, G._tools())
    assert image[:4] == b"\x7fELF"
    path = tmp_path / "kernel.bin"
    path.write_bytes(image)
    if arch.startswith("sm_"):
        ptx = (tmp_path / "kernel.ptx").read_text()
        assert ".entry cargo_mlir_matmul(" in ptx and "max.NaN.f32" in ptx
        assert not re.search(r"^\s*call", ptx, re.M) and not re.search(r"^\s*(fma|mad)(\.\w+)*\.f32\b", ptx, re.M)
        report = _out(PTXAS, "-arch=sm_90", "-v", "--fmad=false", tmp_path / "kernel.ptx", "-o", tmp_path / "c.cubin")
        assert "0 bytes spill stores, 0 bytes spill loads" in report and "0 bytes stack frame" in report, report
    else:
        notes = _out(LLVM_BIN / "llvm-readelf", "--notes", path)
        assert ".symbol:         cargo_mlir_matmul.kd" in notes
        assert re.search(r"\.private_segment_fixed_size:\s+0\b", notes) and re.search(r"\.vgpr_spill_count:\s+0\b", notes)
        dis = _out(LLVM_BIN / "llvm-objdump", "-d", "--mcpu=gfx90a", path)
        assert "s_barrier" in dis and "s_swappc" not in dis and "v_max" in dis
