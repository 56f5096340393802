//! tlkit's own 2-D max pooling as a Burn operation with its own backward pass.
//!
//! Same pattern as [`super::conv`]: a backend extension with the forward pass on `flex` and,
//! for `Autodiff<Flex>`, a [`Backward`] step. The forward records, per output, the position of
//! its maximum inside the input plane (`u32`, where Burn keeps an `i64` index tensor and the
//! whole input); the backward adds each output gradient at that position. Ties go to the first
//! maximum in row-major window order and a NaN wins over numbers (the last NaN of a window),
//! as in Burn's `flex` and PyTorch, so both kernels route gradients to the same inputs.
//!
//! Routed only on the CPU backend, for f32, dilation 1, floor mode and padding smaller than the
//! kernel (every window then holds at least one input); everything else keeps Burn's pooling.
//! Chosen with the convolutions: [`crate::backend::conv_kernels`] (`TLKIT_CONV=own`, the
//! default). The loops are `tlkit_kernels::pool`.

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::DType;
use burn::tensor::ops::MaxPoolOptions;

use tlkit_kernels::pool::{PoolGeometry, backward, forward};

use super::host;
use super::kernel_profile::timed;
use crate::backend::{ConvKernels, Device, Tensor, ops};

/// Max pooling as an operation of the dispatch backend.
#[backend_extension(Flex, Autodiff)]
pub trait OwnMaxPool: Backend {
    /// `max_pool2d(x)` with symmetric `padding` and dilation 1.
    fn tlkit_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self>;
}

fn geometry(x: &FloatTensor<Flex>, k: [usize; 2], s: [usize; 2], p: [usize; 2]) -> PoolGeometry {
    PoolGeometry::new(host::dims(x), k, s, p).expect("checked by `max_pool2d` before the call")
}

/// The pooled tensor and the positions of the maxima.
fn run(
    x: &FloatTensor<Flex>,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
) -> (FloatTensor<Flex>, PoolGeometry, Vec<u32>) {
    let x = host::contiguous(x);
    let g = geometry(&x, k, s, p);
    let (y, at) = timed("max pool: forward", || forward(&g, host::values(&x)));
    let [n, c, _, _] = host::dims(&x);
    let y = host::tensor(y, [n, c, g.out_size[0], g.out_size[1]]);
    (y, g, at)
}

impl OwnMaxPool for Flex {
    fn tlkit_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        run(&x, kernel, stride, padding).0
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// The geometry, the positions of the maxima and the input shape.
    type State = (PoolGeometry, Arc<Vec<u32>>, [usize; 4]);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (g, at, shape) = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| {
            let dy = host::contiguous(&dy);
            let dx = timed("max pool: backward", || {
                backward(&g, &at, host::values(&dy))
            });
            host::tensor(dx, shape)
        });
    }
}

impl<C: CheckpointStrategy> OwnMaxPool for Autodiff<Flex, C> {
    fn tlkit_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let shape = host::dims(x.primitive());
                let (y, g, at) = run(x.primitive(), kernel, stride, padding);
                prep.finish((g, Arc::new(at), shape), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(run(x.primitive(), kernel, stride, padding).0),
        }
    }
}

/// Whether [`max_pool2d`] runs tlkit's kernel (see the module documentation).
fn takes_own_path(x: &Tensor<4>, o: &MaxPoolOptions<2>, kernels: ConvKernels) -> bool {
    kernels == ConvKernels::Own
        && x.device() == Device::flex()
        && x.dtype() == DType::F32
        && o.dilation == [1, 1]
        && !o.ceil_mode
        && o.padding.iter().all(|(b, e)| b == e)
        && PoolGeometry::new(
            x.dims(),
            o.kernel_size,
            o.stride,
            [o.padding[0].0, o.padding[1].0],
        )
        .is_some()
}

