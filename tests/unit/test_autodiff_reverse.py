"""Reverse mode (cargo_mlir/pipeline/stages/autodiff/reverse.py): Rust primals
compiled with the device flags, differentiated, lowered and called through
ctypes; gradients checked against central differences (relative error 1e-6 in
f64)."""

from __future__ import annotations

import math
import shutil

import pytest

pytest.importorskip("mlir.ir")
if shutil.which("rustc") is None:
    pytest.skip("rustc is needed to compile the primals", allow_module_level=True)

import autodiff_harness as H  # noqa: E402
from autodiff_harness import array, build, call, central_difference_at, close, derivative  # noqa: E402

from cargo_mlir.errors import CargoMlirError  # noqa: E402
from cargo_mlir.pipeline.stages.autodiff.reverse import differentiate_reverse  # noqa: E402

REL = 1e-6


def grad_of(f, xs: list[float]) -> list[float]:
    return [central_difference_at(f, xs, i) for i in range(len(xs))]


def assert_close(got, want, rel=REL, abs_=1e-8):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert close(g, w, rel, abs_), f"component {k}: got {g}, want {w} (all: {got} vs {want})"


def primal_of_slice(lib, n_extra=()):
    """f(list) -> primal(ptr, len, *n_extra)."""
    def f(xs):
        return lib.primal(array(xs), len(xs), *n_extra)
    return f


# ------------------------------------------------------------------ scalars

SCALAR = r'''
#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_sq(x: f64) -> f64 { x * x }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_poly(x: f64, y: f64) -> f64 {
    3.0 * x * x * x - 2.0 * x * y + y * y - 7.0 / (1.0 + x * x) + (x - y).abs()
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_trans(x: f64, y: f64) -> f64 {
    x.sin() * y.exp() + x.ln() * y.tanh() + x.sqrt() + x.powf(y) + y.cos() / x
        + x.atan2(y) + (x * y).log10() + y.powi(3) + x.max(y) + x.hypot(y) + (0.1 * y).sinh()
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_f32(x: f32, y: f32) -> f32 {
    (x * y).tanh() + x.powi(3) + (x as f64 * 2.0) as f32
}
'''


def test_x_times_x():
    d = derivative("reverse", "__cargo_mlir_primal_sq", ["Active:f64"], ret_activity="Active")
    lib = build(SCALAR, d, differentiate_reverse)
    assert call(lib, d, 3.0, 1.0) == [9.0, 6.0]
    assert call(lib, d, 3.0, 2.0) == [9.0, 12.0]       # the seed multiplies the return's adjoint


@pytest.mark.parametrize("name, at", [("poly", (1.3, -0.7)), ("poly", (-2.0, 0.5)), ("trans", (1.7, 0.6)),
                                      ("trans", (0.4, 2.2))])
def test_scalar_functions(name, at):
    d = derivative("reverse", f"__cargo_mlir_primal_{name}", ["Active:f64", "Active:f64"], ret_activity="Active")
    lib = build(SCALAR, d, differentiate_reverse)
    ret, gx, gy = call(lib, d, *at, 1.0)
    assert close(ret, lib.primal(*at), 1e-15)
    assert_close([gx, gy], grad_of(lambda v: lib.primal(*v), list(at)))


def test_const_argument_and_active_only_return():
    d = derivative("reverse", "__cargo_mlir_primal_poly", ["Const:f64", "Active:f64"], ret_activity="ActiveOnly")
    lib = build(SCALAR, d, differentiate_reverse)
    (gy,) = call(lib, d, 1.3, -0.7, 1.0)                # no primal return slot, one gradient
    assert close(gy, central_difference_at(lambda v: lib.primal(1.3, v[0]), [-0.7], 0))


def test_f32():
    d = derivative("reverse", "__cargo_mlir_primal_f32", ["Active:f32", "Active:f32"], ret="f32",
                   ret_activity="Active")
    lib = build(SCALAR, d, differentiate_reverse)
    x, y = 0.8, -0.3
    _, gx, gy = call(lib, d, x, y, 1.0)
    t = math.tanh(x * y)
    assert close(gx, (1 - t * t) * y + 3 * x * x + 2.0, 1e-5)
    assert close(gy, (1 - t * t) * x, 1e-5)


# ------------------------------------------------------------------ slices and loops

