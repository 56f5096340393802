//! The graph walk: typed ONNX nodes become layers and residual blocks, with their original
//! names, weights and shapes.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use onnx_ir::{ArgType, Argument, Node as IrNode, OnnxGraph, TensorDataExt};

use super::build::build_seq;
use super::{OnnxModel, ProtoNames, SUPPORTED_OPS};
use crate::nn::spec::{LayerSpec, NetworkSpec, Padding};
use crate::{Error, Result};

/// One converted layer or residual block, before it is named.
pub(super) enum Item {
    Layer {
        layer: LayerSpec,
        /// The PyTorch path its weights had in the file (`layer1.conv1`), when they had one.
        want: Option<Vec<String>>,
        /// A name from the ONNX node, for layers with parameters but no PyTorch path.
        fallback: String,
        params: Vec<(&'static str, Vec<usize>, Vec<f32>)>,
    },
    Residual {
        body: Vec<Item>,
        shortcut: Vec<Item>,
    },
}

impl Item {
    fn plain(layer: LayerSpec) -> Item {
        Item::Layer {
            layer,
            want: None,
            fallback: String::new(),
            params: Vec::new(),
        }
    }

    /// The path the item would like: a layer's PyTorch path, a block's longest common prefix.
    pub(super) fn want(&self) -> Option<Vec<String>> {
        match self {
            Item::Layer { want, .. } => want.clone(),
            Item::Residual { body, shortcut } => {
                let paths: Vec<Vec<String>> = body
                    .iter()
                    .chain(shortcut)
                    .filter_map(|i| i.want())
                    .collect();
                let first = paths.first()?;
                let mut n = first.len();
                for p in &paths[1..] {
                    n = n.min(p.iter().zip(first).take_while(|(a, b)| a == b).count());
                }
                // A block's own path must be a strict prefix of each of its layers'.
                if paths.iter().any(|p| p.len() == n) {
                    n -= 1;
                }
                (n > 0).then(|| first[..n].to_vec())
            }
        }
    }

    pub(super) fn has_params(&self) -> bool {
        matches!(self, Item::Layer { params, .. } if !params.is_empty())
    }
}

pub(super) struct Importer<'a> {
    pub(super) graph: &'a OnnxGraph,
    pub(super) origin: &'a Path,
    pub(super) names: ProtoNames,
    /// Index into `graph.nodes` of the consumers of each dynamic tensor.
    pub(super) consumers: HashMap<String, Vec<usize>>,
    /// Original (node name, weight initializer name) of each typed node, where matched.
    pub(super) original: HashMap<usize, (String, String)>,
    /// The PyTorch paths of all layers with weights.
    pub(super) param_paths: Vec<Vec<String>>,
    /// Index into `graph.nodes` of the producer of each tensor.
    pub(super) producer: HashMap<String, usize>,
    /// Shapes (batch first) of the tensors walked so far, computed from the layers: the
    /// parser's own static shapes go wrong after a Pad whose pads it could not fold.
    pub(super) shapes: RefCell<HashMap<String, Vec<usize>>>,
    pub(super) output: String,
}

