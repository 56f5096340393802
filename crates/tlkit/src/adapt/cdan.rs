//! CDAN and CDAN+E: Long et al., "Conditional Adversarial Domain Adaptation", NeurIPS 2018
//! <https://arxiv.org/abs/1705.10667>.
//!
//! The discriminator sees the multilinear map h = f ⊗ g (the flattened outer product of the
//! features f and the softmax predictions g, with g detached as in Transfer-Learning-Library),
//! through the gradient reversal layer:
//!
//! L = L_task(source) + trade_off · Σᵢ wᵢ·BCE(D(R_λ(hᵢ)), domainᵢ)
//!
//! CDAN: wᵢ = 1/n. CDAN+E (entropy conditioning): wᵢ ∝ 1 + exp(−H(gᵢ)), normalised to sum to 1,
//! so confident (easy-to-transfer) examples count more. This uses the full multilinear map, not
//! the randomized one the paper proposes for wide features (TLlib also defaults to the full map).

use serde::{Deserialize, Serialize};

use super::dann::{bottleneck, feature_width, hidden, is_zero, need_target, one, two, yes};
use super::discriminator::{Adversary, discriminator_spec_with};
use super::grl::GrlSchedule;
use crate::Result;
use crate::backend::{Device, Tensor, activation};
use crate::nn::Network;
use crate::train::{LossTerm, StepContext, TermModule};

/// CDAN settings (defaults: Transfer-Learning-Library's `cdan.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdanConfig {
    #[serde(default = "bottleneck")]
    pub feature_layer: String,
    #[serde(default = "hidden")]
    pub hidden: usize,
    /// Number of hidden layers of the discriminator (as [`super::DannConfig::depth`]).
    #[serde(default = "two")]
    pub depth: usize,
    /// Batch norm after each hidden layer of the discriminator.
    #[serde(default = "yes")]
    pub batch_norm: bool,
    /// Dropout after each hidden layer of the discriminator (TLlib and Ganin et al.: none;
    /// the CDAN authors' code: 0.5).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
    #[serde(default = "one")]
    pub trade_off: f64,
    /// CDAN+E: weight examples by prediction certainty.
    #[serde(default)]
    pub entropy: bool,
    #[serde(default)]
    pub grl: GrlSchedule,
    #[serde(default = "one")]
    pub discriminator_lr_mult: f64,
}

impl Default for CdanConfig {
    fn default() -> Self {
        CdanConfig {
            feature_layer: bottleneck(),
            hidden: hidden(),
            depth: two(),
            batch_norm: true,
            dropout: 0.0,
            trade_off: one(),
            entropy: false,
            grl: GrlSchedule::default(),
            discriminator_lr_mult: one(),
        }
    }
}

/// f ⊗ g per row, flattened: `h[i, a·C + c] = f[i, a] · g[i, c]`.
///
/// # Shapes
/// - `f`: `[n, d]`, `g`: `[n, C]`; output `[n, d·C]`
pub fn multilinear_map(f: Tensor<2>, g: Tensor<2>) -> Tensor<2> {
    let [n, d] = f.dims();
    let c = g.dims()[1];
    (f.reshape([n, d, 1]) * g.reshape([n, 1, c])).reshape([n, d * c])
}

/// Entropy weights 1 + exp(−H(g)), normalised to sum to 1 (detached).
///
/// # Shapes
/// - `probs`: `[n, C]`; output `[n]`
pub fn entropy_weights(probs: Tensor<2>) -> Tensor<1> {
    let n = probs.dims()[0];
    let h = (probs.clone() * probs.add_scalar(1e-5).log())
        .sum_dim(1)
        .neg()
        .reshape([n]);
    let w = h.neg().exp().add_scalar(1.0);
    let total = w.clone().sum();
    (w / total).detach()
}

/// The CDAN / CDAN+E loss term.
pub struct Cdan {
    cfg: CdanConfig,
    pub adversary: Adversary,
}

impl Cdan {
    /// A CDAN term for `net` with `classes` outputs; discriminator initialised from `seed`.
    pub fn new(
        cfg: CdanConfig,
        net: &Network,
        classes: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let width = feature_width(net, &cfg.feature_layer)?;
        let adversary = Adversary::new(
            "cdan.discriminator",
            discriminator_spec_with(
                width * classes,
                cfg.hidden,
                cfg.depth,
                cfg.batch_norm,
                cfg.dropout,
            ),
            cfg.grl.clone(),
            cfg.trade_off,
            cfg.discriminator_lr_mult,
            seed,
            device,
        )?;
        Ok(Cdan { cfg, adversary })
    }
}

