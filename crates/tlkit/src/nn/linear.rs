//! tlkit's own linear layer (`y = x · Wᵀ + b`, PyTorch's `nn.Linear`) as a Burn operation with
//! its own backward pass.
//!
//! Composed of Burn 0.22 operations, a linear layer is `x.matmul(w.transpose()) + b`: `flex`
//! copies the transposed weight into a contiguous buffer in the forward pass and both transposed
//! operands in the backward pass, runs the `gemm` crate's AVX2 micro-kernels, and adds and sums
//! the bias in passes of their own. Here each of the four computations (output, input, weight
//! and bias gradients) is one call into `tlkit_kernels::linear`: faer's products on strided
//! views, the bias written into the output before the product is added onto it. The benchmark
//! MLP's step: BENCHMARKS.md, "Linear layers on faer, Adam in one pass".
//!
//! Same pattern as [`super::conv`]: a backend extension, forward on `flex`, a [`Backward`] step
//! for `Autodiff<Flex>`; every other device and float type keeps Burn's composition. Chosen with
//! the convolutions: [`crate::backend::conv_kernels`] (`TLKIT_CONV=own`, the default). The
//! products' summation order is faer's, not Burn's (see `tlkit_kernels::linear`).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::DType;

use tlkit_kernels::linear::{self as kernels, Dims};

use super::host;
use super::kernel_profile::timed;
use crate::backend::{ConvKernels, Device, Tensor};

/// The linear layer as an operation of the dispatch backend.
#[backend_extension(Flex, Autodiff)]
pub trait OwnLinear: Backend {
    /// `x · Wᵀ` for `x` `[N, in]` and `W` `[out, in]`.
    fn tlkit_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `x · Wᵀ + b` with `b` `[out]`.
    fn tlkit_linear_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

fn dims(x: &FloatTensor<Flex>, w: &FloatTensor<Flex>) -> Dims {
    let ([rows, inputs], [outputs, _]) = (host::dims::<2>(x), host::dims::<2>(w));
    Dims {
        rows,
        inputs,
        outputs,
    }
}

/// The forward pass; `x`, `w` and `b` come back contiguous for the backward pass.
fn forward(
    x: &FloatTensor<Flex>,
    w: &FloatTensor<Flex>,
    b: Option<&FloatTensor<Flex>>,
) -> (FloatTensor<Flex>, FloatTensor<Flex>, FloatTensor<Flex>) {
    let (x, w) = (host::contiguous(x), host::contiguous(w));
    let b = b.map(host::contiguous);
    let d = dims(&x, &w);
    let y = timed("linear: forward", || {
        kernels::forward(
            &d,
            host::values(&x),
            host::values(&w),
            b.as_ref().map(host::values),
        )
    });
    (host::tensor(y, [d.rows, d.outputs]), x, w)
}

impl OwnLinear for Flex {
    fn tlkit_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        forward(&x, &weight, None).0
    }

    fn tlkit_linear_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        forward(&x, &weight, Some(&bias)).0
    }
}

/// The backward step, with and without a bias (`N` = 3 or 2 parents: `x`, `W`, `b`).
#[derive(Debug)]
struct LinearBackward;

impl<const N: usize> Backward<Flex, N> for LinearBackward {
    /// The contiguous `x` and `W`.
    type State = (FloatTensor<Flex>, FloatTensor<Flex>);

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let dy = host::contiguous(&grads.consume::<Flex>(&ops.node));
        let (x, w) = ops.state;
        let d = dims(&x, &w);
        let dy = host::values(&dy);
        let parent = |k: usize| ops.parents.get(k).cloned().flatten();
        if let Some(node) = parent(0) {
            let dx = timed("linear: input grad", || {
                kernels::input_grad(&d, dy, host::values(&w))
            });
            grads.register::<Flex>(node.id, host::tensor(dx, [d.rows, d.inputs]));
        }
        if let Some(node) = parent(1) {
            let dw = timed("linear: weight grad", || {
                kernels::weight_grad(&d, host::values(&x), dy)
            });
            grads.register::<Flex>(node.id, host::tensor(dw, [d.outputs, d.inputs]));
        }
        if let Some(node) = parent(2) {
            let db = timed("linear: bias grad", || kernels::bias_grad(&d, dy));
            grads.register::<Flex>(node.id, host::tensor(db, [d.outputs]));
        }
    }
}

/// The forward pass on the autodiff backend, recorded with `N` parents (`x`, `W` and, when
/// `N` is 3, `b`).
fn tracked<C: CheckpointStrategy, const N: usize>(
    nodes: [NodeGuard; N],
    x: &FloatTensor<Flex>,
    w: &FloatTensor<Flex>,
    b: Option<&FloatTensor<Flex>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    match LinearBackward
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (y, x, w) = forward(x, w, b);
            prep.finish((x, w), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x, w, b).0),
    }
}

impl<C: CheckpointStrategy> OwnLinear for Autodiff<Flex, C> {
    fn tlkit_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node()];
        tracked::<C, 2>(nodes, x.primitive(), weight.primitive(), None)
    }

    fn tlkit_linear_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        tracked::<C, 3>(
            nodes,
            x.primitive(),
            weight.primitive(),
            Some(bias.primitive()),
        )
    }
}

