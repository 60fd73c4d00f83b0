#!/usr/bin/env python3
"""Device-pipeline figures of cargo-mlir, as ratios measured in one run (these
machines are noisy: read the ratios, not the seconds).

    .venv/bin/python benchmarks/bench_pipeline.py [--quick] [--json PATH]

1. Cold device step, parallel vs serial: a generated crate with 32 distinct
   `#[offload_kernel]` functions × 3 targets (host, gfx90a, sm_90), built with
   `cargo mlir build --release -v` after deleting `target/cargo-mlir` (the device
   cache and state), with CARGO_MLIR_JOBS=1 and with the default (all cores).
   The device step is timed from cargo-mlir's `Lowering N functions of …` line
   to its `Linking device code …` line (read line by line as they are printed);
   cargo's own work is not counted. Best of N. Target: ≥ 1.6× on 2 cores.
2. Host run time of the sample kernels, raised vs not raised: each sample crate
   built with the default pipeline and with `[package.metadata.cargo-mlir.pipeline]
   raise = ""` (the kernel stays in the LLVM dialect), and with plain `cargo build`
   for reference; the binaries are run alternately with CARGO_MLIR_DEVICE=host,
   best of N each. Target: raised/unraised ≤ 1.0 within noise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import CLI, REPO, SUPPORT, clean_env, write_manifest

SAMPLES = ("saxpy", "stencil", "dot")
N_KERNELS = 32
ARCHES = ("gfx90a", "sm_90")




class CommandFailed(Exception):
    def __init__(self, argv: list, cwd: Path, rc: int, output: str):
        self.argv, self.cwd, self.rc, self.output = argv, cwd, rc, output
        tail = "\n".join(output.rstrip().splitlines()[-40:])
        super().__init__(f"`{' '.join(map(str, argv))}` in {cwd} exited with {rc}:\n{tail}")


def run(argv: list, cwd: Path, extra: dict[str, str] | None = None) -> str:
    """Runs a command, returns stdout+stderr; raises CommandFailed with the output."""
    p = subprocess.run([str(a) for a in argv], cwd=cwd, env=clean_env(extra), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise CommandFailed(argv, cwd, p.returncode, p.stdout)
    return p.stdout


def timed(argv: list, cwd: Path, extra: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    out = run(argv, cwd, extra)
    return time.perf_counter() - start, out


def timed_lines(argv: list, cwd: Path, extra: dict[str, str] | None = None) -> tuple[float, list[tuple[float, str]]]:
    """Runs a command, reading its merged output line by line; returns the wall
    time and each line with the time (from the start) it arrived."""
    start = time.perf_counter()
    p = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=clean_env(extra), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    assert p.stdout is not None
    for line in p.stdout:
        lines.append((time.perf_counter() - start, line.rstrip("\n")))
    rc = p.wait()
    wall = time.perf_counter() - start
    if rc != 0:
        raise CommandFailed(argv, cwd, rc, "\n".join(l for _, l in lines))
    return wall, lines


# ---------------------------------------------------------------- fixture: 32 kernels

ELEMENTWISE = [  # (expression for y[i], in terms of a, x[i], y[i]; constant c)
    "x[i] * {c} + a * y[i]",
    "a * x[i] - {c} * y[i]",
    "(x[i] + {c}) * (y[i] - a)",
    "x[i] * x[i] * {c} + a",
    "(y[i] + a) / ({c} + x[i] * x[i])",
    "x[i] - y[i] * {c} + a * {c}",
]


def _c(k: int, scale: float = 0.125) -> str:
    return f"{1.0 + scale * (k % 11) + 0.0078125 * k:.7f}f32"


def kernel_source(k: int) -> tuple[str, str]:
    """The k-th kernel (distinct body and constants) and its launch in main."""
    c, c2 = _c(k), _c(k + 5, 0.25)
    kind = k % 4
    one_d = "workgroup_dim = [n.div_ceil(64) as u32, 1, 1],\n        thread_dim = [64, 1, 1],"
    two_d = "workgroup_dim = [d.div_ceil(8) as u32, d.div_ceil(8) as u32, 1],\n        thread_dim = [8, 8, 1],"
    if kind == 0:       # element-wise, different ops and constants
        expr = ELEMENTWISE[(k // 4) % len(ELEMENTWISE)].format(c=c)
        body = f"""#[offload_kernel]
