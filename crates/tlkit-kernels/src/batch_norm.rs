//! Training-mode batch norm over `[N, C, L]`: the statistics, the forward pass and the three
//! gradients (formulas in `tlkit::nn::batch_norm`).

use rayon::prelude::*;

/// `[N, C, L]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub n: usize,
    pub c: usize,
    pub l: usize,
}

impl Dims {
    fn count(&self) -> usize {
        self.n * self.l
    }

    /// The `L` values of channel `c` of sample `n`.
    fn row<'a>(&self, v: &'a [f32], n: usize, c: usize) -> &'a [f32] {
        let at = (n * self.c + c) * self.l;
        &v[at..at + self.l]
    }
}

/// Per channel: the mean and the biased variance (two passes, rows summed in f64).
pub fn statistics(d: Dims, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    crate::threads::warm();
    let m = d.count() as f64;
    (0..d.c)
        .into_par_iter()
        .map(|c| {
            let rows = || (0..d.n).map(|n| d.row(x, n, c));
            let sum: f64 = rows()
                .map(|r| crate::lanes_sum(r, r, |v, _| v) as f64)
                .sum();
            let mean = (sum / m) as f32;
            let sq: f64 = rows()
                .map(|r| crate::lanes_sum(r, r, |v, _| (v - mean) * (v - mean)) as f64)
                .sum();
            (mean, (sq / m) as f32)
        })
        .unzip()
}

/// `y = x·scale_c + shift_c` with `scale = γ/√(σ² + ε)`, `shift = β − μ·scale`.
fn affine(d: Dims, x: &[f32], scale: &[f32], shift: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(d.c * d.l)
        .zip(x.par_chunks(d.c * d.l))
        .for_each(|(yn, xn)| {
            crate::wide(
                #[inline(always)]
                || {
                    for (c, (yr, xr)) in yn.chunks_mut(d.l).zip(xn.chunks(d.l)).enumerate() {
                        let (a, b) = (scale[c], shift[c]);
                        for (o, v) in yr.iter_mut().zip(xr) {
                            *o = v * a + b;
                        }
                    }
                },
            )
        });
    y
}

fn inv_std(var: &[f32], epsilon: f64) -> Vec<f32> {
    var.iter()
        .map(|v| (1.0 / (*v as f64 + epsilon).sqrt()) as f32)
        .collect()
}

/// The forward pass: `(y, mean, biased variance)`.
pub fn forward(
    d: Dims,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (mean, var) = statistics(d, x);
    let scale: Vec<f32> = inv_std(&var, epsilon)
        .iter()
        .zip(gamma)
        .map(|(s, g)| s * g)
        .collect();
    let shift: Vec<f32> = (0..d.c).map(|c| beta[c] - mean[c] * scale[c]).collect();
    (affine(d, x, &scale, &shift), mean, var)
}

/// The gradients `(∂x, ∂γ, ∂β)` from `∂y`, with the statistics of the forward pass.
pub fn backward(
    d: Dims,
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f64,
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    crate::threads::warm();
    let m = d.count() as f32;
    let inv = inv_std(var, epsilon);
    // Σ ∂y and Σ ∂y·(x − μ) per channel.
    let (dbeta, dxc): (Vec<f32>, Vec<f32>) = (0..d.c)
        .into_par_iter()
        .map(|c| {
            let mu = mean[c];
            let (mut s, mut sx) = (0.0f64, 0.0f64);
            for n in 0..d.n {
                let (g, v) = (d.row(dy, n, c), d.row(x, n, c));
                s += crate::lanes_sum(g, g, |a, _| a) as f64;
                sx += crate::lanes_sum(g, v, |a, b| a * (b - mu)) as f64;
            }
            (s as f32, sx as f32)
        })
        .unzip();
    let dgamma: Vec<f32> = dxc.iter().zip(&inv).map(|(s, i)| s * i).collect();
    // ∂x = a·∂y + b·x + e per channel.
    let a: Vec<f32> = (0..d.c).map(|c| gamma[c] * inv[c]).collect();
    let b: Vec<f32> = (0..d.c).map(|c| -a[c] * inv[c] * dgamma[c] / m).collect();
    let e: Vec<f32> = (0..d.c)
        .map(|c| -a[c] * dbeta[c] / m - b[c] * mean[c])
        .collect();
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(d.c * d.l)
        .zip(dy.par_chunks(d.c * d.l).zip(x.par_chunks(d.c * d.l)))
        .for_each(|(dxn, (dyn_, xn))| {
            crate::wide(
                #[inline(always)]
                || {
                    for c in 0..d.c {
                        let r = c * d.l..(c + 1) * d.l;
                        let (ac, bc, ec) = (a[c], b[c], e[c]);
                        for (o, (g, v)) in dxn[r.clone()]
                            .iter_mut()
                            .zip(dyn_[r.clone()].iter().zip(&xn[r]))
                        {
                            *o = ac * g + bc * v + ec;
                        }
                    }
                },
            )
        });
    (dx, dgamma, dbeta)
}
