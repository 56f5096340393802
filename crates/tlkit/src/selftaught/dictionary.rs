//! Dictionary learning by online (mini-batch) block-coordinate descent.
//!
//! Mairal, Bach, Ponce & Sapiro 2009, "Online Dictionary Learning for Sparse Coding", ICML.
//! <https://doi.org/10.1145/1553374.1553463>
//!
//! The dictionary `D` (`k` unit-norm atoms as rows) minimises the sparse-coding objective of
//! [`fista`](super::fista) over the unlabeled samples,
//!
//! ```text
//! min_{D, C}  Σ_i ½‖x_i − c_i D‖² + α‖c_i‖₁,   ‖d_j‖ = 1,
//! ```
//!
//! alternating, per mini-batch `X_t` of `η` samples:
//! 1. codes `C_t` of the batch by FISTA with the current `D` (the recorded error is this
//!    batch's, before `D` moves: a fair estimate of the error on unseen samples);
//! 2. the sufficient statistics `A ← βA + C_tᵀC_t/η` (`k × k`), `B ← βB + C_tᵀX_t/η`
//!    (`k × d`), with the paper's mini-batch forgetting factor (section 3.4.3):
//!    `β = (θ + 1 − η)/(θ + 1)`, `θ = tη` for `t < η`, `θ = η² + t − η` after;
//! 3. one sweep of block-coordinate descent over the atoms (the paper's Algorithm 2):
//!    `d_j ← d_j + (b_j − Σ_i A_ji d_i)/A_jj`, then `d_j ← d_j/‖d_j‖`.
//!
//! # Our conventions
//! - Atoms are kept at unit norm exactly (the paper projects onto the unit ball, `‖d_j‖ ≤ 1`;
//!   with an L1 penalty on the codes the optimum has `‖d_j‖ = 1` anyway, and unit atoms make
//!   α mean the same for every atom).
//! - An atom no code has used (`A_jj ≈ 0`), or that shrinks to zero, is replaced by a sample
//!   of the current batch, scaled to unit norm (scikit-learn's `_update_dict` does the same).
//! - The dictionary starts from `k` distinct random samples scaled to unit norm (the seed
//!   chooses them; a zero sample is replaced by random Gaussian values).
//! - α is the `alpha` of scikit-learn's `DictionaryLearning` and `sparse_encode`
//!   (see [`fista`](super::fista)).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::fista::{self, Codes, FistaConfig};
use crate::linalg::{matmul_rows, view};
use crate::{Error, Result};

/// How to learn a dictionary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DictionaryConfig {
    /// Number of atoms `k`, at most the number of samples (they start as samples).
    pub atoms: usize,
    /// The L1 weight α, > 0.
    pub alpha: f64,
    /// Samples per mini-batch `η`.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Mini-batches (dictionary updates).
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Most FISTA steps per batch's codes while learning.
    #[serde(default = "default_code_iter")]
    pub code_max_iter: usize,
    #[serde(default)]
    pub seed: u64,
}

fn default_batch_size() -> usize {
    256
}

fn default_iterations() -> usize {
    100
}

fn default_code_iter() -> usize {
    200
}

impl DictionaryConfig {
    /// `atoms` atoms with weight `alpha`, other fields at their defaults.
    pub fn new(atoms: usize, alpha: f64) -> Self {
        Self {
            atoms,
            alpha,
            batch_size: default_batch_size(),
            iterations: default_iterations(),
            code_max_iter: default_code_iter(),
            seed: 0,
        }
    }

    /// The FISTA settings used while learning.
    pub fn fista(&self) -> FistaConfig {
        FistaConfig {
            alpha: self.alpha,
            max_iter: self.code_max_iter,
            tol: 1e-4,
        }
    }
}

/// A learned dictionary: `k` unit-norm atoms of `d` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Dictionary {
    /// Row-major `k × d`.
    pub atoms: Vec<f32>,
    pub k: usize,
    pub d: usize,
}

impl Dictionary {
    /// Sparse codes of `n` samples (see [`fista::encode`]).
    ///
    /// # Shapes
    /// `[n, d]` → `[n, k]`.
    pub fn encode(&self, x: &[f32], n: usize, cfg: &FistaConfig) -> Result<Codes> {
        fista::encode(x, n, &self.atoms, self.k, self.d, cfg)
    }
}

