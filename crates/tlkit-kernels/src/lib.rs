//! tlkit's own CPU kernels on plain `f32` buffers: 2-D convolution (im2col with faer's matrix
//! products, direct loops for depthwise layers), linear layers, max pooling, training-mode batch
//! norm and ReLU6, each forward and backward; Adam's update in one pass.
//!
//! They are a crate of their own so that a debug build optimises them: the workspace's dev
//! profile compiles dependencies at `opt-level = 3` and tlkit's own code at 0, and these loops
//! at opt-level 0 were slower than Burn's optimised kernels (a debug EfficientNet-Lite0
//! training step: 3.1 against 9.8 samples/s; BENCHMARKS.md, "The own kernels become the
//! default"). The Burn operations that call them, with their autodiff steps, are in
//! `tlkit::nn::{conv, linear, pool, batch_norm, relu6}` and `tlkit::train::fused_adam`; the
//! tests against Burn and finite differences are there too.

pub mod activation;
pub mod batch_norm;
pub mod conv;
mod depthwise;
pub mod linear;
pub mod optim;
pub mod pool;
pub mod threads;

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// A row-major `f32` buffer as an `r × c` faer matrix.
pub(crate) fn rows(s: &[f32], r: usize, c: usize) -> faer::MatRef<'_, f32> {
    faer::MatRef::from_row_major_slice(s, r, c)
}

/// A mutable row-major `f32` buffer as an `r × c` faer matrix.
pub(crate) fn rows_mut(s: &mut [f32], r: usize, c: usize) -> faer::MatMut<'_, f32> {
    faer::MatMut::from_row_major_slice_mut(s, r, c)
}

/// `planes · len` zeros, then `fill(i, plane)` on each plane of `len` values, on the rayon
/// pool. Each plane is zeroed by the thread that fills it, just before, while it is in that
/// core's cache; `vec![0.0; n]` would zero the whole buffer first, one pass through memory
/// for a batch's activations, and the kernel would then fetch it back (max pooling's 2×2
/// gradient takes about half the time this way: BENCHMARKS.md, "Zeros written plane by
/// plane").
pub(crate) fn zeroed_by_planes<T: Copy + Default + Send>(
    planes: usize,
    len: usize,
    fill: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    // The pair's second buffer holds `()`, which takes no memory and needs no writing.
    zeroed_by_plane_pairs(planes, len, |i, plane, _: &mut [()]| fill(i, plane)).0
}

/// [`zeroed_by_planes`] with two buffers, `len` values of each per plane, filled together.
pub(crate) fn zeroed_by_plane_pairs<A: Copy + Default + Send, B: Copy + Default + Send>(
    planes: usize,
    len: usize,
    fill: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) -> (Vec<A>, Vec<B>) {
    let n = planes * len;
    let (mut a, mut b): (Vec<A>, Vec<B>) = (Vec::with_capacity(n), Vec::with_capacity(n));
    if len > 0 {
        a.spare_capacity_mut()[..n]
            .par_chunks_mut(len)
            .zip(b.spare_capacity_mut()[..n].par_chunks_mut(len))
            .enumerate()
            .for_each(|(i, (pa, pb))| fill(i, zeroed(pa), zeroed(pb)));
    }
    // SAFETY: the planes cover `..n` of both buffers, and `zeroed` wrote each (a panic in
    // `fill` leaves both lengths at 0 and drops the buffers).
    unsafe {
        a.set_len(n);
        b.set_len(n);
    }
    (a, b)
}