impl LossTerm for Cdan {
    fn name(&self) -> &str {
        if self.cfg.entropy { "cdan_e" } else { "cdan" }
    }

    fn taps(&self) -> Vec<String> {
        vec![self.cfg.feature_layer.clone()]
    }

    /// # Shapes
    /// - taps[feature_layer]: `[n, d]`, logits `[n, C]`; output `[1]`
    fn loss(&mut self, _net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        let (ns, nt) = (step.source_rows(), step.target_rows());
        if nt == 0 {
            return Err(need_target("CDAN"));
        }
        let f = step.taps[&self.cfg.feature_layer].clone().flat();
        let g = activation::softmax(step.logits.clone(), 1).detach();
        let n = ns + nt;
        let w = if self.cfg.entropy {
            entropy_weights(g.clone())
        } else {
            Tensor::<1>::ones([n], &f.device()).div_scalar(n as f64)
        };
        let h = multilinear_map(f, g);
        self.adversary.loss(h, w, step)
    }

    fn modules_mut(&mut self) -> Vec<TermModule<'_>> {
        vec![self.adversary.module()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};
    use crate::data::optdigits_embedded;
    use crate::nn::zoo;
    use crate::train::{OptimizerConfig, TrainConfig, Trainer};

    #[test]
    fn multilinear_map_is_the_row_wise_outer_product() {
        let d = Device::flex();
        let f = backend::tensor(vec![1.0, 2.0, 3.0, -1.0], [2, 2], &d);
        let g = backend::tensor(vec![0.25, 0.75, 0.5, 0.5], [2, 2], &d);
        let h = backend::to_vec(&multilinear_map(f, g));
        assert_eq!(h, vec![0.25, 0.75, 0.5, 1.5, 1.5, 1.5, -0.5, -0.5]);
    }

    #[test]
    fn confident_predictions_weigh_more() {
        let d = Device::flex();
        let p = backend::tensor(vec![0.98, 0.01, 0.01, 0.34, 0.33, 0.33], [2, 3], &d);
        let w = backend::to_vec(&entropy_weights(p));
        assert!((w[0] + w[1] - 1.0).abs() < 1e-6 && w[0] > w[1], "{w:?}");
    }

    /// CDAN+E and JAN run through the trainer with target data and give finite losses that
    /// change as training goes.
    #[test]
    fn cdan_e_and_jan_train_with_target_data() {
        let data = optdigits_embedded().unwrap();
        let src = data.train.subset(&(0..256).collect::<Vec<_>>(), "s");
        let mut tgt = data.test.clone();
        tgt.y.clear();
        for entropy in [true, false] {
            let dev = Device::flex();
            let mut net = Network::new(zoo::mlp(&[1, 8, 8], &[16], 10, 0.0), 1, &dev).unwrap();
            let term: Box<dyn LossTerm> = if entropy {
                let cfg = CdanConfig {
                    feature_layer: "backbone".into(),
                    hidden: 16,
                    entropy: true,
                    ..CdanConfig::default()
                };
                Box::new(Cdan::new(cfg, &net, 10, 2, &dev).unwrap())
            } else {
                Box::new(crate::adapt::Jan::new(crate::adapt::JanConfig {
                    feature_layer: "backbone".into(),
                    ..Default::default()
                }))
            };
            let cfg = TrainConfig {
                drop_last: true,
                eval_batch_size: 256,
                ..TrainConfig::new(2, 32, OptimizerConfig::sgd(0.05, 0.9))
            };
            let mut t = Trainer::new(cfg, &net, 0)
                .unwrap()
                .with_unlabeled(tgt.clone())
                .with_term(term);
            let h = t.fit(&mut net, &src, None).unwrap().history;
            let name = if entropy { "cdan_e" } else { "jan" };
            let v: Vec<f64> = h.iter().map(|r| r.terms[name]).collect();
            assert!(v.iter().all(|x| x.is_finite()), "{name}: {v:?}");
            if entropy {
                // A binary cross-entropy.
                assert!(v.iter().all(|x| *x > 0.0) && v[0] != v[1], "{name}: {v:?}");
            } else {
                // The linear JMMD estimate is unbiased, so it may dip below 0; training
                // brings the joint distributions closer.
                assert!(v[1] < v[0], "{name}: {v:?}");
            }
            assert!(h[1].train_loss < h[0].train_loss, "{name}: {h:?}");
        }
    }
}
