//! Progressive Neural Networks: Rusu et al., "Progressive Neural Networks", 2016
//! (<https://arxiv.org/abs/1606.04671>), Eq. (1):
//!
//! h_i^(k) = f( W_i^(k) h_{i−1}^(k) + Σ_{j<k} U_i^(k:j) h_{i−1}^(j) )
//!
//! One column per task; when task k arrives, a new column is added and the earlier columns are
//! frozen; lateral connections U feed every earlier column's layer i−1 into the new column's
//! layer i. Task k is predicted by column k, so the task label must be known at test time
//! (task-incremental only) and the earlier tasks' predictions never change: backward transfer
//! is exactly 0 by construction.
//!
//! A column is a list of blocks, each a weight layer (linear, or 3×3 convolution) followed by
//! its activation (ReLU, and 2×2 max pooling after a convolution). A lateral U is a layer of
//! the same kind and geometry as the block's weight layer, reading the earlier column's
//! features, without bias. Rusu et al.'s non-linear adapters (a learned scalar and a projection
//! before U) are left out: this is Eq. (1) as written.
//!
//! Columns are ordinary [`Network`]s (one per block, one per lateral), trained with the
//! project's optimizer ([`Optimizer`]), loss and label-group masks.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::backend::{self, Device, Tensor};
use crate::data::{Dataset, batch};
use crate::nn::{Act, LayerSpec, Mode, Network, NetworkSpec, Node, Padding};
use crate::train::{
    EpochRecord, Optimizer, TrainConfig, checkpoint::HostTensors, group_mask, loss::cross_entropy,
};
use crate::{Error, Result};

/// The weight layer of a block.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockLayer {
    /// A fully connected layer with this many outputs.
    Linear(usize),
    /// A 3×3 convolution (padding 1) with this many output channels, then 2×2 max pooling.
    Conv(usize),
}

/// The architecture of one column: its blocks, the last one being the output layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnArch {
    pub input_shape: Vec<usize>,
    pub blocks: Vec<BlockLayer>,
}

impl ColumnArch {
    /// An MLP column: `hidden` linear+ReLU blocks, then a linear output of `outputs`.
    pub fn mlp(input_shape: &[usize], hidden: &[usize], outputs: usize) -> Self {
        let mut blocks: Vec<BlockLayer> = hidden.iter().map(|&h| BlockLayer::Linear(h)).collect();
        blocks.push(BlockLayer::Linear(outputs));
        ColumnArch {
            input_shape: input_shape.to_vec(),
            blocks,
        }
    }

    /// A convolutional column: conv+ReLU+pool blocks of `channels`, then `hidden` linear+ReLU
    /// blocks, then a linear output.
    pub fn conv(
        input_shape: &[usize],
        channels: &[usize],
        hidden: &[usize],
        outputs: usize,
    ) -> Self {
        let mut blocks: Vec<BlockLayer> = channels.iter().map(|&c| BlockLayer::Conv(c)).collect();
        blocks.extend(hidden.iter().map(|&h| BlockLayer::Linear(h)));
        blocks.push(BlockLayer::Linear(outputs));
        ColumnArch {
            input_shape: input_shape.to_vec(),
            blocks,
        }
    }
}

fn weight_layer(b: &BlockLayer, bias: bool) -> LayerSpec {
    match *b {
        BlockLayer::Linear(out) => LayerSpec::Linear {
            in_features: None,
            out_features: out,
            bias,
        },
        BlockLayer::Conv(out) => LayerSpec::Conv2d {
            in_channels: None,
            out_channels: out,
            kernel_size: 3,
            stride: 1,
            padding: Padding::Size(1),
            dilation: 1,
            groups: 1,
            bias,
        },
    }
}

/// One block of one column: the weight layer, its activation, and the laterals from the same
/// block of every earlier column's previous block.
#[derive(Debug, Clone)]
struct Block {
    layer: Network,
    post: Network,
    laterals: Vec<Network>,
}

