//! DANN: Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015
//! <https://arxiv.org/abs/1409.7495>; Ganin et al., "Domain-Adversarial Training of Neural
//! Networks", JMLR 2016.
//!
//! L = L_task(source) + trade_off · ½·[BCE(D(R_λ(f_s)), 1) + BCE(D(R_λ(f_t)), 0)]
//!
//! where f are the features at `feature_layer`, R_λ the gradient reversal layer with λ from
//! [`GrlSchedule`], and D the [discriminator](super::discriminator) (1024-1024, BN, ReLU, as
//! Transfer-Learning-Library's `DomainAdversarialLoss`). The discriminator is owned by the term
//! and trained by the trainer through [`LossTerm::modules_mut`].

use serde::{Deserialize, Serialize};

use super::discriminator::{Adversary, AdversaryConfig};
use crate::backend::{self, Device, Tensor};
use crate::nn::Network;
use crate::train::{LossTerm, StepContext, TermModule};
use crate::{Error, Result};

pub(crate) fn one() -> f64 {
    1.0
}
pub(crate) fn bottleneck() -> String {
    "bottleneck".into()
}

/// DANN settings (defaults: Transfer-Learning-Library's `dann.py`); the discriminator is the
/// nested table `[dann.adversary]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DannConfig {
    /// Layer whose output is aligned.
    #[serde(default = "bottleneck")]
    pub feature_layer: String,
    /// Weight of the domain loss.
    #[serde(default = "one")]
    pub trade_off: f64,
    #[serde(default)]
    pub adversary: AdversaryConfig,
}

impl Default for DannConfig {
    fn default() -> Self {
        DannConfig {
            feature_layer: bottleneck(),
            trade_off: one(),
            adversary: AdversaryConfig::default(),
        }
    }
}