fn k{k:02}_elementwise(a: f32, x: &[f32], y: &mut [f32]) {{
    let i = gpu::global_id_x();
    if i < y.len() {{
        y[i] = {expr};
    }}
}}"""
        launch = f"k{k:02}_elementwise", one_d, f"({_c(k + 3)}, &x[..n], &mut y[..])"
    elif kind == 1:     # element-wise with a select
        op = ("+", "-", "*")[(k // 4) % 3]
        body = f"""#[offload_kernel]
fn k{k:02}_select(t: f32, x: &[f32], y: &mut [f32]) {{
    let i = gpu::global_id_x();
    if i >= y.len() {{
        return;
    }}
    y[i] = if x[i] > t {{ x[i] * {c} {op} y[i] }} else {{ y[i] - {c2} }};
}}"""
        launch = f"k{k:02}_select", one_d, f"({1.0 + (k % 5):.1f}f32, &x[..n], &mut y[..])"
    elif kind == 2:     # a small loop with a scalar accumulator
        if (k // 4) % 2 == 0:
            loop = f"""let mut acc = 0.0f32;
        for p in 0..m {{
            acc += x[i * m + p] * {c};
        }}
        y[i] = acc + {c2} * y[i];"""
        else:           # Horner's rule on x[i], m terms
            loop = f"""let v = x[i] * 0.125;
        let mut acc = {c2};
        for _ in 0..m {{
            acc = acc * v + {c};
        }}
        y[i] = acc - y[i];"""
        body = f"""#[offload_kernel]
fn k{k:02}_loop(m: usize, x: &[f32], y: &mut [f32]) {{
    let i = gpu::global_id_x();
    if i < y.len() {{
        {loop}
    }}
}}"""
        launch = f"k{k:02}_loop", one_d, "(m, &x[..], &mut y[..])"
    else:               # 2-D, i*n+j indexing
        variant = (k // 4) % 3
        if variant == 0:    # transpose-add
            inner = f"b[i * n + j] = a[j * n + i] * {c} + b[i * n + j];"
        elif variant == 1:  # 3-point horizontal stencil with a fixed boundary
            inner = (f"b[i * n + j] = if j == 0 || j == n - 1 {{ a[i * n + j] }} else {{\n"
                     f"            {c} * a[i * n + j] - 0.25 * (a[i * n + j - 1] + a[i * n + j + 1])\n        }};")
        else:               # a row reduction into column 0 of each row's threads
            inner = (f"let mut acc = 0.0f32;\n        for p in 0..n {{\n"
                     f"            acc += a[i * n + p] * {c};\n        }}\n"
                     f"        b[i * n + j] = acc - a[i * n + j];")
        body = f"""#[offload_kernel]
