//! Maximum mean discrepancy with Gaussian kernels: the multi-kernel MMD of DAN (Long et al.,
//! "Learning Transferable Features with Deep Adaptation Networks", ICML 2015,
//! <https://arxiv.org/abs/1502.02791>) and the joint MMD of JAN (Long et al. 2017).
//!
//! Kernels: a family k(x, y) = Σ_α exp(−‖x − y‖² / (2·α·σ²)) with σ² the mean squared distance
//! of the batch (detached) and α = 2^k, k = −3..1 (Transfer-Learning-Library's defaults; DAN
//! learns β-weights over the family, TLlib and this use equal weights), or one fixed-width
//! kernel. Joint kernels multiply the per-layer kernel matrices.
//!
//! Estimators of MMD² between source rows s (m of them) and target rows t (n):
//! - quadratic (unbiased, Gretton et al. 2012 eq. 3):
//!   1/(m(m−1)) Σ_{i≠j} k(sᵢ,sⱼ) + 1/(n(n−1)) Σ_{i≠j} k(tᵢ,tⱼ) − 2/(mn) Σ_{i,j} k(sᵢ,tⱼ);
//! - linear-time (Gretton et al. 2012 Lemma 14, DAN eq. 6): over quad-tuples
//!   (s₂ᵢ, s₂ᵢ₊₁, t₂ᵢ, t₂ᵢ₊₁), the mean of k(s₂ᵢ,s₂ᵢ₊₁) + k(t₂ᵢ,t₂ᵢ₊₁) − k(s₂ᵢ,t₂ᵢ₊₁) − k(s₂ᵢ₊₁,t₂ᵢ).
//!
//! Both are evaluated as Σ K ⊙ W with a fixed weight matrix W over the full kernel matrix K
//! (batches here are at most a few hundred rows), so here the linear estimator costs as much
//! as the quadratic one; it keeps its statistical character (unbiased, fewer terms, higher
//! variance), which is what DAN and TLlib train with. TLlib adds a constant 2/(b−1) to its
//! estimates; it changes no gradient and is left out.

use serde::{Deserialize, Serialize};

use crate::backend::{self, Tensor};
use crate::{Error, Result};

/// Which MMD² estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// Unbiased quadratic-time estimator.
    Quadratic,
    /// Linear-time estimator over quad-tuples (DAN's and TLlib's default).
    #[default]
    Linear,
}

/// A Gaussian kernel or kernel family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Kernel {
    /// Σ_α exp(−d²/(2ασ²)), σ² = mean squared distance of the batch.
    Family { alphas: Vec<f64> },
    /// exp(−d²/(2σ²)) with a fixed σ.
    Fixed { sigma: f64 },
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel::Family {
            alphas: (-3..=1).map(|k| 2f64.powi(k)).collect(),
        }
    }
}

/// Squared Euclidean distances between all rows.
///
/// # Shapes
/// - `z`: `[n, d]`; output `[n, n]`
pub fn sq_distances(z: Tensor<2>) -> Tensor<2> {
    let n = z.dims()[0];
    let norms = (z.clone() * z.clone()).sum_dim(1); // [n, 1]
    let gram = z.clone().matmul(z.transpose());
    (norms.clone() + norms.reshape([1, n]) - gram.mul_scalar(2.0)).clamp_min(0.0)
}

/// The kernel matrix of `z` under `kernel`.
///
/// # Shapes
/// - `z`: `[n, d]`; output `[n, n]`
pub fn kernel_matrix(z: Tensor<2>, kernel: &Kernel) -> Tensor<2> {
    let d2 = sq_distances(z);
    match kernel {
        Kernel::Fixed { sigma } => d2.div_scalar(-2.0 * sigma * sigma).exp(),
        Kernel::Family { alphas } => {
            let mean = backend::scalar(&backend::plain(d2.clone()).mean()) as f64;
            let mean = if mean > 0.0 { mean } else { 1.0 };
            let mut sum: Option<Tensor<2>> = None;
            for a in alphas {
                let k = d2.clone().div_scalar(-2.0 * a * mean).exp();
                sum = Some(match sum {
                    Some(s) => s + k,
                    None => k,
                });
            }
            sum.unwrap_or(d2.zeros_like())
        }
    }
}

