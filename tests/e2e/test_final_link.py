"""End to end: kernel libraries are linked at the final link. A library crate
names its kernel library without bundling it, so when the device step makes a
new one, pass 2 links again what links it (a binary of another member, the
crate's integration test, its doc tests) and compiles no crate again. Edited,
reverted and edited again, each program runs the kernel as it is in the
source; plain cargo in the same target directory still builds."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO, mlir, run

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"
KERNEL_LINE = "        v[i] *= factor;"
# run by `cargo mlir test` at the end, when the kernel is `v[i] *= factor + 10.0` ("edited again")
DOC_TEST = '''
/// ```
/// let plain: Vec<f64> = (0..100).map(|i| i as f64 * (2.0 + 10.0)).collect();
/// assert_eq!(kernels::scaled(2.0, 100), plain);
/// ```
pub fn documented() {}
'''
INTEGRATION_TEST = '''#[test]
fn scaled_by_the_kernel() {
    let v = kernels::scaled(2.0, 100);
    println!("it sum={}", v.iter().sum::<f64>());
}
'''


def workspace(tmp_path: Path) -> Path:
    """tests/e2e/fixtures/workspace, host code only, with a doc test and an integration test."""
    ws = tmp_path / "workspace"
    shutil.copytree(FIXTURES / "workspace", ws)
    manifest = ws / "kernels" / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace("../../../../../templates/cargo-mlir",
                                                     str(REPO / "templates" / "cargo-mlir")))
    root = ws / "Cargo.toml"
    root.write_text(root.read_text().replace('offload-arch = ["sm_90"]', "offload-arch = []"))
    lib = ws / "kernels" / "src" / "lib.rs"
    lib.write_text(lib.read_text() + DOC_TEST)
    (ws / "kernels" / "tests").mkdir()
    (ws / "kernels" / "tests" / "it.rs").write_text(INTEGRATION_TEST)
    return ws


def pass_2(stderr: str) -> str:
    """What cargo did in pass 2 (`-v`: one `Running` line per rustc)."""
    marker = "Linking device code into the final artifacts (cargo pass 2)"
    assert marker in stderr, stderr
    return stderr[stderr.index(marker):]


def compiled(log: str) -> set[tuple[str, str]]:
    """(crate, `lib`, `bin` or `test`) of each rustc run."""
    out = set()
    for line in re.findall(r"Running `([^`]*--crate-name [^`]*)`", log):
        name = re.search(r"--crate-name (\w+)", line)[1]
        kind = "test" if " --test" in line else re.search(r"--crate-type (\w+)", line)[1]
        out.add((name, kind))
    return out


def test_a_new_kernel_library_links_again_and_compiles_no_crate_again(tmp_path):
    ws = workspace(tmp_path)
    lib = ws / "kernels" / "src" / "lib.rs"
    original = lib.read_text()
    assert KERNEL_LINE in original
    first = mlir("build", "-v", "--all-targets", cwd=ws)
    assert first.returncode == 0, first.stderr
    app = ws / "target" / "debug" / "app"
    ran = run([app, "3"], ws, CARGO_MLIR_LOG="info")
    assert ran.stdout.strip() == f"sum={3 * sum(range(1000))}" and "MLIR code" in ran.stderr, ran.stderr
    for step, factor_plus in (("edited", 1), ("reverted", 0), ("edited again", 10)):
        kernel = KERNEL_LINE if not factor_plus else f"        v[i] *= factor + {factor_plus}.0;"
        lib.write_text(original.replace(KERNEL_LINE, kernel))
        built = mlir("build", "-v", "--all-targets", cwd=ws)
        assert built.returncode == 0, built.stderr
        again = pass_2(built.stderr)
        # the programs that link the library, and no library crate
        linked = compiled(again)
        assert ("app", "bin") in linked and ("it", "test") in linked, (step, again)
        assert {kind for _, kind in linked} == {"bin", "test"}, (step, again)
        assert re.search(r"Dirty app v0\.1\.0 \([^)]*\): the file `[^`]*libcargo_mlir_kernels_\w+\.a` has changed",
                         again), again
        ran = run([app, "3"], ws, CARGO_MLIR_LOG="info")
        assert ran.stdout.strip() == f"sum={(3 + factor_plus) * sum(range(1000))}", (step, ran.stdout)
        assert "kernel `scale` ran on host (MLIR code" in ran.stderr, ran.stderr
        # a no-op afterwards: nothing linked again
        noop = mlir("build", "-v", "--all-targets", cwd=ws)
        assert noop.returncode == 0 and "no device work" in noop.stderr and "Dirty" not in noop.stderr, noop.stderr
    # tests, doc tests included, link the kernels too
    tested = mlir("test", "--", "--nocapture", cwd=ws, CARGO_MLIR_LOG="info")
    assert tested.returncode == 0, tested.stderr
    assert f"it sum={12 * sum(range(100))}" in tested.stdout, tested.stdout
    assert re.search(r"test kernels/src/lib\.rs - documented \(line \d+\) \.\.\. ok", tested.stdout), tested.stdout
    # plain cargo in the same target directory compiles the library again without the kernel
    # library, and its programs run the kernel as plain Rust
    plain = run(["cargo", "build", "--all-targets"], ws)
    assert plain.returncode == 0, plain.stderr
    ran = run([app, "3"], ws, CARGO_MLIR_LOG="info")
    assert ran.returncode == 0 and ran.stdout.strip() == f"sum={13 * sum(range(1000))}", ran.stderr
    assert "MLIR code" not in ran.stderr
