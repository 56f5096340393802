//! NCE, the negative conditional entropy: Tran, Nguyen & Hassner, "Transferability and
//! Hardness of Supervised Classification Tasks", ICCV 2019 <https://arxiv.org/abs/1908.08142>.
//!
//! With zᵢ the source model's predicted (argmax) class for target sample i and yᵢ its target
//! label, the empirical joint P̂(y, z) = #{i: yᵢ = y, zᵢ = z} / n gives
//!
//! NCE = −H(Y | Z) = Σ_{y,z} P̂(y, z) log( P̂(y, z) / P̂(z) )   (≤ 0; higher is better)
//!
//! 0 means the source label determines the target label. The paper derives it for a source
//! task's labels on the same images; for transfer from a model (as here and in
//! Transfer-Learning-Library) z is the source model's prediction. Our convention: 0 log 0 = 0
//! exactly (the reference adds 1e-20 inside the logarithm instead; the difference is below
//! 1e-18).

use super::input::Labels;
use crate::{Error, Result};

const NAME: &str = "NCE";

/// NCE of the source model's predicted classes `source` for the target `labels`.
///
/// # Shapes
/// `source`: `[n]`, `labels`: `[n]` → a number ≤ 0
///
/// # Errors
/// [`Error::Score`] when the counts differ or the labels hold a single class.
pub fn nce(source: &[u32], labels: &[u32]) -> Result<f64> {
    let labels = Labels::new(NAME, labels)?;
    if source.len() != labels.len() {
        return Err(Error::Score {
            score: NAME,
            msg: format!(
                "{} source predictions but {} labels; give one prediction per labelled sample",
                source.len(),
                labels.len()
            ),
        });
    }
    let mut joint = std::collections::BTreeMap::<(u32, usize), f64>::new();
    let mut marginal = std::collections::BTreeMap::<u32, f64>::new();
    let n = labels.len() as f64;
    for (&z, &y) in source.iter().zip(&labels.y) {
        *joint.entry((z, y)).or_default() += 1.0 / n;
        *marginal.entry(z).or_default() += 1.0 / n;
    }
    Ok(joint
        .iter()
        .map(|(&(z, _), &p)| p * (p / marginal[&z]).ln())
        .sum())
}
