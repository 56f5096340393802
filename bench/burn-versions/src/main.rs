//! One training step of two networks written against Burn's tensor API alone (no tlkit code),
//! timed the same way under Burn 0.22.1 and 0.23.0-pre.1: `--model mlp` (784-256-256-10, batch
//! 128) or `--model lenet` (TLlib's LeNet: conv 1→20 k5, max-pool 2, ReLU, conv 20→50 k5,
//! max-pool 2, ReLU, fc 800→500, ReLU, fc 500→10; batch 64). Random inputs and labels, plain
//! SGD (lr 0.01) written out per parameter, cross entropy from `log_softmax`. Prints one JSON
//! line with the samples per second over `--steps` steps after `--warmup`.

#[cfg(feature = "burn022")]
use burn022 as burn;
#[cfg(feature = "burn023")]
use burn023 as burn;

use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData, activation};
use std::time::Instant;

fn param<const D: usize>(shape: [usize; D], fan_in: usize, dev: &Device) -> Tensor<D> {
    let b = 1.0 / (fan_in as f64).sqrt();
    Tensor::<D>::random(shape, Distribution::Uniform(-b, b), dev).require_grad()
}

struct Net {
    lenet: bool,
    p: Vec<Tensor<4>>, // every parameter kept 4-D ([a, b, c, d]) and reshaped at use
}

fn shape4(s: &[usize]) -> [usize; 4] {
    let mut out = [1; 4];
    out[4 - s.len()..].copy_from_slice(s);
    out
}

impl Net {
    fn new(lenet: bool, dev: &Device) -> Self {
        let shapes: Vec<(Vec<usize>, usize)> = if lenet {
            vec![
                (vec![20, 1, 5, 5], 25),
                (vec![20], 25),
                (vec![50, 20, 5, 5], 500),
                (vec![50], 500),
                (vec![500, 800], 800),
                (vec![500], 800),
                (vec![10, 500], 500),
                (vec![10], 500),
            ]
        } else {
            vec![
                (vec![256, 784], 784),
                (vec![256], 784),
                (vec![256, 256], 256),
                (vec![256], 256),
                (vec![10, 256], 256),
                (vec![10], 256),
            ]
        };
        let p = shapes
            .iter()
            .map(|(s, f)| param(shape4(s), *f, dev))
            .collect();
        Net { lenet, p }
    }

    fn linear(&self, x: Tensor<2>, i: usize) -> Tensor<2> {
        let [_, _, o, n] = self.p[i].dims();
        let w: Tensor<2> = self.p[i].clone().reshape([o, n]);
        let b: Tensor<2> = self.p[i + 1].clone().reshape([1, o]);
        x.matmul(w.transpose()) + b
    }

    fn forward(&self, x: Tensor<2>, batch: usize) -> Tensor<2> {
        if !self.lenet {
            let h = activation::relu(self.linear(x, 0));
            let h = activation::relu(self.linear(h, 2));
            return self.linear(h, 4);
        }
        let x: Tensor<4> = x.reshape([batch, 1, 28, 28]);
        let pool = || MaxPoolOptions::new([2, 2]).with_stride([2, 2]);
        let conv = |x: Tensor<4>, i: usize| {
            let c = self.p[i].dims()[0];
            conv2d(
                x,
                self.p[i].clone(),
                Some(self.p[i + 1].clone().reshape([c])),
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            )
        };
        let h = activation::relu(max_pool2d(conv(x, 0), pool()));
        let h = activation::relu(max_pool2d(conv(h, 2), pool()));
        let h: Tensor<2> = h.reshape([batch, 800]);
        let h = activation::relu(self.linear(h, 4));
        self.linear(h, 6)
    }

    fn step(&mut self, x: Tensor<2>, onehot: Tensor<2>, batch: usize, lr: f32) -> f32 {
        let logits = self.forward(x, batch);
        let loss = (activation::log_softmax(logits, 1) * onehot).sum() * (-1.0 / batch as f32);
        let value = loss.clone().into_data().try_to_vec::<f32>().unwrap()[0];
        let grads = loss.backward();
        for p in self.p.iter_mut() {
            let g = p.grad(&grads).expect("every parameter has a gradient");
            *p = (p.clone().inner() - g * lr).autodiff().require_grad();
        }
        value
    }
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = arg(&args, "--model", "mlp");
    let lenet = model == "lenet";
    let batch: usize = arg(&args, "--batch", if lenet { "64" } else { "128" })
        .parse()
        .unwrap();
    let steps: usize = arg(&args, "--steps", "200").parse().unwrap();
    let warmup: usize = arg(&args, "--warmup", "20").parse().unwrap();
    let dev = Device::flex().autodiff();
    let mut net = Net::new(lenet, &dev);
    let x: Tensor<2> = Tensor::random([batch, 784], Distribution::Uniform(0.0, 1.0), &dev);
    let labels: Vec<i64> = (0..batch as i64).map(|i| (i * 7) % 10).collect();
    let labels: Tensor<1, Int> = Tensor::from_data(TensorData::new(labels, [batch]), &dev);
    let onehot: Tensor<2> = labels.one_hot(10).float();
    let mut loss = 0.0;
    for _ in 0..warmup {
        loss = net.step(x.clone(), onehot.clone(), batch, 0.01);
    }
    let start = Instant::now();
    for _ in 0..steps {
        loss = net.step(x.clone(), onehot.clone(), batch, 0.01);
    }
    let secs = start.elapsed().as_secs_f64();
    let version = if cfg!(feature = "burn023") {
        "0.23.0-pre.1"
    } else {
        "0.22.1"
    };
    println!(
        "{{\"burn\":\"{version}\",\"model\":\"{model}\",\"batch\":{batch},\"steps\":{steps},\"samples_per_s\":{:.1},\"final_loss\":{loss:.4}}}",
        (steps * batch) as f64 / secs
    );
}
