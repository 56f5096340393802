//! Rank correlations between a transferability score and the accuracy fine-tuning reached:
//! does the score order the candidates as the real outcome does?
//!
//! - Kendall's τ-b (M. G. Kendall, "The treatment of ties in ranking problems", Biometrika
//!   1945): over all pairs `i < j`, with `sx = sign(x_i - x_j)` and `sy = sign(y_i - y_j)`,
//!   `τ_b = Σ sx·sy / sqrt(Σ |sx| · Σ |sy|)`; a pair tied in one variable counts in neither the
//!   numerator nor that variable's side of the denominator.
//! - The weighted τ (S. Vigna, "A weighted correlation index for rankings with ties", WWW 2015,
//!   <https://arxiv.org/abs/1404.3325>), as `scipy.stats.weightedtau` computes it by default and
//!   as Transfer-Learning-Library reports it for model selection: the same sums with each pair
//!   weighted by `w(r_i) + w(r_j)`, the hyperbolic weigher `w(r) = 1 / (r + 1)`, where `r` is an
//!   element's place (0 first) in the decreasing lexicographic order by `(x, y)`; the result is
//!   the mean of that value and the one ranked by `(y, x)`. Disagreements among the best
//!   candidates thus cost more than among the worst, which is what model selection cares about.
//!
//! Both are computed over all pairs (O(n²)): a report ranks tens of candidates, not millions.
//! Either is undefined (`None`) when one side is constant, as scipy's `nan`.

use crate::{Error, Result};

/// Kendall's τ-b between `x` and `y`; `None` when either is constant.
///
/// # Shapes
/// `x`, `y`: `[n]`, the same `n ≥ 2`, all finite.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> Result<Option<f64>> {
    check("kendall tau", x, y)?;
    Ok(weighted_pairs(x, y, |_, _| 1.0))
}

/// The weighted τ of `scipy.stats.weightedtau(x, y)` (hyperbolic weigher, additive weights,
/// ranks by the values themselves, averaged over both lexicographic orders); `None` when either
/// side is constant.
///
/// # Shapes
/// `x`, `y`: `[n]`, the same `n ≥ 2`, all finite.
pub fn weighted_tau(x: &[f64], y: &[f64]) -> Result<Option<f64>> {
    check("weighted tau", x, y)?;
    let by_xy = ranked_tau(x, y);
    let by_yx = ranked_tau(y, x);
    Ok(by_xy.zip(by_yx).map(|(a, b)| (a + b) / 2.0))
}

/// The weighted τ with ranks from the decreasing lexicographic order by `(x, y)`. Elements tied
/// in both `x` and `y` may take their places in either order: their pairs with any third element
/// carry the same signs, so swapping their ranks leaves the sums unchanged.
fn ranked_tau(x: &[f64], y: &[f64]) -> Option<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[b].total_cmp(&x[a]).then(y[b].total_cmp(&y[a])));
    let mut rank = vec![0usize; x.len()];
    for (place, &i) in order.iter().enumerate() {
        rank[i] = place;
    }
    let weigh = |r: usize| 1.0 / (r as f64 + 1.0);
    weighted_pairs(x, y, |i, j| weigh(rank[i]) + weigh(rank[j]))
}

/// `Σ w·sx·sy / sqrt(Σ w·|sx| · Σ w·|sy|)` over pairs `i < j`.
fn weighted_pairs(x: &[f64], y: &[f64], weight: impl Fn(usize, usize) -> f64) -> Option<f64> {
    let sign = |d: f64| {
        if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let (mut both, mut untied_x, mut untied_y) = (0.0, 0.0, 0.0);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let w = weight(i, j);
            let (sx, sy) = (sign(x[i] - x[j]), sign(y[i] - y[j]));
            both += w * sx * sy;
            untied_x += w * sx.abs();
            untied_y += w * sy.abs();
        }
    }
    (untied_x > 0.0 && untied_y > 0.0).then(|| both / (untied_x * untied_y).sqrt())
}

