//! Tasks: what the trainer optimises and reports, one (head, target, loss, metric, weight)
//! each.
//!
//! A trainer without tasks trains the one it always did: the network's output against the
//! dataset's labels with cross-entropy, reported as accuracy. Several tasks share the trunk of a
//! network with heads (`nn::spec`): the total loss is Σ weight · loss, each task's loss and
//! metric are reported under its name. A task's target is a label column of the dataset
//! (`label` or a named target), real values (regression) or `input`, the samples themselves,
//! which needs no labels at all (an autoencoder's reconstruction).
//!
//! ```toml
//! [[tasks]]
//! name = "digit"              # the trunk's output against the labels, cross-entropy
//! [[tasks]]
//! name = "parity"
//! head = "parity"
//! target = "parity"
//! loss = { focal = { gamma = 2.0 } }
//! weight = 0.5
//! ```

use serde::{Deserialize, Serialize};

use super::loss::{cross_entropy, focal, l1, mse};
use crate::backend::{self, Device, Tensor};
use crate::data::{Dataset, LABEL_TARGET, TargetBatch, TargetKind};
use crate::nn::{Mode, Network, fmt_shape};
use crate::{Error, Result};

/// A task's loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Loss {
    /// Cross-entropy of the head's logits against class labels.
    CrossEntropy,
    /// Focal loss (Lin et al. 2017, see [`super::loss::focal`]) against class labels.
    Focal {
        gamma: f64,
        /// One weight per class (α_t); none weighs every class 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alpha: Option<Vec<f32>>,
    },
    /// Mean squared error against real values (or the input).
    Mse,
    /// Mean absolute error against real values (or the input).
    L1,
}

impl Loss {
    fn is_classification(&self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::Focal { .. })
    }

    /// The metric reported when the task names none.
    pub fn default_metric(&self) -> Metric {
        match self {
            Loss::CrossEntropy | Loss::Focal { .. } => Metric::Accuracy,
            Loss::Mse => Metric::Mse,
            Loss::L1 => Metric::Mae,
        }
    }
}

/// What a task reports besides its loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Fraction of samples whose highest output is the label (higher is better).
    Accuracy,
    /// Mean squared error (lower is better).
    Mse,
    /// Mean absolute error (lower is better).
    Mae,
}

impl Metric {
    /// The metric's name in records.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Mse => "mse",
            Metric::Mae => "mae",
        }
    }

    /// Higher values are better.
    pub fn higher_is_better(self) -> bool {
        self == Metric::Accuracy
    }
}

fn label() -> String {
    LABEL_TARGET.into()
}
fn cross_entropy_loss() -> Loss {
    Loss::CrossEntropy
}
fn unit() -> f64 {
    1.0
}
fn is_unit(w: &f64) -> bool {
    *w == 1.0
}

/// One task: a head's output against a target, a loss, a metric and a weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Names the task in records (`tasks.<name>` in `metrics.jsonl`).
    pub name: String,
    /// The head whose output is compared; none for the trunk's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// `label` (the default labels), `input` (the samples) or a named target of the data.
    #[serde(default = "label")]
    pub target: String,
    #[serde(default = "cross_entropy_loss")]
    pub loss: Loss,
    /// Default: accuracy for classification losses, mse for `mse`, mae for `l1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// Factor of this task's loss in the total.
    #[serde(default = "unit", skip_serializing_if = "is_unit")]
    pub weight: f64,
}

/// One task's loss on one batch.
pub struct TaskLoss {
    /// The weighted loss, `[1]`, in the autodiff graph.
    pub loss: Tensor<1>,
    /// The unweighted loss.
    pub value: f64,
    /// The metric summed over the batch's samples (correct samples for accuracy; each
    /// sample's mean squared or absolute error otherwise): divide by the sample count.
    pub metric_sum: f64,
}

impl Task {
    /// The task a trainer without tasks trains: the trunk's output against the labels.
    pub fn classify(name: &str) -> Self {
        Task {
            name: name.into(),
            head: None,
            target: label(),
            loss: Loss::CrossEntropy,
            metric: None,
            weight: 1.0,
        }
    }

    /// A reconstruction task: head `head`'s output against the input, mean squared error.
    pub fn reconstruct(name: &str, head: Option<&str>) -> Self {
        Task {
            name: name.into(),
            head: head.map(str::to_string),
            target: crate::data::INPUT_TARGET.into(),
            loss: Loss::Mse,
            metric: None,
            weight: 1.0,
        }
    }