fn k{k:02}_grid(n: usize, a: &[f32], b: &mut [f32]) {{
    let j = gpu::global_id_x();
    let i = gpu::global_id_y();
    if i < n && j < n {{
        {inner}
    }}
}}"""
        launch = f"k{k:02}_grid", two_d, "(d, &g[..], &mut h[..])"
    name, dims, args = launch
    call = f"""    offload! {{
        kernel = {name},
        {dims}
        args = {args},
    }};"""
    return body, call


def write_fixture(crate: Path) -> None:
    (crate / "src").mkdir(parents=True)
    write_manifest(crate, "pipeline-bench", ARCHES)
    kernels, calls = zip(*(kernel_source(k) for k in range(N_KERNELS)))
    (crate / "src" / "main.rs").write_text(
        f"//! {N_KERNELS} distinct kernels, each launched once (generated by benchmarks/bench_pipeline.py).\n\n"
        "use cargo_mlir::gpu;\nuse cargo_mlir::offload::{offload, offload_kernel};\n\n"
        + "\n\n".join(kernels) + "\n\n"
        "fn main() {\n"
        "    let (n, m, d) = (1usize << 12, 8usize, 64usize);\n"
        "    let x: Vec<f32> = (0..n * m).map(|i| (i % 13) as f32 * 0.25).collect();\n"
        "    let mut y: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32).collect();\n"
        "    let g: Vec<f32> = (0..d * d).map(|i| (i % 9) as f32 * 0.5).collect();\n"
        "    let mut h = vec![0.5f32; d * d];\n"
        + "\n".join(calls) + "\n"
        "    let checksum: f64 = y.iter().chain(&h).map(|&v| v as f64).sum();\n"
        "    println!(\"pipeline-bench kernels=" + str(N_KERNELS) + " checksum={checksum:.3}\");\n"
        "}\n")


# ---------------------------------------------------------------- 1. parallel vs serial

def device_seconds(lines: list[tuple[float, str]]) -> float | None:
    """From the first `Lowering …` line to the `Linking device code …` line."""
    low = next((t for t, l in lines if l.strip().startswith("Lowering ")), None)
    link = next((t for t, l in lines if l.strip().startswith("Linking device code")), None)
    if low is None or link is None or link < low:
        return None
    return link - low


def cold_device_build(crate: Path, jobs: str | None) -> dict:
    shutil.rmtree(crate / "target" / "cargo-mlir", ignore_errors=True)
    extra = {"CARGO_MLIR_JOBS": jobs} if jobs else {}
    wall, lines = timed_lines([CLI, "mlir", "build", "--release", "-v"], crate, extra)
    lowering = next((l.strip() for _, l in lines if l.strip().startswith("Lowering ")), "")
    compiled = sum(1 for _, l in lines if l.strip().startswith("Compiled "))
    return {"wall": wall, "device": device_seconds(lines), "lowering": lowering, "compiled": compiled}


def bench_parallel(root: Path, repeat: int) -> dict:
    crate = root / "pipeline-bench"
    write_fixture(crate)
    print(f"  fixture: {crate} ({N_KERNELS} kernels × host+{'+'.join(ARCHES)}); warming cargo ...", flush=True)
    run(["cargo", "build", "--release", "-q"], crate)
    first = cold_device_build(crate, None)   # warms cargo-mlir's own imports, the wrapper's cargo units
    print(f"  warm-up: {first['lowering'] or '(no Lowering line)'}; {first['compiled']} kernel×target lines", flush=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    serial, parallel = [], []
    for r in range(repeat):                  # alternate, so drift hits both alike
        s = cold_device_build(crate, "1")
        p = cold_device_build(crate, None)
        serial.append(s)
        parallel.append(p)
        fmt = lambda b: f"{b['device']:.2f}s" if b["device"] is not None else "n/a"
        print(f"  run {r + 1}/{repeat}: serial device {fmt(s)} (command {s['wall']:.2f}s)   "
              f"parallel device {fmt(p)} (command {p['wall']:.2f}s)", flush=True)
    method = "timestamps of the Lowering and Linking lines"
    if all(b["device"] is not None for b in serial + parallel):
        s_best = min(b["device"] for b in serial)
        p_best = min(b["device"] for b in parallel)
    else:
        # fallback: the whole command less a no-op plain cargo build of the same crate
        method = "whole command minus a no-op `cargo build --release`"
        noop = min(timed(["cargo", "build", "--release", "-q"], crate)[0] for _ in range(repeat))
        s_best = min(b["wall"] for b in serial) - noop
        p_best = min(b["wall"] for b in parallel) - noop
    result = {"kernels": N_KERNELS, "targets": 1 + len(ARCHES), "cores": cores, "repeat": repeat,
              "method": method, "serial_s": s_best, "parallel_s": p_best, "speedup": s_best / p_best,
              "serial_runs": serial, "parallel_runs": parallel}
    print(f"  device step ({method}), best of {repeat}:")
    print(f"    serial (CARGO_MLIR_JOBS=1)   {s_best:7.2f}s")
    print(f"    parallel (default, {cores} cores) {p_best:7.2f}s")
    print(f"    speed-up                     {s_best / p_best:7.2f}x   (target ≥ 1.6x on 2 cores)", flush=True)
    return result


# ---------------------------------------------------------------- 2. raised vs not raised

def prepare(name: str, root: Path, raise_off: bool = False) -> Path:
    crate = root / name
    shutil.copytree(REPO / "sample_crates" / name, crate, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    manifest = crate / "Cargo.toml"
    text = manifest.read_text().replace('"../../templates/cargo-mlir"', f'"{SUPPORT}"')
    if raise_off:
        text = text.rstrip("\n") + '\n\n[package.metadata.cargo-mlir.pipeline]\nraise = ""\n'
    manifest.write_text(text)
    return crate


def raise_notes(crate: Path) -> list[str]:
    """What report.json says about raising (findings that mention it), per kernel."""
    try:
        report = json.loads((crate / "target" / "cargo-mlir" / "report.json").read_text())
    except (OSError, ValueError):
        return []
    notes = {}
    for k in report.get("kernels", []):
        for f in k.get("findings", []):
            if "raise" in f["message"].lower():
                notes.setdefault(f"{k['kernel']}: {f['message']}", None)
    return list(notes)


def bench_raise(name: str, root: Path, repeat: int) -> dict:
    crates = {"raised": prepare(name, root / "raised"), "unraised": prepare(name, root / "unraised", True),
              "plain": prepare(name, root / "plain")}
    for variant in ("raised", "unraised"):
        run([CLI, "mlir", "build", "--release", "-q"], crates[variant])
    run(["cargo", "build", "--release", "-q"], crates["plain"])
    notes = {v: raise_notes(crates[v]) for v in ("raised", "unraised")}
    device = {"CARGO_MLIR_DEVICE": "host"}
    outputs = {v: run([crates[v] / "target" / "release" / name], crates[v], device).strip() for v in crates}
    same = outputs["raised"] == outputs["unraised"]
    times: dict[str, list[float]] = {v: [] for v in crates}
    for _ in range(repeat):                  # alternately
        for v in crates:
            t, out = timed([crates[v] / "target" / "release" / name], crates[v], device)
            times[v].append(t)
    best = {v: min(ts) * 1000 for v, ts in times.items()}
    instr = {v: instructions(crates[v] / "target" / "release" / name, crates[v]) for v in crates}
    return {"crate": name, "raised_ms": best["raised"], "unraised_ms": best["unraised"], "plain_ms": best["plain"],
            "ratio": best["raised"] / best["unraised"], "same_output": same, "outputs": outputs,
            "instructions": instr,
            "instr_ratio": instr["raised"] / instr["unraised"] if instr["raised"] and instr["unraised"] else None,
            "plain_matches": outputs["plain"] == outputs["raised"], "notes": notes,
            "runs_ms": {v: [t * 1000 for t in ts] for v, ts in times.items()}}


def instructions(binary: Path, cwd: Path) -> int | None:
    """Instructions of one whole run on one host thread (valgrind's callgrind):
    the same count every time, whatever else the machine is doing."""
    if not shutil.which("valgrind"):
        return None
    out = cwd / "callgrind.out"
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(binary)], cwd=cwd,
                          env=clean_env({"CARGO_MLIR_DEVICE": "host", "CARGO_MLIR_HOST_THREADS": "1"}),
                          capture_output=True, text=True)
    m = re.search(r"Collected : (\d+)", proc.stderr)
    return int(m.group(1)) if m else None


def bench_raising(root: Path, samples: list[str], repeat: int) -> list[dict]:
    rows = []
    print(f"  {'crate':<9} {'raised ms':>10} {'unraised ms':>12} {'plain ms':>10} {'raised/unraised':>16} "
          f"{'instr. ratio':>14}  output")
    for name in samples:
        try:
            r = bench_raise(name, root / name, repeat)
        except CommandFailed as exc:
            print(f"  {name:<9} FAILED: {exc}", flush=True)
            rows.append({"crate": name, "error": str(exc)})
            continue
        check = "same checksum" if r["same_output"] else "DIFFERENT OUTPUT"
        if not r["plain_matches"]:
            check += " (plain cargo differs)"
        ir = f"{r['instr_ratio']:.2f}" if r["instr_ratio"] else "n/a"
        print(f"  {name:<9} {r['raised_ms']:10.1f} {r['unraised_ms']:12.1f} {r['plain_ms']:10.1f} "
              f"{r['ratio']:16.2f} {ir:>14}  {check}", flush=True)
        rows.append(r)
    print(f"  (best of {repeat} runs each, CARGO_MLIR_DEVICE=host, {os.cpu_count()} cores; instr. ratio: "
          f"raised/unraised instructions of a whole run on one thread (callgrind); target ≤ 1.0)")
    for r in rows:
        if "error" in r:
            continue
        if not r["same_output"]:
            print(f"  {r['crate']}: raised prints {r['outputs']['raised']!r}, unraised {r['outputs']['unraised']!r}")
        for n in r["notes"]["raised"]:
            print(f"  note, {r['crate']} default pipeline: {n if len(n) <= 200 else n[:197] + '...'}")
    return rows


def load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def busy_warning(before: float, after: float, cores: int) -> str | None:
    """The 1-minute load average says whether other work shared the cores with this benchmark."""
    if max(before, after) > 0.5 * cores + 1.0:
        return (f"  WARNING: the machine was busy (1-min load average {before:.1f} before, {after:.1f} after, "
                f"{cores} cores): other processes competed for the cores, so these figures understate "
                f"what parallelism (and skew run times) can give")
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions (1 cold build each, 3 runs each)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    p.add_argument("--samples", default=",".join(SAMPLES), help="sample crates for part 2")
    p.add_argument("--skip", choices=("parallel", "raising"), action="append", default=[],
                   help="skip a part (repeatable)")
    args = p.parse_args()
    cold_n, run_n = (1, 3) if args.quick else (3, 7)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    figures: dict = {"quick": args.quick, "cores": cores}
    print(f"cargo-mlir {CLI}; {cores} cores; 1-min load average {load():.1f} at the start", flush=True)
    failed = False
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cargo-mlir-bench-pipeline-") as tmp:
        root = Path(tmp)
        if "parallel" not in args.skip:
            print(f"== 1. Cold device step, parallel vs serial ({N_KERNELS} kernels × {1 + len(ARCHES)} targets) ==",
                  flush=True)
            before = load()
            try:
                figures["parallel"] = bench_parallel(root / "parallel", cold_n)
            except CommandFailed as exc:
                failed = True
                print(f"  FAILED: {exc}", flush=True)
                figures["parallel"] = {"error": str(exc)}
            figures["parallel"]["load_average"] = [before, load()]
            warn = busy_warning(before, load(), cores)
            if warn:
                print(warn)
                warnings.append(warn)
            print()
        if "raising" not in args.skip:
            print("== 2. Host run time of the sample kernels: raised vs not raised ==", flush=True)
            before = load()
            figures["raising"] = bench_raising(root / "raising", args.samples.split(","), run_n)
            figures["raising_load_average"] = [before, load()]
            warn = busy_warning(before, load(), cores)
            if warn:
                print(warn)
                warnings.append(warn)
            failed |= any("error" in r for r in figures["raising"])
            print()
    print("== Summary ==")
    par = figures.get("parallel")
    if par and "error" not in par:
        ok = "meets" if par["speedup"] >= 1.6 else "BELOW"
        print(f"  device step speed-up, parallel vs serial: {par['speedup']:.2f}x on {par['cores']} cores "
              f"({par['serial_s']:.2f}s → {par['parallel_s']:.2f}s; {ok} the ≥ 1.6x target)")
    elif par:
        print("  device step speed-up: failed (see above)")
    rows = [r for r in figures.get("raising", []) if "error" not in r]
    if rows:
        geo = 1.0
        for r in rows:
            geo *= r["ratio"]
        geo **= 1 / len(rows)
        figures["raised_over_unraised_geomean"] = geo
        worst = max(rows, key=lambda r: r["ratio"])
        each = ", ".join(f"{r['crate']} {r['ratio']:.2f}" for r in rows)
        print(f"  host run time raised/unraised: geometric mean {geo:.2f} ({each}; worst {worst['crate']}; "
              f"target ≤ 1.0 within noise)")
        counted = [r for r in rows if r.get("instr_ratio")]
        if counted:
            each = ", ".join(f"{r['crate']} {r['instr_ratio']:.2f}" for r in counted)
            print(f"  host instructions raised/unraised (callgrind, one thread, whole run): {each}")
    for w in warnings:
        print(w)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))
        print(f"  figures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