SLICES = r'''
fn sum_sq(x: &[f64]) -> f64 { x.iter().map(|v| v * v).sum() }

#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_sumsq(p: *const f64, n: usize) -> f64 {
    sum_sq(core::slice::from_raw_parts(p, n))
}

#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_norm(p: *const f64, n: usize) -> f64 {
    sum_sq(core::slice::from_raw_parts(p, n)).sqrt()
}

// data-dependent branches and an early exit
#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_branchy(a: f64, p: *const f64, n: usize) -> f64 {
    let x = core::slice::from_raw_parts(p, n);
    let mut t = 0.0;
    let mut i = 0;
    while i < x.len() {
        let v = x[i];
        if v > a {
            t += v * a;
        } else if v < -a {
            t -= (v * 0.5).exp();
        } else {
            t = t * 0.9 + v.sin();
        }
        if t > 1e6 { break; }
        i += if v > 2.0 { 2 } else { 1 };
    }
    t * a
}

#[inline(never)]
fn helper(a: f64, b: &[f64]) -> f64 {
    let mut t = 0.0;
    for v in b { if *v > a { t += v * a } else { t -= v.exp() } }
    t
}

#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_calls(a: f64, p: *const f64, n: usize) -> f64 {
    let x = core::slice::from_raw_parts(p, n);
    helper(a, x) * 2.0 + helper(a * a, &x[1..]) + x[0]
}

// y[i] = x[i]^2 * s + sin(y[i]): reads and writes an output
#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_out(s: f64, p: *const f64, q: *mut f64, n: usize) {
    let x = core::slice::from_raw_parts(p, n);
    let y = core::slice::from_raw_parts_mut(q, n);
    for i in 0..n { y[i] = x[i] * x[i] * s + y[i].sin(); }
}
'''


@pytest.mark.parametrize("name", ["sumsq", "norm"])
def test_sum_of_squares_and_norm(name):
    d = derivative("reverse", f"__cargo_mlir_primal_{name}", ["Duplicated:slice<f64>"], ret_activity="Active")
    lib = build(SLICES, d, differentiate_reverse)
    xs = [0.5, -1.25, 2.0, 3.5, -0.125]
    x, dx = array(xs), array([1.0] * len(xs))              # gradients are added into the shadow
    (ret,) = call(lib, d, x, len(xs), dx, len(xs), 1.0)
    assert close(ret, lib.primal(x, len(xs)), 1e-15)
    want = grad_of(primal_of_slice(lib), xs)
    assert_close([g - 1.0 for g in dx], want)
    assert list(x) == xs


def test_loop_with_data_dependent_branches_and_early_exit():
    d = derivative("reverse", "__cargo_mlir_primal_branchy", ["Active:f64", "Duplicated:slice<f64>"],
                   ret_activity="Active")
    lib = build(SLICES, d, differentiate_reverse)
    for a, xs in [(0.7, [1.5, -0.2, -3.0, 0.3, 2.5, 0.9, -0.8, 4.0, 0.1, 1.1]), (2.5, [3.0, 2.6, -2.7, 0.0])]:
        x, dx = array(xs), array([0.0] * len(xs))
        ret, ga = call(lib, d, a, x, len(xs), dx, len(xs), 1.0)
        f = lambda v: lib.primal(v[0], array(v[1:]), len(xs))  # noqa: E731
        want = grad_of(f, [a] + xs)
        assert close(ret, f([a] + xs), 1e-15)
        assert_close([ga] + list(dx), want)


def test_helper_calls():
    d = derivative("reverse", "__cargo_mlir_primal_calls", ["Active:f64", "Duplicated:slice<f64>"],
                   ret_activity="Active")
    lib = build(SLICES, d, differentiate_reverse)
    a, xs = 0.6, [1.5, -0.2, 0.3, 2.5, 0.9, -0.8]
    x, dx = array(xs), array([0.0] * len(xs))
    ret, ga = call(lib, d, a, x, len(xs), dx, len(xs), 1.0)
    f = lambda v: lib.primal(v[0], array(v[1:]), len(xs))  # noqa: E731
    assert close(ret, f([a] + xs), 1e-15)
    assert_close([ga] + list(dx), grad_of(f, [a] + xs))
    assert ".fwd" in lib.text and ".rev" in lib.text      # the helper got its own pair


