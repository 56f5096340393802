//! Data-parallel training: one step's batch split over several devices.
//!
//! Each device takes a contiguous shard of the batch (rows `0..n₀` to the first device, the
//! next `n₁` to the second, ...; sizes differ by at most one), runs the forward pass and the
//! backward pass of its shard's loss, and the shards' gradients are combined into one:
//!
//! ```text
//! g = Σₛ (nₛ / n) · ∇ Lₛ        Lₛ: the shard's loss, a mean over its nₛ rows
//! ```
//!
//! which is the gradient of the whole batch's mean loss, so the optimizer makes one update per
//! step, the same as one device given the whole batch, up to the order of the floating-point
//! sums. (PyTorch's `DistributedDataParallel` averages with equal weights 1/k; with equal shards
//! that is the same, and weighting by rows keeps the last, smaller batch of an epoch exact.)
//! What is not a mean over rows differs from one device, as it does under DDP: batch norm
//! normalises each shard with the shard's own statistics, and a loss term that is a statistic of
//! the whole batch (MMD, CORAL) sees one shard at a time. Running statistics are those the
//! first device's shard wrote (DDP broadcasts the first rank's buffers), dropout draws each
//! shard's masks from the step's generator in turn.
//!
//! # Why not Burn's distributed layer
//! Burn 0.22.1 has data parallelism in its backends (`DistributedOps`: parameters marked with
//! `Tensor::set_distributed`, a sync server started by `DistributedContext::init`, gradients
//! all-reduced during each device's backward pass), but only for CUDA devices:
//! - `burn-backend-extension-0.22.1/src/catalog.rs:30-35`: the `Flex` (CPU) backend is listed
//!   with `distributed: false`, so `Dispatch::start_communication_server` on a CPU device
//!   panics ("Distributed operations are not supported for device", `burn-dispatch-0.22.1/
//!   src/ops/distributed.rs:66`), and `set_distributed` on a CPU tensor panics the same way
//!   (`burn-dispatch-0.22.1/src/backend.rs:684`);
//! - `burn-flex-0.22.1/src/ops/transaction.rs:10-11`: `impl DistributedOps<Flex> for Flex {}`
//!   keeps the trait's defaults, whose `all_reduce` and `sync_collective` are `unimplemented!()`
//!   (`burn-backend-0.22.1/src/backend/distributed/ops.rs:116-122` and `:129-131`);
//! - `burn-flex-0.22.1/src/backend.rs:37-42`: `FlexDevice` is a unit struct whose id is always
//!   `(0, 0)`: the CPU backend has one device, so there is no second CPU device to shard to;
//! - wgpu: the cubecl runtime's default `all_reduce` returns "no device transport"
//!   (`cubecl-runtime-0.11.3/src/server/base.rs:959-969`); only `cubecl-cuda` implements it
//!   (NCCL, `cubecl-cuda-0.11.3/src/compute/server.rs:429`).
//!
//! So tlkit runs the shards itself, on every backend alike: one host thread runs each shard's
//! forward and backward on its device (a replica of the network there, refreshed from the
//! first device's parameters every step), brings the gradients to the network's device,
//! averages them as above, and the trainer updates once. On the CPU every shard runs on the
//! one CPU device, one after the other: the same numbers as several devices, no speed-up
//! (Burn's CPU kernels already use every core). On GPUs the kernels of one device run while
//! the host queues the next device's, but the loss values read back each step serialise
//! part of the work; Burn's own all-reduce (CUDA only) is the faster path there.

use std::ops::Range;

use super::gradient::weighted_sum;
use super::trainer::Grads;
use crate::backend::{Device, DeviceSlot};
use crate::data::TargetBatch;
use crate::nn::Network;
use crate::{Error, Result};

/// The devices a trainer splits its batches over.
#[derive(Debug, Clone)]
pub struct Parallel {
    slots: Vec<DeviceSlot>,
    devices: Vec<Device>,
}

impl Parallel {
    /// The devices of `slots` (e.g. from [`crate::backend::parse_devices`]); an error when one
    /// needs a backend this build lacks.
    pub fn new(slots: &[DeviceSlot]) -> Result<Self> {
        if slots.is_empty() {
            return Err(Error::Invalid {
                field: "--devices".into(),
                value: String::new(),
                msg: "give at least one device".into(),
            });
        }
        let devices = slots.iter().map(|s| s.device()).collect::<Result<_>>()?;
        Ok(Parallel {
            slots: slots.to_vec(),
            devices,
        })
    }

    /// How many devices (shards per step).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Never true: a [`Parallel`] has at least one device.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The devices as given (`cpu:0`, ...).
    pub fn slots(&self) -> &[DeviceSlot] {
        &self.slots
    }

