//! Host kernels of tlkit's own linear layer, `y = x · Wᵀ + b`, in PyTorch's layouts (`x`
//! `[N, in]`, `W` `[out, in]`, `b` `[out]`, `y` `[N, out]`), forward and the three gradients:
//!
//! - `dx = dy · W`
//! - `dW = dyᵀ · x`
//! - `db = Σ_n dy[n, ·]`
//!
//! The products are faer's `matmul` on strided views, so no operand is transposed into a copy
//! first; faer picks its micro-kernels at run time (AVX-512 where the CPU has it). A large
//! product is cut into one block of outputs per rayon thread, each a sequential faer product.
//! The bias is written into `y` first and the product added onto it, so the forward pass is
//! one sweep over `y`.
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
use faer::{Accum, MatMut, MatRef, Par};

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

/// One block per thread of the rayon pool, or one block below [`PARALLEL_WORK`].
fn pieces(d: &Dims) -> usize {
    if d.work() < PARALLEL_WORK {
        1
    } else {
        rayon::current_num_threads()
    }
}

/// The fewest rows (or columns) of a block of [`product`]: faer computes a product with a
/// single row or column in another order than the same outputs inside a larger one.
const MIN_BLOCK: usize = 16;

/// `dst ← a · b` (or `dst += a · b` with [`Accum::Add`]), with `dst` cut into `pieces` blocks
/// along its longer side, each block one sequential faer product on its own rayon task.
///
/// Why not faer's own `Par::rayon`: on the Intel Xeon of BENCHMARKS.md ("On an Intel Xeon")
/// the benchmark MLP's products took the same time on two threads as on one that way. Every
/// output is still the dot product of one row of `a` and one column of `b` over the whole
/// inner dimension; with blocks of at least [`MIN_BLOCK`] rows or columns faer sums it in the
/// same order as in one sequential product (the test below checks the bits; with one-row
/// blocks they differ).
fn product(
    dst: MatMut<'_, f32>,
    accum: Accum,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    pieces: usize,
) {
    let (m, c) = (dst.nrows(), dst.ncols());
    let pieces = pieces.min(m.max(c) / MIN_BLOCK);
    if pieces <= 1 {
        matmul(dst, accum, a, b, 1.0, Par::Seq);
        return;
    }
    if c > m {
        // Cut the columns as the rows of the transposed product: dstᵀ = bᵀ · aᵀ.
        return product(
            dst.transpose_mut(),
            accum,
            b.transpose(),
            a.transpose(),
            pieces,
        );
    }
    let first = pieces / 2;
    let at = m * first / pieces;
    let (top, bottom) = dst.split_at_row_mut(at);
    let (a_top, a_bottom) = a.split_at_row(at);
    rayon::join(
        || product(top, accum, a_top, b, first),
        || product(bottom, accum, a_bottom, b, pieces - first),
    );
}

/// `y = x · Wᵀ (+ b)`.
pub fn forward(d: &Dims, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    crate::threads::warm();
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
    product(
        rows_mut(&mut y, n, o),
        accum,
        rows(x, n, i),
        rows(w, o, i).transpose(),
        pieces(d),
    );
    y
}

/// `dx = dy · W`.
pub fn input_grad(d: &Dims, dy: &[f32], w: &[f32]) -> Vec<f32> {
    crate::threads::warm();
    let Dims {
        rows: n,
        inputs: i,
        outputs: o,
    } = *d;
    let mut dx = vec![0.0; n * i];
    product(
        rows_mut(&mut dx, n, i),
        Accum::Replace,
        rows(dy, n, o),
        rows(w, o, i),
        pieces(d),
    );
    dx
}

/// `dW = dyᵀ · x`.
pub fn weight_grad(d: &Dims, x: &[f32], dy: &[f32]) -> Vec<f32> {
    crate::threads::warm();
    let Dims {
        rows: n,
        inputs: i,
        outputs: o,
    } = *d;
    let mut dw = vec![0.0; o * i];
    product(
        rows_mut(&mut dw, o, i),
        Accum::Replace,
        rows(dy, n, o).transpose(),
        rows(x, n, i),
        pieces(d),
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

    /// Cutting a product into blocks changes no bit: every cut against one sequential faer
    /// product, at the benchmark MLP's shapes and odd ones, with plain and transposed operands
    /// (the weight gradient reads `dyᵀ`), onto a destination that already holds values. The
    /// small shapes are not cut (blocks under `MIN_BLOCK`) and must give the same bits too.
    #[test]
    fn cut_products_give_the_whole_products_bits() {
        let val = |t: usize, s: usize| ((t * 7919 + s * 104_729) % 2001) as f32 / 1000.0 - 1.0;
        for &(m, k, c) in &[
            (128, 784, 256),
            (256, 128, 10),
            (10, 128, 256),
            (64, 100, 50),
            (33, 65, 17),
            (200, 3, 200),
            (16, 1000, 16),
            (96, 33, 96),
            (8, 33, 3),
            (1, 5, 9),
        ] {
            let a: Vec<f32> = (0..m * k).map(|t| val(t, 1)).collect();
            let b: Vec<f32> = (0..k * c).map(|t| val(t, 2)).collect();
            for transposed in [false, true] {
                let (av, bv) = if transposed {
                    (rows(&a, k, m).transpose(), rows(&b, c, k).transpose())
                } else {
                    (rows(&a, m, k), rows(&b, k, c))
                };
                let start: Vec<f32> = (0..m * c).map(|t| val(t, 3)).collect();
                let mut whole = start.clone();
                matmul(
                    rows_mut(&mut whole, m, c),
                    Accum::Add,
                    av,
                    bv,
                    1.0,
                    Par::Seq,
                );
                for pieces in 2..=5 {
                    let mut cut = start.clone();
                    product(rows_mut(&mut cut, m, c), Accum::Add, av, bv, pieces);
                    let same = cut
                        .iter()
                        .zip(&whole)
                        .all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(
                        same,
                        "{m}x{k}x{c}, transposed {transposed}, {pieces} pieces"
                    );
                }
            }
        }
    }

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