impl<'a> Importer<'a> {
    pub(super) fn new(graph: &'a OnnxGraph, names: ProtoNames, origin: &'a Path) -> Result<Self> {
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            // Shape and Size read only a tensor's (static) shape, not its values: they do not
            // branch the data flow (PyTorch's SAME-padding arithmetic starts with them).
            if matches!(n, IrNode::Constant(_) | IrNode::Shape(_) | IrNode::Size(_)) {
                continue;
            }
            for a in n.inputs().iter().filter(|a| a.is_dynamic()) {
                let c = consumers.entry(a.name.clone()).or_default();
                if !c.contains(&i) {
                    c.push(i);
                }
            }
        }
        let [output] = graph.outputs.as_slice() else {
            return Err(Error::format(
                origin,
                None,
                format!(
                    "the graph has {} outputs; only single-output classifiers are supported",
                    graph.outputs.len()
                ),
            ));
        };
        let mut me = Importer {
            graph,
            origin,
            names,
            consumers,
            original: HashMap::new(),
            param_paths: Vec::new(),
            producer: graph
                .nodes
                .iter()
                .enumerate()
                .flat_map(|(i, n)| n.outputs().iter().map(move |o| (o.name.clone(), i)))
                .collect(),
            output: output.name.clone(),
            shapes: RefCell::new(HashMap::new()),
        };
        me.match_names();
        me.param_paths = me
            .original
            .values()
            .filter_map(|(_, w)| torch_path(w))
            .collect();
        Ok(me)
    }

    /// Matches typed nodes to protobuf nodes by op type and order.
    fn match_names(&mut self) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, n) in self.graph.nodes.iter().enumerate() {
            let key = proto_op(n);
            let k = seen.entry(key.clone()).or_insert(0);
            if let Some((name, second)) = self.names.by_op.get(&key).and_then(|v| v.get(*k)) {
                // A weight's name is trusted only when its shape agrees with the typed node's.
                let weight = n
                    .inputs()
                    .get(1)
                    .and_then(|a| a.value())
                    .map(|d| d.shape().to_vec());
                let agrees = match (self.names.dims.get(second), &weight) {
                    (Some(d), Some(w)) => {
                        d == w || (d.len() == 2 && w.len() == 2 && d[0] == w[1] && d[1] == w[0])
                    }
                    _ => false,
                };
                let second = if agrees {
                    second.clone()
                } else {
                    String::new()
                };
                self.original.insert(i, (name.clone(), second));
            }
            *k += 1;
        }
    }

    /// "node `/layer1/conv1/Conv` (Conv)" — the original name when known.
    fn describe(&self, i: usize) -> String {
        let n = &self.graph.nodes[i];
        let name = self
            .original
            .get(&i)
            .map(|(n, _)| n.as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or(n.name());
        format!("node `{name}` ({})", proto_op(n))
    }

    fn err(&self, i: usize, msg: impl std::fmt::Display) -> Error {
        Error::format(self.origin, Some(self.describe(i)), msg.to_string())
    }

    pub(super) fn run(self) -> Result<OnnxModel> {
        let inputs: Vec<&Argument> = self
            .graph
            .inputs
            .iter()
            .filter(|a| a.is_dynamic())
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(Error::format(
                self.origin,
                None,
                format!(
                    "the graph has {} inputs; only single-input models are supported",
                    inputs.len()
                ),
            ));
        };
        let dims = static_dims(input).filter(|d| d.len() == 2 || d.len() == 4);
        let Some(dims) = dims else {
            return Err(Error::format(
                self.origin,
                None,
                format!(
                    "input `{}` must have a static shape [batch, features] or [batch, C, H, W]; \
                     export with a fixed input size",
                    input.name
                ),
            ));
        };
        let start = input.name.clone();
        self.shapes.borrow_mut().insert(start.clone(), dims.clone());
        let (items, end, merge) = self.walk(start)?;
        if let Some(m) = merge {
            return Err(self.err(
                m,
                "adds two tensors that do not branch from one point; only residual blocks \
                 (x + f(x)) are supported",
            ));
        }
        if end != self.output {
            return Err(Error::format(
                self.origin,
                None,
                format!(
                    "the chain from the input ends at `{end}`, not at the graph output `{}`",
                    self.output
                ),
            ));
        }
        let mut weights = BTreeMap::new();
        let layers = build_seq(items, &[], &mut weights);
        Ok(OnnxModel {
            spec: NetworkSpec {
                input_shape: dims[1..].to_vec(),
                layers,
                heads: Vec::new(),
            },
            weights,
        })
    }

    /// Follows the graph from tensor `t` until the graph output, a dead end or an Add that
    /// joins `t`'s branch with another (returned as the merge node).
    fn walk(&self, mut t: String) -> Result<(Vec<Item>, String, Option<usize>)> {
        let mut items = Vec::new();
        loop {
            if t == self.output {
                return Ok((items, t, None));
            }
            let cons = self.consumers.get(&t).cloned().unwrap_or_default();
            match cons.as_slice() {
                [] => return Ok((items, t, None)),
                [c] => {
                    if self.is_merge(*c) {
                        return Ok((items, t, Some(*c)));
                    }
                    let (mut it, out) = self.convert(*c)?;
                    items.append(&mut it);
                    t = out;
                }
                [a, b] => {
                    let (ba, ma, ea) = self.branch(*a, &t)?;
                    let (bb, mb, _) = self.branch(*b, &t)?;
                    if ma != mb {
                        return Err(self.err(
                            *a,
                            format!(
                                "tensor `{t}` feeds two branches that do not meet in one Add; \
                                 only residual blocks are supported"
                            ),
                        ));
                    }
                    // The branch with more layers (or any weights) is the body.
                    let weight = |v: &Vec<Item>| (v.iter().any(Item::has_params), v.len());
                    let (body, shortcut) = if weight(&ba) >= weight(&bb) {
                        (ba, bb)
                    } else {
                        (bb, ba)
                    };
                    items.push(Item::Residual { body, shortcut });
                    let out = self.graph.nodes[ma].outputs()[0].name.clone();
                    let end = self.shapes.borrow().get(&ea).cloned();
                    if let Some(d) = end {
                        self.shapes.borrow_mut().insert(out.clone(), d);
                    }
                    t = out;
                }
                more => {
                    return Err(self.err(
                        more[0],
                        format!(
                            "tensor `{t}` feeds {} nodes; only two branches joined by an Add \
                             (a residual block) are supported",
                            more.len()
                        ),
                    ));
                }
            }
        }
    }

    /// One branch of a residual block, starting at node `c`, up to its merging Add.
    fn branch(&self, c: usize, from: &str) -> Result<(Vec<Item>, usize, String)> {
        if self.is_merge(c) {
            return Ok((Vec::new(), c, from.to_string()));
        }
        let (mut items, out) = self.convert(c)?;
        let (mut rest, end, merge) = self.walk(out)?;
        items.append(&mut rest);
        match merge {
            Some(m) => Ok((items, m, end)),
            None => Err(self.err(
                c,
                "starts a branch that never joins the other one; only residual blocks \
                 (x + f(x)) are supported",
            )),
        }
    }

    /// An Add of two computed tensors (not a bias add).
    fn is_merge(&self, i: usize) -> bool {
        let n = &self.graph.nodes[i];
        matches!(n, IrNode::Add(_)) && n.inputs().iter().filter(|a| a.is_dynamic()).count() == 2
    }

    fn single_consumer(&self, t: &str) -> Option<usize> {
        match self.consumers.get(t).map(Vec::as_slice) {
            Some([c]) => Some(*c),
            _ => None,
        }
    }

    /// Converts node `i` (and a Conv after a Pad) into layers; returns them and the output.
    fn convert(&self, i: usize) -> Result<(Vec<Item>, String)> {
        let n = &self.graph.nodes[i];
        let out = n
            .outputs()
            .first()
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let item = match n {
            IrNode::Pad(p) => {
                let pads = match &p.config.pads {
                    onnx_ir::node::pad::PadInput::Static(v) => v.clone(),
                    onnx_ir::node::pad::PadInput::Runtime { input, axes: None } => {
                        // PyTorch computes F.pad's list in the graph; fold it here.
                        let v = p
                            .inputs
                            .get(input.input_index)
                            .and_then(|a| self.fold(a, 0))
                            .map(|(_, v)| v)
                            .filter(|v| {
                                v.len() % 2 == 0 && v.iter().all(|&x| x >= 0.0 && x.fract() == 0.0)
                            })
                            .ok_or_else(|| {
                                self.err(i, "has pads that are not constant (not foldable)")
                            })?;
                        let r = v.len() / 2;
                        (0..r).map(|k| (v[k] as usize, v[k + r] as usize)).collect()
                    }
                    _ => return Err(self.err(i, "has pads over a subset of axes at run time")),
                };
                let zero = matches!(
                    p.config.constant_value,
                    onnx_ir::node::pad::ConstantValueInput::Static(v) if v == 0.0
                );
                let constant = matches!(p.config.mode, onnx_ir::node::pad::PadMode::Constant);
                let spatial = pads.len() == 4 && pads[..2].iter().all(|&(a, b)| a == 0 && b == 0);
                let next = self.single_consumer(&out);
                let conv = next.filter(|&c| matches!(self.graph.nodes[c], IrNode::Conv2d(_)));
                let (Some(c), true, true, true) = (conv, zero, constant, spatial) else {
                    return Err(self.err(
                        i,
                        "is supported only as zero padding of height and width directly before \
                         a Conv",
                    ));
                };
                let input = self.dims_of(&p.inputs[0]);
                let extra = [pads[2].0, pads[3].0, pads[2].1, pads[3].1];
                let item = self.conv(c, extra, input.clone())?;
                let out = self.graph.nodes[c].outputs()[0].name.clone();
                self.record(&out, input, &[&item]);
                return Ok((vec![item], out));
            }
            IrNode::Conv2d(_) => self.conv(i, [0; 4], None)?,
            IrNode::BatchNormalization(b) => {
                let (eps, momentum) = match &b.config {
                    onnx_ir::node::batch_norm::BatchNormConfig::Static(c) => {
                        (c.epsilon, c.momentum)
                    }
                    onnx_ir::node::batch_norm::BatchNormConfig::Runtime(_) => {
                        return Err(self.err(i, "has statistics computed at run time"));
                    }
                };
                let mut params = Vec::new();
                for (k, name) in ["weight", "bias", "running_mean", "running_var"]
                    .into_iter()
                    .enumerate()
                {
                    let (shape, v) = self.constant(i, k + 1)?;
                    params.push((name, shape, v));
                }
                let c = params[0].2.len();
                params.push(("num_batches_tracked", vec![], vec![0.0]));
                self.layer(
                    i,
                    LayerSpec::BatchNorm {
                        num_features: Some(c),
                        eps,
                        // ONNX's momentum weighs the old statistic, PyTorch's the new one.
                        momentum: 1.0 - momentum,
                    },
                    params,
                )
            }
            IrNode::Linear(l) => {
                let (shape, w) = self.constant(i, 1)?;
                let [a, b] = shape[..] else {
                    return Err(self.err(i, format!("has a weight of shape {shape:?}")));
                };
                // Gemm keeps [out, in]; MatMul's [in, out] is transposed into PyTorch's layout.
                let (out_f, in_f, w) = if l.config.transpose_weight {
                    (a, b, w)
                } else {
                    (b, a, transpose(&w, a, b))
                };
                let mut params = vec![("weight", vec![out_f, in_f], w)];
                let bias = n.inputs().get(2).is_some_and(|a| !a.is_optional());
                if bias {
                    let (_, v) = self.constant(i, 2)?;
                    if v.len() != out_f {
                        return Err(self.err(i, "has a bias that is not one value per output"));
                    }
                    params.push(("bias", vec![out_f], v));
                }
                self.layer(
                    i,
                    LayerSpec::Linear {
                        in_features: Some(in_f),
                        out_features: out_f,
                        bias,
                    },
                    params,
                )
            }
            IrNode::Relu(_) => Item::plain(LayerSpec::Relu),
            IrNode::Sigmoid(_) => Item::plain(LayerSpec::Sigmoid),
            IrNode::Tanh(_) => Item::plain(LayerSpec::Tanh),
            IrNode::LeakyRelu(l) => Item::plain(LayerSpec::LeakyRelu {
                negative_slope: l.config.alpha,
            }),
            IrNode::Gelu(g) => match g.config.approximate {
                onnx_ir::node::gelu::GeluApproximate::Exact => Item::plain(LayerSpec::Gelu),
                _ => return Err(self.err(i, "uses the tanh approximation; only exact GELU is")),
            },
            IrNode::Clip(c) => {
                use onnx_ir::node::clip::ClipInput;
                let bound = |b: &Option<ClipInput>| match b {
                    None => Some(None),
                    Some(ClipInput::Static(v)) => Some(Some(*v)),
                    Some(_) => None,
                };
                match (bound(&c.config.min), bound(&c.config.max)) {
                    (Some(Some(lo)), Some(Some(hi))) if lo == 0.0 && hi == 6.0 => {
                        Item::plain(LayerSpec::Relu6)
                    }
                    (Some(Some(0.0)), Some(None)) => Item::plain(LayerSpec::Relu),
                    _ => {
                        return Err(self.err(
                            i,
                            "clips to a range other than [0, 6] or [0, ∞) (ReLU6 or ReLU)",
                        ));
                    }
                }
            }
            IrNode::MaxPool2d(p) => {
                let c = &p.config;
                let (k, s, pad) = self.pool(i, c.kernel_size, c.strides, &c.padding)?;
                if c.dilation != [1, 1] || c.ceil_mode {
                    return Err(self.err(i, "uses dilation or ceil_mode"));
                }
                Item::plain(LayerSpec::MaxPool2d {
                    kernel_size: k,
                    stride: Some(s),
                    padding: pad,
                })
            }
            IrNode::AveragePool2d(p) => {
                let c = &p.config;
                let (k, s, pad) = self.pool(i, c.kernel_size, c.strides, &c.padding)?;
                if c.dilation != [1, 1] || c.ceil_mode || (pad > 0 && !c.count_include_pad) {
                    return Err(self.err(
                        i,
                        "uses dilation, ceil_mode or padding left out of the average",
                    ));
                }
                Item::plain(LayerSpec::AvgPool2d {
                    kernel_size: k,
                    stride: Some(s),
                    padding: pad,
                })
            }
            IrNode::GlobalAveragePool(_) => Item::plain(LayerSpec::AdaptiveAvgPool2d {
                output_size: [1, 1],
            }),
            IrNode::Flatten(f) => {
                if f.config.axis != 1 {
                    return Err(self.err(i, "flattens from an axis other than 1"));
                }
                Item::plain(LayerSpec::Flatten)
            }
            IrNode::Reshape(r) => {
                let target = match &r.config.shape {
                    onnx_ir::node::reshape::ReshapeInput::Static(s) => s.clone(),
                    _ => Vec::new(),
                };
                let flattens = self.dims_of(&n.inputs()[0]).is_some_and(|d| {
                    let (n, rest) = (d[0] as i64, d[1..].iter().product::<usize>() as i64);
                    match target[..] {
                        [a, b] => {
                            ((a == 0 || a == n) && (b == -1 || b == rest)) || (a == -1 && b == rest)
                        }
                        _ => false,
                    }
                });
                if !flattens {
                    return Err(self.err(i, "is supported only as a flatten to [batch, -1]"));
                }
                Item::plain(LayerSpec::Flatten)
            }
            IrNode::Dropout(d) => match d.config.prob {
                onnx_ir::node::dropout::DropoutInput::Static(p) => {
                    Item::plain(LayerSpec::Dropout { p })
                }
                _ => Item::plain(LayerSpec::Dropout { p: 0.5 }),
            },
            IrNode::Identity(_) => {
                self.record(&out, self.dims_of(&n.inputs()[0]), &[]);
                return Ok((Vec::new(), out));
            }
            _ => {
                return Err(self.err(
                    i,
                    format!("is not supported; the importer handles {SUPPORTED_OPS}"),
                ));
            }
        };
        let item = match item {
            Item::Layer {
                layer,
                want: None,
                fallback,
                params,
            } if params.is_empty() => Item::Layer {
                layer,
                want: self.scope_want(i),
                fallback,
                params,
            },
            item => item,
        };
        self.record(
            &out,
            n.inputs().first().and_then(|a| self.dims_of(a)),
            &[&item],
        );
        Ok((vec![item], out))
    }

    /// A convolution, with `extra` padding (top, left, bottom, right) from a Pad before it
    /// whose input has spatial size `input`.
    fn conv(&self, i: usize, extra: [usize; 4], input: Option<Vec<usize>>) -> Result<Item> {
        let IrNode::Conv2d(conv) = &self.graph.nodes[i] else {
            return Err(self.err(i, "is not a convolution"));
        };
        let c = &conv.config;
        let [k, kw] = c.kernel_size;
        let [s, sw] = c.stride;
        let [d, dw] = c.dilation;
        if k != kw || s != sw || d != dw {
            return Err(self.err(
                i,
                format!(
                    "has a non-square kernel {:?}, stride {:?} or dilation {:?}; tlkit's conv2d \
                     takes one size for both",
                    c.kernel_size, c.stride, c.dilation
                ),
            ));
        }
        use onnx_ir::node::padding::{AutoPad, PaddingConfig2d};
        let own = match (&c.auto_pad, &c.padding) {
            (AutoPad::SameUpper, _) => None,
            (AutoPad::SameLower, _) => {
                return Err(self.err(i, "uses auto_pad SAME_LOWER; only SAME_UPPER is"));
            }
            (_, PaddingConfig2d::Valid) => Some([0; 4]),
            (_, PaddingConfig2d::Explicit(t, l, b, r)) => Some([*t, *l, *b, *r]),
        };
        let padding = match own {
            None if extra == [0; 4] => Padding::Mode("same".into()),
            None => return Err(self.err(i, "combines a Pad with auto_pad SAME")),
            Some(own) => {
                let p: Vec<usize> = own.iter().zip(extra).map(|(a, b)| a + b).collect();
                if p.iter().all(|&v| v == p[0]) {
                    Padding::Size(p[0])
                } else {
                    let input = input.or_else(|| self.dims_of(&conv.inputs[0]));
                    let hw = input.filter(|d| d.len() == 4).map(|d| (d[2], d[3]));
                    let same = hw.is_some_and(|(h, w)| {
                        let (t, b) = tf_same(h, k, s, d);
                        let (l, r) = tf_same(w, k, s, d);
                        p == [t, l, b, r]
                    });
                    if !same {
                        return Err(self.err(
                            i,
                            format!(
                                "pads (top, left, bottom, right) = {p:?}, which is neither \
                                 symmetric nor TensorFlow's SAME"
                            ),
                        ));
                    }
                    Padding::Mode("same".into())
                }
            }
        };
        let (shape, w) = self.constant(i, 1)?;
        let [out_c, in_per_group, ..] = shape[..] else {
            return Err(self.err(i, format!("has a weight of shape {shape:?}")));
        };
        let mut params = vec![("weight", shape.clone(), w)];
        let bias = conv.inputs.get(2).is_some_and(|a| !a.is_optional());
        if bias {
            let (_, v) = self.constant(i, 2)?;
            params.push(("bias", vec![out_c], v));
        }
        Ok(self.layer(
            i,
            LayerSpec::Conv2d {
                in_channels: Some(in_per_group * c.groups),
                out_channels: out_c,
                kernel_size: k,
                stride: s,
                padding,
                dilation: d,
                groups: c.groups,
                bias,
            },
            params,
        ))
    }

    fn pool(
        &self,
        i: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: &onnx_ir::node::padding::PaddingConfig2d,
    ) -> Result<(usize, usize, usize)> {
        use onnx_ir::node::padding::PaddingConfig2d;
        let pad = match padding {
            PaddingConfig2d::Valid => 0,
            PaddingConfig2d::Explicit(t, l, b, r) if t == l && t == b && t == r => *t,
            PaddingConfig2d::Explicit(..) => {
                return Err(self.err(i, "has asymmetric padding"));
            }
        };
        if kernel[0] != kernel[1] || stride[0] != stride[1] {
            return Err(self.err(i, "has a non-square kernel or stride"));
        }
        Ok((kernel[0], stride[0], pad))
    }

    /// A layer with parameters, named after its weight when that has a PyTorch path.
    fn layer(
        &self,
        i: usize,
        layer: LayerSpec,
        params: Vec<(&'static str, Vec<usize>, Vec<f32>)>,
    ) -> Item {
        let (node, weight) = self.original.get(&i).cloned().unwrap_or_default();
        let want = torch_path(&weight);
        let node = if node.is_empty() {
            self.graph.nodes[i].name().to_string()
        } else {
            node
        };
        Item::Layer {
            layer,
            want,
            fallback: sanitize(&node),
            params,
        }
    }

    /// The module path of a layer without weights, from the scopes PyTorch's exporter writes
    /// into node names (`/features/features.2/Relu` → `features.2`). A scope that also owns
    /// weights (an op in a block's `forward`, `/layer1/Relu`) names no layer of its own.
    fn scope_want(&self, i: usize) -> Option<Vec<String>> {
        // Reshape nodes may be folded away in the typed graph, which breaks order matching.
        if matches!(self.graph.nodes[i], IrNode::Reshape(_)) {
            return None;
        }
        let (name, _) = self.original.get(&i)?;
        let mut segs: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
        segs.pop()?;
        let path: Vec<String> = segs
            .iter()
            .map(|s| s.rsplit('.').next().unwrap_or(s).to_string())
            .collect();
        let owns_weights = self
            .param_paths
            .iter()
            .any(|p| p.len() >= path.len() && p[..path.len()] == path[..]);
        (!path.is_empty() && path.iter().all(|s| valid_name(s)) && !owns_weights).then_some(path)
    }

    /// A tensor's shape (batch first): computed while walking, else the parser's.
    pub(super) fn dims_of(&self, a: &Argument) -> Option<Vec<usize>> {
        let known = self.shapes.borrow().get(&a.name).cloned();
        known.or_else(|| static_dims(a))
    }

    /// Records the shape of `out`: `input` through the layers of `items`.
    fn record(&self, out: &str, input: Option<Vec<usize>>, items: &[&Item]) {
        let mut d = input;
        for item in items {
            if let (Some(cur), Item::Layer { layer, .. }) = (&d, item) {
                d = layer_out(cur, layer);
            }
        }
        if let Some(d) = d {
            self.shapes.borrow_mut().insert(out.to_string(), d);
        }
    }

    /// The constant value of input `k` of node `i`: shape and f32 values.
    fn constant(&self, i: usize, k: usize) -> Result<(Vec<usize>, Vec<f32>)> {
        let data = self.graph.nodes[i]
            .inputs()
            .get(k)
            .and_then(|a| a.value())
            .ok_or_else(|| {
                self.err(
                    i,
                    format!("input {k} is not a constant; weights must be initializers"),
                )
            })?;
        let v = data
            .to_f32_vec()
            .map_err(|e| self.err(i, format!("input {k} cannot be read as f32: {e:?}")))?;
        Ok((data.shape().to_vec(), v))
    }
}

