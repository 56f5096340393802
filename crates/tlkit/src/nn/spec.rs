//! The serializable description of a network: a tree of named layers.
//!
//! A spec is plain data (TOML or JSON). Each node has a type and, optionally, a name; unnamed
//! children of a container are named by their index, as PyTorch's `nn.Sequential` names them, so
//! that parameter paths read `features.3.weight`.
//!
//! ```toml
//! input_shape = [1, 28, 28]
//! [[layers]]
//! type = "conv2d"
//! name = "conv1"
//! out_channels = 20
//! kernel_size = 5
//! ```
//!
//! ## Heads
//!
//! `layers` is the trunk: its last layer's output is the network's output. Named heads branch
//! off the trunk at any layer (`from`, a path as `tlkit inspect` prints it, or `input`) and
//! run their own layers; several tasks then share the trunk. A head's layers are named
//! `heads.<name>.<i>` (or `heads.<name>.<layer name>`), so its parameters read
//! `heads.parity.0.weight`; surgery edits them by those paths, and `tlkit inspect` lists each
//! head after the trunk. A spec without heads is the plain network it always was.
//!
//! ```toml
//! [[heads]]
//! name = "parity"
//! from = "backbone.2"
//! [[heads.layers]]
//! type = "linear"
//! out_features = 2
//! ```

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn bn_eps() -> f64 {
    1e-5
}
fn bn_momentum() -> f64 {
    0.1
}

/// Spatial padding of a convolution or pooling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Padding {
    /// The same padding on every side.
    Size(usize),
    /// `"same"`: TensorFlow's SAME padding (output = ceil(input / stride)), extra row and
    /// column at the bottom/right; `"valid"`: no padding.
    Mode(String),
}

impl Default for Padding {
    fn default() -> Self {
        Padding::Size(0)
    }
}

/// One layer type and its hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected: `y = x·Wᵀ + b`, weight `[out, in]` as in PyTorch.
    Linear {
        /// Input width; inferred from the incoming shape when absent, checked when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_features: Option<usize>,
        out_features: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// 2-D convolution over `[C, H, W]`, weight `[out, in/groups, k, k]`.
    Conv2d {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_channels: Option<usize>,
        out_channels: usize,
        kernel_size: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: Padding,
        #[serde(default = "one")]
        dilation: usize,
        #[serde(default = "one")]
        groups: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Batch normalisation over the channel dimension (`[C]` or `[C, H, W]` inputs).
    BatchNorm {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        num_features: Option<usize>,
        #[serde(default = "bn_eps")]
        eps: f64,
        #[serde(default = "bn_momentum")]
        momentum: f64,
    },
    Relu,
    Relu6,
    Gelu,
    Sigmoid,
    Tanh,
    LeakyRelu {
        #[serde(default = "leaky_default")]
        negative_slope: f64,
    },
    /// Max pooling; `stride` defaults to `kernel_size`.
    MaxPool2d {
        kernel_size: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default)]
        padding: usize,
    },
    /// Average pooling; `stride` defaults to `kernel_size`.
    AvgPool2d {
        kernel_size: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default)]
        padding: usize,
    },
    /// Adaptive average pooling to a fixed `[h, w]`.
    AdaptiveAvgPool2d {
        output_size: [usize; 2],
    },
    /// Flattens everything but the batch dimension.
    Flatten,
    /// Zeroes each value with probability `p` in training, scaling the rest by `1/(1-p)`.
    Dropout {
        p: f64,
    },
    Identity,
    /// Children applied in order.
    Sequential {
        layers: Vec<Node>,
    },
    /// `body(x) + shortcut(x)` (identity shortcut when none is given), then the optional
    /// `post` layers (e.g. the ReLU after a ResNet block's sum). With `inline = true` the body's
    /// layers are named directly under the block (`blocks.3.conv` rather than
    /// `blocks.3.body.conv`), as modules that add their skip inside `forward` name them.
    Residual {
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        inline: bool,
        body: Vec<Node>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        shortcut: Vec<Node>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        post: Vec<Node>,
    },
    /// Cross-stitch units (Misra et al. 2016, `nn/cross_stitch.rs`): `tasks` columns of the
    /// same `layers` with separate weights, all fed the layer's input; after each layer named
    /// in `stitch_after`, column `i`'s activation becomes `Σ_j α_ij x_j`. The output holds
    /// the columns' last activations concatenated on the first per-sample axis (features
    /// or channels); a head takes its column with `take`. Parameters:
    /// `<path>.columns.<t>.<layer>...` and `<path>.alpha.<layer>` (`[tasks, tasks]`).
    CrossStitch {
        tasks: usize,
        layers: Vec<Node>,
        /// Names of the column's top-level layers (their index when unnamed).
        stitch_after: Vec<String>,
        /// α_ii at initialisation (the paper's α_S).
        #[serde(default = "alpha_same")]
        alpha_same: f64,
        /// α_ij, i ≠ j, at initialisation (the paper's α_D); default `(1 − alpha_same) /
        /// (tasks − 1)`, so that each row sums to one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alpha_other: Option<f64>,
    },
    /// Multi-gate mixture of experts (Ma et al. 2018, `nn/mmoe.rs`): `experts` copies of the
    /// `expert` layers with separate weights on the layer's input, and per task a softmax
    /// gate, a linear map of the flattened input; task `t`'s representation is
    /// `Σ_e softmax(W_t x)_e · f_e(x)`. The output holds the `tasks` representations
    /// concatenated on the first per-sample axis; a head takes its part with `take`.
    /// Parameters: `<path>.experts.<e>.<layer>...`, `<path>.gates.<t>.weight` (`[experts,
    /// inputs]`) and, with `gate_bias`, `<path>.gates.<t>.bias`.
    Mmoe {
        experts: usize,
        tasks: usize,
        expert: Vec<Node>,
        /// A bias in each gate (the paper's gates have none; LibMTL's have one).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        gate_bias: bool,
    },
    /// Part `part` of `parts` equal slices of the first per-sample axis: how a head picks its
    /// task's representation out of a `cross_stitch` or `mmoe` output.
    Take {
        part: usize,
        parts: usize,
    },
}

