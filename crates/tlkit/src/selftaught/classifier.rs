//! Linear classifiers on learned features: multinomial logistic regression and a linear SVM,
//! both with an L2 penalty, fitted by full-batch L-BFGS (Liu & Nocedal 1989, "On the limited
//! memory BFGS method for large scale optimization", Math. Programming 45,
//! <https://doi.org/10.1007/BF01589116>).
//!
//! With scores `s_i = W x_i + b` over `C` classes and `n` labeled samples, the objectives are
//!
//! ```text
//! logistic:  (1/n) Σ_i −log softmax(s_i)[y_i]                 + (λ/2)‖W‖²
//! svm:       (1/n) Σ_i Σ_c max(0, 1 − t_ic s_ic)²             + (λ/2)‖W‖²,  t_ic = ±1 (c = y_i)
//! ```
//!
//! # Our conventions
//! - The logistic objective is UFLDL's softmax regression (`softmaxCost`: mean cross-entropy
//!   plus `λ/2 ‖θ‖²`), so the exercise's λ = 1e-4 means the same here.
//! - The SVM is one-vs-rest with the squared hinge, scikit-learn's `LinearSVC` default
//!   (`loss="squared_hinge"`, `multi_class="ovr"`): it is differentiable, so L-BFGS converges
//!   on it, where the plain hinge (or Crammer-Singer's) needs a dual or subgradient solver.
//!   `LinearSVC(C)` minimises `½‖w‖² + C Σ_i max(0, 1 − t_i w·x_i)²` per class; dividing by
//!   `nC` gives ours with `λ = 1/(nC)` (LinearSVC also penalises its intercept; we do not).
//! - The bias is not penalised. Features are standardised with the mean and standard deviation
//!   of the labeled training samples ([`Standardizer`]) before fitting, as they will be
//!   before predicting; a constant feature is only centred.

use serde::{Deserialize, Serialize};

use faer::{Accum, MatMut, MatRef};

use crate::data::Dataset;
use crate::{Error, Result};

/// Which loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassifierKind {
    /// Multinomial logistic (softmax) regression.
    #[default]
    Logistic,
    /// Linear SVM, one-vs-rest squared hinge.
    Svm,
}

/// A linear classifier and its fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    #[serde(default)]
    pub kind: ClassifierKind,
    /// The L2 weight λ on `W` (see the module docs), ≥ 0.
    #[serde(default = "default_l2")]
    pub l2: f64,
    /// Most L-BFGS iterations.
    #[serde(default = "default_max_iter")]
    pub max_iter: usize,
    /// Stop when the largest gradient entry is below this.
    #[serde(default = "default_tol")]
    pub tol: f64,
}

fn default_l2() -> f64 {
    1e-4
}

fn default_max_iter() -> usize {
    400
}

fn default_tol() -> f64 {
    1e-5
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            kind: ClassifierKind::Logistic,
            l2: default_l2(),
            max_iter: default_max_iter(),
            tol: default_tol(),
        }
    }
}

impl ClassifierConfig {
    /// Checks the fields; errors name them as `classifier.<field>`.
    pub fn validate(&self) -> Result<()> {
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return Err(Error::invalid(
                "classifier.l2",
                self.l2,
                "must be a finite number ≥ 0",
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid(
                "classifier.max_iter",
                0,
                "must be at least 1",
            ));
        }
        if self.tol.is_nan() || self.tol <= 0.0 {
            return Err(Error::invalid("classifier.tol", self.tol, "must be > 0"));
        }
        Ok(())
    }
}

/// Per-feature mean and scale of the labeled training samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    /// `1/σ`, or 1 for a constant feature.
    pub inv_std: Vec<f64>,
}

impl Standardizer {
    /// The statistics of `n` rows of `d` values.
    pub fn fit(x: &[f32], n: usize, d: usize) -> Self {
        let mut mean = vec![0f64; d];
        for row in x.chunks_exact(d) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let mut var = vec![0f64; d];
        for row in x.chunks_exact(d) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let inv_std = var
            .iter()
            .map(|v| {
                let s = (v / n.max(1) as f64).sqrt();
                if s > 1e-12 { 1.0 / s } else { 1.0 }
            })
            .collect();
        Standardizer { mean, inv_std }
    }

