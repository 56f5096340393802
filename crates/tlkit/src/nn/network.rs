//! A named network: a resolved spec plus its parameters, keyed by PyTorch-style paths.
//!
//! The network interprets its spec with Burn's functional ops. Every parameter is stored as a
//! flat leaf tensor with its logical shape beside it, so that freezing, optimizer state,
//! checkpoints, weight import and regularizers (EWC's Fisher, L2-SP's anchor) are all maps
//! over the same paths.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::select::Selector;
use super::shape::{self, LayerInfo, ParamInfo, ParamRole, conv_padding};
use super::spec::{
    LayerSpec, NetworkSpec, Node, child_name, head_path, join, residual_body_prefix,
};
use crate::backend::{self, Device, Tensor, activation, ops};
use crate::{Error, Result};

/// An activation flowing through the network: flat features or a feature map.
#[derive(Debug, Clone)]
pub enum Act {
    /// `[batch, features]`.
    Flat(Tensor<2>),
    /// `[batch, channels, height, width]`.
    Map(Tensor<4>),
}

impl Act {
    /// The batch as flat features `[batch, n]` (maps are flattened).
    pub fn flat(self) -> Tensor<2> {
        match self {
            Act::Flat(t) => t,
            Act::Map(t) => t.flatten(1, 3),
        }
    }

    /// The shape including the batch dimension.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Act::Flat(t) => t.dims().to_vec(),
            Act::Map(t) => t.dims().to_vec(),
        }
    }

    fn map_same(
        self,
        f: impl Fn(Tensor<4>) -> Tensor<4>,
        g: impl Fn(Tensor<2>) -> Tensor<2>,
    ) -> Act {
        match self {
            Act::Flat(t) => Act::Flat(g(t)),
            Act::Map(t) => Act::Map(f(t)),
        }
    }
}

/// A parameter or buffer and its state.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Flat values; a trainable leaf in training.
    pub value: Tensor<1>,
    /// Logical shape, as PyTorch stores it.
    pub shape: Vec<usize>,
    pub role: ParamRole,
    /// Frozen parameters receive no gradient and are not updated.
    pub frozen: bool,
}

impl Slot {
    /// True for parameters the optimizer updates.
    pub fn trainable(&self) -> bool {
        !self.frozen && !self.role.is_buffer()
    }
}

/// Forward-pass mode.
pub enum Mode<'a> {
    /// Training: dropout active (masks drawn from this generator), batch norm uses batch
    /// statistics and updates its running averages.
    Train(&'a mut ChaCha8Rng),
    /// Evaluation: no dropout, batch norm uses running statistics, no autodiff graph.
    Eval,
}

impl Mode<'_> {
    fn is_train(&self) -> bool {
        matches!(self, Mode::Train(_))
    }
}

/// Tensors added to the outputs of named layers during a forward pass, in order, by layer path:
/// how a progressive network's lateral connections reach into a column
/// ([`Network::forward_added`]). Each tensor has the layer's output shape.
pub type Additions = BTreeMap<String, Vec<Act>>;

/// The output of a forward pass with taps.
pub struct Forward {
    /// The trunk's last layer's output.
    pub output: Act,
    /// Outputs of the requested layers, by path.
    pub taps: BTreeMap<String, Act>,
    /// Every head's output, by head name (empty for a network without heads).
    pub heads: BTreeMap<String, Act>,
}

