#!/usr/bin/env python3
"""Gradient time / primal time of derivatives cargo-mlir makes (ratios measured
in one run, best of N; these machines are noisy: read the ratios).

    .venv/bin/python benchmarks/bench_autodiff.py [--quick] [--budget SECONDS]

A crate generated in a temporary directory (support crate: this checkout's
templates/cargo-mlir) holds, each with `#[autodiff_reverse]`:

- `gmm`: ADBench's Gaussian mixture objective with diagonal covariances kept
  as log-precisions (alphas K, means K×d, qs K×d; n points): Σ_i logsumexp_k
  (α_k + Σ_j q_kj − ½ Σ_j (e^{q_kj} (x_ij − μ_kj))²) − n·logsumexp(α), the
  logsumexp over k computed online (one pass, a data-dependent branch);
  gradient w.r.t. alphas, means and qs;
- `mlp::loss`: the loss of sample_crates/mlp (8 → 32 tanh → 1, batch 256, f32),
  gradient w.r.t. all 321 parameters (a copy of that crate is a member of the
  benchmark's workspace: its derivative is called from another crate);
- `chain`: f(x) = Σ_i sin(x_i)·x_{i+1} + ½x_i² over n = 1000 inputs, whose
  gradient by reverse mode is compared with central differences (2n primal
  calls).

`cargo mlir build --release` builds it; its `main` times the primal (plain
rustc -O3 code: the user's function as written) and the derivative (the
pipeline's code) with std::time::Instant, best of repetitions within a time
budget, and prints one line per case; this script prints the table. The goal
stated by the autodiff issue: gradient ≤ 3× primal (std::autodiff/Enzyme
reaches 2–5× on ADBench).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import CLI, REPO, SUPPORT, clean_env, write_manifest

LIB_RS = r"""
use cargo_mlir::autodiff::autodiff_reverse;

#[autodiff_reverse(d_gmm, Duplicated, Duplicated, Duplicated, Const, Active)]
pub fn gmm(alphas: &[f64], means: &[f64], qs: &[f64], x: &[f64]) -> f64 {
    let k_n = alphas.len();
    let d = means.len() / k_n;
    let n = x.len() / d;
    let mut total = 0.0;
    for i in 0..n {
        let (mut m, mut s) = (f64::NEG_INFINITY, 0.0);
        for k in 0..k_n {
            let mut sum_q = 0.0;
            let mut quad = 0.0;
            for j in 0..d {
                let q = qs[k * d + j];
                sum_q += q;
                let z = q.exp() * (x[i * d + j] - means[k * d + j]);
                quad += z * z;
            }
            let t = alphas[k] + sum_q - 0.5 * quad;
            if t > m {
                s = s * (m - t).exp() + 1.0;
                m = t;
            } else {
                s += (t - m).exp();
            }
        }
        total += m + s.ln();
    }
    let mut am = f64::NEG_INFINITY;
    for &a in alphas {
        am = am.max(a);
    }
    let mut asum = 0.0;
    for &a in alphas {
        asum += (a - am).exp();
    }
    total - n as f64 * (am + asum.ln())
}

#[autodiff_reverse(d_chain, Duplicated, Active)]
pub fn chain(x: &[f64]) -> f64 {
    let n = x.len();
    let mut s = 0.0;
    for i in 0..n {
        s += x[i].sin() * x[(i + 1) % n] + 0.5 * x[i] * x[i];
    }
    s
}
"""

MAIN_RS = r"""
use bench_autodiff::*;
use mlp::{d_loss as d_mlp_loss, loss as mlp_loss, D, P};
use std::hint::black_box;
use std::time::Instant;

fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n).map(|_| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }).collect()
}

