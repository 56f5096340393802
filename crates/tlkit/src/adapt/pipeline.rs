//! `tlkit adapt`: train a network on a labelled source domain with unlabeled target data,
//! once per method and seed, and report target accuracy (per epoch and final, mean ± std over
//! seeds), the proxy A-distance of the features, and t-SNE plots of source vs target features.
//!
//! Every method of a run uses the same network, data, optimizer, schedule and budget, so the
//! numbers can be set side by side. Source-only is the same trainer without target data or
//! loss term (Transfer-Learning-Library's `source_only.py`); its plots are the "before
//! adaptation" picture.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::normalize::{InputNorm, normalize_pair};
use super::pairs::{DigitStrokes, check_pair, load_domain};
use super::{
    Cdan, CdanConfig, Coral, CoralConfig, Dan, DanConfig, Dann, DannConfig, Jan, JanConfig,
    pad::proxy_a_distance,
    tsne::{TsneConfig, tsne},
};
use crate::backend::{Device, DeviceKind};
use crate::config::{DataConfig, ModelConfig};
use crate::data::{Dataset, Split};
use crate::finetune::extract_features;
use crate::finetune::pipeline::mean_std;
use crate::finetune::pipeline::{PretrainedSource, load_pretrained};
use crate::nn::{Edit, LayerSpec, Network, Node};
use crate::plot::{self, Series};
use crate::run::RunDir;
use crate::train::checkpoint::write_atomic;
use crate::train::{LossTerm, TrainConfig, Trainer, evaluate};
use crate::{Error, Result};

fn name() -> String {
    "adapt".into()
}
fn seeds() -> Vec<u64> {
    vec![0]
}
fn methods() -> Vec<Method> {
    vec![Method::SourceOnly, Method::Dann]
}
fn lenet() -> ModelConfig {
    ModelConfig::Lenet { dropout: 0.5 }
}
fn bottleneck() -> String {
    "bottleneck".into()
}
fn yes() -> bool {
    true
}
fn tsne_points() -> usize {
    300
}
fn pad_points() -> usize {
    1000
}
fn ten() -> usize {
    10
}

fn is_none_norm(n: &InputNorm) -> bool {
    *n == InputNorm::None
}

/// Offset of the seed that draws the target's `train_limit` subset.
const TARGET_SUBSET_SEED: u64 = 1_000_003;

/// An adaptation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Source data only (the baseline).
    SourceOnly,
    Dann,
    Dan,
    Coral,
    Jan,
    Cdan,
    /// CDAN with entropy conditioning.
    CdanE,
    /// Trained on the target's labelled training images instead of the source's: not an
    /// adaptation method but the ceiling the methods are measured against (Transfer-Learning-
    /// Library's "Oracle" rows). Same epochs as the others; its iterations per epoch follow the
    /// target's training set size.
    Oracle,
}

impl Method {
    /// The name used in configs, folders and plots.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::SourceOnly => "source_only",
            Method::Dann => "dann",
            Method::Dan => "dan",
            Method::Coral => "coral",
            Method::Jan => "jan",
            Method::Cdan => "cdan",
            Method::CdanE => "cdan_e",
            Method::Oracle => "oracle",
        }
    }

    /// Parses a method name (`source_only`, `dann`, `dan`, `coral`, `jan`, `cdan`, `cdan_e`,
    /// `oracle`).
    pub fn parse(s: &str) -> Result<Self> {
        let all = [
            Method::SourceOnly,
            Method::Dann,
            Method::Dan,
            Method::Coral,
            Method::Jan,
            Method::Cdan,
            Method::CdanE,
            Method::Oracle,
        ];
        crate::config::parse_name(s, &all, Method::as_str, "adaptation method")
    }
}

/// Feature analysis settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Layer whose features are plotted and measured.
    #[serde(default = "bottleneck")]
    pub feature_layer: String,
    /// Test points per domain in the t-SNE plots (0 = no plots).
    #[serde(default = "tsne_points")]
    pub tsne_points: usize,
    /// Compute the proxy A-distance.
    #[serde(default = "yes")]
    pub pad: bool,
    /// Test points per domain for the proxy A-distance.
    #[serde(default = "pad_points")]
    pub pad_points: usize,
    /// Epochs of the linear domain classifier.
    #[serde(default = "ten")]
    pub pad_epochs: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            feature_layer: bottleneck(),
            tsne_points: tsne_points(),
            pad: true,
            pad_points: pad_points(),
            pad_epochs: ten(),
        }
    }
}