/// The estimator's weights W over a `[m + n, m + n]` kernel matrix (source rows first).
pub fn weights(m: usize, n: usize, estimator: Estimator) -> Result<Vec<f32>> {
    let size = m + n;
    let mut w = vec![0f32; size * size];
    match estimator {
        Estimator::Quadratic => {
            if m < 2 || n < 2 {
                return Err(Error::Training(format!(
                    "the quadratic MMD estimator needs at least 2 source and 2 target rows, got {m} and {n}"
                )));
            }
            let (ss, tt, st) = (
                1.0 / (m * (m - 1)) as f32,
                1.0 / (n * (n - 1)) as f32,
                -1.0 / (m * n) as f32,
            );
            for i in 0..size {
                for j in 0..size {
                    w[i * size + j] = match (i < m, j < m) {
                        (true, true) if i != j => ss,
                        (false, false) if i != j => tt,
                        (true, false) | (false, true) => st,
                        _ => 0.0,
                    };
                }
            }
        }
        Estimator::Linear => {
            let pairs = m.min(n) / 2;
            if pairs == 0 {
                return Err(Error::Training(format!(
                    "the linear MMD estimator needs at least 2 source and 2 target rows, got {m} and {n}"
                )));
            }
            let v = 1.0 / pairs as f32;
            for p in 0..pairs {
                let (s0, s1, t0, t1) = (2 * p, 2 * p + 1, m + 2 * p, m + 2 * p + 1);
                w[s0 * size + s1] += v;
                w[t0 * size + t1] += v;
                w[s0 * size + t1] -= v;
                w[s1 * size + t0] -= v;
            }
        }
    }
    Ok(w)
}