    /// `cpu:0,cpu:1`: the list as `--devices` takes it.
    pub fn describe(&self) -> String {
        self.slots
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether every device is `net`'s own (always so on the CPU backend): then every shard
    /// runs on `net` itself and no replica is made.
    pub fn all_on(&self, net: &Network) -> bool {
        self.devices.iter().all(|d| d == net.device())
    }

    /// One network per device: `None` where the device is `net`'s own (the shard runs on
    /// `net`), else a copy of `net`'s current parameters and buffers on that device.
    pub fn replicas(&self, net: &Network) -> Vec<Option<Network>> {
        self.devices
            .iter()
            .map(|d| (d != net.device()).then(|| net.to_device(d)))
            .collect()
    }
}

/// `rows` split into `parts` contiguous ranges whose sizes differ by at most one (the first
/// `rows % parts` get one more); empty ranges are left out, so fewer rows than parts give
/// one range per row.
pub fn shard_ranges(rows: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let (base, extra) = (rows / parts, rows % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// The rows `r` of a batch's target values.
pub fn target_rows(target: &TargetBatch, r: &Range<usize>) -> TargetBatch {
    match target {
        TargetBatch::Classes(c) => TargetBatch::Classes(c[r.clone()].to_vec()),
        TargetBatch::Values { values, width } => TargetBatch::Values {
            values: values[r.start * width..r.end * width].to_vec(),
            width: *width,
        },
    }
}

/// The rows `r` of row-major values `width` wide.
pub fn value_rows(values: &[f32], width: usize, r: &Range<usize>) -> Vec<f32> {
    values[r.start * width..r.end * width].to_vec()
}

/// Σₛ wₛ · gradsₛ on `device` (each shard's gradients moved there first), path by path; one
/// shard with weight 1 is returned as it is, so one device gives the same numbers as before.
pub fn average(shards: Vec<(Grads, f64)>, device: &Device) -> Grads {
    if let [(_, w)] = shards.as_slice()
        && *w == 1.0
    {
        return shards
            .into_iter()
            .next()
            .map(|(g, _)| g)
            .unwrap_or_default();
    }
    let (grads, weights): (Vec<Grads>, Vec<f64>) = shards
        .into_iter()
        .map(|(g, w)| {
            let g = g
                .into_iter()
                .map(|(k, v)| {
                    let v = if &v.device() == device {
                        v
                    } else {
                        v.to_device(device)
                    };
                    (k, v)
                })
                .collect();
            (g, w)
        })
        .unzip();
    weighted_sum(grads, &weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{DeviceKind, parse_devices};
    use crate::data::Split;
    use crate::nn::NetworkSpec;
    use crate::train::{OptimizerConfig, TrainConfig, Trainer};

    #[test]
    fn shards_cover_the_batch_in_order_with_sizes_one_apart() {
        assert_eq!(shard_ranges(10, 2), vec![0..5, 5..10]);
        assert_eq!(shard_ranges(50, 3), vec![0..17, 17..34, 34..50]);
        assert_eq!(shard_ranges(2, 4), vec![0..1, 1..2]);
        assert_eq!(shard_ranges(7, 1), vec![0..7]);
        let t = TargetBatch::Values {
            values: (0..6).map(|v| v as f32).collect(),
            width: 2,
        };
        assert_eq!(
            target_rows(&t, &(1..3)),
            TargetBatch::Values {
                values: vec![2.0, 3.0, 4.0, 5.0],
                width: 2
            }
        );
    }

    fn digits() -> (NetworkSpec, Split) {
        let split = crate::data::optdigits_embedded().unwrap();
        let spec = crate::nn::zoo::mlp(&split.train.sample_shape, &[32], 10, 0.0);
        (spec, split)
    }

    /// Trains `steps` batches of `batch` on `devices` shards and returns the weights.
    fn weights_after(
        devices: &str,
        batch: usize,
        optimizer: OptimizerConfig,
        steps: usize,
    ) -> Vec<(String, Vec<f32>)> {
        weights_with(devices, batch, optimizer, steps, false)
    }

    /// A loss on the unlabeled companion rows alone: 0.01 · mean over those rows of Σ logit².
    /// A mean over rows, so shards weighted by rows give the whole batch's; it fails if a
    /// shard took other companion rows than its own positions.
    struct CompanionEnergy;
    impl crate::train::LossTerm for CompanionEnergy {
        fn name(&self) -> &str {
            "energy"
        }
        fn loss(
            &mut self,
            _net: &mut Network,
            step: &mut crate::train::StepContext<'_>,
        ) -> Result<crate::backend::Tensor<1>> {
            let (s, t) = (step.source_rows(), step.target_rows());
            let target = step.logits.clone().narrow(0, s, t);
            Ok((target.clone() * target).sum().mul_scalar(0.01 / t as f32))
        }
    }

    fn weights_with(
        devices: &str,
        batch: usize,
        optimizer: OptimizerConfig,
        steps: usize,
        companion: bool,
    ) -> Vec<(String, Vec<f32>)> {
        let (spec, split) = digits();
        let device = crate::backend::default_device().unwrap();
        let mut net = Network::new(spec, 7, &device).unwrap();
        let slots = parse_devices(devices, DeviceKind::Cpu).unwrap();
        let cfg = TrainConfig::new(1, batch, optimizer);
        let mut trainer = Trainer::new(cfg, &net, 3)
            .unwrap()
            .with_devices(&slots)
            .unwrap();
        if companion {
            let mut target = split.test.clone();
            target.y.clear();
            trainer = trainer
                .with_unlabeled(target)
                .with_term(Box::new(CompanionEnergy));
        }
        let width = 64;
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        for s in 0..steps {
            let rows = s * batch..(s + 1) * batch;
            let x = value_rows(&split.train.x, width, &rows);
            let y = &split.train.y[rows];
            trainer
                .step(&mut net, x, y, &[], &mut rng, 0, steps, 0.05)
                .unwrap();
        }
        net.state_dict()
            .into_iter()
            .map(|(k, (_, v))| (k, v))
            .collect()
    }

    fn max_difference(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
        a.iter()
            .zip(b)
            .flat_map(|((ka, va), (kb, vb))| {
                assert_eq!(ka, kb);
                va.iter().zip(vb).map(|(x, y)| (x - y).abs())
            })
            .fold(0.0, f32::max)
    }

    /// Weights after 6 steps of 50 digits: two devices of 25 rows, and three of 17/17/16
    /// rows, against one device with the whole batch. Measured: max |Δw| 1.5e-8 (SGD with
    /// momentum, both splits) and 1.6e-7 / 1.9e-6 (Adam, whose update divides by √v and so
    /// magnifies the rounding of near-zero gradients), on weights of magnitude ~0.1: float32
    /// summation order; the tolerance is 1e-5. Weighting the three unequal shards equally
    /// (DDP's plain mean) instead of by rows moves the SGD weights by 1.1e-3, and the control
    /// below, steps on 25-row batches with no averaging, by 5.9e-2.
    #[test]
    fn several_cpu_devices_make_the_updates_of_one_device_with_the_whole_batch() {
        for optimizer in [OptimizerConfig::sgd(0.05, 0.9), OptimizerConfig::adam(0.01)] {
            let one = weights_after("1", 50, optimizer.clone(), 6);
            for devices in ["cpu:0,cpu:1", "3"] {
                let many = weights_after(devices, 50, optimizer.clone(), 6);
                let d = max_difference(&one, &many);
                assert!(d < 1e-5, "{devices} {optimizer:?}: max |Δw| = {d}");
            }
            let halves = weights_after("1", 25, optimizer.clone(), 12);
            let control = max_difference(&one, &halves);
            assert!(control > 1e-3, "control {optimizer:?}: {control}");
        }
    }

    /// With unlabeled companion rows and a loss term on them, each shard carries the companion
    /// rows of its own positions: two and three devices match one (measured max |Δw| below
    /// 1e-7 with SGD).
    #[test]
    fn companion_rows_and_loss_terms_split_with_their_shards() {
        let sgd = OptimizerConfig::sgd(0.05, 0.9);
        let one = weights_with("1", 50, sgd.clone(), 4, true);
        let plain = weights_with("1", 50, sgd.clone(), 4, false);
        assert!(
            max_difference(&one, &plain) > 1e-4,
            "the term changes nothing"
        );
        for devices in ["2", "3"] {
            let many = weights_with(devices, 50, sgd.clone(), 4, true);
            let d = max_difference(&one, &many);
            assert!(d < 1e-5, "{devices}: max |Δw| = {d}");
        }
    }

    #[test]
    fn a_weighting_strategy_on_several_devices_is_refused_by_name() {
        let (spec, split) = digits();
        let mut net = Network::new(spec, 7, &crate::backend::default_device().unwrap()).unwrap();
        let slots = parse_devices("2", DeviceKind::Cpu).unwrap();
        let cfg = TrainConfig::new(1, 8, OptimizerConfig::sgd(0.1, 0.0));
        let mut trainer = Trainer::new(cfg, &net, 3)
            .unwrap()
            .with_gradient_strategy(Box::new(crate::train::SumPerTask))
            .with_devices(&slots)
            .unwrap();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        let x = value_rows(&split.train.x, 64, &(0..8));
        let err = trainer
            .step(&mut net, x, &split.train.y[..8], &[], &mut rng, 0, 1, 0.1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--devices = cpu:0,cpu:1: weighting `sum`"),
            "{err}"
        );
    }
}