/// One column.
#[derive(Debug, Clone)]
struct Column {
    blocks: Vec<Block>,
}

/// A progressive network: one column per task seen.
#[derive(Debug, Clone)]
pub struct Progressive {
    arch: ColumnArch,
    /// Per block: its input shape (flattened before a linear block).
    inputs: Vec<Vec<usize>>,
    columns: Vec<Column>,
    device: Device,
}

fn flatten_to(x: Act, shape: &[usize]) -> Act {
    if shape.len() == 1 {
        Act::Flat(x.flat())
    } else {
        x
    }
}

impl Progressive {
    /// An empty progressive network; the shapes of every block are checked now.
    pub fn new(arch: ColumnArch, device: &Device) -> Result<Self> {
        if arch.blocks.is_empty() {
            return Err(Error::Spec(
                "a progressive network needs at least one block".into(),
            ));
        }
        let mut inputs = vec![];
        let mut cur = arch.input_shape.clone();
        for (i, b) in arch.blocks.iter().enumerate() {
            if matches!(b, BlockLayer::Linear(_)) && cur.len() == 3 {
                cur = vec![cur.iter().product()];
            }
            if matches!(b, BlockLayer::Conv(_)) && cur.len() != 3 {
                return Err(Error::Spec(format!(
                    "progressive column block {i} is a convolution but its input is {}; put convolutions first, on image input",
                    crate::nn::fmt_shape(&cur)
                )));
            }
            inputs.push(cur.clone());
            let probe = Network::new(
                NetworkSpec {
                    input_shape: cur.clone(),
                    layers: vec![Node::named("layer", weight_layer(b, true))],
                    heads: Vec::new(),
                },
                0,
                device,
            )?;
            cur = probe.output_shape();
            if matches!(b, BlockLayer::Conv(_)) {
                cur = vec![cur[0], cur[1] / 2, cur[2] / 2];
            }
        }
        Ok(Progressive {
            arch,
            inputs,
            columns: vec![],
            device: device.clone(),
        })
    }

    /// Number of columns.
    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    /// Adds a column (initialised from `seed`) with laterals from every existing column.
    pub fn add_column(&mut self, seed: u64) -> Result<()> {
        let k = self.columns.len();
        let last = self.arch.blocks.len() - 1;
        let mut blocks = vec![];
        for (i, b) in self.arch.blocks.iter().enumerate() {
            let s = seed.wrapping_mul(1_000_003).wrapping_add((i * 100) as u64);
            let layer = Network::new(
                NetworkSpec {
                    input_shape: self.inputs[i].clone(),
                    layers: vec![Node::named("layer", weight_layer(b, true))],
                    heads: Vec::new(),
                },
                s,
                &self.device,
            )?;
            let out = layer.output_shape();
            let post_layers = match (b, i == last) {
                (_, true) => vec![],
                (BlockLayer::Linear(_), false) => vec![LayerSpec::Relu],
                (BlockLayer::Conv(_), false) => vec![
                    LayerSpec::Relu,
                    LayerSpec::MaxPool2d {
                        kernel_size: 2,
                        stride: None,
                        padding: 0,
                    },
                ],
            };
            let post = Network::new(
                NetworkSpec {
                    input_shape: out,
                    layers: post_layers.into_iter().map(Node::anon).collect(),
                    heads: Vec::new(),
                },
                0,
                &self.device,
            )?;
            let laterals = if i == 0 {
                vec![]
            } else {
                (0..k)
                    .map(|j| {
                        Network::new(
                            NetworkSpec {
                                input_shape: self.inputs[i].clone(),
                                layers: vec![Node::named("layer", weight_layer(b, false))],
                                heads: Vec::new(),
                            },
                            s.wrapping_add(j as u64 + 1),
                            &self.device,
                        )
                    })
                    .collect::<Result<_>>()?
            };
            blocks.push(Block {
                layer,
                post,
                laterals,
            });
        }
        self.columns.push(Column { blocks });
        Ok(())
    }