/// Width of `layer`'s output in `net`, or an error naming the layers.
pub(crate) fn feature_width(net: &Network, layer: &str) -> Result<usize> {
    net.layers()
        .iter()
        .find(|l| l.path == layer)
        .map(|l| l.output.iter().product())
        .ok_or_else(|| {
            Error::Path(format!(
                "no layer `{layer}` to align features at; layers are: {}",
                net.layers()
                    .iter()
                    .map(|l| l.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// An error for a term that was given no target rows.
pub(crate) fn need_target(method: &str) -> Error {
    Error::Training(format!(
        "{method} needs unlabeled target data in every step (Trainer::with_unlabeled)"
    ))
}

/// The DANN domain-adversarial loss term.
pub struct Dann {
    cfg: DannConfig,
    pub adversary: Adversary,
}

impl Dann {
    /// A DANN term for `net`, its discriminator initialised from `seed`.
    pub fn new(cfg: DannConfig, net: &Network, seed: u64, device: &Device) -> Result<Self> {
        let width = feature_width(net, &cfg.feature_layer)?;
        let adversary =
            cfg.adversary
                .build("dann.discriminator", width, cfg.trade_off, seed, device)?;
        Ok(Dann { cfg, adversary })
    }
}

impl LossTerm for Dann {
    fn name(&self) -> &str {
        "dann"
    }

    fn taps(&self) -> Vec<String> {
        vec![self.cfg.feature_layer.clone()]
    }

    /// # Shapes
    /// - taps[feature_layer]: `[source + target, …]`; output `[1]`
    fn loss(&mut self, _net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        let (ns, nt) = (step.source_rows(), step.target_rows());
        if nt == 0 {
            return Err(need_target("DANN"));
        }
        let f = step.taps[&self.cfg.feature_layer].clone().flat();
        let w: Vec<f32> = (0..ns + nt)
            .map(|i| {
                if i < ns {
                    0.5 / ns as f32
                } else {
                    0.5 / nt as f32
                }
            })
            .collect();
        let w = backend::tensor(w, [ns + nt], &f.device());
        self.adversary.loss(f, w, step)
    }

    fn modules_mut(&mut self) -> Vec<TermModule<'_>> {
        vec![self.adversary.module()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, optdigits_embedded};
    use crate::nn::zoo;
    use crate::train::{EpochRecord, Hook, OptimizerConfig, TrainConfig, Trainer};

    /// Source: the embedded digits; target: the same digits inverted (1 − x), unlabeled.
    fn domains() -> (Dataset, Dataset, Dataset) {
        let d = optdigits_embedded().unwrap();
        let invert = |ds: &Dataset| {
            let mut t = ds.clone();
            t.x.iter_mut().for_each(|v| *v = 1.0 - *v);
            t
        };
        let mut unlabeled = invert(&d.train);
        unlabeled.y.clear();
        (
            d.train.subset(&(0..320).collect::<Vec<_>>(), "s"),
            unlabeled,
            invert(&d.test),
        )
    }

    fn trainer(epochs: usize, net: &Network, unlabeled: &Dataset) -> Trainer {
        let cfg = TrainConfig {
            drop_last: true,
            eval_batch_size: 256,
            ..TrainConfig::new(epochs, 32, OptimizerConfig::sgd(0.01, 0.9))
        };
        let dcfg = DannConfig {
            feature_layer: "backbone".into(),
            adversary: AdversaryConfig {
                hidden: 32,
                ..AdversaryConfig::default()
            },
            ..DannConfig::default()
        };
        let dann = Dann::new(dcfg, net, 5, &Device::flex()).unwrap();
        Trainer::new(cfg, net, 3)
            .unwrap()
            .with_unlabeled(unlabeled.clone())
            .with_term(Box::new(dann))
    }

    fn mlp() -> Network {
        Network::new(zoo::mlp(&[1, 8, 8], &[32], 10, 0.0), 3, &Device::flex()).unwrap()
    }

    struct Kill(usize);
    impl Hook for Kill {
        fn on_epoch_end(&mut self, _n: &mut Network, r: &EpochRecord) -> Result<()> {
            if r.epoch == self.0 {
                Err(Error::Training("killed".into()))
            } else {
                Ok(())
            }
        }
    }

    fn strip(h: &[EpochRecord]) -> Vec<EpochRecord> {
        h.iter()
            .map(|r| EpochRecord {
                seconds: 0.0,
                ..r.clone()
            })
            .collect()
    }

    /// The trainer's two extensions together: the discriminator the term owns is trained,
    /// saved in the checkpoint under its prefix, and a killed-and-resumed run (network,
    /// discriminator, both optimizers, companion order) equals the uninterrupted one.
    #[test]
    fn discriminator_is_trained_checkpointed_and_resumed_exactly() {
        let (src, tgt, test) = domains();
        let dir = tempfile::tempdir().unwrap();
        let mut net = mlp();
        let mut t = trainer(3, &net, &tgt).with_output(&dir.path().join("a"));
        let full = t.fit(&mut net, &src, Some(&test)).unwrap().history;
        assert!(
            full.iter()
                .all(|r| r.terms["dann"].is_finite() && r.terms["dann"] > 0.0)
        );

        let ck = crate::train::checkpoint::load(&dir.path().join("a/checkpoints/last.safetensors"))
            .unwrap();
        let w = &ck.model["dann.discriminator.0.weight"];
        assert_eq!(w.0, vec![32, 32]);
        let fresh = Dann::new(
            DannConfig {
                feature_layer: "backbone".into(),
                adversary: AdversaryConfig {
                    hidden: 32,
                    ..AdversaryConfig::default()
                },
                ..DannConfig::default()
            },
            &mlp(),
            5,
            &Device::flex(),
        )
        .unwrap();
        let w0 = crate::backend::to_vec(&fresh.adversary.network().slot("0.weight").unwrap().value);
        assert_ne!(w.1, w0, "the discriminator was updated");
        assert!(
            ck.optimizer
                .contains_key("dann.discriminator.0.weight.momentum_buffer")
        );

        let mut net = mlp();
        let mut t = trainer(3, &net, &tgt)
            .with_output(&dir.path().join("b"))
            .with_hook(Box::new(Kill(2)));
        assert!(t.fit(&mut net, &src, Some(&test)).is_err());
        let mut net = mlp();
        let mut t = trainer(3, &net, &tgt).with_output(&dir.path().join("b"));
        t.resume_from(&mut net, &dir.path().join("b/checkpoints/last.safetensors"))
            .unwrap();
        let resumed = t.fit(&mut net, &src, Some(&test)).unwrap().history;
        assert_eq!(strip(&full), strip(&resumed));
    }

    #[test]
    fn dann_without_target_data_and_an_unknown_layer_are_errors() {
        let (src, tgt, _) = domains();
        let net = mlp();
        let bad = DannConfig {
            feature_layer: "features".into(),
            ..DannConfig::default()
        };
        let e = Dann::new(bad, &net, 0, &Device::flex())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("no layer `features`") && e.contains("backbone"),
            "{e}"
        );
        let dann = Dann::new(
            DannConfig {
                feature_layer: "backbone".into(),
                adversary: AdversaryConfig {
                    hidden: 8,
                    ..AdversaryConfig::default()
                },
                ..DannConfig::default()
            },
            &net,
            0,
            &Device::flex(),
        )
        .unwrap();
        let mut net = mlp();
        let mut t = Trainer::new(
            TrainConfig {
                drop_last: true,
                eval_batch_size: 256,
                ..TrainConfig::new(1, 32, OptimizerConfig::sgd(0.01, 0.0))
            },
            &net,
            0,
        )
        .unwrap()
        .with_term(Box::new(dann));
        let e = t.fit(&mut net, &src, None).unwrap_err().to_string();
        assert!(e.contains("needs unlabeled target data"), "{e}");
        let empty = tgt.subset(&[], "none");
        let mut t = trainer(1, &net, &empty);
        let e = t.fit(&mut net, &src, None).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
    }
}
