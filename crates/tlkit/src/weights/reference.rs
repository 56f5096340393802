//! One way to name a network, for every command and config that takes one.
//!
//! A model reference is one of:
//!
//! | form | command line | TOML |
//! |---|---|---|
//! | a built-in architecture (random start) | `lenet`, `mlp`, `resnet` | `{ name = "lenet" }` |
//! | a built-in pretrained network | `efficientnet-lite0` | `{ name = "efficientnet-lite0", input_size = 112 }` |
//! | a tlkit run folder (`model.toml` + `weights.safetensors`) | `runs/x` | `{ run = "runs/x", checkpoint = "best" }` |
//! | a weights file or Hugging Face folder with its spec | `w.pt --spec net.toml` | `{ weights = "w.pt", spec = "net.toml", rename = [...] }` |
//! | an ONNX model (carries its network) | `model.onnx` | `{ weights = "model.onnx" }` |
//!
//! Every TOML field that takes a reference also takes the command-line string
//! (`init_from = "w.pt"`, `pretrained = "runs/x"`). The string is classified by its form alone
//! (a built-in name; a weights or ONNX extension; otherwise a folder), so a config parses the
//! same wherever it is read; what is on disk is looked at only when the network is loaded,
//! where a "folder" that turns out to be a file, or a Hugging Face folder, is read as weights.
//! Weights files are told apart by content (see [`load_weights`]), never trusted by name.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{MODEL_FILES, load_onnx, load_weights};
use crate::backend::Device;
use crate::nn::{Network, NetworkSpec, zoo};
use crate::pretrained;
use crate::run::RunDir;
use crate::train::checkpoint::{self, HostTensors};
use crate::{Error, Result};

/// Built-in architectures, built for the data at hand and randomly initialised.
pub const ARCHITECTURES: [&str; 3] = ["mlp", "lenet", "resnet"];

/// Built-in pretrained networks (their weights come from the cache: `tlkit weights fetch`).
pub const PRETRAINED: [&str; 1] = ["efficientnet-lite0"];

/// Extensions read as a weights file rather than a run folder.
const WEIGHT_EXTENSIONS: [&str; 6] = ["onnx", "safetensors", "pt", "pth", "bin", "ckpt"];

/// A network named by the user: see the [module docs](self) for the forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Repr", untagged)]
pub enum ModelRef {
    /// A built-in: an architecture of [`ARCHITECTURES`] for the data's shape and classes
    /// (random start, seed 0), or a pretrained network of [`PRETRAINED`] for inputs of
    /// `input_size`×`input_size` (default: the size it was trained at).
    Builtin {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_size: Option<usize>,
    },
    /// A tlkit run folder: its `model.toml` and its final weights, or the checkpoint
    /// `checkpoint` (`best`, `last`: `checkpoints/<name>.safetensors`).
    Run {
        run: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checkpoint: Option<String>,
    },
    /// Any weights file tlkit reads (safetensors, Hugging Face folder, zip or legacy .pth) for
    /// the network a spec describes; `rename` maps checkpoint name prefixes to the spec's
    /// (e.g. `{ from = "module.", to = "" }` for a DataParallel checkpoint). An ONNX model
    /// carries its own network, so `spec` may be left out for one.
    File {
        weights: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spec: Option<PathBuf>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rename: Vec<Rename>,
    },
}

/// The name the fine-tuning and adaptation configs give a model reference (`pretrained = ...`).
pub type PretrainedSource = ModelRef;

/// What a reference may be written as in TOML: the table forms, or the command-line string.
#[derive(Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "a model reference: a string (\"lenet\", \"runs/x\", \"w.pt\", \"model.onnx\") \
                 or one of the tables { name, input_size }, { run, checkpoint }, \
                 { weights, spec, rename } with no other keys"
)]
enum Repr {
    Short(String),
    Builtin {
        name: String,
        #[serde(default)]
        input_size: Option<usize>,
    },
    Run {
        run: PathBuf,
        #[serde(default)]
        checkpoint: Option<String>,
    },
    File {
        weights: PathBuf,
        #[serde(default)]
        spec: Option<PathBuf>,
        #[serde(default)]
        rename: Vec<Rename>,
    },
}