/// Writes the default value (zero) into every place of `plane` and returns it initialised.
fn zeroed<T: Copy + Default>(plane: &mut [MaybeUninit<T>]) -> &mut [T] {
    plane.fill(MaybeUninit::new(T::default()));
    // SAFETY: every place of `plane` was written on the line above, and `MaybeUninit<T>` has
    // the layout of `T`.
    unsafe { &mut *(plane as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// Runs `f` compiled for AVX2 and FMA where the CPU has them (x86-64; detected once per
/// process and cached by the standard library), as the build's baseline (SSE2) otherwise.
///
/// `f` and what it calls inline are compiled again inside a function with those features, so
/// the loops vectorise eight floats wide instead of four. The arithmetic is the same either way:
/// Rust never fuses a multiply and an add on its own (no FMA contraction) and never reorders
/// floating-point sums, so both builds give the same bits.
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(test)]
    if tests::BASELINE_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        return f();
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has both features the function is compiled for.
        return unsafe { avx2_fma(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `Σ f(a_i, b_i)` over two rows in eight independent lanes, so that the compiler vectorises
/// it (one running sum would pin the additions to one order); a fixed order per row length.
pub fn lanes_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    wide(
        #[inline(always)]
        || lanes_sum_seq(a, b, f),
    )
}

#[inline(always)]
fn lanes_sum_seq(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::batch_norm::{self, Dims};
    use crate::conv::{self, Geometry};
    use crate::{activation, linear, optim, pool};

    /// Set by the test below: [`super::wide`] then runs the baseline build of its function.
    pub(crate) static BASELINE_ONLY: AtomicBool = AtomicBool::new(false);

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 16.0 - 8.0
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Every kernel that runs through `wide`, once in each build, as bit patterns.
    fn every_kernel() -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        // Depthwise 3×3 stride 1 (the padded-plane loops), depthwise 5×5 stride 2 with
        // TensorFlow-SAME padding (the row loops), and a plain 3×3 convolution.
        for (x, w, stride, padding, groups) in [
            ([2, 8, 13, 11], [8, 1, 3, 3], [1, 1], [(1, 1); 2], 8),
            ([2, 8, 14, 14], [8, 1, 5, 5], [2, 2], [(1, 2); 2], 8),
            ([2, 3, 10, 9], [4, 3, 3, 3], [1, 1], [(0, 0); 2], 1),
        ] {
            let g = Geometry::new(x, w, stride, padding, [1, 1], groups).expect("fits");
            let xs = values(x.iter().product(), 1);
            let ws = values(w.iter().product(), 2);
            let y = conv::forward(&g, &xs, &ws);
            let dy = values(y.len(), 3);
            out.push(bits(&y));
            out.push(bits(&conv::input_grad(&g, &ws, &dy)));
            out.push(bits(&conv::weight_grad(&g, &xs, &dy)));
        }
        let d = Dims { n: 3, c: 5, l: 37 };
        let x = values(d.n * d.c * d.l, 4);
        let (gamma, beta) = (values(d.c, 5), values(d.c, 6));
        let (y, mean, var) = batch_norm::forward(d, &x, &gamma, &beta, 1e-5);
        let dy = values(y.len(), 7);
        let (dx, dgamma, dbeta) = batch_norm::backward(d, &x, &gamma, &mean, &var, 1e-5, &dy);
        out.extend([y, mean, var, dx, dgamma, dbeta].iter().map(|v| bits(v)));
        let pg = pool::PoolGeometry::new([2, 3, 10, 12], [2, 2], [2, 2], [0, 0]).expect("fits");
        let (y, at) = pool::forward(&pg, &values(2 * 3 * 120, 8));
        out.push(bits(&y));
        out.push(at);
        let x = values(70_001, 9);
        let (y, pass) = activation::relu6_forward(&x);
        out.push(bits(&y));
        out.push(bits(&activation::relu6_backward(
            &pass,
            &values(x.len(), 10),
        )));
        let d = linear::Dims {
            rows: 9,
            inputs: 4,
            outputs: 13,
        };
        out.push(bits(&linear::bias_grad(&d, &values(9 * 13, 11))));
        let s = optim::AdamStep {
            beta1: 0.9,
            beta2: 0.999,
            bias_correction2: 0.002,
            eps: 1e-8,
            step_size: 0.05,
        };
        let (p, g, m, v) = (
            values(20_003, 12),
            values(20_003, 13),
            values(20_003, 14),
            values(20_003, 15)
                .iter()
                .map(|v| v.abs())
                .collect::<Vec<_>>(),
        );
        for moments in [None, Some((&m[..], &v[..]))] {
            let (p, m, v) = optim::adam(&s, &p, &g, moments);
            out.extend([p, m, v].iter().map(|v| bits(v)));
        }
        out
    }

    /// The AVX2 build of every kernel gives the bits of the baseline build (on a CPU without
    /// AVX2 both runs are the baseline and the test says nothing).
    #[test]
    fn wide_and_baseline_builds_give_the_same_bits() {
        let wide = every_kernel();
        BASELINE_ONLY.store(true, Ordering::Relaxed);
        let baseline = every_kernel();
        BASELINE_ONLY.store(false, Ordering::Relaxed);
        assert_eq!(wide.len(), baseline.len());
        for (i, (a, b)) in wide.iter().zip(&baseline).enumerate() {
            assert_eq!(a, b, "kernel output {i}");
        }
    }
}
