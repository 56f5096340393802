//! Host kernels of tlkit's own linear layer, `y = x · Wᵀ + b`, in PyTorch's layouts (`x`
//! `[N, in]`, `W` `[out, in]`, `b` `[out]`, `y` `[N, out]`), forward and the three gradients:
//!
//! - `dx = dy · W`
//! - `dW = dyᵀ · x`
//! - `db = Σ_n dy[n, ·]`
//!
//! The products are faer's `matmul` on strided views, so no operand is transposed into a copy
//! first; faer picks its micro-kernels at run time (AVX-512 where the CPU has it) and splits
//! each product over the rayon pool. The bias is written into `y` first and the product added
//! onto it, so the forward pass is one sweep over `y`.
//!
//! Why not Burn 0.22.1's `flex` matmul: it copies every transposed operand into a contiguous
//! buffer (`copy_2d_tiled`, 7.5% of the benchmark MLP's step) and runs the `gemm` crate's AVX2
//! micro-kernels on this project's AVX-512 machine (BENCHMARKS.md, "Linear layers on faer,
//! Adam in one pass").
//!
//! Summation order: each output is a dot product summed in faer's order, for a given shape, CPU
//! and thread count the same on every call. It can differ from Burn's `gemm` in the last bits
//! (a 5×7×3 product does), and a difference grows over training; at the shapes of
//! `scripts/same_numbers.py`'s runs the two gave the same bits on this project's machine.

use faer::linalg::matmul::matmul;
use faer::{Accum, Par};

use crate::{rows, rows_mut};

/// The sizes of one linear layer applied to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Rows of `x` (the batch, with any leading axes folded in).
    pub rows: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl Dims {
    /// Multiply-adds of one product; below [`PARALLEL_WORK`] a product runs on one thread.
    fn work(&self) -> usize {
        self.rows * self.inputs * self.outputs
    }
}

/// Below this many multiply-adds a product stays on the calling thread, where waking the pool
/// would cost more than it saves. The value is a round guess, not tuned: the benchmark MLP's
/// products (128 × 784 × 256 down to 128 × 256 × 10) are all above it.
const PARALLEL_WORK: usize = 1 << 18;

fn par(d: &Dims) -> Par {
    if d.work() < PARALLEL_WORK {
        Par::Seq
    } else {
        Par::rayon(0)
    }
}

/// `y = x · Wᵀ (+ b)`.
pub fn forward(d: &Dims, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let Dims {
        rows: n,
        inputs: i,
        outputs: o,
    } = *d;
    debug_assert_eq!((x.len(), w.len()), (n * i, o * i));
    let (mut y, accum) = match b {
        Some(b) => {
            debug_assert_eq!(b.len(), o);
            let mut y = Vec::with_capacity(n * o);
            for _ in 0..n {
                y.extend_from_slice(b);
            }
            (y, Accum::Add)
        }
        None => (vec![0.0; n * o], Accum::Replace),
    };
    matmul(
        rows_mut(&mut y, n, o),
        accum,
        rows(x, n, i),
        rows(w, o, i).transpose(),
        1.0,
        par(d),
    );
    y
}

/// `dx = dy · W`.
pub fn input_grad(d: &Dims, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let Dims {
        rows: n,
        inputs: i,
        outputs: o,
    } = *d;
    let mut dx = vec![0.0; n * i];
    matmul(
        rows_mut(&mut dx, n, i),
        Accum::Replace,
        rows(dy, n, o),
        rows(w, o, i),
        1.0,
        par(d),
    );
    dx
}

/// `dW = dyᵀ · x`.
pub fn weight_grad(d: &Dims, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let Dims {
        rows: n,
        inputs: i,
        outputs: o,
    } = *d;
    let mut dw = vec![0.0; o * i];
    matmul(
        rows_mut(&mut dw, o, i),
        Accum::Replace,
        rows(dy, n, o).transpose(),
        rows(x, n, i),
        1.0,
        par(d),
    );
    dw
}

/// `db = Σ_n dy[n, ·]`, summed over the rows in order.
pub fn bias_grad(d: &Dims, dy: &[f32]) -> Vec<f32> {
    let o = d.outputs;
    let mut db = vec![0.0; o];
    crate::wide(
        #[inline(always)]
        || {
            for row in dy.chunks_exact(o) {
                for (s, v) in db.iter_mut().zip(row) {
                    *s += v;
                }
            }
        },
    );
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four results against sums written out in f64, on shapes around faer's block sizes.
    #[test]
    fn linear_is_the_sums_written_out() {
        for &(n, i, o) in &[(1, 1, 1), (3, 5, 2), (17, 33, 9), (130, 300, 70)] {
            let d = Dims {
                rows: n,
                inputs: i,
                outputs: o,
            };
            let val = |k: usize, m: usize| ((k * 7919 + m * 104_729) % 2001) as f32 / 1000.0 - 1.0;
            let x: Vec<f32> = (0..n * i).map(|k| val(k, 1)).collect();
            let w: Vec<f32> = (0..o * i).map(|k| val(k, 2)).collect();
            let b: Vec<f32> = (0..o).map(|k| val(k, 3)).collect();
            let dy: Vec<f32> = (0..n * o).map(|k| val(k, 4)).collect();
            let close = |what: &str, got: &[f32], want: &[f64]| {
                assert_eq!(got.len(), want.len(), "{what}");
                for (k, (g, w)) in got.iter().zip(want).enumerate() {
                    assert!(
                        (*g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
                        "{what}[{k}] at {n}x{i}x{o}: {g} against {w}"
                    );
                }
            };
            let y: Vec<f64> = (0..n * o)
                .map(|k| {
                    let (r, c) = (k / o, k % o);
                    b[c] as f64
                        + (0..i)
                            .map(|j| x[r * i + j] as f64 * w[c * i + j] as f64)
                            .sum::<f64>()
                })
                .collect();
            close("y", &forward(&d, &x, &w, Some(&b)), &y);
            let y0: Vec<f64> = y
                .iter()
                .enumerate()
                .map(|(k, v)| v - b[k % o] as f64)
                .collect();
            close("y without bias", &forward(&d, &x, &w, None), &y0);
            let dx: Vec<f64> = (0..n * i)
                .map(|k| {
                    let (r, j) = (k / i, k % i);
                    (0..o)
                        .map(|c| dy[r * o + c] as f64 * w[c * i + j] as f64)
                        .sum()
                })
                .collect();
            close("dx", &input_grad(&d, &dy, &w), &dx);
            let dw: Vec<f64> = (0..o * i)
                .map(|k| {
                    let (c, j) = (k / i, k % i);
                    (0..n)
                        .map(|r| dy[r * o + c] as f64 * x[r * i + j] as f64)
                        .sum()
                })
                .collect();
            close("dW", &weight_grad(&d, &x, &dy), &dw);
            let db: Vec<f64> = (0..o)
                .map(|c| (0..n).map(|r| dy[r * o + c] as f64).sum())
                .collect();
            close("db", &bias_grad(&d, &dy), &db);
        }
    }
}