impl TryFrom<Repr> for ModelRef {
    type Error = Error;

    fn try_from(r: Repr) -> Result<Self> {
        Ok(match r {
            Repr::Short(s) => ModelRef::parse(&s)?,
            Repr::Builtin { name, input_size } => ModelRef::Builtin { name, input_size },
            Repr::Run { run, checkpoint } => ModelRef::Run { run, checkpoint },
            Repr::File {
                weights,
                spec,
                rename,
            } => ModelRef::File {
                weights,
                spec,
                rename,
            },
        })
    }
}

/// A name-prefix rewrite applied to checkpoint keys before loading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub from: String,
    pub to: String,
}

impl FromStr for Rename {
    type Err = Error;

    /// `FROM=TO`, e.g. `module.=` (drop a DataParallel prefix) or `fc.=head.`.
    fn from_str(s: &str) -> Result<Self> {
        let (from, to) = s.split_once('=').ok_or_else(|| Error::Model {
            model: s.into(),
            msg: "a rename is FROM=TO, e.g. `module.=` to drop a DataParallel prefix".into(),
        })?;
        Ok(Rename {
            from: from.into(),
            to: to.into(),
        })
    }
}

/// Rewrites the first matching prefix of every key (keys matching no rule are kept).
pub fn rename_keys(tensors: HostTensors, rules: &[Rename]) -> HostTensors {
    tensors
        .into_iter()
        .map(|(k, v)| {
            let k = rules
                .iter()
                .find_map(|r| {
                    k.strip_prefix(r.from.as_str())
                        .map(|rest| format!("{}{rest}", r.to))
                })
                .unwrap_or(k);
            (k, v)
        })
        .collect()
}

/// What loading a reference needs besides the reference.
#[derive(Debug, Clone)]
pub struct LoadContext {
    /// Folder that relative paths are resolved against (a config's folder).
    pub base: PathBuf,
    /// The tlkit cache (pretrained weights).
    pub cache: PathBuf,
    pub device: Device,
    /// Sample shape and classes for a built-in architecture (default: MNIST-sized
    /// `[1, 28, 28]` for `mlp` and `lenet`, `[3, 32, 32]` for `resnet`; 10 classes).
    pub input_shape: Option<Vec<usize>>,
    pub classes: Option<usize>,
}

impl LoadContext {
    pub fn new(base: impl Into<PathBuf>, cache: impl Into<PathBuf>, device: Device) -> Self {
        LoadContext {
            base: base.into(),
            cache: cache.into(),
            device,
            input_shape: None,
            classes: None,
        }
    }

    /// Builds built-in architectures for samples of `shape` and `classes` classes.
    pub fn with_data(mut self, shape: &[usize], classes: usize) -> Self {
        self.input_shape = Some(shape.to_vec());
        self.classes = Some(classes);
        self
    }

    fn at(&self, p: &Path) -> PathBuf {
        // `./w.pt` in messages would be noise when the base is the working folder.
        if p.is_relative() && self.base != Path::new(".") {
            self.base.join(p)
        } else {
            p.to_path_buf()
        }
    }
}

