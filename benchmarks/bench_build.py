#!/usr/bin/env python3
"""Build-time and run-time figures of cargo-mlir against plain cargo, measured
in the same run on the same machine (these machines are noisy: read the
ratios, not the seconds).

    .venv/bin/python benchmarks/bench_build.py [--repeat 5] [--samples saxpy,stencil,dot]

Prints, per sample crate: a cold release build (cargo mlir vs cargo), the
pipeline seconds per kernel (from the build's report.json), a no-op rebuild
(cargo mlir vs cargo), and the program's run time with its kernels as MLIR host
code on all cores vs plain Rust (the plain cargo build).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "cargo-mlir"


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("CARGO_") and k != "CARGO_HOME") and k != "RUSTFLAGS"}


def timed(argv: list, cwd: Path, extra: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run([str(a) for a in argv], cwd=cwd, env={**env(), **(extra or {})}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median(f, n: int) -> float:
    return statistics.median(f() for _ in range(n))


def prepare(name: str, root: Path) -> Path:
    crate = root / name
    shutil.copytree(REPO / "sample_crates" / name, crate, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('"../../templates/cargo-mlir"',
                                                     f'"{REPO / "templates" / "cargo-mlir"}"'))
    return crate


def bench(name: str, root: Path, repeat: int) -> list[str]:
    mlir_crate, plain_crate = prepare(name, root / "mlir"), prepare(name, root / "plain")
    rows = []
    cold_mlir = timed([CLI, "mlir", "build", "--release", "-q"], mlir_crate)
    cold_plain = timed(["cargo", "build", "--release", "-q"], plain_crate)
    rows.append(f"  cold release build    cargo mlir {cold_mlir:6.2f}s   cargo {cold_plain:6.2f}s   "
                f"ratio {cold_mlir / cold_plain:5.2f}")
    report = json.loads((mlir_crate / "target" / "cargo-mlir" / "report.json").read_text())
    for k in report["kernels"]:
        total = sum(k["timings"].values())
        stages = ", ".join(f"{s} {t:.2f}" for s, t in k["timings"].items())
        rows.append(f"  pipeline {k['kernel']:>12} → {k['target']:<6} {total:5.2f}s  ({stages})")
    noop_mlir = median(lambda: timed([CLI, "mlir", "build", "--release", "-q"], mlir_crate), repeat)
    noop_plain = median(lambda: timed(["cargo", "build", "--release", "-q"], plain_crate), repeat)
    rows.append(f"  no-op rebuild         cargo mlir {noop_mlir:6.2f}s   cargo {noop_plain:6.2f}s   "
                f"ratio {noop_mlir / noop_plain:5.2f}  (median of {repeat})")
    binary = f"target/release/{name}"
    run_mlir = median(lambda: timed([mlir_crate / binary], mlir_crate, {"CARGO_MLIR_DEVICE": "host"}), repeat)
    run_plain = median(lambda: timed([plain_crate / binary], plain_crate), repeat)
    rows.append(f"  run (kernels)         MLIR host  {run_mlir:6.2f}s   plain Rust {run_plain:6.2f}s   "
                f"speed-up {run_plain / run_mlir:5.2f}x  ({os.cpu_count()} cores, median of {repeat})")
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--samples", default="saxpy,stencil,dot")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="cargo-mlir-bench-") as tmp:
        for name in args.samples.split(","):
            print(f"{name}:")
            for row in bench(name, Path(tmp), args.repeat):
                print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
