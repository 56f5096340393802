//! `tlkit multitask`: train the tasks together under each weighting method and each task
//! alone, over seeds, and say per task whether sharing helped it or hurt it.
//!
//! Arms: `single-<task>` (the task alone on the same network, its other heads idle) and one
//! arm per method (every task at once). Per task the summary gives each arm's test metric
//! (mean ± std over seeds), and each method's gain over the task's single-task arm with the
//! study layer's verdict (NEGATIVE TRANSFER where sharing hurt). The plots are each task's
//! test metric over epochs, the loss weights each method gave the tasks over training, and
//! each task's training loss relative to its first epoch's (GradNorm's loss ratios).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::{MultitaskConfig, NAME};
use super::relatedness::{self, Place};
use super::sweep::{self, BranchRow};
use crate::backend::Device;
use crate::data::Split;
use crate::experiment::load_data;
use crate::nn::{Network, NetworkSpec};
use crate::plot::{self, Series};
use crate::run::RunDir;
use crate::study::verdict::uncertain_because;
use crate::study::{
    self, ArmStats, Cell, Folder, Study, StudyOptions, Verdict, mean_curve, mean_std,
};
use crate::train::{Task, Trainer, evaluate_tasks};
use crate::{Error, Result};

/// What one (arm, seed) run leaves in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    /// Each of the arm's tasks' test metric.
    pub metrics: BTreeMap<String, f64>,
    /// Each task's test metric after every epoch.
    pub curves: BTreeMap<String, Vec<f64>>,
    /// Each task's mean loss weight in every epoch (method arms).
    pub weights: BTreeMap<String, Vec<f64>>,
    /// Each task's mean unweighted training loss in every epoch.
    #[serde(default)]
    pub train_loss: BTreeMap<String, Vec<f64>>,
    /// Median wall seconds of a training epoch: the median, so that a few epochs slowed by a
    /// pause or by another process on the machine do not move it.
    pub epoch_seconds: f64,
    /// Per epoch, the mean cosine similarity of the tasks' gradients on the shared
    /// parameters over every pair of tasks (methods with per-task gradients; empty for the
    /// others).
    #[serde(default)]
    pub grad_cosine: Vec<f64>,
    /// Linear CKA between each pair of tasks' head inputs on the test set (`a~b`): at each
    /// head's first layer and at its last layer (see [`relatedness`]).
    #[serde(default)]
    pub cka_first: BTreeMap<String, f64>,
    #[serde(default)]
    pub cka_last: BTreeMap<String, f64>,
}

/// Linear CKA between two tasks' head inputs, mean and std over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct CkaRow {
    /// A method arm, or `single-task` (each task's input in the network trained for it
    /// alone, compared across the two networks).
    pub arm: String,
    /// `first` (the head's first layer's input) or `last` (its last layer's input).
    pub place: String,
    /// `a~b`.
    pub pair: String,
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
}

/// One arm's numbers for one task.
#[derive(Debug, Clone, Serialize)]
pub struct ArmRow {
    pub arm: String,
    /// One value per seed.
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
    /// Against the task's single-task arm (method arms, when there is one).
    pub verdict: Option<String>,
    /// Sharing made the task worse than alone.
    pub negative_transfer: bool,
}

/// A task's table.
#[derive(Debug, Clone, Serialize)]
pub struct TaskTable {
    pub task: String,
    /// `accuracy`, `mse` or `mae`.
    pub metric: String,
    pub rows: Vec<ArmRow>,
}

/// What `summary.json` of a multi-task study holds.
#[derive(Debug, Clone, Serialize)]
pub struct MultitaskSummary {
    pub name: String,
    pub seeds: Vec<u64>,
    pub train_samples: usize,
    pub test_samples: usize,
    pub epochs: usize,
    pub tasks: Vec<TaskTable>,
    /// Seconds of a training epoch per arm, the mean over seeds of each cell's median epoch
    /// (the per-task backward passes of the gradient methods show here), and the ratio to
    /// equal weighting's when it ran.
    pub epoch_seconds: BTreeMap<String, f64>,
    pub epoch_time_vs_ew: BTreeMap<String, f64>,
    /// Every verdict line, task by task.
    pub verdicts: Vec<String>,
    /// Linear CKA between the tasks' head inputs (task relatedness).
    pub cka: Vec<CkaRow>,
    /// The branch sweep's rows (empty without a sweep).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub branch: Vec<BranchRow>,
    pub wall_seconds: f64,
}

