//! Linear CKA: Kornblith, Norouzi, Lee & Hinton, "Similarity of Neural Network
//! Representations Revisited", ICML 2019 <https://arxiv.org/abs/1905.00414>.
//!
//! For two representations of the same n samples, X (`[n, D₁]`) and Y (`[n, D₂]`), with
//! columns centred,
//!
//! CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)
//!
//! in [0, 1]: 1 when one is an orthogonal transform and isotropic scaling of the other,
//! whatever D₁ and D₂. It compares layers, networks or tasks on shared inputs; it needs no
//! labels. Our convention is the paper's (the linear-kernel HSIC ratio; the 1/(n−1)² factors
//! cancel).

use faer::Mat;

use super::input::{centered, matrix};
use crate::{Error, Result};

const NAME: &str = "linear CKA";

fn frobenius2(m: &Mat<f64>) -> f64 {
    m.col_iter()
        .map(|c| c.iter().map(|v| v * v).sum::<f64>())
        .sum()
}

/// Linear CKA between `x` (`width_x` per sample) and `y` (`width_y` per sample), taken from
/// the same samples in the same order.
///
/// # Shapes
/// `x`: `[n, width_x]`, `y`: `[n, width_y]` row-major → a number in [0, 1]
///
/// # Errors
/// [`Error::Score`] when the sample counts differ, a value is not finite, fewer than two
/// samples are given, or a representation is constant (its CKA is undefined).
pub fn linear_cka<T: Copy + Into<f64>>(
    x: &[T],
    width_x: usize,
    y: &[T],
    width_y: usize,
) -> Result<f64> {
    if width_x == 0 || width_y == 0 {
        return Err(Error::Score {
            score: NAME,
            msg: format!("representation widths {width_x} and {width_y}; both must be positive"),
        });
    }
    let n = x.len() / width_x;
    if n < 2 {
        return Err(Error::Score {
            score: NAME,
            msg: format!("{n} samples; CKA compares representations of at least two"),
        });
    }
    let a = centered(&matrix(NAME, "first representation", x, width_x, n)?);
    let b = centered(&matrix(NAME, "second representation", y, width_y, n)?);
    let (aa, bb) = (a.transpose() * &a, b.transpose() * &b);
    let denom = frobenius2(&aa).sqrt() * frobenius2(&bb).sqrt();
    if denom == 0.0 {
        return Err(Error::Score {
            score: NAME,
            msg: "a representation is the same for every sample; CKA is undefined".into(),
        });
    }
    Ok(frobenius2(&(b.transpose() * &a)) / denom)
}
