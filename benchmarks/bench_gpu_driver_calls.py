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
the buffers and the pinned staging area; later launches reuse all of it (the
pool keeps them), so each costs the copies, the launch and the panic-record read.
Both ways of copying are counted in the same run: through pinned staging memory
(copies queued, one wait per launch) and directly (CARGO_MLIR_GPU_STAGING=0:
each copy, and the launch, waited for)."""

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


# calls after which the host waits for the GPU
BLOCKING = {"htod", "dtoh", "sync", "wait"}


def per_launch(calls: list[str]) -> tuple[collections.Counter, collections.Counter]:
    """The calls of the first launch, and those of all later ones. A launch's calls run
    from its first allocation or copy in to its last wait: the next one starts at the
    first of those after a `launch`."""
    launches, current, launched = [], [], False
    for call in calls:
        if launched and call in ("alloc", "host-alloc", "htod", "htod-async"):
            launches.append(current)
            current, launched = [], False
        current.append(call)
        launched = launched or call == "launch"
    launches.append(current)
    return collections.Counter(launches[0]), collections.Counter(c for launch in launches[1:] for c in launch)


def count(calls: collections.Counter, kind: str) -> int:
    """Calls of `kind`, or of every kind (`all`), or of the blocking ones (`blocking`)."""
    return sum(n for call, n in calls.items()
               if kind == "all" or call == kind or (kind == "blocking" and call in BLOCKING))


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
        runs = {}
        for label, staging in (("staged", None), ("direct", "0")):
            trace = root / f"trace-{label}.txt"
            extra = {"CARGO_MLIR_GPU_STAGING": staging} if staging else {}
            env = clean_env({"LD_LIBRARY_PATH": str(root / "lib"), "CARGO_MLIR_DEVICE": "gpu",
                             "FAKE_CUDA_TRACE": str(trace), **extra})
            ran = subprocess.run([crate / "target/release/saxpy", str(args.launches)], cwd=crate, env=env,
                                 capture_output=True, text=True)
            if ran.returncode != 0:
                print(ran.stderr, file=sys.stderr)
                return 1
            runs[label] = per_launch([line.split()[0] for line in trace.read_text().splitlines()])
    print(f"saxpy on the stand-in driver, {args.launches} launches ({ran.stdout.strip()})")
    print("staged: through pinned staging memory (the default); direct: CARGO_MLIR_GPU_STAGING=0")
    print(f"blocking calls: {', '.join(sorted(BLOCKING))}\n")
    kinds = sorted({k for first, later in runs.values() for k in (*first, *later)})
    print(f"{'call':<11}" + "".join(f"{f'{label}: first':>16}{'later (each)':>14}" for label in runs))
    for k in kinds + ["all", "blocking"]:
        row = f"{k:<11}"
        for first, later in runs.values():
            row += f"{count(first, k):>16}{count(later, k) / max(args.launches - 1, 1):>14.1f}"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