/// One arm: its tasks, its weighting method (none for a single-task arm) and its network.
pub struct Arm {
    pub name: String,
    pub tasks: Vec<Task>,
    pub method: Option<String>,
    pub spec: NetworkSpec,
}

/// Runs a multi-task study into a new folder under `out_root`; relative paths in the config
/// resolve against `base`.
pub fn run(
    cfg: &MultitaskConfig,
    out_root: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, MultitaskSummary)> {
    let cfg = MultitaskConfig {
        study: cfg.study.clone().or_name(NAME),
        ..cfg.clone()
    };
    execute(&cfg, Folder::New(out_root), base, cache, opts)
}

/// Continues a killed study in its folder: finished runs are read back, the interrupted one
/// continues from its checkpoint.
pub fn resume(
    dir: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, MultitaskSummary)> {
    let (folder, cfg, base) = Folder::reopen(dir, base, opts, MultitaskConfig::load)?;
    execute(&cfg, folder, &base, cache, opts)
}

/// The arm of task `t` alone.
pub fn single(task: &str) -> String {
    format!("single-{task}")
}

/// The study's network: `[network]` as written, or `[model]` built for the data.
pub fn spec_of(cfg: &MultitaskConfig, split: &Split, base: &Path) -> Result<NetworkSpec> {
    match (&cfg.network, &cfg.model) {
        (Some(spec), _) => Ok(spec.clone()),
        (None, Some(m)) => m.build(&split.train.sample_shape, split.train.num_classes, base),
        (None, None) => Err(Error::Spec("the study has no network".into())),
    }
}

fn execute(
    cfg: &MultitaskConfig,
    folder: Folder<'_>,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, MultitaskSummary)> {
    let config_path = base.join("<config>");
    cfg.check(&config_path)?;
    let seeds = &cfg.study.seeds;
    let device = cfg.study.device.device()?;
    let first = load_data(&cfg.data, seeds[0], base, cache)?;
    let spec = spec_of(cfg, &first, base)?;
    // Every task fits the network and the data (head, target, loss) before any training.
    let probe = Network::new(spec.clone(), seeds[0], &device)?;
    for t in &cfg.tasks {
        t.check(&probe, &first.train)?;
        t.check(&probe, &first.test)?;
    }
    // The sweep's networks are built and checked before any training too.
    let branches = if cfg.sweeps() {
        sweep::specs(cfg, &spec, &config_path)?
    } else {
        vec![]
    };
    for (_, s) in &branches {
        let net = Network::new(s.clone(), seeds[0], &device)?;
        for t in &cfg.tasks {
            t.check(&net, &first.test)?;
        }
    }
    let study = folder.study(&cfg.study.name, cfg, base)?.with_options(opts);
    let (train_samples, test_samples) = (first.train.len(), first.test.len());
    let mut arms: Vec<Arm> = vec![];
    if cfg.single_task {
        for t in &cfg.tasks {
            arms.push(Arm {
                name: single(&t.name),
                tasks: vec![t.clone()],
                method: None,
                spec: spec.clone(),
            });
        }
    }
    for m in &cfg.methods {
        let arm = |name: String, spec: &NetworkSpec| Arm {
            name,
            tasks: cfg.tasks.clone(),
            method: Some(m.clone()),
            spec: spec.clone(),
        };
        if cfg.sweeps() {
            arms.extend(branches.iter().map(|(p, s)| arm(sweep::arm_name(m, p), s)));
        } else {
            arms.push(arm(m.clone(), &spec));
        }
    }
    let mut results: BTreeMap<String, Vec<CellResult>> = BTreeMap::new();
    let mut first = Some(first);
    for &seed in seeds {
        let mut split: Option<Split> = first.take();
        for a in &arms {
            let arm = &a.name;
            let r = study.run_cell(arm, seed, |cell| {
                if split.is_none() {
                    split = Some(load_data(&cfg.data, seed, base, cache)?);
                }
                let split = split
                    .as_ref()
                    .ok_or_else(|| Error::Spec("no data".into()))?;
                train_cell(cfg, a, split, seed, &device, cell).map(|(_, r)| r)
            })?;
            results.entry(arm.clone()).or_default().push(r);
        }
    }
    let arm_names: Vec<String> = arms.iter().map(|a| a.name.clone()).collect();
    let mut summary = summarise(
        cfg,
        &arm_names,
        &results,
        train_samples,
        test_samples,
        &study,
    )?;
    summary.cka = cka_rows(cfg, &arms, &results, test_samples, &study)?;
    draw(cfg, &results, &study)?;
    if !branches.is_empty() {
        let mut stats = BTreeMap::new();
        let mut single_means = BTreeMap::new();
        for t in &summary.tasks {
            for r in &t.rows {
                stats.insert((r.arm.clone(), t.task.clone()), (r.mean, r.std));
                if r.arm == single(&t.task) {
                    single_means.insert(t.task.clone(), r.mean);
                }
            }
        }
        summary.branch = sweep::rows(cfg, &branches, &stats, &single_means, &device)?;
        let metric = summary
            .tasks
            .first()
            .map_or("metric", |t| t.metric.as_str());
        sweep::draw(&summary.branch, &single_means, metric, &study.plots()?)?;
    }
    study.write_summary(&summary)?;
    Ok((study.into_dir(), summary))
}

