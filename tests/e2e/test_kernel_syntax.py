"""Kernel names and signatures beyond the simplest (issue points 4, 7, 10):
same-named kernels in two files, array lengths that are paths, raw
identifiers, lifetime parameters, `offload!` values with braces and `<`,
nightly's raw-pointer arguments and argument types, and compile errors at
the offending token — with plain cargo and with cargo mlir."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CLI, copy_crate, run

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).parent / "fixtures"


def checksum(out: str) -> str:
    return next(l for l in out.splitlines() if l.startswith("checksum="))


def test_same_name_at_same_position_in_two_files_does_not_clash(tmp_path):
    plain = copy_crate(FIXTURES / "kernel_names", tmp_path / "plain")
    ran = run(["cargo", "run", "--release", "-q"], plain)
    assert ran.returncode == 0, ran.stderr
    assert checksum(ran.stdout) == "checksum=500 -500"
    mlir = copy_crate(FIXTURES / "kernel_names", tmp_path / "mlir")
    ran = run([CLI, "mlir", "run", "--release", "-q"], mlir, CARGO_MLIR_LOG="info")
    assert ran.returncode == 0, ran.stderr
    assert checksum(ran.stdout) == "checksum=500 -500"     # both kernels, each its own code
    launches = [l for l in ran.stderr.splitlines() if "kernel `scale` ran on host" in l]
    assert len(launches) == 2 and all("MLIR code" in l for l in launches), ran.stderr


def test_signatures_and_offload_arguments_beyond_the_simplest(tmp_path):
    crate = copy_crate(FIXTURES / "kernel_syntax", tmp_path / "plain")
    ran = run(["cargo", "run", "--release", "-q"], crate)
    assert ran.returncode == 0, ran.stderr
    assert checksum(ran.stdout) == "checksum=64 15 15 65280 3"


@pytest.mark.parametrize("profile", ["dev", "release"])
def test_the_same_kernels_build_and_run_through_mlir(cli, tmp_path, profile):
    """…and through cargo mlir, GPU targets included (debug builds' null and
    alignment checks on raw-pointer dereferences are panics like the others)."""
    crate = copy_crate(FIXTURES / "kernel_syntax", tmp_path / "mlir")
    ran = cli("run", "--profile", profile, "--offload-arch", "gfx90a,sm_90", cwd=crate, CARGO_MLIR_LOG="info")
    assert ran.returncode == 0, ran.stderr
    assert checksum(ran.stdout) == "checksum=64 15 15 65280 3"
    for kernel in ("fill", "match", "copy", "nightly"):
        assert f"kernel `{kernel}` ran on host (MLIR code" in ran.stderr, ran.stderr


HEAD = "use cargo_mlir::offload::{offload, offload_kernel};\n#[offload_kernel]\nfn k(y: &mut [f32]) { y[0] = 1.0; }\n"
MAIN = "fn main() {\n    let mut y = vec![0.0f32; 4]; let n: usize = 4; let d = 0;\n    "
CASES = [
    # (source after HEAD, message, "line:column" of the offending token)
    ("struct S;\nimpl S {\n    #[offload_kernel]\n    fn method(&self, y: &mut [f32]) {}\n}\nfn main() {}\n",
     "#[offload_kernel] goes on free functions, not on methods", "7:5"),
    ("struct S;\nimpl S {\n    #[offload_kernel]\n    fn assoc(y: &mut [f32]) { let _ = Self::h; }\n    fn h() {}\n}\nfn main() {}\n",
     "#[offload_kernel] goes on free functions, not on methods", "7:5"),
    ("#[offload_kernel]\nfn g<T>(y: &mut [f32]) {}\nfn main() {}\n", "kernels cannot be generic", "5:6"),
    (MAIN + "offload! { kernel = k, workgroup_dim = [n, 1, 1], args = (&mut y[..],) };\n}\n",
     "expected `u32`, found `usize`", "6:45"),
    (MAIN + "offload! { kernel = k, dyn_cache = 1.5, args = (&mut y[..],) };\n}\n", "mismatched types", "6:40"),
    (MAIN + "offload! { kernel = k, device = d, args = (&mut y[..],) };\n}\n",
     "attempt to use a non-constant value in a constant", "6:37"),
    (MAIN + "offload! { kernel = k, device = -1, args = (&mut y[..],) };\n}\n",
     "offload!: `device` must be >= 0", "6:37"),
    (MAIN + "offload! { kernel = 3, args = (&mut y[..],) };\n}\n", "offload! `kernel` must name a function", "6:25"),
    (MAIN + "offload! { kernel = k, args = &mut y[..] };\n}\n", "offload! `args` must be a tuple", "6:35"),
]


def test_misuse_is_a_compile_error_at_the_offending_token(tmp_path):
    crate = copy_crate(FIXTURES / "misuse", tmp_path / "misuse")
    failures = []
    for source, message, where in CASES:
        (crate / "src" / "main.rs").write_text(HEAD + source)
        err = run(["cargo", "build", "-q"], crate).stderr
        if message not in err:
            failures.append((message, err))
            continue
        # the diagnostic holding the message (in its title or its label)
        at = err.index(message)
        start = max(err.rfind("\nerror", 0, at), 0)
        block = err[start:err.find("\n\n", at) if "\n\n" in err[at:] else len(err)]
        if f"--> src/main.rs:{where}" not in block:
            failures.append((message, where, block[:400]))
    assert not failures, failures
