//! LogME: You, Liu, Wang & Long, "LogME: Practical Assessment of Pre-trained Models for
//! Transfer Learning", ICML 2021 <https://arxiv.org/abs/2102.11005>; the faster update of
//! You et al., "Ranking and Tuning Pre-trained Models: A New Paradigm for Exploiting Model
//! Hubs", JMLR 2022 <https://arxiv.org/abs/2110.10545>.
//!
//! For features F (`[n, D]`) and one regression target y (`[n]`), a Bayesian linear model
//! y = Fw + ε with prior w ~ N(0, α⁻¹I) and noise ε ~ N(0, β⁻¹I) has the log evidence
//!
//! L(α, β) = D/2 log α + n/2 log β − ½ Σᵢ log(α + βσᵢ) − β/2 ‖y − Fm‖² − α/2 ‖m‖² − n/2 log 2π
//!
//! with σᵢ the eigenvalues of FᵀF and m = β(αI + βFᵀF)⁻¹Fᵀy the posterior mean. LogME is the
//! maximum of L/n over α, β, found by MacKay's fixed point
//!
//! γ = Σᵢ βσᵢ / (α + βσᵢ),  α ← γ / ‖m‖²,  β ← (n − γ) / ‖y − Fm‖²
//!
//! For classification each class k gives the one-vs-rest target y = 1[label = k]; the score
//! is the mean over classes. Higher is better; the value is a log-likelihood per sample, so
//! only differences between models on the same target data mean anything.
//!
//! Two variants, as the authors' reference implementation has them:
//! - [`logme`] (the JMLR update, the reference's default): from the thin SVD F = U S Vᵀ, with
//!   x = Uᵀy and t = α/β, every quantity is a sum over the singular values, e.g.
//!   ‖m‖² = Σ σᵢxᵢ²/(t + σᵢ)² and ‖y − Fm‖² = Σ xᵢ²/(1 + σᵢ/t)² + (‖y‖² − ‖x‖²); at most 11
//!   iterations, stopping when t changes by ≤ 1e-3 relatively.
//! - [`logme_icml`] (the ICML paper's algorithm): from the eigendecomposition of the D×D
//!   matrix FᵀF, m formed explicitly, at most 11 iterations, stopping when α/β changes by
//!   < 1e-2 relatively. It costs O(D³), so it is for comparison, not for wide features.
//!
//! Our convention follows the reference in its details, so that values compare with
//! published ones: 1e-5 is added to ‖m‖² and ‖y − Fm‖² in the updates (and, in the ICML form,
//! in the evidence); the JMLR form reports the evidence of the last α, β with the residuals
//! of the step before. Features are not centred: the reference does not centre them either.
//!
//! One deliberate difference: log det(αI + βFᵀF) has D terms, one per feature, and the
//! directions where FᵀF is zero (all D − n of them when n < D, and those of rank-deficient
//! features) each contribute log α. The authors' code for the JMLR form sums over the
//! min(n, D) singular values only (or the rank, when n > D), which leaves out
//! (D − k)/2n · log α and favours wide features; we keep those terms, as the ICML form does.
//! On full-rank features with n > D the two agree exactly (golden test); on any features the
//! JMLR and ICML forms here agree to about 1e-3 (tested below).

use faer::{Mat, Side};

use super::input::{Labels, matrix, no_convergence};
use crate::Result;

const NAME: &str = "LogME";
const EPS: f64 = 1e-5;
const ITERATIONS: usize = 11;

/// The log evidence per sample; `sigma` lists the non-zero eigenvalues of FᵀF, the other
/// d − sigma.len() are zero.
fn evidence(d: f64, n: f64, alpha: f64, beta: f64, sigma: &[f64], res2: f64, m2: f64) -> f64 {
    let zeros = d - sigma.len() as f64;
    let logdet: f64 =
        sigma.iter().map(|s| (alpha + beta * s).ln()).sum::<f64>() + zeros * alpha.ln();
    (d / 2.0 * alpha.ln() + n / 2.0 * beta.ln()
        - 0.5 * logdet
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - n / 2.0 * (2.0 * std::f64::consts::PI).ln())
        / n
}

