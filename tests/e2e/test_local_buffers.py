"""End to end: `accelerate` functions with a function-local buffer
(`vec![0.0; n]`, 1-D and 2-D) between loops. The raise allocates such a
buffer itself on the fast path; the functions are raised, run MLIR code and
give plain Rust's results for every length, 0 and 1 included (and one it
cannot raise, `vec![0.5; n]`, runs as plain Rust). (The raise used to abort the whole build
on the first of these: a value of the replaced allocation call was touched
after the call was erased.)"""

from __future__ import annotations

import pytest

from conftest import mlir, run, write_crate

pytestmark = pytest.mark.e2e

LIB = '''/// A zeroed temporary written by one loop and read by the next.
#[cargo_mlir::accelerate(exact)]
pub fn act(x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let mut t = vec![0.0f32; n];
    for i in 0..n { t[i] = x[i] * 2.0 + 1.0; }
    for i in 0..n { y[i] = t[i].max(0.0); }
}

/// A temporary filled with another value, accumulated into, then read.
#[cargo_mlir::accelerate(exact)]
pub fn shifted(x: &[f64], y: &mut [f64]) {
    let n = x.len().min(y.len());
    let mut t = vec![0.5f64; n];
    for i in 0..n { t[i] += x[i]; }
    for i in 0..n { y[i] = t[i] * t[i]; }
}

/// A 2-D temporary (rows of m), its row sums into y.
#[cargo_mlir::accelerate(exact)]
pub fn rows(m: usize, x: &[f32], y: &mut [f32]) {
    let r = y.len();
    let mut t = vec![0.0f32; r * m];
    for i in 0..r { for j in 0..m { t[i * m + j] = x[i * m + j] * 0.25; } }
    for i in 0..r { let mut s = 0.0; for j in 0..m { s += t[i * m + j]; } y[i] = s; }
}
'''
MAIN = '''use locals::*;

fn plain_act(x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let mut t = vec![0.0f32; n];
    for i in 0..n { t[i] = x[i] * 2.0 + 1.0; }
    for i in 0..n { y[i] = t[i].max(0.0); }
}
fn plain_shifted(x: &[f64], y: &mut [f64]) {
    let n = x.len().min(y.len());
    let mut t = vec![0.5f64; n];
    for i in 0..n { t[i] += x[i]; }
    for i in 0..n { y[i] = t[i] * t[i]; }
}
fn plain_rows(m: usize, x: &[f32], y: &mut [f32]) {
    let r = y.len();
    let mut t = vec![0.0f32; r * m];
    for i in 0..r { for j in 0..m { t[i * m + j] = x[i * m + j] * 0.25; } }
    for i in 0..r { let mut s = 0.0; for j in 0..m { s += t[i * m + j]; } y[i] = s; }
}

fn main() {
    let mut bad = 0;
    for n in [0usize, 1, 2, 7, 64, 1000, 4097] {
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 3.0 - 1.0).collect();
        let (mut a, mut b) = (vec![9.0f32; n], vec![9.0f32; n]);
        act(&x, &mut a);
        plain_act(&x, &mut b);
        bad += (a.iter().map(|v| v.to_bits()).ne(b.iter().map(|v| v.to_bits()))) as usize;
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (mut c, mut d) = (vec![9.0f64; n], vec![9.0f64; n]);
        shifted(&xd, &mut c);
        plain_shifted(&xd, &mut d);
        bad += (c.iter().map(|v| v.to_bits()).ne(d.iter().map(|v| v.to_bits()))) as usize;
        let m = 5;
        let xm: Vec<f32> = (0..n * m).map(|i| (i as f32 * 0.11).cos()).collect();
        let (mut e, mut f) = (vec![9.0f32; n], vec![9.0f32; n]);
        rows(m, &xm, &mut e);
        plain_rows(m, &xm, &mut f);
        bad += (e.iter().map(|v| v.to_bits()).ne(f.iter().map(|v| v.to_bits()))) as usize;
    }
    println!("differences {bad}");
}
'''


def test_local_buffers_are_raised_and_give_plain_rusts_results(tmp_path):
    crate = write_crate(tmp_path / "locals", "locals", {"src/lib.rs": LIB, "src/main.rs": MAIN})
    built = mlir("build", "--release", "--explain", cwd=crate)
    assert built.returncode == 0, built.stderr
    said = built.stdout + built.stderr
    # `shifted`'s fill loop (vec![0.5; n]) has no zero-trip guard the raise knows: plain Rust
    for fn in ("act", "rows"):
        line = [x for x in said.splitlines() if x.startswith(f"accelerate `{fn}` (src/lib.rs:")]
        assert line and "raised to scf/memref (fast path when" in line[0] and "1 local buffer allocated" in line[0], \
            said
    ran = run([crate / "target" / "release" / "locals"], crate, CARGO_MLIR_LOG="info")
    assert ran.returncode == 0 and ran.stdout.strip() == "differences 0", ran.stdout + ran.stderr
    for fn in ("act", "rows"):
        assert f"accelerate `{fn}` uses MLIR code" in ran.stderr, ran.stderr
