"""Forward mode on hand-written Rust primals (tests/unit/autodiff_harness.py):
rustc with the device flags, the pipeline's extract + import, then
`differentiate_forward`, lowered with clang and called through ctypes; every
tangent is checked against central differences of the primal itself."""

from __future__ import annotations

import math
import re
import shutil

import pytest

ir = pytest.importorskip("mlir.ir")
if shutil.which("rustc") is None:
    pytest.skip("rustc is needed to compile the primals", allow_module_level=True)

from autodiff_harness import (array, build, call, central_difference, close, derivative,  # noqa: E402
                              differentiate_text, directional_difference)

from cargo_mlir.pipeline.stages.autodiff.forward import differentiate_forward  # noqa: E402
from cargo_mlir.pipeline.stages.autodiff.rules import Unsupported  # noqa: E402

# ------------------------------------------------------------------ scalar functions

UNARY = {
    # name: (body over x, x0)
    "poly": ("3.0 * x * x * x - 2.0 * x * x + x - 5.0", 1.3),
    "sin": ("x.sin() * x.cos()", 0.8),
    "exp": ("(0.5 * x).exp() + x.exp2()", 0.9),
    "ln": ("x.ln() * x + x.log2() - x.log10()", 1.7),
    "tanh": ("x.tanh() * 2.0", 0.4),
    "sqrt": ("(x * x + 1.0).sqrt()", 1.2),
    "powi": ("x.powi(5) + x.powi(-3)", 1.1),
    "powf": ("x.powf(2.7)", 1.4),
    "fma": ("x.mul_add(x, 3.0) * x", 0.6),
    "div": ("1.0 / (x * x + 1.0) - x / 3.0", 0.7),
    "rem": ("(x * 3.0) % 0.7", 1.1),
    "abs": ("(x - 1.0).abs() * x + (x + 2.0).abs()", 0.6),
    "min": ("x.min(2.0 * x - 1.0) + x.max(0.3 - x)", 0.7),
    "minimum": ("x.min(3.0 - x) * x.max(0.1)", 2.0),
    "copysign": ("(x * x).copysign(-1.0) + 2.0f64.copysign(x)", 0.5),
    "floor": ("x.floor() * x + x.round() + x.ceil() + x.trunc()", 1.6),
    "libm": ("x.sinh() + x.cosh() + x.atan() + x.asin() + x.acos() + x.tan() + x.exp_m1() + x.ln_1p() "
             "+ x.cbrt() + x.hypot(2.0) + x.atan2(1.5) + 1.5f64.atan2(x)", 0.35),
    "select": ("if x > 1.0 { x * x } else { 3.0 * x }", 1.2),
}

SCALARS = "\n".join(
    f'#[no_mangle]\npub extern "C" fn __cargo_mlir_primal_{name}(x: f64) -> f64 {{ {body} }}\n'
    for name, (body, _) in UNARY.items()) + r'''
#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_two(x: f64, y: f64) -> f64 { x.powf(y) + (x * y).sin() / y }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_cast(x: f64) -> f64 { ((x as f32).sin() as f64) + (x as i64) as f64 }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_f32(x: f32) -> f32 { x.sin() * x.exp() + x.tanh() + x.powi(3) }

#[inline(never)]
fn pair(a: f64) -> (f64, f64) { (a.sin() * a, a.cos() + a) }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_pair(x: f64) -> f64 { let (s, c) = pair(x); s * c + s }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_assert(x: f64) -> f64 {
    let y = x * x;
    assert!(y < 100.0, "too big: {}", y);
    y.sin()
}

#[inline(never)]
fn rpow(x: f64, n: u32) -> f64 {
    if n == 0 { 1.0 } else if n % 2 == 1 { x * rpow(x, n - 1) } else { let h = rpow(x, n / 2); h * h }
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_recursive(x: f64) -> f64 { rpow(x, 13) }
'''


