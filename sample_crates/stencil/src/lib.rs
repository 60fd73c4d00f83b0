//! Jacobi iterations of a 2-D 5-point stencil: one grid point per GPU thread,
//! x and y ids from a 2-D grid of 16×16 workgroups.

use cargo_mlir::gpu;
use cargo_mlir::offload::{offload, offload_kernel};

#[offload_kernel]
fn jacobi(n: usize, input: &[f64], output: &mut [f64]) {
    let j = gpu::global_id_x();
    let i = gpu::global_id_y();
    if i >= n || j >= n {
        return;
    }
    let k = i * n + j;
    output[k] = if i == 0 || j == 0 || i == n - 1 || j == n - 1 {
        input[k] // fixed boundary
    } else {
        0.25 * (input[k - n] + input[k + n] + input[k - 1] + input[k + 1])
    };
}

pub const TILE: usize = 16;

/// A hot left edge, everything else cold.
pub fn initial(n: usize) -> Vec<f64> {
    (0..n * n).map(|k| if k % n == 0 { 100.0 } else { 0.0 }).collect()
}

/// `steps` Jacobi sweeps; returns the final grid.
pub fn run(n: usize, steps: usize) -> Vec<f64> {
    let mut a = initial(n);
    let mut b = vec![0.0; n * n];
    let groups = n.div_ceil(TILE);
    for _ in 0..steps {
        offload! {
            kernel = jacobi,
            workgroup_dim = [groups as u32, groups as u32, 1],
            thread_dim = [TILE as u32, TILE as u32, 1],
            args = (n, &a[..], &mut b[..]),
        };
        std::mem::swap(&mut a, &mut b);
    }
    a
}

/// The same sweeps as plain sequential Rust.
pub fn reference(n: usize, steps: usize) -> Vec<f64> {
    let mut a = initial(n);
    let mut b = vec![0.0; n * n];
    for _ in 0..steps {
        for i in 0..n {
            for j in 0..n {
                let k = i * n + j;
                b[k] = if i == 0 || j == 0 || i == n - 1 || j == n - 1 {
                    a[k]
                } else {
                    0.25 * (a[k - n] + a[k + n] + a[k - 1] + a[k + 1])
                };
            }
        }
        std::mem::swap(&mut a, &mut b);
    }
    a
}

pub fn checksum(v: &[f64]) -> f64 {
    v.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sequential_rust_bit_for_bit() {
        // 37 is not a multiple of the 16×16 tile: the edge guards matter
        assert_eq!(run(37, 20), reference(37, 20));
    }

    #[test]
    fn heat_flows_from_the_hot_edge() {
        let g = run(16, 50);
        assert!(g[16 + 1] > g[16 + 8] && g[16 + 8] > 0.0);
    }
}