/// Trains `arm` with `seed` on `split` into `cell` (continuing from the cell's checkpoint when
/// an earlier session was interrupted there), tests it, and measures its head inputs' CKA:
/// the trained network and the cell's result.
pub fn train_cell(
    cfg: &MultitaskConfig,
    arm: &Arm,
    split: &Split,
    seed: u64,
    device: &Device,
    cell: &Cell,
) -> Result<(Network, CellResult)> {
    let Arm {
        tasks,
        method: weighting,
        spec,
        ..
    } = arm;
    let mut net = Network::new(spec.clone(), seed, device)?;
    let mut trainer = Trainer::new(cfg.train.clone(), &net, seed)?.with_tasks(tasks.clone());
    if let Some(m) = weighting {
        trainer = trainer.with_gradient_strategy(cfg.strategy(m)?);
    }
    let mut trainer = cell.attach(trainer, &mut net)?;
    let report = trainer.fit(&mut net, &split.train, Some(&split.test))?;
    let evals = evaluate_tasks(&mut net, &split.test, tasks, cfg.train.eval_batch_size)?;
    let batch = cfg.train.eval_batch_size;
    let first_in = relatedness::head_inputs(&mut net, &split.test, tasks, Place::First, batch)?;
    let last_in = relatedness::head_inputs(&mut net, &split.test, tasks, Place::Last, batch)?;
    if let ([t], Some(f), Some(l)) = (
        tasks.as_slice(),
        first_in.values().next(),
        last_in.values().next(),
    ) {
        relatedness::save(&cell.dir, Place::First, &t.name, &f.0)?;
        relatedness::save(&cell.dir, Place::Last, &t.name, &l.0)?;
    }
    let h = &report.history;
    let per_task = |f: &dyn Fn(&crate::train::TaskScores) -> Option<f64>| {
        tasks
            .iter()
            .map(|t| {
                let v = h
                    .iter()
                    .filter_map(|r| r.tasks.get(&t.name).and_then(f))
                    .collect();
                (t.name.clone(), v)
            })
            .collect::<BTreeMap<String, Vec<f64>>>()
    };
    let result = CellResult {
        metrics: tasks
            .iter()
            .zip(&evals)
            .map(|(t, e)| (t.name.clone(), e.value))
            .collect(),
        curves: per_task(&|s| s.valid_metric),
        weights: per_task(&|s| s.weight),
        train_loss: per_task(&|s| Some(s.train_loss)),
        epoch_seconds: study::epoch_seconds(h),
        grad_cosine: h
            .iter()
            .filter_map(|r| {
                let all: Vec<f64> = r
                    .tasks
                    .values()
                    .flat_map(|t| t.grad_cosine.values().copied())
                    .collect();
                (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64)
            })
            .collect(),
        cka_first: relatedness::pairwise_cka(&first_in, &first_in)?,
        cka_last: relatedness::pairwise_cka(&last_in, &last_in)?,
    };
    Ok((net, result))
}

