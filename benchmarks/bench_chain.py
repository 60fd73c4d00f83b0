#!/usr/bin/env python3
"""Matrix chain `y = (A·B)·x` on the host (issue 14): re-associated by cargo mlir
under `#[cargo_mlir::accelerate(reassociate)]` vs the chain as written (cargo mlir,
plain `#[cargo_mlir::accelerate]`: A·B is a scheduled matmul, then t·x) vs plain
rustc -O3. Times and ratios measured in one run (best of N; noisy machines).

    .venv/bin/python benchmarks/bench_chain.py [--sizes 512,1024,2048] [--threads N]
        [--skip-plain-above N] [--budget SECONDS] [--max-reps N] [--json PATH]

A crate generated in a temporary directory holds

    #[cargo_mlir::accelerate(reassociate)]
    pub fn abx(n: usize, a: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        let mut t = vec![0.0f32; n * n];
        for i in 0..n { for j in 0..n {
            let mut acc = 0.0;
            for p in 0..n { acc += a[i * n + p] * b[p * n + j]; }
            t[i * n + j] = acc;
        } }
        for i in 0..n {
            let mut acc = 0.0;
            for p in 0..n { acc += t[i * n + p] * x[p]; }
            y[i] = acc;
        }
    }

and `abx_written`, the same body under `#[cargo_mlir::accelerate]`, and a `main`
taking `reordered|written n max_reps budget_s` that times repetitions of one of
them and prints the best time and a checksum of y. Built twice: `cargo build
--release` (plain: the attribute leaves the Rust body) and `cargo mlir build
--release` (run with CARGO_MLIR_HOST_THREADS=<threads>, CARGO_MLIR_LOG=info,
whose lines say which functions used MLIR code). The inputs are small multiples
of 1/8 and 1/4 so every product and partial sum is exact in f32: all three
checksums must agree exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CLI, clean_env, write_manifest  # noqa: E402

BODY = """
        let mut t = vec![0.0f32; n * n];
        for i in 0..n { for j in 0..n {
            let mut acc = 0.0;
            for p in 0..n { acc += a[i * n + p] * b[p * n + j]; }
            t[i * n + j] = acc;
        } }
        for i in 0..n {
            let mut acc = 0.0;
            for p in 0..n { acc += t[i * n + p] * x[p]; }
            y[i] = acc;
        }
