//! Sparse codes by FISTA.
//!
//! Beck & Teboulle 2009, "A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse
//! Problems", SIAM J. Imaging Sciences 2(1). <https://doi.org/10.1137/080716542>
//!
//! For a dictionary `D` (`k` atoms as rows, `k × d`) and a sample `x` (`1 × d`), the code is
//!
//! ```text
//! c* = argmin_c  ½‖x − cD‖² + α‖c‖₁
//! ```
//!
//! solved for all samples at once (`C` is `n × k`): with `G = DDᵀ`, `B = XDᵀ` and the step
//! `1/L`, `L = λ_max(G)` (the Lipschitz constant of the gradient `CG − B`),
//!
//! ```text
//! C_{t+1} = soft(Y_t − (Y_t G − B)/L, α/L),   soft(v, τ) = sign(v)·max(|v| − τ, 0)
//! s_{t+1} = (1 + √(1 + 4 s_t²)) / 2
//! Y_{t+1} = C_{t+1} + ((s_t − 1)/s_{t+1}) (C_{t+1} − C_t)
//! ```
//!
//! starting from `C_0 = Y_0 = 0`, `s_0 = 1`, until no code moves by more than `tol` (relative
//! to the largest code, at least 1) or `max_iter` steps. Each sample's momentum restarts when
//! it turns against the step (O'Donoghue & Candès 2015), which FISTA on coherent dictionaries
//! needs to converge in hundreds of steps rather than thousands.
//!
//! # The α convention
//! `alpha` is the weight of `‖c‖₁` against `½‖x − cD‖²`, per sample, unscaled:
//! - it equals the `alpha` of scikit-learn's `sparse_encode(X, D, algorithm='lasso_lars' or
//!   'lasso_cd', alpha=α)` and of `DictionaryLearning(alpha=α)`. (`sparse_encode` divides its
//!   `alpha` by the number of features `d` before handing it to `Lasso`/`LassoLars`, whose loss
//!   is `‖x − cD‖²/(2d) + a‖c‖₁`; `a = α/d` makes that loss ours divided by `d`.)
//! - scikit-learn's `Lasso(alpha=a)` fitted directly on one sample is our `α = a·d`;
//! - the UFLDL tutorial's `‖x − cD‖² + λ‖c‖₁` (no ½) is our `α = λ/2`.

use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

use crate::linalg::{matmul_rows, view};
use crate::{Error, Result};

/// How to compute codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FistaConfig {
    /// Weight of the L1 penalty, > 0 (see the module doc for its convention).
    pub alpha: f64,
    /// Most FISTA steps per batch of samples.
    #[serde(default = "default_max_iter")]
    pub max_iter: usize,
    /// Stop when no code moves by more than `tol · max(1, max |c|)` in one step.
    #[serde(default = "default_tol")]
    pub tol: f64,
}

fn default_max_iter() -> usize {
    1000
}

fn default_tol() -> f64 {
    1e-6
}

impl FistaConfig {
    /// `alpha` with the default iteration budget and tolerance.
    pub fn new(alpha: f64) -> Self {
        Self {
            alpha,
            max_iter: default_max_iter(),
            tol: default_tol(),
        }
    }

    /// Checks `alpha > 0`, `tol ≥ 0`, `max_iter ≥ 1`.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(Error::invalid(
                "alpha",
                self.alpha,
                "the L1 weight must be a finite value > 0 (α = 0 is least squares, not sparse coding)",
            ));
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(Error::invalid(
                "tol",
                self.tol,
                "must be a finite value ≥ 0",
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid("max_iter", 0, "must be at least 1"));
        }
        Ok(())
    }
}

/// Codes of `n` samples over `k` atoms.
#[derive(Debug, Clone, PartialEq)]
pub struct Codes {
    /// Row-major `n × k`.
    pub codes: Vec<f32>,
    pub n: usize,
    pub k: usize,
    /// FISTA steps taken by the batch that needed the most.
    pub iterations: usize,
}

impl Codes {
    /// Fraction of codes that are exactly zero.
    pub fn sparsity(&self) -> f64 {
        let zeros = self.codes.iter().filter(|&&c| c == 0.0).count();
        zeros as f64 / self.codes.len().max(1) as f64
    }
}

/// Samples coded together: bounds the `n × k` work buffers for large sets.
const BATCH: usize = 2048;

