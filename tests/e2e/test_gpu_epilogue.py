"""The fused epilogue inside the GPU matmul kernel, end to end without a GPU:
an `accelerate(exact)` MLP-style layer (a bias per row, a scalar, a transposed
residual; or relu alone, an epilogue without operands) built for sm_90 gets a kernel that applies the epilogue as it stores
C; the built program offers the matmul and the epilogue's operands to the
runtime, which copies them to the stand-in driver (fixtures/fake_cuda) and
launches the kernel there; the stand-in runs the kernel's phases emulated on
the CPU (schedule_gpu.matmul_host_module with the epilogue read back from the
kernel's text) on the parameters exactly as the kernel gets them. Results are
plain Rust's bit for bit, on the "GPU" and on the CPU. The device code itself
is checked statically in tests/unit/test_schedule_gpu.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CLI, run, write_crate

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FAKE = Path(__file__).parent / "fixtures" / "fake_cuda" / "fake_cuda.c"
CLANG = "/usr/lib/llvm-22/bin/clang"

LIB = """\
/// relu(W·X + b)·s + R (R transposed: n×m), three loops in two nests.
#[cargo_mlir::accelerate(exact)]
#[allow(clippy::too_many_arguments)]
pub fn layer(m: usize, n: usize, k: usize, w: &[f32], x: &[f32], b: &[f32], s: f32, r: &[f32], y: &mut [f32]) {
    for i in 0..m { for j in 0..n {
        let mut acc = 0.0;
        for p in 0..k { acc += w[i * k + p] * x[p * n + j]; }
        y[i * n + j] = acc;
    } }
    for i in 0..m { for j in 0..n {
        y[i * n + j] = (y[i * n + j] + b[i]).max(0.0) * s + r[j * m + i];
    } }
}
"""

MAIN = """\
fn main() {
    let mut failed = 0;
    let mut g = 7u64;
    let mut v = |len: usize| -> Vec<f32> { (0..len).map(|_| { g = g.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407); ((g >> 41) as f32 / (1u64 << 23) as f32) - 1.0 }).collect() };
    // above the GPU threshold (2·m·n·k ≥ 2·192³), tile-size multiples and not, and one below it
    for (m, n, k) in [(200usize, 200usize, 200usize), (130, 70, 800), (64, 256, 448), (257, 65, 430), (10, 10, 10)] {
        let (w, x, b, r) = (v(m * k), v(k * n), v(m), v(n * m));
        let mut want = vec![0.0f32; m * n];
        for i in 0..m { for j in 0..n {
            let mut acc = 0.0;
            for p in 0..k { acc += w[i * k + p] * x[p * n + j]; }
            want[i * n + j] = (acc + b[i]).max(0.0) * -1.5 + r[j * m + i];
        } }
        let mut y = v(m * n);
        gpu_epi::layer(m, n, k, &w, &x, &b, -1.5, &r, &mut y);
        let same = y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
        failed += !same as usize;
        let bits = y.iter().fold(0xcbf29ce484222325u64, |h, x| (h ^ x.to_bits() as u64).wrapping_mul(0x100000001b3));
        println!("{} {m}x{n}x{k} {bits:016x}", if same { "ok" } else { "FAIL" });
    }
    println!("failed {failed}");
}
"""


# the same with an epilogue of no operands (relu): the runtime gets none
LIB_RELU = LIB.replace("b: &[f32], s: f32, r: &[f32], ", "").replace(
    "(y[i * n + j] + b[i]).max(0.0) * s + r[j * m + i]", "y[i * n + j].max(0.0)").replace(
    "relu(W·X + b)·s + R (R transposed: n×m), three loops in two nests.", "relu(W·X).")
MAIN_RELU = MAIN.replace("want[i * n + j] = (acc + b[i]).max(0.0) * -1.5 + r[j * m + i];",
                         "want[i * n + j] = acc.max(0.0);").replace(
    "gpu_epi::layer(m, n, k, &w, &x, &b, -1.5, &r, &mut y);", "gpu_epi::layer(m, n, k, &w, &x, &mut y);")
CRATES = {"operands": (LIB, MAIN, [("f32", (0,)), ("f32", None), ("f32", (1, 0))]), "none": (LIB_RELU, MAIN_RELU, [])}


def _wrapper(epi) -> str:
    """`fake_kernel(params)`: the kernel's parameters, read as CUDA passes them, to
    the emulated kernel."""
    ctype = {"f32": "float", "f64": "double", "i64": "int64_t", "i32": "int32_t", "i16": "int16_t", "i8": "int8_t"}
    decl, call, at = ["float *", "float *", "float *"] + ["int64_t"] * 6, [], 9
    call = ["*(float **)p[0]", "*(float **)p[1]", "*(float **)p[2]"] + [f"*(int64_t *)p[{i}]" for i in range(3, 9)]
    for elem, dims in epi.operands:
        if dims is None:
            decl.append(ctype[elem])
            call.append(f"*({ctype[elem]} *)p[{at}]")
            at += 1
        else:
            decl += [f"{ctype[elem]} *", "int64_t"]
            call += [f"*({ctype[elem]} **)p[{at}]", f"*(int64_t *)p[{at + 1}]"]
            at += 2
    return ("#include <stdint.h>\n"
            f"void cargo_mlir_matmul_host({', '.join(decl)});\n"
            f"void fake_kernel(void **p) {{ cargo_mlir_matmul_host({', '.join(call)}); }}\n")


@pytest.fixture(scope="module", params=list(CRATES))
def built(request, tmp_path_factory):
    from cargo_mlir.pipeline.stages import schedule_gpu as G
    lib_rs, main_rs, operands = CRATES[request.param]
    root = tmp_path_factory.mktemp("gpu_epi")
    crate = write_crate(root / "gpu_epi", "gpu_epi", {"src/lib.rs": lib_rs, "src/main.rs": main_rs})
    cache = root / "cache"
    result = run([CLI, "mlir", "build", "--release", "--offload-arch", "sm_90", "-v"], crate,
                 XDG_CACHE_HOME=str(cache))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on a GPU the matmul kernel applies it to each C element it stores" in result.stderr, result.stderr
    texts = [p.read_text() for p in (cache / "cargo-mlir" / "gpu-matmul").glob("*.mlir")]
    kernels = [t for t in texts if "with an epilogue" in t and "#nvvm.target" in t]
    assert len(kernels) == 1, texts
    epi = G.KernelEpilogue.of_kernel(kernels[0])
    # (b at [i], s, R at [j, i], in the order the nest reads them)
    assert sorted(epi.operands, key=str) == sorted(operands, key=str), epi
    emu = root / "emu"
    obj = G.compile_host_module(G.matmul_host_module("f32", False, True, epilogue=epi), emu)
    (emu / "wrapper.c").write_text(_wrapper(epi))
    lib = root / "lib"
    lib.mkdir()
    for argv in ([CLANG, "-shared", "-fPIC", "-O1", FAKE, "-o", lib / "libcuda.so.1"],
                 [CLANG, "-shared", "-fPIC", "-O1", emu / "wrapper.c", obj, "-o", emu / "kernel.so"]):
        made = run(argv, root)
        assert made.returncode == 0, made.stderr
    return crate, lib, emu / "kernel.so", root


def test_the_epilogue_runs_in_the_matmul_kernel_with_plain_rusts_bits(built):
    crate, lib, kernel, root = built
    trace = root / "trace.txt"
    result = run([crate / "target/release/gpu_epi"], crate, LD_LIBRARY_PATH=str(lib), FAKE_CUDA_KERNEL=str(kernel),
                 FAKE_CUDA_TRACE=str(trace), CARGO_MLIR_DEVICE="gpu", CARGO_MLIR_LOG="info")
    assert result.returncode == 0 and result.stdout.rstrip().endswith("failed 0"), result.stdout + result.stderr
    for shape in ("200x200x200", "130x70x800", "64x256x448", "257x65x430"):
        assert (f"accelerate `layer`: matmul {shape} with its epilogue ran on GPU 0 (sm_90, sm_90 image, "
                "libcuda.so.1)") in result.stderr, result.stderr
    assert "10x10x10" not in result.stderr          # below the threshold: the CPU
    log = trace.read_text()
    assert log.count("emulated cargo_mlir_matmul") == 4, log
    # the epilogue ran on the "GPU" only: the host's bits are the same
    host = run([crate / "target/release/gpu_epi"], crate, CARGO_MLIR_DEVICE="host")
    assert host.returncode == 0 and host.stdout == result.stdout, host.stdout + host.stderr
    assert len(re.findall(r"^ok ", result.stdout, re.M)) == 5


def test_plain_rust_gives_the_same_bits(built):
    crate, _, _, root = built
    result = run(["cargo", "run", "--release", "-q", "--target-dir", root / "plain"], crate)
    assert result.returncode == 0, result.stderr
    mine = run([crate / "target/release/gpu_epi"], crate, CARGO_MLIR_DEVICE="host")
    assert result.stdout == mine.stdout and result.stdout.rstrip().endswith("failed 0")