fn summarise(
    cfg: &MultitaskConfig,
    arms: &[String],
    results: &BTreeMap<String, Vec<CellResult>>,
    train_samples: usize,
    test_samples: usize,
    study: &Study,
) -> Result<MultitaskSummary> {
    let mut tables = vec![];
    let mut verdicts = vec![];
    for t in &cfg.tasks {
        let metric = t.metric();
        let values = |arm: &str| -> Option<Vec<f64>> {
            let cells = results.get(arm)?;
            cells
                .iter()
                .map(|c| c.metrics.get(&t.name).copied())
                .collect()
        };
        let baseline = values(&single(&t.name)).map(|v| ArmStats::new("single-task", v));
        let mut rows = vec![];
        let arm_names = arms
            .iter()
            .filter(|a| !a.starts_with("single-") || **a == single(&t.name))
            .cloned();
        for arm in arm_names {
            let Some(v) = values(&arm) else { continue };
            let (mean, std) = mean_std(&v);
            let (verdict, negative) = match (&baseline, arm.starts_with("single-")) {
                (Some(b), false) if metric.higher_is_better() => {
                    let v = Verdict::compare(&ArmStats::new(arm.clone(), v.clone()), b);
                    let negative = v.gain_points < 0.0;
                    (Some(format!("{}: {}", t.name, v.line)), negative)
                }
                (Some(b), false) => {
                    // An error: lower is better, and the verdict rule speaks of accuracies;
                    // the same rule otherwise (a difference within the summed spreads is
                    // uncertain).
                    let worse = mean > b.mean;
                    let spread = std + b.std;
                    let mut line = format!(
                        "{}: {arm}: {} {mean:.4} ± {std:.4} vs single-task {:.4} ± {:.4}: {}",
                        t.name,
                        metric.name(),
                        b.mean,
                        b.std,
                        if worse {
                            "NEGATIVE TRANSFER"
                        } else if mean < b.mean {
                            "positive transfer"
                        } else {
                            "no difference"
                        }
                    );
                    let one_seed = v.len() < 2 || b.values.len() < 2;
                    if mean != b.mean && (one_seed || (mean - b.mean).abs() <= spread) {
                        line += &uncertain_because(one_seed, &format!("{spread:.4}"));
                    }
                    (Some(line), worse)
                }
                _ => (None, false),
            };
            verdicts.extend(verdict.clone());
            rows.push(ArmRow {
                arm,
                values: v,
                mean,
                std,
                verdict,
                negative_transfer: negative,
            });
        }
        tables.push(TaskTable {
            task: t.name.clone(),
            metric: metric.name().into(),
            rows,
        });
    }
    let epoch_seconds: BTreeMap<String, f64> = results
        .iter()
        .map(|(arm, cells)| {
            let seconds: Vec<f64> = cells.iter().map(|c| c.epoch_seconds).collect();
            (arm.clone(), mean_std(&seconds).0)
        })
        .collect();
    let epoch_time_vs_ew = match epoch_seconds.get("ew") {
        Some(&ew) if ew > 0.0 => cfg
            .methods
            .iter()
            .filter_map(|m| epoch_seconds.get(m).map(|s| (m.clone(), s / ew)))
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(MultitaskSummary {
        name: cfg.study.name.clone(),
        seeds: cfg.study.seeds.clone(),
        train_samples,
        test_samples,
        epochs: cfg.train.epochs,
        tasks: tables,
        epoch_seconds,
        epoch_time_vs_ew,
        verdicts,
        cka: vec![],
        branch: vec![],
        wall_seconds: study.seconds(),
    })
}

/// The CKA rows: each method arm's (from its cells) and the single-task networks' (their
/// saved head inputs, compared across the networks of one seed).
fn cka_rows(
    cfg: &MultitaskConfig,
    arms: &[Arm],
    results: &BTreeMap<String, Vec<CellResult>>,
    test_samples: usize,
    study: &Study,
) -> Result<Vec<CkaRow>> {
    let mut per: BTreeMap<(String, &str, String), Vec<f64>> = BTreeMap::new();
    for a in arms.iter().filter(|a| a.method.is_some()) {
        for c in results.get(&a.name).into_iter().flatten() {
            for (place, map) in [("first", &c.cka_first), ("last", &c.cka_last)] {
                for (pair, v) in map {
                    per.entry((a.name.clone(), place, pair.clone()))
                        .or_default()
                        .push(*v);
                }
            }
        }
    }
    if cfg.single_task {
        for &seed in &cfg.study.seeds {
            for place in [Place::First, Place::Last] {
                let mut x = BTreeMap::new();
                for t in &cfg.tasks {
                    let dir = study.cell(&single(&t.name), seed).dir;
                    if let Some(f) = relatedness::load(&dir, place, &t.name, test_samples) {
                        x.insert(t.name.clone(), f);
                    }
                }
                for (pair, v) in relatedness::pairwise_cka(&x, &x)? {
                    per.entry(("single-task".into(), place.name(), pair))
                        .or_default()
                        .push(v);
                }
            }
        }
    }
    Ok(per
        .into_iter()
        .map(|((arm, place, pair), values)| {
            let (mean, std) = mean_std(&values);
            CkaRow {
                arm,
                place: place.into(),
                pair,
                values,
                mean,
                std,
            }
        })
        .collect())
}

/// Lines in one loss-weight or loss-ratio plot; with more, each arm gets its own plot.
const MAX_LINES: usize = 12;

/// `plots/<task>_test_<metric>.png` per task (every arm), `plots/loss_weights.png` (each
/// method's weight of each task per epoch, mean over seeds; `loss_weights_<method>.png`, one
/// per method, when all of them would draw more than [`MAX_LINES`] lines), `plots/loss_ratios.png` (each
/// arm's mean training loss of each task per epoch over its first epoch's, mean over seeds;
/// `loss_ratios_<arm>.png` likewise)
/// and `plots/gradient_cosine.png` (the tasks' gradient cosine per epoch under each method
/// that computes it).
fn draw(
    cfg: &MultitaskConfig,
    results: &BTreeMap<String, Vec<CellResult>>,
    study: &Study,
) -> Result<()> {
    for t in &cfg.tasks {
        let curves: Vec<(String, Vec<f64>)> = results
            .iter()
            .filter_map(|(arm, cells)| {
                let per_seed: Vec<&Vec<f64>> =
                    cells.iter().filter_map(|c| c.curves.get(&t.name)).collect();
                (per_seed.len() == cells.len()).then(|| (arm.clone(), mean_curve(&per_seed)))
            })
            .collect();
        let metric = t.metric().name();
        study.plot_curves(
            &format!("{}_test_{metric}.png", t.name),
            &format!("task {}: test {metric}", t.name),
            "epoch",
            &format!("test {metric}"),
            &curves,
        )?;
    }
    // (method, its series): one plot for all methods while the lines stay readable, one per
    // method beyond that.
    let mut by_method: Vec<(String, Vec<Series>)> = vec![];
    for m in &cfg.methods {
        let Some(cells) = results.get(m) else {
            continue;
        };
        let mut series = vec![];
        for t in &cfg.tasks {
            let per_seed: Vec<&Vec<f64>> = cells
                .iter()
                .filter_map(|c| c.weights.get(&t.name))
                .collect();
            let ys = mean_curve(&per_seed);
            if !ys.is_empty() {
                let xs = (1..=ys.len()).map(|e| e as f64).collect();
                series.push(Series::new(format!("{m} {}", t.name), xs, ys));
            }
        }
        if !series.is_empty() {
            by_method.push((m.clone(), series));
        }
    }
    let mut ratios_by_arm: Vec<(String, Vec<Series>)> = vec![];
    for (arm, cells) in results {
        let mut ratios = vec![];
        for t in &cfg.tasks {
            let per_seed: Vec<Vec<f64>> = cells
                .iter()
                .filter_map(|c| c.train_loss.get(&t.name))
                .filter(|l| l.first().is_some_and(|&l0| l0 > 0.0))
                .map(|l| l.iter().map(|v| v / l[0]).collect())
                .collect();
            let ys = mean_curve(&per_seed);
            if per_seed.len() == cells.len() && !ys.is_empty() {
                let xs = (1..=ys.len()).map(|e| e as f64).collect();
                ratios.push(Series::new(format!("{arm} {}", t.name), xs, ys));
            }
        }
        if !ratios.is_empty() {
            ratios_by_arm.push((arm.clone(), ratios));
        }
    }
    plot_split(
        study,
        "loss_ratios",
        "training loss of each task over its first epoch's (mean over seeds)",
        "loss ratio",
        ratios_by_arm,
    )?;
    let cosines: Vec<Series> = cfg
        .methods
        .iter()
        .filter_map(|m| {
            let cells = results.get(m)?;
            let per_seed: Vec<&Vec<f64>> = cells.iter().map(|c| &c.grad_cosine).collect();
            let ys = mean_curve(&per_seed);
            (!ys.is_empty()).then(|| {
                let xs = (1..=ys.len()).map(|e| e as f64).collect();
                Series::new(m.clone(), xs, ys)
            })
        })
        .collect();
    if !cosines.is_empty() {
        plot::line_plot(
            &study.plots()?.join("gradient_cosine.png"),
            "cosine of the tasks' gradients on the shared parameters (epoch mean)",
            "epoch",
            "cosine",
            &cosines,
        )?;
    }
    plot_split(
        study,
        "loss_weights",
        "loss weight of each task (mean over the epoch and seeds)",
        "weight",
        by_method,
    )
}

/// `plots/<stem>.png` with every arm's lines over the epochs, or one `plots/<stem>_<arm>.png`
/// per arm when all of them would be more than [`MAX_LINES`] lines.
fn plot_split(
    study: &Study,
    stem: &str,
    title: &str,
    y_label: &str,
    by_arm: Vec<(String, Vec<Series>)>,
) -> Result<()> {
    let lines: usize = by_arm.iter().map(|(_, s)| s.len()).sum();
    if lines > MAX_LINES {
        for (arm, series) in &by_arm {
            let file = study.plots()?.join(format!("{stem}_{arm}.png"));
            plot::line_plot(&file, &format!("{arm}: {title}"), "epoch", y_label, series)?;
        }
    } else if lines > 0 {
        let series: Vec<Series> = by_arm.into_iter().flat_map(|(_, s)| s).collect();
        let file = study.plots()?.join(format!("{stem}.png"));
        plot::line_plot(&file, title, "epoch", y_label, &series)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Target};
    use crate::train::Loss;

    fn digits() -> MultitaskConfig {
        let text = include_str!("../../configs/multitask-digits.toml");
        let mut cfg: MultitaskConfig =
            crate::config::parse_toml(text, Path::new("digits.toml")).unwrap();
        cfg.methods = vec!["ew".into()];
        cfg.train.epochs = 1;
        cfg
    }

    /// Runs `cfg` into a fresh folder: the error, and whether any study folder was written
    /// (bad input must be refused before training, so none is).
    fn refuse(cfg: &MultitaskConfig) -> String {
        let out = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let opts = StudyOptions::default();
        let err = match run(cfg, out.path(), Path::new("."), cache.path(), &opts) {
            Ok(_) => panic!("trained instead of refusing"),
            Err(e) => e.to_string(),
        };
        let written = std::fs::read_dir(out.path()).unwrap().count();
        assert_eq!(written, 0, "a study folder was made for: {err}");
        err
    }

    #[test]
    fn bad_input_is_refused_before_training_naming_the_task_or_field() {
        // A branch point that is not a layer of the trunk.
        let mut cfg = digits();
        cfg.branch_points = vec!["shared.0".into(), "shared.5".into()];
        let err = refuse(&cfg);
        assert!(
            err.contains("branch_points")
                && err.contains("`shared.5` is not a layer of the trunk")
                && err.contains("shared.2"),
            "{err}"
        );
        // A loss that does not fit its head's output: class labels under MSE.
        let mut cfg = digits();
        cfg.tasks[1].loss = Loss::Mse;
        let err = refuse(&cfg);
        assert!(
            err.contains("task `parity`") && err.contains("class labels"),
            "{err}"
        );
        // A head with fewer outputs than the target's classes.
        let mut cfg = digits();
        cfg.tasks[1].target = "label".into();
        let err = refuse(&cfg);
        assert!(
            err.contains("task `parity`")
                && err.contains("10 classes")
                && err.contains("2 outputs"),
            "{err}"
        );
        // A method that compares task gradients, given one task.
        let mut cfg = digits();
        cfg.tasks.truncate(1);
        cfg.methods = vec!["pcgrad".into()];
        let err = refuse(&cfg);
        assert!(
            err.contains("`pcgrad`") && err.contains("at least two tasks"),
            "{err}"
        );
        // Targets of different sample counts cannot make one dataset: the second target
        // is refused naming the dataset, the target and both counts.
        let d = Dataset::new("two/train", vec![2], vec![0.0; 6], vec![0, 1, 0], 2).unwrap();
        let err = d
            .with_target(
                "other",
                Target::Classes {
                    labels: vec![0, 1],
                    num_classes: 2,
                },
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`two/train`") && err.contains("`other` has 2 entries for 3 samples"),
            "{err}"
        );
    }

    /// A sweep on the digits network: one arm per branch point, each task's accuracy and
    /// gain per point, the shared parameter counts, and CKA of the head inputs (1 at the
    /// first layer wherever the heads read one trunk layer).
    #[test]
    fn branch_sweep_and_head_cka_on_digits() {
        let mut cfg = digits();
        cfg.sweep_branch = true;
        let out = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let opts = StudyOptions::default();
        let (_, s) = run(&cfg, out.path(), Path::new("."), cache.path(), &opts).unwrap();
        let points: Vec<&str> = s.branch.iter().map(|r| r.point.as_str()).collect();
        assert_eq!(points, ["input", "shared.2"]);
        assert_eq!(
            s.branch.iter().map(|r| r.shared_params).collect::<Vec<_>>(),
            [0, 2080]
        );
        for r in &s.branch {
            assert_eq!(r.tasks.len(), 2);
            for t in &r.tasks {
                assert!(t.mean > 0.3 && t.gain.is_some(), "{r:?}");
            }
        }
        let cka = |arm: &str, place: &str| {
            s.cka
                .iter()
                .find(|r| r.arm == arm && r.place == place)
                .map(|r| r.mean)
                .unwrap()
        };
        assert!((cka("ew@shared.2", "first") - 1.0).abs() < 1e-9);
        // At the input split each head reads the pixels: the same input again.
        assert!((cka("ew@input", "first") - 1.0).abs() < 1e-9);
        // The single-task networks are two networks: their trunks' outputs differ.
        let single = cka("single-task", "first");
        assert!(single > 0.05 && single < 0.999, "{single}");
    }
}
