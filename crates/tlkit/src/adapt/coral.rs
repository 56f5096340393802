//! Deep CORAL: Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation",
//! ECCV 2016 Workshops <https://arxiv.org/abs/1607.01719>.
//!
//! L = L_task(source) + trade_off · [mean((μ_s − μ_t)²) + mean((C_s − C_t)²)]
//!
//! with C the unbiased feature covariances of each domain's rows. This is Transfer-Learning-
//! Library's `CorrelationAlignmentLoss`: the paper's loss is ‖C_s − C_t‖²_F / (4d²), i.e. a
//! quarter of the covariance part, without the mean part.

use serde::{Deserialize, Serialize};

use super::dann::{bottleneck, need_target, one};
use crate::backend::Tensor;
use crate::nn::Network;
use crate::train::{LossTerm, StepContext};
use crate::{Error, Result};

/// CORAL settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoralConfig {
    #[serde(default = "bottleneck")]
    pub feature_layer: String,
    #[serde(default = "one")]
    pub trade_off: f64,
}

impl Default for CoralConfig {
    fn default() -> Self {
        CoralConfig {
            feature_layer: bottleneck(),
            trade_off: one(),
        }
    }
}

/// Mean and unbiased covariance of the rows of `x`.
///
/// # Shapes
/// - `x`: `[n, d]`; output `([1, d], [d, d])`
fn moments(x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let n = x.dims()[0];
    let mean = x.clone().mean_dim(0);
    let c = x - mean.clone();
    let cov = c.clone().transpose().matmul(c).div_scalar((n - 1) as f64);
    (mean, cov)
}

/// The CORAL loss between source rows `s` and target rows `t`.
///
/// # Shapes
/// - `s`: `[m, d]`, `t`: `[n, d]`, m, n ≥ 2; output `[1]`
pub fn coral_loss(s: Tensor<2>, t: Tensor<2>) -> Result<Tensor<1>> {
    if s.dims()[0] < 2 || t.dims()[0] < 2 {
        return Err(Error::Training(
            "CORAL needs at least 2 source and 2 target rows per batch".into(),
        ));
    }
    let (ms, cs) = moments(s);
    let (mt, ct) = moments(t);
    let dm = ms - mt;
    let dc = cs - ct;
    Ok((dm.clone() * dm).mean() + (dc.clone() * dc).mean())
}

/// The Deep CORAL loss term.
pub struct Coral {
    cfg: CoralConfig,
}

impl Coral {
    /// A CORAL term.
    pub fn new(cfg: CoralConfig) -> Self {
        Coral { cfg }
    }
}

impl LossTerm for Coral {
    fn name(&self) -> &str {
        "coral"
    }

    fn taps(&self) -> Vec<String> {
        vec![self.cfg.feature_layer.clone()]
    }

    fn loss(&mut self, _net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        let (ns, nt) = (step.source_rows(), step.target_rows());
        if nt == 0 {
            return Err(need_target("CORAL"));
        }
        let f = step.taps[&self.cfg.feature_layer].clone().flat();
        let s = f.clone().narrow(0, 0, ns);
        let t = f.narrow(0, ns, nt);
        Ok(coral_loss(s, t)?.mul_scalar(self.cfg.trade_off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};

    #[test]
    fn coral_is_zero_for_equal_domains_and_matches_a_hand_value() {
        let d = Device::flex();
        let s = backend::tensor(vec![0.0, 1.0, 2.0, 3.0], [2, 2], &d);
        assert!(backend::scalar(&coral_loss(s.clone(), s.clone()).unwrap()).abs() < 1e-7);
        // t = s + 1: means differ by 1 in both features, covariances equal → loss 1.
        let t = s.clone().add_scalar(1.0);
        assert!((backend::scalar(&coral_loss(s, t).unwrap()) - 1.0).abs() < 1e-6);
    }
}
