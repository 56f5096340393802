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
//! so confident (easy-to-transfer) examples count more.
//!
//! The full map has d·C entries. For wide features the paper proposes the randomized
//! multilinear map T(f, g) = (R_f f) ⊙ (R_g g) / √D with fixed random matrices R_f `[d, D]` and
//! R_g `[C, D]` whose entries have mean 0 and variance 1, whose inner products approximate those
//! of f ⊗ g in expectation (`randomized = D`; the paper uses it above 4096 dimensions, TLlib with
//! D = 1024). Here the entries are uniform on [−√3, √3], one of the two distributions the paper
//! names, drawn once from the term's seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dann::{bottleneck, feature_width, need_target, one};
use super::discriminator::{Adversary, AdversaryConfig};
use crate::backend::{self, Device, Tensor, activation};
use crate::nn::Network;
use crate::train::{LossTerm, StepContext, TermModule};
use crate::{Error, Result};

/// CDAN settings (defaults: Transfer-Learning-Library's `cdan.py`); the discriminator is the
/// nested table `[cdan.adversary]`, as DANN's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdanConfig {
    #[serde(default = "bottleneck")]
    pub feature_layer: String,
    #[serde(default = "one")]
    pub trade_off: f64,
    /// CDAN+E: weight examples by prediction certainty.
    #[serde(default)]
    pub entropy: bool,
    /// Width D of the randomized multilinear map; absent: the full d·C map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomized: Option<usize>,
    #[serde(default)]
    pub adversary: AdversaryConfig,
}

impl Default for CdanConfig {
    fn default() -> Self {
        CdanConfig {
            feature_layer: bottleneck(),
            trade_off: one(),
            entropy: false,
            randomized: None,
            adversary: AdversaryConfig::default(),
        }
    }
}

/// Mixed into the term's seed for the randomized map, so its matrices are not drawn from the
/// stream that initialises the discriminator.
const RANDOM_MAP_SEED: u64 = 0x5eed_cda4;

/// f ⊗ g per row, flattened: `h[i, a·C + c] = f[i, a] · g[i, c]`.
///
/// # Shapes
/// - `f`: `[n, d]`, `g`: `[n, C]`; output `[n, d·C]`
pub fn multilinear_map(f: Tensor<2>, g: Tensor<2>) -> Tensor<2> {
    let [n, d] = f.dims();
    let c = g.dims()[1];
    (f.reshape([n, d, 1]) * g.reshape([n, 1, c])).reshape([n, d * c])
}

/// The randomized multilinear map's fixed matrices: R_f `[d, D]` and R_g `[C, D]`.
pub struct RandomMap {
    rf: Tensor<2>,
    rg: Tensor<2>,
}

impl RandomMap {
    /// Matrices for `d` features, `classes` outputs and width `width`, drawn from `seed`
    /// (uniform on [−√3, √3]: mean 0, variance 1).
    pub fn new(d: usize, classes: usize, width: usize, seed: u64, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = 3f32.sqrt();
        let mut draw = |rows: usize| {
            let v = (0..rows * width).map(|_| rng.random_range(-a..a)).collect();
            backend::tensor(v, [rows, width], device)
        };
        let rf = draw(d);
        let rg = draw(classes);
        RandomMap { rf, rg }
    }

    /// (R_f f) ⊙ (R_g g) / √D per row.
    ///
    /// # Shapes
    /// - `f`: `[n, d]`, `g`: `[n, C]`; output `[n, D]`
    pub fn apply(&self, f: Tensor<2>, g: Tensor<2>) -> Tensor<2> {
        let width = self.rf.dims()[1];
        (f.matmul(self.rf.clone()) * g.matmul(self.rg.clone())).div_scalar((width as f64).sqrt())
    }
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
    random: Option<RandomMap>,
    pub adversary: Adversary,
}

impl Cdan {
    /// A CDAN term for `net` with `classes` outputs; discriminator (and the randomized map's
    /// matrices) initialised from `seed`.
    pub fn new(
        cfg: CdanConfig,
        net: &Network,
        classes: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let width = feature_width(net, &cfg.feature_layer)?;
        if cfg.randomized == Some(0) {
            return Err(Error::Spec(
                "cdan.randomized = 0: the randomized multilinear map needs a width of at least 1 \
                 (TLlib uses 1024); leave the field out for the full map"
                    .into(),
            ));
        }
        let random = cfg
            .randomized
            .map(|dim| RandomMap::new(width, classes, dim, seed ^ RANDOM_MAP_SEED, device));
        let adversary = cfg.adversary.build(
            "cdan.discriminator",
            cfg.randomized.unwrap_or(width * classes),
            cfg.trade_off,
            seed,
            device,
        )?;
        Ok(Cdan {
            cfg,
            random,
            adversary,
        })
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
        let h = match &self.random {
            Some(map) => map.apply(f, g),
            None => multilinear_map(f, g),
        };
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

    /// The randomized map preserves the inner products of the full map in expectation:
    /// ⟨T(f, g), T(f′, g′)⟩ ≈ ⟨f, f′⟩·⟨g, g′⟩ for a wide map, and is the same for the same seed.
    #[test]
    fn randomized_map_approximates_the_full_maps_inner_products() {
        let d = Device::flex();
        let f = backend::tensor(
            vec![1.0, -0.5, 2.0, 0.3, 0.8, -1.2, 0.5, 1.5, 0.0],
            [3, 3],
            &d,
        );
        let g = backend::tensor(
            vec![0.7, 0.2, 0.1, 0.1, 0.1, 0.8, 0.3, 0.4, 0.3],
            [3, 3],
            &d,
        );
        let gram = |h: Tensor<2>| backend::to_vec(&h.clone().matmul(h.transpose()));
        let full = gram(multilinear_map(f.clone(), g.clone()));
        let map = RandomMap::new(3, 3, 20_000, 7, &d);
        let approx = gram(map.apply(f.clone(), g.clone()));
        for (a, b) in full.iter().zip(&approx) {
            // The standard deviation of one entry is about 1/√D · O(|f|²|g|²) ≈ 0.03 here.
            assert!((a - b).abs() < 0.15, "full {full:?}\nrandomized {approx:?}");
        }
        let again = RandomMap::new(3, 3, 20_000, 7, &d).apply(f.clone(), g.clone());
        assert_eq!(backend::to_vec(&again), backend::to_vec(&map.apply(f, g)));
    }

    #[test]
    fn a_zero_width_randomized_map_is_a_clear_error() {
        let dev = Device::flex();
        let net = Network::new(zoo::mlp(&[1, 8, 8], &[16], 10, 0.0), 1, &dev).unwrap();
        let cfg = CdanConfig {
            feature_layer: "backbone".into(),
            randomized: Some(0),
            ..CdanConfig::default()
        };
        let err = Cdan::new(cfg, &net, 10, 0, &dev).err().unwrap().to_string();
        assert!(err.contains("cdan.randomized = 0"), "{err}");
    }

    #[test]
    fn confident_predictions_weigh_more() {
        let d = Device::flex();
        let p = backend::tensor(vec![0.98, 0.01, 0.01, 0.34, 0.33, 0.33], [2, 3], &d);
        let w = backend::to_vec(&entropy_weights(p));
        assert!((w[0] + w[1] - 1.0).abs() < 1e-6 && w[0] > w[1], "{w:?}");
    }

    /// CDAN+E (here with the randomized map) and JAN run through the trainer with target data
    /// and give finite losses that change as training goes.
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
                    adversary: AdversaryConfig {
                        hidden: 16,
                        ..AdversaryConfig::default()
                    },
                    entropy: true,
                    randomized: Some(64),
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
