//! H-score: Bao, Li, Huang, Liang, Zheng & Zhang, "An Information-Theoretic Approach to
//! Transferability in Task Transfer Learning", ICIP 2019
//! <https://ieeexplore.ieee.org/document/8803726>; its shrinkage variant: Ibrahim, Ponomareva
//! & Mazumder, "Newer is Not Always Better: Rethinking Transferability Metrics, Their
//! Peculiarities, Stability and Performance", ECML PKDD 2022 <https://arxiv.org/abs/2110.06893>.
//!
//! H(f) = tr( cov(f)⁻¹ cov(E[f | y]) )
//!
//! with cov(f) the covariance of the features and cov(E[f | y]) that of each sample's class
//! mean: how far apart the class means are, in units of the feature spread. Higher is better;
//! the maximum is the number of classes − 1 (features that determine the class).
//!
//! With few samples per feature cov(f) is badly estimated and its inverse inflates the score of
//! wide features. The shrinkage variant replaces it by the Ledoit-Wolf estimate
//! Σ_α = (1 − α) S + α (tr S / D) I, S the biased (1/n) sample covariance and α the
//! Ledoit-Wolf shrinkage (Ledoit & Wolf 2004, as scikit-learn's `ledoit_wolf_shrinkage`
//! computes it), and shrinks the between-class covariance by the same factor:
//!
//! H_α(f) = tr( Σ_α⁻¹ (1 − α) cov(E[f | y]) )
//!
//! Our convention follows the reference implementations (Transfer-Learning-Library's
//! `h_score` and `regularized_h_score`): cov(f) and cov(E[f | y]) are the unbiased (1/(n−1))
//! covariances, Σ_α uses the biased one as Ledoit-Wolf does, and the inverse is the
//! pseudo-inverse (eigenvalues below 1e-15 of the largest dropped), so that constant
//! features do not make the score infinite.

use faer::{Mat, Side};

use super::input::{Labels, centered, matrix, no_convergence};
use crate::Result;

const NAME: &str = "H-score";
const SHRUNK: &str = "shrinkage H-score";

/// tr(pinv(a) · scale · mᵀm) for a symmetric positive semi-definite `a` (`[D, D]`) and
/// `m` (`[C, D]`), with NumPy's `pinv` cut-off: eigenvalues at most 1e-15 of the largest count
/// as zero. With a = V diag(λ) Vᵀ it is scale · Σᵢ ‖m vᵢ‖² / λᵢ, which costs C·D² instead of
/// the D³ of forming Vᵀ(mᵀm)V.
fn trace_pinv_gram(score: &'static str, a: &Mat<f64>, m: &Mat<f64>, scale: f64) -> Result<f64> {
    let eig = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| no_convergence(score, "eigendecomposition"))?;
    let lam = eig.S().column_vector();
    let mv = m * eig.U();
    let largest = lam.iter().fold(0.0f64, |acc, x| acc.max(x.abs()));
    Ok(scale
        * lam
            .iter()
            .enumerate()
            .filter(|(_, l)| l.abs() > 1e-15 * largest)
            .map(|(i, l)| mv.col(i).iter().map(|x| x * x).sum::<f64>() / l)
            .sum::<f64>())
}

/// The class means of centred features, each scaled by √n_c (`[C, D]`), so that
/// MᵀM / (n − 1) is the unbiased covariance of each sample's class mean: Σ_c n_c μ_c μ_cᵀ / (n − 1).
fn class_means(c: &Mat<f64>, labels: &Labels) -> Mat<f64> {
    let d = c.ncols();
    let mut means = Mat::<f64>::zeros(labels.classes, d);
    for (i, &y) in labels.y.iter().enumerate() {
        for j in 0..d {
            means[(y, j)] += c[(i, j)];
        }
    }
    for k in 0..labels.classes {
        let scale = 1.0 / (labels.counts[k] as f64).sqrt();
        for j in 0..d {
            means[(k, j)] *= scale;
        }
    }
    means
}

/// H-score of `features` (`width` per sample) for the class `labels`.
///
/// # Shapes
/// `features`: `[n, width]` row-major, `labels`: `[n]` → a number in [0, classes − 1]
///
/// # Errors
/// [`crate::Error::Score`] when counts differ, a feature is not finite, or the labels hold
/// a single class.
pub fn hscore<T: Copy + Into<f64>>(features: &[T], width: usize, labels: &[u32]) -> Result<f64> {
    let labels = Labels::new(NAME, labels)?;
    let c = centered(&matrix(NAME, "features", features, width, labels.len())?);
    let n1 = (labels.len() - 1) as f64;
    let g = c.transpose() * &c;
    let cov = Mat::from_fn(width, width, |i, j| g[(i, j)] / n1);
    trace_pinv_gram(NAME, &cov, &class_means(&c, &labels), 1.0 / n1)
}

/// The Ledoit-Wolf shrinkage α of centred samples `x` (`[n, D]`), as scikit-learn's
/// `ledoit_wolf_shrinkage`: the weight of the scaled identity in the estimate
/// (1 − α) S + α (tr S / D) I that minimises its expected squared error.
pub fn ledoit_wolf_shrinkage(x: &Mat<f64>) -> f64 {
    let (n, p) = (x.nrows() as f64, x.ncols() as f64);
    if x.ncols() == 1 {
        return 0.0;
    }
    let trace: f64 = x
        .col_iter()
        .map(|c| c.iter().map(|v| v * v).sum::<f64>())
        .sum::<f64>()
        / n;
    let mu = trace / p;
    // Σ_jk Σ_i x_ij² x_ik² = Σ_i (Σ_j x_ij²)²
    let beta_sum: f64 = x
        .row_iter()
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().powi(2))
        .sum();
    let gram = if x.nrows() < x.ncols() {
        x * x.transpose()
    } else {
        x.transpose() * x
    };
    let delta_sum = gram
        .col_iter()
        .flat_map(|c| c.iter().map(|v| v * v).collect::<Vec<_>>())
        .sum::<f64>()
        / (n * n);
    let beta = (beta_sum / n - delta_sum) / (p * n);
    let delta = (delta_sum - 2.0 * mu * trace + p * mu * mu) / p;
    let beta = beta.min(delta);
    if beta == 0.0 { 0.0 } else { beta / delta }
}

/// The shrinkage H-score of `features` (`width` per sample) for the class `labels`, with the
/// Ledoit-Wolf shrunk covariance (see the module docs).
///
/// # Shapes
/// `features`: `[n, width]` row-major, `labels`: `[n]` → a number
///
/// # Errors
/// As [`hscore`].
pub fn hscore_shrunk<T: Copy + Into<f64>>(
    features: &[T],
    width: usize,
    labels: &[u32],
) -> Result<f64> {
    let labels = Labels::new(SHRUNK, labels)?;
    let c = centered(&matrix(SHRUNK, "features", features, width, labels.len())?);
    let alpha = ledoit_wolf_shrinkage(&c);
    let n = labels.len() as f64;
    let g = c.transpose() * &c;
    let mu = (0..width).map(|i| g[(i, i)]).sum::<f64>() / n / width as f64;
    let shrunk = Mat::from_fn(width, width, |i, j| {
        (1.0 - alpha) * g[(i, j)] / n + if i == j { alpha * mu } else { 0.0 }
    });
    let n1 = (labels.len() - 1) as f64;
    trace_pinv_gram(
        SHRUNK,
        &shrunk,
        &class_means(&c, &labels),
        (1.0 - alpha) / n1,
    )
}
