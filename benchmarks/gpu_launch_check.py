#!/usr/bin/env python3
"""Launch latency and copy bandwidth of cargo-mlir's GPU launcher on a real
NVIDIA GPU, against the CUDA driver used directly (through ctypes: what CUDA's
bandwidthTest sample measures) and cupy when it is installed; ratios in one run.

    .venv/bin/python benchmarks/gpu_launch_check.py [--arch sm_90] [--mib 64]
    .venv/bin/python benchmarks/gpu_launch_check.py --build DIR [--arch sm_90]   # no GPU needed
    python3 benchmarks/gpu_launch_check.py --binaries DIR                          # on the GPU machine

1. Launch latency: tests/e2e/fixtures/launch built with cargo mlir for the GPU,
   its `bench` mode with CARGO_MLIR_DEVICE=gpu: a tiny kernel (`out[i] += 1`,
   256 u32 copied in and back) launched 1×1 and 8×32, per launch; against the
   same round trip through the driver (copy in, launch, synchronise, copy back)
   and cupy's.
2. Copy bandwidth: saxpy (sample_crates/saxpy) over --mib MiB per buffer, x
   copied in, y in and back, per launch with staging (the default) and without
   (CARGO_MLIR_GPU_STAGING=0), alternately, best of --reps; against the driver's
   copies of the same bytes from pageable and from pinned memory.

Needs numpy only for the cupy baseline; the driver baseline uses ctypes alone.
"""

from __future__ import annotations

import argparse
import ctypes as C
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

SAXPY_BENCH = r"""use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: usize = args[1].parse().unwrap();
    let reps: usize = args[2].parse().unwrap();
    let (x, mut y) = saxpy::inputs(mib << 18); // f32: 2^18 per MiB
    saxpy::run(1.0, &x, &mut y); // the first launch loads the module and fills the pools
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        saxpy::run(1.0, &x, &mut y);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("seconds={best:.6} checksum={:.1}", saxpy::checksum(&y));
}
"""

# the baseline's kernel: out[i] += 1 for i < n (JIT-compiled by the driver)
ADD_ONE_PTX = b"""
.version 8.0
.target sm_80
.address_size 64
.visible .entry add_one(.param .u64 out, .param .u64 n)
{
    .reg .pred %p;
    .reg .b32 %r<5>;
    .reg .b64 %rd<6>;
    mov.u32 %r1, %ctaid.x;
    mov.u32 %r2, %ntid.x;
    mov.u32 %r3, %tid.x;
    mad.lo.u32 %r4, %r1, %r2, %r3;
    cvt.u64.u32 %rd1, %r4;
    ld.param.u64 %rd2, [n];
    setp.ge.u64 %p, %rd1, %rd2;
    @%p bra DONE;
    ld.param.u64 %rd3, [out];
    cvta.to.global.u64 %rd3, %rd3;
    shl.b64 %rd4, %rd1, 2;
    add.s64 %rd5, %rd3, %rd4;
    ld.global.u32 %r1, [%rd5];
    add.s32 %r1, %r1, 1;
    st.global.u32 [%rd5], %r1;
DONE:
    ret;
}
"""


def sh(argv, cwd: Path, env: dict[str, str] | None = None) -> str:
    r = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def build(out: Path, arch: str) -> None:
    """The launch fixture and the saxpy benchmark, built for `arch`, into `out`."""
    sys.path.insert(0, str(HERE))
    from common import CLI, clean_env, copy_crate
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-launch-") as tmp:
        launch = copy_crate(REPO / "tests" / "e2e" / "fixtures" / "launch", Path(tmp) / "launch")
        saxpy = copy_crate(REPO / "sample_crates" / "saxpy", Path(tmp) / "saxpy")
        (saxpy / "examples").mkdir(exist_ok=True)
        (saxpy / "examples" / "bandwidth.rs").write_text(SAXPY_BENCH)
        for crate, extra in ((launch, []), (saxpy, ["--example", "bandwidth"])):
            sh([CLI, "mlir", "build", "--release", "-q", "--offload-arch", arch, *extra], crate, clean_env())
        shutil.copy2(launch / "target" / "release" / "launch", out / "launch")
        shutil.copy2(saxpy / "target" / "release" / "examples" / "bandwidth", out / "bandwidth")