impl Forward {
    /// The output of head `name`, or the trunk's output for `None`.
    pub fn head(&self, name: Option<&str>) -> Result<&Act> {
        match name {
            None => Ok(&self.output),
            Some(n) => self.heads.get(n).ok_or_else(|| {
                Error::Path(format!(
                    "no head `{n}` in this network; heads are: {}",
                    self.heads.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            }),
        }
    }
}

/// One row of the layer table printed by `tlkit inspect`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SummaryRow {
    pub path: String,
    pub kind: String,
    pub depth: usize,
    pub output: String,
    pub params: usize,
    /// `yes`, `no`, `partly`, or empty for layers without parameters.
    pub frozen: String,
}

/// A network with named parameters.
#[derive(Debug, Clone)]
pub struct Network {
    spec: NetworkSpec,
    layers: Vec<LayerInfo>,
    slots: BTreeMap<String, Slot>,
    /// Parameter paths in the order the layers declare them.
    order: Vec<String>,
    device: Device,
    /// Batch norm uses its running statistics even in training (and leaves them unchanged).
    frozen_bn: bool,
}

fn init_values(info: &ParamInfo, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = info.numel();
    match info.role {
        // PyTorch's default for Linear and Conv: kaiming_uniform(a = √5) for weights, which is
        // U(−1/√fan_in, 1/√fan_in), and the same bound for biases.
        ParamRole::Weight { fan_in } | ParamRole::Bias { fan_in } => {
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            (0..n).map(|_| rng.random_range(-bound..bound)).collect()
        }
        ParamRole::Scale | ParamRole::RunningVar => vec![1.0; n],
        ParamRole::Shift | ParamRole::RunningMean | ParamRole::BatchCount => vec![0.0; n],
        ParamRole::Mix { same, other } => {
            let t = info.shape.first().copied().unwrap_or(1).max(1);
            (0..n)
                .map(|k| if k / t == k % t { same } else { other } as f32)
                .collect()
        }
    }
}

/// Every layer's output and every parameter counted in checked arithmetic against `limits`
/// before anything is allocated (`hidden = [1000000, 1000000]` would ask for terabytes).
fn check_sizes(layers: &[LayerInfo], limits: &crate::data::Limits) -> Result<()> {
    let mut total = 0usize;
    for layer in layers {
        limits.values(&layer.output, || {
            format!("output of layer `{}`", layer.path)
        })?;
        for p in &layer.params {
            let n = limits.values(&p.shape, || format!("parameter `{}`", p.path))?;
            total = total.saturating_add(n);
            limits.values(&[total], || "the network's parameters".to_string())?;
        }
    }
    Ok(())
}

impl Network {
    /// Builds a network from a spec, initialising parameters from `seed` (host-side, so the
    /// same seed gives the same weights on every backend).
    ///
    /// # Errors
    /// [`Error::TooLarge`] when the input shape, a layer's output, a parameter or all the
    /// parameters together exceed [`crate::data::Limits`] (checked before any allocation).
    pub fn new(mut spec: NetworkSpec, seed: u64, device: &Device) -> Result<Self> {
        if !matches!(spec.input_shape.len(), 1 | 3) {
            return Err(Error::Spec(format!(
                "input_shape {:?}: give a flat [features] or an image [channels, height, width]",
                spec.input_shape
            )));
        }
        let limits = crate::data::Limits::current()?;
        limits.values(&spec.input_shape, || "input shape".to_string())?;
        let layers = shape::infer(&mut spec)?;
        check_sizes(&layers, &limits)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut slots = BTreeMap::new();
        let mut order = vec![];
        for info in shape::all_params(&layers) {
            let values = init_values(&info, &mut rng);
            let value = backend::tensor(values, [info.numel()], device);
            order.push(info.path.clone());
            slots.insert(
                info.path.clone(),
                Slot {
                    value,
                    shape: info.shape.clone(),
                    role: info.role,
                    frozen: false,
                },
            );
        }
        let mut net = Network {
            spec,
            layers,
            slots,
            order,
            device: device.clone(),
            frozen_bn: false,
        };
        net.refresh_leaves();
        Ok(net)
    }

    /// The resolved spec (inferred sizes filled in).
    pub fn spec(&self) -> &NetworkSpec {
        &self.spec
    }

    /// One entry per node, depth-first, with shapes.
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The device parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Per-sample output shape of the trunk.
    pub fn output_shape(&self) -> Vec<usize> {
        self.layers
            .iter()
            .rfind(|l| l.depth == 0 && l.kind != "head")
            .map(|l| l.output.clone())
            .unwrap_or_else(|| self.spec.input_shape.clone())
    }

