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

/// `t` as a tensor that alone owns its buffer, contiguous from its start: `t` itself when it
/// already is (no copy), a copy otherwise. For kernels that update a tensor in place.
pub(crate) fn owned(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    if t.is_unique() && t.layout().is_contiguous() && t.layout().start_offset() == 0 {
        t
    } else {
        let shape = t.layout().shape().clone();
        tensor_of_shape(values(&contiguous(&t)).to_vec(), shape)
    }
}

/// The values of a tensor from [`owned`], to write in place.
pub(crate) fn values_mut(t: &mut FloatTensor<Flex>) -> &mut [f32] {
    let n = t.layout().num_elements();
    let all = t
        .try_storage_mut::<f32>()
        .expect("tlkit's in-place operations are only given tensors from `owned`");
    &mut all[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tensor held twice is copied before it is written, so the other holder keeps its
    /// values; a tensor held once is written where it is.
    #[test]
    fn owned_copies_a_shared_tensor_and_keeps_a_unique_one() {
        let t = tensor(vec![1.0, 2.0, 3.0], [3]);
        let other = t.clone();
        let mut o = owned(t);
        values_mut(&mut o)[0] = 9.0;
        assert_eq!(values(&other), &[1.0, 2.0, 3.0]);
        assert_eq!(values(&o), &[9.0, 2.0, 3.0]);

        let u = tensor(vec![4.0, 5.0], [2]);
        let at = values(&u).as_ptr();
        let mut o = owned(u);
        values_mut(&mut o)[1] = 6.0;
        assert_eq!(values(&o).as_ptr(), at, "a unique tensor is not copied");
        assert_eq!(values(&o), &[4.0, 6.0]);
    }
}
