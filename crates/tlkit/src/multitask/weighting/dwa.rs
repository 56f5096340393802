//! Dynamic weight average (DWA): Liu, Johns & Davison, "End-to-End Multi-Task Learning with
//! Attention", CVPR 2019, <https://arxiv.org/abs/1803.10704>.
//!
//! A task whose loss falls slowly gets more weight. With L̄ₜ(e) the mean training loss of task
//! t in epoch e (0-based),
//!
//! rₜ(e) = L̄ₜ(e−1) / L̄ₜ(e−2),  wₜ(e) = T · exp(rₜ(e)/τ) / Σᵢ exp(rᵢ(e)/τ),
//!
//! and wₜ = 1 in the first two epochs. τ = 2 (the paper's and LibMTL's default). The epoch
//! means are the trainer's records (`tasks.<name>.train_loss`), so a resumed run rebuilds the
//! history from them. One backward pass per step.

use std::collections::BTreeMap;

use crate::Result;
use crate::train::{EpochRecord, GradientStrategy, WeightingStep};

/// Dynamic weight average.
#[derive(Debug, Clone)]
pub struct Dwa {
    /// The softmax temperature τ.
    pub temperature: f64,
    /// Each finished epoch's mean training loss per task.
    history: Vec<BTreeMap<String, f64>>,
}

/// DWA's settings in a config (`[settings.dwa]`); defaults as [`Dwa::default`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DwaSettings {
    /// The softmax temperature T (the paper's 2).
    #[serde(default = "DwaSettings::temperature")]
    pub temperature: f64,
}

impl DwaSettings {
    fn temperature() -> f64 {
        Dwa::default().temperature
    }
}

impl Default for DwaSettings {
    fn default() -> Self {
        DwaSettings {
            temperature: Self::temperature(),
        }
    }
}

impl From<DwaSettings> for Dwa {
    fn from(s: DwaSettings) -> Self {
        Dwa {
            temperature: s.temperature,
            ..Dwa::default()
        }
    }
}

impl Default for Dwa {
    fn default() -> Self {
        Dwa {
            temperature: 2.0,
            history: vec![],
        }
    }
}

/// DWA's weights from the last two epochs' mean losses (`before`, then `last`), τ given.
pub fn dwa_weights(before: &[f64], last: &[f64], temperature: f64) -> Vec<f64> {
    let r: Vec<f64> = last
        .iter()
        .zip(before)
        .map(|(l, b)| l / b.max(f64::MIN_POSITIVE) / temperature)
        .collect();
    let top = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = r.iter().map(|x| (x - top).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|x| x * r.len() as f64 / sum).collect()
}

impl GradientStrategy for Dwa {
    fn name(&self) -> &str {
        "dwa"
    }
    fn needs_task_grads(&self) -> bool {
        false
    }
    fn weigh(&mut self, step: &WeightingStep<'_>) -> Result<Vec<f64>> {
        let n = self.history.len();
        if step.epoch < 2 || n < 2 {
            return Ok(vec![1.0; step.tasks.len()]);
        }
        let means = |e: &BTreeMap<String, f64>| -> Vec<f64> {
            step.tasks
                .iter()
                .map(|t| e.get(t).copied().unwrap_or(1.0))
                .collect()
        };
        Ok(dwa_weights(
            &means(&self.history[n - 2]),
            &means(&self.history[n - 1]),
            self.temperature,
        ))
    }
    fn on_epoch_end(&mut self, record: &EpochRecord) -> Result<()> {
        self.history.push(
            record
                .tasks
                .iter()
                .map(|(k, v)| (k.clone(), v.train_loss))
                .collect(),
        );
        Ok(())
    }
    fn restore(&mut self, _state: &[Vec<f64>], history: &[EpochRecord]) -> Result<()> {
        self.history.clear();
        for r in history {
            self.on_epoch_end(r)?;
        }
        Ok(())
    }
}
