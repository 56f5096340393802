//! Shape inference: runs over a spec before any data does.
//!
//! Walking the tree resolves every inferred hyper-parameter (a linear layer's `in_features`, a
//! convolution's `in_channels`), lists every parameter with its path and shape, and rejects a
//! spec whose layers do not connect with an error naming both layers and both shapes.

use super::spec::{
    HEADS, LayerSpec, NetworkSpec, Node, Padding, child_name, head_path, join,
    residual_body_prefix, valid_name,
};
use crate::{Error, Result};

/// What a parameter is, which decides its initialisation and whether it trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamRole {
    /// A weight with `fan_in` inputs per output (Kaiming-uniform, as PyTorch initialises it).
    Weight { fan_in: usize },
    /// A bias of a layer with `fan_in` inputs.
    Bias { fan_in: usize },
    /// Batch-norm scale (ones).
    Scale,
    /// Batch-norm shift (zeros).
    Shift,
    /// Running mean (zeros); a buffer, never trained.
    RunningMean,
    /// Running variance (ones); a buffer, never trained.
    RunningVar,
    /// Batch-norm's count of training batches (PyTorch's `num_batches_tracked`, a scalar).
    BatchCount,
    /// A cross-stitch unit's `[tasks, tasks]` mix: `same` on the diagonal, `other` off it.
    Mix { same: f64, other: f64 },
}

impl ParamRole {
    /// Buffers are state, not parameters: never trained, always saved.
    pub fn is_buffer(self) -> bool {
        matches!(
            self,
            ParamRole::RunningMean | ParamRole::RunningVar | ParamRole::BatchCount
        )
    }
}

/// One parameter or buffer of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub path: String,
    pub shape: Vec<usize>,
    pub role: ParamRole,
}

impl ParamInfo {
    /// Number of values.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One node of the network after inference.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    /// Dotted path, e.g. `features.3`.
    pub path: String,
    pub kind: &'static str,
    /// Nesting depth (0 for top-level layers).
    pub depth: usize,
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    /// The layer's own parameters and buffers (not those of its children).
    pub params: Vec<ParamInfo>,
}

/// Formats a per-sample shape as `512×7×7`.
pub fn fmt_shape(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "a scalar".into();
    }
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

/// Output size of a convolution or pooling window along one axis.
fn window_out(
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    (input + pad >= span).then(|| (input + pad - span) / stride + 1)
}

