//! A two-layer perceptron trained by gradient descent, in plain Rust:
//! the forward pass is matmul loops, the gradient of the loss comes from
//! `#[autodiff_reverse]`, and the update step is an offloaded kernel.
//!
//! Parameters live in one flat vector: `W1` (H×D), `b1` (H), `W2` (H), `b2`.

use cargo_mlir::autodiff::autodiff_reverse;
use cargo_mlir::gpu;
use cargo_mlir::offload::{offload, offload_kernel};

/// Inputs per sample.
pub const D: usize = 8;
/// Hidden units.
pub const H: usize = 32;
/// Parameters: W1, b1, W2, b2.
pub const P: usize = H * D + H + H + 1;

/// Mean squared error of the network over a batch (`x`: B×D, `y`: B).
#[autodiff_reverse(d_loss, Duplicated, Const, Const, Active)]
pub fn loss(params: &[f32], x: &[f32], y: &[f32]) -> f32 {
    let (w1, rest) = params.split_at(H * D);
    let (b1, rest) = rest.split_at(H);
    let (w2, b2) = rest.split_at(H);
    let batch = y.len();
    let mut total = 0.0;
    for s in 0..batch {
        let mut out = b2[0];
        for h in 0..H {
            let mut z = b1[h];
            for d in 0..D {
                z += w1[h * D + d] * x[s * D + d];
            }
            out += w2[h] * z.tanh();
        }
        let e = out - y[s];
        total += e * e;
    }
    total / batch as f32
}

/// One step of gradient descent: `w -= lr * g`, one element per thread.
#[offload_kernel]
fn sgd_step(lr: f32, w: &mut [f32], g: &[f32]) {
    let i = gpu::global_id_x();
    if i < w.len() {
        w[i] -= lr * g[i];
    }
}

pub fn update(lr: f32, params: &mut [f32], grad: &[f32]) {
    offload! {
        kernel = sgd_step,
        workgroup_dim = [params.len().div_ceil(128) as u32, 1, 1],
        thread_dim = [128, 1, 1],
        args = (lr, &mut params[..], grad),
    };
}

/// The loss and its gradient (added into a zeroed `grad`).
pub fn loss_and_gradient(params: &[f32], x: &[f32], y: &[f32], grad: &mut [f32]) -> f32 {
    grad.fill(0.0);
    d_loss(params, grad, x, y, 1.0)
}

/// A reproducible pseudo-random stream in [-1, 1).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// `n` samples of a smooth target: y = sin(x·u) + 0.5·(x·v)².
pub fn data_set(n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let u: Vec<f32> = (0..D).map(|_| rng.next()).collect();
    let v: Vec<f32> = (0..D).map(|_| rng.next() * 0.5).collect();
    let x: Vec<f32> = (0..n * D).map(|_| rng.next()).collect();
    let y = (0..n)
        .map(|s| {
            let xs = &x[s * D..(s + 1) * D];
            let a: f32 = xs.iter().zip(&u).map(|(p, q)| p * q).sum();
            let b: f32 = xs.iter().zip(&v).map(|(p, q)| p * q).sum();
            a.sin() + 0.5 * b * b
        })
        .collect();
    (x, y)
}

/// Small random weights, zero biases.
pub fn init(rng: &mut Rng) -> Vec<f32> {
    let mut p = vec![0.0; P];
    for w in &mut p[..H * D] {
        *w = rng.next() * (1.0 / (D as f32).sqrt());
    }
    for w in &mut p[H * D + H..H * D + 2 * H] {
        *w = rng.next() * (1.0 / (H as f32).sqrt());
    }
    p
}