/// The Lipschitz constant `L = λ_max(DDᵀ)` of a dictionary (`k × d`).
///
/// # Errors
/// [`Error::Invalid`] when the dictionary is all zeros (no step size exists).
pub fn lipschitz(dict: &[f32], k: usize, d: usize) -> Result<f64> {
    let dm = view("dictionary", dict, k, d)?;
    let g = matmul_rows(dm, dm.transpose());
    let g64 = Mat::from_fn(k, k, |i, j| f64::from(g[i * k + j]));
    let eig = g64
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| Error::Training(format!("FISTA: eigenvalues of DDᵀ failed ({e:?})")))?;
    let l = eig.last().copied().unwrap_or(0.0);
    if l > 0.0 && l.is_finite() {
        Ok(l)
    } else {
        Err(Error::invalid(
            "dictionary",
            format!("λ_max(DDᵀ) = {l}"),
            "the atoms are all zero or not finite; FISTA has no step size",
        ))
    }
}

/// The sparse codes of `n` samples `x` (`n × d`) over the dictionary `dict` (`k × d`).
///
/// # Shapes
/// `x: [n, d]`, `dict: [k, d]` → `codes: [n, k]`, row-major.
///
/// # Errors
/// [`Error::Invalid`] for a bad config, a dictionary whose atom size is not `d`, or an all-zero
/// dictionary.
pub fn encode(
    x: &[f32],
    n: usize,
    dict: &[f32],
    k: usize,
    d: usize,
    cfg: &FistaConfig,
) -> Result<Codes> {
    cfg.validate()?;
    if k == 0 || !dict.len().is_multiple_of(k) || dict.len() / k != d {
        return Err(Error::invalid(
            "dictionary atom size",
            dict.len().checked_div(k).unwrap_or(0),
            format!("the data has {d} values per sample; the atoms must have as many"),
        ));
    }
    view("samples", x, n, d)?;
    let l = lipschitz(dict, k, d)?;
    let dm = view("dictionary", dict, k, d)?;
    let g = matmul_rows(dm, dm.transpose());
    let gm = view("DDᵀ", &g, k, k)?;
    let mut codes = Vec::with_capacity(n * k);
    let mut iterations = 0;
    for start in (0..n).step_by(BATCH) {
        let rows = BATCH.min(n - start);
        let xb = view("samples", &x[start * d..(start + rows) * d], rows, d)?;
        let b = matmul_rows(xb, dm.transpose());
        let (c, it) = fista_batch(&b, gm, rows, k, l, cfg);
        codes.extend(c);
        iterations = iterations.max(it);
    }
    Ok(Codes {
        codes,
        n,
        k,
        iterations,
    })
}

/// FISTA on one batch: `b = XDᵀ` (`rows × k`), `g = DDᵀ`. Returns the codes and the steps.
///
/// Each sample keeps its own momentum `s`, restarted (`s = 1`, `Y = C`) when the step turns
/// against the momentum, `⟨Y − C_{t+1}, C_{t+1} − C_t⟩ > 0`: the gradient restart of
/// O'Donoghue & Candès 2015, "Adaptive restart for accelerated gradient schemes". Without it,
/// dictionaries of similar atoms (digits) make FISTA oscillate for thousands of steps.
fn fista_batch(
    b: &[f32],
    g: faer::MatRef<'_, f32>,
    rows: usize,
    k: usize,
    l: f64,
    cfg: &FistaConfig,
) -> (Vec<f32>, usize) {
    let step = (1.0 / l) as f32;
    let thresh = (cfg.alpha / l) as f32;
    let mut c = vec![0f32; rows * k];
    let mut y = vec![0f32; rows * k];
    let mut next = vec![0f32; k];
    let mut s = vec![1f64; rows];
    for it in 1..=cfg.max_iter {
        // Y = 0 at the start, so the first gradient is −B: skip the product.
        let yg = if it == 1 {
            vec![0f32; rows * k]
        } else {
            matmul_rows(view("Y", &y, rows, k).expect("sized above"), g)
        };
        let mut converged = true;
        for (r, sr) in s.iter_mut().enumerate() {
            let span = r * k..(r + 1) * k;
            let (cr, yr) = (&mut c[span.clone()], &mut y[span.clone()]);
            let (mut moved, mut largest, mut turn) = (0f32, 0f32, 0f32);
            for i in 0..k {
                let v = yr[i] - step * (yg[span.start + i] - b[span.start + i]);
                let n = v.signum() * (v.abs() - thresh).max(0.0);
                moved = moved.max((n - cr[i]).abs());
                largest = largest.max(n.abs());
                turn += (yr[i] - n) * (n - cr[i]);
                next[i] = n;
            }
            if turn > 0.0 {
                *sr = 1.0;
                yr.copy_from_slice(&next);
            } else {
                let s_next = (1.0 + (1.0 + 4.0 * *sr * *sr).sqrt()) / 2.0;
                let momentum = ((*sr - 1.0) / s_next) as f32;
                for i in 0..k {
                    yr[i] = next[i] + momentum * (next[i] - cr[i]);
                }
                *sr = s_next;
            }
            cr.copy_from_slice(&next);
            converged &= f64::from(moved) <= cfg.tol * f64::from(largest.max(1.0));
        }
        if converged {
            return (c, it);
        }
    }
    (c, cfg.max_iter)
}