/// A domain-adaptation experiment, as written in `adapt.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptConfig {
    #[serde(default = "name")]
    pub name: String,
    /// Every method is trained once per seed.
    #[serde(default = "seeds")]
    pub seeds: Vec<u64>,
    #[serde(default = "methods")]
    pub methods: Vec<Method>,
    #[serde(default)]
    pub device: DeviceKind,
    /// Labelled source domain (its test split gives the source accuracy).
    pub source: DataConfig,
    /// Target domain: its training split is used without labels; its test split is where
    /// accuracy is reported. `dataset = "mnist-m"` generates the MNIST-M-style set.
    pub target: DataConfig,
    /// Seed of the MNIST-M-style patches (fixed across training seeds).
    #[serde(default)]
    pub blend_seed: u64,
    /// The digit's strokes in the MNIST-M-style blend: `grey` (default, MNIST's grey levels)
    /// or `binary` (every inked pixel 1, as the public MNIST-M generator, tf-dann's).
    #[serde(default)]
    pub blend_digits: DigitStrokes,
    /// Input normalisation: `none` (default), `source` (the source training images'
    /// per-channel mean/std for both domains), `domain_mean` (each domain minus its own
    /// training images' per-channel mean, as Ganin et al.) or `instance` (every image
    /// standardised on its own, as Shu et al.'s DIRT-T code).
    #[serde(default, skip_serializing_if = "is_none_norm")]
    pub normalize: InputNorm,
    /// The network (built for the source data); default LeNet. Ignored with `pretrained`.
    #[serde(default = "lenet")]
    pub model: ModelConfig,
    /// Start from a pretrained network instead; its `head` layer is replaced by a new linear
    /// layer with the data's classes, then `surgery` is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PretrainedSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surgery: Vec<Edit>,
    pub train: TrainConfig,
    #[serde(default)]
    pub dann: DannConfig,
    #[serde(default)]
    pub dan: DanConfig,
    #[serde(default)]
    pub coral: CoralConfig,
    #[serde(default)]
    pub jan: JanConfig,
    /// CDAN settings (`entropy` is set by the method: `cdan` or `cdan_e`).
    #[serde(default)]
    pub cdan: CdanConfig,
    #[serde(default)]
    pub analysis: AnalysisConfig,
}

impl AdaptConfig {
    /// Reads a config file; unknown keys are errors naming the key and line.
    pub fn load(path: &Path) -> Result<Self> {
        crate::config::load_toml(path)
    }
}

/// One method's results over the seeds.
#[derive(Debug, Clone, Serialize)]
pub struct MethodSummary {
    pub method: Method,
    /// Final target test accuracy per seed.
    pub target_accuracy: Vec<f64>,
    pub target_mean: f64,
    pub target_std: f64,
    /// Source test accuracy per seed.
    pub source_accuracy: Vec<f64>,
    pub source_mean: f64,
    /// Target mean minus source-only target mean, in points.
    pub gain_over_source_only_points: Option<f64>,
    /// Proxy A-distance of the first seed's features on the test sets.
    pub proxy_a_distance: Option<f64>,
    /// Target accuracy after each epoch, mean over seeds.
    pub target_curve: Vec<f64>,
    /// Training seconds per seed.
    pub seconds: Vec<f64>,
}

/// What `summary.json` of an adaptation run holds.
#[derive(Debug, Clone, Serialize)]
pub struct AdaptSummary {
    pub name: String,
    pub source: String,
    pub target: String,
    pub source_train_samples: usize,
    pub target_train_samples: usize,
    pub target_test_samples: usize,
    pub seeds: Vec<u64>,
    pub iterations_per_run: usize,
    pub methods: Vec<MethodSummary>,
    /// One line per method against source-only.
    pub verdict: Vec<String>,
    pub wall_seconds: f64,
}

