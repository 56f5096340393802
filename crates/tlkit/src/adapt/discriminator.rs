//! The domain discriminator shared by DANN and CDAN, and the domain-classification loss.
//!
//! Architecture as Transfer-Learning-Library's `DomainDiscriminator` with batch norm:
//! linear(hidden) → BN → ReLU → linear(hidden) → BN → ReLU → linear(1). It outputs a logit; the
//! binary cross-entropy is computed from logits (numerically the same as TLlib's sigmoid +
//! `BCELoss`, without the overflow).

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::grl::{GrlSchedule, grl};
use crate::Result;
use crate::backend::{self, Device, Tensor, activation};
use crate::nn::{Act, LayerSpec, Mode, Network, NetworkSpec, Node};
use crate::train::{StepContext, TermModule};

fn hidden() -> usize {
    1024
}
fn two() -> usize {
    2
}
fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// The adversary of DANN and CDAN, as the nested table `[dann.adversary]` /
/// `[cdan.adversary]`: the discriminator's shape, its gradient-reversal schedule and its
/// learning-rate multiplier. Defaults: Transfer-Learning-Library's `DomainDiscriminator`
/// (1024-1024 with batch norm) and `WarmStartGradientReverseLayer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdversaryConfig {
    /// Width of the discriminator's hidden layers.
    #[serde(default = "hidden")]
    pub hidden: usize,
    /// Number of hidden layers (TLlib: 2; Ganin et al.'s MNIST: 1; 0: linear).
    #[serde(default = "two")]
    pub depth: usize,
    /// Batch norm after each hidden layer (TLlib: yes; Ganin et al.: no).
    #[serde(default = "yes")]
    pub batch_norm: bool,
    /// Dropout after each hidden layer (TLlib and Ganin et al.: none; the CDAN authors'
    /// code: 0.5).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
    /// The reversal coefficient's schedule.
    #[serde(default)]
    pub grl: GrlSchedule,
    /// Learning-rate multiplier of the discriminator.
    #[serde(default = "one")]
    pub lr_mult: f64,
}

impl Default for AdversaryConfig {
    fn default() -> Self {
        AdversaryConfig {
            hidden: hidden(),
            depth: two(),
            batch_norm: true,
            dropout: 0.0,
            grl: GrlSchedule::default(),
            lr_mult: one(),
        }
    }
}

impl AdversaryConfig {
    /// The adversary over `in_features`-wide inputs, named `name` in checkpoints, its loss
    /// weighted by `trade_off`, initialised from `seed`.
    pub fn build(
        &self,
        name: &str,
        in_features: usize,
        trade_off: f64,
        seed: u64,
        device: &Device,
    ) -> Result<Adversary> {
        Adversary::new(
            name,
            discriminator_spec_with(
                in_features,
                self.hidden,
                self.depth,
                self.batch_norm,
                self.dropout,
            ),
            self.grl.clone(),
            trade_off,
            self.lr_mult,
            seed,
            device,
        )
    }
}

/// A discriminator behind the gradient reversal layer, with its coefficient schedule,
/// trade-off and learning-rate multiplier: the part that DANN and CDAN share (they differ in
/// what they feed it and how they weigh the rows).
pub struct Adversary {
    /// The module's name in checkpoints (`dann.discriminator`, `cdan.discriminator`).
    name: String,
    disc: Network,
    grl: GrlSchedule,
    trade_off: f64,
    lr_mult: f64,
    /// Domain accuracy of the discriminator at the last step.
    pub last_domain_accuracy: f64,
}

impl Adversary {
    /// A discriminator built from `spec`, initialised from `seed`.
    pub fn new(
        name: &str,
        spec: NetworkSpec,
        grl: GrlSchedule,
        trade_off: f64,
        lr_mult: f64,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        Ok(Adversary {
            name: name.into(),
            disc: Network::new(spec, seed, device)?,
            grl,
            trade_off,
            lr_mult,
            last_domain_accuracy: 0.5,
        })
    }

    /// trade_off · [`domain_loss`] of `features` (the step's source rows first) with this
    /// step's reversal coefficient.
    ///
    /// # Shapes
    /// - `features`: `[n, in_features]`; `weights`: `[n]`; output `[1]`
    pub fn loss(
        &mut self,
        features: Tensor<2>,
        weights: Tensor<1>,
        step: &mut StepContext<'_>,
    ) -> Result<Tensor<1>> {
        let coeff = self.grl.coefficient(step.iteration, step.total_iterations);
        let out = domain_loss(
            &mut self.disc,
            features,
            step.source_rows(),
            coeff,
            weights,
            step.rng,
        )?;
        self.last_domain_accuracy = out.domain_accuracy;
        Ok(out.loss.mul_scalar(self.trade_off))
    }

    /// The discriminator as a trainable module of its loss term.
    pub fn module(&mut self) -> TermModule<'_> {
        TermModule {
            name: self.name.clone(),
            net: &mut self.disc,
            lr_mult: self.lr_mult,
        }
    }

    /// The discriminator network.
    pub fn network(&self) -> &Network {
        &self.disc
    }
}

/// The spec of a discriminator over `in_features`-wide inputs with two hidden layers.
pub fn discriminator_spec(in_features: usize, hidden: usize) -> NetworkSpec {
    discriminator_spec_with(in_features, hidden, 2, true, 0.0)
}

