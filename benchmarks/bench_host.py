#!/usr/bin/env python3
"""Host run time of the sample kernels against plain serial Rust (ratios in one run).

    .venv/bin/python benchmarks/bench_host.py [--repeat N] [--json PATH]

For saxpy, the stencil and dot, a generated binary `src/bin/bench-host.rs` in a copy of the
sample crate (its support crate pointed at this checkout) times, in one
process, best of N: the kernel launched through `offload!` on the host
(CARGO_MLIR_DEVICE=host) and the same computation as a plain serial Rust loop
built by cargo --release in the same binary. Each bench binary runs with
CARGO_MLIR_HOST_THREADS=1 and =2, built with the default pipeline and with
`raise = ""` (the kernel kept in the LLVM dialect). Targets (issue 15): one
thread within 1.2x of plain serial; two threads faster than plain serial.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUPPORT = REPO / "templates" / "cargo-mlir"
CLI = Path(sys.executable).parent / "cargo-mlir"
if not CLI.exists():
    CLI = REPO / ".venv" / "bin" / "cargo-mlir"

BENCH = {  # sample -> (setup, kernel run, plain serial loop)
    "saxpy": ("let (x, y0) = saxpy::inputs(saxpy::N); let mut y = y0.clone();",
              "saxpy::run(3.0, &x, &mut y);",
              "let a = black_box(3.0f32); for i in 0..y.len() { y[i] = a * x[i] + y[i]; }"),
    "stencil": ("let (n, steps) = (512usize, 10usize);",
                "black_box(stencil::run(black_box(n), steps));",
                "black_box(stencil::reference(black_box(n), steps));"),
    "dot": ("let (x, y) = dot::inputs(1 << 22); let mut s = 0.0;",
            "s += dot::dot(&x, &y);",
            "s += x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>();"),
}


def env(extra: dict[str, str]) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("CARGO_") and k != "CARGO_HOME") and k != "RUSTFLAGS"}
    e["PATH"] = f"{CLI.parent}{os.pathsep}{e.get('PATH', '')}"
    return {**e, **extra}


def run(argv, cwd: Path, extra: dict[str, str] | None = None) -> str:
    p = subprocess.run([str(a) for a in argv], cwd=cwd, env=env(extra or {}), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise SystemExit(f"`{' '.join(map(str, argv))}` in {cwd} failed:\n{p.stdout[-4000:]}")
    return p.stdout


def write_crate(root: Path, name: str, raise_off: bool, repeat: int) -> Path:
    sample = root / name
    shutil.copytree(REPO / "sample_crates" / name, sample, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    text = (sample / "Cargo.toml").read_text().replace('"../../templates/cargo-mlir"', f'"{SUPPORT}"')
    text = re.sub(r"(?m)^offload-arch = .*$", "offload-arch = []", text)   # the host only
    if raise_off:
        text = text.rstrip("\n") + '\n\n[package.metadata.cargo-mlir.pipeline]\nraise = ""\n'
    (sample / "Cargo.toml").write_text(text)
    # the bench is a binary of the sample package itself: kernels of a dependency
    # package would run as plain Rust
    bench = sample
    (bench / "src" / "bin").mkdir(exist_ok=True)
    setup, kernel, plain = BENCH[name]
    (bench / "src" / "bin" / "bench-host.rs").write_text(f"""use std::hint::black_box;
use std::time::Instant;

fn main() {{
    {setup}
    let (mut k, mut p) = (f64::MAX, f64::MAX);
    for _ in 0..{repeat} {{
        let t = Instant::now();
        {{ {kernel} }}
        k = k.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        {{ {plain} }}
        p = p.min(t.elapsed().as_secs_f64());
    }}
    println!("kernel_ms={{:.4}} plain_ms={{:.4}}", k * 1e3, p * 1e3);
}}
""")
    if name == "saxpy":   # y grows by 3x per round in both: keep y's use alive
        main = (bench / "src" / "bin" / "bench-host.rs").read_text().replace(
            'println!(', 'black_box(&y);\n    println!(')
        (bench / "src" / "bin" / "bench-host.rs").write_text(main)
    if name == "dot":
        main = (bench / "src" / "bin" / "bench-host.rs").read_text().replace(
            'println!(', 'black_box(s);\n    println!(')
        (bench / "src" / "bin" / "bench-host.rs").write_text(main)
    return bench


def measure(bench: Path, name: str, threads: int) -> tuple[float, float]:
    out = run([bench / "target" / "release" / "bench-host"], bench,
              {"CARGO_MLIR_DEVICE": "host", "CARGO_MLIR_HOST_THREADS": str(threads), "CARGO_MLIR_LOG": "info"})
    if "MLIR code" not in out:
        raise SystemExit(f"{name}: the kernel did not run MLIR code on the host:\n{out[-2000:]}")
    m = re.search(r"kernel_ms=([\d.]+) plain_ms=([\d.]+)", out)
    if not m:
        raise SystemExit(f"bench-{name}: unexpected output {out!r}")
    return float(m[1]), float(m[2])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="timed rounds per binary run (best of)")
    ap.add_argument("--runs", type=int, default=3, help="binary runs per configuration, interleaved (best of)")
    ap.add_argument("--samples", default=",".join(BENCH))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--support", type=Path, help="the cargo-mlir support crate (default: this checkout's)")
    a = ap.parse_args()
    global SUPPORT
    if a.support:
        SUPPORT = a.support.resolve()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-host-") as tmp:
        built = {}
        for name in a.samples.split(","):
            for variant, off in (("raised", False), ("unraised", True)):
                bench = write_crate(Path(tmp) / variant, name, off, a.repeat)
                run([CLI, "mlir", "build", "--release", "-q"], bench)
                built[name, variant] = bench
        print(f"{'sample':<8} {'pipeline':<9} {'thr':>3} {'kernel ms':>10} {'plain ms':>9} {'kernel/plain':>13}")
        for name in a.samples.split(","):
            for variant in ("raised", "unraised"):
                for threads in (1, 2):
                    ks, ps = [], []
                    for _ in range(a.runs):
                        k, p = measure(built[name, variant], name, threads)
                        ks.append(k)
                        ps.append(p)
                    k, p = min(ks), min(ps)
                    rows.append({"sample": name, "pipeline": variant, "threads": threads,
                                 "kernel_ms": k, "plain_ms": p, "ratio": k / p})
                    print(f"{name:<8} {variant:<9} {threads:>3} {k:10.3f} {p:9.3f} {k / p:13.2f}", flush=True)
    print("(kernel: offload! on the host, CARGO_MLIR_DEVICE=host; plain: the same computation as a serial "
          "Rust loop in the same binary; best of runs x rounds; targets: 1 thread <= 1.2, 2 threads < 1.0)")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