    /// The metric this task reports.
    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or_else(|| self.loss.default_metric())
    }

    /// Checks that the head exists, the data has the target, and loss, metric, head and target
    /// fit together; the error names the task, the dataset and what to change.
    pub fn check(&self, net: &Network, data: &Dataset) -> Result<()> {
        let bad = |msg: String| Error::Spec(format!("task `{}`: {msg}", self.name));
        let out = net
            .head_output_shape(self.head.as_deref())
            .map_err(|e| bad(e.to_string()))?;
        let width: usize = out.iter().product();
        let kind = data
            .target_kind(&self.target)
            .map_err(|e| bad(e.to_string()))?;
        match (kind, self.loss.is_classification()) {
            (TargetKind::Classes(k), true) if k > width => Err(bad(format!(
                "target `{}` of dataset `{}` has {k} classes but the {} gives {width} outputs",
                self.target,
                data.name,
                self.head_name()
            ))),
            (TargetKind::Classes(_), true) => Ok(()),
            (TargetKind::Values(w), false) if w != width => Err(bad(format!(
                "target `{}` of dataset `{}` has {w} values per sample but the {} gives {}; give the head {w} outputs",
                self.target,
                data.name,
                self.head_name(),
                fmt_shape(&out)
            ))),
            (TargetKind::Values(_), false) if self.metric() == Metric::Accuracy => Err(bad(
                "accuracy needs class labels; use metric = \"mse\" or \"mae\"".into(),
            )),
            (TargetKind::Values(_), false) => Ok(()),
            (TargetKind::Classes(_), false) => Err(bad(format!(
                "target `{}` holds class labels; use loss = \"cross_entropy\" or focal",
                self.target
            ))),
            (TargetKind::Values(_), true) => Err(bad(format!(
                "target `{}` holds real values; use loss = \"mse\" or \"l1\"",
                self.target
            ))),
        }
        .and_then(|()| match &self.loss {
            Loss::Focal {
                alpha: Some(a),
                gamma,
            } if a.len() < width || *gamma < 0.0 => Err(bad(format!(
                "focal loss needs gamma >= 0 and one alpha per output ({width}), got gamma = {gamma} and {} alphas",
                a.len()
            ))),
            Loss::Focal { gamma, .. } if *gamma < 0.0 => {
                Err(bad(format!("focal loss needs gamma >= 0, got {gamma}")))
            }
            _ => Ok(()),
        })
    }

    fn head_name(&self) -> String {
        match &self.head {
            Some(h) => format!("head `{h}`"),
            None => "network".into(),
        }
    }

    /// The task's loss for a batch: `output` is the head's output for the batch's samples
    /// (rows of companion data removed), `mask` an additive logit mask (label groups) or none.
    ///
    /// # Shapes
    /// - output: `[batch, outputs]`
    /// - mask: `batch · outputs` values, if given
    pub fn loss(
        &self,
        output: Tensor<2>,
        target: &TargetBatch,
        mask: Option<Vec<f32>>,
        device: &Device,
    ) -> Result<TaskLoss> {
        let [n, k] = output.dims();
        let (loss, metric_sum) = match target {
            TargetBatch::Classes(y) => {
                let logits = match mask {
                    Some(m) => output + backend::tensor(m, [n, k], device),
                    None => output,
                };
                let labels = backend::labels(y, device);
                let loss = match &self.loss {
                    Loss::Focal { gamma, alpha } => {
                        focal(logits.clone(), labels, *gamma, alpha.as_deref())
                    }
                    _ => cross_entropy(logits.clone(), labels),
                };
                let pred = backend::to_vec_int(&backend::plain(logits).argmax(1));
                let correct = pred.iter().zip(y).filter(|(p, l)| **p == **l as i64);
                (loss, correct.count() as f64)
            }
            TargetBatch::Values { values, width } => {
                let t = backend::tensor(values.clone(), [n, *width], device);
                let err = backend::to_vec(&(backend::plain(output.clone()) - t.clone()));
                let per_sample = |f: fn(f32) -> f32| {
                    err.iter().map(|&e| f(e) as f64).sum::<f64>() / (*width).max(1) as f64
                };
                let metric_sum = match self.metric() {
                    Metric::Mae => per_sample(f32::abs),
                    _ => per_sample(|e| e * e),
                };
                let loss = match self.loss {
                    Loss::L1 => l1(output, t),
                    _ => mse(output, t),
                };
                (loss, metric_sum)
            }
        };
        let value = backend::scalar(&loss) as f64;
        let loss = if self.weight == 1.0 {
            loss
        } else {
            loss.mul_scalar(self.weight)
        };
        Ok(TaskLoss {
            loss,
            value,
            metric_sum,
        })
    }
}

/// One task's evaluation on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEval {
    /// `accuracy`, `mse` or `mae`.
    pub metric: String,
    /// Mean unweighted loss.
    pub loss: f64,
    /// The metric's value.
    pub value: f64,
}

/// Evaluates every task on `data` in batches (no dropout, running batch-norm statistics):
/// one forward per batch serves all tasks.
pub fn evaluate_tasks(
    net: &mut Network,
    data: &Dataset,
    tasks: &[Task],
    batch_size: usize,
) -> Result<Vec<TaskEval>> {
    if tasks.is_empty() {
        return Ok(vec![]);
    }
    if data.is_empty() {
        return Err(Error::Spec(format!("dataset `{}` is empty", data.name)));
    }
    for t in tasks {
        t.check(net, data)?;
    }
    let mut sums = vec![(0.0, 0.0); tasks.len()];
    let order: Vec<usize> = (0..data.len()).collect();
    for idx in order.chunks(batch_size.max(1)) {
        let (x, _) = data.gather_batch(idx)?;
        let input = net.input(x, idx.len())?;
        let fwd = net.forward_taps(input, Mode::Eval, &[])?;
        for (t, sum) in tasks.iter().zip(&mut sums) {
            let out = fwd.head(t.head.as_deref())?.clone().flat();
            let target = data.gather_target(&t.target, idx)?;
            let r = t.loss(out, &target, None, net.device())?;
            sum.0 += r.value * idx.len() as f64;
            sum.1 += r.metric_sum;
        }
    }
    let n = data.len() as f64;
    Ok(tasks
        .iter()
        .zip(sums)
        .map(|(t, (l, m))| TaskEval {
            metric: t.metric().name().into(),
            loss: l / n,
            value: m / n,
        })
        .collect())
}