/// Best time of `f` in seconds, repeated within `budget` seconds (at least 3 runs).
fn best(budget: f64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0;
    while runs < 3 || start.elapsed().as_secs_f64() < budget {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let budget: f64 = args[1].parse().unwrap();
    let cases: Vec<(usize, usize)> = args[2].split(',').map(|c| {
        let (d, k) = c.split_once('x').unwrap();
        (d.parse().unwrap(), k.parse().unwrap())
    }).collect();
    let n = 1000;
    for &(d, k) in &cases {
        let (alphas, means, qs, x) = (data(k, 1), data(k * d, 2), data(k * d, 3).iter().map(|v| v * 0.1).collect::<Vec<_>>(), data(n * d, 4));
        let (mut da, mut dm, mut dq) = (vec![0.0; k], vec![0.0; k * d], vec![0.0; k * d]);
        let p = best(budget, || { black_box(gmm(black_box(&alphas), &means, &qs, &x)); });
        let g = best(budget, || {
            black_box(d_gmm(black_box(&alphas), &mut da, &means, &mut dm, &qs, &mut dq, &x, 1.0));
        });
        println!("gmm d={d} K={k} n={n}\t{p:.3e}\t{g:.3e}");
    }
    let mut xs = vec![0.0f32; 256 * D];
    let mut ys = vec![0.0f32; 256];
    for (i, v) in xs.iter_mut().enumerate() { *v = ((i * 7919 % 1000) as f32) / 500.0 - 1.0; }
    for (i, v) in ys.iter_mut().enumerate() { *v = ((i * 104729 % 1000) as f32) / 1000.0; }
    let params: Vec<f32> = (0..P).map(|i| ((i * 31 % 97) as f32) / 97.0 - 0.5).collect();
    let mut dp = vec![0.0f32; P];
    let p = best(budget, || { black_box(mlp_loss(black_box(&params), &xs, &ys)); });
    let g = best(budget, || { black_box(d_mlp_loss(black_box(&params), &mut dp, &xs, &ys, 1.0)); });
    println!("mlp loss P={P} batch=256\t{p:.3e}\t{g:.3e}");
    let x = data(1000, 5);
    let mut dx = vec![0.0; 1000];
    let p = best(budget, || { black_box(chain(black_box(&x))); });
    let g = best(budget, || { black_box(d_chain(black_box(&x), &mut dx, 1.0)); });
    let fd = best(budget, || {
        let mut y = x.clone();
        for i in 0..y.len() {
            let h = 1e-6;
            let v = y[i];
            y[i] = v + h;
            let a = chain(black_box(&y));
            y[i] = v - h;
            let b = chain(black_box(&y));
            y[i] = v;
            black_box((a - b) / (2.0 * h));
        }
    });
    println!("chain n=1000\t{p:.3e}\t{g:.3e}\t{fd:.3e}");
}
"""

FULL = "10x5,10x25,20x10,32x50,64x5,64x50"
QUICK = "10x5,64x50"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"GMM sizes {QUICK} and a shorter budget")
    ap.add_argument("--budget", type=float, help="seconds per timing (default 1.0, --quick 0.3)")
    ap.add_argument("--sizes", help=f"GMM d x K list (default {FULL})")
    args = ap.parse_args()
    budget = args.budget or (0.3 if args.quick else 1.0)
    sizes = args.sizes or (QUICK if args.quick else FULL)
    with tempfile.TemporaryDirectory(prefix="bench-autodiff-") as tmp:
        # a workspace: cargo-mlir builds the device code of workspace members
        (Path(tmp) / "Cargo.toml").write_text('[workspace]\nmembers = ["bench_autodiff", "mlp"]\nresolver = "2"\n')
        mlp = Path(tmp) / "mlp"
        shutil.copytree(REPO / "sample_crates" / "mlp", mlp, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
        (mlp / "Cargo.toml").write_text((mlp / "Cargo.toml").read_text().replace(
            'path = "../../templates/cargo-mlir"', f'path = "{SUPPORT}"'))
        crate = Path(tmp) / "bench_autodiff"
        (crate / "src").mkdir(parents=True)
        write_manifest(crate, "bench_autodiff")
        manifest = (crate / "Cargo.toml").read_text()
        (crate / "Cargo.toml").write_text(manifest.replace("[dependencies]\n", '[dependencies]\nmlp = { path = "../mlp" }\n'))
        (crate / "src" / "lib.rs").write_text(LIB_RS)
        (crate / "src" / "main.rs").write_text(MAIN_RS)
        env = clean_env()
        build = subprocess.run([CLI, "mlir", "build", "--release", "-q"], cwd=crate, env=env, text=True,
                               capture_output=True)
        if build.returncode != 0:
            print(build.stdout + build.stderr, file=sys.stderr)
            return 1
        ran = subprocess.run([Path(tmp) / "target" / "release" / "bench_autodiff", str(budget), sizes], cwd=crate,
                             env=env, text=True, capture_output=True)
        if ran.returncode != 0:
            print(ran.stdout + ran.stderr, file=sys.stderr)
            return 1
    print(f"{'case':<28} {'primal':>11} {'gradient':>11} {'grad/primal':>12}")
    for line in ran.stdout.splitlines():
        name, *times = line.split("\t")
        p, g = float(times[0]), float(times[1])
        print(f"{name:<28} {p * 1e6:>9.1f}µs {g * 1e6:>9.1f}µs {g / p:>11.2f}×")
        if len(times) > 2:
            fd = float(times[2])
            print(f"{'  central differences':<28} {'':>11} {fd * 1e6:>9.1f}µs {fd / p:>11.2f}×   "
                  f"(reverse mode is {fd / g:.0f}× faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