fn alpha_same() -> f64 {
    0.9
}

fn leaky_default() -> f64 {
    0.01
}

impl LayerSpec {
    /// The layer's type name as written in specs.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::BatchNorm { .. } => "batch_norm",
            LayerSpec::Relu => "relu",
            LayerSpec::Relu6 => "relu6",
            LayerSpec::Gelu => "gelu",
            LayerSpec::Sigmoid => "sigmoid",
            LayerSpec::Tanh => "tanh",
            LayerSpec::LeakyRelu { .. } => "leaky_relu",
            LayerSpec::MaxPool2d { .. } => "max_pool2d",
            LayerSpec::AvgPool2d { .. } => "avg_pool2d",
            LayerSpec::AdaptiveAvgPool2d { .. } => "adaptive_avg_pool2d",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Identity => "identity",
            LayerSpec::Sequential { .. } => "sequential",
            LayerSpec::Residual { .. } => "residual",
            LayerSpec::CrossStitch { .. } => "cross_stitch",
            LayerSpec::Mmoe { .. } => "mmoe",
            LayerSpec::Take { .. } => "take",
        }
    }
}

/// A layer with its (optional) name inside its parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: Option<String>,
    pub layer: LayerSpec,
}

impl Node {
    /// A named node.
    pub fn named(name: impl Into<String>, layer: LayerSpec) -> Self {
        Node {
            name: Some(name.into()),
            layer,
        }
    }
    /// An unnamed node (named by its index in the parent).
    pub fn anon(layer: LayerSpec) -> Self {
        Node { name: None, layer }
    }
}

impl From<LayerSpec> for Node {
    fn from(layer: LayerSpec) -> Self {
        Node::anon(layer)
    }
}

impl Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut v = serde_json::to_value(&self.layer).map_err(S::Error::custom)?;
        if let (Some(name), Some(map)) = (&self.name, v.as_object_mut()) {
            // Put the name first so written specs read naturally.
            let mut ordered = serde_json::Map::new();
            ordered.insert("name".into(), serde_json::Value::String(name.clone()));
            ordered.extend(std::mem::take(map));
            *map = ordered;
        }
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut v = serde_json::Value::deserialize(d)?;
        let map = v
            .as_object_mut()
            .ok_or_else(|| D::Error::custom("a layer must be a table with a `type` field"))?;
        let name = match map.remove("name") {
            None => None,
            Some(serde_json::Value::String(s)) if valid_name(&s) => Some(s),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "layer name {other} must be a non-empty string of letters, digits and `_` (no dots)"
                )));
            }
        };
        let layer: LayerSpec = serde_json::from_value(v).map_err(|e| {
            D::Error::custom(match &name {
                Some(n) => format!("layer `{n}`: {e}"),
                None => e.to_string(),
            })
        })?;
        Ok(Node { name, layer })
    }
}