class Driver:
    """The CUDA driver through ctypes: device 0's primary context."""

    def __init__(self):
        self.lib = C.CDLL("libcuda.so.1")
        L = self.lib
        L.cuMemcpyHtoD_v2.argtypes = [C.c_uint64, C.c_void_p, C.c_size_t]
        L.cuMemcpyDtoH_v2.argtypes = [C.c_void_p, C.c_uint64, C.c_size_t]
        L.cuMemAlloc_v2.argtypes = [C.POINTER(C.c_uint64), C.c_size_t]
        L.cuMemHostAlloc.argtypes = [C.POINTER(C.c_void_p), C.c_size_t, C.c_uint]
        L.cuLaunchKernel.argtypes = [C.c_void_p] + [C.c_uint] * 7 + [C.c_void_p, C.POINTER(C.c_void_p), C.c_void_p]
        self.check(L.cuInit(0), "cuInit")
        dev, major, minor = C.c_int(), C.c_int(), C.c_int()
        self.check(L.cuDeviceGet(C.byref(dev), 0), "cuDeviceGet")
        self.check(L.cuDeviceGetAttribute(C.byref(major), 75, dev), "compute capability")
        self.check(L.cuDeviceGetAttribute(C.byref(minor), 76, dev), "compute capability")
        self.arch = f"sm_{major.value}{minor.value}"
        name = C.create_string_buffer(256)
        L.cuDeviceGetName(name, 256, dev)
        self.name = name.value.decode()
        self.ctx = C.c_void_p()
        self.check(L.cuDevicePrimaryCtxRetain(C.byref(self.ctx), dev), "cuDevicePrimaryCtxRetain")
        self.check(L.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")

    def check(self, code: int, what: str) -> None:
        if code != 0:
            raise SystemExit(f"{what}: CUDA error {code}")

    def alloc(self, n: int) -> int:
        p = C.c_uint64()
        self.check(self.lib.cuMemAlloc_v2(C.byref(p), n), "cuMemAlloc")
        return p.value

    def pinned(self, n: int) -> int:
        p = C.c_void_p()
        self.check(self.lib.cuMemHostAlloc(C.byref(p), n, 0), "cuMemHostAlloc")
        return p.value

    def round_trip_seconds(self, iters: int) -> float:
        """Copy 256 u32 in, add one on 8×32 threads, synchronise, copy back: per round trip."""
        module, fn = C.c_void_p(), C.c_void_p()
        self.check(self.lib.cuModuleLoadData(C.byref(module), C.c_char_p(ADD_ONE_PTX + b"\0")), "cuModuleLoadData")
        self.check(self.lib.cuModuleGetFunction(C.byref(fn), module, b"add_one"), "cuModuleGetFunction")
        host = (C.c_uint32 * 256)()
        dev = C.c_uint64(self.alloc(1024))
        n = C.c_uint64(256)
        params = (C.c_void_p * 2)(C.addressof(dev), C.addressof(n))
        L = self.lib

        def once():
            L.cuMemcpyHtoD_v2(dev.value, host, 1024)
            L.cuLaunchKernel(fn, 8, 1, 1, 32, 1, 1, 0, None, params, None)
            L.cuCtxSynchronize()
            L.cuMemcpyDtoH_v2(host, dev.value, 1024)

        once()
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(iters):
                once()
            best = min(best, (time.perf_counter() - t) / iters)
        if host[0] != 1 + 5 * iters:
            raise SystemExit(f"the baseline kernel computed {host[0]}, not {1 + 5 * iters}")
        return best

    def copy_seconds(self, nbytes: int, reps: int) -> dict[str, float]:
        """Best seconds to copy `nbytes` to the GPU and back, from pageable and from pinned memory."""
        dev = self.alloc(nbytes)
        pageable = C.create_string_buffer(nbytes)
        pinned = self.pinned(nbytes)
        out = {}
        for kind, host in (("pageable", C.addressof(pageable)), ("pinned", pinned)):
            best = float("inf")
            for _ in range(reps):
                t = time.perf_counter()
                self.check(self.lib.cuMemcpyHtoD_v2(dev, host, nbytes), "cuMemcpyHtoD")
                self.check(self.lib.cuMemcpyDtoH_v2(host, dev, nbytes), "cuMemcpyDtoH")
                best = min(best, time.perf_counter() - t)
            out[kind] = best
        return out


def cupy_figures(mib: int, iters: int, reps: int) -> dict[str, float] | None:
    try:
        import cupy
        import numpy as np
    except ImportError:
        return None
    add_one = cupy.ElementwiseKernel("", "uint32 x", "x += 1", "add_one")
    host = np.zeros(256, np.uint32)

    def once():
        d = cupy.asarray(host)
        add_one(d)
        d.get(out=host)

    once()
    t = time.perf_counter()
    for _ in range(iters):
        once()
    launch = (time.perf_counter() - t) / iters
    big = np.ones(mib << 18, np.float32)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        cupy.asarray(big).get(out=big)
        best = min(best, time.perf_counter() - t)
    return {"round_trip": launch, "copy": best}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", help="GPU architecture (default: the GPU's)")
    ap.add_argument("--build", type=Path, help="only build the binaries into DIR (no GPU needed)")
    ap.add_argument("--binaries", type=Path, help="binaries from --build (default: build them now)")
    ap.add_argument("--mib", type=int, default=64, help="MiB per saxpy buffer (default 64)")
    ap.add_argument("--iters", type=int, default=2000, help="launches per latency sample (default 2000)")
    ap.add_argument("--reps", type=int, default=5)
    opts = ap.parse_args()
    if opts.build:
        build(opts.build, opts.arch or "sm_90")
        return 0
    try:
        drv = Driver()
    except OSError:
        raise SystemExit("no NVIDIA driver (libcuda.so.1): this check needs a machine with an NVIDIA GPU")
    print(f"device: {drv.name} ({drv.arch})")
    binaries = opts.binaries
    if binaries is None:
        binaries = Path(tempfile.mkdtemp(prefix="gpu-launch-bin-"))
        build(binaries, opts.arch or drv.arch)
    gpu = dict(os.environ, CARGO_MLIR_DEVICE="gpu")

    print("\n1. launch latency: a tiny kernel, 256 u32 copied in and back (µs per launch)")
    out = sh([binaries / "launch", "bench", str(opts.iters)], binaries, gpu)
    ours = {m[1]: float(m[2]) / 1e3 for m in re.finditer(r"^bench (\S+) ns=([\d.]+)", out, re.M)}
    driver = drv.round_trip_seconds(opts.iters) * 1e6
    print(f"  cargo-mlir 1x1:  {ours['launch_1x1']:8.1f}   8x32: {ours['launch_8x32']:8.1f}")
    print(f"  driver (ctypes, copy in, launch, sync, copy back; 8x32): {driver:8.1f}"
          f"   cargo-mlir / driver = {ours['launch_8x32'] / driver:.2f}")
    cp = cupy_figures(opts.mib, opts.iters, opts.reps)
    if cp:
        print(f"  cupy (asarray, kernel, get): {cp['round_trip'] * 1e6:8.1f}"
              f"   cargo-mlir / cupy = {ours['launch_8x32'] / (cp['round_trip'] * 1e6):.2f}")
    else:
        print("  cupy: not installed, no cupy baseline")

    nbytes = opts.mib << 20
    moved = 3 * nbytes     # x in, y in, y back
    print(f"\n2. copy bandwidth: saxpy over {opts.mib} MiB per buffer ({moved >> 20} MiB moved per launch), GB/s")
    best = {"staged": float("inf"), "direct": float("inf")}
    for _ in range(opts.reps):
        for kind, staging in (("staged", None), ("direct", "0")):
            env = dict(gpu, **({"CARGO_MLIR_GPU_STAGING": staging} if staging else {}))
            run = sh([binaries / "bandwidth", str(opts.mib), "3"], binaries, env)
            best[kind] = min(best[kind], float(re.search(r"seconds=([\d.]+)", run)[1]))
    raw = drv.copy_seconds(nbytes, opts.reps)
    gbs = {k: moved / v / 1e9 for k, v in best.items()}
    raw_gbs = {k: 2 * nbytes / v / 1e9 for k, v in raw.items()}
    print(f"  cargo-mlir staged {gbs['staged']:6.1f}   direct {gbs['direct']:6.1f}"
          f"   staged / direct = {gbs['staged'] / gbs['direct']:.2f}")
    print(f"  driver pageable   {raw_gbs['pageable']:6.1f}   pinned {raw_gbs['pinned']:6.1f}"
          f"   staged / driver pageable = {gbs['staged'] / raw_gbs['pageable']:.2f}")
    if cp:
        print(f"  cupy (asarray, get) {2 * nbytes / cp['copy'] / 1e9:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