def scalar(name, ret_activity="Dual", width=1, ty="f64"):
    return derivative("forward", f"__cargo_mlir_primal_{name}", [f"Dual:{ty}"], ret=ty, ret_activity=ret_activity,
                      width=width)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_scalar_functions_match_central_differences(name):
    x0 = UNARY[name][1]
    d = scalar(name)
    b = build(SCALARS, d, differentiate_forward)
    value, tangent = call(b, d, x0, 1.0)
    assert value == b.primal(x0)
    expected = central_difference(b.primal, x0)
    assert close(tangent, expected), (name, tangent, expected)
    # the tangent is linear in the seed
    assert close(call(b, d, x0, -2.5)[1], -2.5 * tangent, rel=1e-12)


INTRINSICS = """
llvm.func @__cargo_mlir_primal_intr(%x: f64) -> f64 {
  %c = llvm.mlir.constant(1.5 : f64) : f64
  %h = llvm.mlir.constant(0.5 : f64) : f64
  %0 = llvm.intr.tanh(%x) : (f64) -> f64
  %1 = llvm.intr.sinh(%x) : (f64) -> f64
  %2 = llvm.intr.cosh(%x) : (f64) -> f64
  %3 = llvm.intr.asin(%x) : (f64) -> f64
  %4 = llvm.intr.acos(%x) : (f64) -> f64
  %5 = llvm.intr.atan(%x) : (f64) -> f64
  %6 = llvm.intr.tan(%x) : (f64) -> f64
  %7 = llvm.intr.exp10(%x) : (f64) -> f64
  %8 = llvm.intr.atan2(%x, %c) : (f64, f64) -> f64
  %9 = llvm.intr.atan2(%c, %x) : (f64, f64) -> f64
  %10 = llvm.intr.minimum(%x, %h) : (f64, f64) -> f64
  %11 = llvm.intr.maximum(%x, %h) : (f64, f64) -> f64
  %12 = llvm.intr.minnum(%0, %1) : (f64, f64) -> f64
  %13 = llvm.intr.maxnum(%2, %3) : (f64, f64) -> f64
  %14 = llvm.intr.roundeven(%7) : (f64) -> f64
  %15 = llvm.intr.fmuladd(%4, %5, %6) : (f64, f64, f64) -> f64
  %16 = llvm.intr.copysign(%8, %9) : (f64, f64) -> f64
  %17 = llvm.frem %15, %c : f64
  %a = llvm.fadd %10, %11 : f64
  %b = llvm.fadd %a, %12 : f64
  %d = llvm.fadd %b, %13 : f64
  %e = llvm.fmul %d, %14 : f64
  %f = llvm.fadd %e, %16 : f64
  %g = llvm.fadd %f, %17 : f64
  %i = llvm.fadd %g, %9 : f64
  llvm.return %i : f64
}
"""


@pytest.mark.parametrize("x0", [0.3, 0.7])
def test_intrinsics_rustc_does_not_spell(x0):
    d = derivative("forward", "__cargo_mlir_primal_intr", ["Dual:f64"], ret_activity="Dual")
    b = build(INTRINSICS, d, differentiate_forward, mlir=True)
    assert close(call(b, d, x0, 1.0)[1], central_difference(b.primal, x0))


def test_piecewise_constant_and_integer_paths_have_zero_tangent():
    d = scalar("floor")
    b = build(SCALARS, d, differentiate_forward)
    # d/dx (floor(x) x + round + ceil + trunc) = floor(x) away from integers
    assert call(b, d, 1.6, 1.0)[1] == 1.0


def test_two_arguments_each_activity():
    x, y = 1.3, 0.8
    f = lambda xy: build_two.primal(*xy)  # noqa: E731
    both = derivative("forward", "__cargo_mlir_primal_two", ["Dual:f64", "Dual:f64"], ret_activity="Dual")
    build_two = build(SCALARS, both, differentiate_forward)
    value, t = call(build_two, both, x, 0.3, y, -1.2)
    assert close(t, directional_difference(f, [x, y], [0.3, -1.2]))
    only_y = derivative("forward", "__cargo_mlir_primal_two", ["Const:f64", "Dual:f64"], ret_activity="DualOnly")
    b = build(SCALARS, only_y, differentiate_forward)
    (t_y,) = call(b, only_y, x, y, 1.0)
    assert close(t_y, central_difference(lambda v: build_two.primal(x, v), y))


