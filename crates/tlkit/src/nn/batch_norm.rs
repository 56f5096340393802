//! tlkit's own training-mode batch normalization as one Burn operation with its own backward
//! pass.
//!
//! Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
//! Internal Covariate Shift", ICML 2015, <https://arxiv.org/abs/1502.03167>. Per channel `c`,
//! over the `m = N·L` values of the batch:
//!
//! ```text
//! μ = Σ x / m,  σ² = Σ (x − μ)² / m (biased),  x̂ = (x − μ) / √(σ² + ε),  y = γ·x̂ + β
//! ∂β = Σ ∂y,  ∂γ = Σ ∂y·x̂,  ∂x = γ / √(σ² + ε) · (∂y − ∂β/m − x̂·∂γ/m)
//! ```
//!
//! Composed of tensor operations (`nn::network`'s Burn path), the forward records about ten
//! operations over the whole activation and the backward walks them all; here the forward is
//! two passes over `x` (statistics, then `y = x·scale + shift`) and the backward two (the two
//! sums, then `∂x = a·∂y + b·x + d` per channel). Same pattern as [`super::conv`]: a backend
//! extension, forward on `flex`, a [`Backward`] step for `Autodiff<Flex>`; every other device
//! and float type keeps the composed version. The statistics come back detached, for the
//! running averages. Chosen with the convolutions: [`crate::backend::conv_kernels`]
//! (`TLKIT_CONV=own`, the default). The loops are `tlkit_kernels::batch_norm`.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::DType;

use tlkit_kernels::batch_norm::{Dims, backward, forward};

use super::host;
use super::kernel_profile::timed;
use crate::backend::{ConvKernels, Device, Tensor};

/// Training-mode batch norm as an operation of the dispatch backend.
#[backend_extension(Flex, Autodiff)]
pub trait OwnBatchNorm: Backend {
    /// `(y, mean, biased variance)` of `x` `[N, C, L]` with `gamma`, `beta` `[C]`.
    fn tlkit_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The forward pass on `flex` tensors; also returns what the backward needs.
fn run(
    x: &FloatTensor<Flex>,
    gamma: &FloatTensor<Flex>,
    beta: &FloatTensor<Flex>,
    epsilon: f64,
) -> [FloatTensor<Flex>; 5] {
    let (x, gamma, beta) = (
        host::contiguous(x),
        host::contiguous(gamma),
        host::contiguous(beta),
    );
    let [n, c, l] = host::dims(&x);
    let d = Dims { n, c, l };
    let (y, mean, var) = timed("batch norm: forward", || {
        forward(
            d,
            host::values(&x),
            host::values(&gamma),
            host::values(&beta),
            epsilon,
        )
    });
    [
        host::tensor(y, [n, c, l]),
        host::tensor(mean, [c]),
        host::tensor(var, [c]),
        x,
        gamma,
    ]
}

impl OwnBatchNorm for Flex {
    fn tlkit_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [y, mean, var, _, _] = run(&x, &gamma, &beta, epsilon);
        (y, mean, var)
    }
}

#[derive(Debug)]
struct BatchNormBackward;

/// What the backward pass reads: the contiguous input and `γ`, the batch statistics and `ε`.
#[derive(Debug, Clone)]
struct Saved {
    x: FloatTensor<Flex>,
    gamma: FloatTensor<Flex>,
    mean: FloatTensor<Flex>,
    var: FloatTensor<Flex>,
    epsilon: f64,
}

impl Backward<Flex, 3> for BatchNormBackward {
    type State = Saved;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = host::contiguous(&grads.consume::<Flex>(&ops.node));
        let s = ops.state;
        let [n, c, l] = host::dims(&s.x);
        let (dx, dgamma, dbeta) = timed("batch norm: backward", || {
            backward(
                Dims { n, c, l },
                host::values(&s.x),
                host::values(&s.gamma),
                host::values(&s.mean),
                host::values(&s.var),
                s.epsilon,
                host::values(&dy),
            )
        });
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, host::tensor(dx, [n, c, l]));
        }
        for (node, grad) in [(node_gamma, dgamma), (node_beta, dbeta)] {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, host::tensor(grad, [c]));
            }
        }
    }
}

