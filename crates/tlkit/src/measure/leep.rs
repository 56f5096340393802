//! LEEP: Nguyen, Hassner, Seeger & Archambeau, "LEEP: A New Measure to Evaluate
//! Transferability of Learned Representations", ICML 2020 <https://arxiv.org/abs/2002.12462>.
//!
//! With θ(xᵢ) the source model's softmax over its Z classes for target sample i and yᵢ the
//! target label, the empirical joint and conditional of target label y and source label z are
//!
//! P̂(y, z) = 1/n Σ_{i: yᵢ = y} θ(xᵢ)_z,  P̂(y | z) = P̂(y, z) / Σ_y' P̂(y', z)
//!
//! and LEEP is the mean log-likelihood of the "expected empirical predictor":
//!
//! LEEP = 1/n Σᵢ log Σ_z P̂(yᵢ | z) θ(xᵢ)_z   (≤ 0; higher is better)
//!
//! It needs the source model's class outputs, not features: a network without a classifier
//! output has no LEEP. Our convention: the predictions are taken as given (rows should sum
//! to 1; they are not renormalised), and a source class no sample puts mass on is left out
//! of the sum rather than divided by zero.

use super::input::{Labels, matrix};
use crate::{Error, Result};

const NAME: &str = "LEEP";

/// LEEP of the source model's softmax outputs `predictions` (`source_classes` per sample) for
/// the target `labels`.
///
/// # Shapes
/// `predictions`: `[n, source_classes]` row-major, probabilities; `labels`: `[n]` → a number ≤ 0
///
/// # Errors
/// [`Error::Score`] when counts differ, a prediction is not finite or negative, or the labels
/// hold a single class.
pub fn leep<T: Copy + Into<f64>>(
    predictions: &[T],
    source_classes: usize,
    labels: &[u32],
) -> Result<f64> {
    let labels = Labels::new(NAME, labels)?;
    let p = matrix(
        NAME,
        "predictions",
        predictions,
        source_classes,
        labels.len(),
    )?;
    let n = labels.len();
    if let Some(i) =
        (0..n * source_classes).find(|&i| p[(i / source_classes, i % source_classes)] < 0.0)
    {
        return Err(Error::Score {
            score: NAME,
            msg: format!(
                "predictions row {}, column {} is negative; LEEP takes the source model's \
                 softmax probabilities, not its logits",
                i / source_classes,
                i % source_classes
            ),
        });
    }
    let mut joint = vec![vec![0.0f64; source_classes]; labels.classes];
    for (i, &y) in labels.y.iter().enumerate() {
        for (z, j) in joint[y].iter_mut().enumerate() {
            *j += p[(i, z)] / n as f64;
        }
    }
    let marginal: Vec<f64> = (0..source_classes)
        .map(|z| joint.iter().map(|row| row[z]).sum())
        .collect();
    let mut total = 0.0;
    for (i, &y) in labels.y.iter().enumerate() {
        let eep: f64 = (0..source_classes)
            .filter(|&z| marginal[z] > 0.0)
            .map(|z| joint[y][z] / marginal[z] * p[(i, z)])
            .sum();
        total += eep.ln();
    }
    Ok(total / n as f64)
}