fn build_network(
    cfg: &AdaptConfig,
    data: &Dataset,
    seed: u64,
    device: &Device,
    base: &Path,
    cache: &Path,
) -> Result<Network> {
    let Some(src) = &cfg.pretrained else {
        let spec = cfg
            .model
            .build(&data.sample_shape, data.num_classes, base)?;
        return Network::new(spec, seed, device);
    };
    let head = cfg.head.clone().ok_or_else(|| Error::Config {
        path: base.join("<config>"),
        msg: "`pretrained` needs `head`, the classifier layer to replace".into(),
    })?;
    let net = load_pretrained(src, device, base, cache)?;
    let mut edits = vec![Edit::Replace {
        path: head,
        layer: Node::anon(LayerSpec::Linear {
            in_features: None,
            out_features: data.num_classes,
            bias: true,
        }),
    }];
    edits.extend(cfg.surgery.iter().cloned());
    Ok(net.surgery(&edits, seed)?.0)
}

fn term(
    cfg: &AdaptConfig,
    method: Method,
    net: &Network,
    classes: usize,
    seed: u64,
) -> Result<Option<Box<dyn LossTerm>>> {
    let dev = net.device().clone();
    // The discriminator's initialisation must not repeat the network's stream.
    let dseed = seed.wrapping_add(0xD15C);
    Ok(match method {
        Method::SourceOnly | Method::Oracle => None,
        Method::Dann => Some(Box::new(Dann::new(cfg.dann.clone(), net, dseed, &dev)?)),
        Method::Dan => Some(Box::new(Dan::new(cfg.dan.clone()))),
        Method::Coral => Some(Box::new(Coral::new(cfg.coral.clone()))),
        Method::Jan => Some(Box::new(Jan::new(cfg.jan.clone()))),
        Method::Cdan | Method::CdanE => {
            let c = CdanConfig {
                entropy: method == Method::CdanE,
                ..cfg.cdan.clone()
            };
            Some(Box::new(Cdan::new(c, net, classes, dseed, &dev)?))
        }
    })
}

/// The first `n` samples of a seeded shuffle of `d` (the same subset for every method).
fn sample(d: &Dataset, n: usize, seed: u64) -> Dataset {
    let order = crate::data::epoch_order(d.len(), seed, 0, true);
    let keep: Vec<usize> = order.into_iter().take(n).collect();
    d.subset(&keep, d.name.clone())
}

/// Writes the t-SNE plots of `method`'s features and returns the proxy A-distance.
fn analyse(
    cfg: &AdaptConfig,
    net: &mut Network,
    method: Method,
    source: &Dataset,
    target: &Dataset,
    plots: &Path,
) -> Result<Option<f64>> {
    let a = &cfg.analysis;
    let layer = &a.feature_layer;
    let bs = cfg.train.eval_batch_size;
    let pad = if a.pad && a.pad_points > 1 {
        let s = extract_features(net, &sample(source, a.pad_points, 1), layer, bs, false)?;
        let t = extract_features(net, &sample(target, a.pad_points, 1), layer, bs, false)?;
        let w = s.sample_shape[0];
        Some(proxy_a_distance(
            &s.x,
            &t.x,
            w,
            a.pad_epochs,
            0,
            net.device(),
        )?)
    } else {
        None
    };
    if a.tsne_points > 0 {
        let s = extract_features(net, &sample(source, a.tsne_points, 2), layer, bs, false)?;
        let t = extract_features(net, &sample(target, a.tsne_points, 2), layer, bs, false)?;
        let w = s.sample_shape[0];
        let mut x = s.x.clone();
        x.extend_from_slice(&t.x);
        let points = tsne(&x, w, &TsneConfig::default())?;
        let domain: Vec<usize> = (0..points.len())
            .map(|i| usize::from(i >= s.len()))
            .collect();
        let class: Vec<usize> = s.y.iter().chain(&t.y).map(|&c| c as usize).collect();
        let m = method.as_str();
        plot::scatter(
            &plots.join(format!("tsne_{m}_domain.png")),
            &format!("t-SNE of layer `{layer}`, {m}: source vs target"),
            &points,
            &domain,
            &domain,
            &["source".to_string(), "target".to_string()],
        )?;
        let names: Vec<String> = s
            .class_names
            .clone()
            .unwrap_or_else(|| (0..s.num_classes).map(|c| c.to_string()).collect());
        plot::scatter(
            &plots.join(format!("tsne_{m}_class.png")),
            &format!("t-SNE of layer `{layer}`, {m}: class (circle source, triangle target)"),
            &points,
            &class,
            &domain,
            &names,
        )?;
    }
    Ok(pad)
}