"""

LIB = f"""
#[cargo_mlir::accelerate(reassociate)]
pub fn abx(n: usize, a: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {{{BODY}}}

#[cargo_mlir::accelerate]
pub fn abx_written(n: usize, a: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {{{BODY}}}
"""

MAIN = """
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args[1].clone();
    let n: usize = args[2].parse().unwrap();
    let max_reps: usize = args[3].parse().unwrap();
    let budget: f64 = args[4].parse().unwrap();
    // multiples of 1/8 (A, B) and 1/4 (x) in [-1, 1]: sums of n ≤ 2048 terms stay exact in f32
    let a: Vec<f32> = (0..n * n).map(|i| ((i * 7 + 3) % 17) as f32 / 8.0 - 1.0).collect();
    let b: Vec<f32> = (0..n * n).map(|i| ((i * 5 + 1) % 13) as f32 / 8.0 - 0.75).collect();
    let x: Vec<f32> = (0..n).map(|i| ((i * 3) % 9) as f32 / 4.0 - 1.0).collect();
    let mut y = vec![0.0f32; n];
    let f: fn(usize, &[f32], &[f32], &[f32], &mut [f32]) =
        if which == "reordered" { bench_chain::abx } else { bench_chain::abx_written };
    let (mut best, mut total, mut reps) = (f64::INFINITY, 0.0, 0);
    while reps < max_reps && (reps == 0 || total < budget) {
        let t0 = Instant::now();
        f(n, &a, &b, &x, &mut y);
        let dt = t0.elapsed().as_secs_f64();
        best = best.min(dt);
        total += dt;
        reps += 1;
    }
    let sum: f64 = y.iter().enumerate().map(|(i, v)| *v as f64 * ((i % 7) as f64 + 1.0)).sum();
    println!("best {best:.9} reps {reps} checksum {sum:.6}");
}
"""


def build(crate: Path, threads: int) -> tuple[Path, Path]:
    env = clean_env()
    plain = subprocess.run(["cargo", "build", "--release", "-q", "--target-dir", "target/plain"], cwd=crate,
                           env=env, capture_output=True, text=True)
    if plain.returncode:
        raise SystemExit(f"plain build failed:\n{plain.stderr}")
    mlir = subprocess.run([str(CLI), "mlir", "build", "--release", "--explain"], cwd=crate, env=env,
                          capture_output=True, text=True)
    if mlir.returncode:
        raise SystemExit(f"cargo mlir build failed:\n{mlir.stderr}")
    said = [line for line in (mlir.stdout + mlir.stderr).splitlines() if line.startswith("matrix chain in")]
    for line in said:
        print(f"  {line}")
    return crate / "target" / "plain" / "release" / "bench_chain", crate / "target" / "release" / "bench_chain"


def run(exe: Path, which: str, n: int, reps: int, budget: float, threads: int) -> tuple[float, str, str]:
    env = clean_env({"CARGO_MLIR_HOST_THREADS": str(threads), "CARGO_MLIR_LOG": "info"})
    r = subprocess.run([str(exe), which, str(n), str(reps), str(budget)], env=env, capture_output=True, text=True,
                       timeout=3600)
    if r.returncode:
        raise SystemExit(f"{exe} {which} {n} failed:\n{r.stdout}{r.stderr}")
    m = re.search(r"best (\S+) reps (\d+) checksum (\S+)", r.stdout)
    used = "mlir" if "uses MLIR code" in r.stderr else ("plain" if "runs as plain Rust" in r.stderr else "-")
    return float(m[1]), m[3], used


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-plain-above", type=int, default=1 << 30)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--max-reps", type=int, default=50)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_chain_") as tmp:
        crate = Path(tmp) / "bench_chain"
        (crate / "src").mkdir(parents=True)
        write_manifest(crate, "bench_chain")
        (crate / "src" / "lib.rs").write_text(LIB)
        (crate / "src" / "main.rs").write_text(MAIN)
        print(f"building ({a.threads} threads at run time)…")
        plain_exe, mlir_exe = build(crate, a.threads)
        print(f"{'n':>6} {'reordered':>12} {'as written':>12} {'plain':>12} {'written/reord':>14} "
              f"{'plain/reord':>12} {'plain/written':>14}  used")
        for n in sizes:
            reord, c1, u1 = run(mlir_exe, "reordered", n, a.max_reps, a.budget, a.threads)
            written, c2, u2 = run(mlir_exe, "written", n, a.max_reps, a.budget, a.threads)
            plain = c3 = None
            if n <= a.skip_plain_above:
                plain, c3, _ = run(plain_exe, "reordered", n, max(1, a.max_reps // 10), a.budget, a.threads)
            sums = {c for c in (c1, c2, c3) if c is not None}
            if len(sums) != 1:
                print(f"checksums differ at n = {n}: reordered {c1}, written {c2}, plain {c3}")
                return 1
            fmt = lambda t: f"{t * 1e3:10.3f}ms" if t is not None else f"{'-':>12}"
            ratio = lambda x, y: f"{x / y:.1f}×" if x is not None and y else "-"
            print(f"{n:>6} {fmt(reord)} {fmt(written)} {fmt(plain)} {ratio(written, reord):>14} "
                  f"{ratio(plain, reord):>12} {ratio(plain, written):>14}  {u1}/{u2}")
            rows.append({"n": n, "reordered_s": reord, "written_s": written, "plain_s": plain,
                         "used": [u1, u2]})
    if a.json:
        a.json.write_text(json.dumps({"threads": a.threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
