//! Uncertainty weighting (UW): Kendall, Gal & Cipolla, "Multi-Task Learning Using
//! Uncertainty to Weigh Losses for Scene Geometry and Semantics", CVPR 2018,
//! <https://arxiv.org/abs/1705.07115>.
//!
//! Each task has a learned log-variance sₜ = log σₜ², and the loss is
//!
//! L = Σₜ ( Lₜ / (2·exp(sₜ)) + sₜ / 2 ),
//!
//! so a task with a noisy (large) loss learns a large σₜ and a small weight 1/(2σₜ²), and the
//! sₜ/2 term keeps σ from growing without bound. ∂L/∂sₜ = ½ − Lₜ/(2·exp(sₜ)) is computed in
//! closed form and sₜ updated with Adam after the step's weights are taken; the optimum
//! is sₜ = log Lₜ. Defaults as LibMTL: sₜ starts at −0.5 (weight 0.82). The learning rate of
//! sₜ is ours (LibMTL trains sₜ with the network's optimizer): 1e-3 with Adam.
//!
//! One backward pass per step.

use super::learnable::Learnable;
use crate::Result;
use crate::train::{EpochRecord, GradientStrategy, WeightingStep};

/// Learned homoscedastic-uncertainty weights.
#[derive(Debug, Clone)]
pub struct Uncertainty {
    /// Initial log-variance of every task.
    pub init: f64,
    /// Adam step size of the log-variances.
    pub lr: f64,
    log_var: Learnable,
}

/// Uncertainty weighting's settings in a config (`[settings.uw]`); defaults as
/// [`Uncertainty::default`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UwSettings {
    /// Initial log-variance of every task (LibMTL's −0.5).
    #[serde(default = "UwSettings::init")]
    pub init: f64,
    /// Adam step size of the log-variances.
    #[serde(default = "UwSettings::lr")]
    pub lr: f64,
}

impl UwSettings {
    fn init() -> f64 {
        Uncertainty::default().init
    }
    fn lr() -> f64 {
        Uncertainty::default().lr
    }
}

impl Default for UwSettings {
    fn default() -> Self {
        UwSettings {
            init: Self::init(),
            lr: Self::lr(),
        }
    }
}

impl From<UwSettings> for Uncertainty {
    fn from(s: UwSettings) -> Self {
        Uncertainty {
            init: s.init,
            lr: s.lr,
            ..Uncertainty::default()
        }
    }
}

impl Default for Uncertainty {
    fn default() -> Self {
        Uncertainty {
            init: -0.5,
            lr: 1e-3,
            log_var: Learnable::default(),
        }
    }
}

impl GradientStrategy for Uncertainty {
    fn name(&self) -> &str {
        "uw"
    }
    fn needs_task_grads(&self) -> bool {
        false
    }
    fn weigh(&mut self, step: &WeightingStep<'_>) -> Result<Vec<f64>> {
        if self.log_var.values.len() != step.losses.len() {
            self.log_var = Learnable::new(vec![self.init; step.losses.len()]);
        }
        let weights: Vec<f64> = self
            .log_var
            .values
            .iter()
            .map(|s| 0.5 * (-s).exp())
            .collect();
        let grad: Vec<f64> = step
            .losses
            .iter()
            .zip(&weights)
            .map(|(l, w)| 0.5 - w * l)
            .collect();
        self.log_var.step(&grad, self.lr);
        Ok(weights)
    }
    fn state(&self) -> Vec<Vec<f64>> {
        self.log_var.state(&[])
    }
    fn restore(&mut self, state: &[Vec<f64>], _history: &[EpochRecord]) -> Result<()> {
        if let Some((l, _)) = Learnable::restore(state) {
            self.log_var = l;
        }
        Ok(())
    }
}