/// A linear layer (PyTorch's `F.linear`): tlkit's own kernels on the CPU backend when
/// `kernels` is [`ConvKernels::Own`], Burn's `x.matmul(Wᵀ) + b` otherwise (and always on other
/// devices and other float types).
///
/// # Shapes
/// - `x`: `[N, in]`
/// - `weight`: `[out, in]`
/// - `bias`: `[out]`
/// - output: `[N, out]`
pub fn linear(
    x: Tensor<2>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
    kernels: ConvKernels,
) -> Tensor<2> {
    let own = kernels == ConvKernels::Own
        && x.device() == Device::flex()
        && x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.as_ref().is_none_or(|b| b.dtype() == DType::F32)
        && x.dims()[1] == weight.dims()[1]
        && bias
            .as_ref()
            .is_none_or(|b| b.dims()[0] == weight.dims()[0]);
    if !own {
        let y = x.matmul(weight.transpose());
        return match bias {
            Some(b) => {
                let o = b.dims()[0];
                y + b.reshape([1, o])
            }
            None => y,
        };
    }
    let (x, w) = (x.into_dispatch(), weight.into_dispatch());
    Tensor::<2>::from_dispatch(match bias {
        Some(b) => <Dispatch as OwnLinear>::tlkit_linear_bias(x, w, b.into_dispatch()),
        None => <Dispatch as OwnLinear>::tlkit_linear(x, w),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor, to_vec};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use crate::nn::testing::uniform as random;

    /// Output and the gradients of `Σ r ⊙ linear(x, W, b)` for `x` `[n, i]`, `W` `[o, i]`, with
    /// the chosen kernels; the bias gradient is empty without a bias.
    fn run(n: usize, i: usize, o: usize, bias: bool, k: ConvKernels) -> [Vec<f32>; 4] {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let dev = Device::flex().autodiff();
        let x = tensor(random(n * i, &mut rng), [n, i], &dev).require_grad();
        let w = tensor(random(o * i, &mut rng), [o, i], &dev).require_grad();
        let b = tensor(random(o, &mut rng), [o], &dev).require_grad();
        let y = linear(x.clone(), w.clone(), bias.then(|| b.clone()), k);
        let r = tensor(random(n * o, &mut rng), [n, o], &dev);
        let grads = (y.clone() * r).sum().backward();
        let gb = if bias {
            to_vec(&b.grad(&grads).expect("a bias gradient"))
        } else {
            assert!(b.grad(&grads).is_none());
            Vec::new()
        };
        [
            to_vec(&y),
            to_vec(&x.grad(&grads).expect("an input gradient")),
            to_vec(&w.grad(&grads).expect("a weight gradient")),
            gb,
        ]
    }

    /// Against Burn's composition, with and without a bias, on shapes below and above the size
    /// where the products go parallel; equal up to summation order.
    #[test]
    fn linear_matches_burn() {
        for &(n, i, o) in &[(1, 1, 1), (5, 7, 3), (64, 100, 33), (128, 784, 40)] {
            for bias in [true, false] {
                let own = run(n, i, o, bias, ConvKernels::Own);
                let burn = run(n, i, o, bias, ConvKernels::Burn);
                for (what, (a, b)) in ["output", "input grad", "weight grad", "bias grad"]
                    .iter()
                    .zip(own.iter().zip(&burn))
                {
                    assert_eq!(a.len(), b.len(), "{what}");
                    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                    for (k, (u, v)) in a.iter().zip(b).enumerate() {
                        assert!(
                            (u - v).abs() <= 1e-5 * scale,
                            "{what}[{k}] at {n}x{i}x{o}, bias {bias}: own {u} against Burn {v}"
                        );
                    }
                }
            }
        }
    }

    /// The gradients of `Σ r ⊙ tanh(linear(x, W, b))` against central differences in f64 of
    /// the same function evaluated with the own forward pass.
    #[test]
    fn gradients_match_finite_differences() {
        let (n, i, o) = (4, 6, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let xs = random(n * i, &mut rng);
        let ws = random(o * i, &mut rng);
        let bs = random(o, &mut rng);
        let rs = random(n * o, &mut rng);
        let dev = Device::flex().autodiff();
        let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
            let d = Dims {
                rows: n,
                inputs: i,
                outputs: o,
            };
            let y = kernels::forward(&d, x, w, Some(b));
            y.iter()
                .zip(&rs)
                .map(|(y, r)| (*y as f64).tanh() * *r as f64)
                .sum()
        };
        let x = tensor(xs.clone(), [n, i], &dev).require_grad();
        let w = tensor(ws.clone(), [o, i], &dev).require_grad();
        let b = tensor(bs.clone(), [o], &dev).require_grad();
        let y = linear(x.clone(), w.clone(), Some(b.clone()), ConvKernels::Own);
        let grads = (y.tanh() * tensor(rs.clone(), [n, o], &dev))
            .sum()
            .backward();
        let analytic = [
            to_vec(&x.grad(&grads).expect("dx")),
            to_vec(&w.grad(&grads).expect("dW")),
            to_vec(&b.grad(&grads).expect("db")),
        ];
        let h = 1e-2f32;
        for (which, g) in analytic.iter().enumerate() {
            for k in 0..g.len() {
                let mut at = [xs.clone(), ws.clone(), bs.clone()];
                at[which][k] += h;
                let up = loss(&at[0], &at[1], &at[2]);
                at[which][k] -= 2.0 * h;
                let down = loss(&at[0], &at[1], &at[2]);
                let numeric = (up - down) / (2.0 * h as f64);
                assert!(
                    (g[k] as f64 - numeric).abs() <= 2e-3 * (1.0 + numeric.abs()),
                    "parameter set {which}, entry {k}: analytic {} against numeric {numeric}",
                    g[k]
                );
            }
        }
    }
}
