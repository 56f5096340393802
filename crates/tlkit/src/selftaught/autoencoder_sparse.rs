//! The penalties of a sparse autoencoder, as loss terms of the common trainer: the KL sparsity
//! penalty of the UFLDL tutorial (Ng, "Sparse autoencoder", CS294A lecture notes, 2011,
//! <https://web.stanford.edu/class/cs294a/sparseAutoencoder_2011new.pdf>, section 2.2), an L1
//! penalty on the codes instead, and weight decay on the weights.
//!
//! With ρ̂_j = (1/m) Σ_i h_j(x_i) the mean activation of hidden unit j over the batch:
//!
//! - KL: β · Σ_j KL(ρ ‖ ρ̂_j), KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂)), which
//!   needs activations in (0, 1) (a sigmoid); ρ̂ is kept in [1e-6, 1 − 1e-6] so that a unit
//!   saturated in a whole batch gives a finite penalty (and no gradient);
//! - L1: β · (1/m) Σ_i Σ_j |h_j(x_i)|, for any activation;
//! - weight decay: λ/2 · Σ_W ‖W‖² over the weights of linear and convolution layers (not the
//!   biases), the tutorial's λ/2 · Σ W² term.
//!
//! The tutorial computes ρ̂ over the whole training set (full-batch L-BFGS); with mini-batches,
//! as here, ρ̂ is the mean over each batch, so batches of a few hundred samples keep it close.

use crate::backend::Tensor;
use crate::nn::{Network, ParamRole};
use crate::train::{LossTerm, StepContext};
use crate::{Error, Result};

use serde::{Deserialize, Serialize};

/// Which sparsity penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SparsityPenalty {
    /// β · Σ_j KL(ρ ‖ ρ̂_j) on the mean activations (UFLDL); needs a sigmoid code.
    #[default]
    Kl,
    /// β · mean over samples of ‖h‖₁.
    L1,
}

/// Keeps ρ̂ off 0 and 1, where the KL divergence is infinite.
const RHO_HAT_EPS: f32 = 1e-6;

/// β · Σ_j KL(ρ ‖ ρ̂_j), ρ̂ the column means of `h`.
///
/// # Shapes
/// - h: `[batch, hidden]`, values in (0, 1)
/// - output: `[1]`
pub fn kl_sparsity(h: Tensor<2>, rho: f64, beta: f64) -> Tensor<1> {
    let [_, k] = h.dims();
    let rho_hat = h
        .mean_dim(0)
        .reshape([k])
        .clamp(RHO_HAT_EPS, 1.0 - RHO_HAT_EPS);
    // KL = ρ log ρ + (1−ρ) log(1−ρ) − ρ log ρ̂ − (1−ρ) log(1−ρ̂): a constant and two logs.
    let constant = rho * rho.ln() + (1.0 - rho) * (1.0 - rho).ln();
    let cross = rho_hat.clone().log().mul_scalar(rho)
        + rho_hat.neg().add_scalar(1.0).log().mul_scalar(1.0 - rho);
    cross.neg().add_scalar(constant).sum().mul_scalar(beta)
}

/// β · (1/batch) Σ |h|.
///
/// # Shapes
/// - h: `[batch, hidden]`
/// - output: `[1]`
pub fn l1_sparsity(h: Tensor<2>, beta: f64) -> Tensor<1> {
    let [n, _] = h.dims();
    h.abs().sum().mul_scalar(beta / n.max(1) as f64)
}

/// The sparsity penalty on the output of one layer (the code).
pub struct Sparsity {
    /// The layer whose output is the code, e.g. `encoder`.
    pub layer: String,
    pub penalty: SparsityPenalty,
    pub rho: f64,
    pub beta: f64,
}

impl LossTerm for Sparsity {
    fn name(&self) -> &str {
        "sparsity"
    }

    fn taps(&self) -> Vec<String> {
        vec![self.layer.clone()]
    }

    /// # Shapes
    /// - output: `[1]`
    fn loss(&mut self, _net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        let h = step
            .taps
            .get(&self.layer)
            .ok_or_else(|| Error::Path(format!("no output of layer `{}`", self.layer)))?
            .clone()
            .flat();
        Ok(match self.penalty {
            SparsityPenalty::Kl => kl_sparsity(h, self.rho, self.beta),
            SparsityPenalty::L1 => l1_sparsity(h, self.beta),
        })
    }
}

/// λ/2 · Σ ‖W‖² over the trainable weights of linear and convolution layers.
pub struct WeightDecay {
    pub lambda: f64,
}