impl<C: CheckpointStrategy> OwnBatchNorm for Autodiff<Flex, C> {
    fn tlkit_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let detached = <FloatTensor<Self>>::new;
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let [y, mean, var, x, gamma] =
                    run(x.primitive(), gamma.primitive(), beta.primitive(), epsilon);
                let saved = Saved {
                    x,
                    gamma,
                    mean: mean.clone(),
                    var: var.clone(),
                    epsilon,
                };
                (prep.finish(saved, y), detached(mean), detached(var))
            }
            OpsKind::UnTracked(prep) => {
                let [y, mean, var, _, _] =
                    run(x.primitive(), gamma.primitive(), beta.primitive(), epsilon);
                (prep.finish(y), detached(mean), detached(var))
            }
        }
    }
}

/// The output of [`batch_norm_train`].
pub struct BatchNormTrain {
    /// `γ·x̂ + β`, `[N, C, L]`.
    pub output: Tensor<3>,
    /// The batch mean, `[C]`, detached.
    pub mean: Tensor<1>,
    /// The biased batch variance (without `ε`), `[C]`, detached.
    pub variance: Tensor<1>,
}

/// Whether [`batch_norm_train`] runs tlkit's kernel: chosen, the CPU backend, f32.
fn takes_own_path(x: &Tensor<3>, kernels: ConvKernels) -> bool {
    kernels == ConvKernels::Own && x.device() == Device::flex() && x.dtype() == DType::F32
}

/// Training-mode batch normalization with the batch's own statistics: tlkit's kernel on the
/// CPU backend when `kernels` is [`ConvKernels::Own`], otherwise [`batch_norm_train_composed`].
///
/// # Shapes
/// - `x`: `[N, C, L]` (a feature map flattened to `L = H·W`, or `L = 1`)
/// - `gamma`, `beta`: `[C]`
pub fn batch_norm_train(
    x: Tensor<3>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    kernels: ConvKernels,
) -> BatchNormTrain {
    if !takes_own_path(&x, kernels) {
        return batch_norm_train_composed(x, gamma, beta, epsilon);
    }
    let (y, mean, var) = <Dispatch as OwnBatchNorm>::tlkit_batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    BatchNormTrain {
        output: Tensor::from_dispatch(y),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(var),
    }
}