/// The source and target splits that the runs of `seed` train and test on, before the input
/// normalisation (`normalize`), which the runs apply on top.
pub fn load_pair(
    cfg: &AdaptConfig,
    seed: u64,
    base: &Path,
    cache: &Path,
) -> Result<(Split, Split)> {
    let blend = (cfg.blend_seed, cfg.blend_digits);
    let s = load_domain(&cfg.source, seed, blend, base, cache)?;
    // The target subset is drawn with another seed, so that when both domains come from
    // MNIST (MNIST-M-style) the target digits are not the source digits re-coloured.
    let t = load_domain(
        &cfg.target,
        seed.wrapping_add(TARGET_SUBSET_SEED),
        blend,
        base,
        cache,
    )?;
    check_pair(&s.train, &t.train)?;
    check_pair(&s.test, &t.test)?;
    Ok((s, t))
}

/// Writes the first seed's data ([`load_pair`]) into `dir` as `{source,target}_{train,test}.npz`
/// (arrays `x`, samples × channels × height × width in [0, 1] for images, and `y`; the target's
/// training labels are kept, for checks, though no method sees them), so that another
/// framework can train on exactly the same images. Returns the files written.
pub fn export_data(
    cfg: &AdaptConfig,
    dir: &Path,
    base: &Path,
    cache: &Path,
) -> Result<Vec<std::path::PathBuf>> {
    let seed = *cfg.seeds.first().ok_or_else(|| Error::Config {
        path: base.join("<config>"),
        msg: "`seeds` is empty".into(),
    })?;
    let (s, t) = load_pair(cfg, seed, base, cache)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut written = vec![];
    for (name, d) in [
        ("source_train", &s.train),
        ("source_test", &s.test),
        ("target_train", &t.train),
        ("target_test", &t.test),
    ] {
        let path = dir.join(format!("{name}.npz"));
        let mut shape = vec![d.len()];
        shape.extend(&d.sample_shape);
        crate::data::save_npz(&path, &d.x, &shape, &d.y, ("x", "y"))?;
        written.push(path);
    }
    Ok(written)
}

/// What one (method, seed) run leaves in its folder as `result.json`, so that a resumed
/// experiment does not train it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SeedResult {
    target_accuracy: f64,
    source_accuracy: f64,
    /// Target accuracy after each epoch.
    target_curve: Vec<f64>,
    /// Training seconds (of the session that finished the run, when it was resumed).
    seconds: f64,
    /// Only for the first seed, which is the one analysed.
    proxy_a_distance: Option<f64>,
}

const RESULT: &str = "result.json";
/// Each run's prediction for every target test sample, for error analysis.
const PREDICTIONS: &str = "target_predictions.csv";

/// Writes `index,label,predicted` for every sample of `data` to `path`, atomically.
fn write_predictions(data: &Dataset, predicted: &[u32], path: &Path) -> Result<()> {
    let mut text = String::from("index,label,predicted\n");
    for (i, (label, p)) in data.y.iter().zip(predicted).enumerate() {
        text.push_str(&format!("{i},{label},{p}\n"));
    }
    write_atomic(path, text.as_bytes())
}

fn read_result(dir: &Path) -> Result<Option<SeedResult>> {
    let path = dir.join(RESULT);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::format(
            &path,
            None,
            format!("{e}; delete it to train this run again"),
        )
    })
}

