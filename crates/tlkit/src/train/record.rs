//! What one epoch of training leaves behind: a line of `metrics.jsonl`, the checkpoint's
//! history, and (when stderr is not a terminal) one progress line.
//!
//! Kept apart from the trainer so that checkpoints, the study layer and plots read records
//! without depending on the training loop.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One task's numbers for one epoch (a task of a multi-task run; see `train::task`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScores {
    /// What `train_metric` and `valid_metric` measure: `accuracy`, `mse` or `mae`.
    pub metric: String,
    /// Mean unweighted loss of the task over the epoch's training batches.
    pub train_loss: f64,
    pub train_metric: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_metric: Option<f64>,
    /// Mean loss weight a weighting method gave the task over the epoch (`train::gradient`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// The weighting method's learnable values for the task at the epoch's end (restored
    /// when a run resumes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weighting_state: Vec<f64>,
    /// Mean over the epoch's steps of the cosine similarity between this task's gradient on
    /// the shared parameters and each other task's, by task (runs whose method computes
    /// per-task gradients).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grad_cosine: BTreeMap<String, f64>,
    /// Mean share of this task's gradient norm in the sum of the tasks' norms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm_share: Option<f64>,
}

/// One epoch's numbers, as written to `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    pub lr: f64,
    /// Mean total loss (every task's weighted loss plus every loss term).
    pub train_loss: f64,
    /// Accuracy of the first task when it is a classification, else 0.
    pub train_accuracy: f64,
    /// Mean of each extra loss term over the epoch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub terms: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_accuracy: Option<f64>,
    /// Per-task numbers, by task name; empty for a single-task run (whose numbers are the
    /// fields above), so the records of single-task runs are unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<String, TaskScores>,
    /// Wall time of the epoch; the only field that differs between identical runs.
    pub seconds: f64,
}

impl EpochRecord {
    /// The one-line account printed per epoch when stderr is not a terminal (a log file,
    /// `nohup`, CI), e.g.
    /// `[digits seed 0] epoch 3/10 loss 0.2140 acc 93.41% valid 94.10% (1.2 s)`.
    /// `label` names the run (run, arm, seed) and is left out when empty.
    pub fn progress_line(&self, label: &str, epochs: usize) -> String {
        let mut s = String::new();
        if !label.is_empty() {
            s.push_str(&format!("[{label}] "));
        }
        s.push_str(&format!(
            "epoch {}/{epochs} loss {:.4}",
            self.epoch, self.train_loss
        ));
        // Runs of regressions only (a reconstruction) have no accuracy to show.
        if self.tasks.is_empty() || self.tasks.values().any(|t| t.metric == "accuracy") {
            s.push_str(&format!(" acc {:.2}%", 100.0 * self.train_accuracy));
        }
        if let Some(v) = self.valid_accuracy {
            s.push_str(&format!(" valid {:.2}%", 100.0 * v));
        }
        for (name, t) in &self.tasks {
            let v = t.valid_metric.unwrap_or(t.train_metric);
            if t.metric == "accuracy" {
                s.push_str(&format!(" {name} {:.2}%", 100.0 * v));
            } else {
                s.push_str(&format!(" {name} {} {v:.4}", t.metric));
            }
        }
        s.push_str(&format!(" ({:.1} s)", self.seconds));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EpochRecord {
        EpochRecord {
            epoch: 3,
            lr: 0.1,
            train_loss: 0.214,
            train_accuracy: 0.9341,
            terms: BTreeMap::new(),
            valid_loss: Some(0.2),
            valid_accuracy: Some(0.941),
            tasks: BTreeMap::new(),
            seconds: 1.23,
        }
    }

    #[test]
    fn progress_line_names_the_run_epoch_loss_accuracy_and_time() {
        let r = record();
        assert_eq!(
            r.progress_line("digits seed 0", 10),
            "[digits seed 0] epoch 3/10 loss 0.2140 acc 93.41% valid 94.10% (1.2 s)"
        );
        assert!(r.progress_line("", 10).starts_with("epoch 3/10 "));
    }

    #[test]
    fn single_task_records_keep_their_old_json() {
        let json = serde_json::to_string(&record()).unwrap();
        assert!(!json.contains("tasks"), "{json}");
        let back: EpochRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record());
    }
}
