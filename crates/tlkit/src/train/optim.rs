//! Optimizers over named parameters: SGD (momentum, Nesterov, weight decay), Adam and AdamW,
//! with per-group learning-rate multipliers and weight decay selected by glob.
//!
//! These are written here rather than taken from burn-optim because tlkit keys every piece of
//! state by parameter path: the state is saved in the same safetensors checkpoint as the
//! weights, survives surgery (a new head simply starts with no state), and groups are globs.
//! The update rules follow PyTorch's `torch.optim.SGD`, `Adam` and `AdamW`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use tlkit_kernels::optim::AdamStep;

use super::fused_adam;
use crate::backend::{self, Tensor};
use crate::nn::{Network, Selector};
use crate::{Error, Result};

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn adam_eps() -> f64 {
    1e-8
}
fn one() -> f64 {
    1.0
}

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    #[default]
    Sgd,
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    Adamw,
}

/// Parameters that get their own learning-rate multiplier or weight decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamGroup {
    /// Globs over parameter paths, e.g. `["backbone.*"]`.
    pub params: Vec<String>,
    /// Multiplies the scheduled learning rate (e.g. 0.1 for a pretrained backbone).
    #[serde(default = "one")]
    pub lr_mult: f64,
    /// Overrides the optimizer's weight decay for these parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
}

/// Optimizer settings, as written in a config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    #[serde(default)]
    pub name: OptimizerKind,
    pub lr: f64,
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub nesterov: bool,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "beta1")]
    pub beta1: f64,
    #[serde(default = "beta2")]
    pub beta2: f64,
    #[serde(default = "adam_eps")]
    pub eps: f64,
    /// First matching group wins; parameters in no group use the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ParamGroup>,
}

impl OptimizerConfig {
    /// Plain SGD with momentum.
    pub fn sgd(lr: f64, momentum: f64) -> Self {
        OptimizerConfig {
            name: OptimizerKind::Sgd,
            lr,
            momentum,
            nesterov: false,
            weight_decay: 0.0,
            beta1: beta1(),
            beta2: beta2(),
            eps: adam_eps(),
            groups: vec![],
        }
    }

    /// Adam.
    pub fn adam(lr: f64) -> Self {
        OptimizerConfig {
            name: OptimizerKind::Adam,
            ..Self::sgd(lr, 0.0)
        }
    }
}

/// An optimizer with per-parameter state keyed by path.
#[derive(Debug, Clone)]
pub struct Optimizer {
    cfg: OptimizerConfig,
    groups: Vec<(Selector, f64, Option<f64>)>,
    /// Path → named state tensors (`momentum_buffer`, `exp_avg`, `exp_avg_sq`).
    state: BTreeMap<String, BTreeMap<&'static str, Tensor<1>>>,
    /// Number of steps taken (Adam's bias correction).
    steps: u64,
    /// Whether Adam's update runs fused ([`super::fused_adam`], tlkit's own kernels) or as
    /// tensor operations (the same bits).
    kernels: backend::ConvKernels,
}