/// LogME of `features` (`width` values per sample) for the class `labels`, by the JMLR
/// fixed-point update (see the module docs).
///
/// # Shapes
/// `features`: `[n, width]` row-major, `labels`: `[n]` → a number (higher: more transferable)
///
/// # Errors
/// [`crate::Error::Score`] when features and labels disagree in count, a feature is not
/// finite, or the labels hold a single class.
pub fn logme<T: Copy + Into<f64>>(features: &[T], width: usize, labels: &[u32]) -> Result<f64> {
    let labels = Labels::new(NAME, labels)?;
    let f = matrix(NAME, "features", features, width, labels.len())?;
    let (n, d) = (f.nrows(), f.ncols());
    let svd = f.thin_svd().map_err(|_| no_convergence(NAME, "SVD"))?;
    let s = svd.S().column_vector();
    // Singular values at rounding level are zero directions (see `evidence`).
    let largest = s.iter().fold(0.0f64, |m, v| m.max(*v));
    let keep = s.iter().take_while(|&&v| v > 1e-10 * largest).count();
    let sigma: Vec<f64> = s.iter().take(keep).map(|v| v * v).collect();
    let u = svd.U();
    let mut total = 0.0;
    for k in 0..labels.classes {
        let y: Vec<f64> = labels.y.iter().map(|&c| f64::from(c == k)).collect();
        let x2: Vec<f64> = (0..keep)
            .map(|j| {
                let xj: f64 = u.col(j).iter().zip(&y).map(|(a, b)| a * b).sum();
                xj * xj
            })
            .collect();
        let res_x2 = y.iter().map(|v| v * v).sum::<f64>() - x2.iter().sum::<f64>();
        let (mut alpha, mut beta) = (1.0f64, 1.0f64);
        let (mut m2, mut res2) = (0.0, 0.0);
        for _ in 0..ITERATIONS {
            let t = alpha / beta;
            let gamma: f64 = sigma.iter().map(|s| s / (s + t)).sum();
            m2 = sigma
                .iter()
                .zip(&x2)
                .map(|(s, x)| s * x / ((t + s) * (t + s)))
                .sum();
            res2 = sigma
                .iter()
                .zip(&x2)
                .map(|(s, x)| x / ((1.0 + s / t) * (1.0 + s / t)))
                .sum::<f64>()
                + res_x2;
            alpha = gamma / (m2 + EPS);
            beta = (n as f64 - gamma) / (res2 + EPS);
            if ((alpha / beta - t) / t).abs() <= 1e-3 {
                break;
            }
        }
        total += evidence(d as f64, n as f64, alpha, beta, &sigma, res2, m2);
    }
    Ok(total / labels.classes as f64)
}

/// LogME by the ICML 2021 paper's algorithm (see the module docs): the same score as
/// [`logme`] to about 1e-3, at O(width³) cost.
///
/// # Shapes
/// `features`: `[n, width]` row-major, `labels`: `[n]` → a number
///
/// # Errors
/// As [`logme`].
pub fn logme_icml<T: Copy + Into<f64>>(
    features: &[T],
    width: usize,
    labels: &[u32],
) -> Result<f64> {
    let labels = Labels::new(NAME, labels)?;
    let f = matrix(NAME, "features", features, width, labels.len())?;
    let (n, d) = (f.nrows(), f.ncols());
    let gram = f.transpose() * &f;
    let eig = gram
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| no_convergence(NAME, "eigendecomposition"))?;
    // FᵀF is positive semi-definite: a negative eigenvalue is rounding.
    let s: Vec<f64> = eig.S().column_vector().iter().map(|v| v.max(0.0)).collect();
    let v = eig.U();
    let mut total = 0.0;
    for k in 0..labels.classes {
        let y = Mat::from_fn(n, 1, |i, _| f64::from(labels.y[i] == k));
        let tmp = v.transpose() * (f.transpose() * &y);
        let (mut alpha, mut beta, mut lam) = (1.0f64, 1.0f64, 1.0f64);
        let (mut alpha_de, mut beta_de) = (0.0, 0.0);
        for _ in 0..ITERATIONS {
            let gamma: f64 = s.iter().map(|si| si / (si + lam)).sum();
            let w = Mat::from_fn(d, 1, |i, _| tmp[(i, 0)] * beta / (alpha + beta * s[i]));
            let m = v * &w;
            alpha_de = m.col(0).iter().map(|x| x * x).sum::<f64>();
            alpha = gamma / (alpha_de + EPS);
            let fit = &f * &m;
            beta_de = (0..n).map(|i| (y[(i, 0)] - fit[(i, 0)]).powi(2)).sum();
            beta = (n as f64 - gamma) / (beta_de + EPS);
            let new_lam = alpha / beta;
            if ((new_lam - lam) / lam).abs() < 1e-2 {
                break;
            }
            lam = new_lam;
        }
        total += evidence(
            d as f64,
            n as f64,
            alpha,
            beta,
            &s,
            beta_de + EPS,
            alpha_de + EPS,
        );
    }
    Ok(total / labels.classes as f64)
}
