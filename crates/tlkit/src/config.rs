//! Experiment configs: one TOML file that says which data, which network and how to train.
//!
//! Every table rejects unknown keys, so a typo is an error naming the key and its line rather
//! than a silently ignored setting. A run writes its config back fully resolved (every
//! default filled in) as `config.toml`, which can be kept and re-run.
//!
//! ```toml
//! name = "lenet-mnist"
//! seed = 0
//! [data]
//! dataset = "mnist"
//! [model]
//! arch = "lenet"
//! [train]
//! epochs = 10
//! batch_size = 64
//! [train.optimizer]
//! name = "sgd"
//! lr = 0.01
//! momentum = 0.9
//! ```
//!
//! Several tasks on one network with heads (see `nn::spec` and `train::task`): derived
//! targets under `[[data.targets]]`, one `[[tasks]]` table per task
//! (`examples/multitask-digits`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::DeviceKind;
use crate::data::{Dataset, Transform};
use crate::nn::{NetworkSpec, Node, zoo};
use crate::train::{Task, TrainConfig};
use crate::{Error, Result};

fn default_name() -> String {
    "run".into()
}
fn mlp_hidden() -> Vec<usize> {
    vec![256, 256]
}
fn lenet_dropout() -> f64 {
    0.5
}
fn resnet_widths() -> Vec<usize> {
    vec![16, 32, 64]
}
fn one() -> usize {
    1
}
fn neg_one() -> isize {
    -1
}
fn unit() -> f32 {
    1.0
}

/// Where a split's samples come from, when not a named dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// IDX image and label files (optionally gzipped), as MNIST ships.
    Idx { images: PathBuf, labels: PathBuf },
    /// One sample per row, the label in `label_column` (negative counts from the end).
    Csv {
        path: PathBuf,
        #[serde(default = "neg_one")]
        label_column: isize,
        #[serde(default)]
        has_header: bool,
        /// Multiplies every feature (e.g. 1/16 for optdigits counts).
        #[serde(default = "unit")]
        scale: f32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample_shape: Option<Vec<usize>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        num_classes: Option<usize>,
    },
    /// An `.npz` archive with a samples array and a labels array.
    Npz {
        path: PathBuf,
        x_key: String,
        y_key: String,
    },
    /// One sub-folder per class of PNG/JPEG images.
    ImageFolder {
        root: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<[usize; 2]>,
        #[serde(default)]
        grayscale: bool,
    },
}

/// The data section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A named dataset (`optdigits-embedded`, `mnist`, `fashion-mnist`, `optdigits`,
    /// `sklearn-digits`); or give `train` and `test` sources instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Source>,
    /// Keep only these classes, relabelled 0, 1, … in the order given (a source task of
    /// digits 0–4, a target task of 5–9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<u32>>,
    /// Applied to both splits, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
    /// Train on the first `train_limit` samples of the (shuffled) training split only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Keep only this many training samples per class (few-shot), chosen with the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_per_class: Option<usize>,
    /// Evaluate on the first `test_limit` test samples only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
    /// Further class targets derived from the labels (or another target), for tasks to name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<DerivedTarget>,
}

impl DataConfig {
    /// The named dataset `dataset` as it is: no classes kept, no transforms, no limits, no
    /// derived targets.
    pub fn named(dataset: Option<String>) -> Self {
        DataConfig {
            dataset,
            train: None,
            test: None,
            classes: None,
            transforms: vec![],
            train_limit: None,
            train_per_class: None,
            test_limit: None,
            targets: vec![],
        }
    }
}

/// A class target derived by mapping the classes of another target: `map[c]` is the new
/// class of class `c` (digit parity, superclasses).
///
/// ```toml
/// [[data.targets]]
/// name = "parity"
/// map = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedTarget {
    pub name: String,
    /// The target mapped (default `label`, the dataset's labels).
    #[serde(default = "label_target")]
    pub from: String,
    pub map: Vec<u32>,
}

fn label_target() -> String {
    crate::data::LABEL_TARGET.into()
}

impl DerivedTarget {
    /// Adds this target to `data`.
    pub fn apply(&self, data: Dataset) -> Result<Dataset> {
        data.with_mapped_target(&self.name, &self.from, &self.map)
    }
}