def test_constant_return_activity_gives_the_value_only():
    d = scalar("poly", ret_activity="Const")
    b = build(SCALARS, d, differentiate_forward)
    assert call(b, d, 2.0, 1.0) == [b.primal(2.0)]


def test_f32():
    d = scalar("f32", ty="f32")
    b = build(SCALARS, d, differentiate_forward)
    x = 0.7
    value, tangent = call(b, d, x, 1.0)
    exact = math.cos(x) * math.exp(x) + math.sin(x) * math.exp(x) + 1 - math.tanh(x) ** 2 + 3 * x * x
    assert close(tangent, exact, rel=1e-5)
    assert "@tanhf" in b.text


def test_casts_through_f32_and_integers():
    d = scalar("cast")
    b = build(SCALARS, d, differentiate_forward)
    # (x as f32).sin() carries f32 rounding: central differences are too coarse for it
    assert close(call(b, d, 0.4, 1.0)[1], math.cos(0.4), rel=1e-6)


def test_helper_returning_a_pair():
    d = scalar("pair")
    b = build(SCALARS, d, differentiate_forward)
    assert ".fwd1." in b.text                                 # the helper stayed a call
    assert close(call(b, d, 0.9, 1.0)[1], central_difference(b.primal, 0.9))


def test_panic_with_a_formatted_float():
    d = scalar("assert")
    b = build(SCALARS, d, differentiate_forward)
    assert "panic" in b.text.split(f"@{d.name}(")[1]
    assert close(call(b, d, 1.3, 1.0)[1], central_difference(b.primal, 1.3))


def test_recursive_helper():
    d = scalar("recursive")
    b = build(SCALARS, d, differentiate_forward)
    assert close(call(b, d, 1.1, 1.0)[1], 13 * 1.1 ** 12, rel=1e-12)


def test_width_2_scalar_tangents():
    d = scalar("libm", width=2)
    b = build(SCALARS, d, differentiate_forward)
    value, t0, t1 = call(b, d, 0.35, 1.0, 2.0)
    assert close(t0, central_difference(b.primal, 0.35)) and close(t1, 2.0 * t0, rel=1e-12)


def test_zero_tangents_are_skipped_not_multiplied():
    d = derivative("forward", "__cargo_mlir_primal_two", ["Dual:f64", "Const:f64"], ret_activity="Dual")

    def check(module):
        fn = next(op for op in module.body.operations
                  if "sym_name" in op.operation.attributes and
                  ir.StringAttr(op.operation.attributes["sym_name"]).value == d.name)
        zeros = []
        fn.operation.walk(lambda op: (zeros.append(op) if op.name == "llvm.fmul" and any(
            _is_zero_constant(v) for v in op.operands) else None) or ir.WalkResult.ADVANCE)
        assert not zeros

    b = build(SCALARS, d, differentiate_forward, check=check)
    assert close(call(b, d, 1.3, 1.0, 0.8)[1], central_difference(lambda v: b.primal(v, 0.8), 1.3))


def _is_zero_constant(v):
    owner = v.owner
    return isinstance(owner, ir.OpView) and owner.operation.name == "llvm.mlir.constant" and \
        re.fullmatch(r"0\.0+e\+00 : f(32|64)", str(owner.operation.attributes["value"])) is not None


# ------------------------------------------------------------------ slices, loops, memory

