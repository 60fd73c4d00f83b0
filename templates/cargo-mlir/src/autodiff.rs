//! Automatic differentiation with the syntax of nightly `std::autodiff`: code
//! moves to std by changing the `use` line.
//!
//! `#[autodiff_reverse(NAME, ACTIVITY…, RETURN_ACTIVITY)]` and
//! `#[autodiff_forward(NAME, [WIDTH,] ACTIVITY…, RETURN_ACTIVITY)]` keep the
//! function they are on and add its derivative `NAME` beside it, with the
//! function's visibility and the signature std::autodiff gives it. There is one
//! activity per parameter, then one for the return (none when the function
//! returns `()`):
//!
//! | mode | parameter | return |
//! |------|-----------|--------|
//! | reverse | `Const`; `Active` (f32/f64 by value: its gradient is returned); `Duplicated` (a reference or raw pointer to floats: a shadow `d<x>_0` of the same type made mutable follows it, the gradient is *added* into it); `DuplicatedOnly` (the same; the derivative is `unsafe`) | `Const`; `Active` (a seed `dret` is the last parameter; the primal's return is returned); `ActiveOnly` (the same without the primal's return) |
//! | forward | `Const`; `Dual` (f32/f64, or a reference or raw pointer to floats: WIDTH shadows `b<x>_0`… of the same type follow it, holding tangents); `DualOnly` (the same; the derivative is `unsafe`) | `Const`; `Dual` (returns `(primal, tangent)`, `[T; WIDTH + 1]` for WIDTH > 1); `DualOnly` (returns the tangent, `[T; WIDTH]` for WIDTH > 1) |
//!
//! A reverse-mode derivative returns the primal's return (unless `ActiveOnly`)
//! then the gradient of each `Active` parameter: one value alone, a tuple when
//! more, `()` when none. Parameters are `f32`, `f64`, integers and `bool`
//! (`Const`), `&[T]`, `&mut [T]`, `&[T; N]`, `&mut [T; N]`, `&T`, `&mut T`,
//! `*const T`, `*mut T`; the return is `()` or one scalar. A slice's shadow has
//! the slice's length (the derivative asserts it).
//!
//! ```no_run
//! use cargo_mlir::autodiff::{autodiff_forward, autodiff_reverse};
//!
//! #[autodiff_reverse(d_square, Active, Active)]
//! fn square(x: f64) -> f64 { x * x }
//!
//! #[autodiff_reverse(d_sumsq, Duplicated, Active)]
//! fn sumsq(x: &[f64]) -> f64 { x.iter().map(|v| v * v).sum() }
//!
//! #[autodiff_forward(d_cube, Dual, Dual)]
//! fn cube(x: f64) -> f64 { x * x * x }
//!
//! // forward mode, 4 tangents at once
//! #[autodiff_forward(d_sq4, 4, Dual, Dual)]
//! fn sq(x: &f32) -> f32 { *x * *x }
//!
//! assert_eq!(d_square(3.0, 1.0), (9.0, 6.0));         // (primal, ∂/∂x · dret)
//! let x = [1.0, 2.0, 3.0];
//! let mut dx = [0.0; 3];
//! assert_eq!(d_sumsq(&x, &mut dx, 1.0), 14.0);         // returns the primal …
//! assert_eq!(dx, [2.0, 4.0, 6.0]);                     // … and adds the gradient into dx
//! assert_eq!(d_cube(2.0, 1.0), (8.0, 12.0));           // (primal, tangent)
//! let [y, t0, t1, t2, t3]: [f32; 5] = d_sq4(&3.0, &1.0, &0.0, &2.0, &0.5);
//! assert_eq!((y, t0, t1, t2, t3), (9.0, 6.0, 0.0, 12.0, 3.0));
//! ```
//!
//! Derivatives are made by cargo-mlir's pipeline from the primal's code: build
//! with `cargo mlir build`/`run`/`test`. Built with plain cargo, the crate
//! compiles and the functions work, but calling a derivative panics saying so.

pub use cargo_mlir_macros::{autodiff_forward, autodiff_reverse};

/// What a derivative does when the program was not built by cargo mlir (its
/// entry found no code registered for it).
#[doc(hidden)]
#[cold]
#[inline(never)]
#[track_caller]
pub fn __not_built(derivative: &str, primal: &str, attribute: &str) -> ! {
    panic!("`{derivative}` is the derivative of `{primal}` made by #[{attribute}]; derivatives are made by \
            cargo-mlir's pipeline: build with `cargo mlir build`/`run`/`test` (a plain cargo build has no \
            derivative code)")
}