/// One dictionary update, measured on its mini-batch before the update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterRecord {
    /// 1-based.
    pub iteration: usize,
    /// `(½‖x − cD‖² + α‖c‖₁)` per sample.
    pub objective: f64,
    /// Mean squared reconstruction error per value.
    pub mse: f64,
    /// Fraction of zero codes.
    pub sparsity: f64,
}

/// A learned dictionary and its history.
#[derive(Debug, Clone)]
pub struct Learned {
    pub dictionary: Dictionary,
    pub history: Vec<IterRecord>,
}

/// Learns a dictionary from `n` unlabeled samples `x` (`n × d`).
///
/// # Errors
/// [`Error::Invalid`] for an empty set, `atoms` of 0 or above the number of samples, α ≤ 0,
/// a batch size or iteration count of 0, or data that is not `n × d`.
pub fn learn(x: &[f32], n: usize, d: usize, cfg: &DictionaryConfig) -> Result<Learned> {
    view("unlabeled samples", x, n, d)?;
    if n == 0 {
        return Err(Error::invalid(
            "unlabeled samples",
            0,
            "the unlabeled set is empty; dictionary learning needs samples",
        ));
    }
    cfg.fista().validate()?;
    let k = cfg.atoms;
    if k == 0 || k > n {
        return Err(Error::invalid(
            "atoms",
            k,
            format!(
                "must be between 1 and the number of unlabeled samples ({n}), which the atoms start from"
            ),
        ));
    }
    for (field, v) in [
        ("batch_size", cfg.batch_size),
        ("iterations", cfg.iterations),
    ] {
        if v == 0 {
            return Err(Error::invalid(field, 0, "must be at least 1"));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut atoms = Vec::with_capacity(k * d);
    for &i in &order[..k] {
        atoms.extend_from_slice(&x[i * d..(i + 1) * d]);
    }
    for atom in atoms.chunks_mut(d) {
        if !normalize(atom) {
            atom.iter_mut()
                .for_each(|v| *v = rng.random_range(-1.0..1.0));
            normalize(atom);
        }
    }
    let eta = cfg.batch_size.min(n);
    let mut a = vec![0f32; k * k];
    let mut b = vec![0f32; k * d];
    let mut history = Vec::with_capacity(cfg.iterations);
    let fista_cfg = cfg.fista();
    // The first batches skip the samples the atoms started from: coded by themselves, they
    // would make the first recorded errors look far better than the dictionary is.
    let mut next = k;
    for t in 0..cfg.iterations {
        // Mini-batches walk through a reshuffled order, one epoch after another.
        if next + eta > n {
            order.shuffle(&mut rng);
            next = 0;
        }
        let batch: Vec<f32> = order[next..next + eta]
            .iter()
            .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
            .collect();
        next += eta;
        let codes = fista::encode(&batch, eta, &atoms, k, d, &fista_cfg)?;
        let (obj, mse) = fista::objective(&batch, &codes, &atoms, d, cfg.alpha)?;
        history.push(IterRecord {
            iteration: t + 1,
            objective: obj / eta as f64,
            mse,
            sparsity: codes.sparsity(),
        });
        let theta = if t < eta {
            ((t + 1) * eta) as f64
        } else {
            (eta * eta + t + 1 - eta) as f64
        };
        let beta = ((theta + 1.0 - eta as f64) / (theta + 1.0)) as f32;
        let c = view("codes", &codes.codes, eta, k)?;
        let ctc = matmul_rows(c.transpose(), c);
        let ctx = matmul_rows(c.transpose(), view("batch", &batch, eta, d)?);
        let scale = 1.0 / eta as f32;
        for (s, n) in a.iter_mut().zip(&ctc) {
            *s = beta * *s + scale * n;
        }
        for (s, n) in b.iter_mut().zip(&ctx) {
            *s = beta * *s + scale * n;
        }
        update_atoms(&mut atoms, &a, &b, k, d, &batch, &mut rng);
    }
    Ok(Learned {
        dictionary: Dictionary { atoms, k, d },
        history,
    })
}

/// Scales `v` to unit norm; false (and `v` untouched) when it is zero.
fn normalize(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-10 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
        true
    } else {
        false
    }
}

/// One block-coordinate sweep over the atoms (Mairal et al.'s Algorithm 2), each kept at
/// unit norm; an unused atom is replaced by a random sample of `batch`.
fn update_atoms(
    atoms: &mut [f32],
    a: &[f32],
    b: &[f32],
    k: usize,
    d: usize,
    batch: &[f32],
    rng: &mut ChaCha8Rng,
) {
    let mut u = vec![0f32; d];
    let rows = batch.len() / d;
    for j in 0..k {
        let ajj = a[j * k + j];
        let mut ok = ajj > 1e-10;
        if ok {
            u.copy_from_slice(&b[j * d..(j + 1) * d]);
            // u = b_j − Σ_i A_ji d_i, over the atoms as they are now (updated ones included).
            for i in 0..k {
                let w = a[j * k + i];
                if w != 0.0 {
                    for (u, v) in u.iter_mut().zip(&atoms[i * d..(i + 1) * d]) {
                        *u -= w * v;
                    }
                }
            }
            for (u, v) in u.iter_mut().zip(&atoms[j * d..(j + 1) * d]) {
                *u = v + *u / ajj;
            }
            ok = normalize(&mut u);
        }
        if !ok {
            let r = rng.random_range(0..rows);
            u.copy_from_slice(&batch[r * d..(r + 1) * d]);
            if !normalize(&mut u) {
                u.iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
                normalize(&mut u);
            }
        }
        atoms[j * d..(j + 1) * d].copy_from_slice(&u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::optdigits_embedded;

    fn cfg(iterations: usize, seed: u64) -> DictionaryConfig {
        DictionaryConfig {
            batch_size: 64,
            iterations,
            seed,
            ..DictionaryConfig::new(24, 0.1)
        }
    }

    #[test]
    fn learning_lowers_the_objective_on_held_out_digits_and_keeps_unit_atoms() {
        let s = optdigits_embedded().unwrap();
        let (train, test) = (&s.train, &s.test);
        let early = learn(&train.x, train.len(), 64, &cfg(1, 3)).unwrap();
        let late = learn(&train.x, train.len(), 64, &cfg(60, 3)).unwrap();
        assert_eq!(late.history.len(), 60);
        assert_eq!(late.history[0], early.history[0]);
        for atom in late.dictionary.atoms.chunks(64) {
            let norm = atom.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        }
        // Over the run, the error on the batches (not yet seen by the dictionary) falls.
        let mean = |h: &[IterRecord]| h.iter().map(|r| r.objective).sum::<f64>() / h.len() as f64;
        let (first, last) = (mean(&late.history[..5]), mean(&late.history[55..]));
        assert!(last < 0.9 * first, "{first} → {last}");
        let held_out = |d: &Dictionary| {
            let f = FistaConfig::new(0.1);
            let c = d.encode(&test.x, test.len(), &f).unwrap();
            fista::objective(&test.x, &c, &d.atoms, 64, 0.1).unwrap().0
        };
        let (e, l) = (held_out(&early.dictionary), held_out(&late.dictionary));
        assert!(l < 0.9 * e, "held-out objective {e} → {l}");
    }

    #[test]
    fn the_seed_decides_the_dictionary() {
        let x = optdigits_embedded().unwrap().train;
        let a = learn(&x.x, x.len(), 64, &cfg(5, 1)).unwrap();
        let b = learn(&x.x, x.len(), 64, &cfg(5, 1)).unwrap();
        let c = learn(&x.x, x.len(), 64, &cfg(5, 2)).unwrap();
        assert_eq!(a.dictionary, b.dictionary);
        assert_ne!(a.dictionary, c.dictionary);
    }

    #[test]
    fn bad_input_names_the_value() {
        let x = optdigits_embedded().unwrap().train;
        let n = x.len();
        let e = learn(&x.x, n, 64, &DictionaryConfig::new(n + 1, 0.1)).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("atoms = {}", n + 1)),
            "{e}"
        );
        let e = learn(&x.x, n, 64, &DictionaryConfig::new(8, 0.0)).unwrap_err();
        assert!(e.to_string().starts_with("alpha = 0"), "{e}");
        let e = learn(&[], 0, 64, &DictionaryConfig::new(8, 0.1)).unwrap_err();
        assert!(e.to_string().contains("unlabeled set is empty"), "{e}");
        let e = learn(&x.x, n, 60, &DictionaryConfig::new(8, 0.1)).unwrap_err();
        assert!(e.to_string().contains("rows of 60"), "{e}");
    }
}