/// Max pooling (PyTorch's `max_pool2d`) with tlkit's own kernel on the CPU backend when
/// `kernels` is [`ConvKernels::Own`], Burn's otherwise.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`
/// - output: `[N, C, H_out, W_out]`
pub fn max_pool2d(x: Tensor<4>, options: MaxPoolOptions<2>, kernels: ConvKernels) -> Tensor<4> {
    if !takes_own_path(&x, &options, kernels) {
        return ops::max_pool2d(x, options);
    }
    let padding = [options.padding[0].0, options.padding[1].0];
    Tensor::<4>::from_dispatch(<Dispatch as OwnMaxPool>::tlkit_max_pool2d(
        x.into_dispatch(),
        options.kernel_size,
        options.stride,
        padding,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor, to_vec};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::nn::testing::uniform as random;

    /// Output and input gradient of `Σ r ⊙ max_pool2d(x)` for a fixed random `r`.
    fn run_with(
        x: Vec<f32>,
        shape: [usize; 4],
        o: &MaxPoolOptions<2>,
        k: ConvKernels,
    ) -> [Vec<f32>; 2] {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let dev = Device::flex().autodiff();
        let x = tensor(x, shape, &dev).require_grad();
        let y = max_pool2d(x.clone(), o.clone(), k);
        let r = tensor(random(y.dims().iter().product(), &mut rng), y.dims(), &dev);
        let grads = (y.clone() * r).sum().backward();
        [to_vec(&y), to_vec(&x.grad(&grads).expect("a gradient"))]
    }

    fn matches_burn(shape: [usize; 4], kernel: usize, stride: usize, padding: usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let x = random(shape.iter().product(), &mut rng);
        let o = MaxPoolOptions::new([kernel, kernel])
            .with_stride([stride, stride])
            .with_padding([padding, padding]);
        assert!(takes_own_path(
            &tensor(x.clone(), shape, &Device::flex()),
            &o,
            ConvKernels::Own
        ));
        let own = run_with(x.clone(), shape, &o, ConvKernels::Own);
        let burn = run_with(x, shape, &o, ConvKernels::Burn);
        assert_eq!(
            own[0], burn[0],
            "output, {shape:?} k{kernel} s{stride} p{padding}"
        );
        assert_eq!(
            own[1], burn[1],
            "input grad, {shape:?} k{kernel} s{stride} p{padding}"
        );
    }

    #[test]
    fn max_pool_matches_burn() {
        // LeNet's 2×2 / 2; odd sizes that drop the last row and column.
        matches_burn([3, 4, 8, 8], 2, 2, 0);
        matches_burn([2, 3, 9, 7], 2, 2, 0);
        // Overlapping windows (one input feeds several outputs) with padding, ResNet's stem.
        matches_burn([2, 3, 11, 10], 3, 2, 1);
        matches_burn([1, 2, 6, 6], 3, 1, 1);
    }

    /// Equal values in a window: the gradient goes to the first of them, as Burn's does.
    #[test]
    fn ties_route_the_gradient_like_burn() {
        let shape = [1, 1, 4, 4];
        let x = vec![
            1.0, 1.0, 0.0, 2.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let o = MaxPoolOptions::new([2, 2]);
        let own = run_with(x.clone(), shape, &o, ConvKernels::Own);
        let burn = run_with(x, shape, &o, ConvKernels::Burn);
        assert_eq!(own, burn);
        // Overlapping 3×3 windows over a constant plane.
        let o = MaxPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1]);
        let own = run_with(vec![0.5; 16], shape, &o, ConvKernels::Own);
        let burn = run_with(vec![0.5; 16], shape, &o, ConvKernels::Burn);
        assert_eq!(own, burn);
    }

    fn matches_finite_differences(g: PoolGeometry, x_shape: [usize; 4]) {
        let n: usize = x_shape.iter().product();
        let mut x: Vec<f32> = (0..n).map(|i| (i as f32) * 0.01).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for i in (1..n).rev() {
            x.swap(i, rng.random_range(0..=i));
        }
        let (y, at) = forward(&g, &x);
        let r = random(y.len(), &mut rng);
        let loss = |x: &[f32]| -> f64 {
            let (y, _) = forward(&g, x);
            y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        let dx = backward(&g, &at, &r);
        let h = 1e-3f32;
        for (i, d) in dx.iter().enumerate() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = ((loss(&up) - loss(&down)) / (2.0 * h as f64)) as f32;
            assert!((numeric - d).abs() < 1e-3, "dx[{i}]: {d} against {numeric}");
        }
    }

    /// The input gradient against central differences of `Σ r ⊙ max_pool2d(x)` on the host
    /// kernels, away from ties (distinct values at least 0.01 apart, step 1e-3): the general
    /// windows (padding, a 3×2 kernel) and the 2×2 / 2 ones.
    #[test]
    fn gradient_matches_finite_differences() {
        let x = [2, 2, 7, 6];
        matches_finite_differences(PoolGeometry::new(x, [3, 2], [2, 2], [1, 1]).unwrap(), x);
        matches_finite_differences(PoolGeometry::new(x, [2, 2], [2, 2], [0, 0]).unwrap(), x);
    }

    #[test]
    fn unsupported_options_stay_with_burn() {
        let x = tensor(vec![0.0; 36], [1, 1, 6, 6], &Device::flex());
        let plain = MaxPoolOptions::new([2, 2]);
        assert!(takes_own_path(&x, &plain, ConvKernels::Own));
        assert!(!takes_own_path(&x, &plain, ConvKernels::Burn));
        let dilated = MaxPoolOptions::new([2, 2]).with_dilation([2, 2]);
        assert!(!takes_own_path(&x, &dilated, ConvKernels::Own));
        let ceil = MaxPoolOptions::new([4, 4]).with_ceil_mode(true);
        assert!(!takes_own_path(&x, &ceil, ConvKernels::Own));
        let wide_pad = MaxPoolOptions::new([2, 2]).with_padding([2, 2]);
        assert!(!takes_own_path(&x, &wide_pad, ConvKernels::Own));
    }
}
