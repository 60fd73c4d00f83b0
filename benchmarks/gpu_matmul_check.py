#!/usr/bin/env python3
"""Run cargo-mlir's GPU matmul kernel on an NVIDIA GPU: correctness against
numpy and GFLOP/s (and cuBLAS through cupy or torch, when importable).

Dependencies: numpy and the NVIDIA driver (libcuda.so.1, through ctypes).
The cubins come either from cargo_mlir itself (this checkout with its LLVM 22
tools and ptxas) or from a directory made beforehand on a machine with them:

    python benchmarks/gpu_matmul_check.py --build DIR [--arch sm_90]   # no GPU needed
    python benchmarks/gpu_matmul_check.py [--images DIR] [--size 1024] [--reps 20]

Kernel ABI (cargo_mlir.pipeline.stages.schedule_gpu): cargo_mlir_matmul(a, b,
c, m, n, k, lda, ldb, ldc), C += A·B, block (THREADS, 1, 1), grid
(ceil(n/BN), ceil(m/BM), 1). Exact kernels (no FMA, k in order) must match
the sequential loop bit for bit; the others within a rounding tolerance.
"""

from __future__ import annotations

import argparse
import ctypes as C
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KERNEL = b"cargo_mlir_matmul"
BM = BN = 64          # overwritten from cargo_mlir when importable
THREADS = 256
VARIANTS = [(elem, tb, exact) for elem in ("f32", "f64") for tb in (False, True) for exact in (True, False)]


def image_name(elem: str, tb: bool, exact: bool) -> str:
    return f"cargo_mlir_matmul-{elem}-{'bt' if tb else 'b'}-{'exact' if exact else 'fma'}.cubin"


def build(out: Path, arch: str) -> None:
    from cargo_mlir.pipeline.stages import schedule_gpu as G

    out.mkdir(parents=True, exist_ok=True)
    for elem, tb, exact in VARIANTS:
        text = G.matmul_kernel_module(elem, tb, exact, arch)
        image = G.compile_matmul_kernel(text, arch, out / "work" / image_name(elem, tb, exact)[:-6])
        (out / image_name(elem, tb, exact)).write_bytes(image)
        print("built", out / image_name(elem, tb, exact))
    (out / "tiles.txt").write_text(f"BM={G.BM} BN={G.BN} THREADS={G.THREADS}\n")


# ---------------------------------------------------------------- CUDA driver API via ctypes