def test_mut_output_seeded_through_its_shadow():
    d = derivative("reverse", "__cargo_mlir_primal_out",
                   ["Active:f64", "Duplicated:ptr<f64>", "Duplicated:ptr<f64>", "Const:usize"], ret=None)
    lib = build(SLICES, d, differentiate_reverse)
    s, xs, ys = 1.5, [0.5, -1.0, 2.0], [0.3, 0.1, -0.4]
    seeds = [1.0, -2.0, 0.5]
    x, dx, y, dy = array(xs), array([0.0] * 3), array(ys), array(seeds)
    (gs,) = call(lib, d, s, x, dx, y, dy, 3)
    # loss = Σ seed_i·y_i(after): y_i = x_i² s + sin(y_i(before))
    assert_close(list(y), [xi * xi * s + math.sin(yi) for xi, yi in zip(xs, ys)], 1e-15)
    assert close(gs, sum(w * xi * xi for w, xi in zip(seeds, xs)))
    assert_close(list(dx), [w * 2 * xi * s for w, xi in zip(seeds, xs)])
    assert_close(list(dy), [w * math.cos(yi) for w, yi in zip(seeds, ys)])   # seeds consumed


# ------------------------------------------------------------------ bigger models

MODELS = r'''
// C = A·B (m×k times k×n) in triple loops, loss = Σ C²
#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_matmul(a: *const f64, la: usize, b: *const f64, lb: usize,
                                                     m: usize, k: usize, n: usize) -> f64 {
    let a = core::slice::from_raw_parts(a, la);
    let b = core::slice::from_raw_parts(b, lb);
    let mut loss = 0.0;
    for i in 0..m {
        for j in 0..n {
            let mut c = 0.0;
            for p in 0..k { c += a[i * k + p] * b[p * n + j]; }
            loss += c * c;
        }
    }
    loss
}

// the same through an explicit C buffer (a `&mut` scratch output)
#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_matmul_buf(a: *const f64, la: usize, b: *const f64, lb: usize,
                                                         c: *mut f64, lc: usize, m: usize, k: usize, n: usize) -> f64 {
    let a = core::slice::from_raw_parts(a, la);
    let b = core::slice::from_raw_parts(b, lb);
    let c = core::slice::from_raw_parts_mut(c, lc);
    for i in 0..m { for j in 0..n {
        c[i * n + j] = 0.0;
        for p in 0..k { c[i * n + j] += a[i * k + p] * b[p * n + j]; }
    } }
    c.iter().map(|v| v * v).sum()
}

// Gaussian mixture log-likelihood: n points in d dims, K components (K <= 8),
// isotropic precisions; log-sum-exp over the components through a local array
#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_gmm(x: *const f64, lx: usize, mu: *const f64, lmu: usize,
                                                  logw: *const f64, lw: usize, logp: *const f64, lp: usize,
                                                  n: usize, d: usize) -> f64 {
    let x = core::slice::from_raw_parts(x, lx);
    let mu = core::slice::from_raw_parts(mu, lmu);
    let logw = core::slice::from_raw_parts(logw, lw);
    let logp = core::slice::from_raw_parts(logp, lp);
    let kk = lw;
    let mut total = 0.0;
    for i in 0..n {
        let mut e = [0.0f64; 8];
        let mut best = f64::NEG_INFINITY;
        for c in 0..kk {
            let mut q = 0.0;
            for j in 0..d { let t = x[i * d + j] - mu[c * d + j]; q += t * t; }
            let prec = logp[c].exp();
            e[c] = logw[c] + 0.5 * (d as f64) * logp[c] - 0.5 * prec * q;
            if e[c] > best { best = e[c]; }
        }
        let mut s = 0.0;
        for c in 0..kk { s += (e[c] - best).exp(); }
        total += best + s.ln();
    }
    total
}
'''


def _check_slices(lib, d, inputs: list[list[float]], extra: tuple, active: list[int]):
    """Call with every slice Duplicated (zero shadows) or Const; compare the
    shadows of the active ones with central differences of the primal."""
    flat, shadows = [], []
    for k, xs in enumerate(inputs):
        x = array(xs)
        flat += [x, len(xs)]
        if k in active:
            dx = array([0.0] * len(xs))
            shadows.append(dx)
            flat += [dx, len(xs)]
    (ret,) = call(lib, d, *flat, *extra, 1.0)

    def f(k, vals):
        args = []
        for j, xs in enumerate(inputs):
            args += [array(vals if j == k else xs), len(xs)]
        return lib.primal(*args, *extra)
    assert close(ret, f(-1, None), 1e-14)
    for k, dx in zip(active, shadows):
        assert_close(list(dx), grad_of(lambda v: f(k, v), inputs[k]), abs_=1e-7)


