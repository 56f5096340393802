//! Learning without Forgetting: Li & Hoiem, "Learning without Forgetting", ECCV 2016 / TPAMI
//! 2017 (<https://arxiv.org/abs/1606.09282>).
//!
//! Before task t, the network is copied and frozen. While training task t, the outputs the old
//! network gives on the *new* data are kept as soft targets:
//! L += λ · Σ_{old heads h} −1/B Σ_n Σ_{k∈h} softmax(z_old/T)_k · log softmax(z/T)_k,
//! with temperature T = 2 and λ = 1 as in the paper (no T² factor). The old heads are every
//! earlier task's units (task-incremental), the classes seen before t (class-incremental), or
//! the shared head (domain-incremental).

use serde::{Deserialize, Serialize};

use super::method::{Method, TaskContext};
use super::stream::Scenario;
use crate::backend::{self, Int, Tensor, activation};
use crate::nn::{Act, Mode, Network};
use crate::train::{LossTerm, StepContext};
use crate::{Error, Result};

fn one() -> f64 {
    1.0
}
fn two() -> f64 {
    2.0
}

/// LwF settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LwfConfig {
    /// λ_o, the weight of the distillation loss.
    #[serde(default = "one")]
    pub lambda: f64,
    /// The temperature T.
    #[serde(default = "two")]
    pub temperature: f64,
}

/// Learning without Forgetting.
pub struct Lwf {
    cfg: LwfConfig,
    old: Option<Network>,
}

impl Lwf {
    /// LwF with the given settings.
    pub fn new(cfg: LwfConfig) -> Self {
        Lwf { cfg, old: None }
    }
}

struct LwfTerm {
    old: Network,
    heads: Vec<Tensor<1, Int>>,
    lambda: f64,
    temperature: f64,
    targets: Option<Tensor<2>>,
}

impl LossTerm for LwfTerm {
    fn name(&self) -> &str {
        "lwf"
    }

    fn observe_input(&mut self, input: &Act) -> Result<()> {
        self.targets = Some(self.old.forward(input.clone(), Mode::Eval)?.flat());
        Ok(())
    }

    /// # Shapes
    /// - output: `[1]`
    fn loss(&mut self, _net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        let old = self
            .targets
            .take()
            .ok_or_else(|| Error::Training("LwF: no soft targets for this batch".into()))?;
        let t = self.temperature;
        let mut total = step.logits.clone().sum().mul_scalar(0.0);
        for h in &self.heads {
            let z = step.logits.clone().select(1, h.clone()).div_scalar(t);
            let zo = old.clone().select(1, h.clone()).div_scalar(t);
            let soft = activation::softmax(zo, 1);
            let ce = (soft * activation::log_softmax(z, 1))
                .sum_dim(1)
                .mean()
                .neg();
            total = total + ce.mul_scalar(self.lambda);
        }
        Ok(total)
    }
}

impl Method for Lwf {
    fn name(&self) -> &str {
        "lwf"
    }

    fn terms(&mut self, net: &Network, ctx: &TaskContext<'_>) -> Result<Vec<Box<dyn LossTerm>>> {
        let Some(old) = self.old.clone() else {
            return Ok(vec![]);
        };
        let v = ctx.view;
        let t = ctx.task;
        let heads: Vec<Vec<u32>> = match v.scenario {
            Scenario::Task => v.heads[..t].to_vec(),
            Scenario::Class => {
                let mut seen: Vec<u32> = v.heads[..t].iter().flatten().copied().collect();
                seen.sort_unstable();
                seen.dedup();
                vec![seen]
            }
            Scenario::Domain => vec![(0..v.outputs as u32).collect()],
        };
        let heads = heads
            .iter()
            .map(|h| {
                let idx: Vec<i64> = h.iter().map(|&c| c as i64).collect();
                let n = idx.len();
                Tensor::from_data(backend::TensorData::new(idx, [n]), net.device())
            })
            .collect();
        Ok(vec![Box::new(LwfTerm {
            old,
            heads,
            lambda: self.cfg.lambda,
            temperature: self.cfg.temperature,
            targets: None,
        })])
    }

    fn after_task(&mut self, net: &Network, _ctx: &TaskContext<'_>) -> Result<()> {
        let mut old = net.clone();
        // A frozen copy: its parameters become constants, so no gradient reaches it.
        old.freeze(&crate::nn::Selector::new(&["*".to_string()])?)?;
        self.old = Some(old);
        Ok(())
    }
}