fn check(score: &'static str, x: &[f64], y: &[f64]) -> Result<()> {
    let fail = |msg: String| Err(Error::Score { score, msg });
    if x.len() != y.len() {
        return fail(format!(
            "{} scores but {} outcomes; give one outcome per scored candidate",
            x.len(),
            y.len()
        ));
    }
    if x.len() < 2 {
        return fail(format!(
            "{} candidate{}; a rank correlation needs at least two",
            x.len(),
            if x.len() == 1 { "" } else { "s" }
        ));
    }
    if let Some(i) = x.iter().chain(y).position(|v| !v.is_finite()) {
        let (side, at) = if i < x.len() {
            ("score", i)
        } else {
            ("outcome", i - x.len())
        };
        return fail(format!(
            "the {side} of candidate {at} is not finite; drop that candidate or fix its score"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected values, from scipy 1.x:
    //
    // ```python
    // from scipy import stats
    // x = [0.31, -1.2, 2.5, 0.7, 0.7, 1.9, -0.4, 3.1]
    // y = [0.62, 0.11, 0.93, 0.40, 0.55, 0.88, 0.20, 0.71]
    // xt = [1, 2, 2, 3, 3, 3, 1]
    // yt = [1, 1, 2, 3, 2, 3, 3]
    // for a, b in [(x, y), (xt, yt)]:
    //     print(stats.kendalltau(a, b).statistic, stats.weightedtau(a, b).statistic)
    // # 0.6910233190806425 0.6358216789479297
    // # 0.375 0.485031799968884
    // ```
    const X: [f64; 8] = [0.31, -1.2, 2.5, 0.7, 0.7, 1.9, -0.4, 3.1];
    const Y: [f64; 8] = [0.62, 0.11, 0.93, 0.40, 0.55, 0.88, 0.20, 0.71];
    const XT: [f64; 7] = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 1.0];
    const YT: [f64; 7] = [1.0, 1.0, 2.0, 3.0, 2.0, 3.0, 3.0];

    fn close(got: Option<f64>, want: f64) {
        let got = got.expect("defined");
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    #[test]
    fn kendall_tau_b_matches_scipy_with_and_without_ties() {
        close(kendall_tau(&X, &Y).unwrap(), 0.6910233190806425);
        close(kendall_tau(&XT, &YT).unwrap(), 0.375);
    }

    #[test]
    fn weighted_tau_matches_scipy_with_and_without_ties() {
        close(weighted_tau(&X, &Y).unwrap(), 0.6358216789479297);
        close(weighted_tau(&XT, &YT).unwrap(), 0.485031799968884);
        // Symmetric, as the mean over both lexicographic orders is.
        close(weighted_tau(&Y, &X).unwrap(), 0.6358216789479297);
    }

    #[test]
    fn weighted_tau_weighs_the_top_of_the_ranking_more() {
        // The same single swap of neighbours costs more at the top than at the bottom.
        let x = [5.0, 4.0, 3.0, 2.0, 1.0];
        let top = weighted_tau(&x, &[4.0, 5.0, 3.0, 2.0, 1.0])
            .unwrap()
            .unwrap();
        let bottom = weighted_tau(&x, &[5.0, 4.0, 3.0, 1.0, 2.0])
            .unwrap()
            .unwrap();
        assert!(top < bottom, "top swap {top}, bottom swap {bottom}");
        close(kendall_tau(&x, &x).unwrap(), 1.0);
        close(weighted_tau(&x, &[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap(), -1.0);
    }

    #[test]
    fn constant_side_is_undefined_and_bad_input_is_an_error() {
        assert_eq!(
            kendall_tau(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).unwrap(),
            None
        );
        assert_eq!(weighted_tau(&[1.0, 2.0, 3.0], &[2.0; 3]).unwrap(), None);
        let err = kendall_tau(&[1.0, 2.0], &[1.0]).unwrap_err().to_string();
        assert!(err.contains("2 scores but 1 outcomes"), "{err}");
        let err = weighted_tau(&[1.0], &[1.0]).unwrap_err().to_string();
        assert!(err.contains("at least two"), "{err}");
        let err = weighted_tau(&[1.0, f64::NAN], &[1.0, 2.0])
            .unwrap_err()
            .to_string();
        assert!(err.contains("score of candidate 1 is not finite"), "{err}");
    }
}