/// The spec of a discriminator with `depth` hidden layers of width `hidden`, each
/// linear → (BN →) ReLU (→ dropout when `dropout > 0`), then linear(1). `depth = 1` without
/// batch norm is Ganin et al.'s MNIST domain classifier (fc 100 → fc 1); `depth = 2`, width
/// 500, no batch norm, dropout 0.5 is the CDAN authors' digits discriminator; `depth = 0` is a
/// linear discriminator.
pub fn discriminator_spec_with(
    in_features: usize,
    hidden: usize,
    depth: usize,
    batch_norm: bool,
    dropout: f64,
) -> NetworkSpec {
    let lin = |out| LayerSpec::Linear {
        in_features: None,
        out_features: out,
        bias: true,
    };
    let mut layers = vec![];
    for _ in 0..depth {
        layers.push(lin(hidden));
        if batch_norm {
            layers.push(LayerSpec::BatchNorm {
                num_features: None,
                eps: 1e-5,
                momentum: 0.1,
            });
        }
        layers.push(LayerSpec::Relu);
        if dropout > 0.0 {
            layers.push(LayerSpec::Dropout { p: dropout });
        }
    }
    layers.push(lin(1));
    NetworkSpec {
        input_shape: vec![in_features],
        layers: layers.into_iter().map(Node::anon).collect(),
        heads: Vec::new(),
    }
}

/// Per-sample binary cross-entropy from logits: softplus(z) − y·z, computed stably.
///
/// # Shapes
/// - `logits`, `targets`: `[n]`; output `[n]`
pub fn bce_with_logits(logits: Tensor<1>, targets: Tensor<1>) -> Tensor<1> {
    let relu = activation::relu(logits.clone());
    let soft = logits.clone().abs().neg().exp().add_scalar(1.0).log();
    relu - logits * targets + soft
}

/// A domain-classification step's result.
pub struct DomainLoss {
    /// The weighted loss, `[1]`, in the autodiff graph.
    pub loss: Tensor<1>,
    /// Fraction of rows the discriminator assigns to the right domain.
    pub domain_accuracy: f64,
}

/// Runs `features` (source rows first, `source` of them) through the gradient reversal layer
/// with coefficient `coeff` and the discriminator, and returns Σᵢ wᵢ·BCE(dᵢ, domainᵢ) with
/// domain 1 for source rows and 0 for target rows.
///
/// # Shapes
/// - `features`: `[n, in_features]`; `weights`: `[n]` (they should sum to 1)
pub fn domain_loss(
    disc: &mut Network,
    features: Tensor<2>,
    source: usize,
    coeff: f64,
    weights: Tensor<1>,
    rng: &mut ChaCha8Rng,
) -> Result<DomainLoss> {
    let n = features.dims()[0];
    let d = disc
        .forward(Act::Flat(grl(features, coeff)), Mode::Train(rng))?
        .flat()
        .reshape([n]);
    let target: Vec<f32> = (0..n).map(|i| if i < source { 1.0 } else { 0.0 }).collect();
    let host = backend::to_vec(&backend::plain(d.clone()));
    let right = host
        .iter()
        .zip(&target)
        .filter(|(z, t)| (**z > 0.0) == (**t > 0.5))
        .count();
    let t = backend::tensor(target, [n], &d.device());
    let loss = (bce_with_logits(d, t) * weights).sum();
    Ok(DomainLoss {
        loss,
        domain_accuracy: right as f64 / n.max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discriminator_depth_batch_norm_and_dropout_follow_the_options() {
        let kinds = |spec: &NetworkSpec| -> Vec<&'static str> {
            spec.layers.iter().map(|n| n.layer.kind()).collect()
        };
        // The default (TLlib) discriminator is unchanged.
        assert_eq!(
            kinds(&discriminator_spec(8, 4)),
            [
                "linear",
                "batch_norm",
                "relu",
                "linear",
                "batch_norm",
                "relu",
                "linear"
            ]
        );
        assert_eq!(
            discriminator_spec(8, 4),
            discriminator_spec_with(8, 4, 2, true, 0.0)
        );
        let ganin = discriminator_spec_with(768, 100, 1, false, 0.0);
        assert_eq!(kinds(&ganin), ["linear", "relu", "linear"]);
        let dev = crate::backend::Device::flex();
        let net = Network::new(ganin, 0, &dev).unwrap();
        let widths: Vec<usize> = net
            .layers()
            .iter()
            .map(|l| l.output.iter().product())
            .collect();
        assert_eq!(widths, [100, 100, 1]);
        assert_eq!(
            kinds(&discriminator_spec_with(5, 3, 0, true, 0.0)),
            ["linear"]
        );
        // The CDAN authors' digits discriminator: 500-500 with dropout 0.5 after each ReLU.
        let cdan = discriminator_spec_with(7680, 500, 2, false, 0.5);
        assert_eq!(
            kinds(&cdan),
            [
                "linear", "relu", "dropout", "linear", "relu", "dropout", "linear"
            ]
        );
        assert!(matches!(cdan.layers[2].layer, LayerSpec::Dropout { p } if p == 0.5));
    }
}
