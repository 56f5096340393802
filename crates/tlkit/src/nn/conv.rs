//! tlkit's own 2-D convolution as a Burn operation with its own backward pass.
//!
//! Burn 0.22 dispatches every tensor operation on the device at run time (`Dispatch`). A
//! backend extension (`#[backend_extension]`) adds an operation to that dispatch: the trait
//! below is implemented for the `flex` CPU backend (the forward pass) and for
//! `Autodiff<Flex>` (the forward pass plus a [`Backward`] step that computes the input and
//! weight gradients with the same host kernels, [`tlkit_kernels::conv`]). Every other device
//! keeps Burn's convolution: [`conv2d`] routes there, so the extension is never called on a
//! device it has no implementation for.
//!
//! Which kernels a process uses is [`crate::backend::conv_kernels`] (`TLKIT_CONV=own|burn`,
//! default `own`).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::DType;
use burn::tensor::ops::ConvOptions;

use super::host;
use super::kernel_profile::timed;
use crate::backend::{ConvKernels, Device, Tensor, ops};
use tlkit_kernels::conv::{self as kernels, Geometry, Pass};

/// The convolution as an operation of the dispatch backend.
#[backend_extension(Flex, Autodiff)]
pub trait OwnConv: Backend {
    /// `conv2d(x, weight)` without bias.
    fn tlkit_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
}

fn geometry(x: &FloatTensor<Flex>, w: &FloatTensor<Flex>, o: &ConvOptions<2>) -> Geometry {
    Geometry::new(
        host::dims(x),
        host::dims(w),
        o.stride,
        o.padding,
        o.dilation,
        o.groups,
    )
    .expect("shapes checked by `conv2d` before the call")
}

fn forward(x: &FloatTensor<Flex>, w: &FloatTensor<Flex>, o: &ConvOptions<2>) -> FloatTensor<Flex> {
    let (x, w) = (host::contiguous(x), host::contiguous(w));
    let g = geometry(&x, &w, o);
    let y = timed(g.kind(Pass::Forward), || {
        kernels::forward(&g, host::values(&x), host::values(&w))
    });
    host::tensor(y, [g.batch, g.out_channels, g.out_size[0], g.out_size[1]])
}

impl OwnConv for Flex {
    fn tlkit_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        forward(&x, &weight, &options)
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (FloatTensor<Flex>, FloatTensor<Flex>, ConvOptions<2>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w] = ops.parents;
        let dy = host::contiguous(&grads.consume::<Flex>(&ops.node));
        let (x, w, options) = ops.state;
        let (x, w) = (host::contiguous(&x), host::contiguous(&w));
        let g = geometry(&x, &w, &options);
        let dy = host::values(&dy);
        if let Some(node) = node_x {
            let dx = timed(g.kind(Pass::InputGrad), || {
                kernels::input_grad(&g, host::values(&w), dy)
            });
            let shape = [g.batch, g.in_channels, g.in_size[0], g.in_size[1]];
            grads.register::<Flex>(node.id, host::tensor(dx, shape));
        }
        if let Some(node) = node_w {
            let dw = timed(g.kind(Pass::WeightGrad), || {
                kernels::weight_grad(&g, host::values(&x), dy)
            });
            grads.register::<Flex>(node.id, host::tensor(dw, host::dims::<4>(&w)));
        }
    }
}

impl<C: CheckpointStrategy> OwnConv for Autodiff<Flex, C> {
    fn tlkit_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), weight.into_primitive());
                let y = forward(&x, &w, &options);
                prep.finish((x, w, options), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(x.primitive(), weight.primitive(), &options))
            }
        }
    }
}

/// Whether [`conv2d`] runs tlkit's kernels: chosen, on the CPU backend (with or without
/// autodiff), f32, and shapes that fit (otherwise Burn's convolution reports the mismatch).
fn takes_own_path(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    options: &ConvOptions<2>,
    kernels: ConvKernels,
) -> bool {
    kernels == ConvKernels::Own
        && x.device() == Device::flex()
        && x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && Geometry::new(
            x.dims(),
            weight.dims(),
            options.stride,
            options.padding,
            options.dilation,
            options.groups,
        )
        .is_some()
}

