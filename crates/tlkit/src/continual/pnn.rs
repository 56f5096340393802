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
//! A column is one [`Network`] whose block `i` is the layer `blocks.<i>`, its weight layer
//! `blocks.<i>.layer`; each lateral is a one-layer network. The newest column trains through
//! the common [`Trainer`]: the column is its network, and a [`LossTerm`] without a loss
//! ([`Laterals`]) runs the frozen columns on each batch and adds the laterals' outputs to the
//! column's weight layers ([`Network::forward_added`]). The laterals are that term's modules,
//! so they share the trainer's optimizer settings, checkpoints and resume.

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;

use crate::backend::{self, Device, Tensor};
use crate::data::Dataset;
use crate::nn::{Act, Additions, LayerSpec, Mode, Network, NetworkSpec, Node, Padding};
use crate::train::{
    EpochRecord, LossTerm, StepContext, TermModule, TrainConfig, Trainer, checkpoint::HostTensors,
    group_mask,
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

/// One column: its network and, per block, one lateral from each earlier column (none into
/// the first block).
#[derive(Debug, Clone)]
struct Column {
    net: Network,
    laterals: Vec<Vec<Network>>,
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

/// The path of block `i`'s output, which feeds block `i + 1` and its laterals.
fn block_path(i: usize) -> String {
    format!("blocks.{i}")
}

/// The path of block `i`'s weight layer, where the laterals add their outputs.
fn layer_path(i: usize) -> String {
    format!("blocks.{i}.layer")
}

/// A network of one weight layer named `layer` (a block's weight layer or a lateral).
fn one_layer(
    input: &[usize],
    b: &BlockLayer,
    bias: bool,
    seed: u64,
    dev: &Device,
) -> Result<Network> {
    Network::new(
        NetworkSpec {
            input_shape: input.to_vec(),
            layers: vec![Node::named("layer", weight_layer(b, bias))],
            heads: Vec::new(),
        },
        seed,
        dev,
    )
}

/// The laterals' contributions to a column: for block `i ≥ 1`, lateral `j` applied to the
/// output of block `i − 1` of column `j` (`feats[j]`), in the order of `j`.
fn lateral_additions(
    laterals: &mut [Vec<Network>],
    feats: &[BTreeMap<String, Act>],
    inputs: &[Vec<usize>],
    mut rng: Option<&mut ChaCha8Rng>,
) -> Result<Additions> {
    let mut adds = Additions::new();
    for (i, lats) in laterals.iter_mut().enumerate().skip(1) {
        let mut list = Vec::with_capacity(lats.len());
        for (lat, f) in lats.iter_mut().zip(feats) {
            let h = f
                .get(&block_path(i - 1))
                .ok_or_else(|| Error::Spec(format!("no output of block {} to read", i - 1)))?;
            let mode = match rng.as_deref_mut() {
                Some(r) => Mode::Train(r),
                None => Mode::Eval,
            };
            list.push(lat.forward(flatten_to(h.clone(), &inputs[i]), mode)?);
        }
        if !list.is_empty() {
            adds.insert(layer_path(i), list);
        }
    }
    Ok(adds)
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
            cur = one_layer(&cur, b, true, 0, device)?.output_shape();
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

    /// The spec of one column: block `i` is `blocks.<i>` (a flatten where a linear block
    /// follows image features, the weight layer `layer`, then ReLU, and 2×2 max pooling
    /// after a convolution; the last block is the bare output layer).
    fn column_spec(&self) -> NetworkSpec {
        let last = self.arch.blocks.len() - 1;
        let blocks = self
            .arch
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                // What arrives is an image map: the input, or a convolution block's output.
                let map_in = match i {
                    0 => self.arch.input_shape.len() == 3,
                    _ => matches!(self.arch.blocks[i - 1], BlockLayer::Conv(_)),
                };
                let mut layers = vec![];
                if self.inputs[i].len() == 1 && map_in {
                    layers.push(Node::anon(LayerSpec::Flatten));
                }
                layers.push(Node::named("layer", weight_layer(b, true)));
                if i != last {
                    layers.push(Node::anon(LayerSpec::Relu));
                    if matches!(b, BlockLayer::Conv(_)) {
                        layers.push(Node::anon(LayerSpec::MaxPool2d {
                            kernel_size: 2,
                            stride: None,
                            padding: 0,
                        }));
                    }
                }
                Node::anon(LayerSpec::Sequential { layers })
            })
            .collect();
        NetworkSpec {
            input_shape: self.arch.input_shape.clone(),
            layers: vec![Node::named(
                "blocks",
                LayerSpec::Sequential { layers: blocks },
            )],
            heads: Vec::new(),
        }
    }

    /// Adds a column (initialised from `seed`) with laterals from every existing column.
    pub fn add_column(&mut self, seed: u64) -> Result<()> {
        let k = self.columns.len();
        let mut net = Network::new(self.column_spec(), seed, &self.device)?;
        // Each weight layer and lateral has a seed of its own, derived from `seed`.
        let mut weights = HostTensors::new();
        let mut laterals = vec![];
        for (i, b) in self.arch.blocks.iter().enumerate() {
            let s = seed.wrapping_mul(1_000_003).wrapping_add((i * 100) as u64);
            let layer = one_layer(&self.inputs[i], b, true, s, &self.device)?;
            for (p, v) in layer.state_dict() {
                weights.insert(format!("blocks.{i}.{p}"), v);
            }
            laterals.push(if i == 0 {
                vec![]
            } else {
                (0..k)
                    .map(|j| {
                        one_layer(
                            &self.inputs[i],
                            b,
                            false,
                            s.wrapping_add(j as u64 + 1),
                            &self.device,
                        )
                    })
                    .collect::<Result<_>>()?
            });
        }
        net.load_state_dict(&weights, true)?;
        self.columns.push(Column { net, laterals });
        Ok(())
    }

    /// The outputs of every block (but the last) of columns `0..k`, run without autodiff.
    fn frozen_features(&mut self, x: &Act, k: usize) -> Result<Vec<BTreeMap<String, Act>>> {
        let taps: Vec<String> = (0..self.arch.blocks.len() - 1).map(block_path).collect();
        let mut feats: Vec<BTreeMap<String, Act>> = Vec::with_capacity(k);
        for j in 0..k {
            let c = &mut self.columns[j];
            let adds = lateral_additions(&mut c.laterals, &feats, &self.inputs, None)?;
            feats.push(
                c.net
                    .forward_added(x.clone(), Mode::Eval, &taps, &adds)?
                    .taps,
            );
        }
        Ok(feats)
    }

    /// The outputs of column `k` (features of every block of columns `0..k` are computed on
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
        let feats = self.frozen_features(&x, k)?;
        let rng = match &mut mode {
            Mode::Train(r) => Some(&mut **r),
            Mode::Eval => None,
        };
        let c = &mut self.columns[k];
        let adds = lateral_additions(&mut c.laterals, &feats, &self.inputs, rng)?;
        Ok(c.net.forward_added(x, mode, &[], &adds)?.output.flat())
    }

    /// Every parameter, named `columns.<k>.blocks.<i>.layer.*` and
    /// `columns.<k>.blocks.<i>.lateral.<j>.layer.*` (from column j).
    pub fn state_dict(&self) -> HostTensors {
        let mut out = BTreeMap::new();
        for (k, c) in self.columns.iter().enumerate() {
            for (p, v) in c.net.state_dict() {
                out.insert(format!("columns.{k}.{p}"), v);
            }
            for (i, lats) in c.laterals.iter().enumerate() {
                for (j, l) in lats.iter().enumerate() {
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

    /// The newest column's network (what the trainer trains) and the term that connects the
    /// frozen columns to it; `on_epoch` sees the whole network after every epoch. Train the
    /// network with the term added, then hand both back with [`Progressive::put_last`].
    pub fn take_last(&mut self, on_epoch: Option<EpochCallback>) -> Result<(Network, Laterals)> {
        let k = self
            .columns
            .len()
            .checked_sub(1)
            .ok_or_else(|| Error::Spec("add a column before training".into()))?;
        let last = self.columns[k].clone();
        let mut frozen = self.clone();
        frozen.columns.truncate(k);
        Ok((
            last.net,
            Laterals {
                frozen,
                laterals: last.laterals,
                on_epoch,
            },
        ))
    }

    /// Stores the trained newest column: its network and its laterals' values as the trainer
    /// holds them ([`Trainer::module_state`]).
    pub fn put_last(&mut self, net: Network, modules: &HostTensors) -> Result<()> {
        let c = self
            .columns
            .last_mut()
            .ok_or_else(|| Error::Spec("add a column before training".into()))?;
        c.net = net;
        for (i, lats) in c.laterals.iter_mut().enumerate() {
            for (j, l) in lats.iter_mut().enumerate() {
                let prefix = format!("{}.", lateral_name(i, j));
                let state: HostTensors = modules
                    .iter()
                    .filter_map(|(p, v)| {
                        p.strip_prefix(&prefix).map(|q| (q.to_string(), v.clone()))
                    })
                    .collect();
                l.load_state_dict(&state, true)?;
            }
        }
        Ok(())
    }

    /// Trains the newest column on `data` (earlier columns are never updated), each sample's
    /// loss restricted to its group's output units, through the trainer without an output
    /// folder. Returns one record per epoch.
    pub fn fit_last(
        &mut self,
        cfg: &TrainConfig,
        data: &Dataset,
        groups: &[Vec<u32>],
        seed: u64,
    ) -> Result<Vec<EpochRecord>> {
        let (mut net, term) = self.take_last(None)?;
        let mut trainer = Trainer::new(cfg.clone(), &net, seed)?
            .with_label_groups(groups.to_vec())
            .with_term(Box::new(term));
        let report = trainer.fit(&mut net, data, None)?;
        self.put_last(net, &trainer.module_state())?;
        Ok(report.history)
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
            let (x, y) = data.gather_batch(idx)?;
            let input = self.columns[k].net.input(x, idx.len())?;
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

/// Called after every epoch of the newest column with the whole progressive network.
pub type EpochCallback = Box<dyn FnMut(&mut Progressive) -> Result<()>>;

/// The trainer's module name of the lateral into block `i` from column `j`.
fn lateral_name(i: usize, j: usize) -> String {
    format!("laterals.{i}.{j}")
}

/// The lateral connections into the column being trained, as a trainer extension: on each
/// batch the frozen earlier columns run without autodiff and the new column's laterals (the
/// term's modules, `laterals.<i>.<j>`) add their outputs to its weight layers. No loss.
pub struct Laterals {
    /// Columns `0..k`, frozen.
    frozen: Progressive,
    /// Column `k`'s laterals, per block and earlier column.
    laterals: Vec<Vec<Network>>,
    on_epoch: Option<EpochCallback>,
}

impl LossTerm for Laterals {
    fn name(&self) -> &str {
        "laterals"
    }
    fn has_loss(&self) -> bool {
        false
    }
    fn adds_to_layers(&self) -> bool {
        true
    }
    fn loss(&mut self, _net: &mut Network, _step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        Err(Error::Training(
            "the laterals of a progressive network add no loss".into(),
        ))
    }
    fn additions(&mut self, input: &Act, rng: &mut ChaCha8Rng) -> Result<Additions> {
        let k = self.frozen.columns.len();
        let feats = self.frozen.frozen_features(input, k)?;
        lateral_additions(&mut self.laterals, &feats, &self.frozen.inputs, Some(rng))
    }
    fn modules_mut(&mut self) -> Vec<TermModule<'_>> {
        let mut out = vec![];
        for (i, lats) in self.laterals.iter_mut().enumerate() {
            for (j, net) in lats.iter_mut().enumerate() {
                out.push(TermModule {
                    name: lateral_name(i, j),
                    net,
                    lr_mult: 1.0,
                });
            }
        }
        out
    }
    fn on_epoch_end(&mut self, net: &mut Network, _epoch: usize) -> Result<()> {
        if let Some(f) = &mut self.on_epoch {
            let mut whole = self.frozen.clone();
            whole.columns.push(Column {
                net: net.clone(),
                laterals: self.laterals.clone(),
            });
            f(&mut whole)?;
        }
        Ok(())
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
        let (x, _) = data.gather_batch(&idx).unwrap();
        let input = p.columns[k].net.input(x, 40).unwrap();
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
            p.fit_last(&cfg(3), &v.data[0].0, &v.heads, 0).unwrap();
            let before = column_outputs(&mut p, 0, &v.data[0].1);
            let acc0 = p.accuracy(0, &v.data[0].1, &v.heads, 64).unwrap();
            assert!(acc0 > 0.95, "column 0 learned task 0: {acc0}");
            for t in 1..3 {
                p.add_column(t as u64).unwrap();
                let h = p.fit_last(&cfg(2), &v.data[t].0, &v.heads, 0).unwrap();
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
