//! CAGrad (conflict-averse gradient descent): Liu, Liu, Jin, Stone & Liu, "Conflict-Averse
//! Gradient Descent for Multi-task Learning", NeurIPS 2021, <https://arxiv.org/abs/2110.14048>.
//!
//! On the shared parameters, with g₀ = mean of the task gradients gₜ, CAGrad looks for the
//! update d within a ball around g₀ that maximises the worst task's improvement:
//!
//! max_d min_t gₜ·d  s.t. ‖d − g₀‖ ≤ c‖g₀‖.
//!
//! Its dual is a problem on the simplex: w* = argmin_{w ∈ Δ} g_w·g₀ + c‖g₀‖·‖g_w‖ with
//! g_w = Σₜ wₜgₜ, and then d = g₀ + (c‖g₀‖ / ‖g_w‖)·g_w, rescaled by 1/(1 + c²) (the
//! authors' and LibMTL's `rescale = 1`). c = 0.5 (LibMTL's default `calpha`). The dual is
//! solved on the Gram matrix by projected gradient descent with backtracking (the authors use
//! SciPy's SLSQP). A head's own parameters keep their task's gradient. The reported weight of
//! a task is its coefficient in d: (1/T + λwₜ)/(1 + c²). One backward pass per task.

use crate::Result;
use crate::train::{
    Combined, GradientStrategy, Grads, WeightingStep, flatten, join_shared, split_shared,
};

use super::mgda::gram;

/// Conflict-averse gradient descent.
#[derive(Debug, Clone, Copy)]
pub struct CaGrad {
    /// The radius c of the ball around the mean gradient, relative to its norm.
    pub c: f64,
}

/// CAGrad's settings in a config (`[settings.cagrad]`); defaults as [`CaGrad::default`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaGradSettings {
    /// The radius c (the paper uses 0.4 on MultiMNIST-like sets; LibMTL's default 0.5).
    #[serde(default = "CaGradSettings::c")]
    pub c: f64,
}

impl CaGradSettings {
    fn c() -> f64 {
        CaGrad::default().c
    }
}

impl Default for CaGradSettings {
    fn default() -> Self {
        CaGradSettings { c: Self::c() }
    }
}

impl From<CaGradSettings> for CaGrad {
    fn from(s: CaGradSettings) -> Self {
        CaGrad { c: s.c }
    }
}

impl Default for CaGrad {
    fn default() -> Self {
        CaGrad { c: 0.5 }
    }
}

/// The Euclidean projection of `v` on the probability simplex (Duchi et al. 2008).
fn project_simplex(v: &[f64]) -> Vec<f64> {
    let mut u = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let (mut sum, mut theta) = (0.0, 0.0);
    for (k, x) in u.iter().enumerate() {
        sum += x;
        let t = (sum - 1.0) / (k + 1) as f64;
        if x - t > 0.0 {
            theta = t;
        }
    }
    v.iter().map(|x| (x - theta).max(0.0)).collect()
}

/// The dual weights w* for the Gram matrix `a` of the task gradients and radius `c`, and the
/// coefficients of the tasks in the update d (before the 1/(1 + c²) rescale).
pub fn cagrad_weights(a: &[Vec<f64>], c: f64) -> (Vec<f64>, Vec<f64>) {
    let n = a.len();
    let mv = |x: &[f64]| -> Vec<f64> {
        a.iter()
            .map(|row| row.iter().zip(x).map(|(p, q)| p * q).sum())
            .collect()
    };
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
    let mean = vec![1.0 / n as f64; n];
    let ab = mv(&mean);
    let g0_norm = (dot(&mean, &ab) + 1e-8).sqrt();
    let cc = c * g0_norm + 1e-8;
    let f = |x: &[f64]| dot(x, &ab) + cc * (dot(x, &mv(x)) + 1e-8).sqrt();
    let grad = |x: &[f64]| -> Vec<f64> {
        let ax = mv(x);
        let norm = (dot(x, &ax) + 1e-8).sqrt();
        ab.iter().zip(&ax).map(|(p, q)| p + cc * q / norm).collect()
    };
    let trace: f64 = (0..n).map(|i| a[i][i]).sum();
    let mut step = 1.0 / trace.max(1e-12);
    let mut x = mean.clone();
    for _ in 0..2000 {
        let (fx, g) = (f(&x), grad(&x));
        let mut y;
        loop {
            let moved: Vec<f64> = x.iter().zip(&g).map(|(p, q)| p - step * q).collect();
            y = project_simplex(&moved);
            let d: Vec<f64> = y.iter().zip(&x).map(|(p, q)| p - q).collect();
            if f(&y) <= fx + dot(&g, &d) + dot(&d, &d) / (2.0 * step) || step < 1e-30 {
                break;
            }
            step /= 2.0;
        }
        let change: f64 = y.iter().zip(&x).map(|(p, q)| (p - q).abs()).sum();
        x = y;
        if change < 1e-12 {
            break;
        }
        step *= 2.0;
    }
    let gw_norm = dot(&x, &mv(&x)).max(0.0).sqrt();
    let lambda = cc / (gw_norm + 1e-8);
    let coef = x.iter().map(|w| 1.0 / n as f64 + lambda * w).collect();
    (x, coef)
}

