//! Dot product in two steps: one partial sum per workgroup on the device
//! (thread 0 of each workgroup sums its chunk), then the partials on the host.

use cargo_mlir::gpu;
use cargo_mlir::offload::{offload, offload_kernel};

#[offload_kernel]
fn dot_partial(x: &[f64], y: &[f64], partial: &mut [f64]) {
    if gpu::workitem_id_x() != 0 {
        return;
    }
    let g = gpu::workgroup_id_x();
    let chunk = x.len().div_ceil(gpu::num_workgroups_x());
    let start = (g * chunk).min(x.len());
    let end = (start + chunk).min(x.len());
    let mut acc = 0.0;
    for i in start..end {
        acc += x[i] * y[i];
    }
    partial[g] = acc;
}

pub const GROUPS: usize = 64;

pub fn inputs(n: usize) -> (Vec<f64>, Vec<f64>) {
    ((0..n).map(|i| ((i % 13) as f64) * 0.5).collect(), (0..n).map(|i| 1.0 + (i % 7) as f64).collect())
}

/// The per-workgroup partial sums.
pub fn partials(x: &[f64], y: &[f64]) -> Vec<f64> {
    let mut partial = vec![0.0; GROUPS];
    offload! {
        kernel = dot_partial,
        workgroup_dim = [GROUPS as u32, 1, 1],
        thread_dim = [32, 1, 1],
        args = (x, y, &mut partial[..]),
    };
    partial
}

pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    partials(x, y).iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_match_chunked_rust() {
        let (x, y) = inputs(100_003);
        let chunk = x.len().div_ceil(GROUPS);
        let expected: Vec<f64> = (0..GROUPS)
            .map(|g| {
                let (s, e) = ((g * chunk).min(x.len()), ((g + 1) * chunk).min(x.len()));
                let mut acc = 0.0;
                for i in s..e {
                    acc += x[i] * y[i];
                }
                acc
            })
            .collect();
        assert_eq!(partials(&x, &y), expected);
    }

    #[test]
    fn dot_is_close_to_the_exact_value() {
        let x = vec![0.5; 1000];
        let y = vec![4.0; 1000];
        assert_eq!(dot(&x, &y), 2000.0);
    }
}