class Cuda:
    def __init__(self):
        self.lib = C.CDLL("libcuda.so.1")
        self.check(self.lib.cuInit(0), "cuInit")
        dev = C.c_int()
        self.check(self.lib.cuDeviceGet(C.byref(dev), 0), "cuDeviceGet")
        major, minor = C.c_int(), C.c_int()
        self.check(self.lib.cuDeviceGetAttribute(C.byref(major), 75, dev), "compute capability")   # major
        self.check(self.lib.cuDeviceGetAttribute(C.byref(minor), 76, dev), "compute capability")   # minor
        self.arch = f"sm_{major.value}{minor.value}"
        name = C.create_string_buffer(256)
        self.lib.cuDeviceGetName(name, 256, dev)
        self.name = name.value.decode()
        self.ctx = C.c_void_p()
        self.check(self.lib.cuDevicePrimaryCtxRetain(C.byref(self.ctx), dev), "cuDevicePrimaryCtxRetain")
        self.check(self.lib.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")
        self.lib.cuEventElapsedTime.argtypes = [C.POINTER(C.c_float), C.c_void_p, C.c_void_p]
        self.lib.cuMemcpyHtoD_v2.argtypes = [C.c_uint64, C.c_void_p, C.c_size_t]
        self.lib.cuMemcpyDtoH_v2.argtypes = [C.c_void_p, C.c_uint64, C.c_size_t]
        self.lib.cuMemAlloc_v2.argtypes = [C.POINTER(C.c_uint64), C.c_size_t]
        self.lib.cuMemFree_v2.argtypes = [C.c_uint64]
        self.lib.cuLaunchKernel.argtypes = [C.c_void_p] + [C.c_uint] * 7 + [C.c_void_p, C.POINTER(C.c_void_p),
                                                                              C.c_void_p]

    def check(self, code: int, what: str) -> None:
        if code != 0:
            text = C.c_char_p()
            self.lib.cuGetErrorString(code, C.byref(text))
            raise RuntimeError(f"{what}: CUDA error {code} ({(text.value or b'?').decode()})")

    def function(self, image: bytes):
        module, fn = C.c_void_p(), C.c_void_p()
        self._keep = C.create_string_buffer(image, len(image))
        self.check(self.lib.cuModuleLoadData(C.byref(module), self._keep), "cuModuleLoadData")
        self.check(self.lib.cuModuleGetFunction(C.byref(fn), module, KERNEL), "cuModuleGetFunction")
        return fn

    def to_device(self, array: np.ndarray) -> C.c_uint64:
        ptr = C.c_uint64()
        self.check(self.lib.cuMemAlloc_v2(C.byref(ptr), max(array.nbytes, 1)), "cuMemAlloc")
        if array.nbytes:
            self.check(self.lib.cuMemcpyHtoD_v2(ptr.value, array.ctypes.data, array.nbytes), "cuMemcpyHtoD")
        return ptr

    def to_host(self, ptr: C.c_uint64, array: np.ndarray) -> None:
        if array.nbytes:
            self.check(self.lib.cuMemcpyDtoH_v2(array.ctypes.data, ptr.value, array.nbytes), "cuMemcpyDtoH")

    def launch(self, fn, grid, block, args: list) -> None:
        params = (C.c_void_p * len(args))(*[C.addressof(a) for a in args])
        self.check(self.lib.cuLaunchKernel(fn, *grid, *block, 0, None, params, None), "cuLaunchKernel")

    def timed(self, body, reps: int) -> float:
        """Seconds per call of body(): the mean over reps after one warm-up (CUDA events)."""
        body()
        start, end = C.c_void_p(), C.c_void_p()
        self.check(self.lib.cuEventCreate(C.byref(start), 0), "cuEventCreate")
        self.check(self.lib.cuEventCreate(C.byref(end), 0), "cuEventCreate")
        self.check(self.lib.cuEventRecord(start, None), "cuEventRecord")
        for _ in range(reps):
            body()
        self.check(self.lib.cuEventRecord(end, None), "cuEventRecord")
        self.check(self.lib.cuEventSynchronize(end), "cuEventSynchronize")
        ms = C.c_float()
        self.check(self.lib.cuEventElapsedTime(C.byref(ms), start, end), "cuEventElapsedTime")
        return ms.value / 1e3 / reps

    def sync(self) -> None:
        self.check(self.lib.cuCtxSynchronize(), "cuCtxSynchronize (the kernel)")


# ---------------------------------------------------------------- checks

def sequential(a, b, c, tb):
    """C + a0*b0 + a1*b1 + … in increasing k, each step rounded: the exact kernel's order."""
    r = c.copy()
    for p in range(a.shape[1]):
        r = r + a[:, p:p + 1] * (b[:, p][None, :] if tb else b[p:p + 1, :])
    return r


def run_case(cu, fn, elem, tb, exact, m, n, k, pad, reps, rng):
    dt = np.float32 if elem == "f32" else np.float64
    lda, ldb, ldc = k + pad, (k if tb else n) + pad, n + pad
    a = rng.standard_normal((m, lda)).astype(dt)
    b = rng.standard_normal(((n if tb else k), ldb)).astype(dt)
    c0 = rng.standard_normal((m, ldc)).astype(dt)
    A, B = a[:, :k], (b[:, :k] if tb else b[:, :n])
    da, db, dc = cu.to_device(a), cu.to_device(b), cu.to_device(c0)
    grid = (-(-n // BN), -(-m // BM), 1)
    args = [da, db, dc] + [C.c_int64(v) for v in (m, n, k, lda, ldb, ldc)]
    if m and n:
        cu.launch(fn, grid, (THREADS, 1, 1), args)
    cu.sync()
    c = np.empty_like(c0)
    cu.to_host(dc, c)
    ref = sequential(A, B, c0[:, :n], tb) if (exact and m * n * k <= 1 << 31) else \
        c0[:, :n].astype(np.float64) + A.astype(np.float64) @ (B.T if tb else B).astype(np.float64)
    got = c[:, :n]
    untouched = np.array_equal(c[:, n:], c0[:, n:])
    if exact and m * n * k <= 1 << 31:
        ok = np.array_equal(got, ref.astype(dt))
        err = "bit-exact" if ok else f"{np.count_nonzero(got != ref)} elements differ"
    else:
        tol = (1e-4 if elem == "f32" else 1e-12) * max(1, k) ** 0.5
        rel = float(np.max(np.abs(got - ref) / (np.abs(ref) + 1))) if got.size else 0.0
        ok, err = rel <= tol, f"max rel err {rel:.2e} (tol {tol:.1e})"
    ok = ok and untouched
    gflops = ""
    if reps and m and n and k:
        t = cu.timed(lambda: cu.launch(fn, grid, (THREADS, 1, 1), args), reps)
        gflops = f"  {2 * m * n * k / t / 1e9:9.1f} GFLOP/s ({t * 1e3:.3f} ms)"
    for p in (da, db, dc):
        cu.lib.cuMemFree_v2(p.value)
    print(f"  {elem} {'B^T' if tb else 'B  '} {'exact' if exact else 'fma  '} m={m} n={n} k={k} pad={pad}: "
          f"{'ok ' if ok else 'FAIL'} {err}{'' if untouched else ', padding columns of C changed'}{gflops}")
    return ok


def cublas(size: int, reps: int) -> None:
    for elem in ("f32", "f64"):
        try:
            import torch

            dt = torch.float32 if elem == "f32" else torch.float64
            torch.backends.cuda.matmul.allow_tf32 = False
            a = torch.randn(size, size, device="cuda", dtype=dt)
            b = torch.randn(size, size, device="cuda", dtype=dt)
            torch.matmul(a, b)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(reps):
                torch.matmul(a, b)
            torch.cuda.synchronize()
            lib = "torch"
        except Exception:
            try:
                import cupy

                dt = cupy.float32 if elem == "f32" else cupy.float64
                a = cupy.random.standard_normal((size, size)).astype(dt)
                b = cupy.random.standard_normal((size, size)).astype(dt)
                a @ b
                cupy.cuda.Device().synchronize()
                t0 = time.perf_counter()
                for _ in range(reps):
                    a @ b
                cupy.cuda.Device().synchronize()
                lib = "cupy"
            except Exception:
                print("  cuBLAS: neither torch nor cupy importable with CUDA")
                return
        t = (time.perf_counter() - t0) / reps
        print(f"  cuBLAS ({lib}) {elem} {size}^3: {2 * size ** 3 / t / 1e9:9.1f} GFLOP/s ({t * 1e3:.3f} ms)")


def main() -> int:
    global BM, BN, THREADS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, help="only build the cubins into DIR (no GPU needed)")
    ap.add_argument("--arch", default=None, help="GPU architecture for --build (default: the GPU's, else sm_90)")
    ap.add_argument("--images", type=Path, help="directory from --build (default: build now with cargo_mlir)")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=20)
    opts = ap.parse_args()
    if opts.build:
        build(opts.build, opts.arch or "sm_90")
        return 0
    cu = Cuda()
    print(f"device: {cu.name} ({cu.arch})")
    images = opts.images
    if images is None:
        images = Path("/tmp/cargo-mlir-gpu-matmul") / (opts.arch or cu.arch)
        build(images, opts.arch or cu.arch)
    tiles = images / "tiles.txt"
    if tiles.exists():
        vals = dict(kv.split("=") for kv in tiles.read_text().split())
        BM, BN, THREADS = int(vals["BM"]), int(vals["BN"]), int(vals["THREADS"])
    rng = np.random.default_rng(1)
    n = opts.size
    shapes = [(1, 1, 1, 0), (3, 5, 0, 0), (65, 129, 17, 0), (100, 37, 250, 3), (1000, 999, 1001, 1),
              (n, n, n, 0)]
    ok = True
    for elem, tb, exact in VARIANTS:
        fn = cu.function((images / image_name(elem, tb, exact)).read_bytes())
        for m, nn, k, pad in shapes:
            reps = opts.reps if (m, nn, k) == (n, n, n) else 0
            ok &= run_case(cu, fn, elem, tb, exact, m, nn, k, pad, reps, rng)
    cublas(n, opts.reps)
    print("all ok" if ok else "FAILURES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
