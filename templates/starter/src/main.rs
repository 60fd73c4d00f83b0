//! y = a·x + y over a million elements, one element per GPU thread.
//!
//! `cargo mlir run --release` sends `saxpy` through MLIR to the GPUs listed in
//! `offload-arch` (Cargo.toml) and to the host CPU; the first GPU with a matching
//! image runs it, else all CPU cores. Plain `cargo run` runs it as ordinary Rust.
//! `CARGO_MLIR_LOG=info` says where each launch ran.

use cargo_mlir::offload::{offload, offload_kernel};
use cargo_mlir::gpu;

#[offload_kernel]
fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = gpu::global_id_x(); // workgroup_id_x * workgroup_size_x + workitem_id_x
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

/// x[i] = i mod 17, y[i] = 1 + i mod 5: small integers, so every result is exact.
fn inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    ((0..n).map(|i| (i % 17) as f32).collect(), (0..n).map(|i| 1.0 + (i % 5) as f32).collect())
}

fn main() {
    let n: u32 = 1 << 20; // a multiple of the 256 threads per workgroup (grid sizes are u32)
    let (x, mut y) = inputs(n as usize);
    offload! {
        kernel = saxpy,
        workgroup_dim = [n / 256, 1, 1],
        thread_dim = [256, 1, 1],
        args = (3.0, &x[..], &mut y[..]),
    };
    // Order-independent checksum: the f64 sum of every element.
    let checksum: f64 = y.iter().map(|&v| v as f64).sum();
    println!("saxpy n={n} checksum={checksum:.1}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saxpy_matches_plain_rust() {
        let n: u32 = 4 * 256;
        let (x, mut y) = inputs(n as usize);
        let expected: Vec<f32> = x.iter().zip(&y).map(|(x, y)| 2.5 * x + y).collect();
        offload! {
            kernel = saxpy,
            workgroup_dim = [n / 256, 1, 1],
            thread_dim = [256, 1, 1],
            args = (2.5, &x[..], &mut y[..]),
        };
        assert_eq!(y, expected);
    }
}