impl LossTerm for WeightDecay {
    fn name(&self) -> &str {
        "weight_decay"
    }

    /// # Shapes
    /// - output: `[1]`
    fn loss(&mut self, net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        let mut total = step.logits.clone().sum().mul_scalar(0.0);
        for (_, slot) in net.slots() {
            if slot.trainable() && matches!(slot.role, ParamRole::Weight { .. }) {
                let w = slot.value.clone();
                total = total + (w.clone() * w).sum().mul_scalar(self.lambda / 2.0);
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};
    use crate::nn::{Mode, NetworkSpec};
    use rand::SeedableRng;
    use std::path::Path;

    /// Golden values from PyTorch 2.15:
    /// ```python
    /// import torch
    /// x = torch.tensor([[0.1, 0.9, 0.4], [0.7, 0.2, 0.0], [0.5, 0.5, 1.0], [0.0, 0.3, 0.8]])
    /// W = torch.tensor([[0.5, -1.0, 0.25], [-0.3, 0.8, -1.2]], requires_grad=True)
    /// b = torch.tensor([0.1, -0.4], requires_grad=True)
    /// h = torch.sigmoid(x @ W.T + b)
    /// rho, beta = 0.1, 3.0
    /// rh = h.mean(0)
    /// kl = beta * (rho * torch.log(rho / rh) + (1 - rho) * torch.log((1 - rho) / (1 - rh))).sum()
    /// kl.backward()
    /// torch.set_printoptions(precision=6)
    /// kl.item()   # 1.440614938735962
    /// W.grad      # [[0.367128, 0.519040, 0.619909], [0.209048, 0.312421, 0.314763]]
    /// b.grad      # [1.115526, 0.639122]
    /// l1 = 3.0 * h.abs().sum() / 4
    /// l1.item()   # 2.418022632598877
    /// ```
    #[test]
    fn kl_penalty_and_its_gradient_match_pytorch() {
        let d = Device::flex();
        let spec = NetworkSpec::from_toml(
            "input_shape = [3]\n[[layers]]\ntype = \"linear\"\nout_features = 2\n\
             [[layers]]\ntype = \"sigmoid\"\n",
            Path::new("kl.toml"),
        )
        .unwrap();
        let mut net = Network::new(spec, 0, &d).unwrap();
        net.set_values(
            "0.weight",
            backend::tensor(vec![0.5, -1.0, 0.25, -0.3, 0.8, -1.2], [6], &d),
        )
        .unwrap();
        net.set_values("0.bias", backend::tensor(vec![0.1, -0.4], [2], &d))
            .unwrap();
        let x = vec![0.1, 0.9, 0.4, 0.7, 0.2, 0.0, 0.5, 0.5, 1.0, 0.0, 0.3, 0.8];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let h = net
            .forward(net.input(x.clone(), 4).unwrap(), Mode::Train(&mut rng))
            .unwrap()
            .flat();
        let kl = kl_sparsity(h.clone(), 0.1, 3.0);
        let close = |a: f32, b: f32, tol: f32| assert!((a - b).abs() < tol, "{a} vs {b}");
        close(backend::scalar(&kl), 1.440_614_9, 1e-5);
        close(backend::scalar(&l1_sparsity(h, 3.0)), 2.418_022_6, 1e-5);
        let grads = kl.backward();
        let gw = backend::to_vec(&net.slot("0.weight").unwrap().value.grad(&grads).unwrap());
        let gb = backend::to_vec(&net.slot("0.bias").unwrap().value.grad(&grads).unwrap());
        let want_w = [
            0.367_128, 0.519_040, 0.619_909, 0.209_048, 0.312_421, 0.314_763,
        ];
        for (g, w) in gw.iter().zip(want_w) {
            close(*g, w, 1e-5);
        }
        close(gb[0], 1.115_526, 1e-5);
        close(gb[1], 0.639_122, 1e-5);
    }

    #[test]
    fn kl_is_zero_at_the_target_activation_and_finite_when_saturated() {
        let d = Device::flex();
        let h = backend::tensor(vec![0.1, 0.1, 0.1, 0.1], [2, 2], &d);
        assert!(backend::scalar(&kl_sparsity(h, 0.1, 3.0)).abs() < 1e-6);
        let saturated = backend::tensor(vec![1.0, 0.0, 1.0, 0.0], [2, 2], &d);
        assert!(backend::scalar(&kl_sparsity(saturated, 0.1, 3.0)).is_finite());
    }
}