def test_matmul_loss():
    m, k, n = 3, 4, 2
    A = [0.1 * ((7 * i) % 11) - 0.4 for i in range(m * k)]
    B = [0.2 * ((5 * i) % 7) - 0.5 for i in range(k * n)]
    d = derivative("reverse", "__cargo_mlir_primal_matmul",
                   ["Duplicated:slice<f64>", "Duplicated:slice<f64>", "Const:usize", "Const:usize", "Const:usize"],
                   ret_activity="Active")
    lib = build(MODELS, d, differentiate_reverse)
    _check_slices(lib, d, [A, B], (m, k, n), [0, 1])


def test_matmul_loss_through_a_buffer():
    m, k, n = 2, 3, 4
    A = [0.1 * ((7 * i) % 11) - 0.4 for i in range(m * k)]
    B = [0.2 * ((5 * i) % 7) - 0.5 for i in range(k * n)]
    d = derivative("reverse", "__cargo_mlir_primal_matmul_buf",
                   ["Duplicated:slice<f64>", "Const:slice<f64>", "Duplicated:slice<f64>", "Const:usize",
                    "Const:usize", "Const:usize"], ret_activity="Active")
    lib = build(MODELS, d, differentiate_reverse)
    a, da, b, c, dc = array(A), array([0.0] * len(A)), array(B), array([0.0] * (m * n)), array([0.0] * (m * n))
    (ret,) = call(lib, d, a, len(A), da, len(A), b, len(B), c, m * n, dc, m * n, m, k, n, 1.0)
    f = lambda v: lib.primal(array(v), len(A), array(B), len(B), array([0.0] * (m * n)), m * n, m, k, n)  # noqa
    assert close(ret, f(A), 1e-14)
    assert_close(list(da), grad_of(f, A))
    assert list(dc) == [0.0] * (m * n)


def test_gaussian_mixture_log_likelihood():
    n, dim, K = 5, 2, 3
    X = [math.sin(1.3 * i) * 2 for i in range(n * dim)]
    MU = [0.5 * ((3 * i) % 5) - 1.0 for i in range(K * dim)]
    LOGW = [-1.0, -0.7, -1.6]
    LOGP = [0.1, -0.3, 0.4]
    d = derivative("reverse", "__cargo_mlir_primal_gmm",
                   ["Const:slice<f64>", "Duplicated:slice<f64>", "Duplicated:slice<f64>", "Duplicated:slice<f64>",
                    "Const:usize", "Const:usize"], ret_activity="Active")
    lib = build(MODELS, d, differentiate_reverse)
    _check_slices(lib, d, [X, MU, LOGW, LOGP], (n, dim), [1, 2, 3])


# ------------------------------------------------------------------ tapes

def test_calling_twice_reuses_the_tape():
    d = derivative("reverse", "__cargo_mlir_primal_branchy", ["Active:f64", "Duplicated:slice<f64>"],
                   ret_activity="Active")
    lib = build(SLICES, d, differentiate_reverse)
    assert "thread_local" in lib.text and "realloc" in lib.text
    xs = [1.5, -0.2, -3.0, 0.3, 2.5, 0.9, -0.8, 4.0, 0.1, 1.1] * 300     # grows the tape past its first size
    runs = []
    for _ in range(3):
        x, dx = array(xs), array([0.0] * len(xs))
        runs.append(call(lib, d, 0.7, x, len(xs), dx, len(xs), 1.0) + list(dx))
    assert runs[0] == runs[1] == runs[2]


def test_stack_tape_without_loops():
    d = derivative("reverse", "__cargo_mlir_primal_trans", ["Active:f64", "Active:f64"], ret_activity="Active",
                   tape="stack")
    lib = build(SCALAR, d, differentiate_reverse)
    assert "realloc" not in lib.text and "thread_local" not in lib.text and "llvm.intr.trap" not in lib.text
    _, gx, gy = call(lib, d, 1.7, 0.6, 1.0)
    assert_close([gx, gy], grad_of(lambda v: lib.primal(*v), [1.7, 0.6]))


