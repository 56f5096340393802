//! GradNorm: Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for
//! Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018,
//! <https://arxiv.org/abs/1711.02257>.
//!
//! Learned weights wₜ balance the tasks' gradient norms on the last shared layer W. With
//! Gₜ = ‖∇_W wₜLₜ‖ = wₜ‖∇_W Lₜ‖, Ḡ their mean, L̃ₜ = Lₜ/Lₜ(0) each task's loss relative to
//! its first step and rₜ = L̃ₜ / mean(L̃) its relative inverse training rate,
//!
//! L_grad = Σₜ | Gₜ − Ḡ·rₜ^α |,  with Ḡ·rₜ^α held constant,
//!
//! so ∂L_grad/∂wₜ = sign(Gₜ − Ḡ·rₜ^α)·‖∇_W Lₜ‖. The network is updated with Σₜ wₜ∇Lₜ; then w
//! takes one Adam step on L_grad and is renormalised to Σₜ wₜ = T (the paper's §3.2). A task
//! that trains slowly (large rₜ) gets a larger target norm and so more weight; α sets how
//! hard (α = 1.5, LibMTL's default; the paper uses 0.12 to 3). The weights' Adam step is
//! ours: 0.025 (LibMTL trains them with the network's optimizer).
//!
//! The last shared layer is the last layer in the network's declaration order whose
//! parameters get a gradient from more than one task. Needs each task's gradient: one
//! backward pass per task.

use super::learnable::Learnable;
use crate::Result;
use crate::train::{
    Combined, EpochRecord, GradientStrategy, Grads, WeightingStep, flatten, shared_paths,
    weighted_sum,
};

/// GradNorm's learned weights.
#[derive(Debug, Clone)]
pub struct GradNorm {
    /// The asymmetry α.
    pub alpha: f64,
    /// Adam step size of the weights.
    pub lr: f64,
    weights: Learnable,
    /// Each task's loss at the first step, Lₜ(0).
    initial: Vec<f64>,
}

/// GradNorm's settings in a config (`[settings.gradnorm]`); defaults as [`GradNorm::default`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradNormSettings {
    /// The asymmetry α (the paper's best values lie in 0.12–3; LibMTL's default 1.5).
    #[serde(default = "GradNormSettings::alpha")]
    pub alpha: f64,
    /// Adam step size of the weights.
    #[serde(default = "GradNormSettings::lr")]
    pub lr: f64,
}

impl GradNormSettings {
    fn alpha() -> f64 {
        GradNorm::default().alpha
    }
    fn lr() -> f64 {
        GradNorm::default().lr
    }
}

impl Default for GradNormSettings {
    fn default() -> Self {
        GradNormSettings {
            alpha: Self::alpha(),
            lr: Self::lr(),
        }
    }
}

impl From<GradNormSettings> for GradNorm {
    fn from(s: GradNormSettings) -> Self {
        GradNorm {
            alpha: s.alpha,
            lr: s.lr,
            ..GradNorm::default()
        }
    }
}

impl Default for GradNorm {
    fn default() -> Self {
        GradNorm {
            alpha: 1.5,
            lr: 0.025,
            weights: Learnable::default(),
            initial: vec![],
        }
    }
}

/// The parameters of the last shared layer: the shared paths whose layer (the path without
/// its last component) is that of the last shared path in declaration order.
pub fn last_shared_layer(grads: &[Grads], order: &[String]) -> Vec<String> {
    let shared = shared_paths(grads);
    let layer = |p: &str| {
        p.rsplit_once('.')
            .map_or(String::new(), |(l, _)| l.to_string())
    };
    let last = order
        .iter()
        .rev()
        .find(|p| shared.contains(p))
        .or(shared.last());
    match last {
        Some(last) => {
            let l = layer(last);
            shared.iter().filter(|p| layer(p) == l).cloned().collect()
        }
        None => vec![],
    }
}

/// The gradient of L_grad with respect to the weights, given each task's gradient norm on
/// the last shared layer (of the unweighted loss), the current weights, the losses and the
/// first step's losses.
pub fn gradnorm_grad(
    norms: &[f64],
    weights: &[f64],
    losses: &[f64],
    initial: &[f64],
    alpha: f64,
) -> Vec<f64> {
    let t = norms.len() as f64;
    let ratio: Vec<f64> = losses
        .iter()
        .zip(initial)
        .map(|(l, l0)| l / l0.max(1e-12))
        .collect();
    let mean_ratio = ratio.iter().sum::<f64>() / t;
    let g: Vec<f64> = norms.iter().zip(weights).map(|(n, w)| n * w).collect();
    let mean_g = g.iter().sum::<f64>() / t;
    g.iter()
        .zip(&ratio)
        .zip(norms)
        .map(|((gt, r), n)| {
            let target = mean_g * (r / mean_ratio.max(1e-12)).powf(alpha);
            (gt - target).signum() * n
        })
        .collect()
}

impl GradientStrategy for GradNorm {
    fn name(&self) -> &str {
        "gradnorm"
    }
    fn combine(&mut self, step: &WeightingStep<'_>, grads: Vec<Grads>) -> Result<Combined> {
        let t = grads.len();
        if self.weights.values.len() != t {
            self.weights = Learnable::new(vec![1.0; t]);
        }
        if self.initial.len() != t {
            self.initial = step.losses.to_vec();
        }
        let layer = last_shared_layer(&grads, step.order);
        let norms: Vec<f64> = flatten(&grads, &layer)
            .iter()
            .map(|g| g.iter().map(|x| x * x).sum::<f64>().sqrt())
            .collect();
        let used = self.weights.values.clone();
        let grad = gradnorm_grad(&norms, &used, step.losses, &self.initial, self.alpha);
        self.weights.step(&grad, self.lr);
        let w = &mut self.weights.values;
        for x in w.iter_mut() {
            *x = x.max(1e-6);
        }
        let sum: f64 = w.iter().sum();
        for x in w.iter_mut() {
            *x *= t as f64 / sum;
        }
        Ok(Combined {
            grads: weighted_sum(grads, &used),
            weights: used,
        })
    }
    fn state(&self) -> Vec<Vec<f64>> {
        let extra: Vec<Vec<f64>> = self.initial.iter().map(|l| vec![*l]).collect();
        self.weights.state(&extra)
    }
    fn restore(&mut self, state: &[Vec<f64>], _history: &[EpochRecord]) -> Result<()> {
        if let Some((w, extra)) = Learnable::restore(state) {
            self.weights = w;
            self.initial = extra.iter().filter_map(|e| e.first().copied()).collect();
        }
        Ok(())
    }
}