/// The network: a built-in architecture, a spec file or inline layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// Multi-layer perceptron.
    Mlp {
        #[serde(default = "mlp_hidden")]
        hidden: Vec<usize>,
        #[serde(default)]
        dropout: f64,
    },
    /// LeNet as in Transfer-Learning-Library's digits experiments (square inputs ≥ 16 px).
    Lenet {
        #[serde(default = "lenet_dropout")]
        dropout: f64,
    },
    /// 3×3 convolutions (each + ReLU + 2×2 max pooling) of `channels`, then ReLU hidden
    /// layers of `hidden`, as `backbone`, and a linear `head`.
    Conv {
        channels: Vec<usize>,
        #[serde(default)]
        hidden: Vec<usize>,
    },
    /// Small ResNet with basic blocks.
    Resnet {
        #[serde(default = "resnet_widths")]
        widths: Vec<usize>,
        #[serde(default = "one")]
        blocks: usize,
    },
    /// A spec file (`.toml` or `.json`).
    Spec { path: PathBuf },
    /// Layers written inline; `input_shape` defaults to the data's sample shape.
    Layers {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_shape: Option<Vec<usize>>,
        layers: Vec<Node>,
    },
}

impl ModelConfig {
    /// The network spec for samples of `input_shape` and `classes` classes. `base` resolves
    /// relative spec paths.
    pub fn build(&self, input_shape: &[usize], classes: usize, base: &Path) -> Result<NetworkSpec> {
        Ok(match self {
            ModelConfig::Mlp { hidden, dropout } => {
                zoo::mlp(input_shape, hidden, classes, *dropout)
            }
            ModelConfig::Lenet { dropout } => {
                let [c, h, w] = input_shape else {
                    return Err(Error::Spec(format!(
                        "lenet needs image samples [channels, height, width], the data gives {input_shape:?}"
                    )));
                };
                if h != w || *h < 16 {
                    return Err(Error::Spec(format!(
                        "lenet needs square images of at least 16×16 (two 5×5 convs and two pools), the data gives {h}×{w}; add a `resize` transform"
                    )));
                }
                zoo::lenet(*c, *h, classes, *dropout)
            }
            ModelConfig::Conv { channels, hidden } => {
                conv_spec(input_shape, channels, hidden, classes)?
            }
            ModelConfig::Resnet { widths, blocks } => {
                if input_shape.len() != 3 || widths.is_empty() {
                    return Err(Error::Spec(
                        "resnet needs image samples and at least one width".into(),
                    ));
                }
                zoo::resnet(input_shape, widths, *blocks, classes)
            }
            ModelConfig::Spec { path } => {
                let p = if path.is_relative() {
                    base.join(path)
                } else {
                    path.clone()
                };
                NetworkSpec::load(&p)?
            }
            ModelConfig::Layers {
                input_shape: s,
                layers,
            } => NetworkSpec {
                input_shape: s.clone().unwrap_or_else(|| input_shape.to_vec()),
                layers: layers.clone(),
                heads: Vec::new(),
            },
        })
    }
}

fn conv_spec(
    input_shape: &[usize],
    channels: &[usize],
    hidden: &[usize],
    outputs: usize,
) -> Result<NetworkSpec> {
    use crate::nn::{LayerSpec, Padding};
    if input_shape.len() != 3 {
        return Err(Error::Spec(format!(
            "model arch = \"conv\" needs image samples [channels, height, width], the data gives {}",
            crate::nn::fmt_shape(input_shape)
        )));
    }
    let mut backbone = vec![];
    for &c in channels {
        backbone.push(LayerSpec::Conv2d {
            in_channels: None,
            out_channels: c,
            kernel_size: 3,
            stride: 1,
            padding: Padding::Size(1),
            dilation: 1,
            groups: 1,
            bias: true,
        });
        backbone.push(LayerSpec::Relu);
        backbone.push(LayerSpec::MaxPool2d {
            kernel_size: 2,
            stride: None,
            padding: 0,
        });
    }
    backbone.push(LayerSpec::Flatten);
    for &h in hidden {
        backbone.push(LayerSpec::Linear {
            in_features: None,
            out_features: h,
            bias: true,
        });
        backbone.push(LayerSpec::Relu);
    }
    let linear = LayerSpec::Linear {
        in_features: None,
        out_features: outputs,
        bias: true,
    };
    Ok(NetworkSpec {
        input_shape: input_shape.to_vec(),
        layers: vec![
            Node::named(
                "backbone",
                LayerSpec::Sequential {
                    layers: backbone.into_iter().map(Node::anon).collect(),
                },
            ),
            Node::named("head", linear),
        ],
        heads: Vec::new(),
    })
}

