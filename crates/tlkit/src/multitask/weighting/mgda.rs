//! MGDA: Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS
//! 2018, <https://arxiv.org/abs/1810.04650>.
//!
//! The multiple-gradient descent algorithm takes the step along the minimum-norm point of
//! the convex hull of the task gradients on the shared parameters:
//!
//! α* = argmin_{α ∈ Δ} ‖Σₜ αₜ gₜ‖²,  then the loss Σₜ α*ₜ Lₜ,
//!
//! a direction that decreases every task's loss (or a Pareto-stationary point where it is
//! zero). The min-norm problem is solved as the paper's Algorithm 2 and its code do: the best
//! pair of tasks in closed form, then Frank-Wolfe steps with exact line search on the Gram
//! matrix (at most 250, stop when the weights move by less than 1e-5 in L1). Gradients may
//! be normalised before the solve ([`Normalization`]); the step uses the unnormalised
//! gradients, as the paper's code does. Weights sum to 1.
//!
//! Two variants: `mgda` solves on the gradients of the shared parameters (LibMTL's
//! `rep_grad = False`); `mgda_ub` on the gradients of the shared representation Z (the
//! output of the layer the heads branch from, per sample), the paper's MGDA-UB, whose
//! Theorem 1 bounds the parameter problem by the representation one. Where ours differs:
//! the paper's MGDA-UB back-propagates each task only to Z and the combination once through
//! the trunk; ours runs each task's backward through the whole network (the same gradients
//! and weights, without UB's saving), one backward pass per task. Normalisation defaults to
//! none, as LibMTL.

use crate::Result;
use crate::backend;
use crate::train::{
    Combined, GradientStrategy, Grads, WeightingStep, flatten, shared_paths, weighted_sum,
};

/// How each task's gradient is scaled before the min-norm solve (the paper's code's
/// `gradient_normalizers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Unscaled.
    #[default]
    None,
    /// By its L2 norm.
    L2,
    /// By the task's loss.
    Loss,
    /// By the loss times the L2 norm (`loss+`).
    LossPlus,
}

/// MGDA's and MGDA-UB's settings in a config (`[settings.mgda]`, `[settings.mgda_ub]`):
/// `normalization = "none" | "l2" | "loss" | "loss_plus"` (default none).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MgdaSettings {
    #[serde(default)]
    pub normalization: Normalization,
}

/// The multiple-gradient descent algorithm's min-norm combination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mgda {
    pub normalization: Normalization,
    /// Solve on the gradients of the shared representation (MGDA-UB) instead of the shared
    /// parameters.
    pub upper_bound: bool,
}

/// The minimum of ‖γ·v₁ + (1−γ)·v₂‖² over γ ∈ [0, 1], given v₁·v₁, v₁·v₂ and v₂·v₂:
/// (γ, the minimum). The ends are 0.999 and 0.001, as in the paper's code.
fn min_norm_2(v11: f64, v12: f64, v22: f64) -> (f64, f64) {
    if v12 >= v11 {
        return (0.999, v11);
    }
    if v12 >= v22 {
        return (0.001, v22);
    }
    let gamma = -(v12 - v22) / (v11 + v22 - 2.0 * v12);
    (gamma, v22 + gamma * (v12 - v22))
}

/// The weights α on the simplex minimising ‖Σₜ αₜ gₜ‖², from the Gram matrix
/// `gram[i][j] = gᵢ·gⱼ` (Frank-Wolfe, as described above).
pub fn min_norm_weights(gram: &[Vec<f64>]) -> Vec<f64> {
    let n = gram.len();
    if n == 1 {
        return vec![1.0];
    }
    let mut best = (f64::INFINITY, 0, 1, 0.0);
    for i in 0..n {
        for j in i + 1..n {
            let (c, d) = min_norm_2(gram[i][i], gram[i][j], gram[j][j]);
            if d < best.0 {
                best = (d, i, j, c);
            }
        }
    }
    let mut sol = vec![0.0; n];
    sol[best.1] = best.3;
    sol[best.2] = 1.0 - best.3;
    if n < 3 {
        return sol;
    }
    let mat_vec = |v: &[f64]| -> Vec<f64> {
        gram.iter()
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect()
    };
    for _ in 0..250 {
        let g = mat_vec(&sol);
        let t = (0..n).min_by(|&a, &b| g[a].total_cmp(&g[b])).unwrap_or(0);
        let v11: f64 = sol.iter().zip(&g).map(|(a, b)| a * b).sum();
        let v12: f64 = sol.iter().zip(gram.iter()).map(|(a, row)| a * row[t]).sum();
        let v22 = gram[t][t];
        let (c, _) = min_norm_2(v11, v12, v22);
        let mut next: Vec<f64> = sol.iter().map(|x| c * x).collect();
        next[t] += 1.0 - c;
        let change: f64 = next.iter().zip(&sol).map(|(a, b)| (a - b).abs()).sum();
        sol = next;
        if change < 1e-5 {
            break;
        }
    }
    sol
}

