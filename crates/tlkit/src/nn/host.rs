//! Host views of Burn `flex` tensors for tlkit's own operations ([`super::conv`],
//! [`super::linear`], [`super::pool`], [`super::batch_norm`], [`super::relu6`],
//! [`crate::train::fused_adam`]): their kernels (the `tlkit-kernels` crate) read and write plain
//! `f32` slices in row-major order.

use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;
use burn::tensor::TensorData;

/// A contiguous copy of `t` (a reference-count bump when it is contiguous already).
pub(crate) fn contiguous(t: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    t.to_contiguous()
}

/// The values of a contiguous f32 tensor.
pub(crate) fn values(t: &FloatTensor<Flex>) -> &[f32] {
    t.as_slice::<f32>()
        .expect("tlkit's own operations are only routed contiguous f32 tensors")
}

/// The shape of `t` as `D` sizes.
pub(crate) fn dims<const D: usize>(t: &FloatTensor<Flex>) -> [usize; D] {
    let s = t.layout().shape();
    std::array::from_fn(|i| s[i])
}

/// A `flex` tensor owning `values` (no copy).
pub(crate) fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FloatTensor<Flex> {
    <FloatTensor<Flex>>::from_data(TensorData::new(values, shape))
}

/// A `flex` tensor owning `values` (no copy), of any rank.
pub(crate) fn tensor_of_shape(values: Vec<f32>, shape: burn::tensor::Shape) -> FloatTensor<Flex> {
    <FloatTensor<Flex>>::from_data(TensorData::new(values, shape))
}