def test_stack_tape_with_loops():
    d = derivative("reverse", "__cargo_mlir_primal_calls", ["Active:f64", "Duplicated:slice<f64>"],
                   ret_activity="Active", tape="stack")
    lib = build(SLICES, d, differentiate_reverse)
    assert "realloc" not in lib.text and "llvm.intr.trap" in lib.text     # fixed capacity, checked
    a, xs = 0.6, [1.5, -0.2, 0.3, 2.5, 0.9, -0.8]
    x, dx = array(xs), array([0.0] * len(xs))
    _, ga = call(lib, d, a, x, len(xs), dx, len(xs), 1.0)
    f = lambda v: lib.primal(v[0], array(v[1:]), len(xs))  # noqa: E731
    assert_close([ga] + list(dx), grad_of(f, [a] + xs))


# ------------------------------------------------------------------ what is refused

REFUSED = r'''
#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_asm(x: f64) -> f64 {
    let mut y = x;
    unsafe { core::arch::asm!("/* {0} */", inout(xmm_reg) y); }
    y * x
}

#[inline(never)]
fn rec(x: f64, n: u32) -> f64 { if n == 0 { x } else { rec(x * x, n - 1) + x } }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_rec(x: f64, n: u32) -> f64 { rec(x, n) }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_bits(x: f64) -> f64 { f64::from_bits(x.to_bits() ^ 1) * x }
'''


@pytest.mark.parametrize("name, args, words", [
    ("asm", ["Active:f64"], ["inline assembly", ".rs:"]),
    ("rec", ["Active:f64", "Const:i32"], ["recursion"]),
    ("bits", ["Active:f64"], ["llvm.bitcast", ".rs:"]),
])
def test_unsupported_constructs_are_errors(name, args, words):
    d = derivative("reverse", f"__cargo_mlir_primal_{name}", args, ret_activity="Active")
    with pytest.raises(CargoMlirError) as err:
        H.differentiate_text(REFUSED, d, differentiate_reverse)
    msg = str(err.value)
    assert d.what in msg
    for w in words:
        assert w in msg, msg


def test_heap_memory_holding_active_floats_is_an_error():
    src = r'''
    #[no_mangle]
    pub extern "C" fn __cargo_mlir_primal_vec(x: f64, n: usize) -> f64 {
        let v: Vec<f64> = (0..n).map(|i| x * i as f64).collect();
        v.iter().sum()
    }
    '''
    d = derivative("reverse", "__cargo_mlir_primal_vec", ["Active:f64", "Const:usize"], ret_activity="Active")
    with pytest.raises(CargoMlirError, match="no shadow|not traceable"):
        H.differentiate_text(src, d, differentiate_reverse)


# ------------------------------------------------------------------ control-flow shapes

SHAPES = r'''
// a return from inside a loop, and a labelled break out of two loops
#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_early(a: f64, p: *const f64, n: usize) -> f64 {
    let x = core::slice::from_raw_parts(p, n);
    let mut t = 1.0;
    'outer: for i in 0..n {
        for j in 0..n {
            let v = x[(i + j) % n];
            if v * a > 3.0 { return t * v; }
            if v < -2.5 { break 'outer; }
            t = t * 0.5 + v * a * (j as f64 + 1.0);
        }
        t = t.sin() + x[i];
    }
    t * t
}

// raw-pointer walk (a pointer induction variable), a u32 counter, min/max/select
#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_ptrs(p: *const f64, n: u32, c: f64) -> f64 {
    let mut q = p;
    let end = p.add(n as usize);
    let mut acc = 0.0f64;
    let mut k = 0u32;
    while q < end {
        let v = *q;
        acc += if v > c { v.min(2.0 * c) } else { v.max(-c) * c };
        acc = acc.max(-10.0 + k as f64);
        q = q.add(1);
        k += 1;
    }
    acc
}

// a local array copied (memcpy) and indexed at run time; a callee with a local
#[inline(never)]
fn smooth(w: &[f64; 8], s: f64) -> f64 {
    let mut b = *w;
    for i in 1..8 { b[i] = b[i] * s + b[i - 1] * (1.0 - s); }
    b[7] + b[3] * b[5]
}

#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_locals(x: f64, k: usize, s: f64) -> f64 {
    let mut a = [0.0f64; 8];
    for i in 0..8 { a[i] = x * (i as f64 + 0.5) + s; }
    let mut b = a;
    b[k % 8] += x * x;
    a[(k + 1) % 8] * b[k % 8] + smooth(&b, s)
}

// loops inside a callee called in a loop, with a `&mut` scratch output
#[inline(never)]
fn dot(a: &[f64], b: &[f64]) -> f64 { let mut s = 0.0; for i in 0..a.len() { s += a[i] * b[i]; } s }

#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_rows(m: *const f64, lm: usize, v: *const f64, lv: usize,
                                                  out: *mut f64, lo: usize) -> f64 {
    let m = core::slice::from_raw_parts(m, lm);
    let v = core::slice::from_raw_parts(v, lv);
    let out = core::slice::from_raw_parts_mut(out, lo);
    let mut total = 0.0;
    for r in 0..lo {
        out[r] = dot(&m[r * lv..(r + 1) * lv], v).tanh();
        total += out[r] * (r as f64 + 1.0);
    }
    total
}
'''


