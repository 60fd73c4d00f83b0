#!/usr/bin/env python3
"""Incremental build overhead of `cargo mlir build` against plain `cargo build`,
measured interleaved in the same run (these machines are noisy: read the
ratios, not the seconds).

    .venv/bin/python benchmarks/bench_noop.py [--repeat 7] [--members 17]

- no-op: a release build of the saxpy sample with nothing changed, as
  `cargo mlir build` (what users type) and as the `cargo-mlir` program alone;
  beside them what cargo itself takes to start any external subcommand (a
  `cargo-nothing` that exits at once), which no subcommand can avoid;
- touch: `src/main.rs` (which has no kernels, but uses the support crate) touched, then built;
- edit one kernel of 32: one kernel's body changed in a crate of 32 kernels
  (host, gfx90a and sm_90), against the plain rebuild plus that kernel's own
  device time (its pipeline stages, from the build's report.json);
- workspace: a cold debug build of a workspace of N small members without
  kernels (plain crates), and the same with every member using the support
  crate (no marked functions): the rustc wrapper's cost per unit.

Targets (issue 15): no-op ≤ 1.5× (goal 1.1×), touch ≤ 1.5×, one kernel of 32
≤ 2× (plain rebuild + its device time), workspace ≤ 1.2×.
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
    """The user's shell: this venv's `cargo-mlir` on PATH, as `cargo mlir` finds it."""
    out = {k: v for k, v in os.environ.items()
           if not (k.startswith("CARGO_") and k != "CARGO_HOME") and k not in ("RUSTFLAGS", "RUSTC_WRAPPER",
                                                                                "RUSTC_WORKSPACE_WRAPPER")}
    out["PATH"] = f"{CLI.parent}{os.pathsep}{out.get('PATH', '')}"
    out.pop("PYTHONDONTWRITEBYTECODE", None)        # an installed package has its bytecode cache
    return out


def timed(argv: list, cwd: Path, before=None, extra: dict[str, str] | None = None) -> float:
    if before:
        before()
    start = time.perf_counter()
    subprocess.run([str(a) for a in argv], cwd=cwd, env={**env(), **(extra or {})}, check=True,
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


KERNELS = 32
EDITED = 7


def many_kernels(root: Path, name: str, scale: int) -> Path:
    """A crate of KERNELS offload kernels; kernel EDITED scales by `scale`."""
    from common import write_manifest
    crate = root / name
    (crate / "src").mkdir(parents=True)
    write_manifest(crate, "many", ("gfx90a", "sm_90"))
    set_scale(crate, scale)
    (crate / "src" / "main.rs").write_text(
        "fn main() {\n    let x: Vec<f32> = (0..4096).map(|i| (i % 7) as f32).collect();\n"
        "    let mut y = vec![1.0f32; 4096];\n    many::run_all(&x, &mut y);\n"
        "    println!(\"{}\", y.iter().map(|&v| v as f64).sum::<f64>());\n}\n")
    return crate


def set_scale(crate: Path, scale: int) -> None:
    kernels, launches = [], []
    for k in range(KERNELS):
        c = scale if k == EDITED else k + 2
        kernels.append(f"#[offload_kernel]\nfn k{k:02}(x: &[f32], y: &mut [f32]) {{\n    let i = gpu::global_id_x();\n"
                       f"    if i < y.len() {{\n        y[i] = x[i] * {c}.0 + y[i] * 0.5;\n    }}\n}}\n")
        launches.append(f"    offload! {{ kernel = k{k:02}, workgroup_dim = [y.len().div_ceil(64) as u32, 1, 1], "
                        f"thread_dim = [64, 1, 1], args = (x, y) }};\n")
    (crate / "src" / "lib.rs").write_text(
        "use cargo_mlir::gpu;\nuse cargo_mlir::offload::{offload, offload_kernel};\n\n" + "\n".join(kernels)
        + "\npub fn run_all(x: &[f32], y: &mut [f32]) {\n" + "".join(launches) + "}\n")


def device_seconds(crate: Path, kernel: str) -> float:
    """One kernel's pipeline time in the last build: its stages once per function,
    and per target (report.json)."""
    import json
    report = json.loads((crate / "target" / "cargo-mlir" / "report.json").read_text())
    shared, total = {}, 0.0
    for k in report["kernels"]:
        if k["kernel"] != kernel or k["test"] or k["cached"]:
            continue
        for stage, t in k["timings"].items():
            if stage in ("extract", "import", "raise", "autodiff"):
                shared[stage] = t
            else:
                total += t
    return total + sum(shared.values())


def edit_one_of_32(root: Path, repeat: int) -> str:
    mlir_crate, plain_crate = many_kernels(root / "mlir", "many", 100), many_kernels(root / "plain", "many", 100)
    for _ in range(2):
        timed(["cargo", "mlir", "build", "--release", "-q"], mlir_crate)
    timed(["cargo", "build", "--release", "-q"], plain_crate)
    m, p, dev = [], [], []
    for r in range(repeat):
        scale = 101 + r
        m.append(timed(["cargo", "mlir", "build", "--release", "-q"], mlir_crate, lambda: set_scale(mlir_crate, scale)))
        dev.append(device_seconds(mlir_crate, f"k{EDITED:02}"))
        p.append(timed(["cargo", "build", "--release", "-q"], plain_crate, lambda: set_scale(plain_crate, scale)))
    m_, p_, d_ = statistics.median(m), statistics.median(p), statistics.median(dev)
    return (f"  {'edit one kernel of 32':<34} cargo mlir {m_:6.3f}s   cargo {p_:6.3f}s + its device time "
            f"{d_:5.3f}s   ratio {m_ / (p_ + d_):5.2f}  (target ≤ 2, median of {repeat})")


def bench(root: Path, repeat: int, members: int) -> list[str]:
    rows = []
    mlir_crate, plain_crate = sample(root / "mlir"), sample(root / "plain")
    build_mlir = ["cargo", "mlir", "build", "--release", "-q"]
    build_plain = ["cargo", "build", "--release", "-q"]
    timed(build_mlir, mlir_crate)
    timed(build_plain, plain_crate)
    timed(build_mlir, mlir_crate)     # the first no-op refreshes cargo-mlir's cached project facts
    timed(build_mlir, mlir_crate)
    m, p = pair(lambda: timed(build_mlir, mlir_crate), lambda: timed(build_plain, plain_crate), repeat)
    rows.append(row("no-op release build (saxpy)", m, p, repeat, 1.5))
    # the same through the cargo-mlir program (cargo's start of a subcommand left out);
    # CARGO as cargo sets it for a subcommand, so that the record of the build above is used
    direct = {"CARGO": subprocess.run(["rustup", "which", "cargo"], capture_output=True, text=True,
                                      cwd=mlir_crate).stdout.strip()}
    if direct["CARGO"]:
        timed([CLI, "mlir", "build", "--release", "-q"], mlir_crate, extra=direct)
        m2, p = pair(lambda: timed([CLI, "mlir", "build", "--release", "-q"], mlir_crate, extra=direct),
                     lambda: timed(build_plain, plain_crate), repeat)
        rows.append(row("no-op, the cargo-mlir program alone", m2, p, repeat, 1.5))
    nothing = root / "bin" / "cargo-nothing"
    nothing.parent.mkdir()
    nothing.write_text("#!/bin/sh\nexit 0\n")
    nothing.chmod(0o755)
    on_path = {"PATH": f"{nothing.parent}{os.pathsep}{env()['PATH']}"}
    d, p = pair(lambda: timed(["cargo", "nothing"], mlir_crate, extra=on_path),
                lambda: timed(build_plain, plain_crate), repeat)
    rows.append(f"  {'(cargo starting any subcommand)':<34} cargo nothing {d:6.3f}s   "
                f"= {d / p:4.2f}× a plain no-op build (included in every `cargo mlir` figure)")

    def touch(crate: Path):
        return lambda: os.utime(crate / "src" / "main.rs")
    m, p = pair(lambda: timed(build_mlir, mlir_crate, touch(mlir_crate)),
                lambda: timed(build_plain, plain_crate, touch(plain_crate)), repeat)
    rows.append(row("touch main.rs (no kernels)", m, p, repeat, 1.5))

    rows.append(edit_one_of_32(root, repeat))

    for support in (False, True):
        ws_m, ws_p = workspace(root / "mlir", members, support), workspace(root / "plain", members, support)
        for ws in (ws_m, ws_p):          # dependencies (the support crate) built once, outside the timing
            subprocess.run(["cargo", "build", "-q"], cwd=ws, env=env(), check=True)

        def clean(ws: Path):
            # the members only: the support crate stays built, as in a user's edit-build loop
            members_p = [a for i in range(members) for a in ("-p", f"m{i:02}")]
            return lambda: subprocess.run(["cargo", "clean", "-q", *members_p], cwd=ws, env=env(), check=True)
        m, p = pair(lambda: timed(["cargo", "mlir", "build", "-q"], ws_m, clean(ws_m)),
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
