//! Synaptic Intelligence: Zenke, Poole & Ganguli, "Continual Learning Through Synaptic
//! Intelligence", ICML 2017 (<https://arxiv.org/abs/1703.04200>).
//!
//! Along training, each parameter accumulates its contribution to the drop in loss,
//! ω_i += −g_i · Δθ_i per update. At the end of task μ the importance grows by
//! Ω_i += ω_i / ((θ_i(t_μ) − θ_i(t_{μ−1}))² + ξ) and ω is reset; later tasks add
//! c · Σ_i Ω_i (θ_i − θ*_i)² (no ½, as in the paper and Hsu et al.'s code, so `c` matches their
//! `reg_coef`), θ* the parameters at the end of the previous task.
//!
//! Our g is the gradient the optimizer applied (task loss plus the SI penalty, after
//! clipping); Hsu et al.'s code takes a second backward pass for the gradient of the task loss
//! alone. The update Δθ is the optimizer's actual step (Adam's, not −lr·g).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::method::{Method, TaskContext};
use super::penalty::{Anchor, QuadraticPenalty};
use crate::Result;
use crate::backend::{self, Tensor};
use crate::nn::Network;
use crate::train::{Grads, LossTerm, StepContext};

fn xi() -> f64 {
    0.1
}

/// SI settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiConfig {
    /// The strength c.
    pub c: f64,
    /// The damping ξ (0.1 in the paper and in Hsu et al.).
    #[serde(default = "xi")]
    pub xi: f64,
}

type Params = BTreeMap<String, Tensor<1>>;

fn params(net: &Network) -> Params {
    net.slots()
        .filter(|(_, s)| s.trainable())
        .map(|(p, s)| (p.clone(), backend::plain(s.value.clone())))
        .collect()
}

/// The path integral ω and the parameters before the current update.
#[derive(Default)]
struct Trajectory {
    omega: Params,
    before: Params,
}

/// Synaptic Intelligence.
pub struct Si {
    cfg: SiConfig,
    traj: Rc<RefCell<Trajectory>>,
    importance: Params,
    /// Parameters at the start of the current task.
    start: Params,
    anchor: Option<Anchor>,
}

impl Si {
    /// SI with strength `c` and damping `xi`.
    pub fn new(cfg: SiConfig) -> Self {
        Si {
            cfg,
            traj: Rc::default(),
            importance: BTreeMap::new(),
            start: BTreeMap::new(),
            anchor: None,
        }
    }
}

/// The loss term: records the trajectory and applies the penalty.
struct SiTerm {
    traj: Rc<RefCell<Trajectory>>,
    penalty: Option<QuadraticPenalty>,
}

impl LossTerm for SiTerm {
    fn name(&self) -> &str {
        "si"
    }

    fn loss(&mut self, net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        self.traj.borrow_mut().before = params(net);
        let zero = step.logits.clone().sum().mul_scalar(0.0);
        Ok(match &self.penalty {
            Some(p) => p.value(net, zero),
            None => zero,
        })
    }

    fn after_update(&mut self, net: &Network, grads: &Grads) -> Result<()> {
        let mut t = self.traj.borrow_mut();
        let Trajectory { omega, before } = &mut *t;
        for (path, g) in grads {
            let (Some(slot), Some(b)) = (net.slot(path), before.get(path)) else {
                continue;
            };
            let delta = backend::plain(slot.value.clone()) - b.clone();
            let contrib = (g.clone() * delta).neg();
            let v = match omega.remove(path) {
                Some(o) => o + contrib,
                None => contrib,
            };
            omega.insert(path.clone(), v);
        }
        Ok(())
    }
}

impl Method for Si {
    fn name(&self) -> &str {
        "si"
    }

    fn terms(&mut self, net: &Network, _ctx: &TaskContext<'_>) -> Result<Vec<Box<dyn LossTerm>>> {
        if self.start.is_empty() {
            self.start = params(net);
        }
        let penalty = self
            .anchor
            .clone()
            .map(|a| QuadraticPenalty::new("si", self.cfg.c, vec![a]));
        Ok(vec![Box::new(SiTerm {
            traj: self.traj.clone(),
            penalty,
        })])
    }

    fn after_task(&mut self, net: &Network, _ctx: &TaskContext<'_>) -> Result<()> {
        let now = params(net);
        let omega = std::mem::take(&mut self.traj.borrow_mut().omega);
        for (p, w) in omega {
            let (Some(end), Some(start)) = (now.get(&p), self.start.get(&p)) else {
                continue;
            };
            let d = end.clone() - start.clone();
            let add = w / (d.clone() * d).add_scalar(self.cfg.xi);
            let v = match self.importance.remove(&p) {
                Some(o) => o + add,
                None => add,
            };
            self.importance.insert(p, v);
        }
        self.anchor = Some(Anchor::at(net, self.importance.clone()));
        self.start = now;
        Ok(())
    }
}
