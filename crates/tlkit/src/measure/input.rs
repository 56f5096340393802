//! What every score checks before it computes: a feature matrix whose rows match the labels,
//! finite values, and at least two classes. The scores work in f64 whatever the features
//! were stored in (f32 from the feature cache, f64 from a caller).

use std::collections::{BTreeMap, BTreeSet};

use faer::Mat;

use crate::{Error, Result};

/// Target labels renumbered `0..classes` in the order of their values, so that a subset of
/// classes (digits 5-9) scores like the full set: a class with no sample would otherwise be a
/// one-vs-rest target of zeros, and the reference implementations average over it.
#[derive(Debug, Clone)]
pub struct Labels {
    /// Each sample's class in `0..classes`.
    pub y: Vec<usize>,
    pub classes: usize,
    /// Samples per class.
    pub counts: Vec<usize>,
}

impl Labels {
    /// Checks `labels` for `score`: at least two distinct classes.
    pub fn new(score: &'static str, labels: &[u32]) -> Result<Self> {
        // Numbered by value, not by first appearance, so the order of the samples is irrelevant.
        let index: BTreeMap<u32, usize> = labels
            .iter()
            .copied()
            .collect::<BTreeSet<u32>>()
            .into_iter()
            .enumerate()
            .map(|(i, v)| (v, i))
            .collect();
        if index.len() < 2 {
            return Err(Error::Score {
                score,
                msg: format!(
                    "the target has {} class{} among {} labels; a score ranks features by how \
                     well they separate classes, so give labels of at least two classes",
                    index.len(),
                    if index.len() == 1 { "" } else { "es" },
                    labels.len()
                ),
            });
        }
        let y: Vec<usize> = labels.iter().map(|l| index[l]).collect();
        let mut counts = vec![0; index.len()];
        for &c in &y {
            counts[c] += 1;
        }
        Ok(Labels {
            y,
            classes: index.len(),
            counts,
        })
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// `values` (`width` per row, row-major) as an `[n, width]` f64 matrix, checked for `score`:
/// a whole number of rows, `rows` of them (the label count), every value finite.
///
/// # Shapes
/// `values`: `[rows · width]` → `[rows, width]`
pub fn matrix<T: Copy + Into<f64>>(
    score: &'static str,
    what: &str,
    values: &[T],
    width: usize,
    rows: usize,
) -> Result<Mat<f64>> {
    let err = |msg: String| Error::Score { score, msg };
    if width == 0 {
        return Err(err(format!("the {what} have width 0")));
    }
    if !values.len().is_multiple_of(width) {
        return Err(err(format!(
            "{} {what} values are not whole rows of width {width}",
            values.len()
        )));
    }
    let n = values.len() / width;
    if n != rows {
        return Err(err(format!(
            "{n} rows of {what} but {rows} labels; give one row per labelled sample"
        )));
    }
    if let Some(i) = values.iter().position(|v| !(*v).into().is_finite()) {
        return Err(err(format!(
            "{what} row {}, column {} is {}; the network's outputs are not finite there (check \
             its weights and the input data)",
            i / width,
            i % width,
            values[i].into()
        )));
    }
    Ok(Mat::from_fn(n, width, |i, j| values[i * width + j].into()))
}

/// `m` with the mean of each column subtracted.
pub fn centered(m: &Mat<f64>) -> Mat<f64> {
    let n = m.nrows().max(1) as f64;
    let means: Vec<f64> = (0..m.ncols())
        .map(|j| m.col(j).iter().sum::<f64>() / n)
        .collect();
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] - means[j])
}

/// The rows of `m` whose label is `class`.
pub fn rows_of(m: &Mat<f64>, labels: &Labels, class: usize) -> Mat<f64> {
    let idx: Vec<usize> = (0..labels.len())
        .filter(|&i| labels.y[i] == class)
        .collect();
    Mat::from_fn(idx.len(), m.ncols(), |i, j| m[(idx[i], j)])
}

/// The error of a decomposition that did not converge, for `score`.
pub fn no_convergence(score: &'static str, what: &str) -> Error {
    Error::Score {
        score,
        msg: format!("the {what} did not converge; the features may be degenerate"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_renumbered_by_value() {
        let l = Labels::new("test", &[7, 5, 7, 9]).unwrap();
        assert_eq!(l.y, [1, 0, 1, 2]);
        assert_eq!(l.classes, 3);
        assert_eq!(l.counts, [1, 2, 1]);
    }

    #[test]
    fn one_class_nan_and_count_mismatch_are_named() {
        let e = Labels::new("LogME", &[3, 3, 3]).unwrap_err().to_string();
        assert!(
            e.starts_with("LogME:") && e.contains("1 class among 3"),
            "{e}"
        );
        let x = [0.0f32, 1.0, 2.0, f32::NAN, 4.0, 5.0];
        let e = matrix("H-score", "features", &x, 2, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1, column 1 is NaN"), "{e}");
        let e = matrix("H-score", "features", &x[..4], 2, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 rows of features but 3 labels"), "{e}");
        let e = matrix("H-score", "features", &x[..5], 2, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not whole rows of width 2"), "{e}");
        let inf = [1.0f64, f64::INFINITY];
        let e = matrix("TransRate", "features", &inf, 1, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1, column 0 is inf"), "{e}");
    }
}