/// The sparse-coding objective `½‖x − cD‖² + α‖c‖₁`, summed over the samples, and the mean
/// squared reconstruction error per value.
pub fn objective(
    x: &[f32],
    codes: &Codes,
    dict: &[f32],
    d: usize,
    alpha: f64,
) -> Result<(f64, f64)> {
    let recon = matmul_rows(
        view("codes", &codes.codes, codes.n, codes.k)?,
        view("dictionary", dict, codes.k, d)?,
    );
    let sse: f64 = recon
        .iter()
        .zip(x)
        .map(|(r, v)| f64::from(r - v).powi(2))
        .sum();
    let l1: f64 = codes.codes.iter().map(|c| f64::from(c.abs())).sum();
    Ok((0.5 * sse + alpha * l1, sse / (codes.n * d).max(1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::digits_rows;

    /// 16 optdigits samples scaled to unit norm: the fixed dictionary of the golden tests.
    fn dictionary() -> Vec<f32> {
        let mut d = digits_rows(1000..1016);
        for atom in d.chunks_mut(64) {
            let norm = atom.iter().map(|v| v * v).sum::<f32>().sqrt();
            atom.iter_mut().for_each(|v| *v /= norm);
        }
        d
    }

    // Golden codes from scikit-learn 1.9.1, run from the repository root:
    //
    // import numpy as np
    // from sklearn.decomposition import sparse_encode
    // X = np.loadtxt("crates/tlkit/data/optdigits.tes.gz", delimiter=",")[:, :64] / 16.0
    // D = X[1000:1016] / np.linalg.norm(X[1000:1016], axis=1, keepdims=True)
    // print(sparse_encode(X[:8], D, algorithm="lasso_lars", alpha=0.2))   # LARS_02
    // print(sparse_encode(X[:8], D, algorithm="lasso_cd", alpha=0.2))     # CD_02
    // print(sparse_encode(X[:8], D, algorithm="lasso_lars", alpha=1.0))   # LARS_1
    const LARS_02: [f32; 128] = [
        0.0, 0.0, 2.68001, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.386587, 0.0, 0.0, 0.238736, 0.0, 0.0,
        0.0, 0.962879, 0.371503, -0.0831715, 0.254731, 0.0, 0.0, 0.0, 0.0, 0.272431, 0.0, 0.0,
        0.91293, 0.0, 0.840464, 0.463154, 0.0, 0.979703, 0.175232, 0.0, 0.0, 0.247845, 0.0, 0.0,
        0.0, 0.0, 0.526112, 0.0, 0.617342, 0.0, 0.719114, 0.172073, 0.456634, 0.601985, 0.114448,
        0.0, 0.817456, 1.38427, 0.0, 0.15924, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.224597,
        0.0, 0.94532, 0.0, 0.0, 0.13344, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.99937, 0.0, 0.0, 0.0, 0.0,
        0.034771, 0.0, 0.0, 0.820172, 1.10552, 0.0, 0.724365, 0.0, 0.864184, 0.0, 0.00454895, 0.0,
        0.520892, 0.0637128, 0.0, 0.0, 0.339647, 0.0, 0.0, 0.0, 0.0, 1.14393, 0.0, 0.193184,
        0.792105, 0.0701499, 0.0, 1.29959, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.199465, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.37653, 0.0, 0.0, 0.0, 2.36615, 0.0, 0.0,
    ];
    const CD_02: [f32; 128] = [
        0.0, 0.0, 2.68001, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.386587, 0.0, 0.0, 0.238736, 0.0, 0.0,
        -0.0, 0.962879, 0.371503, -0.0831716, 0.254731, 0.0, -0.0, 0.0, -0.0, 0.272431, 0.0, -0.0,
        0.91293, 0.0, 0.840464, 0.463154, 0.0, 0.979703, 0.175232, 0.0, -0.0, 0.247845, 0.0, -0.0,
        0.0, 0.0, 0.526112, -0.0, 0.617342, -0.0, 0.719114, 0.172073, 0.456634, 0.601985, 0.114448,
        -0.0, 0.817456, 1.38427, -0.0, 0.15924, -0.0, 0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.224597,
        0.0, 0.94532, 0.0, 0.0, 0.13344, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.99937, 0.0, 0.0, -0.0,
        0.0, 0.034771, 0.0, 0.0, 0.820172, 1.10552, -0.0, 0.724365, 0.0, 0.864184, 0.0, 0.00454902,
        0.0, 0.520892, 0.0637128, 0.0, 0.0, 0.339647, 0.0, 0.0, 0.0, 0.0, 1.14393, -0.0, 0.193184,
        0.792105, 0.0701499, 0.0, 1.29959, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, 0.199465, 0.0,
        -0.0, 0.0, -0.0, 0.0, 0.37653, 0.0, 0.0, 0.0, 2.36615, 0.0, 0.0,
    ];
    const LARS_1: [f32; 128] = [
        0.0, 0.0, 2.2803, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0127505, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.662036, 0.0, 0.0, 0.0246226, 0.0, 0.0, 0.0, 0.0, 0.417988, 0.0, 0.0, 0.883604, 0.0,
        0.630489, 0.171445, 0.0, 0.701663, 0.0, 0.0, 0.0, 0.0479292, 0.0, 0.0, 0.0, 0.0, 0.520527,
        0.0, 0.445699, 0.0, 0.424952, 0.0, 0.560501, 0.235789, 0.0, 0.0, 0.55468, 1.26923, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.170215, 0.0, 0.570333, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 1.6288, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.772353, 0.866095,
        0.0, 0.492245, 0.0, 0.634717, 0.0, 0.0910415, 0.0, 0.161665, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.811592, 0.0, 0.240276, 0.729439, 0.0, 0.0, 0.954966, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.048545, 0.0, 0.0, 0.0, 2.0153, 0.0, 0.0,
    ];

    fn assert_codes(got: &Codes, want: &[f32], tol: f32) {
        assert_eq!(got.codes.len(), want.len());
        for (i, (a, b)) in got.codes.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() < tol,
                "sample {}, atom {}: {a} vs scikit-learn {b}",
                i / 16,
                i % 16
            );
            // The same support: a zero of scikit-learn's is a zero here.
            assert_eq!(
                *b == 0.0,
                *a == 0.0,
                "sample {}, atom {}: {a} vs {b}",
                i / 16,
                i % 16
            );
        }
    }

    #[test]
    fn codes_match_scikit_learn_lasso_lars_and_lasso_cd() {
        let (x, d) = (digits_rows(0..8), dictionary());
        let c = encode(&x, 8, &d, 16, 64, &FistaConfig::new(0.2)).unwrap();
        assert!(c.iterations < 1000, "did not converge: {}", c.iterations);
        assert_codes(&c, &LARS_02, 1e-4);
        assert_codes(&c, &CD_02, 1e-4);
        let c = encode(&x, 8, &d, 16, 64, &FistaConfig::new(1.0)).unwrap();
        assert_codes(&c, &LARS_1, 1e-4);
        assert!(c.sparsity() > 0.7, "{}", c.sparsity());
    }

    #[test]
    fn batches_give_the_codes_of_one_sample_at_a_time() {
        let d = dictionary();
        let n = BATCH + 3;
        let x: Vec<f32> = digits_rows(0..1797)
            .into_iter()
            .cycle()
            .take(n * 64)
            .collect();
        let cfg = FistaConfig::new(0.5);
        let all = encode(&x, n, &d, 16, 64, &cfg).unwrap();
        for i in [0, 17, BATCH - 1, BATCH, n - 1] {
            let one = encode(&x[i * 64..(i + 1) * 64], 1, &d, 16, 64, &cfg).unwrap();
            for (a, b) in one.codes.iter().zip(&all.codes[i * 16..(i + 1) * 16]) {
                assert!((a - b).abs() < 1e-4, "sample {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn a_larger_alpha_gives_sparser_codes_and_a_larger_error() {
        let (x, d) = (digits_rows(0..200), dictionary());
        let mut last = (0.0, 0.0);
        for alpha in [0.05, 0.3, 2.0] {
            let c = encode(&x, 200, &d, 16, 64, &FistaConfig::new(alpha)).unwrap();
            let (_, mse) = objective(&x, &c, &d, 64, alpha).unwrap();
            assert!(c.sparsity() > last.0 && mse > last.1, "alpha {alpha}");
            last = (c.sparsity(), mse);
        }
    }

    #[test]
    fn bad_input_names_the_value() {
        let (x, d) = (digits_rows(0..2), dictionary());
        for alpha in [0.0, -1.0, f64::NAN] {
            let e = encode(&x, 2, &d, 16, 64, &FistaConfig::new(alpha)).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("alpha = {alpha}")),
                "{e}"
            );
        }
        let e = encode(&x, 2, &d[..16 * 63], 16, 64, &FistaConfig::new(1.0)).unwrap_err();
        assert!(e.to_string().contains("dictionary atom size = 63"), "{e}");
        let zeros = vec![0f32; 16 * 64];
        let e = encode(&x, 2, &zeros, 16, 64, &FistaConfig::new(1.0)).unwrap_err();
        assert!(e.to_string().contains("all zero"), "{e}");
    }
}