impl ModelRef {
    /// Parses a command-line reference: a built-in name, a weights or ONNX file (by its
    /// extension: .onnx, .safetensors, .pt, .pth, .bin, .ckpt), otherwise a run folder (read
    /// as weights if it turns out to be a file or a Hugging Face folder). Give a spec with
    /// [`ModelRef::with_spec`].
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Model {
                model: String::new(),
                msg: format!("the reference is empty; {}", Self::forms()),
            });
        }
        if ARCHITECTURES.contains(&s) || PRETRAINED.contains(&s) {
            return Ok(ModelRef::Builtin {
                name: s.into(),
                input_size: None,
            });
        }
        let path = PathBuf::from(s);
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some(e) if WEIGHT_EXTENSIONS.contains(&e) => Ok(ModelRef::File {
                weights: path,
                spec: None,
                rename: vec![],
            }),
            Some("toml" | "json") => Err(Error::Model {
                model: s.into(),
                msg: format!(
                    "a spec describes a network but holds no weights; name the weights with it \
                     (`weights.pt --spec {s}`, or `{{ weights = \"weights.pt\", spec = \"{s}\" }}` \
                     in a config)"
                ),
            }),
            _ => Ok(ModelRef::Run {
                run: path,
                checkpoint: None,
            }),
        }
    }

    fn forms() -> String {
        format!(
            "give a built-in ({}), a run folder, a weights file with its spec \
             (`weights.pt --spec net.toml`) or an .onnx model",
            ARCHITECTURES
                .iter()
                .chain(&PRETRAINED)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The same weights read into the network `spec` describes, with checkpoint names
    /// rewritten by `rename`. Only weights take a spec: a built-in or a run folder has its own.
    pub fn with_spec(self, spec: Option<PathBuf>, rename: Vec<Rename>) -> Result<Self> {
        if spec.is_none() && rename.is_empty() {
            return Ok(self);
        }
        match self {
            ModelRef::File { weights, .. }
            | ModelRef::Run {
                run: weights,
                checkpoint: None,
            } => Ok(ModelRef::File {
                weights,
                spec,
                rename,
            }),
            other => Err(Error::Model {
                model: other.to_string(),
                msg: "a built-in or a run folder carries its own network; `--spec` and \
                      `--rename` are for a weights file"
                    .into(),
            }),
        }
    }

    /// The run folder this reference names, resolved against `base`, if it is one.
    pub fn run_dir(&self, base: &Path) -> Option<PathBuf> {
        match self {
            ModelRef::Run { run, .. } => {
                let dir = if run.is_relative() {
                    base.join(run)
                } else {
                    run.clone()
                };
                let dir = if RunDir::is_pattern(&dir) {
                    RunDir::newest_match(&dir).ok()?
                } else {
                    dir
                };
                dir.join("model.toml").is_file().then_some(dir)
            }
            _ => None,
        }
    }

    /// A `Run` that is really a weights file or a Hugging Face folder, read as one; a `Run`
    /// pattern (`runs/pretrain/*`) as the newest run folder it matches ([`RunDir::newest_match`]).
    fn normalized(&self, ctx: &LoadContext) -> Cow<'_, ModelRef> {
        if let ModelRef::Run { run, checkpoint } = self
            && RunDir::is_pattern(run)
            && let Ok(dir) = RunDir::newest_match(&ctx.at(run))
            && let Some(name) = dir.file_name()
        {
            // Kept relative to the base as written, so that resolving it again finds the same.
            return Cow::Owned(ModelRef::Run {
                run: run.with_file_name(name),
                checkpoint: checkpoint.clone(),
            });
        }
        if let ModelRef::Run {
            run,
            checkpoint: None,
        } = self
        {
            let p = ctx.at(run);
            let hf = || MODEL_FILES.iter().any(|f| p.join(f).is_file());
            if p.is_file() || (p.is_dir() && !p.join("model.toml").is_file() && hf()) {
                return Cow::Owned(ModelRef::File {
                    weights: run.clone(),
                    spec: None,
                    rename: vec![],
                });
            }
        }
        Cow::Borrowed(self)
    }

    /// The weights file (or folder) of a reference that names weights but no network: what
    /// `tlkit inspect` lists tensor by tensor.
    pub fn bare_weights(&self, ctx: &LoadContext) -> Option<PathBuf> {
        match &*self.normalized(ctx) {
            ModelRef::File {
                weights,
                spec: None,
                ..
            } if !is_onnx(&ctx.at(weights)) => Some(ctx.at(weights)),
            _ => None,
        }
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Model {
            model: self.to_string(),
            msg: msg.into(),
        }
    }

    /// The network's spec, without reading weights where the reference allows (a built-in,
    /// a run's `model.toml`, a spec file; an ONNX model is imported whole).
    pub fn spec(&self, ctx: &LoadContext) -> Result<NetworkSpec> {
        match &*self.normalized(ctx) {
            ModelRef::Builtin { name, input_size } => builtin_spec(name, *input_size, ctx),
            ModelRef::Run { run, .. } => NetworkSpec::load(&self.run_spec(ctx, run)?),
            ModelRef::File {
                spec: Some(spec), ..
            } => NetworkSpec::load(&ctx.at(spec)),
            ModelRef::File {
                weights,
                spec: None,
                ..
            } => self.onnx(ctx, weights).map(|m| m.spec),
        }
    }

    /// The network with its weights (a built-in architecture: random, seed 0), loaded
    /// strictly: a missing or extra tensor is an [`Error::Checkpoint`] naming the file.
    pub fn network(&self, ctx: &LoadContext) -> Result<Network> {
        let (spec, weights) = match &*self.normalized(ctx) {
            ModelRef::Builtin { name, input_size } if PRETRAINED.contains(&name.as_str()) => {
                let p = pretrained::pretrained(name)?;
                return pretrained::load_pretrained_at(
                    &p,
                    input_size.unwrap_or(p.size),
                    &ctx.cache,
                    &ctx.device,
                );
            }
            ModelRef::File {
                weights,
                spec: None,
                rename,
            } => {
                let m = self.onnx(ctx, weights)?;
                (
                    m.spec,
                    Some((ctx.at(weights), rename_keys(m.weights, rename))),
                )
            }
            ModelRef::Builtin { name, input_size } => (builtin_spec(name, *input_size, ctx)?, None),
            r => (r.spec(ctx)?, Some(r.tensors(ctx)?)),
        };
        let mut net = Network::new(spec, 0, &ctx.device)?;
        if let Some((path, tensors)) = weights {
            net.load_state_dict(&tensors, true)
                .map_err(|e| Error::Checkpoint {
                    path,
                    msg: e.to_string(),
                })?;
        }
        Ok(net)
    }

    /// The named tensors alone (for a network built elsewhere: `init_from`), with the file they
    /// came from. Any weights format and any reference with weights serve.
    pub fn tensors(&self, ctx: &LoadContext) -> Result<(PathBuf, HostTensors)> {
        match &*self.normalized(ctx) {
            ModelRef::Builtin { name, .. } => {
                if !PRETRAINED.contains(&name.as_str()) {
                    return Err(self.err(format!(
                        "the built-in architecture `{name}` has no weights (it starts from random \
                         values); name a pretrained network ({}), a run folder or a weights file",
                        PRETRAINED.join(", ")
                    )));
                }
                let p = pretrained::pretrained(name)?;
                let file = super::cached_weights(p.weights, &ctx.cache)?;
                Ok((file.clone(), load_weights(&file)?.tensors))
            }
            ModelRef::Run { run, .. } => {
                let (_, w) = self.run_files(ctx, run)?;
                Ok((w.clone(), checkpoint::load(&w)?.model))
            }
            ModelRef::File {
                weights, rename, ..
            } => {
                let w = ctx.at(weights);
                let t = load_weights(&w)?.tensors;
                Ok((w, rename_keys(t, rename)))
            }
        }
    }

    /// A run folder's spec file, checked to exist.
    fn run_spec(&self, ctx: &LoadContext, run: &Path) -> Result<PathBuf> {
        let dir = ctx.at(run);
        if RunDir::is_pattern(run) {
            // `normalized` found no match: say so.
            RunDir::newest_match(&dir).map_err(|e| self.err(e.to_string()))?;
        }
        if !dir.exists() {
            let plain = run.components().count() == 1 && run.extension().is_none();
            return Err(self.err(if plain {
                format!(
                    "not a built-in, and no file or folder of that name exists; {}",
                    Self::forms()
                )
            } else {
                format!("{} does not exist", dir.display())
            }));
        }
        let spec = dir.join("model.toml");
        if !spec.is_file() {
            return Err(self.err(format!(
                "{} is not a tlkit run folder (no model.toml, the network, in it) nor a \
                 Hugging Face folder ({})",
                dir.display(),
                MODEL_FILES.join(", ")
            )));
        }
        Ok(spec)
    }

    /// A run folder's spec and weights files, checked to exist.
    fn run_files(&self, ctx: &LoadContext, run: &Path) -> Result<(PathBuf, PathBuf)> {
        let spec = self.run_spec(ctx, run)?;
        let dir = ctx.at(run);
        let checkpoint = match self {
            ModelRef::Run { checkpoint, .. } => checkpoint.as_deref(),
            _ => None,
        };
        let w = match checkpoint {
            None | Some("final" | "weights") => dir.join("weights.safetensors"),
            Some(name) => dir.join(format!("checkpoints/{name}.safetensors")),
        };
        if !w.is_file() {
            let mut have: Vec<String> = std::fs::read_dir(dir.join("checkpoints"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_suffix(".safetensors").map(str::to_string)
                })
                .collect();
            if dir.join("weights.safetensors").is_file() {
                have.push("final".into());
            }
            have.sort();
            return Err(self.err(format!(
                "{} does not exist (the run has {})",
                w.display(),
                if have.is_empty() {
                    "no weights yet: it stopped before its first epoch ended".to_string()
                } else {
                    format!("the checkpoints {}", have.join(", "))
                }
            )));
        }
        Ok((spec, w))
    }

    fn onnx(&self, ctx: &LoadContext, weights: &Path) -> Result<super::OnnxModel> {
        let w = ctx.at(weights);
        if !is_onnx(&w) {
            return Err(self.err(format!(
                "{} holds weights but not the network they belong to: give its spec \
                 (`--spec net.toml` on the command line, `spec = \"net.toml\"` in a config); \
                 only an .onnx model carries its network",
                w.display()
            )));
        }
        load_onnx(&w)
    }
}

