//! Elastic Weight Consolidation: Kirkpatrick et al., "Overcoming catastrophic forgetting in
//! neural networks", PNAS 2017 (<https://arxiv.org/abs/1612.00796>), and its online variant
//! from Schwarz et al., "Progress & Compress", ICML 2018 (<https://arxiv.org/abs/1805.06370>).
//!
//! EWC adds, for every earlier task k, L(θ) += λ/2 · Σ_i F_{k,i} (θ_i − θ*_{k,i})², with
//! F_k the diagonal Fisher information at the end of task k and θ*_k the parameters then.
//! Online EWC keeps one running Fisher F̃ ← γ·F̃ + F_k and one anchor, the latest θ*.
//!
//! # The λ scale
//! Our penalty has the paper's ½, and F is the **mean** over samples of the squared
//! per-sample gradient of the log-likelihood. Other codebases differ:
//! - Avalanche: λ·Σ F (θ−θ*)² (no ½) → our λ = 2 × Avalanche's λ (same Fisher normalisation);
//! - Hsu et al. 2018 (GT-RIPL/Continual-Learning-Benchmark): `reg_coef`·Σ F (θ−θ*)² (no ½),
//!   F the mean squared per-sample gradient with the *predicted* label → our λ = 2 × their
//!   `reg_coef` with `labels = "predicted"` (their `reg_coef` 100 for Split MNIST is our 200);
//! - van de Ven's code: λ/2 with a Fisher of the same normalisation but λ of 1e4–1e9 because
//!   of its own loss scaling; compare λ only after checking the Fisher's normalisation.
//!
//! # Fisher estimates
//! - `per_sample` (exact empirical Fisher with `labels = "target"`): F = 1/N Σ_n g_n², one
//!   backward pass per sample — the definition, and slow.
//! - `per_minibatch` (fast approximation): F ≈ Σ_b (B_b² / N) · g_b², with g_b the gradient of
//!   the batch's *mean* loss. If per-sample gradients were independent with zero mean,
//!   E[g_b²] = F/B, so the factor B² / N (= B / number of batches) keeps F on the per-sample
//!   scale and the same λ applies; the cross terms between samples of a batch make it differ
//!   in practice (a non-zero mean gradient inflates it by up to B·(E g)²). Without the factor
//!   the estimate would be ≈ B times smaller and λ would have to be ≈ B times larger. Hsu et
//!   al.'s code uses the same B/(number of batches) weighting in its minibatch mode.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::method::{Method, TaskContext};
use super::penalty::{Anchor, QuadraticPenalty};
use crate::backend::{self, Tensor};
use crate::data::{Dataset, batch};
use crate::nn::{Mode, Network};
use crate::train::{LossTerm, group_mask, loss::cross_entropy};
use crate::{Error, Result};

/// How the diagonal Fisher is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FisherEstimate {
    /// One backward pass per sample: the exact (empirical) diagonal Fisher.
    #[default]
    PerSample,
    /// One backward pass per minibatch: fast, an approximation (see the module docs).
    PerMinibatch,
}

/// Which label the log-likelihood's gradient is taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FisherLabels {
    /// The true label: the empirical Fisher.
    #[default]
    Target,
    /// The model's own prediction (arg-max), as Hsu et al.'s code does by default.
    Predicted,
}

fn default_batch() -> usize {
    128
}
fn one() -> f64 {
    1.0
}

/// EWC and Online EWC settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EwcConfig {
    /// λ in λ/2 · Σ F (θ − θ*)².
    pub lambda: f64,
    #[serde(default)]
    pub fisher: FisherEstimate,
    #[serde(default)]
    pub labels: FisherLabels,
    /// Estimate the Fisher on at most this many samples of the task (a seeded subset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// Batch size of the `per_minibatch` estimate.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Online EWC's decay γ of the running Fisher (ignored by EWC).
    #[serde(default = "one")]
    pub gamma: f64,
}