def test_early_return_and_labelled_break():
    d = derivative("reverse", "__cargo_mlir_primal_early", ["Active:f64", "Duplicated:slice<f64>"],
                   ret_activity="Active")
    lib = build(SHAPES, d, differentiate_reverse)
    for a, xs in [(0.3, [0.5, 1.2, -0.7, 0.9]),        # runs to the end
                  (0.9, [0.5, 1.2, -0.7, 4.0]),        # returns from inside the inner loop
                  (0.3, [0.5, 1.2, -2.7, 0.9])]:       # breaks out of both loops
        x, dx = array(xs), array([0.0] * len(xs))
        ret, ga = call(lib, d, a, x, len(xs), dx, len(xs), 1.0)
        f = lambda v: lib.primal(v[0], array(v[1:]), len(xs))  # noqa: E731
        assert close(ret, f([a] + xs), 1e-15)
        assert_close([ga] + list(dx), grad_of(f, [a] + xs))


def test_pointer_walk_u32_counter_min_max():
    d = derivative("reverse", "__cargo_mlir_primal_ptrs", ["Duplicated:ptr<f64>", "Const:i32", "Active:f64"],
                   ret_activity="Active")
    lib = build(SHAPES, d, differentiate_reverse)
    xs, c = [0.5, 1.7, -0.9, 0.2, 3.1, -4.0, 0.05], 0.8
    x, dx = array(xs), array([0.0] * len(xs))
    ret, gc = call(lib, d, x, dx, len(xs), c, 1.0)
    f = lambda v: lib.primal(array(v[:-1]), len(xs), v[-1])  # noqa: E731
    assert close(ret, f(xs + [c]), 1e-15)
    assert_close(list(dx) + [gc], grad_of(f, xs + [c]))


@pytest.mark.parametrize("tape", ["heap", "stack"])
def test_local_arrays_memcpy_and_a_callee_with_a_local(tape):
    d = derivative("reverse", "__cargo_mlir_primal_locals", ["Active:f64", "Const:usize", "Active:f64"],
                   ret_activity="Active", tape=tape)
    lib = build(SHAPES, d, differentiate_reverse)
    for k in (0, 3, 7, 12):
        ret, gx, gs = call(lib, d, 0.7, k, 0.3, 1.0)
        f = lambda v: lib.primal(v[0], k, v[1])  # noqa: E731
        assert close(ret, f([0.7, 0.3]), 1e-15)
        assert_close([gx, gs], grad_of(f, [0.7, 0.3]))


def test_loops_in_a_callee_called_in_a_loop():
    rows, cols = 3, 4
    M = [0.1 * ((7 * i) % 11) - 0.4 for i in range(rows * cols)]
    V = [0.3, -0.2, 0.5, 0.1]
    d = derivative("reverse", "__cargo_mlir_primal_rows",
                   ["Duplicated:slice<f64>", "Duplicated:slice<f64>", "Duplicated:slice<f64>"], ret_activity="Active")
    lib = build(SHAPES, d, differentiate_reverse)
    m, dm, v, dv = array(M), array([0.0] * len(M)), array(V), array([0.0] * len(V))
    out, dout = array([0.0] * rows), array([0.0] * rows)
    (ret,) = call(lib, d, m, len(M), dm, len(M), v, len(V), dv, len(V), out, rows, dout, rows, 1.0)

    def f(vals):
        return lib.primal(array(vals[:len(M)]), len(M), array(vals[len(M):]), len(V), array([0.0] * rows), rows)
    assert close(ret, f(M + V), 1e-15)
    assert_close(list(dm) + list(dv), grad_of(f, M + V))
    assert list(dout) == [0.0] * rows