/// Whether `path` is an ONNX model: by extension, or by its first bytes.
fn is_onnx(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "onnx") {
        return true;
    }
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .is_ok_and(|n| super::onnx::looks_like_onnx(&head[..n]))
}

/// The spec of a built-in, for the context's data (see [`LoadContext`] for the defaults).
fn builtin_spec(name: &str, input_size: Option<usize>, ctx: &LoadContext) -> Result<NetworkSpec> {
    let classes = ctx.classes.unwrap_or(10);
    let shape = |default: &[usize]| ctx.input_shape.clone().unwrap_or(default.to_vec());
    Ok(match name {
        "mlp" => zoo::mlp(&shape(&[1, 28, 28]), &[256, 256], classes, 0.0),
        "lenet" => match shape(&[1, 28, 28])[..] {
            [c, h, w] if h == w => zoo::lenet(c, h, classes, 0.5),
            ref s => {
                return Err(Error::Model {
                    model: name.into(),
                    msg: format!(
                        "lenet takes square images [channels, height, width], not {}",
                        crate::nn::fmt_shape(s)
                    ),
                });
            }
        },
        "resnet" => zoo::resnet(&shape(&[3, 32, 32]), &[16, 32, 64], 1, classes),
        other => {
            let p = pretrained::pretrained(other)?;
            // A pretrained network keeps its own classes: its head is what the weights fit.
            let size = input_size
                .or_else(|| ctx.input_shape.as_ref().and_then(|s| s.get(1).copied()))
                .unwrap_or(p.size);
            pretrained::Pretrained { size, ..p }.spec(p.classes)
        }
    })
}

