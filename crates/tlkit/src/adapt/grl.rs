//! The gradient reversal layer of Ganin & Lempitsky, "Unsupervised Domain Adaptation by
//! Backpropagation", ICML 2015 <https://arxiv.org/abs/1409.7495>, and its coefficient schedule.
//!
//! Forward: R(x) = x. Backward: ∂R/∂x = −λ·I. Written as `x·(−λ) + detach(x·(1+λ))`, whose
//! value is x and whose only differentiable part is `−λ·x` (Burn 0.22 has no custom backward
//! for the autodiff backend we use through [`crate::backend`]).
//!
//! λ follows 2/(1+exp(−γ·p)) − 1 (Ganin et al. 2016, Section 5.2.2), rising from 0 to 1 so the
//! discriminator's noisy early signal does not disturb the features.

use serde::{Deserialize, Serialize};

use crate::backend::Tensor;

fn gamma() -> f64 {
    1.0
}
fn max_iters() -> usize {
    1000
}
fn one() -> f64 {
    1.0
}

/// Reverses (and scales by `lambda`) the gradient flowing back through `x`; the value is `x`.
///
/// # Shapes
/// - `x`: any; output: the same.
pub fn grl<const D: usize>(x: Tensor<D>, lambda: f64) -> Tensor<D> {
    x.clone().mul_scalar(-lambda) + x.mul_scalar(1.0 + lambda).detach()
}

/// The coefficient schedule λ(p) = `max`·(2/(1+exp(−γ·p)) − 1).
///
/// `p` is `iteration / max_iters` when `max_iters > 0` (Transfer-Learning-Library's
/// `WarmStartGradientReverseLayer`: γ = 1, max_iters = 1000, the defaults here), or the
/// training progress in [0, 1] when `max_iters = 0` (the paper: γ = 10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrlSchedule {
    #[serde(default = "gamma")]
    pub gamma: f64,
    /// 0: use the run's progress instead of iterations.
    #[serde(default = "max_iters")]
    pub max_iters: usize,
    /// The coefficient's final value (TLlib's `hi`).
    #[serde(default = "one")]
    pub max: f64,
}

impl Default for GrlSchedule {
    fn default() -> Self {
        GrlSchedule {
            gamma: gamma(),
            max_iters: max_iters(),
            max: one(),
        }
    }
}

impl GrlSchedule {
    /// λ at `iteration` of a run of `total` iterations.
    pub fn coefficient(&self, iteration: usize, total: usize) -> f64 {
        let p = match self.max_iters {
            0 => iteration as f64 / total.max(1) as f64,
            m => iteration as f64 / m as f64,
        };
        self.max * (2.0 / (1.0 + (-self.gamma * p).exp()) - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};

    /// Golden values from PyTorch (bench/golden/adapt_golden.py, `grl` section):
    /// ```python
    /// class GRL(torch.autograd.Function):
    ///     @staticmethod
    ///     def forward(ctx, x, c): ctx.c = c; return x.view_as(x)
    ///     @staticmethod
    ///     def backward(ctx, g): return -ctx.c * g, None
    /// x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], requires_grad=True)
    /// w = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]])
    /// y = GRL.apply(x, 0.7); (torch.tanh(y) * w).sum().backward(); print(y, x.grad)
    /// ```
    #[test]
    fn grl_matches_pytorch_value_and_gradient() {
        let d = Device::flex();
        let x = backend::tensor(vec![0.5, -1.0, 2.0, 1.5, 0.25, -0.75], [2, 3], &d)
            .inner()
            .autodiff()
            .require_grad();
        let w = backend::tensor(vec![1.0, -2.0, 0.5, 0.3, 0.7, -1.1], [2, 3], &d);
        let y = grl(x.clone(), 0.7);
        let value = backend::to_vec(&backend::plain(y.clone()));
        for (a, b) in value.iter().zip([0.5, -1.0, 2.0, 1.5, 0.25, -0.75]) {
            assert!((a - b).abs() < 1e-6, "{value:?}");
        }
        let loss = (y.tanh() * w).sum();
        let g = x.grad(&loss.backward()).unwrap();
        let expected = GOLDEN_GRL_GRAD;
        for (a, b) in backend::to_vec(&g).iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    // Printed by bench/golden/adapt_golden.py.
    const GOLDEN_GRL_GRAD: [f32; 6] = [
        -0.550_513_4,
        0.587_964,
        -0.024_727_786,
        -0.037_948_392,
        -0.460_607_26,
        0.459_371_06,
    ];

    #[test]
    fn coefficient_rises_from_zero_towards_max() {
        let s = GrlSchedule::default();
        assert_eq!(s.coefficient(0, 100), 0.0);
        // TLlib: 2/(1+e^-1) - 1 at iteration 1000.
        assert!((s.coefficient(1000, 5000) - 0.462_117).abs() < 1e-6);
        let paper = GrlSchedule {
            gamma: 10.0,
            max_iters: 0,
            max: 1.0,
        };
        assert!((paper.coefficient(50, 100) - 0.986_614).abs() < 1e-6);
        assert!(paper.coefficient(100, 100) < 1.0);
    }
}
