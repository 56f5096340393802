//! tlkit's own CPU kernels on plain `f32` buffers: 2-D convolution (im2col with faer's matrix
//! products, direct loops for depthwise layers), max pooling, training-mode batch norm and ReLU6,
//! each forward and backward.
//!
//! They are a crate of their own so that a debug build optimises them: the workspace's dev
//! profile compiles dependencies at `opt-level = 3` and tlkit's own code at 0, and these loops
//! at opt-level 0 were slower than Burn's optimised kernels (a debug EfficientNet-Lite0
//! training step: 3.1 against 9.8 samples/s; BENCHMARKS.md, "The own kernels become the
//! default"). The Burn operations that call them, with their autodiff steps, are in
//! `tlkit::nn::{conv, pool, batch_norm, relu6}`; the tests against Burn and finite differences are
//! there too.

pub mod activation;
pub mod batch_norm;
pub mod conv;
mod depthwise;
pub mod pool;

/// `Σ f(a_i, b_i)` over two rows in eight independent lanes, so that the compiler vectorises
/// it (one running sum would pin the additions to one order); a fixed order per row length.
pub fn lanes_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| f(*x, *y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += f(x[k], y[k]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}
