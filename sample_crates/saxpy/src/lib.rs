//! y = a·x + y over a million elements, one element per GPU thread.

use cargo_mlir::gpu;
use cargo_mlir::offload::{offload, offload_kernel};

#[offload_kernel]
fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = gpu::global_id_x(); // workgroup_id_x * workgroup_size_x + workitem_id_x
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

pub const N: usize = 1 << 20;
pub const THREADS: usize = 256;

/// The inputs every run uses: x[i] = i mod 17, y[i] = 1 + i mod 5.
pub fn inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    ((0..n).map(|i| (i % 17) as f32).collect(), (0..n).map(|i| 1.0 + (i % 5) as f32).collect())
}

/// Runs the kernel over the whole grid; `y` is updated in place.
pub fn run(a: f32, x: &[f32], y: &mut [f32]) {
    offload! {
        kernel = saxpy,
        workgroup_dim = [y.len().div_ceil(THREADS) as u32, 1, 1],
        thread_dim = [THREADS as u32, 1, 1],
        args = (a, x, y),
    };
}

/// Order-independent checksum: the sum in f64 of every element.
pub fn checksum(v: &[f32]) -> f64 {
    v.iter().map(|&e| e as f64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sequential_rust() {
        let (x, mut y) = inputs(10_000 + 7); // not a multiple of the workgroup size
        let expected: Vec<f32> = x.iter().zip(&y).map(|(x, y)| 2.5 * x + y).collect();
        run(2.5, &x, &mut y);
        assert_eq!(y, expected);
    }

    #[test]
    fn empty_input_is_a_no_op() {
        let (x, mut y) = (Vec::new(), Vec::new());
        run(1.0, &x, &mut y);
        assert!(y.is_empty());
    }
}
