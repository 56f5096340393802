//! Exact t-SNE: van der Maaten & Hinton, "Visualizing Data using t-SNE", JMLR 2008
//! <https://jmlr.org/papers/v9/vandermaaten08a.html>.
//!
//! O(n²) per iteration, meant for the few hundred to ~2000 points of a feature plot. Written
//! here because no maintained Rust crate fit offline use without pulling a large dependency
//! tree; the optimisation follows the paper and scikit-learn's exact method: perplexity by
//! binary search on each point's precision, symmetrised P, early exaggeration 12 for the
//! first 250 iterations with momentum 0.5 (then 0.8), gains as in Jacobs (1988), learning rate
//! max(n / 48, 50) ("auto").

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// t-SNE settings.
#[derive(Debug, Clone)]
pub struct TsneConfig {
    pub perplexity: f64,
    pub iterations: usize,
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        TsneConfig {
            perplexity: 30.0,
            iterations: 1000,
            seed: 0,
        }
    }
}

/// Joint probabilities P (symmetrised, summing to 1) from rows of `x` (`n × dim`).
// Index loops mirror the formulas (pᵢⱼ with i ≠ j) more plainly than iterator chains.
#[allow(clippy::needless_range_loop)]
fn joint_p(x: &[f32], n: usize, dim: usize, perplexity: f64) -> Vec<f64> {
    let mut d2 = vec![0f64; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (&x[i * dim..(i + 1) * dim], &x[j * dim..(j + 1) * dim]);
            let s: f64 = a.iter().zip(b).map(|(u, v)| f64::from(u - v).powi(2)).sum();
            d2[i * n + j] = s;
            d2[j * n + i] = s;
        }
    }
    let target = perplexity.ln();
    let mut p = vec![0f64; n * n];
    for i in 0..n {
        let row = &d2[i * n..(i + 1) * n];
        let (mut beta, mut lo, mut hi) = (1.0, 0.0, f64::INFINITY);
        let min = (0..n)
            .filter(|&j| j != i)
            .map(|j| row[j])
            .fold(f64::INFINITY, f64::min);
        for _ in 0..100 {
            let mut sum = 0.0;
            let mut weighted = 0.0;
            for j in 0..n {
                if j != i {
                    let e = (-(row[j] - min) * beta).exp();
                    sum += e;
                    weighted += (row[j] - min) * e;
                }
            }
            // Shannon entropy of the conditional distribution.
            let h = sum.ln() + beta * weighted / sum;
            if (h - target).abs() < 1e-5 {
                break;
            }
            if h > target {
                lo = beta;
                beta = if hi.is_finite() {
                    (beta + hi) / 2.0
                } else {
                    beta * 2.0
                };
            } else {
                hi = beta;
                beta = (beta + lo) / 2.0;
            }
        }
        let sum: f64 = (0..n)
            .filter(|&j| j != i)
            .map(|j| (-(row[j] - min) * beta).exp())
            .sum();
        for j in 0..n {
            if j != i {
                p[i * n + j] = (-(row[j] - min) * beta).exp() / sum;
            }
        }
    }
    let mut joint = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            joint[i * n + j] = ((p[i * n + j] + p[j * n + i]) / (2.0 * n as f64)).max(1e-12);
        }
    }
    joint
}

/// Embeds the rows of `x` (`n × dim`, row-major) in 2-D.
///
/// # Errors
/// If `x` does not divide into rows of `dim`, or there are fewer than 5 points or more than
/// 5000 (exact t-SNE's memory grows with n²).
pub fn tsne(x: &[f32], dim: usize, cfg: &TsneConfig) -> Result<Vec<(f64, f64)>> {
    if dim == 0 || !x.len().is_multiple_of(dim) {
        return Err(Error::Spec(format!(
            "t-SNE: {} values do not divide into rows of {dim}",
            x.len()
        )));
    }
    let n = x.len() / dim;
    if !(5..=5000).contains(&n) {
        return Err(Error::Spec(format!(
            "t-SNE here is exact and takes 5 to 5000 points, got {n}; sample fewer points"
        )));
    }
    let perplexity = cfg.perplexity.min((n - 1) as f64 / 3.0).max(1.0);
    let p = joint_p(x, n, dim, perplexity);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    // A tiny random start, as the paper's N(0, 10⁻⁴·I) (uniform here; only the scale matters).
    let mut y: Vec<f64> = (0..2 * n).map(|_| rng.random_range(-1e-4..1e-4)).collect();
    let mut update = vec![0f64; 2 * n];
    let mut gains = vec![1f64; 2 * n];
    let lr = (n as f64 / 48.0).max(50.0);
    let mut q = vec![0f64; n * n];
    let mut grad = vec![0f64; 2 * n];
    for it in 0..cfg.iterations {
        let (exaggeration, momentum) = if it < 250 { (12.0, 0.5) } else { (1.0, 0.8) };
        let mut total = 0.0;
        for i in 0..n {
            for j in i + 1..n {
                let dx = y[2 * i] - y[2 * j];
                let dy = y[2 * i + 1] - y[2 * j + 1];
                let v = 1.0 / (1.0 + dx * dx + dy * dy);
                q[i * n + j] = v;
                q[j * n + i] = v;
                total += 2.0 * v;
            }
        }
        grad.iter_mut().for_each(|g| *g = 0.0);
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let num = q[i * n + j];
                let m = 4.0 * (exaggeration * p[i * n + j] - num / total) * num;
                grad[2 * i] += m * (y[2 * i] - y[2 * j]);
                grad[2 * i + 1] += m * (y[2 * i + 1] - y[2 * j + 1]);
            }
        }
        for k in 0..2 * n {
            gains[k] = if (grad[k] > 0.0) != (update[k] > 0.0) {
                gains[k] + 0.2
            } else {
                (gains[k] * 0.8).max(0.01)
            };
            update[k] = momentum * update[k] - lr * gains[k] * grad[k];
            y[k] += update[k];
        }
    }
    Ok((0..n).map(|i| (y[2 * i], y[2 * i + 1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated Gaussian clusters in 10-D stay separated in 2-D: every point's
    /// nearest embedded neighbour belongs to its own cluster.
    #[test]
    fn separated_clusters_stay_separated() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Box–Muller standard normals.
        let mut normal = || {
            let (u, v): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        };
        let (n, dim) = (60, 10);
        let mut x = vec![];
        for i in 0..n {
            let shift = if i < n / 2 { 0.0 } else { 8.0 };
            for _ in 0..dim {
                x.push(normal() + shift);
            }
        }
        let cfg = TsneConfig {
            perplexity: 10.0,
            iterations: 400,
            seed: 0,
        };
        let y = tsne(&x, dim, &cfg).unwrap();
        for i in 0..n {
            let nearest = (0..n)
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let d = |j: usize| (y[i].0 - y[j].0).powi(2) + (y[i].1 - y[j].1).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            assert_eq!(i < n / 2, nearest < n / 2, "point {i}");
        }
        assert!(tsne(&x[..30], 10, &cfg).is_err());
    }
}