    /// `x` standardised, as `f64`, row-major.
    pub fn apply(&self, x: &[f32]) -> Vec<f64> {
        let d = self.mean.len();
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks_exact(d) {
            for ((&v, m), s) in row.iter().zip(&self.mean).zip(&self.inv_std) {
                out.push((f64::from(v) - m) * s);
            }
        }
        out
    }
}

/// A fitted linear classifier.
#[derive(Debug, Clone)]
pub struct LinearClassifier {
    pub scaler: Standardizer,
    /// Row-major `C × D`.
    pub weight: Vec<f64>,
    pub bias: Vec<f64>,
    pub classes: usize,
    /// L-BFGS iterations taken, and the final objective.
    pub iterations: usize,
    pub objective: f64,
}

/// The objective and its gradient at `W`, `b` (see the module docs).
///
/// # Shapes
/// `x`: `[n, d]` row-major; `y`: `[n]`; `weight`: `[c, d]`; `bias`: `[c]`; the gradient is
/// `[c·d + c]` (`∂W` row-major, then `∂b`).
pub fn loss_and_grad(
    kind: ClassifierKind,
    l2: f64,
    x: &[f64],
    y: &[u32],
    weight: &[f64],
    bias: &[f64],
) -> (f64, Vec<f64>) {
    let (n, c) = (y.len(), bias.len());
    let d = weight.len() / c.max(1);
    let xm = MatRef::from_row_major_slice(x, n, d);
    let wm = MatRef::from_row_major_slice(weight, c, d);
    let mut s = vec![0f64; n * c];
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(&mut s, n, c),
        Accum::Replace,
        xm,
        wm.transpose(),
        1.0,
        faer::Par::Seq,
    );
    // `r` becomes ∂loss/∂scores (times n), row by row.
    let mut loss = 0.0;
    for (row, &yi) in s.chunks_exact_mut(c).zip(y) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        let yi = yi as usize;
        match kind {
            ClassifierKind::Logistic => {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
                let lse = max + sum.ln();
                loss += lse - row[yi];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = (*v - lse).exp() - f64::from(u8::from(j == yi));
                }
            }
            ClassifierKind::Svm => {
                for (j, v) in row.iter_mut().enumerate() {
                    let t = if j == yi { 1.0 } else { -1.0 };
                    let margin = 1.0 - t * *v;
                    if margin > 0.0 {
                        loss += margin * margin;
                        *v = -2.0 * t * margin;
                    } else {
                        *v = 0.0;
                    }
                }
            }
        }
    }
    let inv_n = 1.0 / n.max(1) as f64;
    let mut grad = vec![0f64; c * d + c];
    let (gw, gb) = grad.split_at_mut(c * d);
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(gw, c, d),
        Accum::Replace,
        MatRef::from_row_major_slice(&s, n, c).transpose(),
        xm,
        inv_n,
        faer::Par::Seq,
    );
    for (g, w) in gw.iter_mut().zip(weight) {
        *g += l2 * w;
    }
    for row in s.chunks_exact(c) {
        gb.iter_mut().zip(row).for_each(|(g, r)| *g += r * inv_n);
    }
    let penalty = 0.5 * l2 * weight.iter().map(|w| w * w).sum::<f64>();
    (loss * inv_n + penalty, grad)
}

impl LinearClassifier {
    /// Fits the classifier to the labeled `train` samples (flat features).
    ///
    /// # Errors
    /// [`Error::Invalid`] for no samples, unlabeled samples or a bad config.
    pub fn fit(train: &Dataset, cfg: &ClassifierConfig) -> Result<Self> {
        cfg.validate()?;
        let (n, d, c) = (train.len(), train.sample_width(), train.num_classes);
        if n == 0 || train.y.len() != n || c < 2 {
            return Err(Error::invalid(
                format!("labeled samples of `{}`", train.name),
                format!("{n} samples, {c} classes"),
                "a classifier needs labeled samples of at least two classes",
            ));
        }
        let scaler = Standardizer::fit(&train.x, n, d);
        let x = scaler.apply(&train.x);
        let f = |theta: &[f64]| {
            let (w, b) = theta.split_at(c * d);
            loss_and_grad(cfg.kind, cfg.l2, &x, &train.y, w, b)
        };
        let (theta, iterations, objective) = lbfgs(f, vec![0f64; c * d + c], cfg.max_iter, cfg.tol);
        let (w, b) = theta.split_at(c * d);
        Ok(LinearClassifier {
            scaler,
            weight: w.to_vec(),
            bias: b.to_vec(),
            classes: c,
            iterations,
            objective,
        })
    }