/// [`batch_norm_train`] composed of Burn tensor operations, which Burn differentiates one by
/// one: the path on every other device and with Burn's kernels (`TLKIT_CONV=burn`).
pub fn batch_norm_train_composed(
    x: Tensor<3>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> BatchNormTrain {
    let c = gamma.dims()[0];
    let mean = x.clone().mean_dim(0).mean_dim(2);
    let centered = x - mean.clone();
    let var = centered.clone().powf_scalar(2.0).mean_dim(0).mean_dim(2);
    let y = centered / (var.clone() + epsilon).sqrt();
    BatchNormTrain {
        output: y * gamma.reshape([1, c, 1]) + beta.reshape([1, c, 1]),
        mean: mean.detach().reshape([c]),
        variance: var.detach().reshape([c]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor, to_vec};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use crate::nn::testing::uniform as random;

    fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len(), "{what}: lengths differ");
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (u, v)) in a.iter().zip(b).enumerate() {
            assert!(
                (u - v).abs() <= tol * scale,
                "{what}[{i}]: own {u} against Burn {v}"
            );
        }
    }

    /// Output, statistics and the gradients of `Σ r ⊙ y` with both implementations.
    fn matches_burn(shape: [usize; 3]) {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let [_, c, _] = shape;
        let x = random(shape.iter().product(), &mut rng)
            .iter()
            .map(|v| 3.0 * v + 0.5)
            .collect::<Vec<_>>();
        let (gamma, beta) = (random(c, &mut rng), random(c, &mut rng));
        let r = random(shape.iter().product(), &mut rng);
        let dev = Device::flex().autodiff();
        let leaves = || {
            (
                tensor(x.clone(), shape, &dev).require_grad(),
                tensor(gamma.clone(), [c], &dev).require_grad(),
                tensor(beta.clone(), [c], &dev).require_grad(),
            )
        };
        let (xo, go, bo) = leaves();
        assert!(takes_own_path(&xo, ConvKernels::Own));
        let own = batch_norm_train(xo.clone(), go.clone(), bo.clone(), 1e-3, ConvKernels::Own);
        let own_grads = (own.output.clone() * tensor(r.clone(), shape, &dev))
            .sum()
            .backward();
        let (xb, gb, bb) = leaves();
        let burn = batch_norm_train(xb.clone(), gb.clone(), bb.clone(), 1e-3, ConvKernels::Burn);
        let burn_grads = (burn.output.clone() * tensor(r.clone(), shape, &dev))
            .sum()
            .backward();
        assert_close("output", &to_vec(&own.output), &to_vec(&burn.output), 1e-5);
        assert_close("mean", &to_vec(&own.mean), &to_vec(&burn.mean), 1e-5);
        assert_close(
            "variance",
            &to_vec(&own.variance),
            &to_vec(&burn.variance),
            1e-5,
        );
        let g3 = |t: &Tensor<3>, g| to_vec(&t.grad(g).expect("a gradient"));
        let g1 = |t: &Tensor<1>, g| to_vec(&t.grad(g).expect("a gradient"));
        assert_close(
            "input grad",
            &g3(&xo, &own_grads),
            &g3(&xb, &burn_grads),
            1e-4,
        );
        assert_close(
            "gamma grad",
            &g1(&go, &own_grads),
            &g1(&gb, &burn_grads),
            1e-4,
        );
        assert_close(
            "beta grad",
            &g1(&bo, &own_grads),
            &g1(&bb, &burn_grads),
            1e-4,
        );
    }

    #[test]
    fn batch_norm_matches_burns_composition() {
        // A feature map (rows of 37, not a multiple of the 8 lanes), a flat layer (L = 1).
        matches_burn([4, 3, 37]);
        matches_burn([16, 5, 1]);
        matches_burn([2, 7, 64]);
    }

    /// The gradients against central differences of `Σ r ⊙ y` in f64 on the host kernels.
    #[test]
    fn gradients_match_finite_differences() {
        let d = Dims { n: 3, c: 2, l: 5 };
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let x = random(30, &mut rng);
        let (gamma, beta) = (random(2, &mut rng), random(2, &mut rng));
        let r = random(30, &mut rng);
        let eps = 1e-3;
        let loss = |x: &[f32], g: &[f32], b: &[f32]| -> f64 {
            let (y, _, _) = forward(d, x, g, b, eps);
            y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        let (_, mean, var) = forward(d, &x, &gamma, &beta, eps);
        let (dx, dgamma, dbeta) = backward(d, &x, &gamma, &mean, &var, eps, &r);
        let h = 1e-2f32;
        let numeric = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += h;
            down[i] -= h;
            ((f(&up) - f(&down)) / (2.0 * h as f64)) as f32
        };
        for (i, v) in dx.iter().enumerate() {
            let n = numeric(&x, i, &|x| loss(x, &gamma, &beta));
            assert!((n - v).abs() < 2e-3, "dx[{i}]: {v} against {n}");
        }
        for (i, v) in dgamma.iter().enumerate() {
            let n = numeric(&gamma, i, &|g| loss(&x, g, &beta));
            assert!((n - v).abs() < 2e-3, "dgamma[{i}]: {v} against {n}");
        }
        for (i, v) in dbeta.iter().enumerate() {
            let n = numeric(&beta, i, &|b| loss(&x, &gamma, b));
            assert!((n - v).abs() < 2e-3, "dbeta[{i}]: {v} against {n}");
        }
    }
}
