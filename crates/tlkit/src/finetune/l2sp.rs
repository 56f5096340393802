//! L2-SP: Li, Grandvalet & Davoine, "Explicit Inductive Bias for Transfer Learning with
//! Convolutional Networks", ICML 2018. <https://arxiv.org/abs/1802.01483>
//!
//! Ω(w) = α/2 · ‖w_S − w⁰_S‖² + β/2 · ‖w_S̄‖²
//!
//! where S are the parameters the network shares with the pretrained model (anchored at their
//! pretrained values w⁰) and S̄ the new ones (a new head), which get plain weight decay.
//! The paper's defaults for image classification are α = 0.01, β = 0.01 (Section 5).
//! Use it with the optimizer's own weight decay set to 0, as the paper does.

use std::collections::BTreeMap;

use crate::Result;
use crate::backend::{self, Tensor};
use crate::nn::Network;
use crate::train::{LossTerm, StepContext};

/// The L2-SP regularizer as a loss term.
pub struct L2Sp {
    alpha: f64,
    beta: f64,
    /// Pretrained values of the shared parameters.
    anchor: BTreeMap<String, Tensor<1>>,
    /// Parameters without a pretrained value.
    fresh: Vec<String>,
}

impl L2Sp {
    /// Anchors every parameter of `net` listed in `pretrained` (paths that came from the
    /// pretrained weights) at its current value; the other parameters are "fresh".
    pub fn new(net: &Network, pretrained: &[String], alpha: f64, beta: f64) -> Self {
        let mut anchor = BTreeMap::new();
        let mut fresh = vec![];
        for (path, slot) in net.slots() {
            if slot.role.is_buffer() {
                continue;
            }
            if pretrained.contains(path) {
                anchor.insert(path.clone(), backend::plain(slot.value.clone()));
            } else {
                fresh.push(path.clone());
            }
        }
        L2Sp {
            alpha,
            beta,
            anchor,
            fresh,
        }
    }
}

impl LossTerm for L2Sp {
    fn name(&self) -> &str {
        "l2sp"
    }

    /// # Shapes
    /// - output: `[1]`
    fn loss(&mut self, net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        let mut total = step.logits.clone().sum().mul_scalar(0.0);
        for (path, w0) in &self.anchor {
            let Some(slot) = net.slot(path).filter(|s| s.trainable()) else {
                continue;
            };
            let d = slot.value.clone() - w0.clone();
            total = total + (d.clone() * d).sum().mul_scalar(self.alpha / 2.0);
        }
        for path in &self.fresh {
            let Some(slot) = net.slot(path).filter(|s| s.trainable()) else {
                continue;
            };
            let w = slot.value.clone();
            total = total + (w.clone() * w).sum().mul_scalar(self.beta / 2.0);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::{Mode, zoo};
    use rand::SeedableRng;

    #[test]
    fn penalty_is_zero_at_the_anchor_and_grows_with_distance() {
        let d = Device::flex();
        let mut net = Network::new(zoo::mlp(&[3], &[2], 2, 0.0), 0, &d).unwrap();
        let shared: Vec<String> = net
            .paths()
            .iter()
            .filter(|p| p.starts_with("backbone"))
            .cloned()
            .collect();
        let mut term = L2Sp::new(&net, &shared, 2.0, 0.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut eval = |net: &mut Network, term: &mut L2Sp| {
            let x = net.input(vec![0.0; 3], 1).unwrap();
            let logits = net.forward(x, Mode::Eval).unwrap().flat();
            let labels = backend::labels(&[0], &d);
            let taps = BTreeMap::new();
            let mut ctx = StepContext {
                epoch: 0,
                iteration: 0,
                total_iterations: 1,
                progress: 0.0,
                logits: &logits,
                labels: &labels,
                taps: &taps,
                rng: &mut rng,
            };
            backend::scalar(&term.loss(net, &mut ctx).unwrap())
        };
        assert_eq!(eval(&mut net, &mut term), 0.0);
        // Move one shared weight by 0.5: α/2 · 0.5² = 0.25.
        let mut w = backend::to_vec(&net.slot("backbone.0.weight").unwrap().value);
        w[0] += 0.5;
        net.set_values("backbone.0.weight", backend::tensor(w, [6], &d))
            .unwrap();
        assert!((eval(&mut net, &mut term) - 0.25).abs() < 1e-6);
    }
}
