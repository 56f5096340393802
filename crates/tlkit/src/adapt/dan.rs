//! DAN: Long et al., "Learning Transferable Features with Deep Adaptation Networks", ICML 2015
//! <https://arxiv.org/abs/1502.02791>.
//!
//! L = L_task(source) + trade_off · Σ_l MK-MMD²(f_s^l, f_t^l)
//!
//! summed over the adapted layers (the paper adapts fc6–fc8; the default here is the bottleneck,
//! as Transfer-Learning-Library's `dan.py` does). Kernels and estimators: [`super::mmd`].

use serde::{Deserialize, Serialize};

use super::dann::{need_target, one};
use super::mmd::{Estimator, Kernel, joint_mmd};
use crate::Result;
use crate::backend::Tensor;
use crate::nn::Network;
use crate::train::{LossTerm, StepContext};

fn layers() -> Vec<String> {
    vec!["bottleneck".into()]
}

/// DAN settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DanConfig {
    /// Layers whose outputs are aligned, each with its own MK-MMD.
    #[serde(default = "layers")]
    pub layers: Vec<String>,
    #[serde(default = "one")]
    pub trade_off: f64,
    #[serde(default)]
    pub estimator: Estimator,
    #[serde(default)]
    pub kernel: Kernel,
}

impl Default for DanConfig {
    fn default() -> Self {
        DanConfig {
            layers: layers(),
            trade_off: one(),
            estimator: Estimator::default(),
            kernel: Kernel::default(),
        }
    }
}

/// The DAN loss term.
pub struct Dan {
    cfg: DanConfig,
}

impl Dan {
    /// A DAN term.
    pub fn new(cfg: DanConfig) -> Self {
        Dan { cfg }
    }
}

impl LossTerm for Dan {
    fn name(&self) -> &str {
        "dan"
    }

    fn taps(&self) -> Vec<String> {
        self.cfg.layers.clone()
    }

    /// # Shapes
    /// - each tap: `[source + target, …]`; output `[1]`
    fn loss(&mut self, _net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        if step.target_rows() == 0 {
            return Err(need_target("DAN"));
        }
        let ns = step.source_rows();
        let mut total: Option<Tensor<1>> = None;
        for l in &self.cfg.layers {
            let z = step.taps[l].clone().flat();
            let m = joint_mmd(
                &[z],
                std::slice::from_ref(&self.cfg.kernel),
                ns,
                self.cfg.estimator,
            )?;
            total = Some(match total {
                Some(t) => t + m,
                None => m,
            });
        }
        let total = total.unwrap_or_else(|| step.logits.clone().sum().mul_scalar(0.0));
        Ok(total.mul_scalar(self.cfg.trade_off))
    }
}