/// `features.0.weight` → `[features, 0]`; names that are not PyTorch paths give `None`.
fn torch_path(weight: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = weight
        .strip_suffix(".weight")?
        .split('.')
        .map(str::to_string)
        .collect();
    parts.iter().all(|s| valid_name(s)).then_some(parts)
}

/// The output shape (batch first) of `layer` on an input of shape `d`.
fn layer_out(d: &[usize], layer: &LayerSpec) -> Option<Vec<usize>> {
    let size = |h: usize, k: usize, s: usize, p: usize, dil: usize| {
        (h + 2 * p)
            .checked_sub(dil * (k - 1) + 1)
            .map(|x| x / s + 1)
    };
    Some(match layer {
        LayerSpec::Conv2d {
            out_channels,
            kernel_size: k,
            stride: s,
            padding,
            dilation,
            ..
        } => {
            let [n, _, h, w] = d[..] else { return None };
            let (oh, ow) = match padding {
                Padding::Size(p) => (
                    size(h, *k, *s, *p, *dilation)?,
                    size(w, *k, *s, *p, *dilation)?,
                ),
                Padding::Mode(m) if m == "same" => (h.div_ceil(*s), w.div_ceil(*s)),
                Padding::Mode(_) => (
                    size(h, *k, *s, 0, *dilation)?,
                    size(w, *k, *s, 0, *dilation)?,
                ),
            };
            vec![n, *out_channels, oh, ow]
        }
        LayerSpec::MaxPool2d {
            kernel_size: k,
            stride,
            padding: p,
        }
        | LayerSpec::AvgPool2d {
            kernel_size: k,
            stride,
            padding: p,
        } => {
            let [n, c, h, w] = d[..] else { return None };
            let s = stride.unwrap_or(*k);
            vec![n, c, size(h, *k, s, *p, 1)?, size(w, *k, s, *p, 1)?]
        }
        LayerSpec::AdaptiveAvgPool2d {
            output_size: [a, b],
        } => vec![*d.first()?, *d.get(1)?, *a, *b],
        LayerSpec::Flatten => vec![*d.first()?, d[1..].iter().product()],
        LayerSpec::Linear { out_features, .. } => vec![*d.first()?, *out_features],
        _ => d.to_vec(),
    })
}

