//! PCGrad (projecting conflicting gradients): Yu, Kumar, Gupta, Levine, Hausman & Finn,
//! "Gradient Surgery for Multi-Task Learning", NeurIPS 2020, <https://arxiv.org/abs/2001.06782>.
//!
//! On the shared parameters, each task's gradient gᵢ is projected, in a random order of the
//! other tasks j, onto the normal plane of every gⱼ it conflicts with:
//!
//! if gᵢ'·gⱼ < 0:  gᵢ' ← gᵢ' − (gᵢ'·gⱼ / ‖gⱼ‖²)·gⱼ,
//!
//! (gⱼ the original, unprojected gradient) and the update is Σᵢ gᵢ' (LibMTL's sum, so that
//! tasks that never conflict get the same update as equal weighting). A head's own
//! parameters keep their task's gradient. The order is drawn per step from the iteration
//! number, so a resumed run draws the same orders. Needs each task's gradient: one backward
//! pass per task. The reported weights are 1: the method weighs by projecting.

use crate::Result;
use crate::data::batch::epoch_order;
use crate::train::{
    Combined, GradientStrategy, Grads, WeightingStep, flatten, join_shared, split_shared,
};

/// Seed offset of PCGrad's task orders.
const ORDER_SEED: u64 = 0x9C6A_D000_0000_0001;

/// PCGrad's settings in a config (`[settings.pcgrad]`): the seed of its task orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcGradSettings {
    #[serde(default)]
    pub seed: u64,
}

/// Projecting conflicting gradients.
#[derive(Debug, Clone, Copy, Default)]
pub struct PcGrad {
    /// Seeds the per-step task orders (with the iteration number).
    pub seed: u64,
}

/// PCGrad's combined gradient: `grads[i]` projected against the others in the order
/// `orders[i]` (task indices; `i` itself is skipped), then summed.
pub fn pcgrad_project(grads: &[Vec<f64>], orders: &[Vec<usize>]) -> Vec<f64> {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let d = grads.first().map_or(0, Vec::len);
    let mut out = vec![0.0; d];
    for (i, order) in orders.iter().enumerate() {
        let mut g = grads[i].clone();
        for &j in order.iter().filter(|&&j| j != i) {
            let gj = &grads[j];
            let c = dot(&g, gj);
            let n = dot(gj, gj);
            if c < 0.0 && n > 0.0 {
                for (x, y) in g.iter_mut().zip(gj) {
                    *x -= c / n * y;
                }
            }
        }
        for (o, x) in out.iter_mut().zip(&g) {
            *o += x;
        }
    }
    out
}

impl GradientStrategy for PcGrad {
    fn name(&self) -> &str {
        "pcgrad"
    }
    fn combine(&mut self, step: &WeightingStep<'_>, grads: Vec<Grads>) -> Result<Combined> {
        let t = grads.len();
        let (own, shared) = split_shared(&grads, step.order);
        let flat = flatten(&grads, &shared);
        let orders: Vec<Vec<usize>> = (0..t)
            .map(|i| epoch_order(t, self.seed ^ ORDER_SEED ^ i as u64, step.iteration, true))
            .collect();
        let combined = pcgrad_project(&flat, &orders);
        Ok(Combined {
            grads: join_shared(own, &shared, &combined, &grads),
            weights: vec![1.0; t],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values from numpy (the projection written out as the paper's Algorithm 1):
    /// ```python
    /// import numpy as np
    /// G = np.array([[1.0, -2.0, 0.5, 3.0], [-1.5, 1.0, 2.0, -0.5], [0.5, 0.5, -1.0, -2.0]])
    /// orders = [[1, 2], [2, 0], [0, 1]]
    /// out = np.zeros(4)
    /// for i, order in enumerate(orders):
    ///     g = G[i].copy()
    ///     for j in order:
    ///         c = g @ G[j]
    ///         if c < 0:
    ///             g = g - c / (G[j] @ G[j]) * G[j]
    ///     out += g
    /// print(out.tolist())
    /// ```
    #[test]
    fn projection_matches_numpy() {
        let g = vec![
            vec![1.0, -2.0, 0.5, 3.0],
            vec![-1.5, 1.0, 2.0, -0.5],
            vec![0.5, 0.5, -1.0, -2.0],
        ];
        let orders = vec![vec![1, 2], vec![2, 0], vec![0, 1]];
        let want = [
            0.25119617224880364,
            -0.4945507708665604,
            2.2445507708665606,
            -0.572700691121744,
        ];
        let got = pcgrad_project(&g, &orders);
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{got:?} vs {want:?}");
        }
        // Gradients that do not conflict are summed unchanged (equal weighting).
        let agree = vec![vec![1.0, 2.0], vec![0.5, 0.0]];
        let sum = pcgrad_project(&agree, &[vec![1], vec![0]]);
        assert_eq!(sum, [1.5, 2.0]);
    }
}
