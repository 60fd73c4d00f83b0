//! Dot product in two steps: one partial sum per workgroup on the device, then
//! the partials on the host. In each workgroup every thread first sums a
//! strided share of the workgroup's chunk (neighbouring threads read
//! neighbouring elements), then the threads add their sums pairwise as a tree
//! in workgroup memory, a barrier between levels.

use cargo_mlir::gpu;
use cargo_mlir::offload::{offload, offload_kernel};

pub const GROUPS: usize = 64;
pub const THREADS: usize = 256;

#[offload_kernel]
fn dot_partial(x: &[f64], y: &[f64], partial: &mut [f64]) {
    let sums = gpu::workgroup_mem::<f64>();
    let (t, threads) = (gpu::workitem_id_x(), gpu::workgroup_size_x());
    let g = gpu::workgroup_id_x();
    let chunk = x.len().div_ceil(gpu::num_workgroups_x());
    let start = (g * chunk).min(x.len());
    let end = (start + chunk).min(x.len());
    let mut acc = 0.0;
    let mut i = start + t;
    while i < end {
        acc += x[i] * y[i];
        i += threads;
    }
    sums[t].set(acc);
    gpu::barrier();
    let mut half = threads / 2;
    while half > 0 {
        if t < half {
            sums[t].set(sums[t].get() + sums[t + half].get());
        }
        gpu::barrier();
        half /= 2;
    }
    if t == 0 {
        partial[g] = sums[0].get();
    }
}

pub fn inputs(n: usize) -> (Vec<f64>, Vec<f64>) {
    ((0..n).map(|i| ((i % 13) as f64) * 0.5).collect(), (0..n).map(|i| 1.0 + (i % 7) as f64).collect())
}

/// The per-workgroup partial sums.
pub fn partials(x: &[f64], y: &[f64]) -> Vec<f64> {
    let mut partial = vec![0.0; GROUPS];
    offload! {
        kernel = dot_partial,
        workgroup_dim = [GROUPS as u32, 1, 1],
        thread_dim = [THREADS as u32, 1, 1],
        dyn_cache = (THREADS * size_of::<f64>()) as u32,
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

    /// What `dot_partial` computes, in the same order, one thread after another.
    fn partials_in_plain_rust(x: &[f64], y: &[f64]) -> Vec<f64> {
        let chunk = x.len().div_ceil(GROUPS);
        (0..GROUPS)
            .map(|g| {
                let (start, end) = ((g * chunk).min(x.len()), ((g + 1) * chunk).min(x.len()));
                let mut sums: Vec<f64> = (0..THREADS)
                    .map(|t| (start + t..end).step_by(THREADS).map(|i| x[i] * y[i]).fold(0.0, |a, v| a + v))
                    .collect();
                let mut half = THREADS / 2;
                while half > 0 {
                    for t in 0..half {
                        sums[t] += sums[t + half];
                    }
                    half /= 2;
                }
                sums[0]
            })
            .collect()
    }

    #[test]
    fn partials_match_the_tree_in_plain_rust() {
        for n in [0, 1, 1000, 100_003] {
            let (x, y) = inputs(n);
            assert_eq!(partials(&x, &y), partials_in_plain_rust(&x, &y), "n = {n}");
        }
    }

    #[test]
    fn dot_is_close_to_the_exact_value() {
        let x = vec![0.5; 1000];
        let y = vec![4.0; 1000];
        assert_eq!(dot(&x, &y), 2000.0);
    }
}
