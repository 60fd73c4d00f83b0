#!/usr/bin/env python3
"""Launch-path figures of cargo-mlir, as ratios measured in one run (these
machines are noisy: read the ratios, not the seconds).

    .venv/bin/python benchmarks/bench_launch.py [--quick] [--json PATH]

1. Launch overhead: tests/e2e/fixtures/launch built with `cargo mlir build
   --release --offload-arch gfx90a` (a GPU image, as by default: each launch
   also asks for a GPU) and with plain `cargo build --release` (the `offload!`
   fallback). Its `bench` mode times, in one process, a launch of a tiny kernel
   (`out[i] += 1`) of 1 workgroup × 1 thread and of 8 × 32, against a plain
   (non-inlined) function call doing the same work; default environment.
   Target: the tiny launch ≤ 2 µs.
2. Host run time: saxpy (2^20 elements, 10 launches) and the stencil (512²,
   100 sweeps) from sample_crates, built with cargo mlir, each with an example
   that times the kernel path and plain serial Rust (the same loops, compiled
   by rustc) in one process; run with CARGO_MLIR_HOST_THREADS=1 and 2,
   alternately, best of N.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path

from common import CLI, REPO, clean_env, copy_crate

FIXTURE = REPO / "tests" / "e2e" / "fixtures" / "launch"




def sh(argv, cwd: Path, extra: dict[str, str] | None = None) -> str:
    r = subprocess.run([str(a) for a in argv], cwd=cwd, env=clean_env(extra), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def numbers(out: str, key: str) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(rf"^{key} (\S+) ns=([\d.]+)", out, re.M)}


def launch_overhead(root: Path, iters: int) -> dict:
    plain = copy_crate(FIXTURE, root / "launch-plain")
    sh(["cargo", "build", "--release", "-q"], plain)
    mlir = copy_crate(FIXTURE, root / "launch-mlir")
    sh([CLI, "mlir", "build", "--release", "-q", "--offload-arch", "gfx90a"], mlir)
    out = {}
    for kind, crate in (("mlir", mlir), ("plain", plain)):
        figures = numbers(sh([crate / "target/release/launch", "bench", str(iters)], crate), "bench")
        for shape in ("1x1", "8x32"):
            launch, call = figures[f"launch_{shape}"], figures[f"plain_call_{shape}"]
            out[f"{kind}_{shape}"] = {"launch_ns": launch, "plain_call_ns": call, "ratio": launch / call}
    return out


SAXPY_BENCH = r"""
use std::hint::black_box;
use std::time::Instant;

#[inline(never)]
fn serial(a: f32, x: &[f32], y: &mut [f32]) {
    for i in 0..y.len() {
        y[i] = a * x[i] + y[i];
    }
}

fn main() {
    let (x, y0) = saxpy::inputs(saxpy::N);
    let mut best = [f64::MAX; 2];
    for _ in 0..REPEAT {
        for (k, best) in best.iter_mut().enumerate() {
            let mut y = y0.clone();
            let t = Instant::now();
            for _ in 0..10 {
                if k == 0 { saxpy::run(black_box(1.5), &x, &mut y) } else { serial(black_box(1.5), &x, &mut y) }
            }
            *best = best.min(t.elapsed().as_secs_f64() * 1e9);
            black_box(&y);
        }
    }
    println!("time kernel ns={:.0}\ntime serial ns={:.0}", best[0], best[1]);
}
"""

STENCIL_BENCH = r"""
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut best = [f64::MAX; 2];
    for _ in 0..REPEAT {
        for (k, best) in best.iter_mut().enumerate() {
            let t = Instant::now();
            let g = if k == 0 { stencil::run(black_box(512), 100) } else { stencil::reference(black_box(512), 100) };
            *best = best.min(t.elapsed().as_secs_f64() * 1e9);
            black_box(&g);
        }
    }
    println!("time kernel ns={:.0}\ntime serial ns={:.0}", best[0], best[1]);
}
"""


def host_run_time(root: Path, rounds: int) -> dict:
    out = {}
    for name, src in (("saxpy", SAXPY_BENCH), ("stencil", STENCIL_BENCH)):
        crate = copy_crate(REPO / "sample_crates" / name, root / name)
        (crate / "examples").mkdir(exist_ok=True)
        (crate / "examples" / "bench.rs").write_text(src.replace("REPEAT", "3"))
        sh([CLI, "mlir", "build", "--release", "-q", "--offload-arch", "gfx90a", "--example", "bench"], crate)
        binary = crate / "target/release/examples/bench"
        best: dict[str, float] = {}
        for _ in range(rounds):            # 1 and 2 threads alternately
            for threads in ("1", "2"):
                figures = numbers(sh([binary], crate, {"CARGO_MLIR_HOST_THREADS": threads}), "time")
                for what, ns in (("kernel_" + threads, figures["kernel"]), ("serial", figures["serial"])):
                    best[what] = min(best.get(what, float("inf")), ns)
        out[name] = {
            "serial_ms": best["serial"] / 1e6,
            **{f"threads_{t}_ms": best[f"kernel_{t}"] / 1e6 for t in ("1", "2")},
            **{f"threads_{t}_vs_serial": best[f"kernel_{t}"] / best["serial"] for t in ("1", "2")},
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer iterations and rounds")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-launch-") as tmp:
        root = Path(tmp)
        launch = launch_overhead(root, 20_000 if a.quick else 200_000)
        print("launch overhead (default environment; ratio = launch / plain function call):")
        for key, f in launch.items():
            print(f"  {key:<11} launch {f['launch_ns'] / 1000:8.3f} µs   plain call {f['plain_call_ns']:7.1f} ns"
                  f"   ratio {f['ratio']:7.1f}")
        host = host_run_time(root, 2 if a.quick else 5)
        print("host run time against plain serial Rust (ratio = kernel / serial):")
        for name, f in host.items():
            print(f"  {name:<8} serial {f['serial_ms']:8.2f} ms   1 thread {f['threads_1_ms']:8.2f} ms "
                  f"({f['threads_1_vs_serial']:.2f}×)   2 threads {f['threads_2_ms']:8.2f} ms "
                  f"({f['threads_2_vs_serial']:.2f}×)")
    if a.json:
        a.json.write_text(json.dumps({"launch": launch, "host": host}, indent=2))


if __name__ == "__main__":
    main()
