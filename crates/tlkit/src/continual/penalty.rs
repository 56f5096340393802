//! The quadratic penalty that EWC, Online EWC and Synaptic Intelligence share:
//!
//! Ω(θ) = s · Σ_k Σ_i F_{k,i} (θ_i − θ*_{k,i})²
//!
//! with one (importance F_k, anchor θ*_k) pair per consolidated task (EWC) or a single running
//! pair (Online EWC, SI), and the scale `s` set by the method (λ/2 for EWC, c for SI).

use std::collections::BTreeMap;

use crate::Result;
use crate::backend::{self, Tensor};
use crate::nn::Network;
use crate::train::{LossTerm, StepContext};

/// Per-parameter importance and anchor values, by parameter path.
#[derive(Debug, Clone, Default)]
pub struct Anchor {
    pub importance: BTreeMap<String, Tensor<1>>,
    pub values: BTreeMap<String, Tensor<1>>,
}

impl Anchor {
    /// Anchors every trainable parameter of `net` at its current value with `importance`.
    pub fn at(net: &Network, importance: BTreeMap<String, Tensor<1>>) -> Self {
        let values = net
            .slots()
            .filter(|(_, s)| s.trainable())
            .map(|(p, s)| (p.clone(), backend::plain(s.value.clone())))
            .collect();
        Anchor { importance, values }
    }
}

/// Ω(θ) as a loss term.
pub struct QuadraticPenalty {
    name: String,
    scale: f64,
    anchors: Vec<Anchor>,
}

impl QuadraticPenalty {
    /// A penalty named `name` (for metrics) with scale `s`.
    pub fn new(name: &str, scale: f64, anchors: Vec<Anchor>) -> Self {
        QuadraticPenalty {
            name: name.into(),
            scale,
            anchors,
        }
    }

    /// Ω(θ) for `net`, `[1]`, in the autodiff graph of its trainable parameters.
    pub fn value(&self, net: &Network, zero: Tensor<1>) -> Tensor<1> {
        let mut total = zero;
        for a in &self.anchors {
            for (path, f) in &a.importance {
                let (Some(slot), Some(star)) = (net.slot(path), a.values.get(path)) else {
                    continue;
                };
                if !slot.trainable() {
                    continue;
                }
                let d = slot.value.clone() - star.clone();
                total = total + (d.clone() * d * f.clone()).sum().mul_scalar(self.scale);
            }
        }
        total
    }
}

impl LossTerm for QuadraticPenalty {
    fn name(&self) -> &str {
        &self.name
    }

    /// # Shapes
    /// - output: `[1]`
    fn loss(&mut self, net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        let zero = step.logits.clone().sum().mul_scalar(0.0);
        Ok(self.value(net, zero))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::zoo;

    #[test]
    fn penalty_weighs_squared_distance_by_importance() {
        let d = Device::flex();
        let mut net = Network::new(zoo::mlp(&[2], &[], 1, 0.0), 0, &d).unwrap();
        let ones = |n| backend::tensor(vec![1.0; n], [n], &d);
        let imp: BTreeMap<String, Tensor<1>> = [
            (
                "head.weight".to_string(),
                backend::tensor(vec![4.0, 0.0], [2], &d),
            ),
            ("head.bias".to_string(), ones(1)),
        ]
        .into();
        let p = QuadraticPenalty::new("ewc", 0.5, vec![Anchor::at(&net, imp)]);
        let zero = || backend::tensor(vec![0.0], [1], &d);
        assert_eq!(backend::scalar(&p.value(&net, zero())), 0.0);
        let mut w = backend::to_vec(&net.slot("head.weight").unwrap().value);
        w[0] += 0.5;
        w[1] += 3.0; // no importance: free to move
        net.set_values("head.weight", backend::tensor(w, [2], &d))
            .unwrap();
        // 0.5 · 4 · 0.5² = 0.5
        assert!((backend::scalar(&p.value(&net, zero())) - 0.5).abs() < 1e-6);
    }
}
