"""Numerical proof for the raise stage: Rust kernels compiled by rustc to LLVM
IR (the accelerate entry shape: (ptr, len) pairs made into slices), imported
with debug locations, raised, lowered with the host pipeline's passes and
llc, and linked into a Rust program that compares each raised function with
the same Rust code bit for bit (fixtures/raise_exec).

Two objects are linked: `raised_*` keep the original code as the slow path;
`declining_*` have it replaced by "set a flag, return zero", as the accelerate
entry stage does, so the program sees which path ran and that a declined call
wrote nothing. A call whose preconditions fail must run the original code:
with panic=abort it aborts with Rust's own bounds-check message."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

ir = pytest.importorskip("mlir.ir")
from mlir.passmanager import PassManager  # noqa: E402

from cargo_mlir.pipeline.stages.raise_ import raise_function  # noqa: E402

pytestmark = pytest.mark.e2e
FIXTURE = Path(__file__).parent / "fixtures" / "raise_exec"
KERNELS = ["mm_ijk", "mm_ikj", "dot", "stencil", "saxpy", "mm_raw", "scale2d", "sum", "find", "prefix",
           "membound", "overlap_raw"]
GRID_KERNELS = ["grid_stencil", "grid_saxpy", "grid_window"]   # no loop: one call per grid point
PREFIX = "__cargo_mlir_accel_"
RUSTC_IR = ["--crate-type=lib", "--edition=2021", "-C", "opt-level=3", "-C", "no-vectorize-loops",
            "-C", "no-vectorize-slp", "-C", "llvm-args=-unroll-runtime=false",
            "-C", "llvm-args=-unroll-threshold=0", "-C", "panic=abort", "-C", "debuginfo=1",
            "--emit=llvm-ir"]
LOWER = ("builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,"
         "convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-ub-to-llvm,"
         "convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)")
TOOLS = {t: shutil.which(f"{t}-22") for t in ("mlir-translate", "mlir-opt", "llc")}


def sh(cmd, cwd=None, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd[0]} failed:\n{r.stderr[-4000:]}"
    return r


def _decline(text: str, slows: dict[str, list[str]]) -> str:
    """Each slow function becomes "set RAISE_DECLINED, return zero" (entry.py's _decline)."""
    stubs = []
    with ir.Context() as ctx:
        m = ir.Module.parse(text, ctx)
        for op in list(m.body.operations):
            name = ir.StringAttr(op.attributes["sym_name"]).value if "sym_name" in op.attributes else ""
            if name not in slows:
                continue
            args = [str(a.type) for a in list(op.regions[0].blocks)[0].arguments]
            op.operation.erase()
            results = slows[name]
            params = ", ".join(f"%x{i}: {t}" for i, t in enumerate(args))
            ret = f" -> {results[0]}" if results else ""
            tail = (f"    %z = llvm.mlir.zero : {results[0]}\n    llvm.return %z : {results[0]}"
                    if results else "    llvm.return")
            stubs.append(f"  llvm.func internal @{name}({params}){ret} {{\n"
                         "    %flag = llvm.mlir.addressof @RAISE_DECLINED : !llvm.ptr\n"
                         "    %yes = llvm.mlir.constant(1 : i8) : i8\n"
                         f"    llvm.store %yes, %flag : i8, !llvm.ptr\n{tail}\n  }}\n")
        text = m.operation.get_asm(assume_verified=True)
    stubs.append("  llvm.mlir.global external @RAISE_DECLINED() {addr_space = 0 : i32} : i8\n")
    head, end = text.rstrip().rsplit("}", 1)
    return head + "".join(stubs) + "}" + end + "\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    missing = [t for t, p in TOOLS.items() if p is None]
    if missing or shutil.which("rustc") is None:
        pytest.skip(f"needs rustc and {', '.join(missing) or 'LLVM 22 tools'}")
    work = tmp_path_factory.mktemp("raise_exec")
    shutil.copy(FIXTURE / "kernels.rs", work / "kernels.rs")
    sh(["rustc", *RUSTC_IR, "-o", "kernels.ll", "kernels.rs"], cwd=work)
    sh([TOOLS["mlir-translate"], "--import-llvm", "--mlir-print-debuginfo", "kernels.ll",
        "-o", "kernels.mlir"], cwd=work)
    reports, variants = {}, {}
    with ir.Context() as ctx, ir.Location.unknown():
        module = ir.Module.parse((work / "kernels.mlir").read_text(), ctx)
        results = {}
        for k in KERNELS + GRID_KERNELS:
            reports[k] = raise_function(module, PREFIX + k)
        for k in KERNELS + GRID_KERNELS:
            f = next(o for o in module.body.operations if "sym_name" in o.attributes
                     and ir.StringAttr(o.attributes["sym_name"]).value == PREFIX + k)
            if f.operation.name == "func.func":
                results[k] = [str(t) for t in ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value).results]
        # entry.py strips debug info before lowering; so do we
        PassManager.parse("builtin.module(strip-debuginfo)").run(module.operation)
        raised_text = str(module)
    (work / "raised.mlir").write_text(raised_text)
    declining = _decline(raised_text, {r.slow_symbol: results[k] for k, r in reports.items() if r.raised})
    variants = {"raised": raised_text, "declining": declining}
    objs = []
    for name, text in variants.items():
        text = text.replace(f"@{PREFIX}", f"@{name}_")
        (work / f"{name}.mlir").write_text(text)
        sh([TOOLS["mlir-opt"], f"--pass-pipeline={LOWER}", f"{name}.mlir", "-o", f"{name}.low.mlir"], cwd=work)
        sh([TOOLS["mlir-translate"], "--mlir-to-llvmir", f"{name}.low.mlir", "-o", f"{name}.ll"], cwd=work)
        sh([TOOLS["llc"], "-O3", "-relocation-model=pic", "-filetype=obj", f"{name}.ll", "-o", f"{name}.o"],
           cwd=work)
        objs.append(work / f"{name}.o")
    sh(["rustc", "--edition=2021", "-C", "opt-level=2", "-C", "panic=abort",
        *[f"-Clink-arg={o}" for o in objs], "-o", work / "prog", FIXTURE / "main.rs"], cwd=work)
    return work, reports


