//! Forward + backward time of single convolutions with Burn's kernels, tlkit's own kernels
//! (`nn::conv`) and an im2col composition of Burn tensor ops (`unfold4d` + one batched
//! `matmul`, whose gradients Burn derives), on the conv shapes of the benchmark networks.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p tlkit --example bench_conv -- --reps 20
//! ```
//! Prints one line per shape and candidate: milliseconds per forward + backward (median); then
//! max pooling and training-mode batch norm, Burn's against the own kernels (forward, and the
//! backward as the extra time of forward + backward).

use std::time::Instant;

use burn::tensor::ops::{ConvOptions, MaxPoolOptions, UnfoldOptions};
use tlkit::backend::{ConvKernels, Device, Tensor, ops, tensor};
use tlkit::nn::batch_norm::batch_norm_train;
use tlkit::nn::conv::conv2d;
use tlkit::nn::pool::max_pool2d;

struct Shape {
    name: &'static str,
    x: [usize; 4],
    w: [usize; 4],
    stride: usize,
    padding: (usize, usize),
    groups: usize,
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "lenet.conv1",
        x: [64, 1, 28, 28],
        w: [20, 1, 5, 5],
        stride: 1,
        padding: (0, 0),
        groups: 1,
    },
    Shape {
        name: "lenet.conv2",
        x: [64, 20, 12, 12],
        w: [50, 20, 5, 5],
        stride: 1,
        padding: (0, 0),
        groups: 1,
    },
    Shape {
        name: "ganin.conv1",
        x: [64, 3, 28, 28],
        w: [32, 3, 5, 5],
        stride: 1,
        padding: (0, 0),
        groups: 1,
    },
    Shape {
        name: "ganin.conv2",
        x: [64, 32, 12, 12],
        w: [48, 32, 5, 5],
        stride: 1,
        padding: (0, 0),
        groups: 1,
    },
    Shape {
        name: "effnet.stem s2",
        x: [32, 3, 112, 112],
        w: [32, 3, 3, 3],
        stride: 2,
        padding: (0, 1),
        groups: 1,
    },
    Shape {
        name: "effnet.dw3 144",
        x: [32, 144, 28, 28],
        w: [144, 1, 3, 3],
        stride: 1,
        padding: (1, 1),
        groups: 144,
    },
    Shape {
        name: "effnet.dw5 240",
        x: [32, 240, 14, 14],
        w: [240, 1, 5, 5],
        stride: 1,
        padding: (2, 2),
        groups: 240,
    },
    Shape {
        name: "effnet.pw 144>24",
        x: [32, 144, 28, 28],
        w: [24, 144, 1, 1],
        stride: 1,
        padding: (0, 0),
        groups: 1,
    },
];

/// What a timed step differentiates.
#[derive(Clone, Copy, PartialEq)]
enum Grad {
    /// Forward only (no tensor requires a gradient).
    None,
    /// Forward + the input gradient.
    Input,
    /// Forward + the weight gradient.
    Weight,
}

fn candidate_conv(s: &Shape, candidate: &str, x: Tensor<4>, w: Tensor<4>) -> Tensor<4> {
    let opts = ConvOptions::new_with_padding([s.stride; 2], [s.padding; 2], [1, 1], s.groups);
    match candidate {
        "burn" => conv2d(x, w, None, opts, ConvKernels::Burn),
        "own" => conv2d(x, w, None, opts, ConvKernels::Own),
        _ => {
            // im2col by unfold4d (symmetric padding only) + one batched matmul.
            let [n, _, _, _] = x.dims();
            let [co, ci, kh, kw] = w.dims();
            let cols = ops::unfold4d(
                x,
                [kh, kw],
                UnfoldOptions::new([s.stride; 2], [s.padding.0; 2], [1, 1]),
            );
            let l = cols.dims()[2];
            let y = w.reshape([1, co, ci * kh * kw]).matmul(cols);
            let side = (l as f64).sqrt() as usize;
            y.reshape([n, co, side, l / side])
        }
    }
}

/// Seconds for one step of `candidate` on fresh leaves, differentiating `grad`.
fn step(s: &Shape, candidate: &str, grad: Grad, dev: &Device) -> f64 {
    let x = tensor(vec![0.5; s.x.iter().product()], s.x, dev);
    let w = tensor(vec![0.01; s.w.iter().product()], s.w, dev);
    let (x, w) = match grad {
        Grad::None => (x, w),
        Grad::Input => (x.require_grad(), w),
        Grad::Weight => (x, w.require_grad()),
    };
    let start = Instant::now();
    let loss = candidate_conv(s, candidate, x, w).sum();
    if grad == Grad::None {
        let _ = tlkit::backend::scalar(&loss.reshape([1]));
    } else {
        let _ = loss.backward();
    }
    start.elapsed().as_secs_f64()
}

