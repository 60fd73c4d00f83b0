"""User pipelines with the real tools: a `raise` pipeline written once applies
to every target (it runs once per function, before any target), Python and
MLIR passes mix by name, transform scripts run in the `schedule` stage, and
mistakes are errors that name the stage, the function and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CLI, REPO, copy_crate, run

pytestmark = pytest.mark.e2e

TRANSFORM = """\
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %f = transform.structured.match ops{["func.func"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %f {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    transform.yield
  }
}
"""


def saxpy_with(tmp_path: Path, table: str) -> Path:
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text() + "\n" + table)
    return crate


def test_a_raise_pipeline_written_once_applies_to_every_target(tmp_path):
    crate = saxpy_with(tmp_path, '[package.metadata.cargo-mlir.pipeline]\nraise = "raise-to-scf,cse"\n'
                                 '[package.metadata.cargo-mlir.pipeline.host]\nschedule = { transform = "t.mlir" }\n')
    (crate / "t.mlir").write_text(TRANSFORM)
    shown = run([CLI, "mlir", "build", "--print-pipeline"], crate)
    assert shown.returncode == 0, shown.stderr
    once, _, per_target = shown.stdout.partition("per target:")
    assert "raise     python pass raise-to-scf   [configured]" in once
    assert "then PassManager builtin.module(cse)" in once
    assert not re.search(r"^ *raise ", per_target, re.M)   # never per target
    assert f"schedule  transform-interpreter {crate / 't.mlir'}   [configured]" in per_target
    built = run([CLI, "mlir", "build", "--release", "--emit-ir", "ir"], crate)
    assert built.returncode == 0, built.stderr
    dumps = sorted(p.name for p in (crate / "ir").iterdir())
    assert [d for d in dumps if ".raise." in d] == ["saxpy.any.raise.mlir"]
    assert {d.split(".")[1] for d in dumps if ".entry." in d} == {"host", "gfx90a", "sm_90"}
    assert "scf.if" in (crate / "ir" / "saxpy.any.raise.mlir").read_text()
    ran = run([CLI, "mlir", "run", "--release", "-q"], crate, CARGO_MLIR_LOG="info")
    assert ran.returncode == 0, ran.stderr
    assert "ran on host (MLIR code" in ran.stderr
    plain = run(["cargo", "run", "--release", "-q"], crate)
    assert ran.stdout == plain.stdout


def test_raising_off_builds_the_llvm_dialect_as_before(tmp_path):
    crate = saxpy_with(tmp_path, '[package.metadata.cargo-mlir.pipeline]\nraise = ""\n')
    built = run([CLI, "mlir", "build", "--release", "--emit-ir", "ir", "--explain"], crate)
    assert built.returncode == 0, built.stderr
    assert "not raised" in built.stdout
    assert "memref" not in (crate / "ir" / "saxpy.any.raise.mlir").read_text()


def test_an_unknown_pass_names_stage_function_and_the_passes_we_have(tmp_path):
    crate = saxpy_with(tmp_path, '[package.metadata.cargo-mlir.pipeline]\nraise = "raise-to-scf,no-such-pass"\n')
    built = run([CLI, "mlir", "build"], crate)
    assert built.returncode == 1
    assert "stage `raise` of kernel `saxpy`" in built.stderr
    assert "invalid pass pipeline `builtin.module(no-such-pass)`" in built.stderr
    assert "raise-to-scf" in built.stderr                 # the hint lists our Python passes


def test_raise_cannot_be_set_per_target(tmp_path):
    crate = saxpy_with(tmp_path, '[package.metadata.cargo-mlir.pipeline.nvptx]\nraise = "cse"\n')
    built = run([CLI, "mlir", "build"], crate)
    assert built.returncode == 1
    assert "`raise` runs once per function, before any target" in built.stderr


def test_a_function_whose_code_is_unchanged_is_not_extracted_again(tmp_path):
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + '''
#[offload_kernel]
fn scale(a: f32, y: &mut [f32]) { let i = gpu::global_id_x(); if i < y.len() { y[i] *= a; } }
''')
    first = run([CLI, "mlir", "build", "--release", "-v"], crate)
    assert first.returncode == 0, first.stderr
    assert "Compiled kernel `saxpy` for host" in first.stderr and "Compiled kernel `scale` for host" in first.stderr
    lib.write_text(lib.read_text().replace("y[i] *= a;", "y[i] *= a + 1.0;"))
    second = run([CLI, "mlir", "build", "--release", "-v"], crate)
    assert second.returncode == 0, second.stderr
    assert "Lowering 2 kernels of saxpy" in second.stderr                 # the crate changed …
    assert "Compiled kernel `scale` for host" in second.stderr            # … `scale` went through again
    for target in ("host", "gfx90a", "sm_90"):                            # … `saxpy` did not
        assert f"Fresh kernel `saxpy` for {target} (cached)" in second.stderr, second.stderr


def test_packaged_images_are_reused_and_a_damaged_one_is_made_again(tmp_path):
    from conftest import llvm
    crate = copy_crate(REPO / "sample_crates" / "saxpy", tmp_path / "saxpy")
    assert run([CLI, "mlir", "build", "--release", "-q"], crate).returncode == 0
    packaged = sorted((crate / "target" / "cargo-mlir" / "cache").glob("*.offload"))
    assert len(packaged) == 3                       # gfx90a, sm_90 and its PTX, beside their images
    packaged[0].write_bytes(b"garbage")
    (crate / "target" / "cargo-mlir" / "done.json").unlink()    # the unit's device work is redone …
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\n")                     # … when cargo compiles it again
    again = run([CLI, "mlir", "build", "--release", "-v"], crate)
    assert again.returncode == 0, again.stderr
    assert "Fresh kernel `saxpy` for sm_90 (cached)" in again.stderr
    listing = llvm("llvm-objdump", "--offloading", crate / "target" / "release" / "saxpy")
    assert "arch            gfx90a" in listing and "arch            sm_90" in listing


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_lower_pipeline_that_misses_a_conversion_is_an_error_for_every_kernel(tmp_path, jobs):
    """Without convert-arith-to-llvm, MLIR's translation to LLVM IR fails, and its Python
    binding then crashed the process (in-process with -j1; as a broken process pool, with a
    traceback, otherwise): every kernel is reported in one run, at its Rust line."""
    crate = copy_crate(REPO / "tests" / "e2e" / "fixtures" / "panic_suite", tmp_path / "panic_suite")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text() + '\n[package.metadata.cargo-mlir.pipeline.host]\nlower = "'
                        "convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-cf-to-llvm,"
                        'convert-func-to-llvm,reconcile-unrealized-casts"\n')
    built = run([CLI, "mlir", "build", "-j", jobs], crate)
    assert built.returncode == 1, built.stderr
    assert "Traceback" not in built.stderr
    for kernel, line in (("add", 12), ("divide", 18), ("shift", 24), ("gather", 30), ("first_positive", 36),
                         ("negative", 43)):
        assert re.search(rf"error: kernel `{kernel}` \(src/lib.rs:{line}\) for host: stage `lower` left operations "
                         r"that LLVM IR cannot express: arith\.", built.stderr), built.stderr
    assert "convert-arith-to-llvm" in built.stderr and "error: could not compile device code (6 errors)" in built.stderr


def test_a_failing_transform_script_is_the_users_error_at_its_line(tmp_path):
    crate = saxpy_with(tmp_path, '[package.metadata.cargo-mlir.pipeline.host]\nschedule = { transform = "t.mlir" }\n')
    (crate / "t.mlir").write_text(TRANSFORM.replace(
        "    transform.apply_patterns to %f {",
        "    %t, %l = transform.structured.tile_using_for %f tile_sizes [4] : "
        "(!transform.any_op) -> (!transform.any_op, !transform.any_op)\n    transform.apply_patterns to %f {"))
    built = run([CLI, "mlir", "build"], crate)
    assert built.returncode == 1, built.stderr
    assert "internal error" not in built.stderr and "Traceback" not in built.stderr
    assert (f"error: stage `schedule` of kernel `saxpy` (src/lib.rs:7) for host (transform script {crate / 't.mlir'}) "
            "failed:") in built.stderr
    assert f"{crate / 't.mlir'}:4:14: only ops implementing TilingInterface are supported" in built.stderr
    assert "the stage's input IR, line" in built.stderr
