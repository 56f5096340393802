//! Training throughput of tlkit's real training step, for `bench/run.sh`.
//!
//! Trains the benchmark MLP (784-256-256-10, Adam 1e-3), LeNet (SGD momentum 0.9, lr 0.01) or
//! EfficientNet-Lite0 at 112×112 with a 10-class head (`effnet112`, SGD momentum 0.9, lr 0.01,
//! every layer trained: the full fine-tune of BENCHMARKS.md), or the domain-adaptation network
//! of `examples/adapt-mnist-mnistm/ganin.toml` on 3×28×28 inputs, alone (`ganin`) or with its
//! DANN term (`ganin-dann`: every step also carries `--batch` unlabeled target rows through the
//! network, the gradient reversal layer and the 768→100→1 domain classifier), on random data
//! for `--steps` steps after `--warmup` steps and prints one JSON line with (source) samples
//! per second, in the same shape as `bench/pytorch_train.py`.
//!
//! ```text
//! cargo run --release -p tlkit --example bench_train -- --model lenet --batch 64 --steps 200
//! ```
//!
//! `--device cpu|cuda|wgpu` (default cpu; a GPU needs the build's `cuda` or `wgpu` feature, see
//! `bench/gpu.sh`) places the network; `--devices LIST` (as `tlkit --devices`) splits each
//! batch over several devices. `TLKIT_CONV=own` (the default) runs the convolutions, linear
//! layers, max pooling, training-mode batch norm, ReLU6 and Adam's update with tlkit's own kernels
//! (`nn::{conv, linear, pool, batch_norm, relu6}`, `train::fused_adam`), `burn` with Burn's. `TLKIT_PROFILE=1` adds the time spent
//! in each own kernel over the timed steps, printed on stderr. Like the `tlkit` binary, it keeps
//! large freed buffers in the heap ([`backend::keep_freed_buffers`]); `TLKIT_MALLOC=system`
//! measures with glibc's defaults, and the JSON line says which (`"malloc"`). Like the binary,
//! its main thread is compute thread 0 and the other compute threads spin between operations
//! ([`backend::compute_on_this_thread`]); `TLKIT_POOL=rayon` measures with rayon's own pool,
//! whose threads sleep between operations (`"pool"` in the JSON line).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tlkit::adapt::{AdaptConfig, Dann};
use tlkit::backend::{self, DeviceKind};
use tlkit::data::Dataset;
use tlkit::nn::{Network, kernel_profile, zoo};
use tlkit::train::{OptimizerConfig, TrainConfig, Trainer};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let malloc = match backend::keep_freed_buffers().map_err(|e| e.to_string())? {
        backend::HostAllocator::Raised { .. } => "kept",
        _ => "system",
    };
    let pool = match backend::compute_on_this_thread().map_err(|e| e.to_string())? {
        backend::ComputePool::Joined { .. } => "caller",
        backend::ComputePool::Rayon => "rayon",
    };
    let args: Vec<String> = std::env::args().collect();
    let model = arg(&args, "--model", "mlp");
    let batch: usize = arg(&args, "--batch", "128").parse()?;
    let steps: usize = arg(&args, "--steps", "200").parse()?;
    let warmup: usize = arg(&args, "--warmup", "20").parse()?;
    let ganin = || -> Result<AdaptConfig, Box<dyn std::error::Error>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/adapt-mnist-mnistm");
        Ok(AdaptConfig::load(&dir.join("ganin.toml"))?)
    };
    let (spec, optimizer) = match model.as_str() {
        "mlp" => (
            zoo::mlp(&[784], &[256, 256], 10, 0.0),
            OptimizerConfig::adam(1e-3),
        ),
        "lenet" => (
            zoo::lenet(1, 28, 10, arg(&args, "--dropout", "0.5").parse()?),
            OptimizerConfig::sgd(0.01, 0.9),
        ),
        "effnet112" => (
            zoo::efficientnet_lite0(112, 10, 0.2),
            OptimizerConfig::sgd(0.01, 0.9),
        ),
        "ganin" | "ganin-dann" => {
            let cfg = ganin()?;
            (
                cfg.model
                    .build(&[3, 28, 28], 10, std::path::Path::new("."))?,
                cfg.train.optimizer.clone(),
            )
        }
        other => {
            return Err(format!(
                "unknown model `{other}` (mlp, lenet, effnet112, ganin or ganin-dann)"
            )
            .into());
        }
    };
    let width: usize = spec.input_shape.iter().product();
    let kind = match arg(&args, "--device", "cpu").as_str() {
        "cpu" => DeviceKind::Cpu,
        "cuda" => DeviceKind::Cuda,
        "wgpu" => DeviceKind::Wgpu,
        other => return Err(format!("unknown --device `{other}` (cpu, cuda or wgpu)").into()),
    };
    let device = kind.device()?;
    let mut net = Network::new(spec, 0, &device)?;
    let cfg = TrainConfig {
        drop_last: true,
        eval_batch_size: batch,
        valid_every: 0,
        ..TrainConfig::new(1, batch, optimizer)
    };
    let lr = cfg.optimizer.lr;
    let mut trainer = Trainer::new(cfg, &net, 0)?;
    if let Some(list) = args.iter().position(|a| a == "--devices") {
        let list = args.get(list + 1).ok_or("--devices needs a value")?;
        trainer = trainer.with_devices(&backend::parse_devices(list, kind)?)?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..batch * width).map(|_| rng.random::<f32>()).collect();
    let y: Vec<u32> = (0..batch).map(|_| rng.random_range(0..10)).collect();
    let mut taps = vec![];
    if model == "ganin-dann" {
        let dcfg = ganin()?.dann;
        taps.push(dcfg.feature_layer.clone());
        let n = batch * 32;
        let tx: Vec<f32> = (0..n * width).map(|_| rng.random::<f32>()).collect();
        let mut target = Dataset::new("target", vec![3, 28, 28], tx, vec![0; n], 10)?;
        target.y.clear();
        let term = Dann::new(dcfg, &net, 1, &device)?;
        trainer = trainer.with_unlabeled(target).with_term(Box::new(term));
    }
    let total = warmup + steps;
    let mut last = 0.0;
    let mut start = Instant::now();
    for i in 0..total {
        if i == warmup {
            start = Instant::now();
            let _ = kernel_profile::take();
        }
        last = trainer
            .step(&mut net, x.clone(), &y, &taps, &mut rng, 0, total, lr)?
            .loss;
    }
    let secs = start.elapsed().as_secs_f64();
    if kernel_profile::profiling() {
        // On stderr: bench/run.sh reads the JSON line from stdout.
        eprintln!("kernel profile, {steps} timed steps of {secs:.3} s (TLKIT_PROFILE=1):");
        for k in kernel_profile::take() {
            eprintln!(
                "  {:<28} {:>6} calls {:>9.1} ms/step {:>5.1} %",
                k.kernel,
                k.calls,
                k.seconds * 1e3 / steps as f64,
                100.0 * k.seconds / secs
            );
        }
    }
    println!(
        "{{\"framework\":\"tlkit\",\"model\":\"{model}\",\"batch\":{batch},\"steps\":{steps},\"warmup\":{warmup},\"samples_per_s\":{:.1},\"seconds\":{secs:.3},\"final_loss\":{last:.4},\"device\":\"{}\",\"malloc\":\"{malloc}\",\"pool\":\"{pool}\"}}",
        (steps * batch) as f64 / secs,
        kind.as_str()
    );
    Ok(())
}
