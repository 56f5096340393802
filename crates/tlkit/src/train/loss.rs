//! Task losses.

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};

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