/// MMD² between the source and target rows of each layer, with the layers' kernel matrices
/// multiplied (one layer: MK-MMD; several: JMMD).
///
/// # Shapes
/// - `layers[l]`: `[m + n, d_l]`, source rows first; output `[1]`
pub fn joint_mmd(
    layers: &[Tensor<2>],
    kernels: &[Kernel],
    source: usize,
    estimator: Estimator,
) -> Result<Tensor<1>> {
    let Some(first) = layers.first() else {
        return Err(Error::Spec("MMD over no layers".into()));
    };
    let size = first.dims()[0];
    let mut k: Option<Tensor<2>> = None;
    for (z, kernel) in layers.iter().zip(kernels) {
        let km = kernel_matrix(z.clone(), kernel);
        k = Some(match k {
            Some(p) => p * km,
            None => km,
        });
    }
    let k = k.ok_or_else(|| Error::Spec("MMD needs one kernel per layer".into()))?;
    let w = weights(source, size - source, estimator)?;
    let w = backend::tensor(w, [size, size], &first.device());
    Ok((k * w).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;

    /// Inputs of bench/golden/adapt_golden.py: 4 source and 4 target rows of 3 features.
    fn inputs() -> (Tensor<2>, Tensor<2>) {
        let d = Device::flex();
        let s = vec![
            0.1, 0.2, -0.3, 0.5, -0.1, 0.4, -0.2, 0.3, 0.0, 0.7, 0.1, -0.5,
        ];
        let t = vec![1.0, 0.8, 0.2, 0.6, 1.2, -0.1, 0.9, 0.5, 0.4, 1.4, 0.7, 0.3];
        let leaf = |v: Vec<f32>| {
            backend::tensor(v, [4, 3], &d)
                .inner()
                .autodiff()
                .require_grad()
        };
        (leaf(s), leaf(t))
    }

    fn check(estimator: Estimator, value: f32, grad_s: &[f32]) {
        let (s, t) = inputs();
        let z = Tensor::cat(vec![s.clone(), t], 0);
        let loss = joint_mmd(&[z], &[Kernel::default()], 4, estimator).unwrap();
        let got = backend::scalar(&backend::plain(loss.clone()));
        assert!(
            (got - value).abs() < 1e-5,
            "{estimator:?}: {got} vs {value}"
        );
        let g = backend::to_vec(&s.grad(&loss.backward()).unwrap());
        for (a, b) in g.iter().zip(grad_s) {
            assert!((a - b).abs() < 1e-5, "{estimator:?}: {g:?} vs {grad_s:?}");
        }
    }

    #[test]
    fn quadratic_mk_mmd_matches_pytorch() {
        check(Estimator::Quadratic, GOLDEN_QUAD.0, &GOLDEN_QUAD.1);
    }

    #[test]
    fn linear_mk_mmd_matches_pytorch() {
        check(Estimator::Linear, GOLDEN_LIN.0, &GOLDEN_LIN.1);
    }

    #[test]
    fn joint_mmd_matches_pytorch() {
        let (s, t) = inputs();
        let z = Tensor::cat(vec![s.clone(), t], 0);
        let p = crate::backend::activation::softmax(z.clone(), 1);
        let kernels = [Kernel::default(), Kernel::Fixed { sigma: 0.92 }];
        let loss = joint_mmd(&[z, p], &kernels, 4, Estimator::Linear).unwrap();
        let got = backend::scalar(&backend::plain(loss.clone()));
        assert!((got - GOLDEN_JMMD.0).abs() < 1e-5, "{got}");
        let g = backend::to_vec(&s.grad(&loss.backward()).unwrap());
        for (a, b) in g.iter().zip(GOLDEN_JMMD.1) {
            assert!((a - b).abs() < 1e-5, "{g:?}");
        }
    }

    #[test]
    fn identical_samples_have_zero_linear_mmd_and_too_few_rows_is_an_error() {
        let d = Device::flex();
        let z = backend::tensor(vec![0.5, 1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 1.0], [4, 2], &d);
        let v = joint_mmd(&[z], &[Kernel::default()], 2, Estimator::Linear).unwrap();
        assert!(backend::scalar(&v).abs() < 1e-6);
        assert!(weights(1, 3, Estimator::Quadratic).is_err());
        assert!(weights(1, 1, Estimator::Linear).is_err());
    }

    // Printed by bench/golden/adapt_golden.py (PyTorch 2.x, float32).
    const GOLDEN_QUAD: (f32, [f32; 12]) = (
        2.502_872_2,
        [
            -0.277_179,
            -0.567_161_1,
            0.312_176_3,
            -1.048_919_8,
            -0.459_546_4,
            -0.872_363_9,
            0.490_526_7,
            -0.754_532_7,
            -0.575_727_4,
            -1.260_447,
            -0.568_201_5,
            0.099_326_79,
        ],
    );
    const GOLDEN_LIN: (f32, [f32; 12]) = (
        2.176_195_1,
        [
            0.232_681_7,
            -1.390_828_1,
            1.004_294,
            -1.211_635_4,
            -0.459_747_9,
            -0.966_550_2,
            0.474_241_4,
            -0.337_597_9,
            -0.628_858_2,
            -1.203_465_3,
            -0.260_303_5,
            -0.532_017_2,
        ],
    );
    const GOLDEN_JMMD: (f32, [f32; 12]) = (
        2.096_376_4,
        [
            0.278_730_8,
            -1.484_347_9,
            1.043_831,
            -1.208_726,
            -0.423_806_5,
            -0.930_159_3,
            0.485_687_5,
            -0.332_907_8,
            -0.609_398_4,
            -1.198_083,
            -0.218_504_8,
            -0.542_582_3,
        ],
    );
}
