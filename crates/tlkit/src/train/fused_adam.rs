//! Adam's update in one pass over each parameter, as a Burn operation on the CPU backend
//! (`tlkit_kernels::optim::adam`), for [`super::optim::Optimizer`].
//!
//! The composed update is about a dozen tensor operations per parameter, each a pass with a
//! buffer of its own; on the benchmark MLP they were about a tenth of the step (BENCHMARKS.md,
//! "Linear layers on faer, Adam in one pass"). The fused one gives the same bits (test below).
//! Chosen with tlkit's other kernels: [`crate::backend::conv_kernels`] (`TLKIT_CONV=own`, the
//! default); every other device and float type keeps the composed update.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::DType;

use tlkit_kernels::optim::{AdamStep, adam_in_place};

use crate::backend::{ConvKernels, Device, Tensor};
use crate::nn::host;
use crate::nn::kernel_profile::timed;

/// The fused update as an operation of the dispatch backend (plain tensors only: an optimizer
/// step records no graph).
#[backend_extension(Flex)]
pub trait OwnAdam: Backend {
    /// `(p, m, v)` after one step; `step` is `[β₁, β₂, 1 − β₂ᵗ, ε, lr / (1 − β₁ᵗ)]`. On the
    /// first step (`first`) `m` and `v` are not read.
    fn tlkit_adam(
        p: FloatTensor<Self>,
        g: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: [f32; 5],
        first: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl OwnAdam for Flex {
    fn tlkit_adam(
        p: FloatTensor<Self>,
        g: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: [f32; 5],
        first: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [beta1, beta2, bias_correction2, eps, step_size] = step;
        let s = AdamStep {
            beta1,
            beta2,
            bias_correction2,
            eps,
            step_size,
        };
        let [p, g] = [p, g].map(|t| host::contiguous(&t));
        let n = host::values(&p).len();
        // The moments are the optimizer's own (unique), so they are updated where they are;
        // the parameter is shared with the network and gets a new buffer.
        let (mut m, mut v) = if first {
            let zeros = || host::tensor(vec![0.0f32; n], [n]);
            (zeros(), zeros())
        } else {
            (host::owned(m), host::owned(v))
        };
        let mut p1 = vec![0.0f32; n];
        timed("adam: update", || {
            adam_in_place(
                &s,
                host::values(&p),
                &mut p1,
                host::values(&g),
                host::values_mut(&mut m),
                host::values_mut(&mut v),
                first,
            )
        });
        (host::tensor(p1, [n]), m, v)
    }
}

/// Whether [`step`] can run: own kernels chosen, the CPU backend, f32 everywhere, equal sizes.
pub(super) fn applies(kernels: ConvKernels, p: &Tensor<1>, g: &Tensor<1>) -> bool {
    kernels == ConvKernels::Own
        && p.device() == Device::flex()
        && p.dtype() == DType::F32
        && g.dtype() == DType::F32
        && p.dims() == g.dims()
}

/// One fused Adam step on the flat parameter `p` with gradient `g` and the previous moments
/// (`None` on the first step); returns `(p, m, v)`. Call only where [`applies`] holds.
pub(super) fn step(
    p: Tensor<1>,
    g: Tensor<1>,
    moments: Option<(Tensor<1>, Tensor<1>)>,
    s: AdamStep,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let first = moments.is_none();
    let (m, v) = moments.unwrap_or_else(|| (g.clone(), g.clone()));
    let (p1, m1, v1) = <Dispatch as OwnAdam>::tlkit_adam(
        p.into_dispatch(),
        g.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        [s.beta1, s.beta2, s.bias_correction2, s.eps, s.step_size],
        first,
    );
    (
        Tensor::from_dispatch(p1),
        Tensor::from_dispatch(m1),
        Tensor::from_dispatch(v1),
    )
}