MORE = r'''
// a `match` (llvm.switch) in a loop
#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_matchy(a: f64, p: *const f64, n: usize) -> f64 {
    let x = core::slice::from_raw_parts(p, n);
    let mut t = 0.5;
    for i in 0..n {
        t = match (i * 7 + (x[i] > 0.0) as usize) % 5 {
            0 => t * x[i] + a,
            1 => t - x[i] * x[i] * a,
            2 => (t + x[i]).cos(),
            3 => t * a * 1.5,
            _ => t + 1.0 / (1.0 + x[i] * x[i]),
        };
    }
    t
}

// a callee with a return inside its loop (several exits), called twice
#[inline(never)]
fn first_above(a: &[f64], t: f64) -> f64 {
    for v in a { if *v > t { return v * t; } }
    t * t
}

#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_finds(p: *const f64, n: usize, t: f64) -> f64 {
    let x = core::slice::from_raw_parts(p, n);
    first_above(x, t) + first_above(&x[1..], 0.5 * t).sin()
}

#[no_mangle]
pub unsafe extern "C" fn __cargo_mlir_primal_dot32(p: *const f32, q: *const f32, n: usize) -> f32 {
    let x = core::slice::from_raw_parts(p, n);
    let y = core::slice::from_raw_parts(q, n);
    let mut s = 0.0f32;
    for i in 0..n { s += x[i] * y[i] * y[i]; }
    s.sqrt()
}
'''


def test_match_in_a_loop():
    d = derivative("reverse", "__cargo_mlir_primal_matchy", ["Active:f64", "Duplicated:slice<f64>"],
                   ret_activity="Active")
    lib = build(MORE, d, differentiate_reverse)
    assert "llvm.switch" in lib.text
    a, xs = 0.8, [0.3, -1.1, 0.7, 2.0, -0.4, 0.9, 1.3, -0.2, 0.5, -1.5, 0.1]
    x, dx = array(xs), array([0.0] * len(xs))
    ret, ga = call(lib, d, a, x, len(xs), dx, len(xs), 1.0)
    f = lambda v: lib.primal(v[0], array(v[1:]), len(xs))  # noqa: E731
    assert close(ret, f([a] + xs), 1e-15)
    assert_close([ga] + list(dx), grad_of(f, [a] + xs))


@pytest.mark.parametrize("t", [0.6, 5.0])
def test_callee_returning_from_inside_its_loop(t):
    d = derivative("reverse", "__cargo_mlir_primal_finds", ["Duplicated:slice<f64>", "Active:f64"],
                   ret_activity="Active")
    lib = build(MORE, d, differentiate_reverse)
    xs = [0.3, 0.5, 0.9, 1.4, 0.2]
    x, dx = array(xs), array([0.0] * len(xs))
    ret, gt = call(lib, d, x, len(xs), dx, len(xs), t, 1.0)
    f = lambda v: lib.primal(array(v[:-1]), len(xs), v[-1])  # noqa: E731
    assert close(ret, f(xs + [t]), 1e-15)
    assert_close(list(dx) + [gt], grad_of(f, xs + [t]))


def test_f32_slices():
    d = derivative("reverse", "__cargo_mlir_primal_dot32", ["Duplicated:ptr<f32>", "Duplicated:ptr<f32>",
                                                          "Const:usize"], ret="f32", ret_activity="Active")
    lib = build(MORE, d, differentiate_reverse)
    xs, ys = [0.5, 1.5, -0.25, 2.0], [1.0, -0.5, 0.75, 0.25]
    x, dx, y, dy = array(xs, "f32"), array([0.0] * 4, "f32"), array(ys, "f32"), array([0.0] * 4, "f32")
    (ret,) = call(lib, d, x, dx, y, dy, 4, 1.0)
    s = sum(a * b * b for a, b in zip(xs, ys))
    assert close(ret, math.sqrt(s), 1e-6)
    assert_close(list(dx), [b * b / (2 * math.sqrt(s)) for b in ys], 1e-5)
    assert_close(list(dy), [2 * a * b / (2 * math.sqrt(s)) for a, b in zip(xs, ys)], 1e-5)