impl EwcConfig {
    /// EWC with `lambda` and the default (exact, per-sample, true-label) Fisher.
    pub fn new(lambda: f64) -> Self {
        EwcConfig {
            lambda,
            fisher: FisherEstimate::PerSample,
            labels: FisherLabels::Target,
            samples: None,
            batch_size: default_batch(),
            gamma: 1.0,
        }
    }
}

/// The diagonal Fisher information of `net`'s trainable parameters on `data`, by path.
///
/// `groups` restricts each sample's likelihood to its head (see
/// [`group_mask`](crate::train::group_mask)). The network itself is not changed (batch-norm
/// statistics are updated on a copy).
pub fn diagonal_fisher(
    net: &Network,
    data: &Dataset,
    groups: Option<&[Vec<u32>]>,
    cfg: &EwcConfig,
    seed: u64,
) -> Result<BTreeMap<String, Tensor<1>>> {
    if data.is_empty() {
        return Err(Error::Spec(format!(
            "EWC: dataset `{}` is empty; no Fisher to estimate",
            data.name
        )));
    }
    if net.trainable_paths().is_empty() {
        // Burn's backward would panic on a graph without one tracked parameter.
        return Err(Error::Spec(
            "EWC: every parameter of the network is frozen; there is no Fisher to estimate \
             (unfreeze some layers, or use method naive)"
                .into(),
        ));
    }
    let mut work = net.clone();
    let mut order = batch::epoch_order(data.len(), seed ^ 0xF15E, 0, true);
    if let Some(n) = cfg.samples {
        order.truncate(n.max(1));
    }
    let n = order.len() as f64;
    let bs = match cfg.fisher {
        FisherEstimate::PerSample => 1,
        FisherEstimate::PerMinibatch => cfg.batch_size.max(1),
    };
    let classes: usize = net.output_shape().iter().product();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fisher: BTreeMap<String, Tensor<1>> = BTreeMap::new();
    for idx in order.chunks(bs) {
        let (x, y) = data.gather_batch(idx)?;
        let input = work.input(x, idx.len())?;
        let mut logits = work.forward(input, Mode::Train(&mut rng))?.flat();
        if let Some(g) = groups {
            let mask = group_mask(&y, g, classes)?;
            logits = logits + backend::tensor(mask, [idx.len(), classes], net.device());
        }
        let target = match cfg.labels {
            FisherLabels::Target => backend::labels(&y, net.device()),
            FisherLabels::Predicted => backend::plain(logits.clone())
                .argmax(1)
                .reshape([idx.len()]),
        };
        let grads = cross_entropy(logits, target).backward();
        let w = (idx.len() * idx.len()) as f64 / n;
        for p in work.trainable_paths() {
            let Some(g) = work.slot(&p).and_then(|s| s.value.grad(&grads)) else {
                continue;
            };
            let sq = (g.clone() * g).mul_scalar(w);
            let e = fisher.remove(&p);
            fisher.insert(
                p,
                match e {
                    Some(acc) => acc + sq,
                    None => sq,
                },
            );
        }
    }
    Ok(fisher)
}

/// EWC (one penalty per earlier task) or Online EWC (one running penalty).
pub struct Ewc {
    cfg: EwcConfig,
    online: bool,
    anchors: Vec<Anchor>,
}

impl Ewc {
    /// EWC as in Kirkpatrick et al.
    pub fn new(cfg: EwcConfig) -> Self {
        Ewc {
            cfg,
            online: false,
            anchors: vec![],
        }
    }

    /// Online EWC as in Schwarz et al.
    pub fn online(cfg: EwcConfig) -> Self {
        Ewc {
            online: true,
            ..Self::new(cfg)
        }
    }
}

impl Method for Ewc {
    fn name(&self) -> &str {
        if self.online { "online_ewc" } else { "ewc" }
    }

