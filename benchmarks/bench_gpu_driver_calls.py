#!/usr/bin/env python3
"""Driver calls per GPU launch, counted with the stand-in CUDA driver
(tests/e2e/fixtures/fake_cuda: it traces every call). No GPU is needed: this
counts what the launcher asks of the driver, not how long the GPU takes.

    .venv/bin/python benchmarks/bench_gpu_driver_calls.py [--launches N]

saxpy (sample_crates/saxpy, 2^20 elements: two 4 MiB buffers, one copied back)
built for sm_90 is launched N times in one process with CARGO_MLIR_DEVICE=gpu.
Printed: the calls of the first launch, and per later launch (steady state),
by kind. What the first launch alone does: retain the device's primary
context, load the module, look the kernel and its panic record up, allocate
the buffers; later launches reuse all of it (the pool keeps the buffers), so
each costs the copies, the launch and the panic-record read."""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

from common import CLI, REPO, clean_env, copy_crate

FAKE = REPO / "tests" / "e2e" / "fixtures" / "fake_cuda" / "fake_cuda.c"
REPEAT = '''fn main() {
    let n: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(10);
    let (x, mut y) = saxpy::inputs(saxpy::N);
    for _ in 0..n {
        saxpy::run(1.0, &x, &mut y);
    }
    println!("checksum={:.1}", saxpy::checksum(&y));
}
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--launches", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-driver-") as tmp:
        root = Path(tmp)
        (root / "lib").mkdir()
        subprocess.run(["/usr/lib/llvm-22/bin/clang", "-shared", "-fPIC", "-O1", FAKE, "-o",
                        root / "lib" / "libcuda.so.1"], check=True)
        crate = copy_crate(REPO / "sample_crates" / "saxpy", root / "saxpy")
        (crate / "src" / "main.rs").write_text(REPEAT)
        built = subprocess.run([CLI, "mlir", "build", "--release", "-q", "--offload-arch", "sm_90"], cwd=crate,
                               env=clean_env(), capture_output=True, text=True)
        if built.returncode != 0:
            print(built.stderr, file=sys.stderr)
            return 1
        trace = root / "trace.txt"
        env = clean_env({"LD_LIBRARY_PATH": str(root / "lib"), "CARGO_MLIR_DEVICE": "gpu",
                         "FAKE_CUDA_TRACE": str(trace)})
        ran = subprocess.run([crate / "target/release/saxpy", str(args.launches)], cwd=crate, env=env,
                             capture_output=True, text=True)
        if ran.returncode != 0:
            print(ran.stderr, file=sys.stderr)
            return 1
        calls = [line.split()[0] for line in trace.read_text().splitlines()]
    # a launch's calls run from its first copy in to its copy back: the next one starts
    # at the first allocation or copy in after a `launch`
    launches, current, launched = [], [], False
    for call in calls:
        if launched and call in ("alloc", "htod"):
            launches.append(current)
            current, launched = [], False
        current.append(call)
        launched = launched or call == "launch"
    launches.append(current)
    first = collections.Counter(launches[0])
    later = collections.Counter(c for launch in launches[1:] for c in launch)
    n_later = max(len(launches) - 1, 1)
    kinds = sorted(set(first) | set(later))
    print(f"saxpy on the stand-in driver, {args.launches} launches ({ran.stdout.strip()})\n")
    print(f"{'call':<10} {'first launch':>13} {'per later launch':>17}")
    for k in kinds:
        print(f"{k:<10} {first[k]:>13} {later[k] / n_later:>17.1f}")
    print(f"{'all':<10} {sum(first.values()):>13} {sum(later.values()) / n_later:>17.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