    /// The predicted class of every sample of `data`.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<u32>> {
        let d = self.scaler.mean.len();
        if data.sample_width() != d {
            return Err(Error::invalid(
                format!("features of `{}`", data.name),
                data.sample_width(),
                format!("the classifier was fitted on {d} features per sample"),
            ));
        }
        let x = self.scaler.apply(&data.x);
        Ok(x.chunks_exact(d)
            .map(|row| {
                let score = |k: usize| {
                    let w = &self.weight[k * d..(k + 1) * d];
                    self.bias[k] + w.iter().zip(row).map(|(a, b)| a * b).sum::<f64>()
                };
                (0..self.classes)
                    .map(|k| (k, score(k)))
                    .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a })
                    .0 as u32
            })
            .collect())
    }

    /// The fraction of `data` classified correctly.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        let p = self.predict(data)?;
        let right = p.iter().zip(&data.y).filter(|(a, b)| a == b).count();
        Ok(right as f64 / data.len().max(1) as f64)
    }
}

/// Minimises a smooth `f` (value and gradient) from `x0` by L-BFGS with 10 pairs of memory
/// and a backtracking (Armijo) line search. Returns the point, the iterations taken and the
/// value there.
fn lbfgs(
    f: impl Fn(&[f64]) -> (f64, Vec<f64>),
    x0: Vec<f64>,
    max_iter: usize,
    tol: f64,
) -> (Vec<f64>, usize, f64) {
    const MEMORY: usize = 10;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut x = x0;
    let (mut fx, mut g) = f(&x);
    let mut pairs: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    for it in 0..max_iter {
        if g.iter().fold(0f64, |m, v| m.max(v.abs())) < tol {
            return (x, it, fx);
        }
        // Two-loop recursion: p = −H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(pairs.len());
        for (s, y, rho) in pairs.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        let gamma = pairs
            .back()
            .map(|(s, y, _)| dot(s, y) / dot(y, y))
            .unwrap_or_else(|| 1.0 / dot(&g, &g).sqrt().max(1.0));
        q.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut dir: Vec<f64> = q.into_iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (should not happen on a convex objective): restart.
            pairs.clear();
            dir = g.iter().map(|v| -v).collect();
            slope = -dot(&g, &g);
        }
        let mut step = 1.0;
        let (mut x_new, mut f_new, mut g_new);
        loop {
            x_new = x
                .iter()
                .zip(&dir)
                .map(|(a, b)| a + step * b)
                .collect::<Vec<_>>();
            (f_new, g_new) = f(&x_new);
            if f_new <= fx + 1e-4 * step * slope || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        if f_new >= fx && step < 1e-12 {
            return (x, it, fx);
        }
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            if pairs.len() == MEMORY {
                pairs.pop_front();
            }
            pairs.push_back((s, y, 1.0 / sy));
        }
        let converged = (fx - f_new).abs() <= 1e-12 * fx.abs().max(1.0);
        x = x_new;
        fx = f_new;
        g = g_new;
        if converged {
            return (x, it + 1, fx);
        }
    }
    (x, max_iter, fx)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden values from PyTorch 2.15 (float64, autograd):
    //
    // ```python
    // import torch
    // x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-0.75, 1.0, 0.0],
    //                   [0.0, -2.0, 1.0]], dtype=torch.float64)
    // y = torch.tensor([0, 2, 1, 2])
    // W = torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.4, -0.1], [-0.3, 0.2, 0.2]],
    //                  dtype=torch.float64, requires_grad=True)
    // b = torch.tensor([0.05, -0.1, 0.2], dtype=torch.float64, requires_grad=True)
    // lam = 0.3
    // for kind in ["logistic", "svm"]:
    //     s = x @ W.T + b
    //     if kind == "logistic":
    //         data = torch.nn.functional.cross_entropy(s, y)
    //     else:
    //         t = -torch.ones_like(s); t[torch.arange(4), y] = 1.0
    //         data = (torch.clamp(1 - t * s, min=0) ** 2).sum(1).mean()
    //     loss = data + lam / 2 * (W ** 2).sum()
    //     gW, gb = torch.autograd.grad(loss, [W, b])
    //     print(kind, loss.item(), gW.flatten().tolist() + gb.tolist())
    // ```
    const X: [f64; 12] = [
        0.5, -1.0, 2.0, 1.5, 0.25, -0.5, -0.75, 1.0, 0.0, 0.0, -2.0, 1.0,
    ];
    const Y: [u32; 4] = [0, 2, 1, 2];
    const W: [f64; 9] = [0.1, -0.2, 0.3, 0.0, 0.4, -0.1, -0.3, 0.2, 0.2];
    const B: [f64; 3] = [0.05, -0.1, 0.2];

    fn check(kind: ClassifierKind, loss: f64, grad: &[f64]) {
        let (l, g) = loss_and_grad(kind, 0.3, &X, &Y, &W, &B);
        assert!((l - loss).abs() < 1e-12, "{kind:?}: loss {l} vs {loss}");
        for (i, (a, b)) in g.iter().zip(grad).enumerate() {
            assert!((a - b).abs() < 1e-12, "{kind:?}: grad[{i}] {a} vs {b}");
        }
    }

    #[test]
    fn logistic_loss_and_gradient_match_pytorch() {
        check(ClassifierKind::Logistic, LOGISTIC_LOSS, &LOGISTIC_GRAD);
    }

    #[test]
    fn svm_loss_and_gradient_match_pytorch() {
        check(ClassifierKind::Svm, SVM_LOSS, &SVM_GRAD);
    }

    // The printed values.
    const LOGISTIC_LOSS: f64 = 1.124569581827916;
    const LOGISTIC_GRAD: [f64; 12] = [
        0.07454069315468356,
        -0.18667182032907115,
        -0.012866041180208287,
        0.2803205047306972,
        -0.1045111293525034,
        0.007883036564565092,
        -0.4148611978853808,
        0.4111829496815745,
        0.12498300461564324,
        0.18612627315189348,
        -0.01618407280061559,
        -0.16994220035127788,
    ];
    const SVM_LOSS: f64 = 3.3841875;
    const SVM_GRAD: [f64; 12] = [
        0.464375, -1.2475, 0.615, 1.125, -0.24875, 0.0075, -1.361875, 1.085, 1.135, 1.7125, 0.325,
        0.2875,
    ];

    #[test]
    fn both_classifiers_separate_the_embedded_digits() {
        let s = crate::data::optdigits_embedded().unwrap();
        for kind in [ClassifierKind::Logistic, ClassifierKind::Svm] {
            let cfg = ClassifierConfig {
                kind,
                ..ClassifierConfig::default()
            };
            let clf = LinearClassifier::fit(&s.train, &cfg).unwrap();
            let acc = clf.accuracy(&s.test).unwrap();
            assert!(acc > 0.9, "{kind:?}: {acc}");
            assert!(clf.iterations > 5, "{kind:?}: {}", clf.iterations);
            // The fit is a minimum: the gradient there is small.
            let x = clf.scaler.apply(&s.train.x);
            let (_, g) = loss_and_grad(kind, cfg.l2, &x, &s.train.y, &clf.weight, &clf.bias);
            let gmax = g.iter().fold(0f64, |m, v| m.max(v.abs()));
            assert!(gmax < 1e-3, "{kind:?}: {gmax}");
        }
        let bad = ClassifierConfig {
            l2: -1.0,
            ..ClassifierConfig::default()
        };
        let e = LinearClassifier::fit(&s.train, &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("classifier.l2"), "{e}");
    }
}
