//! TransRate: Huang, Huang, Ma, Cheng, Wei, Xu & Du, "Frustratingly Easy Transferability
//! Estimation", ICML 2022 <https://arxiv.org/abs/2106.09362>.
//!
//! The mutual information between features and labels, estimated by the coding rate of the
//! (centred) features Z (`[n, D]`) at distortion ε:
//!
//! R(Z, ε) = ½ log det(I + 1/(n ε) ZᵀZ)
//!
//! TrR = R(Z, ε) − 1/C Σ_c R(Z_c, ε)
//!
//! with Z_c the rows of class c (n_c of them in their own R). Higher is better: the features
//! spread widely overall and little within each class.
//!
//! Our convention is the authors' code, which differs from the paper's formula in two ways
//! that change values (not rankings at a fixed D): the scale is 1/(nε), where the paper writes
//! D/(nε²), and the class rates are averaged with equal weights 1/C, where the paper weights
//! them by n_c/n. The features are centred once, over all samples (not per class). The
//! default ε is the code's 1e-4 ([`TRANSRATE_EPS`]). The log-determinant is a sum over the
//! singular values s of Z: log det(I + c ZᵀZ) = Σ log(1 + c s²).

use faer::Mat;

use super::input::{Labels, centered, matrix, no_convergence, rows_of};
use crate::Result;

const NAME: &str = "TransRate";

/// The distortion ε of the authors' code.
pub const TRANSRATE_EPS: f64 = 1e-4;

/// R(z, ε) = ½ log det(I + 1/(n ε) zᵀz) for the rows of `z`.
fn coding_rate(z: &Mat<f64>, eps: f64) -> Result<f64> {
    let scale = 1.0 / (z.nrows() as f64 * eps);
    let s = z
        .singular_values()
        .map_err(|_| no_convergence(NAME, "SVD"))?;
    Ok(0.5 * s.iter().map(|v| (scale * v * v).ln_1p()).sum::<f64>())
}

/// TransRate of `features` (`width` per sample) for the class `labels` at distortion `eps`
/// (the authors use [`TRANSRATE_EPS`]).
///
/// # Shapes
/// `features`: `[n, width]` row-major, `labels`: `[n]` → a number (nats)
///
/// # Errors
/// [`crate::Error::Score`] when counts differ, a feature is not finite, the labels hold a
/// single class, or `eps` is not positive.
pub fn transrate<T: Copy + Into<f64>>(
    features: &[T],
    width: usize,
    labels: &[u32],
    eps: f64,
) -> Result<f64> {
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(crate::Error::Score {
            score: NAME,
            msg: format!(
                "the distortion eps is {eps}; give a positive number (the authors use 1e-4)"
            ),
        });
    }
    let labels = Labels::new(NAME, labels)?;
    let z = centered(&matrix(NAME, "features", features, width, labels.len())?);
    let mut within = 0.0;
    for c in 0..labels.classes {
        within += coding_rate(&rows_of(&z, &labels, c), eps)?;
    }
    Ok(coding_rate(&z, eps)? - within / labels.classes as f64)
}