/// Reads a `[model]` table that may spell its tag the way continual configs once did
/// (`kind = "mlp"`) instead of `arch = "mlp"`; for `#[serde(deserialize_with)]`.
pub fn model_with_old_tag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ModelConfig, D::Error> {
    use serde::de::Error as _;
    let mut table = toml::Table::deserialize(d)?;
    if !table.contains_key("arch")
        && let Some(kind) = table.remove("kind")
    {
        table.insert("arch".into(), kind);
    }
    ModelConfig::deserialize(table).map_err(D::Error::custom)
}

/// The one of `all` whose `name` is `s` (`-` accepted for `_`), or an error of `kind`
/// listing the known names.
pub fn parse_name<T: Copy>(
    s: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    kind: &'static str,
) -> Result<T> {
    let norm = s.replace('-', "_");
    all.iter()
        .copied()
        .find(|&v| name(v) == norm)
        .ok_or_else(|| crate::Error::Unknown {
            kind,
            name: s.into(),
            known: all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", "),
        })
}

/// Reads a TOML config file of any kind; unknown keys and bad values are [`Error::Config`]
/// naming the file, the key and the line.
pub fn load_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    parse_toml(&text, path)
}

/// Parses TOML config text; `origin` names the file in errors.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, origin: &Path) -> Result<T> {
    toml::from_str(text).map_err(|e| Error::Config {
        path: origin.to_path_buf(),
        msg: e.to_string(),
    })
}

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub device: DeviceKind,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    /// Start from the weights of this model reference: a weights file of any format
    /// (`"w.safetensors"`, `"w.pt"`, `{ weights = "w.pth", rename = [...] }`), a run folder or
    /// a pretrained built-in; loaded strictly into the network of `[model]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<crate::weights::ModelRef>,
    /// Globs of parameters to keep frozen, e.g. `["backbone.*"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<String>,
    /// What to train (`[[tasks]]`, see [`crate::train::Task`]); none trains the network's
    /// output against the labels with cross-entropy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
}

impl ExperimentConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Self::parse(&text, path)
    }

    /// Parses config text and checks its values ([`TrainConfig::validate`]); `origin` names
    /// the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let cfg: Self = parse_toml(text, origin)?;
        cfg.train
            .validate(origin, "train", crate::train::ZeroEpochs::Refused)?;
        Ok(cfg)
    }

    /// The config as TOML, every default written out.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config {
            path: PathBuf::from("<resolved config>"),
            msg: e.to_string(),
        })
    }

    /// The built-in demo: an MLP on the embedded UCI optdigits data.
    pub fn demo() -> Self {
        let text = include_str!("../configs/demo.toml");
        Self::parse(text, Path::new("configs/demo.toml")).expect("the embedded demo config parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_round_trips_through_toml() {
        let c = ExperimentConfig::demo();
        let text = c.to_toml().unwrap();
        assert_eq!(
            ExperimentConfig::parse(&text, Path::new("x.toml")).unwrap(),
            c
        );
    }

    /// The run folder's resolved `config.toml` of a multi-task run parses back to the same
    /// config (a resumed run trains the same tasks).
    #[test]
    fn tasks_and_derived_targets_round_trip_through_toml() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/multitask-digits/config.toml");
        let c = ExperimentConfig::load(&path).unwrap();
        assert_eq!(c.tasks.len(), 2);
        assert_eq!(c.data.targets[0].map.len(), 10);
        assert!(matches!(
            c.tasks[1].loss,
            crate::train::Loss::Focal { gamma, alpha: None } if gamma == 2.0
        ));
        let text = c.to_toml().unwrap();
        assert_eq!(
            ExperimentConfig::parse(&text, Path::new("x.toml")).unwrap(),
            c
        );
        let bad = text.replace("target = \"parity\"", "target = \"parity\"\nlos = \"mse\"");
        let err = ExperimentConfig::parse(&bad, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("los"), "{err}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "name = \"x\"\n[data]\ndataset = \"mnist\"\n[model]\narch = \"mlp\"\n[train]\nepochs = 1\nbatch_size = 8\nlearning_rate = 0.1\n[train.optimizer]\nlr = 0.1\n";
        let err = ExperimentConfig::parse(text, Path::new("exp.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("exp.toml"), "{err}");
        assert!(err.contains("learning_rate"), "{err}");
        assert!(err.contains("line 9"), "{err}");
    }

    #[test]
    fn unknown_arch_is_rejected() {
        let text = "[data]\ndataset = \"mnist\"\n[model]\narch = \"vgg\"\n[train]\nepochs = 1\nbatch_size = 8\n[train.optimizer]\nlr = 0.1\n";
        let err = ExperimentConfig::parse(text, Path::new("exp.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("vgg"), "{err}");
    }
}