impl Optimizer {
    /// Builds the optimizer; a group glob that matches no parameter of `net` is an error.
    pub fn new(cfg: OptimizerConfig, net: &Network) -> Result<Self> {
        if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
            return Err(Error::Spec(format!(
                "optimizer lr = {} must be positive",
                cfg.lr
            )));
        }
        let groups = cfg
            .groups
            .iter()
            .map(|g| {
                let s = Selector::new(&g.params)?;
                s.select(net.paths().iter().map(String::as_str))?;
                Ok((s, g.lr_mult, g.weight_decay))
            })
            .collect::<Result<_>>()?;
        Ok(Optimizer {
            cfg,
            groups,
            state: BTreeMap::new(),
            steps: 0,
            kernels: backend::conv_kernels()?,
        })
    }

    /// The settings.
    pub fn config(&self) -> &OptimizerConfig {
        &self.cfg
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    fn group_of(&self, path: &str) -> (f64, f64) {
        self.groups
            .iter()
            .find(|(s, _, _)| s.matches(path))
            .map(|(_, m, wd)| (*m, wd.unwrap_or(self.cfg.weight_decay)))
            .unwrap_or((1.0, self.cfg.weight_decay))
    }

    /// Applies one update with learning rate `lr` (already scheduled) to every parameter that
    /// has a gradient in `grads`.
    pub fn step(
        &mut self,
        net: &mut Network,
        grads: BTreeMap<String, Tensor<1>>,
        lr: f64,
    ) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        let c = self.cfg.clone();
        let kernels = self.kernels;
        for (path, g) in grads {
            let Some(slot) = net.slot(&path) else {
                continue;
            };
            let p = backend::plain(slot.value.clone());
            let (mult, wd) = self.group_of(&path);
            let lr = (lr * mult) as f32;
            let state = self.state.entry(path.clone()).or_default();
            let new = match c.name {
                OptimizerKind::Sgd => {
                    let mut g = if wd > 0.0 {
                        g + p.clone() * wd as f32
                    } else {
                        g
                    };
                    if c.momentum > 0.0 {
                        let buf = match state.remove("momentum_buffer") {
                            Some(b) => b * c.momentum as f32 + g.clone(),
                            None => g.clone(),
                        };
                        g = if c.nesterov {
                            g + buf.clone() * c.momentum as f32
                        } else {
                            buf.clone()
                        };
                        state.insert("momentum_buffer", buf);
                    }
                    p - g * lr
                }
                OptimizerKind::Adam | OptimizerKind::Adamw => {
                    let decoupled = c.name == OptimizerKind::Adamw;
                    let (p, g) = match (decoupled, wd > 0.0) {
                        (true, true) => (p * (1.0 - lr * wd as f32), g),
                        (false, true) => (p.clone(), g + p * wd as f32),
                        _ => (p, g),
                    };
                    let (b1, b2) = (c.beta1 as f32, c.beta2 as f32);
                    let bc1 = 1.0 - c.beta1.powi(t);
                    let bc2 = 1.0 - c.beta2.powi(t);
                    let step_size = (lr as f64 / bc1) as f32;
                    let (m, v) = (state.remove("exp_avg"), state.remove("exp_avg_sq"));
                    let (p, m, v) =
                        if fused_adam::applies(kernels, &p, &g) && m.is_some() == v.is_some() {
                            let s = AdamStep {
                                beta1: b1,
                                beta2: b2,
                                bias_correction2: bc2 as f32,
                                eps: c.eps as f32,
                                step_size,
                            };
                            fused_adam::step(p, g, m.zip(v), s)
                        } else {
                            // The same operations, one tensor operation each
                            // (`tlkit_kernels::optim::adam` is this, element by element).
                            let m = match m {
                                Some(m) => m * b1 + g.clone() * (1.0 - b1),
                                None => g.clone() * (1.0 - b1),
                            };
                            let v = match v {
                                Some(v) => v * b2 + g.clone() * g.clone() * (1.0 - b2),
                                None => g.clone() * g * (1.0 - b2),
                            };
                            let denom = (v.clone() / bc2 as f32).sqrt() + c.eps as f32;
                            (p - m.clone() / denom * step_size, m, v)
                        };
                    state.insert("exp_avg", m);
                    state.insert("exp_avg_sq", v);
                    p
                }
            };
            net.set_values(&path, new)?;
        }
        Ok(())
    }

    /// The state as named host tensors (`<path>.<name>`) plus the step count, for checkpoints.
    pub fn state_dict(&self) -> (BTreeMap<String, Vec<f32>>, u64) {
        let mut out = BTreeMap::new();
        for (path, s) in &self.state {
            for (name, t) in s {
                out.insert(format!("{path}.{name}"), backend::to_vec(t));
            }
        }
        (out, self.steps)
    }

    /// Restores state saved by [`Optimizer::state_dict`].
    pub fn load_state_dict(
        &mut self,
        net: &Network,
        state: &BTreeMap<String, Vec<f32>>,
        steps: u64,
    ) -> Result<()> {
        self.state.clear();
        for (key, values) in state {
            let (path, name) = key.rsplit_once('.').ok_or_else(|| {
                Error::Path(format!("optimizer state key `{key}` has no parameter path"))
            })?;
            let name: &'static str = match name {
                "momentum_buffer" => "momentum_buffer",
                "exp_avg" => "exp_avg",
                "exp_avg_sq" => "exp_avg_sq",
                other => {
                    return Err(Error::Path(format!(
                        "unknown optimizer state `{other}` for `{path}`"
                    )));
                }
            };
            let slot = net.slot(path).ok_or_else(|| {
                Error::Path(format!(
                    "optimizer state for `{path}`, which this network lacks"
                ))
            })?;
            if slot.shape.iter().product::<usize>() != values.len() {
                return Err(Error::Path(format!(
                    "optimizer state `{key}` has the wrong size"
                )));
            }
            let t = backend::tensor(values.clone(), [values.len()], net.device());
            self.state
                .entry(path.to_string())
                .or_default()
                .insert(name, t);
        }
        self.steps = steps;
        Ok(())
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm`; returns the norm before.
pub fn clip_grad_norm(grads: &mut BTreeMap<String, Tensor<1>>, max_norm: f64) -> f64 {
    let sq: f64 = grads
        .values()
        .map(|g| backend::scalar(&g.clone().powf_scalar(2.0).sum()) as f64)
        .sum();
    let norm = sq.sqrt();
    if norm > max_norm {
        let s = (max_norm / (norm + 1e-6)) as f32;
        for g in grads.values_mut() {
            *g = g.clone() * s;
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::{LayerSpec, NetworkSpec, Node};

    /// One linear layer `fc` from `inputs` features to one, without bias.
    fn linear_to_one(inputs: usize) -> Network {
        let spec = NetworkSpec {
            input_shape: vec![inputs],
            layers: vec![Node::named(
                "fc",
                LayerSpec::Linear {
                    in_features: None,
                    out_features: 1,
                    bias: false,
                },
            )],
            heads: Vec::new(),
        };
        Network::new(spec, 0, &Device::flex()).unwrap()
    }

    fn one_linear() -> Network {
        let mut net = linear_to_one(2);
        net.set_values(
            "fc.weight",
            backend::tensor(vec![1.0, -2.0], [2], &Device::flex()),
        )
        .unwrap();
        net
    }

    fn grads(v: [f32; 2]) -> BTreeMap<String, Tensor<1>> {
        BTreeMap::from([(
            "fc.weight".to_string(),
            backend::tensor(v.to_vec(), [2], &Device::flex()),
        )])
    }

    fn weight(net: &Network) -> Vec<f32> {
        backend::to_vec(&net.slot("fc.weight").unwrap().value)
    }

    /// import torch
    /// p = torch.tensor([1., -2.], requires_grad=True)
    /// opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    /// for g in ([0.5, 0.5], [1.0, -1.0]):
    ///     p.grad = torch.tensor(g); opt.step()
    /// print(p)  # tensor([ 0.8022, -1.9892])
    #[test]
    fn sgd_momentum_matches_pytorch() {
        let mut net = one_linear();
        let mut cfg = OptimizerConfig::sgd(0.1, 0.9);
        cfg.weight_decay = 0.01;
        let mut opt = Optimizer::new(cfg, &net).unwrap();
        opt.step(&mut net, grads([0.5, 0.5]), 0.1).unwrap();
        opt.step(&mut net, grads([1.0, -1.0]), 0.1).unwrap();
        let w = weight(&net);
        assert!(
            (w[0] - 0.802_151).abs() < 1e-5 && (w[1] + 1.989_152).abs() < 1e-5,
            "{w:?}"
        );
    }

    /// Same, with opt = torch.optim.Adam([p], lr=0.1)
    /// print(p)  # tensor([ 0.8035, -2.0634])
    #[test]
    fn adam_matches_pytorch() {
        let mut net = one_linear();
        let mut opt = Optimizer::new(OptimizerConfig::adam(0.1), &net).unwrap();
        opt.step(&mut net, grads([0.5, 0.5]), 0.1).unwrap();
        opt.step(&mut net, grads([1.0, -1.0]), 0.1).unwrap();
        let w = weight(&net);
        assert!(
            (w[0] - 0.803_482).abs() < 1e-5 && (w[1] + 2.063_39).abs() < 1e-5,
            "{w:?}"
        );
    }

    /// Adam, Adam with L2 weight decay and AdamW over four steps on a parameter of several
    /// rayon chunks, with zeros of both signs, tiny, huge and infinite gradients: the fused
    /// update gives the composed one's bits, parameters and both moments.
    #[test]
    fn fused_adam_is_the_composed_update_bit_for_bit() {
        let n = 40_000;
        let dev = Device::flex();
        let net_of = || {
            let mut net = linear_to_one(n);
            let w = (0..n)
                .map(|i| ((i * 37) % 101) as f32 * 0.02 - 1.0)
                .collect();
            net.set_values("fc.weight", backend::tensor(w, [n], &dev))
                .unwrap();
            net
        };
        let special = [0.0, -0.0, 1e-30, -1e-30, 3e30, -3e30, f32::INFINITY, -0.5];
        let grad = |step: usize| {
            let g = (0..n)
                .map(|i| match (i + step) % 97 {
                    k if k < special.len() => special[k],
                    k => (k as f32 - 48.0) * 0.013 * (step as f32 + 1.0),
                })
                .collect();
            BTreeMap::from([("fc.weight".to_string(), backend::tensor(g, [n], &dev))])
        };
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        for (name, wd) in [
            (OptimizerKind::Adam, 0.0),
            (OptimizerKind::Adam, 0.01),
            (OptimizerKind::Adamw, 0.01),
        ] {
            let run = |kernels: backend::ConvKernels| {
                let mut net = net_of();
                let mut cfg = OptimizerConfig::adam(0.01);
                cfg.name = name;
                cfg.weight_decay = wd;
                let mut opt = Optimizer::new(cfg, &net).unwrap();
                opt.kernels = kernels;
                for step in 0..4 {
                    opt.step(&mut net, grad(step), 0.01).unwrap();
                }
                let (state, _) = opt.state_dict();
                let state: Vec<_> = state.into_values().map(bits).collect();
                (bits(weight(&net)), state)
            };
            let fused = run(backend::ConvKernels::Own);
            let composed = run(backend::ConvKernels::Burn);
            assert_eq!(fused.1.len(), 2, "{name:?}: both moments kept");
            assert!(
                fused == composed,
                "{name:?}, weight decay {wd}: the bits differ"
            );
        }
    }

    #[test]
    fn group_glob_matching_nothing_is_an_error() {
        let net = one_linear();
        let mut cfg = OptimizerConfig::sgd(0.1, 0.0);
        cfg.groups.push(ParamGroup {
            params: vec!["backbone.*".into()],
            lr_mult: 0.1,
            weight_decay: None,
        });
        assert!(
            Optimizer::new(cfg, &net)
                .unwrap_err()
                .to_string()
                .contains("backbone.*")
        );
    }
}
