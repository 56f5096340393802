//! tlkit's own ReLU6 (`clamp(x, 0, 6)`, MobileNet's and EfficientNet-Lite's activation) as a
//! Burn operation with its own backward pass.
//!
//! Burn 0.22 has no ReLU6 of its own on the autodiff backend: `relu6` is `clamp(0, 6)`, which
//! autodiff composes from two comparisons and two `mask_fill`s, and whose backward pass is two
//! more `mask_fill`s. `flex`'s in-place `mask_fill` branches per element, and on activations
//! whose sign is a coin toss those four passes took 27% of an EfficientNet-Lite0 training step
//! (BENCHMARKS.md, "Pooling and im2col without branches, ReLU6 in one pass, an AVX2 build").
//! Here the forward pass computes the values and a one-byte mask in one pass, and the backward
//! pass applies the mask: the same values and gradients as Burn's composition, bit for bit
//! (tests below), including NaN, −0 and the bounds themselves.
//!
//! Same pattern as [`super::pool`]; routed on the CPU backend for f32 when tlkit's own kernels
//! are chosen ([`crate::backend::conv_kernels`], `TLKIT_CONV=own`, the default). The loops are
//! `tlkit_kernels::activation`.

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{DType, Shape, activation};

use tlkit_kernels::activation::{relu6_backward, relu6_forward};

use super::host;
use super::kernel_profile::timed;
use crate::backend::{ConvKernels, Device, Tensor};

/// ReLU6 as an operation of the dispatch backend.
#[backend_extension(Flex, Autodiff)]
pub trait OwnRelu6: Backend {
    /// `clamp(x, 0, 6)`, any rank.
    fn tlkit_relu6(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The values and the mask of where the gradient passes.
fn run(x: &FloatTensor<Flex>) -> (FloatTensor<Flex>, Vec<u8>, Shape) {
    let x = host::contiguous(x);
    let shape = x.layout().shape().clone();
    let (y, pass) = timed("relu6: forward", || relu6_forward(host::values(&x)));
    (host::tensor_of_shape(y, shape.clone()), pass, shape)
}

impl OwnRelu6 for Flex {
    fn tlkit_relu6(x: FloatTensor<Self>) -> FloatTensor<Self> {
        run(&x).0
    }
}

#[derive(Debug)]
struct Relu6Backward;

impl Backward<Flex, 1> for Relu6Backward {
    /// The mask and the input shape.
    type State = (Arc<Vec<u8>>, Shape);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (pass, shape) = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| {
            let dy = host::contiguous(&dy);
            let dx = timed("relu6: backward", || {
                relu6_backward(&pass, host::values(&dy))
            });
            host::tensor_of_shape(dx, shape)
        });
    }
}

impl<C: CheckpointStrategy> OwnRelu6 for Autodiff<Flex, C> {
    fn tlkit_relu6(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match Relu6Backward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, pass, shape) = run(x.primitive());
                prep.finish((Arc::new(pass), shape), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(run(x.primitive()).0),
        }
    }
}

/// ReLU6 (`clamp(x, 0, 6)`) with tlkit's own kernel on the CPU backend when `kernels` is
/// [`ConvKernels::Own`], Burn's `activation::relu6` otherwise.
pub fn relu6<const D: usize>(x: Tensor<D>, kernels: ConvKernels) -> Tensor<D> {
    if kernels != ConvKernels::Own || x.device() != Device::flex() || x.dtype() != DType::F32 {
        return activation::relu6(x);
    }
    Tensor::<D>::from_dispatch(<Dispatch as OwnRelu6>::tlkit_relu6(x.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor, to_vec};

    /// Output and input gradient of `Σ r ⊙ relu6(x)` with the chosen kernels.
    fn run_with(x: &[f32], shape: [usize; 2], k: ConvKernels) -> [Vec<u32>; 2] {
        let dev = Device::flex().autodiff();
        let x = tensor(x.to_vec(), shape, &dev).require_grad();
        let y = relu6(x.clone(), k);
        let n = x.dims().iter().product::<usize>();
        let r: Vec<f32> = (0..n).map(|i| 0.25 + i as f32 * 0.5).collect();
        let grads = (y.clone() * tensor(r, shape, &dev)).sum().backward();
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect();
        [
            bits(to_vec(&y)),
            bits(to_vec(&x.grad(&grads).expect("a gradient"))),
        ]
    }

    /// Below, at and above both bounds, signed zeros, infinities and NaN: the same bits as
    /// Burn's composition, values and gradients.
    #[test]
    fn relu6_is_burns_clamp_bit_for_bit() {
        let x = [
            -3.5,
            -0.0,
            0.0,
            1e-30,
            2.5,
            6.0,
            6.000001,
            7.5,
            -1e-30,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let own = run_with(&x, [3, 4], ConvKernels::Own);
        let burn = run_with(&x, [3, 4], ConvKernels::Burn);
        assert_eq!(own, burn);
        // Large enough for several rayon tasks.
        let n = 17 * 6000;
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1601) as f32 * 0.01 - 8.0)
            .collect();
        let own = run_with(&x, [n / 17, 17], ConvKernels::Own);
        let burn = run_with(&x, [n / 17, 17], ConvKernels::Burn);
        assert_eq!(own, burn);
    }

    /// The kernel's gradient against central differences of `Σ r ⊙ relu6(x)`, at points on
    /// both flat parts and the slope (none within the step of a bound).
    #[test]
    fn gradient_matches_finite_differences() {
        let x: Vec<f32> = (0..50).map(|i| -9.85 + i as f32 * 0.4).collect();
        let r: Vec<f32> = (0..x.len()).map(|i| 0.5 + (i % 7) as f32 * 0.25).collect();
        let loss = |x: &[f32]| -> f64 {
            let (y, _) = relu6_forward(x);
            y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        let (_, pass) = relu6_forward(&x);
        let dx = relu6_backward(&pass, &r);
        let h = 1e-2f32;
        for (i, d) in dx.iter().enumerate() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = ((loss(&up) - loss(&down)) / (2.0 * h as f64)) as f32;
            assert!(
                (numeric - d).abs() < 1e-3,
                "dx[{i}] at {}: {d} against {numeric}",
                x[i]
            );
        }
    }

    /// On a tensor without autodiff (evaluation), the values of Burn's ReLU6.
    #[test]
    fn relu6_without_gradient() {
        let x: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        let own = relu6(
            tensor(x.clone(), [2, 12], &Device::flex()),
            ConvKernels::Own,
        );
        let burn = relu6(tensor(x, [2, 12], &Device::flex()), ConvKernels::Burn);
        assert_eq!(to_vec(&own), to_vec(&burn));
    }
}