impl GradientStrategy for CaGrad {
    fn name(&self) -> &str {
        "cagrad"
    }
    fn combine(&mut self, step: &WeightingStep<'_>, grads: Vec<Grads>) -> Result<Combined> {
        let (own, shared) = split_shared(&grads, step.order);
        let flat = flatten(&grads, &shared);
        let (_, coef) = cagrad_weights(&gram(&flat), self.c);
        let rescale = 1.0 + self.c * self.c;
        let weights: Vec<f64> = coef.iter().map(|x| x / rescale).collect();
        let d = flat.first().map_or(0, Vec::len);
        let mut update = vec![0.0; d];
        for (g, w) in flat.iter().zip(&weights) {
            for (u, x) in update.iter_mut().zip(g) {
                *u += w * x;
            }
        }
        Ok(Combined {
            grads: join_shared(own, &shared, &update, &grads),
            weights,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Task gradients, the dual weights and the update.
    type Case = (Vec<Vec<f64>>, &'static [f64], &'static [f64]);

    /// Golden values from SciPy's SLSQP on the dual, as the authors solve it, c = 0.5:
    /// ```python
    /// import numpy as np
    /// from scipy.optimize import minimize
    /// def cagrad(G, c=0.5):
    ///     A = G @ G.T; n = len(G); b = np.ones(n) / n
    ///     cc = c * np.sqrt(A.mean() + 1e-8) + 1e-8
    ///     f = lambda x: x @ A @ b + cc * np.sqrt(x @ A @ x + 1e-8)
    ///     r = minimize(f, b, bounds=[(0, 1)] * n,
    ///                  constraints=({'type': 'eq', 'fun': lambda x: 1 - x.sum()},), tol=1e-14)
    ///     gw = r.x @ G
    ///     lam = cc / (np.linalg.norm(gw) + 1e-8)
    ///     return r.x, (G.mean(0) + lam * gw) / (1 + c * c)
    /// print(*cagrad(np.array([[1.0, 0.2, -0.3, 0.4], [0.1, 1.2, 0.3, -0.2],
    ///                         [-0.2, 0.1, 0.9, 0.5]])))
    /// print(*cagrad(np.array([[1.0, 2.0, 0.0], [2.0, -1.0, 1.0]])))
    /// ```
    #[test]
    fn direction_matches_scipy() {
        let cases: [Case; 2] = [
            (
                vec![
                    vec![1.0, 0.2, -0.3, 0.4],
                    vec![0.1, 1.2, 0.3, -0.2],
                    vec![-0.2, 0.1, 0.9, 0.5],
                ],
                &[0.45079007704, 0.0, 0.54920992296],
                &[0.3779952049, 0.458719224, 0.3853225364, 0.370791221],
            ),
            (
                vec![vec![1.0, 2.0, 0.0], vec![2.0, -1.0, 1.0]],
                &[0.6375217553, 0.3624782447],
                &[1.7381357939, 0.7604344037, 0.5431674368],
            ),
        ];
        for (g, want_w, want_d) in cases {
            let (w, coef) = cagrad_weights(&gram(&g), 0.5);
            for (x, y) in w.iter().zip(want_w) {
                assert!((x - y).abs() < 1e-4, "{w:?} vs {want_w:?}");
            }
            let d: Vec<f64> = (0..g[0].len())
                .map(|k| g.iter().zip(&coef).map(|(v, c)| v[k] * c).sum::<f64>() / 1.25)
                .collect();
            for (x, y) in d.iter().zip(want_d) {
                assert!((x - y).abs() < 1e-4, "{d:?} vs {want_d:?}");
            }
        }
    }
}
