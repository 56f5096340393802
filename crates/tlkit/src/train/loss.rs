//! Task losses: cross-entropy, focal loss, mean squared error, mean absolute error.

use crate::backend::{Int, Tensor, activation};

/// Mean cross-entropy of `logits` against class `labels`.
///
/// # Shapes
/// - logits: `[batch, classes]`
/// - labels: `[batch]`
/// - output: `[1]`
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let n = labels.dims()[0];
    let logp = activation::log_softmax(logits, 1);
    let picked = logp.gather(1, labels.reshape([n, 1]));
    picked.mean().neg()
}

/// Focal loss, the softmax form of Lin et al. 2017, "Focal Loss for Dense Object Detection"
/// (ICCV, <https://arxiv.org/abs/1708.02002>), Eq. (5):
///
/// FL(p_t) = −α_t (1 − p_t)^γ log p_t, averaged over the batch,
///
/// where p_t is the softmax probability of the true class. The paper writes it for one
/// sigmoid per class; with a softmax over classes, as here, α_t is a weight per class
/// (`alpha[label]`, 1 for every class when `alpha` is `None`). γ = 0 without α is
/// cross-entropy; γ > 0 down-weights the samples the network already gets right.
///
/// # Shapes
/// - logits: `[batch, classes]`
/// - labels: `[batch]`
/// - alpha: `classes` values, if given
/// - output: `[1]`
pub fn focal(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    gamma: f64,
    alpha: Option<&[f32]>,
) -> Tensor<1> {
    let n = labels.dims()[0];
    let device = logits.device();
    let logp = activation::log_softmax(logits, 1)
        .gather(1, labels.clone().reshape([n, 1]))
        .reshape([n]);
    let mut weighted = logp.clone();
    if gamma != 0.0 {
        // (1 − p_t)^γ. The base is kept off 0 (where p_t rounds to 1) so that the gradient of
        // the power stays finite for γ < 1.
        let modulating = logp
            .exp()
            .neg()
            .add_scalar(1.0)
            .clamp_min(1e-12)
            .powf_scalar(gamma as f32);
        weighted = weighted * modulating;
    }
    if let Some(a) = alpha {
        let a = crate::backend::tensor(a.to_vec(), [a.len()], &device);
        weighted = weighted * a.select(0, labels);
    }
    weighted.mean().neg()
}

/// Mean squared error over every value.
///
/// # Shapes
/// - output, target: `[batch, width]`
/// - result: `[1]`
pub fn mse(output: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    (output - target).powf_scalar(2.0).mean()
}

/// Mean absolute error over every value.
///
/// # Shapes
/// - output, target: `[batch, width]`
/// - result: `[1]`
pub fn l1(output: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    (output - target).abs().mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};

    /// Golden values from PyTorch 2.15:
    /// ```python
    /// import torch, torch.nn.functional as F
    /// logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, 0.0, -1.0], [0.5, -0.5, 2.0]])
    /// labels = torch.tensor([2, 1, 0])
    /// alpha = torch.tensor([0.25, 0.5, 0.75])
    /// def focal(logits, labels, gamma, alpha=None):
    ///     logp = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    ///     w = (1 - logp.exp()) ** gamma
    ///     if alpha is not None:
    ///         w = w * alpha[labels]
    ///     return -(w * logp).mean()
    /// focal(logits, labels, 2.0)         # 0.6875615
    /// focal(logits, labels, 2.0, alpha)  # 0.2464157
    /// focal(logits, labels, 0.0)         # 1.1938599 = F.cross_entropy(logits, labels)
    /// y = torch.tensor([[0.5, -1.0], [2.0, 0.0]]); t = torch.tensor([[0.0, 1.0], [1.5, 0.5]])
    /// F.mse_loss(y, t), F.l1_loss(y, t)  # 1.1875, 0.875
    /// ```
    #[test]
    fn focal_mse_and_l1_match_pytorch() {
        let d = Device::flex();
        let logits = || {
            backend::tensor(
                vec![1.0, 2.0, 3.0, 1.0, 0.0, -1.0, 0.5, -0.5, 2.0],
                [3, 3],
                &d,
            )
        };
        let labels = || backend::labels(&[2, 1, 0], &d);
        let v = |t: Tensor<1>| backend::to_vec(&t)[0];
        let close = |a: f32, b: f32| assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        close(v(focal(logits(), labels(), 2.0, None)), 0.687_561_5);
        close(
            v(focal(logits(), labels(), 2.0, Some(&[0.25, 0.5, 0.75]))),
            0.246_415_7,
        );
        close(v(focal(logits(), labels(), 0.0, None)), 1.193_859_9);
        close(v(cross_entropy(logits(), labels())), 1.193_859_9);
        let y = || backend::tensor(vec![0.5, -1.0, 2.0, 0.0], [2, 2], &d);
        let t = || backend::tensor(vec![0.0, 1.0, 1.5, 0.5], [2, 2], &d);
        close(v(mse(y(), t())), 1.1875);
        close(v(l1(y(), t())), 0.875);
    }

    /// torch.nn.functional.cross_entropy(torch.tensor([[1.,2.,3.],[1.,0.,-1.]]), torch.tensor([2,1]))
    /// = 0.9076059
    #[test]
    fn matches_pytorch() {
        let d = Device::flex();
        let logits = backend::tensor(vec![1.0, 2.0, 3.0, 1.0, 0.0, -1.0], [2, 3], &d);
        let loss = cross_entropy(logits, backend::labels(&[2, 1], &d));
        let v = backend::to_vec(&loss)[0];
        assert!((v - 0.907_605_9).abs() < 1e-5, "{v}");
    }
}
