//! JAN: Long et al., "Deep Transfer Learning with Joint Adaptation Networks", ICML 2017
//! <https://arxiv.org/abs/1605.06636>.
//!
//! L = L_task(source) + trade_off · JMMD²((f_s, g_s), (f_t, g_t))
//!
//! where the joint kernel is the product of a Gaussian family on the features f and a single
//! Gaussian (σ = 0.92, Transfer-Learning-Library's `jan.py`) on the softmax predictions g.

use serde::{Deserialize, Serialize};

use super::dann::{bottleneck, need_target, one};
use super::mmd::{Estimator, Kernel, joint_mmd};
use crate::Result;
use crate::backend::{Tensor, activation};
use crate::nn::Network;
use crate::train::{LossTerm, StepContext};

fn sigma() -> f64 {
    0.92
}

/// JAN settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JanConfig {
    #[serde(default = "bottleneck")]
    pub feature_layer: String,
    #[serde(default = "one")]
    pub trade_off: f64,
    #[serde(default)]
    pub estimator: Estimator,
    /// Width of the kernel on the predictions.
    #[serde(default = "sigma")]
    pub prediction_sigma: f64,
}

impl Default for JanConfig {
    fn default() -> Self {
        JanConfig {
            feature_layer: bottleneck(),
            trade_off: one(),
            estimator: Estimator::default(),
            prediction_sigma: sigma(),
        }
    }
}

/// The JAN loss term.
pub struct Jan {
    cfg: JanConfig,
}

impl Jan {
    /// A JAN term.
    pub fn new(cfg: JanConfig) -> Self {
        Jan { cfg }
    }
}

impl LossTerm for Jan {
    fn name(&self) -> &str {
        "jan"
    }

    fn taps(&self) -> Vec<String> {
        vec![self.cfg.feature_layer.clone()]
    }

    /// # Shapes
    /// - taps[feature_layer]: `[n, d]`, logits `[n, C]`; output `[1]`
    fn loss(&mut self, _net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        if step.target_rows() == 0 {
            return Err(need_target("JAN"));
        }
        let f = step.taps[&self.cfg.feature_layer].clone().flat();
        let g = activation::softmax(step.logits.clone(), 1);
        let kernels = [
            Kernel::default(),
            Kernel::Fixed {
                sigma: self.cfg.prediction_sigma,
            },
        ];
        let l = joint_mmd(&[f, g], &kernels, step.source_rows(), self.cfg.estimator)?;
        Ok(l.mul_scalar(self.cfg.trade_off))
    }
}