    /// The outputs of column `k` (features of every block of columns `0..=k` are computed on
    /// the way). Columns before `k` always run without autodiff; column `k` runs in `mode`.
    ///
    /// # Shapes
    /// - x: `[batch, ...input_shape]`
    /// - output: `[batch, outputs]`
    pub fn forward(&mut self, x: Act, k: usize, mut mode: Mode<'_>) -> Result<Tensor<2>> {
        if k >= self.columns.len() {
            return Err(Error::Spec(format!(
                "progressive network has {} columns; there is no column {k}",
                self.columns.len()
            )));
        }
        // feats[j] = the current block input of column j.
        let mut feats: Vec<Act> = vec![x; k + 1];
        for i in 0..self.arch.blocks.len() {
            let shape = &self.inputs[i];
            let ins: Vec<Act> = feats.iter().map(|f| flatten_to(f.clone(), shape)).collect();
            let mut next = Vec::with_capacity(k + 1);
            for j in 0..=k {
                let block = &mut self.columns[j].blocks[i];
                let train = j == k;
                let run = |net: &mut Network, a: Act, mode: &mut Mode<'_>| -> Result<Act> {
                    match mode {
                        Mode::Train(rng) if train => net.forward(a, Mode::Train(rng)),
                        _ => net.forward(a, Mode::Eval),
                    }
                };
                let mut pre = run(&mut block.layer, ins[j].clone(), &mut mode)?;
                for (src, lat) in block.laterals.iter_mut().enumerate() {
                    let u = run(lat, ins[src].clone(), &mut mode)?;
                    pre = match (pre, u) {
                        (Act::Flat(a), Act::Flat(b)) => Act::Flat(a + b),
                        (Act::Map(a), Act::Map(b)) => Act::Map(a + b),
                        _ => return Err(Error::Spec("lateral and block shapes differ".into())),
                    };
                }
                next.push(run(&mut block.post, pre, &mut mode)?);
            }
            feats = next;
        }
        Ok(feats.pop().expect("k + 1 columns").flat())
    }

    fn trainable(&mut self, k: usize) -> Vec<&mut Network> {
        let mut out = vec![];
        for b in &mut self.columns[k].blocks {
            out.push(&mut b.layer);
            out.extend(b.laterals.iter_mut());
        }
        out
    }

    /// Every parameter, named `columns.<k>.blocks.<i>.layer.*` and
    /// `columns.<k>.blocks.<i>.lateral.<j>.layer.*` (from column j).
    pub fn state_dict(&self) -> HostTensors {
        let mut out = BTreeMap::new();
        for (k, c) in self.columns.iter().enumerate() {
            for (i, b) in c.blocks.iter().enumerate() {
                for (p, v) in b.layer.state_dict() {
                    out.insert(format!("columns.{k}.blocks.{i}.{p}"), v);
                }
                for (j, l) in b.laterals.iter().enumerate() {
                    for (p, v) in l.state_dict() {
                        out.insert(format!("columns.{k}.blocks.{i}.lateral.{j}.{p}"), v);
                    }
                }
            }
        }
        out
    }

    /// Number of parameters of all columns.
    pub fn num_params(&self) -> usize {
        self.state_dict().values().map(|(_, v)| v.len()).sum()
    }

    /// Trains the newest column on `data` (earlier columns are never updated), with each
    /// sample's loss restricted to its group's output units. Calls `on_epoch` after every
    /// epoch. Returns one record per epoch.
    pub fn fit_last(
        &mut self,
        cfg: &TrainConfig,
        data: &Dataset,
        groups: &[Vec<u32>],
        seed: u64,
        mut on_epoch: impl FnMut(&mut Progressive, &EpochRecord) -> Result<()>,
    ) -> Result<Vec<EpochRecord>> {
        let k = self
            .columns
            .len()
            .checked_sub(1)
            .ok_or_else(|| Error::Spec("add a column before training".into()))?;
        if cfg.clip_grad_norm.is_some() {
            return Err(Error::Spec(
                "train.clip_grad_norm is not supported by the progressive network; remove it"
                    .into(),
            ));
        }
        if cfg.batch_size == 0 {
            return Err(Error::Spec("train.batch_size must be > 0".into()));
        }
        if data.is_empty() {
            return Err(Error::Spec(format!("dataset `{}` is empty", data.name)));
        }
        if data.sample_shape != self.arch.input_shape {
            return Err(Error::Spec(format!(
                "dataset `{}` has samples of {} but the columns take {}",
                data.name,
                crate::nn::fmt_shape(&data.sample_shape),
                crate::nn::fmt_shape(&self.arch.input_shape)
            )));
        }
        let mut opts: Vec<Optimizer> = self
            .trainable(k)
            .into_iter()
            .map(|n| Optimizer::new(cfg.optimizer.clone(), n))
            .collect::<Result<_>>()?;
        let n = data.len();
        let per_epoch = batch::num_batches(n, cfg.batch_size, cfg.drop_last).max(1);
        let total = per_epoch * cfg.epochs;
        let classes = match self.arch.blocks.last() {
            Some(BlockLayer::Linear(c)) | Some(BlockLayer::Conv(c)) => *c,
            None => 0,
        };
        let mut history = vec![];
        let mut iteration = 0;
        for epoch in 0..cfg.epochs {
            let start = std::time::Instant::now();
            let order = batch::epoch_order(n, seed, epoch, true);
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64 + 1));
            let (mut loss_sum, mut correct) = (0.0, 0u64);
            let mut lr = cfg.optimizer.lr;
            for idx in batch::batches(&order, cfg.batch_size, cfg.drop_last) {
                lr = cfg.optimizer.lr * cfg.schedule.factor(iteration, total, epoch);
                let (x, y) = data.gather_batch(idx);
                let input = self.columns[k].blocks[0].layer.input(x, idx.len())?;
                let logits = self.forward(input, k, Mode::Train(&mut rng))?;
                let mask = group_mask(&y, groups, classes)?;
                let logits = logits + backend::tensor(mask, [idx.len(), classes], &self.device);
                let loss = cross_entropy(logits.clone(), backend::labels(&y, &self.device));
                let value = backend::scalar(&loss) as f64;
                if !value.is_finite() {
                    return Err(Error::Training(format!(
                        "progressive column {k}: loss became {value} at epoch {}; try a smaller learning rate",
                        epoch + 1
                    )));
                }
                let grads = loss.backward();
                for (net, opt) in self.trainable(k).into_iter().zip(&mut opts) {
                    let mut g = BTreeMap::new();
                    for p in net.trainable_paths() {
                        if let Some(gr) = net.slot(&p).and_then(|s| s.value.grad(&grads)) {
                            g.insert(p, gr);
                        }
                    }
                    opt.step(net, g, lr)?;
                }
                let pred = backend::to_vec_int(&backend::plain(logits).argmax(1));
                correct += pred
                    .iter()
                    .zip(&y)
                    .filter(|(p, l)| **p == **l as i64)
                    .count() as u64;
                loss_sum += value * idx.len() as f64;
                iteration += 1;
            }
            let record = EpochRecord {
                epoch: epoch + 1,
                lr,
                train_loss: loss_sum / n as f64,
                train_accuracy: correct as f64 / n as f64,
                terms: BTreeMap::new(),
                valid_loss: None,
                valid_accuracy: None,
                tasks: BTreeMap::new(),
                seconds: start.elapsed().as_secs_f64(),
            };
            on_epoch(self, &record)?;
            history.push(record);
        }
        Ok(history)
    }

    /// Accuracy of column `k` on `data`, predictions restricted to each sample's group.
    pub fn accuracy(
        &mut self,
        k: usize,
        data: &Dataset,
        groups: &[Vec<u32>],
        batch_size: usize,
    ) -> Result<f64> {
        let classes = match self.arch.blocks.last() {
            Some(BlockLayer::Linear(c)) | Some(BlockLayer::Conv(c)) => *c,
            None => 0,
        };
        let mut correct = 0usize;
        let order: Vec<usize> = (0..data.len()).collect();
        for idx in order.chunks(batch_size.max(1)) {
            let (x, y) = data.gather_batch(idx);
            let input = self.columns[k].blocks[0].layer.input(x, idx.len())?;
            let logits = self.forward(input, k, Mode::Eval)?;
            let mask = group_mask(&y, groups, classes)?;
            let logits = logits + backend::tensor(mask, [idx.len(), classes], &self.device);
            let pred = backend::to_vec_int(&logits.argmax(1));
            correct += pred
                .iter()
                .zip(&y)
                .filter(|(p, l)| **p == **l as i64)
                .count();
        }
        Ok(correct as f64 / data.len().max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::continual::stream::{Scenario, ScenarioView, StreamConfig, build};
    use crate::data::optdigits_embedded;
    use crate::train::OptimizerConfig;

    fn cfg(epochs: usize) -> TrainConfig {
        TrainConfig {
            eval_batch_size: 256,
            ..TrainConfig::new(epochs, 32, OptimizerConfig::adam(3e-3))
        }
    }

    fn view() -> ScenarioView {
        let c = StreamConfig::split("optdigits-embedded");
        let specs = c.task_specs(|_| Ok(10)).unwrap();
        let s = build(&specs[..3], None, None, &[], |_| optdigits_embedded()).unwrap();
        ScenarioView::new(&s, Scenario::Task).unwrap()
    }

    fn column_outputs(p: &mut Progressive, k: usize, data: &Dataset) -> Vec<f32> {
        let idx: Vec<usize> = (0..40).collect();
        let (x, _) = data.gather_batch(&idx);
        let input = p.columns[k].blocks[0].layer.input(x, 40).unwrap();
        backend::to_vec(&p.forward(input, k, Mode::Eval).unwrap())
    }

    /// Backward transfer is exactly 0: training later columns leaves the outputs of the
    /// earlier ones bit-identical (for MLP and convolutional columns).
    #[test]
    fn earlier_columns_are_bit_identical_after_later_tasks() {
        let v = view();
        for arch in [
            ColumnArch::mlp(&[1, 8, 8], &[32, 16], 10),
            ColumnArch::conv(&[1, 8, 8], &[4], &[16], 10),
        ] {
            let mut p = Progressive::new(arch, &Device::flex()).unwrap();
            p.add_column(0).unwrap();
            p.fit_last(&cfg(3), &v.data[0].0, &v.heads, 0, |_, _| Ok(()))
                .unwrap();
            let before = column_outputs(&mut p, 0, &v.data[0].1);
            let acc0 = p.accuracy(0, &v.data[0].1, &v.heads, 64).unwrap();
            assert!(acc0 > 0.95, "column 0 learned task 0: {acc0}");
            for t in 1..3 {
                p.add_column(t as u64).unwrap();
                let h = p
                    .fit_last(&cfg(2), &v.data[t].0, &v.heads, 0, |_, _| Ok(()))
                    .unwrap();
                assert!(h[1].train_loss < h[0].train_loss, "{h:?}");
            }
            assert_eq!(before, column_outputs(&mut p, 0, &v.data[0].1));
            assert_eq!(acc0, p.accuracy(0, &v.data[0].1, &v.heads, 64).unwrap());
            assert!(p.accuracy(2, &v.data[2].1, &v.heads, 64).unwrap() > 0.9);
            assert_eq!(p.columns(), 3);
            // Column 2 has laterals from columns 0 and 1 into every block but the first.
            assert!(
                p.state_dict()
                    .contains_key("columns.2.blocks.1.lateral.1.layer.weight")
            );
        }
    }
}
