#!/usr/bin/env python3
"""Incremental build overhead of `cargo mlir build` against plain `cargo build`,
measured interleaved in the same run (these machines are noisy: read the
ratios, not the seconds).

    .venv/bin/python benchmarks/bench_noop.py [--repeat 7] [--members 17]

- no-op: a release build of the saxpy sample with nothing changed;
- touch: `src/main.rs` (which has no kernels, but uses the support crate) touched, then built;
- workspace: a cold debug build of a workspace of N small members without
  kernels (plain crates), and the same with every member using the support
  crate (no marked functions): the rustc wrapper's cost per unit.

Targets (issue 15): no-op ≤ 1.5× (goal 1.1×), touch ≤ 1.5×, workspace ≤ 1.2×.
"""

from __future__ import annotations

import argparse
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
SUPPORT = REPO / "templates" / "cargo-mlir"


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("CARGO_") and k != "CARGO_HOME") and k not in ("RUSTFLAGS", "RUSTC_WRAPPER",
                                                                                 "RUSTC_WORKSPACE_WRAPPER")}


def timed(argv: list, cwd: Path, before=None) -> float:
    if before:
        before()
    start = time.perf_counter()
    subprocess.run([str(a) for a in argv], cwd=cwd, env=env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def pair(mlir, plain, repeat: int) -> tuple[float, float]:
    """Medians of `repeat` interleaved runs of each."""
    m, p = [], []
    for _ in range(repeat):
        m.append(mlir())
        p.append(plain())
    return statistics.median(m), statistics.median(p)


def row(what: str, m: float, p: float, repeat: int, target: float) -> str:
    return (f"  {what:<34} cargo mlir {m:6.3f}s   cargo {p:6.3f}s   ratio {m / p:5.2f}  "
            f"(target ≤ {target}, median of {repeat})")


def sample(root: Path, name: str = "saxpy") -> Path:
    crate = root / name
    shutil.copytree(REPO / "sample_crates" / name, crate, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('"../../templates/cargo-mlir"', f'"{SUPPORT}"'))
    return crate


def workspace(root: Path, members: int, support: bool) -> Path:
    ws = root / ("ws-support" if support else "ws-plain")
    names = [f"m{i:02}" for i in range(members)]
    (ws).mkdir(parents=True)
    (ws / "Cargo.toml").write_text('[workspace]\nresolver = "2"\nmembers = ["crates/*"]\n')
    for i, n in enumerate(names):
        d = ws / "crates" / n
        (d / "src").mkdir(parents=True)
        deps = [f'{names[j]} = {{ path = "../{names[j]}" }}' for j in range(max(0, i - 2), i)]
        if support:
            deps.append(f'cargo-mlir = {{ path = "{SUPPORT}" }}')
        (d / "Cargo.toml").write_text(f'[package]\nname = "{n}"\nversion = "0.1.0"\nedition = "2021"\n'
                                      f'publish = false\n\n[dependencies]\n' + "\n".join(deps) + "\n")
        uses = "".join(f"    let s = s + {names[j]}::value(x);\n" for j in range(max(0, i - 2), i))
        (d / "src" / "lib.rs").write_text(
            f"pub fn value(x: u64) -> u64 {{\n    let s = x.wrapping_mul({i + 3});\n{uses}"
            "    (0..x % 64).fold(s, |a, b| a.rotate_left(3) ^ b)\n}\n")
    return ws


def bench(root: Path, repeat: int, members: int) -> list[str]:
    rows = []
    mlir_crate, plain_crate = sample(root / "mlir"), sample(root / "plain")
    build_mlir = [CLI, "mlir", "build", "--release", "-q"]
    build_plain = ["cargo", "build", "--release", "-q"]
    timed(build_mlir, mlir_crate)
    timed(build_plain, plain_crate)
    timed(build_mlir, mlir_crate)     # the first no-op refreshes cargo-mlir's cached project facts
    m, p = pair(lambda: timed(build_mlir, mlir_crate), lambda: timed(build_plain, plain_crate), repeat)
    rows.append(row("no-op release build (saxpy)", m, p, repeat, 1.5))

    def touch(crate: Path):
        return lambda: os.utime(crate / "src" / "main.rs")
    m, p = pair(lambda: timed(build_mlir, mlir_crate, touch(mlir_crate)),
                lambda: timed(build_plain, plain_crate, touch(plain_crate)), repeat)
    rows.append(row("touch main.rs (no kernels)", m, p, repeat, 1.5))

    for support in (False, True):
        ws_m, ws_p = workspace(root / "mlir", members, support), workspace(root / "plain", members, support)
        for ws in (ws_m, ws_p):          # dependencies (the support crate) built once, outside the timing
            subprocess.run(["cargo", "build", "-q"], cwd=ws, env=env(), check=True)

        def clean(ws: Path):
            # the members only: the support crate stays built, as in a user's edit-build loop
            members_p = [a for i in range(members) for a in ("-p", f"m{i:02}")]
            return lambda: subprocess.run(["cargo", "clean", "-q", *members_p], cwd=ws, env=env(), check=True)
        m, p = pair(lambda: timed([CLI, "mlir", "build", "-q"], ws_m, clean(ws_m)),
                    lambda: timed(["cargo", "build", "-q"], ws_p, clean(ws_p)), repeat)
        what = f"{members}-member workspace, {'support crate' if support else 'plain crates'}"
        rows.append(row(what, m, p, repeat, 1.2))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--members", type=int, default=17)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="cargo-mlir-bench-noop-") as tmp:
        print(f"{os.cpu_count()} cores")
        for r in bench(Path(tmp), args.repeat, args.members):
            print(r, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