/// TensorFlow SAME padding along one axis: `(begin, end)`, the extra one at the end.
pub fn same_padding(input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let span = dilation * (kernel - 1) + 1;
    let total = ((out - 1) * stride + span).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// The `(begin, end)` padding of a conv layer along an axis of size `input`.
pub fn conv_padding(
    padding: &Padding,
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Result<(usize, usize)> {
    match padding {
        Padding::Size(p) => Ok((*p, *p)),
        Padding::Mode(m) if m == "same" => Ok(same_padding(input, kernel, stride, dilation)),
        Padding::Mode(m) if m == "valid" => Ok((0, 0)),
        Padding::Mode(m) => Err(Error::Spec(format!(
            "padding `{m}` is not a number, \"same\" or \"valid\""
        ))),
    }
}

/// The walk over a spec; the soft-sharing layers (`nn/cross_stitch.rs`, `nn/mmoe.rs`) add
/// their own inference to it.
pub(super) struct Walker {
    pub(super) layers: Vec<LayerInfo>,
}

impl Walker {
    /// Infers a list of nodes applied in order; `from` is the path that produced `shape`.
    pub(super) fn seq(
        &mut self,
        prefix: &str,
        nodes: &mut [Node],
        mut shape: Vec<usize>,
        mut from: String,
        depth: usize,
    ) -> Result<(Vec<usize>, String)> {
        let mut seen = std::collections::HashSet::new();
        for (i, node) in nodes.iter_mut().enumerate() {
            let name = child_name(node, i);
            if !seen.insert(name.clone()) {
                return Err(Error::Spec(format!(
                    "two layers are named `{}`; names within a container must be unique",
                    join(prefix, &name)
                )));
            }
            let path = join(prefix, &name);
            (shape, from) = self.node(&path, &mut node.layer, shape, &from, depth)?;
        }
        Ok((shape, from))
    }

    fn node(
        &mut self,
        path: &str,
        layer: &mut LayerSpec,
        input: Vec<usize>,
        from: &str,
        depth: usize,
    ) -> Result<(Vec<usize>, String)> {
        let kind = layer.kind();
        let mismatch = |expected: String, hint: Option<String>| {
            Error::ShapeMismatch(Box::new(crate::error::ShapeMismatch {
                from: from.to_string(),
                to: path.to_string(),
                to_kind: kind.to_string(),
                expected,
                got: fmt_shape(&input),
                hint,
            }))
        };
        let index = self.layers.len();
        self.layers.push(LayerInfo {
            path: path.to_string(),
            kind,
            depth,
            input: input.clone(),
            output: vec![],
            params: vec![],
        });
        let p = |n: &str| join(path, n);
        let mut params = vec![];
        let output = match layer {
            LayerSpec::Linear {
                in_features,
                out_features,
                bias,
            } => {
                if input.len() != 1 {
                    let numel: usize = input.iter().product();
                    let (want, hint) = linear_on_map(*in_features, &input, numel);
                    return Err(mismatch(want, Some(hint)));
                }
                let got = input[0];
                if let Some(n) = in_features
                    && *n != got
                {
                    return Err(mismatch(
                        format!("{n} inputs"),
                        Some(format!(
                            "replace it with a new linear layer of in_features = {got}, or change the layers before it to produce {n}"
                        )),
                    ));
                }
                *in_features = Some(got);
                if *out_features == 0 {
                    return Err(Error::Spec(format!("`{path}`: out_features must be > 0")));
                }
                params.push(ParamInfo {
                    path: p("weight"),
                    shape: vec![*out_features, got],
                    role: ParamRole::Weight { fan_in: got },
                });
                if *bias {
                    params.push(ParamInfo {
                        path: p("bias"),
                        shape: vec![*out_features],
                        role: ParamRole::Bias { fan_in: got },
                    });
                }
                vec![*out_features]
            }
            LayerSpec::Conv2d {
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation,
                groups,
                bias,
            } => {
                if input.len() != 3 {
                    return Err(mismatch(
                        "a C×H×W feature map".into(),
                        Some("a conv2d cannot follow a flatten or a linear layer; reshape the input or move the layer".into()),
                    ));
                }
                let c = input[0];
                if let Some(n) = in_channels
                    && *n != c
                {
                    return Err(mismatch(format!("{n} input channels"), None));
                }
                if *kernel_size == 0
                    || *stride == 0
                    || *dilation == 0
                    || *groups == 0
                    || *out_channels == 0
                {
                    return Err(Error::Spec(format!(
                        "`{path}`: out_channels, kernel_size, stride, dilation and groups must be > 0"
                    )));
                }
                if !c.is_multiple_of(*groups) || !out_channels.is_multiple_of(*groups) {
                    return Err(Error::Spec(format!(
                        "`{path}`: groups = {groups} must divide in_channels = {c} and out_channels = {out_channels}"
                    )));
                }
                *in_channels = Some(c);
                let mut out = vec![*out_channels];
                for &size in &input[1..] {
                    let (b, e) = conv_padding(padding, size, *kernel_size, *stride, *dilation)
                        .map_err(|e| Error::Spec(format!("`{path}`: {e}")))?;
                    let o = window_out(size, *kernel_size, *stride, b + e, *dilation).ok_or_else(
                        || {
                            mismatch(
                                format!("a map of at least {k}×{k}", k = *kernel_size),
                                Some("use padding or a smaller kernel".into()),
                            )
                        },
                    )?;
                    out.push(o);
                }
                let fan_in = c / *groups * *kernel_size * *kernel_size;
                params.push(ParamInfo {
                    path: p("weight"),
                    shape: vec![*out_channels, c / *groups, *kernel_size, *kernel_size],
                    role: ParamRole::Weight { fan_in },
                });
                if *bias {
                    params.push(ParamInfo {
                        path: p("bias"),
                        shape: vec![*out_channels],
                        role: ParamRole::Bias { fan_in },
                    });
                }
                out
            }
            LayerSpec::BatchNorm { num_features, .. } => {
                if input.is_empty() {
                    return Err(mismatch("a C or C×H×W input".into(), None));
                }
                let c = input[0];
                if let Some(n) = num_features
                    && *n != c
                {
                    return Err(mismatch(format!("{n} channels"), None));
                }
                *num_features = Some(c);
                for (n, role) in [
                    ("weight", ParamRole::Scale),
                    ("bias", ParamRole::Shift),
                    ("running_mean", ParamRole::RunningMean),
                    ("running_var", ParamRole::RunningVar),
                ] {
                    params.push(ParamInfo {
                        path: p(n),
                        shape: vec![c],
                        role,
                    });
                }
                params.push(ParamInfo {
                    path: p("num_batches_tracked"),
                    shape: vec![],
                    role: ParamRole::BatchCount,
                });
                input.clone()
            }
            LayerSpec::Relu
            | LayerSpec::Relu6
            | LayerSpec::Gelu
            | LayerSpec::Sigmoid
            | LayerSpec::Tanh
            | LayerSpec::LeakyRelu { .. }
            | LayerSpec::Identity => input.clone(),
            LayerSpec::Dropout { p: rate } => {
                if !(0.0..1.0).contains(rate) {
                    return Err(Error::Spec(format!(
                        "`{path}`: dropout p = {rate} must be in [0, 1)"
                    )));
                }
                input.clone()
            }
            LayerSpec::MaxPool2d {
                kernel_size,
                stride,
                padding,
            }
            | LayerSpec::AvgPool2d {
                kernel_size,
                stride,
                padding,
            } => {
                if input.len() != 3 {
                    return Err(mismatch("a C×H×W feature map".into(), None));
                }
                let s = stride.unwrap_or(*kernel_size);
                if *kernel_size == 0 || s == 0 {
                    return Err(Error::Spec(format!(
                        "`{path}`: kernel_size and stride must be > 0"
                    )));
                }
                let mut out = vec![input[0]];
                for &size in &input[1..] {
                    let o =
                        window_out(size, *kernel_size, s, 2 * *padding, 1).ok_or_else(|| {
                            mismatch(format!("a map of at least {k}×{k}", k = *kernel_size), None)
                        })?;
                    out.push(o);
                }
                out
            }
            LayerSpec::AdaptiveAvgPool2d { output_size } => {
                if input.len() != 3 {
                    return Err(mismatch("a C×H×W feature map".into(), None));
                }
                vec![input[0], output_size[0], output_size[1]]
            }
            LayerSpec::Flatten => vec![input.iter().product()],
            LayerSpec::Sequential { layers } if !layers.is_empty() => {
                let (out, last) =
                    self.seq(path, layers, input.clone(), from.to_string(), depth + 1)?;
                let info = &mut self.layers[index];
                info.output = out.clone();
                // Errors downstream name the innermost layer that produced the shape.
                return Ok((out, last));
            }
            LayerSpec::Sequential { .. } => input.clone(),
            LayerSpec::CrossStitch {
                tasks,
                layers,
                stitch_after,
                alpha_same,
                alpha_other,
            } => {
                let (out, p) = self.cross_stitch(
                    path,
                    super::cross_stitch::Stitch {
                        tasks: *tasks,
                        layers,
                        stitch_after,
                        alpha_same: *alpha_same,
                        alpha_other: *alpha_other,
                    },
                    (&input, from),
                    depth,
                )?;
                params = p;
                out
            }
            LayerSpec::Mmoe {
                experts,
                tasks,
                expert,
                gate_bias,
            } => {
                let (out, p) = self.mmoe(
                    path,
                    super::mmoe::Experts {
                        experts: *experts,
                        tasks: *tasks,
                        expert,
                        gate_bias: *gate_bias,
                    },
                    (&input, from),
                    depth,
                )?;
                params = p;
                out
            }
            LayerSpec::Take { part, parts } => {
                check_take(path, *part, *parts)?;
                match input.first() {
                    Some(&n) if n.is_multiple_of(*parts) => {
                        let mut out = input.clone();
                        out[0] = n / *parts;
                        out
                    }
                    _ => {
                        return Err(mismatch(
                            format!("a first axis divisible by parts = {parts}"),
                            Some(
                                "read it from a cross_stitch or mmoe layer whose tasks equal parts"
                                    .into(),
                            ),
                        ));
                    }
                }
            }
            LayerSpec::Residual {
                inline,
                body,
                shortcut,
                post,
            } => {
                let (b, bfrom) = self.seq(
                    &residual_body_prefix(path, *inline),
                    body,
                    input.clone(),
                    from.to_string(),
                    depth + 1,
                )?;
                let (s, sfrom) = self.seq(
                    &join(path, "shortcut"),
                    shortcut,
                    input.clone(),
                    from.to_string(),
                    depth + 1,
                )?;
                if b != s {
                    return Err(Error::ShapeMismatch(Box::new(
                        crate::error::ShapeMismatch {
                            from: if shortcut.is_empty() {
                                format!("{from} (identity shortcut)")
                            } else {
                                sfrom
                            },
                            to: bfrom,
                            to_kind: "residual sum".into(),
                            expected: fmt_shape(&b),
                            got: fmt_shape(&s),
                            hint: Some(format!(
                                "give `{path}` a `shortcut` (e.g. a 1×1 conv2d with the body's stride and channels)"
                            )),
                        },
                    )));
                }
                self.seq(
                    &join(path, "post"),
                    post,
                    b,
                    format!("{path} (sum)"),
                    depth + 1,
                )?
                .0
            }
        };
        let info = &mut self.layers[index];
        info.output = output.clone();
        info.params = params;
        Ok((output, path.to_string()))
    }
}

impl Walker {
    /// Walks `count` copies of `layers` (the columns of a cross-stitch layer, the experts of
    /// an MMoE layer) on `input`, copy `k` under `<group>.<k>`, and returns their output
    /// shape. The first copy resolves the inferred sizes in place; the others are walked as
    /// clones of it, so every copy lists its own layers and parameters. `field` names the
    /// layers in errors.
    pub(super) fn copies(
        &mut self,
        (group, field): (&str, &str),
        count: usize,
        layers: &mut Vec<Node>,
        (input, from): (&[usize], &str),
        depth: usize,
    ) -> Result<Vec<usize>> {
        if layers.is_empty() {
            return Err(Error::invalid(
                field,
                "[]",
                "give the layers of one copy (they are repeated with separate weights)",
            ));
        }
        let mut out = vec![];
        for k in 0..count {
            let prefix = format!("{group}.{k}");
            let mut copy = layers.clone();
            let walked = if k == 0 { &mut *layers } else { &mut copy };
            out = self
                .seq(&prefix, walked, input.to_vec(), from.to_string(), depth + 1)?
                .0;
        }
        Ok(out)
    }
}

/// The shape of `parts` representations of shape `part` side by side on the first axis.
pub(super) fn parts_shape(part: &[usize], parts: usize) -> Vec<usize> {
    let mut out = part.to_vec();
    if let Some(first) = out.first_mut() {
        *first *= parts;
    }
    out
}

/// A `take` layer's own fields: at least one part, and `part` among them.
fn check_take(path: &str, part: usize, parts: usize) -> Result<()> {
    if parts == 0 {
        return Err(Error::invalid(
            format!("{path}.parts"),
            parts,
            "give the number of tasks of the cross_stitch or mmoe layer before it",
        ));
    }
    if part >= parts {
        return Err(Error::invalid(
            format!("{path}.part"),
            part,
            format!("parts count from 0, so part must be below parts = {parts}"),
        ));
    }
    Ok(())
}

/// The expectation and the suggested fix when a linear layer meets a feature map.
fn linear_on_map(in_features: Option<usize>, input: &[usize], numel: usize) -> (String, String) {
    let Some(n) = in_features else {
        return (
            "a flat vector".into(),
            format!(
                "insert a `flatten` before it (giving {numel} features), or an adaptive pooling to shrink the map first"
            ),
        );
    };
    if n == numel {
        return (format!("{n} inputs"), "insert a `flatten` before it".into());
    }
    let c = input[0];
    let side = (n % c == 0)
        .then(|| ((n / c) as f64).sqrt().round() as usize)
        .filter(|s| s * s * c == n);
    let want = match side {
        Some(s) => format!("{n} = {c}×{s}×{s} inputs"),
        None => format!("{n} inputs"),
    };
    let mut hint = format!("flatten and use a new linear layer of in_features = {numel}");
    if let Some(s) = side {
        hint = format!(
            "insert an `adaptive_avg_pool2d` to [{s}, {s}] and a `flatten` before it, or {hint}"
        );
    }
    (want, hint)
}

/// Infers shapes through `spec`, filling in inferred hyper-parameters, and returns one entry
/// per node in depth-first order.
pub fn infer(spec: &mut NetworkSpec) -> Result<Vec<LayerInfo>> {
    if spec.input_shape.is_empty() || spec.input_shape.contains(&0) {
        return Err(Error::Spec(format!(
            "input_shape {:?} must be non-empty with positive sizes",
            spec.input_shape
        )));
    }
    let mut w = Walker { layers: vec![] };
    w.seq(
        "",
        &mut spec.layers,
        spec.input_shape.clone(),
        "input".into(),
        0,
    )?;
    infer_heads(spec, &mut w)?;
    Ok(w.layers)
}

/// Heads come after the trunk: each reads the output of a trunk layer (or the input) and is
/// listed as a `head` node at depth 0 with its layers below it.
fn infer_heads(spec: &mut NetworkSpec, w: &mut Walker) -> Result<()> {
    if spec.heads.is_empty() {
        return Ok(());
    }
    if let Some(i) = (0..spec.layers.len()).find(|&i| child_name(&spec.layers[i], i) == HEADS) {
        return Err(Error::Spec(format!(
            "trunk layer {i} is named `{HEADS}`, which the paths of heads use; rename it"
        )));
    }
    let trunk = w.layers.len();
    let mut seen = std::collections::HashSet::new();
    for head in &mut spec.heads {
        if !valid_name(&head.name) || !seen.insert(head.name.clone()) {
            return Err(Error::Spec(format!(
                "head name `{}` must be unique and made of letters, digits and `_`",
                head.name
            )));
        }
        let input = if head.from == "input" {
            spec.input_shape.clone()
        } else {
            w.layers[..trunk]
                .iter()
                .find(|l| l.path == head.from)
                .map(|l| l.output.clone())
                .ok_or_else(|| {
                    Error::Path(format!(
                        "head `{}` branches from `{}`, which is not a trunk layer; use `input` or one of: {}",
                        head.name,
                        head.from,
                        w.layers[..trunk]
                            .iter()
                            .map(|l| l.path.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?
        };
        let path = head_path(&head.name);
        let index = w.layers.len();
        w.layers.push(LayerInfo {
            path: path.clone(),
            kind: "head",
            depth: 0,
            input: input.clone(),
            output: vec![],
            params: vec![],
        });
        let (out, _) = w.seq(&path, &mut head.layers, input, head.from.clone(), 1)?;
        w.layers[index].output = out;
    }
    Ok(())
}

/// Every parameter and buffer in path order of appearance.
pub fn all_params(layers: &[LayerInfo]) -> Vec<ParamInfo> {
    layers
        .iter()
        .flat_map(|l| l.params.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(text: &str) -> NetworkSpec {
        NetworkSpec::from_toml(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn fc_after_unflattened_map_names_both_layers_and_shapes() {
        let mut s = spec(
            r#"
            input_shape = [3, 14, 14]
            [[layers]]
            name = "features"
            type = "sequential"
            [[layers.layers]]
            type = "conv2d"
            out_channels = 512
            kernel_size = 3
            padding = 1
            [[layers.layers]]
            name = "pool"
            type = "adaptive_avg_pool2d"
            output_size = [1, 1]
            [[layers]]
            name = "head"
            type = "sequential"
            [[layers.layers]]
            type = "flatten"
            [[layers.layers]]
            name = "fc"
            type = "linear"
            in_features = 25088
            out_features = 10
            "#,
        );
        let err = infer(&mut s).unwrap_err().to_string();
        assert_eq!(
            err,
            "`head.fc` (linear) expects 25088 inputs but `head.0` produces 512; \
             replace it with a new linear layer of in_features = 512, or change the layers before it to produce 25088"
        );
    }

    #[test]
    fn fc_expecting_512x7x7_after_global_pooling_suggests_the_fix() {
        let mut s = spec(
            r#"
            input_shape = [3, 14, 14]
            [[layers]]
            name = "features"
            type = "sequential"
            [[layers.layers]]
            type = "conv2d"
            out_channels = 512
            kernel_size = 3
            padding = 1
            [[layers.layers]]
            name = "pool"
            type = "adaptive_avg_pool2d"
            output_size = [1, 1]
            [[layers]]
            name = "head"
            type = "sequential"
            [[layers.layers]]
            name = "fc"
            type = "linear"
            in_features = 25088
            out_features = 10
            "#,
        );
        let err = infer(&mut s).unwrap_err().to_string();
        assert_eq!(
            err,
            "`head.fc` (linear) expects 25088 = 512×7×7 inputs but `features.pool` produces 512×1×1; \
             insert an `adaptive_avg_pool2d` to [7, 7] and a `flatten` before it, or flatten and use a new linear layer of in_features = 512"
        );
    }

    #[test]
    fn linear_on_a_map_suggests_flatten() {
        let mut s = spec(
            "input_shape = [2, 3, 3]\n[[layers]]\nname = \"fc\"\ntype = \"linear\"\nout_features = 4\n",
        );
        let err = infer(&mut s).unwrap_err().to_string();
        assert!(err.contains("`fc` (linear)"), "{err}");
        assert!(err.contains("`input` produces 2×3×3"), "{err}");
        assert!(err.contains("flatten"), "{err}");
    }

    #[test]
    fn lenet_shapes_and_param_paths() {
        let mut s = crate::nn::zoo::lenet(1, 28, 10, 0.5);
        let layers = infer(&mut s).unwrap();
        let out = layers.iter().find(|l| l.path == "bottleneck.0").unwrap();
        assert_eq!(out.input, vec![800]);
        let params = all_params(&layers);
        let paths: Vec<_> = params.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "backbone.0.weight",
                "backbone.0.bias",
                "backbone.3.weight",
                "backbone.3.bias",
                "bottleneck.0.weight",
                "bottleneck.0.bias",
                "head.weight",
                "head.bias"
            ]
        );
        let n: usize = params.iter().map(|p| p.numel()).sum();
        // 1·20·25+20 + 20·50·25+50 + 800·500+500 + 500·10+10
        assert_eq!(n, 520 + 25050 + 400500 + 5010);
    }

    #[test]
    fn same_padding_matches_tensorflow() {
        // TF: out = ceil(224/2) = 112; total = (112-1)*2 + 3 - 224 = 1 → (0, 1).
        assert_eq!(same_padding(224, 3, 2, 1), (0, 1));
        assert_eq!(same_padding(112, 3, 1, 1), (1, 1));
        assert_eq!(same_padding(14, 5, 2, 1), (1, 2));
    }

    #[test]
    fn residual_shape_mismatch_suggests_shortcut() {
        let mut s = spec(
            r#"
            input_shape = [4, 8, 8]
            [[layers]]
            name = "block"
            type = "residual"
            [[layers.body]]
            type = "conv2d"
            out_channels = 8
            kernel_size = 3
            stride = 2
            padding = 1
            "#,
        );
        let err = infer(&mut s).unwrap_err().to_string();
        assert!(err.contains("block.body.0"), "{err}");
        assert!(err.contains("8×4×4"), "{err}");
        assert!(err.contains("4×8×8"), "{err}");
        assert!(err.contains("shortcut"), "{err}");
    }

    #[test]
    fn heads_branch_from_named_layers_and_name_their_parameters() {
        let mut s = spec(
            r#"
            input_shape = [1, 8, 8]
            [[layers]]
            name = "trunk"
            type = "sequential"
            [[layers.layers]]
            type = "flatten"
            [[layers.layers]]
            type = "linear"
            out_features = 16
            [[layers]]
            name = "digit"
            type = "linear"
            out_features = 10
            [[heads]]
            name = "parity"
            from = "trunk.1"
            [[heads.layers]]
            type = "relu"
            [[heads.layers]]
            name = "fc"
            type = "linear"
            out_features = 2
            "#,
        );
        let layers = infer(&mut s).unwrap();
        let head = layers.iter().find(|l| l.path == "heads.parity").unwrap();
        assert_eq!(
            (head.input.clone(), head.output.clone()),
            (vec![16], vec![2])
        );
        let paths: Vec<_> = all_params(&layers).into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths[paths.len() - 2..],
            ["heads.parity.fc.weight", "heads.parity.fc.bias"]
        );
        s.heads[0].from = "trunk.7".into();
        let err = infer(&mut s).unwrap_err().to_string();
        assert!(
            err.contains("head `parity` branches from `trunk.7`") && err.contains("trunk.1"),
            "{err}"
        );
        s.heads[0].from = "input".into();
        let err = infer(&mut s).unwrap_err().to_string();
        assert!(err.contains("`heads.parity.fc` (linear)"), "{err}");
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let mut s = spec(
            "input_shape = [4]\n[[layers]]\nname = \"a\"\ntype = \"relu\"\n[[layers]]\nname = \"a\"\ntype = \"relu\"\n",
        );
        assert!(
            infer(&mut s)
                .unwrap_err()
                .to_string()
                .contains("two layers are named `a`")
        );
    }
}
