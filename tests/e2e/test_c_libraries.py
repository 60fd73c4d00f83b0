"""End to end: kernels called from C. A cdylib links its kernel library like a
program does (MLIR code); a staticlib cannot (its final link is the C
linker's): the build says so, and the kernels run as plain Rust there."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import mlir, run, write_crate

pytestmark = pytest.mark.e2e

LIB = '''use cargo_mlir::gpu;
use cargo_mlir::offload::{offload, offload_kernel};

#[offload_kernel]
fn scale(factor: f32, v: &mut [f32]) {
    let i = gpu::global_id_x();
    if i < v.len() {
        v[i] *= factor;
    }
}

#[no_mangle]
pub extern "C" fn clib_sum(factor: f32, n: usize) -> f32 {
    let mut v: Vec<f32> = (0..n).map(|i| i as f32).collect();
    offload! { kernel = scale, workgroup_dim = [n.div_ceil(64) as u32, 1, 1], thread_dim = [64, 1, 1],
               args = (factor, &mut v[..]) };
    v.iter().sum()
}
'''
MAIN_C = '''#include <stdio.h>
float clib_sum(float, unsigned long);
int main(void) { printf("sum=%.1f\\n", clib_sum(2.0f, 100)); return 0; }
'''


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_a_cdylib_runs_mlir_code_and_a_staticlib_says_it_cannot(tmp_path):
    crate = write_crate(tmp_path / "clib", "clib", {"src/lib.rs": LIB, "main.c": MAIN_C}, ("cdylib", "staticlib"))
    built = mlir("build", "--release", cwd=crate)
    assert built.returncode == 0, built.stderr
    assert ("warning: clib (cdylib/staticlib `clib`): `scale` (src/lib.rs:5) runs as plain Rust in its static library: "
            "cargo-mlir adds kernel libraries at the final link of programs, tests and cdylibs") in built.stderr, \
        built.stderr
    out = crate / "target" / "release"
    want = f"sum={2 * sum(range(100)):.1f}"
    for how, argv, env in (
            ("cdylib", ["cc", "main.c", "-o", "with-so", f"-L{out}", "-lclib"], {"LD_LIBRARY_PATH": str(out)}),
            ("staticlib", ["cc", "main.c", "-o", "with-a", str(out / "libclib.a"), "-lpthread", "-ldl", "-lm"], {})):
        linked = subprocess.run(argv, cwd=crate, capture_output=True, text=True)
        assert linked.returncode == 0, (how, linked.stderr)
        ran = run([crate / argv[3]], crate, CARGO_MLIR_LOG="info", **env)
        assert ran.returncode == 0 and ran.stdout.strip() == want, (how, ran.stdout, ran.stderr)
        mlir_code = "kernel `scale` ran on host (MLIR code" in ran.stderr
        assert mlir_code == (how == "cdylib"), (how, ran.stderr)