@pytest.mark.parametrize("kernel", GRID_KERNELS)
def test_grid_preconditions_do_not_depend_on_ids(built, kernel):
    """Guards bound the ids, so every precondition holds for the whole launch
    (the optimiser computes it once, not once per point)."""
    _, reports = built
    r = reports[kernel]
    assert r.raised and not r.fast_path_can_panic, r.reason
    assert r.preconditions and all(" for gpu_global_id_" in p or "gpu_global_id" not in p
                                   for p in r.preconditions), r.preconditions


def test_overlap_is_reported_not_checked(built):
    _, reports = built
    r = reports["overlap_raw"]
    assert r.overlap_conditions == ["arg1 and arg0 do not overlap"]
    assert not any("overlap" in p for p in r.preconditions)


@pytest.mark.parametrize("kernel", KERNELS)
def test_reports_raised(built, kernel):
    _, reports = built
    r = reports[kernel]
    assert r.raised, r.reason
    assert r.loops and all(n.raised for n in r.loops), r.loops
    assert all(n.location.startswith("kernels.rs:") for n in r.loops), r.loops
    assert not r.fast_path_can_panic


def test_raised_matches_rust_bit_for_bit(built):
    work, _ = built
    r = subprocess.run([work / "prog", "check"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok declined" in r.stdout and "ok slow paths without panics" in r.stdout
    assert "ok grid_window 4 2 4" in r.stdout and "ok overlap_raw 1" in r.stdout


@pytest.mark.parametrize("mode", ["short-raised", "short-ikj-raised", "short-dot-raised", "short-saxpy-raised"])
def test_failed_preconditions_run_the_original_code(built, mode):
    """c (or y) one element short: the slow path is the original code, which
    panics with Rust's bounds-check message and aborts (panic=abort)."""
    work, _ = built
    r = subprocess.run([work / "prog", mode], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGABRT, (r.returncode, r.stdout, r.stderr)
    assert "index out of bounds" in r.stderr and "returned" not in r.stdout
    if mode == "short-raised":
        rust = subprocess.run([work / "prog", "short-rust"], capture_output=True, text=True, timeout=60)
        assert rust.returncode == r.returncode
        msg = lambda s: [line for line in s.splitlines() if "index out of bounds" in line]
        assert msg(rust.stderr) == msg(r.stderr)
