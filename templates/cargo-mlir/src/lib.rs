//! Support crate for `cargo mlir`.
//!
//! The syntax mirrors nightly `core::offload`, so code moves
//! to std by changing the `use` lines. Built with plain `cargo build`, kernels
//! run as ordinary Rust on the host; built with `cargo mlir`, they go through
//! MLIR and run on a GPU when one with a matching image exists, else on all CPU
//! cores.
//!
//! `#[cargo_mlir::accelerate]` routes an ordinary host function through the
//! MLIR pipeline: built by `cargo mlir`, calls go to the pipeline's code when it
//! accepts them; otherwise (and with plain `cargo build`) the Rust body runs.
//!
//! `cargo_mlir::autodiff::{autodiff_forward, autodiff_reverse}` add a function's
//! derivative with nightly `std::autodiff`'s syntax and signatures; cargo mlir
//! makes its code (with plain cargo, calling it panics saying so).

#[doc(hidden)]
pub mod abi;
pub mod autodiff;
pub mod gpu;
mod gpu_driver;
pub mod offload;
#[doc(hidden)]
pub mod runtime;

pub use cargo_mlir_macros::accelerate;