SLICES = r'''
use core::slice::{from_raw_parts, from_raw_parts_mut};

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_sumsq(x: *const f64, n: usize) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    s.iter().map(|v| v * v).sum()
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_norm(x: *const f64, n: usize) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    s.iter().map(|v| v * v).sum::<f64>().sqrt()
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_branchy(x: *const f64, n: usize, y: f64) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    let mut acc = y;
    for &v in s {
        if v > 0.0 {
            acc += v.sin() * v;
        } else if v < -1.0 {
            acc -= v * v * acc;
        } else {
            acc *= 1.0 + v;
        }
    }
    acc
}

#[inline(never)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..a.len() { s += a[i] * b[i]; }
    s
}

#[inline(never)]
fn scaled_tanh_sum(k: f64, a: &[f64]) -> f64 { a.iter().map(|v| (k * v).tanh()).sum() }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_calls(x: *const f64, n: usize, w: *const f64) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    let w = unsafe { from_raw_parts(w, n) };
    dot(s, w) * scaled_tanh_sum(s[0], s) + dot(w, w)
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_write(x: *const f64, out: *mut f64, n: usize) {
    let s = unsafe { from_raw_parts(x, n) };
    let o = unsafe { from_raw_parts_mut(out, n) };
    for i in 0..n {
        o[i] = s[i].exp() * s[(i + 1) % n];
    }
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_gather(x: *const f64, n: usize, idx: *const usize, m: usize) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    let idx = unsafe { from_raw_parts(idx, m) };
    let mut acc = 0.0;
    for &i in idx { acc += s[i] * s[i] * (i as f64 + 1.0); }   // bounds-checked: a panic path
    acc
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_local(x: *const f64, n: usize, idx: *const usize) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    let idx = unsafe { from_raw_parts(idx, n) };
    let mut buf = [0.0f64; 8];
    for j in 0..n { buf[idx[j] & 7] += s[j] * s[j]; }
    let mut acc = 0.0;
    for k in 0..8 { acc += (buf[k] + 0.5).ln() * (k as f64 + 1.0); }
    acc
}

#[inline(never)]
fn fill(buf: &mut [f64; 4], x: &[f64]) {
    for i in 0..4 { buf[i] = x[i % x.len()].sin() * buf[i] + x[(i + 1) % x.len()]; }
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_fill(x: *const f64, n: usize) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    let mut buf = [1.5f64; 4];
    fill(&mut buf, s);
    fill(&mut buf, s);
    buf.iter().map(|b| b * b).sum()
}

static TABLE: [f64; 4] = [0.5, -1.25, 2.0, 3.5];

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_switch(x: *const f64, n: usize, k: u32) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    let mut acc = 0.0;
    for (i, &v) in s.iter().enumerate() {
        acc += match (i as u32 + k) % 5 {
            0 => v.sin(),
            1 => v * v * TABLE[(i + k as usize) & 3],
            2 => v.exp() * acc,
            3 => -v,
            _ => acc * 0.5,
        };
    }
    acc
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_copy(x: *const f64, n: usize, idx: *const usize) -> f64 {
    let s = unsafe { from_raw_parts(x, n) };
    let idx = unsafe { from_raw_parts(idx, n) };
    let mut buf = [0.0f64; 6];
    buf.copy_from_slice(&s[..6]);
    let mut acc = 1.0;
    for j in 0..n { acc = acc * 0.5 + buf[idx[j] % 6] * s[j]; buf[idx[j] % 6] = acc; }
    acc
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_sumsq32(x: *const f32, n: usize) -> f32 {
    let s = unsafe { from_raw_parts(x, n) };
    s.iter().map(|v| 0.5 * v * v).sum()
}
'''

XS = [0.3, -0.2, 0.5, 0.7, -1.1, 1.9, -0.05]
V = [1.0, 0.5, -0.25, 2.0, 0.1, -0.7, 0.3]


def slice_fn(b, *rest):
    """The primal as a function of the slice's values (for central differences)."""
    return lambda xs: b.primal(array(xs), len(xs), *rest)


@pytest.mark.parametrize("name", ["sumsq", "norm"])
def test_loop_over_a_slice(name):
    d = derivative("forward", f"__cargo_mlir_primal_{name}", ["Dual:slice<f64>"], ret_activity="Dual")
    b = build(SLICES, d, differentiate_forward)
    value, t = call(b, d, array(XS), len(XS), array(V), len(V))
    assert close(t, directional_difference(slice_fn(b), XS, V))


def test_loop_with_data_dependent_branches():
    d = derivative("forward", "__cargo_mlir_primal_branchy", ["Dual:slice<f64>", "Dual:f64"], ret_activity="Dual")
    b = build(SLICES, d, differentiate_forward)
    y, vy = 0.9, -0.4
    value, t = call(b, d, array(XS), len(XS), array(V), len(V), y, vy)
    f = lambda z: b.primal(array(z[:-1]), len(XS), z[-1])  # noqa: E731
    assert close(t, directional_difference(f, XS + [y], V + [vy]))