/// Runs an adaptation experiment into a new run folder under `out_root`; relative paths in
/// the config resolve against `base`.
pub fn run(
    cfg: &AdaptConfig,
    out_root: &Path,
    base: &Path,
    cache: &Path,
    progress: bool,
) -> Result<(RunDir, AdaptSummary)> {
    execute(cfg, Folder::New(out_root), base, cache, progress)
}

/// Continues an interrupted experiment in its run folder: (method, seed) runs that finished
/// are read back from their `result.json`, an unfinished one continues from its last
/// checkpoint, the rest are trained; then the summary and plots are written as by [`run`].
/// The config is the folder's `config.toml`; relative paths in it resolve against `base`.
pub fn resume(
    dir: &Path,
    base: &Path,
    cache: &Path,
    progress: bool,
) -> Result<(RunDir, AdaptSummary)> {
    let run = RunDir::open(dir)?;
    let cfg = AdaptConfig::load(&run.file("config.toml"))?;
    execute(&cfg, Folder::Existing(run), base, cache, progress)
}

enum Folder<'a> {
    New(&'a Path),
    Existing(RunDir),
}

fn execute(
    cfg: &AdaptConfig,
    folder: Folder<'_>,
    base: &Path,
    cache: &Path,
    progress: bool,
) -> Result<(RunDir, AdaptSummary)> {
    let start = Instant::now();
    let bad = |msg: &str| Error::Config {
        path: base.join("<config>"),
        msg: msg.into(),
    };
    if cfg.seeds.is_empty() {
        return Err(bad("`seeds` is empty"));
    }
    if cfg.methods.is_empty() {
        return Err(bad("`methods` is empty"));
    }
    let device = cfg.device.device()?;
    let load = |seed: u64| -> Result<(Split, Split)> {
        let (s, t) = load_pair(cfg, seed, base, cache)?;
        normalize_pair(cfg.normalize, &s, &t)
    };
    let first = load(cfg.seeds[0])?;
    // Check the network against the data before any training.
    build_network(cfg, &first.0.train, cfg.seeds[0], &device, base, cache)?;
    let run = match folder {
        Folder::Existing(run) => run,
        Folder::New(out_root) => {
            let run = RunDir::create(out_root, &cfg.name)?;
            let text = toml::to_string_pretty(cfg).map_err(|e| Error::Spec(e.to_string()))?;
            run.write("config.toml", &text)?;
            run
        }
    };
    let plots = run.file("plots");
    std::fs::create_dir_all(&plots).map_err(|e| Error::io("create directory", &plots, e))?;

    let per_epoch = if cfg.train.drop_last {
        first.0.train.len() / cfg.train.batch_size.max(1)
    } else {
        first.0.train.len().div_ceil(cfg.train.batch_size.max(1))
    };
    let mut results: Vec<MethodSummary> = vec![];
    for &method in &cfg.methods {
        let mut runs: Vec<SeedResult> = vec![];
        for (i, &seed) in cfg.seeds.iter().enumerate() {
            let out = run.file(&format!("{}/seed-{seed}", method.as_str()));
            if let Some(done) = read_result(&out)? {
                runs.push(done);
                continue;
            }
            let (src, tgt) = if i == 0 { first.clone() } else { load(seed)? };
            let mut net = build_network(cfg, &src.train, seed, &device, base, cache)?;
            let mut trainer = Trainer::new(cfg.train.clone(), &net, seed)?
                .with_output(&out)
                .with_progress(progress);
            // Only the adaptation terms read the target's training images (a copy without labels).
            if let Some(t) = term(cfg, method, &net, src.train.num_classes, seed)? {
                let mut unlabeled = tgt.train.clone();
                unlabeled.y.clear();
                unlabeled.name = format!("{} (unlabeled)", tgt.train.name);
                trainer = trainer.with_unlabeled(unlabeled).with_term(t);
            }
            // A folder with a checkpoint but no result is a run that was interrupted.
            let checkpoint = out.join("checkpoints/last.safetensors");
            if checkpoint.is_file() {
                trainer.resume_from(&mut net, &checkpoint)?;
            }
            let t0 = Instant::now();
            let labelled = if method == Method::Oracle {
                &tgt.train
            } else {
                &src.train
            };
            let report = trainer.fit(&mut net, labelled, Some(&tgt.test))?;
            let seconds = t0.elapsed().as_secs_f64();
            let bs = cfg.train.eval_batch_size;
            let target = evaluate(&mut net, &tgt.test, bs)?;
            write_predictions(&tgt.test, &target.predictions, &out.join(PREDICTIONS))?;
            let done = SeedResult {
                target_accuracy: target.accuracy,
                source_accuracy: evaluate(&mut net, &src.test, bs)?.accuracy,
                target_curve: report
                    .history
                    .iter()
                    .filter_map(|r| r.valid_accuracy)
                    .collect(),
                seconds,
                proxy_a_distance: if i == 0 {
                    analyse(cfg, &mut net, method, &src.test, &tgt.test, &plots)?
                } else {
                    None
                },
            };
            tracing::info!(
                method = method.as_str(),
                seed,
                target_accuracy = done.target_accuracy,
                "adaptation run done"
            );
            let text =
                serde_json::to_string_pretty(&done).map_err(|e| Error::Training(e.to_string()))?;
            write_atomic(&out.join(RESULT), text.as_bytes())?;
            runs.push(done);
        }
        let tacc: Vec<f64> = runs.iter().map(|r| r.target_accuracy).collect();
        let sacc: Vec<f64> = runs.iter().map(|r| r.source_accuracy).collect();
        let curves: Vec<&Vec<f64>> = runs.iter().map(|r| &r.target_curve).collect();
        let (tm, ts) = mean_std(&tacc);
        let n = curves.iter().map(|c| c.len()).min().unwrap_or(0);
        let curve = (0..n)
            .map(|e| curves.iter().map(|c| c[e]).sum::<f64>() / curves.len() as f64)
            .collect();
        results.push(MethodSummary {
            method,
            target_mean: tm,
            target_std: ts,
            source_mean: mean_std(&sacc).0,
            target_accuracy: tacc,
            source_accuracy: sacc,
            gain_over_source_only_points: None,
            proxy_a_distance: runs[0].proxy_a_distance,
            target_curve: curve,
            seconds: runs.iter().map(|r| r.seconds).collect(),
        });
    }
    let baseline = results
        .iter()
        .find(|r| r.method == Method::SourceOnly)
        .map(|r| (r.target_mean, r.target_std));
    let mut verdict = vec![];
    for r in &mut results {
        let line = match baseline {
            _ if r.method == Method::Oracle => format!(
                "oracle (trained on the target's labels, the ceiling): target {:.2}% ± {:.2}",
                100.0 * r.target_mean,
                100.0 * r.target_std
            ),
            Some((bm, bs)) if r.method != Method::SourceOnly => {
                let g = 100.0 * (r.target_mean - bm);
                r.gain_over_source_only_points = Some(g);
                let word = if g > 100.0 * (r.target_std + bs) {
                    "beats source-only"
                } else if g > 0.0 {
                    "beats source-only by less than the seeds' spread (uncertain)"
                } else {
                    "DOES NOT beat source-only"
                };
                format!(
                    "{}: target {:.2}% ± {:.2} vs source-only {:.2}% ± {:.2}: {word} ({g:+.2} points)",
                    r.method.as_str(),
                    100.0 * r.target_mean,
                    100.0 * r.target_std,
                    100.0 * bm,
                    100.0 * bs
                )
            }
            _ => format!(
                "{}: target {:.2}% ± {:.2} over {} seeds",
                r.method.as_str(),
                100.0 * r.target_mean,
                100.0 * r.target_std,
                cfg.seeds.len()
            ),
        };
        verdict.push(line);
    }
    let series: Vec<Series> = results
        .iter()
        .filter(|r| !r.target_curve.is_empty())
        .map(|r| {
            Series::new(
                r.method.as_str(),
                (1..=r.target_curve.len()).map(|e| e as f64).collect(),
                r.target_curve.clone(),
            )
        })
        .collect();
    if !series.is_empty() {
        plot::line_plot(
            &plots.join("target_accuracy.png"),
            "Target test accuracy (mean over seeds)",
            "epoch",
            "accuracy",
            &series,
        )?;
    }
    let summary = AdaptSummary {
        name: cfg.name.clone(),
        source: first.0.train.name.clone(),
        target: first.1.train.name.clone(),
        source_train_samples: first.0.train.len(),
        target_train_samples: first.1.train.len(),
        target_test_samples: first.1.test.len(),
        seeds: cfg.seeds.clone(),
        iterations_per_run: per_epoch * cfg.train.epochs,
        methods: results,
        verdict,
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    run.write_json("summary.json", &summary)?;
    Ok((run, summary))
}

impl AdaptConfig {
    /// A config for two named datasets with Transfer-Learning-Library's digits conventions:
    /// LeNet, SGD (lr 0.01, Nesterov momentum 0.9, weight decay 1e-3), lr·(1 + 0.001·iter)^−0.75,
    /// batch 32, and the transforms that line the pair up ([`super::pairs::default_transforms`]).
    pub fn for_pair(source: &str, target: &str, methods: Vec<Method>) -> Self {
        let (st, tt) = super::pairs::default_transforms(source, target);
        let data = |name: &str, transforms| DataConfig {
            dataset: Some(name.into()),
            train: None,
            test: None,
            transforms,
            train_limit: None,
            train_per_class: None,
            test_limit: None,
            targets: vec![],
        };
        let mut optimizer = crate::train::OptimizerConfig::sgd(0.01, 0.9);
        optimizer.nesterov = true;
        optimizer.weight_decay = 1e-3;
        AdaptConfig {
            name: format!("adapt-{source}-{target}"),
            seeds: seeds(),
            methods,
            device: DeviceKind::Cpu,
            source: data(source, st),
            target: data(target, tt),
            blend_seed: 0,
            blend_digits: DigitStrokes::Grey,
            normalize: InputNorm::None,
            model: lenet(),
            pretrained: None,
            head: None,
            surgery: vec![],
            train: TrainConfig {
                epochs: 2,
                batch_size: 32,
                optimizer,
                schedule: crate::train::Schedule::InvDecay {
                    gamma: 0.001,
                    power: 0.75,
                    per_iteration: true,
                },
                clip_grad_norm: None,
                early_stopping: None,
                drop_last: true,
                eval_batch_size: 512,
                valid_every: 1,
            },
            dann: DannConfig::default(),
            dan: DanConfig::default(),
            coral: CoralConfig::default(),
            jan: JanConfig::default(),
            cdan: CdanConfig::default(),
            analysis: AnalysisConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper-protocol example parses into Ganin et al.'s settings, and its network puts
    /// 768-d features where the domain classifier attaches.
    #[test]
    fn ganin_example_config_has_the_paper_protocol() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adapt-mnist-mnistm");
        let cfg = AdaptConfig::load(&dir.join("ganin.toml")).unwrap();
        assert_eq!(cfg.normalize, InputNorm::DomainMean);
        // DANN: the paper's domain classifier; CDAN: its authors' digits discriminator
        // (500-500, dropout 0.5, no BN).
        let (d, c) = (&cfg.dann, &cfg.cdan);
        let shapes = [
            (&d.feature_layer, d.hidden, d.depth, d.batch_norm, d.dropout),
            (&c.feature_layer, c.hidden, c.depth, c.batch_norm, c.dropout),
        ];
        for ((layer, hidden, depth, bn, dropout), want) in
            shapes.into_iter().zip([(100, 1, 0.0), (500, 2, 0.5)])
        {
            assert_eq!((layer.as_str(), bn), ("features", false));
            assert_eq!((hidden, depth, dropout), want);
        }
        assert_eq!(cfg.train.batch_size, 64);
        let spec = cfg.model.build(&[3, 28, 28], 10, &dir).unwrap();
        let net = Network::new(spec, 0, &Device::flex()).unwrap();
        assert_eq!(
            super::super::dann::feature_width(&net, "features").unwrap(),
            768
        );
        // The TLlib-protocol config keeps the old defaults.
        let old = AdaptConfig::load(&dir.join("config.toml")).unwrap();
        assert_eq!(old.normalize, InputNorm::None);
        assert_eq!((old.dann.depth, old.dann.batch_norm), (2, true));
    }
}