/// The Gram matrix of host vectors.
pub fn gram(vectors: &[Vec<f64>]) -> Vec<Vec<f64>> {
    vectors
        .iter()
        .map(|a| {
            vectors
                .iter()
                .map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum())
                .collect()
        })
        .collect()
}

impl GradientStrategy for Mgda {
    fn name(&self) -> &str {
        if self.upper_bound { "mgda_ub" } else { "mgda" }
    }
    fn needs_representation(&self) -> bool {
        self.upper_bound
    }
    fn combine(&mut self, step: &WeightingStep<'_>, grads: Vec<Grads>) -> Result<Combined> {
        let mut flat = if self.upper_bound {
            step.representation
                .iter()
                .map(|g| backend::to_vec(g).into_iter().map(f64::from).collect())
                .collect()
        } else {
            flatten(&grads, &shared_paths(&grads))
        };
        for (g, loss) in flat.iter_mut().zip(step.losses) {
            let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            let scale = match self.normalization {
                Normalization::None => 1.0,
                Normalization::L2 => norm,
                Normalization::Loss => *loss,
                Normalization::LossPlus => loss * norm,
            };
            if scale > 0.0 {
                g.iter_mut().for_each(|x| *x /= scale);
            }
        }
        let weights = min_norm_weights(&gram(&flat));
        Ok(Combined {
            grads: weighted_sum(grads, &weights),
            weights,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Task gradients, the min-norm weights and the squared norm of their combination.
    type Case = (Vec<Vec<f64>>, &'static [f64], f64);

    /// Golden values: the min-norm point of the convex hull, from SciPy's SLSQP on the
    /// simplex (an independent solver, not Frank-Wolfe):
    /// ```python
    /// import numpy as np
    /// from scipy.optimize import minimize
    /// def min_norm(G):
    ///     A = G @ G.T; n = len(G)
    ///     r = minimize(lambda x: x @ A @ x, np.ones(n) / n, bounds=[(0, 1)] * n,
    ///                  constraints=({'type': 'eq', 'fun': lambda x: 1 - x.sum()},), tol=1e-14)
    ///     return r.x, r.x @ A @ r.x
    /// print(*min_norm(np.array([[1.0, -2.0, 0.5, 3.0], [-1.5, 1.0, 2.0, -0.5],
    ///                           [0.5, 0.5, -1.0, -2.0]])))
    /// print(*min_norm(np.array([[1.0, 2.0, 0.0], [2.0, -1.0, 1.0]])))
    /// ```
    #[test]
    fn min_norm_solver_matches_scipy() {
        let cases: [Case; 2] = [
            (
                vec![
                    vec![1.0, -2.0, 0.5, 3.0],
                    vec![-1.5, 1.0, 2.0, -0.5],
                    vec![0.5, 0.5, -1.0, -2.0],
                ],
                &[0.2988757463, 0.2474813844, 0.4536428693],
                0.09355380347495976,
            ),
            (
                vec![vec![1.0, 2.0, 0.0], vec![2.0, -1.0, 1.0]],
                &[0.5454545458, 0.4545454542],
                2.7272727272727284,
            ),
        ];
        for (g, want, norm2) in cases {
            let a = gram(&g);
            let w = min_norm_weights(&a);
            let got: f64 = (0..w.len())
                .map(|i| (0..w.len()).map(|j| w[i] * a[i][j] * w[j]).sum::<f64>())
                .sum();
            assert!((got - norm2).abs() < 1e-6, "‖Σ αg‖² {got} vs {norm2}");
            for (x, y) in w.iter().zip(want) {
                assert!((x - y).abs() < 2e-3, "{w:?} vs {want:?}");
            }
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // Two gradients where one is the shorter and points the same way: all weight on it
        // (the paper's code's 0.999 end).
        let w = min_norm_weights(&gram(&[vec![1.0, 0.0], vec![3.0, 0.0]]));
        assert_eq!(w, [0.999, 0.0010000000000000009]);
    }
}
