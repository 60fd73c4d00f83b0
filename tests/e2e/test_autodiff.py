"""Autodiff end to end: the derivatives std::autodiff's syntax declares are
made by the pipeline from the primal's code and checked, by the crate itself,
against central differences (polynomials, transcendental functions, norms,
loops with data-dependent branches and trip counts, helper calls, a
matmul-based loss, a Gaussian mixture log-likelihood, `&mut` outputs, f32,
vector mode) and forward against reverse mode; the std::autodiff
documentation's examples give their documented values; a kernel calling
derivatives is built for gfx90a and sm_90 and gives the host's results on the
CPU; the MLP sample trains; what cannot be differentiated is a build error
that names the function, the construct and the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO, copy_crate, llvm, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def crate(tmp_path_factory):
    return copy_crate(FIXTURES / "autodiff", tmp_path_factory.mktemp("autodiff") / "autodiff")


def _checks(out: str) -> list[str]:
    return re.findall(r"^(?:ok|FAIL) .*$", out, re.M)


@pytest.mark.parametrize("profile", ["release", "dev"])
def test_gradients_match_central_differences(cli, crate, profile):
    result = cli("run", "--profile", profile, "--target-dir", f"target/{profile}-host", cwd=crate)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "FAIL" not in out and out.rstrip().endswith("failed 0"), out
    checks = _checks(out)
    assert len(checks) >= 40, out
    for name in ("gmm reverse", "matmul loss reverse", "piecewise reverse", "docs rb_rev", "docs rb_inp_rev",
                 "docs d_cube", "batching d_square4", "kernel calling derivatives (dx)"):
        assert f"ok {name}" in checks, out


def test_kernels_calling_derivatives_build_for_gpus_and_run_on_the_host(cli, crate):
    dump = crate / "ir-gpu"
    result = cli("run", "--release", "--offload-arch", "gfx90a,sm_90", "--target-dir", "target/gpu",
                 "--emit-ir", dump, cwd=crate, CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("failed 0"), result.stdout
    assert "ok kernel calling derivatives (dc)" in result.stdout
    listing = llvm("llvm-objdump", "--offloading", crate / "target/gpu/release/autodiff")
    images = re.findall(r"OFFLOADING IMAGE \[\d+\]:\nkind\s+(\S+)\narch\s+(\S+)", listing)
    assert sorted(images) == [("cubin", "sm_90"), ("elf", "gfx90a"), ("ptx", "sm_90")], listing
    # the derivatives are in the kernels' device code, not calls back to the host
    hsaco = dump / "grad_kernel.gfx90a.serialize.hsaco"
    symbols = llvm("llvm-readelf", "-s", hsaco)
    assert re.search(r"FUNC\s+GLOBAL\s+PROTECTED\s+\d+\s+grad_kernel$", symbols, re.M), symbols
    assert "UND" not in "".join(l for l in symbols.splitlines() if "__cargo_mlir" in l), symbols
    assert "ran on host (MLIR code" in result.stderr
    # a full stack tape is reported like a panic ("aborted"), not a trap that poisons the GPU context
    for target in ("gfx90a", "sm_90"):
        retargeted = (dump / f"grad_kernel.{target}.retarget.mlir").read_text()
        assert "llvm.intr.trap" not in retargeted and "llvm.call @__cargo_mlir_gpu_panic(" in retargeted


def test_plain_cargo_builds_and_derivatives_say_to_use_cargo_mlir(crate):
    result = run(["cargo", "run", "--release", "-q", "--target-dir", "target/plain"], crate)
    assert result.returncode != 0
    assert "cargo mlir" in result.stderr and "d_poly" in result.stderr, result.stderr


def test_mlp_sample_trains(cli, tmp_path):
    mlp = copy_crate(REPO / "sample_crates" / "mlp", tmp_path / "mlp")
    result = cli("run", "--release", cwd=mlp, CARGO_MLIR_LOG="info")
    assert result.returncode == 0, result.stdout + result.stderr
    losses = [float(v) for v in re.findall(r"^epoch\s+\d+\s+loss (\S+)$", result.stdout, re.M)]
    assert len(losses) == 7 and losses[-1] < losses[0] * 0.25, result.stdout
    assert all(b < a for a, b in zip(losses, losses[1:])), result.stdout
    assert "`sgd_step` ran on host (MLIR code" in result.stderr, result.stderr


BAD = {
    "heap": ("fn bad(x: f64) -> f64 {\n    let v = vec![x; 3];\n    v.iter().map(|a| a * a).sum()\n}",
             "a store of an active float into memory that has no shadow", 5),
    "asm": ("fn bad(x: f64) -> f64 {\n    std::hint::black_box(x) * x\n}", "inline assembly", 5),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_what_cannot_be_differentiated_is_an_error_naming_function_construct_and_line(cli, tmp_path, case):
    body, construct, line = BAD[case]
    crate = tmp_path / "bad"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "bad"\nversion = "0.1.0"\nedition = "2021"\n\n'
                                      '[dependencies]\ncargo-mlir = { path = "../../templates/cargo-mlir" }\n')
    (crate / "src" / "main.rs").write_text(
        "use cargo_mlir::autodiff::autodiff_reverse;\n\n#[autodiff_reverse(d_bad, Active, Active)]\n"
        f"{body}\n\nfn main() {{\n    println!(\"{{:?}}\", d_bad(1.0, 1.0));\n}}\n")
    copy_crate(crate, tmp_path / "crate")
    result = cli("build", cwd=tmp_path / "crate")
    assert result.returncode == 1, result.stderr          # as for kernels that cannot run on a device
    assert (f"error: `d_bad` (the derivative of `bad`, src/main.rs:3): reverse mode cannot differentiate "
            f"{construct}") in result.stderr, result.stderr
    assert f"at src/main.rs:{line}\n" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_every_failing_derivative_of_a_build_is_reported_in_one_run(cli, tmp_path):
    crate = tmp_path / "bad"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "bad"\nversion = "0.1.0"\nedition = "2021"\n\n'
                                      '[dependencies]\ncargo-mlir = { path = "../../templates/cargo-mlir" }\n')
    heap, asm = BAD["heap"][0], BAD["asm"][0].replace("fn bad", "fn bad2")
    (crate / "src" / "main.rs").write_text(
        "use cargo_mlir::autodiff::autodiff_reverse;\n\n"
        f"#[autodiff_reverse(d_bad, Active, Active)]\n{heap}\n\n#[autodiff_reverse(d_bad2, Active, Active)]\n{asm}\n\n"
        "fn main() {\n    println!(\"{:?} {:?}\", d_bad(1.0, 1.0), d_bad2(1.0, 1.0));\n}\n")
    copy_crate(crate, tmp_path / "crate")
    result = cli("build", cwd=tmp_path / "crate")
    assert result.returncode == 1, result.stderr
    assert "error: `d_bad` (the derivative of `bad`" in result.stderr, result.stderr
    assert "error: `d_bad2` (the derivative of `bad2`" in result.stderr, result.stderr
    assert "could not compile device code (2 errors)" in result.stderr


def test_an_autodiff_pipeline_without_differentiate_is_an_error_not_a_crash(cli, tmp_path):
    crate = tmp_path / "nodiff"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "nodiff"\nversion = "0.1.0"\nedition = "2021"\n\n'
                                      '[dependencies]\ncargo-mlir = { path = "../../templates/cargo-mlir" }\n\n'
                                      '[package.metadata.cargo-mlir.pipeline]\nautodiff = ""\n')
    (crate / "src" / "main.rs").write_text(
        "use cargo_mlir::autodiff::autodiff_reverse;\n\n#[autodiff_reverse(d_sq, Active, Active)]\n"
        "fn sq(x: f64) -> f64 { x * x }\n\nfn main() {\n    println!(\"{:?}\", d_sq(3.0, 1.0));\n}\n")
    copy_crate(crate, tmp_path / "crate")
    result = cli("build", cwd=tmp_path / "crate")
    assert result.returncode == 1, result.stderr
    assert "needs derivatives the `autodiff` stage did not make" in result.stderr, result.stderr
    assert "keep the pass `differentiate`" in result.stderr
