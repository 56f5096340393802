//! Host views of Burn `flex` tensors for tlkit's own operations ([`super::conv`],
//! [`super::pool`], [`super::batch_norm`]): their kernels read and write plain `f32` slices in
//! row-major order.

use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;
use burn::tensor::TensorData;

/// A contiguous copy of `t` (a reference-count bump when it is contiguous already).
pub(super) fn contiguous(t: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    t.to_contiguous()
}

/// The values of a contiguous f32 tensor.
pub(super) fn values(t: &FloatTensor<Flex>) -> &[f32] {
    t.as_slice::<f32>()
        .expect("tlkit's own operations are only routed contiguous f32 tensors")
}

/// The shape of `t` as `D` sizes.
pub(super) fn dims<const D: usize>(t: &FloatTensor<Flex>) -> [usize; D] {
    let s = t.layout().shape();
    std::array::from_fn(|i| s[i])
}

/// A `flex` tensor owning `values` (no copy).
pub(super) fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FloatTensor<Flex> {
    <FloatTensor<Flex>>::from_data(TensorData::new(values, shape))
}

/// `Σ f(a_i, b_i)` over two rows in eight independent lanes, so that the compiler vectorises
/// it (one running sum would pin the additions to one order); a fixed order per row length.
pub(super) fn lanes_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| f(*x, *y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += f(x[k], y[k]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}