def test_helper_calls_get_forward_versions():
    d = derivative("forward", "__cargo_mlir_primal_calls", ["Dual:slice<f64>", "Const:ptr<f64>"],
                   ret_activity="Dual")
    b = build(SLICES, d, differentiate_forward)
    assert b.text.count(".fwd1.") >= 2
    w = [0.2, 0.4, -0.3, 0.1, 0.0, 0.5, -0.6]
    value, t = call(b, d, array(XS), len(XS), array(V), len(V), array(w))
    assert close(t, directional_difference(lambda xs: b.primal(array(xs), len(xs), array(w)), XS, V))


def test_mut_slice_output_tangent_lands_in_its_shadow():
    d = derivative("forward", "__cargo_mlir_primal_write", ["Dual:ptr<f64>", "Dual:ptr<f64>", "Const:usize"],
                   ret=None)
    b = build(SLICES, d, differentiate_forward)
    n = len(XS)
    out, dout = array([0.0] * n), array([0.0] * n)
    assert call(b, d, array(XS), array(V), out, dout, n) == []

    def out_i(i):
        def f(xs):
            o = array([0.0] * n)
            b.primal(array(xs), o, n)
            return o[i]
        return f

    assert list(out)[2] == math.exp(XS[2]) * XS[3]
    for i in range(n):
        assert close(dout[i], directional_difference(out_i(i), XS, V)), i


def test_panic_path_stays_and_does_not_panic():
    d = derivative("forward", "__cargo_mlir_primal_gather", ["Dual:slice<f64>", "Const:slice<usize>"],
                   ret_activity="Dual")
    b = build(SLICES, d, differentiate_forward)
    derivative_text = b.text.split(f"@{d.name}(")[1]
    assert "panic_bounds_check" in derivative_text and "llvm.unreachable" in derivative_text
    idx = array([3, 0, 6, 3, 2], "usize")
    value, t = call(b, d, array(XS), len(XS), array(V), len(V), idx, 5)
    assert close(t, directional_difference(lambda xs: b.primal(array(xs), len(xs), idx, 5), XS, V))


def test_local_array_gets_a_shadow():
    d = derivative("forward", "__cargo_mlir_primal_local", ["Dual:slice<f64>", "Const:ptr<usize>"],
                   ret_activity="Dual")
    b = build(SLICES, d, differentiate_forward)
    assert "llvm.alloca" in b.text.split(f"@{d.name}(")[1]
    idx = array([1, 9, 3, 1, 4, 6, 0], "usize")
    value, t = call(b, d, array(XS), len(XS), array(V), len(V), idx)
    assert close(t, directional_difference(lambda xs: b.primal(array(xs), len(xs), idx), XS, V))


@pytest.mark.parametrize("width", [1, 3])
def test_local_array_written_by_a_helper(width):
    d = derivative("forward", "__cargo_mlir_primal_fill", ["Dual:slice<f64>"], ret_activity="Dual", width=width)
    b = build(SLICES, d, differentiate_forward)
    seeds = [V, [0.0] * len(V), [1.0] + [0.0] * (len(V) - 1)][:width]
    value, *tangents = call(b, d, array(XS), len(XS), *[a for s in seeds for a in (array(s), len(s))])
    for t, seed in zip(tangents, seeds):
        assert close(t, directional_difference(slice_fn(b), XS, seed))


@pytest.mark.parametrize("width", [2, 4])
def test_vector_mode_through_calls(width):
    d = derivative("forward", "__cargo_mlir_primal_calls", ["Dual:slice<f64>", "Const:ptr<f64>"],
                   ret_activity="Dual", width=width)
    b = build(SLICES, d, differentiate_forward)
    w = [0.2, 0.4, -0.3, 0.1, 0.0, 0.5, -0.6]
    seeds = [[math.sin(i + k) for i in range(len(XS))] for k in range(width)]
    value, *tangents = call(b, d, array(XS), len(XS), *[a for s in seeds for a in (array(s), len(s))], array(w))
    for t, seed in zip(tangents, seeds):
        assert close(t, directional_difference(lambda xs: b.primal(array(xs), len(xs), array(w)), XS, seed))