/// True for a layer or head name: non-empty, letters, digits and `_`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A named head: layers fed by the output of one trunk layer (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadSpec {
    /// Letters, digits and `_`; the head's layers are named `heads.<name>.*`.
    pub name: String,
    /// The trunk layer whose output the head reads (`input` for the network input).
    pub from: String,
    pub layers: Vec<Node>,
}

/// The path prefix of the layers of head `name`.
pub fn head_path(name: &str) -> String {
    format!("{HEADS}.{name}")
}

/// The first component of every head's layer paths; no trunk layer may be named so when the
/// spec has heads.
pub const HEADS: &str = "heads";

/// A whole network: the per-sample input shape, the trunk's top-level layers and named heads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Shape of one input sample, e.g. `[1, 28, 28]` or `[784]`.
    pub input_shape: Vec<usize>,
    pub layers: Vec<Node>,
    /// Heads branching off the trunk; none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<HeadSpec>,
}

impl NetworkSpec {
    /// A network of `layers` on samples of `input_shape`, without heads.
    pub fn new(input_shape: Vec<usize>, layers: Vec<Node>) -> Self {
        NetworkSpec {
            input_shape,
            layers,
            heads: vec![],
        }
    }

    /// The head called `name`.
    pub fn head(&self, name: &str) -> Option<&HeadSpec> {
        self.heads.iter().find(|h| h.name == name)
    }

    /// Parses a spec from TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &std::path::Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            msg: e.to_string(),
        })
    }

    /// Parses a spec from JSON text; `origin` names the file in errors.
    pub fn from_json(text: &str, origin: &std::path::Path) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            msg: e.to_string(),
        })
    }

    /// Reads a spec file (`.toml` or `.json`).
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::from_json(&text, path)
        } else {
            Self::from_toml(&text, path)
        }
    }
}

/// The name of child `index` of a container: its own name or its index.
pub fn child_name(node: &Node, index: usize) -> String {
    node.name.clone().unwrap_or_else(|| index.to_string())
}

/// The path under which a residual block at `path` names its body layers: the block itself
/// when `inline`, otherwise its `body` branch. Shape inference, the forward pass and surgery
/// must agree on this, so it is decided here only.
pub fn residual_body_prefix(path: &str, inline: bool) -> String {
    if inline {
        path.to_string()
    } else {
        join(path, "body")
    }
}

/// Joins a parent path and a child name with a dot.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_named_and_unnamed_layers() {
        let spec = NetworkSpec::from_toml(
            r#"
            input_shape = [1, 8, 8]
            [[layers]]
            type = "conv2d"
            name = "conv1"
            out_channels = 4
            kernel_size = 3
            padding = "same"
            [[layers]]
            type = "flatten"
            "#,
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(spec.layers.len(), 2);
        assert_eq!(spec.layers[0].name.as_deref(), Some("conv1"));
        assert!(matches!(
            &spec.layers[0].layer,
            LayerSpec::Conv2d { padding: Padding::Mode(m), .. } if m == "same"
        ));
        // Round trip through JSON keeps the name.
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            NetworkSpec::from_json(&json, Path::new("t.json")).unwrap(),
            spec
        );
    }

    #[test]
    fn unknown_layer_type_names_the_type() {
        let err = NetworkSpec::from_toml(
            "input_shape = [4]\n[[layers]]\ntype = \"convolution\"\nname = \"c\"\n",
            Path::new("bad.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains("convolution"), "{err}");
        assert!(err.contains("layer `c`"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let err = NetworkSpec::from_toml(
            "input_shape = [4]\n[[layers]]\ntype = \"linear\"\nout_features = 3\nbais = false\n",
            Path::new("bad.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bais"), "{err}");
    }

    #[test]
    fn dotted_names_are_rejected() {
        let err = NetworkSpec::from_toml(
            "input_shape = [4]\n[[layers]]\ntype = \"relu\"\nname = \"a.b\"\n",
            Path::new("bad.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no dots"), "{err}");
    }
}