/// The protobuf op type of a typed node, for matching and messages.
fn proto_op(n: &IrNode) -> String {
    match n {
        IrNode::Conv2d(_) => "Conv".into(),
        IrNode::MaxPool2d(_) => "MaxPool".into(),
        IrNode::AveragePool2d(_) => "AveragePool".into(),
        IrNode::Linear(_) => "linear".into(),
        IrNode::Gemm(_) | IrNode::MatMul(_)
            if n.inputs().get(1).is_some_and(|a| !a.is_dynamic()) =>
        {
            "linear".into()
        }
        _ => n.node_type().to_string(),
    }
}

fn static_dims(a: &Argument) -> Option<Vec<usize>> {
    match &a.ty {
        ArgType::Tensor(t) => t.static_shape_known(),
        _ => None,
    }
}

/// TensorFlow's SAME padding of one dimension: (before, after), the odd pixel after.
pub(super) fn tf_same(size: usize, k: usize, s: usize, d: usize) -> (usize, usize) {
    let out = size.div_ceil(s);
    let total = ((out - 1) * s + (k - 1) * d + 1).saturating_sub(size);
    (total / 2, total - total / 2)
}

fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An ONNX node name as a layer name: letters, digits and `_` (`/layer1/conv1/Conv` →
/// `layer1_conv1_Conv`).
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let s = s.trim_matches('_').to_string();
    if s.is_empty() { "layer".into() } else { s }
}