def test_stack_tape_overflow_traps():
    """Past the fixed capacity the derivative executes llvm.trap (checked in a forked child)."""
    import multiprocessing
    import os
    from cargo_mlir.pipeline.stages.autodiff.tape import STACK_SLOTS
    d = derivative("reverse", "__cargo_mlir_primal_branchy", ["Active:f64", "Duplicated:slice<f64>"],
                   ret_activity="Active", tape="stack")
    lib = build(SLICES, d, differentiate_reverse)
    xs = [0.1, -0.2, 0.05] * 4                          # loop-only values: fits
    x, dx = array(xs), array([0.0] * len(xs))
    assert call(lib, d, 0.3, x, len(xs), dx, len(xs), 1.0)[1] != 0.0

    def overflow():
        import faulthandler
        faulthandler.disable()                          # the trap is expected: no traceback dump
        big = [0.1, -0.2, 0.05] * STACK_SLOTS
        call(lib, d, 0.3, array(big), len(big), array([0.0] * len(big)), len(big), 1.0)
        os._exit(0)
    child = multiprocessing.get_context("fork").Process(target=overflow)
    child.start()
    child.join(60)
    assert child.exitcode is not None and child.exitcode < 0      # killed by SIGILL/SIGTRAP


def test_agrees_with_forward_mode():
    forward = pytest.importorskip("cargo_mlir.pipeline.stages.autodiff.forward")
    n, dim, K = 4, 2, 3
    X = [math.sin(1.3 * i) * 2 for i in range(n * dim)]
    MU = [0.5 * ((3 * i) % 5) - 1.0 for i in range(K * dim)]
    LOGW, LOGP = [-1.0, -0.7, -1.6], [0.1, -0.3, 0.4]
    V = [0.3, -0.7, 0.2, 0.9, -0.4, 0.6]               # a direction for the means
    rev = derivative("reverse", "__cargo_mlir_primal_gmm",
                     ["Const:slice<f64>", "Duplicated:slice<f64>", "Const:slice<f64>", "Const:slice<f64>",
                      "Const:usize", "Const:usize"], ret_activity="Active")
    fwd = derivative("forward", "__cargo_mlir_primal_gmm",
                     ["Const:slice<f64>", "Dual:slice<f64>", "Const:slice<f64>", "Const:slice<f64>",
                      "Const:usize", "Const:usize"], ret_activity="Dual")
    rlib = build(MODELS, rev, differentiate_reverse)
    flib = build(MODELS, fwd, forward.differentiate_forward)
    dmu = array([0.0] * len(MU))
    call(rlib, rev, array(X), len(X), array(MU), len(MU), dmu, len(MU), array(LOGW), K, array(LOGP), K, n, dim, 1.0)
    _, tangent = call(flib, fwd, array(X), len(X), array(MU), len(MU), array(V), len(MU), array(LOGW), K,
                      array(LOGP), K, n, dim)
    assert close(tangent, sum(g * v for g, v in zip(dmu, V)), 1e-10)


def test_a_refused_derivative_leaves_the_module_unchanged():
    from mlir import ir
    d = derivative("reverse", "__cargo_mlir_primal_bits", ["Active:f64"], ret_activity="Active")
    with ir.Context(), ir.Location.unknown():
        module = H.import_primal(REFUSED, d.primal)
        before = str(module)
        with pytest.raises(CargoMlirError):
            differentiate_reverse(module, d)
        assert str(module) == before


def test_pointer_returned_by_a_callee_is_not_taken_for_constant_memory():
    src = r'''
    #[inline(never)]
    fn pick(x: &[f64], i: usize) -> &f64 { &x[i % x.len()] }

    #[no_mangle]
    pub unsafe extern "C" fn __cargo_mlir_primal_pick(p: *const f64, n: usize) -> f64 {
        let x = core::slice::from_raw_parts(p, n);
        let v = *pick(x, 3);
        v * v
    }
    '''
    d = derivative("reverse", "__cargo_mlir_primal_pick", ["Duplicated:slice<f64>"], ret_activity="Active")
    with pytest.raises(CargoMlirError, match="not traceable"):
        H.differentiate_text(src, d, differentiate_reverse)