    fn terms(&mut self, _net: &Network, _ctx: &TaskContext<'_>) -> Result<Vec<Box<dyn LossTerm>>> {
        if self.anchors.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![Box::new(QuadraticPenalty::new(
            self.name(),
            self.cfg.lambda / 2.0,
            self.anchors.clone(),
        ))])
    }

    fn after_task(&mut self, net: &Network, ctx: &TaskContext<'_>) -> Result<()> {
        let groups = ctx.view.train_groups(ctx.task);
        let seed = ctx.seed.wrapping_mul(31).wrapping_add(ctx.task as u64);
        let f = diagonal_fisher(net, ctx.train(), groups.as_deref(), &self.cfg, seed)?;
        if self.online
            && let Some(prev) = self.anchors.pop()
        {
            let mut merged = BTreeMap::new();
            for (p, new) in f {
                let v = match prev.importance.get(&p) {
                    Some(old) => old.clone().mul_scalar(self.cfg.gamma) + new,
                    None => new,
                };
                merged.insert(p, v);
            }
            self.anchors.push(Anchor::at(net, merged));
        } else {
            self.anchors.push(Anchor::at(net, f));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::zoo;

    /// A network with nothing trainable has no Fisher: an error, not a panic in the backward.
    #[test]
    fn fisher_of_a_frozen_network_is_an_error() {
        let d = Device::flex();
        let mut net = Network::new(zoo::mlp(&[2], &[], 2, 0.0), 3, &d).unwrap();
        net.freeze(&crate::nn::Selector::new(&["*".to_string()]).unwrap())
            .unwrap();
        let data = Dataset::new("toy", vec![2], vec![1.0, 0.0], vec![0], 2).unwrap();
        let err = diagonal_fisher(&net, &data, None, &EwcConfig::new(1.0), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("frozen"), "{err}");
    }

    /// Per-sample Fisher of a linear softmax model, checked against the closed form
    /// g_W = (softmax(Wx+b) − onehot(y)) xᵀ, squared and averaged over the samples.
    #[test]
    fn per_sample_fisher_is_the_mean_squared_gradient() {
        let d = Device::flex();
        let net = Network::new(zoo::mlp(&[2], &[], 2, 0.0), 3, &d).unwrap();
        let data = Dataset::new("toy", vec![2], vec![1.0, 0.0, 0.5, -2.0], vec![0, 1], 2).unwrap();
        let f = diagonal_fisher(&net, &data, None, &EwcConfig::new(1.0), 0).unwrap();
        let w = backend::to_vec(&net.slot("head.weight").unwrap().value);
        let b = backend::to_vec(&net.slot("head.bias").unwrap().value);
        let mut want = [0.0f32; 4];
        for (x, y) in [([1.0f32, 0.0], 0usize), ([0.5, -2.0], 1)] {
            let z: Vec<f32> = (0..2)
                .map(|k| w[2 * k] * x[0] + w[2 * k + 1] * x[1] + b[k])
                .collect();
            let m = z[0].max(z[1]);
            let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
            let s = e[0] + e[1];
            for k in 0..2 {
                let delta = e[k] / s - if k == y { 1.0 } else { 0.0 };
                for i in 0..2 {
                    want[2 * k + i] += (delta * x[i]).powi(2) / 2.0;
                }
            }
        }
        let got = backend::to_vec(&f["head.weight"]);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn minibatch_fisher_of_one_sample_batches_equals_per_sample() {
        let d = Device::flex();
        let net = Network::new(zoo::mlp(&[2], &[3], 2, 0.0), 1, &d).unwrap();
        let data = Dataset::new(
            "toy",
            vec![2],
            vec![1.0, 0.0, 0.5, -2.0, 0.1, 0.2],
            vec![0, 1, 1],
            2,
        )
        .unwrap();
        let a = diagonal_fisher(&net, &data, None, &EwcConfig::new(1.0), 0).unwrap();
        let cfg = EwcConfig {
            fisher: FisherEstimate::PerMinibatch,
            batch_size: 1,
            ..EwcConfig::new(1.0)
        };
        let b = diagonal_fisher(&net, &data, None, &cfg, 0).unwrap();
        for (p, t) in &a {
            let (x, y) = (backend::to_vec(t), backend::to_vec(&b[p]));
            assert!(x.iter().zip(&y).all(|(u, v)| (u - v).abs() < 1e-6), "{p}");
        }
    }
}
