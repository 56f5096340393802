//! Learning-rate schedules: multipliers of the base rate as training progresses.

use serde::{Deserialize, Serialize};

fn half() -> f64 {
    0.1
}

/// A learning-rate schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` every `step_epochs` epochs.
    Step {
        step_epochs: usize,
        #[serde(default = "half")]
        gamma: f64,
    },
    /// Cosine annealing from the base rate to `min_factor` × base over all iterations.
    Cosine {
        #[serde(default)]
        min_factor: f64,
    },
    /// The inverse decay used for domain adaptation: `(1 + gamma·p)^(−power)`, with
    /// `p = iteration` when `per_iteration` (Transfer-Learning-Library: gamma 0.001, power 0.75)
    /// or `p` = progress in [0, 1] otherwise (Ganin et al. 2016: gamma 10, power 0.75).
    InvDecay {
        gamma: f64,
        power: f64,
        #[serde(default)]
        per_iteration: bool,
    },
}

impl Schedule {
    /// The multiplier at `iteration` of `total` (epoch = the current epoch, 0-based).
    pub fn factor(&self, iteration: usize, total: usize, epoch: usize) -> f64 {
        let progress = iteration as f64 / total.max(1) as f64;
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Step { step_epochs, gamma } => {
                gamma.powi((epoch / step_epochs.max(1)) as i32)
            }
            Schedule::Cosine { min_factor } => {
                min_factor
                    + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Schedule::InvDecay {
                gamma,
                power,
                per_iteration,
            } => {
                let p = if per_iteration {
                    iteration as f64
                } else {
                    progress
                };
                (1.0 + gamma * p).powf(-power)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_their_formulas() {
        let step = Schedule::Step {
            step_epochs: 2,
            gamma: 0.5,
        };
        assert_eq!(step.factor(0, 10, 3), 0.5);
        let cos = Schedule::Cosine { min_factor: 0.0 };
        assert!((cos.factor(5, 10, 0) - 0.5).abs() < 1e-12);
        assert!(cos.factor(10, 10, 0).abs() < 1e-12);
        let inv = Schedule::InvDecay {
            gamma: 10.0,
            power: 0.75,
            per_iteration: false,
        };
        assert!((inv.factor(10, 10, 0) - 11f64.powf(-0.75)).abs() < 1e-12);
        let tl = Schedule::InvDecay {
            gamma: 0.001,
            power: 0.75,
            per_iteration: true,
        };
        assert!((tl.factor(1000, 5000, 0) - 2f64.powf(-0.75)).abs() < 1e-12);
    }
}