    /// Per-sample output shape of head `name`, or of the trunk for `None`.
    pub fn head_output_shape(&self, name: Option<&str>) -> Result<Vec<usize>> {
        let Some(name) = name else {
            return Ok(self.output_shape());
        };
        let path = head_path(name);
        self.layers
            .iter()
            .find(|l| l.path == path)
            .map(|l| l.output.clone())
            .ok_or_else(|| {
                Error::Path(format!(
                    "no head `{name}` in this network; heads are: {}",
                    self.spec
                        .heads
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Parameter and buffer paths in declaration order.
    pub fn paths(&self) -> &[String] {
        &self.order
    }

    /// A parameter or buffer by path.
    pub fn slot(&self, path: &str) -> Option<&Slot> {
        self.slots.get(path)
    }

    /// Iterates over slots in declaration order.
    pub fn slots(&self) -> impl Iterator<Item = (&String, &Slot)> {
        self.order.iter().map(|p| (p, &self.slots[p]))
    }

    /// Paths of parameters the optimizer updates.
    pub fn trainable_paths(&self) -> Vec<String> {
        self.slots()
            .filter(|(_, s)| s.trainable())
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Number of parameters the optimizer updates (not frozen, not buffers).
    pub fn num_trainable_params(&self) -> usize {
        self.slots
            .values()
            .filter(|s| s.trainable())
            .map(|s| s.shape.iter().product::<usize>())
            .sum()
    }

    /// Number of parameters (buffers excluded).
    pub fn num_params(&self) -> usize {
        self.slots
            .values()
            .filter(|s| !s.role.is_buffer())
            .map(|s| s.shape.iter().product::<usize>())
            .sum()
    }

    /// Re-creates every trainable parameter as a fresh autodiff leaf (after an update or a
    /// freeze change), and every other slot as a constant.
    fn refresh_leaves(&mut self) {
        for slot in self.slots.values_mut() {
            let v = backend::plain(slot.value.clone());
            slot.value = if slot.trainable() {
                backend::leaf(v)
            } else {
                v
            };
        }
    }

    /// The same network with every parameter and buffer copied to `device` (a data-parallel
    /// replica, [`crate::train::parallel`]); its trainable parameters are fresh leaves there.
    pub fn to_device(&self, device: &Device) -> Network {
        let mut net = self.clone();
        for slot in net.slots.values_mut() {
            slot.value = backend::plain(slot.value.clone()).to_device(device);
        }
        net.device = device.clone();
        net.refresh_leaves();
        net
    }

    /// Replaces the values of a parameter or buffer (shape-checked), keeping it a leaf.
    pub fn set_values(&mut self, path: &str, values: Tensor<1>) -> Result<()> {
        let slot = self
            .slots
            .get_mut(path)
            .ok_or_else(|| Error::Path(format!("no parameter `{path}` in this network")))?;
        let want: usize = slot.shape.iter().product();
        if values.dims()[0] != want {
            return Err(Error::Path(format!(
                "`{path}` holds {want} values ({}), got {}",
                shape::fmt_shape(&slot.shape),
                values.dims()[0]
            )));
        }
        let v = backend::plain(values);
        slot.value = if slot.trainable() {
            backend::leaf(v)
        } else {
            v
        };
        Ok(())
    }

    /// Keeps batch-norm statistics frozen in training (normalise with the running mean and
    /// variance, do not update them), as is usual when fine-tuning on small batches.
    pub fn set_frozen_bn(&mut self, frozen: bool) {
        self.frozen_bn = frozen;
    }

    /// Freezes the parameters matched by `selector`; returns how many were frozen.
    pub fn freeze(&mut self, selector: &Selector) -> Result<usize> {
        self.set_frozen(selector, true)
    }

    /// Unfreezes the parameters matched by `selector`; returns how many.
    pub fn unfreeze(&mut self, selector: &Selector) -> Result<usize> {
        self.set_frozen(selector, false)
    }

    fn set_frozen(&mut self, selector: &Selector, frozen: bool) -> Result<usize> {
        let paths = selector.select(self.order.iter().map(String::as_str))?;
        for p in &paths {
            if let Some(s) = self.slots.get_mut(p.as_str()) {
                s.frozen = frozen;
            }
        }
        self.refresh_leaves();
        Ok(paths.len())
    }

    /// The current values of every buffer (batch-norm statistics), to put back with
    /// [`Network::restore_buffers`] after forwards that must not count twice.
    pub fn buffers(&self) -> Vec<(String, Tensor<1>)> {
        self.slots
            .iter()
            .filter(|(_, s)| s.role.is_buffer())
            .map(|(p, s)| (p.clone(), s.value.clone()))
            .collect()
    }

    /// Puts back buffer values taken by [`Network::buffers`].
    pub fn restore_buffers(&mut self, buffers: Vec<(String, Tensor<1>)>) {
        for (p, v) in buffers {
            if let Some(s) = self.slots.get_mut(&p) {
                s.value = v;
            }
        }
    }

    /// Host copies of every parameter and buffer: path → (shape, values).
    pub fn state_dict(&self) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
        self.slots
            .iter()
            .map(|(p, s)| (p.clone(), (s.shape.clone(), backend::to_vec(&s.value))))
            .collect()
    }

    /// Loads host values by path. With `strict`, missing or unexpected keys are errors;
    /// shape mismatches always are. Returns the keys that were missing and unexpected.
    pub fn load_state_dict(
        &mut self,
        state: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
        strict: bool,
    ) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        for (path, slot) in &self.slots {
            match state.get(path) {
                None => report.missing.push(path.clone()),
                Some((shape, _)) if shape != &slot.shape => report.mismatched.push(format!(
                    "`{path}`: file has {}, network has {}",
                    shape::fmt_shape(shape),
                    shape::fmt_shape(&slot.shape)
                )),
                Some(_) => {}
            }
        }
        report.unexpected = state
            .keys()
            .filter(|k| !self.slots.contains_key(k.as_str()))
            .cloned()
            .collect();
        if !report.mismatched.is_empty()
            || (strict && (!report.missing.is_empty() || !report.unexpected.is_empty()))
        {
            return Err(Error::Path(report.describe()));
        }
        for (path, (_, values)) in state {
            if self.slots.contains_key(path) {
                let t = backend::tensor(values.clone(), [values.len()], &self.device);
                self.set_values(path, t)?;
            }
        }
        Ok(report)
    }

    /// The layer table: path, type, output shape, parameter count, frozen or not.
    pub fn summary(&self) -> Vec<SummaryRow> {
        let mut rows = vec![SummaryRow {
            path: "input".into(),
            kind: String::new(),
            depth: 0,
            output: shape::fmt_shape(&self.spec.input_shape),
            params: 0,
            frozen: String::new(),
        }];
        for l in &self.layers {
            let prefix = format!("{}.", l.path);
            let owned: Vec<&Slot> = self
                .slots
                .iter()
                .filter(|(p, _)| p.starts_with(&prefix))
                .map(|(_, s)| s)
                .filter(|s| !s.role.is_buffer())
                .collect();
            let params = owned
                .iter()
                .map(|s| s.shape.iter().product::<usize>())
                .sum();
            let frozen = match (owned.iter().filter(|s| s.frozen).count(), owned.len()) {
                (_, 0) => "",
                (0, _) => "no",
                (f, n) if f == n => "yes",
                _ => "partly",
            };
            rows.push(SummaryRow {
                path: l.path.clone(),
                kind: l.kind.to_string(),
                depth: l.depth,
                output: shape::fmt_shape(&l.output),
                params,
                frozen: frozen.into(),
            });
        }
        rows
    }

    /// Wraps host samples `[n, ...input_shape]` as the network's input.
    pub fn input(&self, values: Vec<f32>, batch: usize) -> Result<Act> {
        let s = &self.spec.input_shape;
        let width: usize = s.iter().product();
        if values.len() != batch * width {
            return Err(Error::Spec(format!(
                "input holds {} values, expected {batch} samples of {}",
                values.len(),
                shape::fmt_shape(s)
            )));
        }
        Ok(match s.len() {
            1 => Act::Flat(backend::tensor(values, [batch, s[0]], &self.device)),
            _ => Act::Map(backend::tensor(
                values,
                [batch, s[0], s[1], s[2]],
                &self.device,
            )),
        })
    }

    /// Runs the network.
    ///
    /// # Shapes
    /// - input: `[batch, ...input_shape]`
    /// - output: `[batch, ...output_shape]`
    pub fn forward(&mut self, x: Act, mode: Mode<'_>) -> Result<Act> {
        Ok(self.forward_taps(x, mode, &[])?.output)
    }

    /// Runs the network and also returns the outputs of the layers at `taps` (paths as in
    /// [`Network::layers`]), e.g. `backbone` for features.
    pub fn forward_taps(&mut self, x: Act, mode: Mode<'_>, taps: &[String]) -> Result<Forward> {
        self.forward_added(x, mode, taps, &Additions::new())
    }

    /// [`Network::forward_taps`] with `adds[path]` added, tensor by tensor, to the output of
    /// the layer at `path` before the next layer reads it.
    pub fn forward_added(
        &mut self,
        x: Act,
        mut mode: Mode<'_>,
        taps: &[String],
        adds: &Additions,
    ) -> Result<Forward> {
        for t in taps.iter().chain(adds.keys()) {
            if !self.layers.iter().any(|l| &l.path == t) {
                return Err(Error::Path(format!(
                    "no layer `{t}` to take features from or add to; layers are: {}",
                    self.layers
                        .iter()
                        .map(|l| l.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let want = &self.spec.input_shape;
        let got = x.dims();
        if &got[1..] != want.as_slice() {
            return Err(Error::Spec(format!(
                "input batch has samples of {} but the network expects {}",
                shape::fmt_shape(&got[1..]),
                shape::fmt_shape(want)
            )));
        }
        // The heads' branch points are tapped too, and dropped again unless asked for.
        let mut all_taps = taps.to_vec();
        for h in &self.spec.heads {
            if h.from != "input" && !all_taps.contains(&h.from) {
                all_taps.push(h.from.clone());
            }
        }
        let mut run = Runner {
            slots: &mut self.slots,
            layers: &self.layers,
            mode: &mut mode,
            taps: &all_taps,
            adds,
            out: BTreeMap::new(),
            frozen_bn: self.frozen_bn,
        };
        let output = run.seq("", &self.spec.layers, x.clone())?;
        let mut heads = BTreeMap::new();
        for h in &self.spec.heads {
            let from = if h.from == "input" {
                x.clone()
            } else {
                run.out[&h.from].clone()
            };
            let path = head_path(&h.name);
            let y = run.seq(&path, &h.layers, from)?;
            if taps.contains(&path) {
                run.out.insert(path, y.clone());
            }
            heads.insert(h.name.clone(), y);
        }
        let mut out = std::mem::take(&mut run.out);
        out.retain(|k, _| taps.contains(k));
        Ok(Forward {
            output,
            taps: out,
            heads,
        })
    }
}

/// What a load found, like PyTorch's `load_state_dict(strict=False)` report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    pub mismatched: Vec<String>,
}

impl LoadReport {
    /// A readable account of the problems.
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        if !self.mismatched.is_empty() {
            parts.push(format!("shape mismatches: {}", self.mismatched.join("; ")));
        }
        if !self.missing.is_empty() {
            parts.push(format!("missing keys: {}", self.missing.join(", ")));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("unexpected keys: {}", self.unexpected.join(", ")));
        }
        if parts.is_empty() {
            "all keys matched".into()
        } else {
            parts.join("; ")
        }
    }
}

/// One forward pass over the spec; the soft-sharing layers (`nn/cross_stitch.rs`,
/// `nn/mmoe.rs`) add their own forward to it.
pub(super) struct Runner<'a, 'm> {
    slots: &'a mut BTreeMap<String, Slot>,
    layers: &'a [LayerInfo],
    mode: &'a mut Mode<'m>,
    taps: &'a [String],
    adds: &'a Additions,
    out: BTreeMap<String, Act>,
    frozen_bn: bool,
}

impl Runner<'_, '_> {
    pub(super) fn param<const D: usize>(&self, path: &str, shape: [usize; D]) -> Tensor<D> {
        let v = self.slots[path].value.clone();
        let v = if self.mode.is_train() {
            v
        } else {
            backend::plain(v)
        };
        v.reshape(shape)
    }

    fn info(&self, path: &str) -> &LayerInfo {
        self.layers
            .iter()
            .find(|l| l.path == path)
            .expect("layer table built from the same spec")
    }

    pub(super) fn seq(&mut self, prefix: &str, nodes: &[Node], x: Act) -> Result<Act> {
        self.seq_at(prefix, nodes, 0, x)
    }

    /// [`Runner::seq`] over `nodes`, a slice of a container that starts at child `offset`
    /// (unnamed children are named by their index in the whole container).
    pub(super) fn seq_at(
        &mut self,
        prefix: &str,
        nodes: &[Node],
        offset: usize,
        mut x: Act,
    ) -> Result<Act> {
        for (i, node) in nodes.iter().enumerate() {
            let path = join(prefix, &child_name(node, offset + i));
            x = self.node(&path, &node.layer, x)?;
            for a in self.adds.get(&path).into_iter().flatten() {
                x = match (x, a) {
                    (Act::Flat(x), Act::Flat(a)) if x.dims() == a.dims() => {
                        Act::Flat(x + a.clone())
                    }
                    (Act::Map(x), Act::Map(a)) if x.dims() == a.dims() => Act::Map(x + a.clone()),
                    (x, a) => {
                        return Err(Error::Spec(format!(
                            "a tensor of {:?} cannot be added to the output of layer `{path}`, {:?}",
                            a.dims(),
                            x.dims()
                        )));
                    }
                };
            }
            if self.taps.contains(&path) {
                self.out.insert(path, x.clone());
            }
        }
        Ok(x)
    }

    fn node(&mut self, path: &str, layer: &LayerSpec, x: Act) -> Result<Act> {
        let p = |n: &str| join(path, n);
        Ok(match layer {
            LayerSpec::Linear {
                in_features,
                out_features,
                bias,
            } => {
                let (i, o) = (in_features.unwrap_or(0), *out_features);
                let w = self.param(&p("weight"), [o, i]);
                let b = bias.then(|| self.param(&p("bias"), [o]));
                let kernels = crate::backend::conv_kernels()?;
                Act::Flat(super::linear::linear(x.flat(), w, b, kernels))
            }
            LayerSpec::Conv2d {
                out_channels,
                kernel_size: k,
                stride,
                padding,
                dilation,
                groups,
                bias,
                ..
            } => {
                let input = self.info(path).input.clone();
                let w = self.param(&p("weight"), [*out_channels, input[0] / groups, *k, *k]);
                let b = bias.then(|| self.param(&p("bias"), [*out_channels]));
                let ph = conv_padding(padding, input[1], *k, *stride, *dilation)?;
                let pw = conv_padding(padding, input[2], *k, *stride, *dilation)?;
                let opts = burn::tensor::ops::ConvOptions::new_with_padding(
                    [*stride, *stride],
                    [ph, pw],
                    [*dilation, *dilation],
                    *groups,
                );
                let kernels = crate::backend::conv_kernels()?;
                Act::Map(super::conv::conv2d(map(x, path)?, w, b, opts, kernels))
            }
            LayerSpec::BatchNorm { eps, momentum, .. } => {
                let kernels = crate::backend::conv_kernels()?;
                self.batch_norm(path, x, *eps, *momentum, kernels)
            }
            LayerSpec::Relu => x.map_same(activation::relu, activation::relu),
            LayerSpec::Relu6 => {
                let kernels = crate::backend::conv_kernels()?;
                x.map_same(
                    |t| super::relu6::relu6(t, kernels),
                    |t| super::relu6::relu6(t, kernels),
                )
            }
            LayerSpec::Gelu => x.map_same(activation::gelu, activation::gelu),
            LayerSpec::Sigmoid => x.map_same(activation::sigmoid, activation::sigmoid),
            LayerSpec::Tanh => x.map_same(activation::tanh, activation::tanh),
            LayerSpec::LeakyRelu { negative_slope } => x.map_same(
                |t| activation::leaky_relu(t, *negative_slope),
                |t| activation::leaky_relu(t, *negative_slope),
            ),
            LayerSpec::MaxPool2d {
                kernel_size: k,
                stride,
                padding,
            } => {
                let s = stride.unwrap_or(*k);
                let opts = burn::tensor::ops::MaxPoolOptions::new([*k, *k])
                    .with_stride([s, s])
                    .with_padding([*padding, *padding]);
                let kernels = crate::backend::conv_kernels()?;
                Act::Map(super::pool::max_pool2d(map(x, path)?, opts, kernels))
            }
            LayerSpec::AvgPool2d {
                kernel_size: k,
                stride,
                padding,
            } => {
                let s = stride.unwrap_or(*k);
                let opts = burn::tensor::ops::AvgPoolOptions::new([*k, *k])
                    .with_stride([s, s])
                    .with_padding([*padding, *padding]);
                Act::Map(ops::avg_pool2d(map(x, path)?, opts))
            }
            LayerSpec::AdaptiveAvgPool2d { output_size } => {
                Act::Map(ops::adaptive_avg_pool2d(map(x, path)?, *output_size))
            }
            LayerSpec::Flatten => Act::Flat(x.flat()),
            LayerSpec::Dropout { p: rate } => self.dropout(x, *rate),
            LayerSpec::Identity => x,
            LayerSpec::Sequential { layers } => self.seq(path, layers, x)?,
            LayerSpec::CrossStitch {
                layers,
                stitch_after,
                tasks,
                ..
            } => self.cross_stitch(path, *tasks, layers, stitch_after, x)?,
            LayerSpec::Mmoe {
                experts,
                tasks,
                expert,
                gate_bias,
            } => self.mmoe(path, *experts, *tasks, expert, *gate_bias, x)?,
            LayerSpec::Take { part, parts } => {
                let n = x.dims()[1] / parts;
                let start = part * n;
                x.map_same(|t| t.narrow(1, start, n), |t| t.narrow(1, start, n))
            }
            LayerSpec::Residual {
                inline,
                body,
                shortcut,
                post,
            } => {
                let prefix = residual_body_prefix(path, *inline);
                let b = self.seq(&prefix, body, x.clone())?;
                let s = self.seq(&p("shortcut"), shortcut, x)?;
                let sum = match (b, s) {
                    (Act::Map(a), Act::Map(b)) => Act::Map(a + b),
                    (a, b) => Act::Flat(a.flat() + b.flat()),
                };
                self.seq(&p("post"), post, sum)?
            }
        })
    }

    fn dropout(&mut self, x: Act, rate: f64) -> Act {
        let Mode::Train(rng) = &mut *self.mode else {
            return x;
        };
        if rate <= 0.0 {
            return x;
        }
        let dims = x.dims();
        let n: usize = dims.iter().product();
        let keep = 1.0 - rate;
        let mask = bernoulli_values(rng, n, keep, (1.0 / keep) as f32, 0.0);
        match x {
            Act::Flat(t) => {
                let device = t.device();
                Act::Flat(t * backend::tensor(mask, [dims[0], dims[1]], &device))
            }
            Act::Map(t) => {
                let device = t.device();
                Act::Map(t * backend::tensor(mask, [dims[0], dims[1], dims[2], dims[3]], &device))
            }
        }
    }

    fn batch_norm(
        &mut self,
        path: &str,
        x: Act,
        eps: f64,
        momentum: f64,
        kernels: crate::backend::ConvKernels,
    ) -> Act {
        let p = |n: &str| join(path, n);
        let c = self.slots[&p("weight")].shape[0];
        let train = self.mode.is_train() && !self.frozen_bn;
        // Work in [B, C, L] so that one code path serves flat and map inputs.
        let dims = x.dims();
        let x3: Tensor<3> = match x {
            Act::Flat(t) => t.reshape([dims[0], c, 1]),
            Act::Map(t) => t.reshape([dims[0], c, dims[2] * dims[3]]),
        };
        let y = if train {
            let count = (dims[0] * x3.dims()[2]) as f32;
            let (gamma, beta) = (self.param(&p("weight"), [c]), self.param(&p("bias"), [c]));
            let out = super::batch_norm::batch_norm_train(x3, gamma, beta, eps, kernels);
            let (y, mean, var) = (out.output, out.mean, out.variance);
            // Running statistics use the unbiased variance, as PyTorch does.
            let unbiased = backend::plain(var) * (count / (count - 1.0).max(1.0));
            let m = momentum as f32;
            for (name, batch) in [
                ("running_mean", backend::plain(mean)),
                ("running_var", unbiased),
            ] {
                let slot = self
                    .slots
                    .get_mut(&p(name))
                    .expect("batch norm buffers exist");
                let old = backend::plain(slot.value.clone());
                slot.value = old * (1.0 - m) + batch.reshape([c]) * m;
            }
            let count = self
                .slots
                .get_mut(&p("num_batches_tracked"))
                .expect("batch norm buffers exist");
            count.value = backend::plain(count.value.clone()).add_scalar(1.0);
            y
        } else {
            let mean = self.param(&p("running_mean"), [1, c, 1]);
            let var = self.param(&p("running_var"), [1, c, 1]);
            let gamma = self.param(&p("weight"), [1, c, 1]);
            let beta = self.param(&p("bias"), [1, c, 1]);
            (x3 - mean) / (var + eps).sqrt() * gamma + beta
        };
        if dims.len() == 2 {
            Act::Flat(y.reshape([dims[0], c]))
        } else {
            Act::Map(y.reshape([dims[0], dims[1], dims[2], dims[3]]))
        }
    }
}

/// Representations of one shape side by side on the first per-sample axis (features or
/// channels), as `cross_stitch` and `mmoe` layers output them and `take` splits them.
pub(super) fn concat_parts(parts: Vec<Act>) -> Act {
    let maps: Option<Vec<Tensor<4>>> = parts
        .iter()
        .map(|a| match a {
            Act::Map(t) => Some(t.clone()),
            Act::Flat(_) => None,
        })
        .collect();
    match maps {
        Some(maps) if !maps.is_empty() => Act::Map(Tensor::cat(maps, 1)),
        _ => Act::Flat(Tensor::cat(parts.into_iter().map(Act::flat).collect(), 1)),
    }
}

fn map(x: Act, path: &str) -> Result<Tensor<4>> {
    match x {
        Act::Map(t) => Ok(t),
        Act::Flat(t) => Err(Error::Spec(format!(
            "`{path}` needs a feature map but got flat features of shape {:?}",
            t.dims()
        ))),
    }
}

/// `n` values drawn from `rng`: element `i` is `hit` when the `i`-th `f64` drawn (uniform on
/// [0, 1), 53 bits) is below `p`, and `miss` otherwise. Dropout's mask (`p` = keep, `hit` =
/// 1 / keep, `miss` = 0) and the denoising autoencoder's masking noise draw with it.
///
/// The draws come in blocks of 64-bit words, turned into the same `f64`s that
/// `rng.random::<f64>()` gives one at a time (the top 53 bits times 2⁻⁵³), so the values, and
/// every fixed-seed number, are those of drawing element by element; the block fill and the
/// branch-free select are what make it fast (drawing one at a time was 8% of a LeNet step).
pub fn bernoulli_values(rng: &mut ChaCha8Rng, n: usize, p: f64, hit: f32, miss: f32) -> Vec<f32> {
    const BLOCK: usize = 4096;
    // u = m·2⁻⁵³ with m = w >> 11 < 2⁵³, and u < p ⇔ m < p·2⁵³ ⇔ m < ⌈p·2⁵³⌉ (m is a whole
    // number; p·2⁵³ is exact): one integer comparison per element.
    let threshold = (p * (1u64 << 53) as f64).ceil() as u64;
    let mut words = [0u64; BLOCK];
    let mut values = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let words = &mut words[..left.min(BLOCK)];
        rng.fill(words);
        values.extend(
            words
                .iter()
                .map(|&w| if (w >> 11) < threshold { hit } else { miss }),
        );
        left -= words.len();
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::zoo;

    #[test]
    fn dropout_masks_drawn_in_blocks_are_the_element_by_element_ones() {
        use rand::RngCore;
        for (seed, n, keep, skew) in [
            (0, 1, 0.5, false),
            (1, 4095, 0.5, true),
            (7, 4097, 0.9, true),
            (3, 10_001, 0.25, false),
        ] {
            let mut a = ChaCha8Rng::seed_from_u64(seed);
            let mut b = a.clone();
            if skew {
                // An odd number of 32-bit words already used: the 64-bit words straddle blocks.
                a.next_u32();
                b.next_u32();
            }
            let scale = (1.0 / keep) as f32;
            let one_by_one: Vec<f32> = (0..n)
                .map(|_| if a.random::<f64>() < keep { scale } else { 0.0 })
                .collect();
            assert_eq!(
                bernoulli_values(&mut b, n, keep, scale, 0.0),
                one_by_one,
                "seed {seed}, n {n}"
            );
            // The generator is left where drawing one by one leaves it.
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    fn random_input(net: &Network, n: usize, seed: u64) -> Act {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let w: usize = net.spec().input_shape.iter().product();
        net.input((0..n * w).map(|_| rng.random::<f32>()).collect(), n)
            .unwrap()
    }

    #[test]
    fn resnet_runs_in_train_and_eval_and_updates_running_stats() {
        let spec = zoo::resnet(&[3, 16, 16], &[8, 16], 1, 5);
        let mut net = Network::new(spec, 1, &Device::flex()).unwrap();
        assert_eq!(net.output_shape(), vec![5]);
        let before = backend::to_vec(&net.slot("backbone.stem.1.running_mean").unwrap().value);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let x = random_input(&net, 4, 3);
        let fwd = net
            .forward_taps(x, Mode::Train(&mut rng), &["backbone.pool".into()])
            .unwrap();
        assert_eq!(fwd.output.dims(), vec![4, 5]);
        assert_eq!(fwd.taps["backbone.pool"].dims(), vec![4, 16, 1, 1]);
        let after = backend::to_vec(&net.slot("backbone.stem.1.running_mean").unwrap().value);
        assert_ne!(
            before, after,
            "batch norm running mean must move in training"
        );
        // Evaluation is deterministic and leaves the statistics alone.
        let a = net
            .forward(random_input(&net, 2, 9), Mode::Eval)
            .unwrap()
            .flat();
        let b = net
            .forward(random_input(&net, 2, 9), Mode::Eval)
            .unwrap()
            .flat();
        assert_eq!(backend::to_vec(&a), backend::to_vec(&b));
        assert_eq!(
            after,
            backend::to_vec(&net.slot("backbone.stem.1.running_mean").unwrap().value)
        );
        // The shortcut of the strided block is a 1×1 conv, named like torchvision's downsample.
        assert!(net.slot("backbone.layer2.0.shortcut.0.weight").is_some());
    }

    #[test]
    fn frozen_parameters_get_no_gradient() {
        let spec = zoo::mlp(&[6], &[4], 3, 0.0);
        let mut net = Network::new(spec, 0, &Device::flex()).unwrap();
        let n = net
            .freeze(&Selector::new(&["backbone.*"]).unwrap())
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(net.trainable_paths(), ["head.weight", "head.bias"]);
        let x = random_input(&net, 2, 0);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let loss = net.forward(x, Mode::Train(&mut rng)).unwrap().flat().sum();
        let grads = loss.backward();
        assert!(
            net.slot("backbone.0.weight")
                .unwrap()
                .value
                .grad(&grads)
                .is_none()
        );
        assert!(
            net.slot("head.weight")
                .unwrap()
                .value
                .grad(&grads)
                .is_some()
        );
        let rows = net.summary();
        assert_eq!(
            rows.iter().find(|r| r.path == "backbone.0").unwrap().frozen,
            "yes"
        );
        assert_eq!(rows.iter().find(|r| r.path == "head").unwrap().frozen, "no");
    }

    /// PyTorch's layouts, computed by hand: `nn.Conv2d(1, 1, 2, bias=False)` with weight
    /// [[[[1, 2], [3, 4]]]] (cross-correlation) on `arange(9).reshape(1, 1, 3, 3)` gives
    /// [[[[27, 37], [57, 67]]]]; `nn.Linear(4, 2)` with weight [[1, 0, 0, 1], [0, 1, 1, 0]]
    /// (`[out, in]`) and bias [0.5, −0.5] on the flattened map gives [[94.5, 93.5]].
    #[test]
    fn conv_and_linear_follow_pytorch_layouts() {
        let spec: NetworkSpec = NetworkSpec::from_toml(
            r#"
            input_shape = [1, 3, 3]
            [[layers]]
            name = "conv"
            type = "conv2d"
            out_channels = 1
            kernel_size = 2
            bias = false
            [[layers]]
            type = "flatten"
            [[layers]]
            name = "fc"
            type = "linear"
            out_features = 2
            "#,
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let d = Device::flex();
        let mut net = Network::new(spec, 0, &d).unwrap();
        net.set_values(
            "conv.weight",
            backend::tensor(vec![1., 2., 3., 4.], [4], &d),
        )
        .unwrap();
        net.set_values(
            "fc.weight",
            backend::tensor(vec![1., 0., 0., 1., 0., 1., 1., 0.], [8], &d),
        )
        .unwrap();
        net.set_values("fc.bias", backend::tensor(vec![0.5, -0.5], [2], &d))
            .unwrap();
        let x = net.input((0..9).map(|v| v as f32).collect(), 1).unwrap();
        let y = net.forward(x, Mode::Eval).unwrap().flat();
        assert_eq!(backend::to_vec(&y), vec![94.5, 93.5]);
    }

    #[test]
    fn state_dict_round_trip_and_mismatch_report() {
        let d = Device::flex();
        let a = Network::new(zoo::mlp(&[4], &[3], 2, 0.0), 1, &d).unwrap();
        let mut b = Network::new(zoo::mlp(&[4], &[3], 2, 0.0), 2, &d).unwrap();
        b.load_state_dict(&a.state_dict(), true).unwrap();
        assert_eq!(a.state_dict(), b.state_dict());
        let mut c = Network::new(zoo::mlp(&[4], &[5], 2, 0.0), 1, &d).unwrap();
        let err = c
            .load_state_dict(&a.state_dict(), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`backbone.0.weight`: file has 3×4, network has 5×4"),
            "{err}"
        );
    }
}
