//! Classification metrics and evaluation.

use serde::{Deserialize, Serialize};

use super::loss::cross_entropy;
use crate::backend;
use crate::data::Dataset;
use crate::nn::{Mode, Network};
use crate::{Error, Result};

/// A confusion matrix: `counts[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        Confusion {
            counts: vec![vec![0; classes]; classes],
        }
    }

    /// Records predictions against labels.
    pub fn add(&mut self, labels: &[u32], predicted: &[i64]) {
        let k = self.counts.len();
        for (&l, &p) in labels.iter().zip(predicted) {
            if (l as usize) < k && (p as usize) < k {
                self.counts[l as usize][p as usize] += 1;
            }
        }
    }

    /// Total samples recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Fraction predicted correctly.
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        correct as f64 / self.total().max(1) as f64
    }

    /// Recall of each class (accuracy on the samples of that class); NaN for absent classes.
    pub fn per_class(&self) -> Vec<f64> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: u64 = row.iter().sum();
                if n == 0 {
                    f64::NAN
                } else {
                    row[i] as f64 / n as f64
                }
            })
            .collect()
    }
}

/// The result of evaluating a classifier on a dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalResult {
    pub loss: f64,
    pub accuracy: f64,
    pub per_class_accuracy: Vec<f64>,
    pub confusion: Confusion,
    /// The predicted class of every sample, in the dataset's order.
    #[serde(skip)]
    pub predictions: Vec<u32>,
}

/// The network's outputs for every sample of `data`, row-major `[n, classes]` (evaluation
/// mode, `batch_size` samples per forward pass).
///
/// # Errors
/// As the forward pass: an input that does not fit the network.
pub fn predict_logits(net: &mut Network, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
    let order: Vec<usize> = (0..data.len()).collect();
    let mut out = Vec::new();
    for idx in order.chunks(batch_size.max(1)) {
        let (x, _) = data.gather_batch(idx)?;
        let input = net.input(x, idx.len())?;
        out.extend(backend::to_vec(&net.forward(input, Mode::Eval)?.flat()));
    }
    Ok(out)
}

/// Evaluates `net` on `data` in batches (no dropout, running batch-norm statistics).
pub fn evaluate(net: &mut Network, data: &Dataset, batch_size: usize) -> Result<EvalResult> {
    evaluate_groups(net, data, batch_size, None)
}

/// The value added to the logits of output units outside a sample's group: small enough that
/// their softmax weight is 0 in `f32`, finite so that gradients stay finite.
pub const MASKED_LOGIT: f32 = -1.0e9;

/// An additive logit mask, `[labels.len(), classes]` row-major: 0 on the units of the first
/// group in `groups` that holds the sample's label, [`MASKED_LOGIT`] elsewhere. Adding it to
/// the logits restricts softmax, cross-entropy and argmax to that group (a multi-head
/// classifier whose heads are groups of one output layer).
///
/// # Errors
/// `Error::Spec` if a label is in no group or a group names a unit `>= classes`.
pub fn group_mask(labels: &[u32], groups: &[Vec<u32>], classes: usize) -> Result<Vec<f32>> {
    if let Some(bad) = groups.iter().flatten().find(|&&c| c as usize >= classes) {
        return Err(Error::Spec(format!(
            "label group names output unit {bad} but the network has {classes} outputs"
        )));
    }
    let mut mask = vec![MASKED_LOGIT; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        let g = groups.iter().find(|g| g.contains(&l)).ok_or_else(|| {
            Error::Spec(format!(
                "label {l} is in no label group ({groups:?}); every class must belong to a group"
            ))
        })?;
        for &c in g {
            mask[i * classes + c as usize] = 0.0;
        }
    }
    Ok(mask)
}

/// Like [`evaluate`], but with `groups` each sample's loss and prediction are restricted to
/// the output units of the group that holds its label (see [`group_mask`]): the accuracy of a
/// multi-head classifier told which head (task) each sample belongs to.
pub fn evaluate_groups(
    net: &mut Network,
    data: &Dataset,
    batch_size: usize,
    groups: Option<&[Vec<u32>]>,
) -> Result<EvalResult> {
    if data.is_empty() {
        return Err(Error::Spec(format!("dataset `{}` is empty", data.name)));
    }
    if data.y.is_empty() {
        return Err(Error::Spec(format!(
            "dataset `{}` has no labels to evaluate against",
            data.name
        )));
    }
    let classes = net.output_shape().iter().product::<usize>();
    if data.num_classes > classes {
        return Err(Error::Spec(format!(
            "dataset `{}` has {} classes but the network outputs {classes}",
            data.name, data.num_classes
        )));
    }
    let mut confusion = Confusion::new(classes);
    let mut predictions = Vec::with_capacity(data.len());
    let mut loss_sum = 0.0;
    let order: Vec<usize> = (0..data.len()).collect();
    for idx in order.chunks(batch_size.max(1)) {
        let (x, y) = data.gather_batch(idx)?;
        let input = net.input(x, idx.len())?;
        let mut logits = net.forward(input, Mode::Eval)?.flat();
        if let Some(g) = groups {
            let mask = group_mask(&y, g, classes)?;
            logits = logits + backend::tensor(mask, [idx.len(), classes], net.device());
        }
        let labels = backend::labels(&y, net.device());
        loss_sum +=
            backend::scalar(&cross_entropy(logits.clone(), labels)) as f64 * idx.len() as f64;
        let pred = backend::to_vec_int(&logits.argmax(1));
        confusion.add(&y, &pred);
        predictions.extend(pred.iter().map(|&p| p as u32));
    }
    Ok(EvalResult {
        loss: loss_sum / data.len() as f64,
        accuracy: confusion.accuracy(),
        per_class_accuracy: confusion.per_class(),
        confusion,
        predictions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_mask_keeps_the_units_of_each_samples_group() {
        let m = group_mask(&[3, 0], &[vec![0, 1], vec![2, 3]], 4).unwrap();
        let k = MASKED_LOGIT;
        assert_eq!(m, vec![k, k, 0.0, 0.0, 0.0, 0.0, k, k]);
        let err = group_mask(&[5], &[vec![0, 1]], 6).unwrap_err().to_string();
        assert!(err.contains("label 5 is in no label group"), "{err}");
        assert!(group_mask(&[0], &[vec![0, 9]], 4).is_err());
    }

    #[test]
    fn confusion_counts_accuracy_and_recall() {
        let mut c = Confusion::new(3);
        c.add(&[0, 0, 1, 2], &[0, 1, 1, 2]);
        assert_eq!(c.total(), 4);
        assert_eq!(c.accuracy(), 0.75);
        assert_eq!(c.per_class(), vec![0.5, 1.0, 1.0]);
        assert_eq!(c.counts[0][1], 1);
    }
}