@pytest.mark.parametrize("k", [0, 1, 3])
def test_match_with_a_constant_table(k):
    d = derivative("forward", "__cargo_mlir_primal_switch", ["DualOnly:slice<f64>", "Const:u32"],
                   ret_activity="Dual")
    b = build(SLICES, d, differentiate_forward)
    value, t = call(b, d, array(XS), len(XS), array(V), len(V), k)
    assert value == b.primal(array(XS), len(XS), k)
    assert close(t, directional_difference(lambda xs: b.primal(array(xs), len(xs), k), XS, V))


def test_copy_into_a_local_and_back():
    d = derivative("forward", "__cargo_mlir_primal_copy", ["Dual:slice<f64>", "Const:ptr<usize>"],
                   ret_activity="Dual")
    b = build(SLICES, d, differentiate_forward)
    idx = array([5, 1, 0, 7, 2, 2, 3], "usize")
    value, t = call(b, d, array(XS), len(XS), array(V), len(V), idx)
    assert close(t, directional_difference(lambda xs: b.primal(array(xs), len(xs), idx), XS, V))


def test_width_4_gives_four_directional_derivatives():
    d = derivative("forward", "__cargo_mlir_primal_branchy", ["Dual:slice<f64>", "Const:f64"], ret_activity="Dual",
                   width=4)
    b = build(SLICES, d, differentiate_forward)
    xs = XS[:4]
    seeds = [[1.0 if i == w else 0.0 for i in range(4)] for w in range(4)]
    shadows = [a for s in seeds for a in (array(s), 4)]
    value, *grad = call(b, d, array(xs), 4, *shadows, 0.9)
    f = lambda z: b.primal(array(z), 4, 0.9)  # noqa: E731
    for w in range(4):
        assert close(grad[w], directional_difference(f, xs, seeds[w])), w


def test_f32_slice():
    d = derivative("forward", "__cargo_mlir_primal_sumsq32", ["Dual:slice<f32>"], ret="f32", ret_activity="Dual")
    b = build(SLICES, d, differentiate_forward)
    xs32 = array(XS, "f32")
    value, t = call(b, d, xs32, len(XS), array(V, "f32"), len(V))
    assert close(t, sum(x * v for x, v in zip(list(xs32), list(array(V, "f32")))), rel=1e-5)


# ------------------------------------------------------------------ what it refuses

REFUSED = r'''
extern "C" { fn mystery(x: f64) -> f64; }

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_external(x: f64) -> f64 {
    unsafe { mystery(x * 2.0) + x }
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_asm(mut x: f64) -> f64 {
    unsafe { core::arch::asm!("/* {0} */", inout(xmm_reg) x); }
    x * x
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_indirect(x: f64, pp: *const *const f64) -> f64 {
    unsafe { x * **pp }
}

static FUNCS: [fn(f64) -> f64; 2] = [f64::sin, f64::cos];

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_fnptr(x: f64, k: usize) -> f64 {
    FUNCS[k & 1](x) * x
}

#[no_mangle]
pub extern "C" fn __cargo_mlir_primal_store_const(x: f64, out: *mut f64) -> f64 {
    unsafe { *out = x * 2.0; }
    x
}
'''


@pytest.mark.parametrize("name,args,message", [
    ("external", ["Dual:f64"], r"external function `mystery` with active arguments"),
    ("asm", ["Dual:f64"], r"inline assembly"),
    ("indirect", ["Dual:f64", "Const:ptr<f64>"], r"a float is loaded through a pointer that cannot be traced"),
    ("fnptr", ["Dual:f64", "Const:usize"], r"an indirect call"),
    ("store_const", ["Dual:f64", "Const:ptr<f64>"], r"active value is stored through a pointer that points into "
                                                     r"constant"),
])
def test_unsupported_constructs_are_clear_errors(name, args, message):
    d = derivative("forward", f"__cargo_mlir_primal_{name}", args, ret_activity="Dual")
    with pytest.raises(Unsupported) as err:
        differentiate_text(REFUSED, d, differentiate_forward)
    text = str(err.value)
    assert re.search(message, text), text
    assert d.what in text and re.search(r"\.rs:\d+", text), text