impl fmt::Display for ModelRef {
    /// The command-line form (`lenet`, `runs/x --checkpoint best`, `w.pt --spec net.toml`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Builtin { name, input_size } => {
                write!(f, "{name}")?;
                if let Some(s) = input_size {
                    write!(f, " (input {s}×{s})")?;
                }
            }
            ModelRef::Run { run, checkpoint } => {
                write!(f, "{}", run.display())?;
                if let Some(c) = checkpoint {
                    write!(f, " --checkpoint {c}")?;
                }
            }
            ModelRef::File {
                weights,
                spec,
                rename,
            } => {
                write!(f, "{}", weights.display())?;
                if let Some(s) = spec {
                    write!(f, " --spec {}", s.display())?;
                }
                for r in rename {
                    write!(f, " --rename {}={}", r.from, r.to)?;
                }
            }
        }
        Ok(())
    }
}

/// Loads the network a [`ModelRef`] names, relative paths resolved against `base` (the form
/// the fine-tuning and adaptation pipelines call).
pub fn load_pretrained(
    src: &ModelRef,
    device: &Device,
    base: &Path,
    cache: &Path,
) -> Result<Network> {
    src.network(&LoadContext::new(base, cache, device.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend;
    use crate::nn::Mode;

    fn ctx() -> LoadContext {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
        LoadContext::new(fixtures, "/nonexistent-cache", Device::flex())
    }

    /// The logits of the network `r` names for the fixture's three samples.
    fn logits(r: &ModelRef) -> Vec<Vec<f32>> {
        let golden: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(ctx().base.join("small_cnn.json")).unwrap(),
        )
        .unwrap();
        let mut net = r.network(&ctx()).unwrap();
        assert_eq!(net.spec().input_shape, [1, 8, 8]);
        golden["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let x: Vec<f32> = serde_json::from_value(x.clone()).unwrap();
                let y = net.forward(net.input(x, 1).unwrap(), Mode::Eval).unwrap();
                backend::to_vec(&y.flat())
            })
            .collect()
    }

    /// tests/fixtures/reference/make_reference.py (pasted there) saves one PyTorch network as
    /// `torch.save(model.state_dict(), "small_cnn.pt")` and as its ONNX export, and writes
    /// PyTorch's logits for three inputs:
    /// ```python
    /// net = nn.Sequential(OrderedDict(
    ///     features=nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
    ///                            nn.MaxPool2d(2)),
    ///     flatten=nn.Flatten(), head=nn.Linear(64, 10)))     # torch.manual_seed(0), BN randomised
    /// x = torch.stack([8 * (1 + torch.sin(0.37 * arange(64) + k)) for k in range(3)])
    /// json.dump({"inputs": x.tolist(), "logits": net.eval()(x.reshape(3, 1, 8, 8)).tolist()})
    /// ```
    #[test]
    fn pytorch_state_dict_with_spec_and_onnx_export_give_pytorchs_logits() {
        let golden: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(ctx().base.join("small_cnn.json")).unwrap(),
        )
        .unwrap();
        let want: Vec<Vec<f32>> = serde_json::from_value(golden["logits"].clone()).unwrap();
        let pt = ModelRef::parse("small_cnn.pt")
            .unwrap()
            .with_spec(Some("small_cnn.toml".into()), vec![])
            .unwrap();
        let onnx = ModelRef::parse("small_cnn.onnx").unwrap();
        for r in [&pt, &onnx] {
            let got = logits(r);
            assert_eq!(got.len(), 3);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.len(), 10);
                for (a, b) in g.iter().zip(w) {
                    assert!((a - b).abs() < 1e-4, "{r}: {g:?} vs {w:?}");
                }
            }
        }
        // The same weights, read for `init_from`: PyTorch's names, BN statistics included.
        let (path, t) = pt.tensors(&ctx()).unwrap();
        assert!(path.ends_with("small_cnn.pt"));
        assert_eq!(t["features.1.running_var"].0, [4]);
        assert_eq!(t["head.weight"].0, [10, 64]);
    }

    #[test]
    fn command_line_strings_name_every_form() {
        assert_eq!(
            ModelRef::parse("lenet").unwrap(),
            ModelRef::Builtin {
                name: "lenet".into(),
                input_size: None
            }
        );
        assert!(matches!(
            ModelRef::parse("efficientnet-lite0").unwrap(),
            ModelRef::Builtin { .. }
        ));
        assert!(matches!(
            ModelRef::parse("runs/x").unwrap(),
            ModelRef::Run {
                checkpoint: None,
                ..
            }
        ));
        for f in [
            "m.onnx",
            "w.pt",
            "w.PTH",
            "model.safetensors",
            "pytorch_model.bin",
        ] {
            assert!(
                matches!(
                    ModelRef::parse(f).unwrap(),
                    ModelRef::File { spec: None, .. }
                ),
                "{f}"
            );
        }
        let r = ModelRef::parse("w.pt")
            .unwrap()
            .with_spec(Some("net.toml".into()), vec!["module.=".parse().unwrap()])
            .unwrap();
        assert_eq!(r.to_string(), "w.pt --spec net.toml --rename module.=");
        // A folder given with a spec is a Hugging Face folder.
        assert!(matches!(
            ModelRef::parse("hf-folder")
                .unwrap()
                .with_spec(Some("net.toml".into()), vec![])
                .unwrap(),
            ModelRef::File { .. }
        ));
        let e = ModelRef::parse("lenet")
            .unwrap()
            .with_spec(Some("net.toml".into()), vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("carries its own network"), "{e}");
        let e = ModelRef::parse("net.toml").unwrap_err().to_string();
        assert!(e.contains("--spec net.toml"), "{e}");
        assert!(ModelRef::parse(" ").is_err());
        assert!("no-equals-sign".parse::<Rename>().is_err());
    }

    #[test]
    fn toml_takes_the_string_and_the_table_forms_and_rejects_unknown_keys() {
        #[derive(Debug, Deserialize, Serialize)]
        struct Cfg {
            m: ModelRef,
        }
        let ok: Cfg =
            toml::from_str("m = { name = \"efficientnet-lite0\", input_size = 112 }").unwrap();
        assert_eq!(
            ok.m,
            ModelRef::Builtin {
                name: "efficientnet-lite0".into(),
                input_size: Some(112)
            }
        );
        let e = toml::from_str::<Cfg>("m = { name = \"efficientnet-lite0\", inputsize = 112 }")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a model reference") && e.contains("{ run, checkpoint }"),
            "{e}"
        );
        let f: Cfg = toml::from_str("m = { weights = \"w.pth\", spec = \"net.toml\" }").unwrap();
        assert!(matches!(f.m, ModelRef::File { spec: Some(_), .. }));
        // An ONNX model carries its network: the spec may be left out.
        let onnx: Cfg = toml::from_str("m = { weights = \"model.onnx\" }").unwrap();
        assert!(matches!(onnx.m, ModelRef::File { spec: None, .. }));
        let short: Cfg = toml::from_str("m = \"runs/demo\"").unwrap();
        assert!(matches!(short.m, ModelRef::Run { .. }));
        let best: Cfg =
            toml::from_str("m = { run = \"runs/demo\", checkpoint = \"best\" }").unwrap();
        // Written back as a table, read back the same.
        let text = toml::to_string(&best).unwrap();
        let back: Cfg = toml::from_str(&text).unwrap();
        assert_eq!(back.m, best.m, "{text}");
    }

    #[test]
    fn rename_rewrites_the_first_matching_prefix() {
        let t: HostTensors = [
            ("module.fc.weight".to_string(), (vec![1], vec![1.0])),
            ("head.bias".to_string(), (vec![1], vec![2.0])),
        ]
        .into();
        let r = rename_keys(
            t,
            &["module.=".parse().unwrap(), "head.=fc.".parse().unwrap()],
        );
        assert_eq!(r.keys().collect::<Vec<_>>(), ["fc.bias", "fc.weight"]);
    }

    #[test]
    fn what_cannot_be_loaded_says_what_to_give() {
        // Weights without a spec: inspect lists them, loading asks for the spec.
        let pt = ModelRef::parse("small_cnn.pt").unwrap();
        assert!(pt.bare_weights(&ctx()).unwrap().ends_with("small_cnn.pt"));
        let e = pt.network(&ctx()).unwrap_err().to_string();
        assert!(
            e.contains("small_cnn.pt") && e.contains("--spec net.toml"),
            "{e}"
        );
        // A wrong spec: the checkpoint error names the file.
        let wrong = ModelRef::parse("small_cnn.pt")
            .unwrap()
            .with_spec(
                Some("small_cnn.toml".into()),
                vec!["head.=fc.".parse().unwrap()],
            )
            .unwrap();
        let e = wrong.network(&ctx()).unwrap_err();
        assert!(
            matches!(&e, Error::Checkpoint { path, .. } if path.ends_with("small_cnn.pt")),
            "{e:?}"
        );
        let e = ModelRef::parse("vgg99")
            .unwrap()
            .network(&ctx())
            .unwrap_err()
            .to_string();
        assert!(e.contains("vgg99") && e.contains("lenet"), "{e}");
        let e = ModelRef::parse("lenet")
            .unwrap()
            .tensors(&ctx())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no weights"), "{e}");
        // A built-in architecture is built for the data it is given.
        let net = ModelRef::parse("lenet")
            .unwrap()
            .network(&ctx().with_data(&[3, 32, 32], 7))
            .unwrap();
        assert_eq!(net.spec().input_shape, [3, 32, 32]);
    }
}