fn median(reps: usize, mut f: impl FnMut() -> f64) -> f64 {
    let _ = f();
    let mut t: Vec<f64> = (0..reps).map(|_| f()).collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2] * 1e3
}

/// Forward and forward + backward milliseconds of `f` on a fresh leaf of `shape`.
fn fwd_bwd<const D: usize>(
    shape: [usize; D],
    reps: usize,
    dev: &Device,
    f: impl Fn(Tensor<D>) -> Tensor<1>,
) -> (f64, f64) {
    let run = |grad: bool| {
        let t = tensor(vec![0.5; shape.iter().product()], shape, dev);
        // Values that differ, so that pooling has one maximum per window.
        let t = t + tensor(
            (0..shape.iter().product::<usize>())
                .map(|i| (i % 7) as f32)
                .collect(),
            shape,
            dev,
        );
        let t = if grad { t.require_grad() } else { t };
        let start = Instant::now();
        let y = f(t);
        if grad {
            let _ = y.backward();
        } else {
            let _ = tlkit::backend::scalar(&y);
        }
        start.elapsed().as_secs_f64()
    };
    (median(reps, || run(false)), median(reps, || run(true)))
}

/// Max-pooling 2×2 (LeNet's and the MNIST-M network's) with Burn's and the own kernel.
fn pool(x: [usize; 4], kernels: ConvKernels, reps: usize, dev: &Device) -> (f64, f64) {
    let opts = MaxPoolOptions::new([2, 2]).with_stride([2, 2]);
    fwd_bwd(x, reps, dev, |t| {
        max_pool2d(t, opts.clone(), kernels).sum().reshape([1])
    })
}

/// Training-mode batch norm on `[N, C, L]` (EfficientNet's shapes) with both kernels.
fn norm(x: [usize; 3], kernels: ConvKernels, reps: usize, dev: &Device) -> (f64, f64) {
    let c = x[1];
    fwd_bwd(x, reps, dev, |t| {
        let (g, b) = (
            tensor(vec![1.0; c], [c], dev),
            tensor(vec![0.0; c], [c], dev),
        );
        batch_norm_train(t, g, b, 1e-3, kernels)
            .output
            .sum()
            .reshape([1])
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dev = Device::flex().autodiff();
    println!("ms per call (median of {reps}): forward, input gradient, weight gradient");
    for s in SHAPES {
        let mut line = format!("{:<18}", s.name);
        for candidate in ["burn", "own", "unfold"] {
            if candidate == "unfold" && (s.groups > 1 || s.padding.0 != s.padding.1) {
                continue;
            }
            let f = median(reps, || step(s, candidate, Grad::None, &dev));
            let dx = median(reps, || step(s, candidate, Grad::Input, &dev)) - f;
            let dw = median(reps, || step(s, candidate, Grad::Weight, &dev)) - f;
            line += &format!("  {candidate}: {f:6.2} {dx:6.2} {dw:6.2}");
        }
        println!("{line}");
    }
    for (name, x) in [
        ("lenet.pool1", [64, 20, 24, 24]),
        ("lenet.pool2", [64, 50, 8, 8]),
        ("ganin.pool1", [64, 32, 24, 24]),
        ("ganin.pool2", [64, 48, 8, 8]),
    ] {
        let mut line = format!("{name:<18}");
        for (label, k) in [("burn", ConvKernels::Burn), ("own", ConvKernels::Own)] {
            let (f, fb) = pool(x, k, reps, &dev);
            line += &format!("  {label} max-pool: {f:6.2} {:6.2}", fb - f);
        }
        println!("{line}");
    }
    for (name, x) in [
        ("effnet.bn 32@56²", [32, 32, 56 * 56]),
        ("effnet.bn 96@56²", [32, 96, 56 * 56]),
        ("effnet.bn 144@28²", [32, 144, 28 * 28]),
        ("effnet.bn 672@7²", [32, 672, 7 * 7]),
        ("effnet.bn 1280@4²", [32, 1280, 4 * 4]),
    ] {
        let mut line = format!("{name:<18}");
        for (label, k) in [("burn", ConvKernels::Burn), ("own", ConvKernels::Own)] {
            let (f, fb) = norm(x, k, reps, &dev);
            line += &format!("  {label} batch norm: {f:6.2} {:6.2}", fb - f);
        }
        println!("{line}");
    }
}