/// A 2-D convolution (PyTorch's `conv2d`) with tlkit's own kernels on the CPU backend when
/// `kernels` is [`ConvKernels::Own`], Burn's otherwise (and always on other devices and other
/// float types).
///
/// # Shapes
/// - `x`: `[N, C_in, H, W]`
/// - `weight`: `[C_out, C_in / groups, kH, kW]`
/// - `bias`: `[C_out]`
/// - output: `[N, C_out, H_out, W_out]`
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    kernels: ConvKernels,
) -> Tensor<4> {
    if !takes_own_path(&x, &weight, &options, kernels) {
        return ops::conv2d(x, weight, bias, options);
    }
    let y = Tensor::<4>::from_dispatch(<Dispatch as OwnConv>::tlkit_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ));
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            y + b.reshape([1, c, 1, 1])
        }
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor, to_vec};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    struct Case {
        x: [usize; 4],
        w: [usize; 4],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
        groups: usize,
    }

    use crate::nn::testing::uniform as random;

    /// Output, input gradient, weight gradient and bias gradient of `Σ r ⊙ conv2d(x, w, b)`
    /// for a fixed random `r`, with the chosen kernels.
    fn run(c: &Case, kernels: ConvKernels) -> [Vec<f32>; 4] {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let dev = Device::flex().autodiff();
        let x = tensor(random(c.x.iter().product(), &mut rng), c.x, &dev).require_grad();
        let w = tensor(random(c.w.iter().product(), &mut rng), c.w, &dev).require_grad();
        let b = tensor(random(c.w[0], &mut rng), [c.w[0]], &dev).require_grad();
        let opts = ConvOptions::new_with_padding(c.stride, c.padding, c.dilation, c.groups);
        let y = conv2d(x.clone(), w.clone(), Some(b.clone()), opts, kernels);
        let r = tensor(random(y.dims().iter().product(), &mut rng), y.dims(), &dev);
        let grads = (y.clone() * r).sum().backward();
        let g = |t: &Tensor<4>| to_vec(&t.grad(&grads).expect("a gradient"));
        let gb = to_vec(&b.grad(&grads).expect("a bias gradient"));
        [to_vec(&y), g(&x), g(&w), gb]
    }

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

    fn matches_burn(c: Case) {
        let own = run(&c, ConvKernels::Own);
        let burn = run(&c, ConvKernels::Burn);
        for (name, (a, b)) in ["output", "input grad", "weight grad", "bias grad"]
            .iter()
            .zip(own.iter().zip(&burn))
        {
            assert_close(name, a, b, 1e-5);
        }
    }

    #[test]
    fn plain_conv_matches_burn() {
        matches_burn(Case {
            x: [3, 2, 9, 8],
            w: [4, 2, 3, 3],
            stride: [1, 1],
            padding: [(0, 0); 2],
            dilation: [1, 1],
            groups: 1,
        });
    }

    #[test]
    fn strides_and_symmetric_padding_match_burn() {
        matches_burn(Case {
            x: [2, 3, 11, 10],
            w: [5, 3, 3, 2],
            stride: [2, 3],
            padding: [(1, 1), (2, 2)],
            dilation: [1, 1],
            groups: 1,
        });
    }

    /// TensorFlow "SAME" with an even input and stride 2: one row and column more padding at
    /// the end than at the beginning (EfficientNet's strided layers).
    #[test]
    fn tf_same_asymmetric_padding_matches_burn() {
        matches_burn(Case {
            x: [2, 3, 8, 8],
            w: [4, 3, 3, 3],
            stride: [2, 2],
            padding: [(0, 1), (0, 1)],
            dilation: [1, 1],
            groups: 1,
        });
        matches_burn(Case {
            x: [2, 4, 10, 10],
            w: [4, 1, 5, 5],
            stride: [2, 2],
            padding: [(1, 2), (1, 2)],
            dilation: [1, 1],
            groups: 4,
        });
    }

    #[test]
    fn dilation_matches_burn() {
        matches_burn(Case {
            x: [2, 2, 12, 11],
            w: [3, 2, 3, 3],
            stride: [1, 2],
            padding: [(2, 2), (1, 1)],
            dilation: [2, 3],
            groups: 1,
        });
    }

    #[test]
    fn groups_match_burn() {
        matches_burn(Case {
            x: [2, 6, 7, 7],
            w: [9, 2, 3, 3],
            stride: [1, 1],
            padding: [(1, 1); 2],
            dilation: [1, 1],
            groups: 3,
        });
    }

    #[test]
    fn depthwise_matches_burn() {
        // One output per channel, and a channel multiplier of 2.
        for (cout, stride) in [(5, 1), (10, 2)] {
            matches_burn(Case {
                x: [3, 5, 9, 9],
                w: [cout, 1, 3, 3],
                stride: [stride, stride],
                padding: [(1, 1); 2],
                dilation: [1, 1],
                groups: 5,
            });
        }
    }

    #[test]
    fn pointwise_matches_burn() {
        matches_burn(Case {
            x: [4, 6, 5, 5],
            w: [8, 6, 1, 1],
            stride: [1, 1],
            padding: [(0, 0); 2],
            dilation: [1, 1],
            groups: 1,
        });
    }

    /// The gradients against central differences of `Σ r ⊙ conv2d(x, w)` in f64 arithmetic
    /// on the host, so the check does not rest on Burn.
    fn matches_finite_differences(g: Geometry) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x = random(
            g.batch * g.in_channels * g.in_size[0] * g.in_size[1],
            &mut rng,
        );
        let w = random(
            g.out_channels * (g.in_channels / g.groups) * g.kernel[0] * g.kernel[1],
            &mut rng,
        );
        let y = kernels::forward(&g, &x, &w);
        let r = random(y.len(), &mut rng);
        let loss = |x: &[f32], w: &[f32]| -> f64 {
            let y = kernels::forward(&g, x, w);
            y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        let dx = kernels::input_grad(&g, &w, &r);
        let dw = kernels::weight_grad(&g, &x, &r);
        let h = 1e-2f32;
        let numeric = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += h;
            down[i] -= h;
            ((f(&up) - f(&down)) / (2.0 * h as f64)) as f32
        };
        for (i, d) in dx.iter().enumerate() {
            let n = numeric(&x, i, &|v| loss(v, &w));
            assert!((n - d).abs() < 1e-3, "dx[{i}]: {d} against {n}");
        }
        for (i, d) in dw.iter().enumerate() {
            let n = numeric(&w, i, &|v| loss(&x, v));
            assert!((n - d).abs() < 1e-3, "dw[{i}]: {d} against {n}");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Grouped, one input channel per group, strided: the row loops.
        matches_finite_differences(
            Geometry::new(
                [2, 2, 5, 4],
                [4, 1, 3, 2],
                [2, 1],
                [(1, 0), (0, 1)],
                [1, 2],
                2,
            )
            .unwrap(),
        );
        // Depthwise with stride 1 (the padded-plane kernels), asymmetric padding, dilation.
        matches_finite_differences(
            Geometry::new(
                [2, 3, 6, 5],
                [6, 1, 3, 3],
                [1, 1],
                [(2, 1), (0, 1)],
                [2, 1],
                3,
            )
            .unwrap(),
        );
        // im2col with groups and dilation.
        matches_finite_differences(
            Geometry::new(
                [2, 4, 6, 6],
                [4, 2, 2, 3],
                [1, 2],
                [(1, 1), (0, 2)],
                [2, 1],
                2,
            )
            .unwrap(),
        );
    }

    /// Stride 1 depthwise layers take the padded-plane kernels: TF-SAME's extra end padding,
    /// dilation, a multiplier of 2, planes narrower than the kernel's reach.
    #[test]
    fn stride_one_depthwise_matches_burn() {
        for (x, cout, k, padding, dilation) in [
            ([2, 4, 7, 7], 4, 5, [(2, 2), (2, 2)], [1, 1]),
            ([2, 3, 4, 4], 6, 5, [(1, 3), (2, 2)], [1, 1]),
            ([3, 2, 9, 8], 2, 3, [(2, 2), (1, 1)], [2, 1]),
            ([1, 3, 6, 6], 3, 3, [(0, 0), (0, 1)], [1, 1]),
        ] {
            matches_burn(Case {
                x,
                w: [cout, 1, k, k],
                stride: [1, 1],
                padding,
                dilation,
                groups: x[1],
            });
        }
    }

    #[test]
    fn the_switch_routes_cpu_tensors_with_or_without_autodiff() {
        let opts = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        for dev in [Device::flex(), Device::flex().autodiff()] {
            let x = tensor(vec![0.0; 16], [1, 1, 4, 4], &dev);
            let w = tensor(vec![0.0; 4], [1, 1, 2, 2], &dev);
            assert!(takes_own_path(&x, &w, &opts, ConvKernels::Own));
            assert!(!takes_own_path(&x, &w, &opts, ConvKernels::Burn));
            // Channels that do not match stay with Burn, whose error names the shapes.
            let w3 = tensor(vec![0.0; 12], [1, 3, 2, 2], &dev);
            assert!(!takes_own_path(&x, &w3, &opts, ConvKernels::Own));
        }
    }

    #[test]
    fn plain_cpu_tensors_give_burns_numbers() {
        let dev = Device::flex();
        let x = tensor((0..32).map(|v| v as f32).collect(), [1, 2, 4, 4], &dev);
        let w = tensor(vec![0.5; 2 * 2 * 2 * 2], [2, 2, 2, 2], &dev);
        let opts = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        let own = conv2d(x.clone(), w.clone(), None, opts.clone(), ConvKernels::Own);
        let burn = conv2d(x, w, None, opts, ConvKernels::Burn);
        assert_eq!(to_vec(&own), to_vec(&burn));
    }
}
