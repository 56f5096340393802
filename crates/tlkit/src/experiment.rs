//! Running an experiment config end to end: data, network, training, evaluation, run folder.
//! The CLI's `demo`, `train` and `eval` are thin wrappers over this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::config::{DataConfig, ExperimentConfig, Source};
use crate::data::{self, Dataset, Split, Transform};
use crate::nn::{Network, NetworkSpec, Selector};
use crate::plot::{self, Series};
use crate::run::RunDir;
use crate::train::{
    EvalResult, FitReport, Metric, TaskEval, Trainer, checkpoint, evaluate, evaluate_tasks,
};
use crate::{Error, Result};

/// Options that are not part of the experiment itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Folder under which run folders are created (default `runs`).
    pub out_root: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint.
    pub resume: Option<PathBuf>,
    /// Show progress bars.
    pub progress: bool,
    /// Folder that relative paths in the config are resolved against.
    pub base: Option<PathBuf>,
    /// Dataset cache (default [`data::cache_dir`]).
    pub cache: Option<PathBuf>,
}

/// What `summary.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub dataset: String,
    pub train_samples: usize,
    pub test_samples: usize,
    pub parameters: usize,
    pub trainable_parameters: usize,
    pub epochs_completed: usize,
    pub stopped_early: bool,
    pub best_epoch: Option<usize>,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub per_class_accuracy: Vec<f64>,
    /// Each task's test loss and metric, by task name (runs with `[[tasks]]` only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<String, TaskEval>,
    pub wall_seconds: f64,
}

/// The result of a run.
pub struct Outcome {
    pub run: RunDir,
    pub summary: Summary,
    pub report: FitReport,
}

fn load_source(src: &Source, base: &Path, name: &str) -> Result<Dataset> {
    let at = |p: &Path| {
        if p.is_relative() {
            base.join(p)
        } else {
            p.to_path_buf()
        }
    };
    match src {
        Source::Idx { images, labels } => data::load_pair(at(images), at(labels), name),
        Source::Csv {
            path,
            label_column,
            has_header,
            scale,
            sample_shape,
            num_classes,
        } => data::load_csv(
            at(path),
            &data::CsvOptions {
                label_column: Some(*label_column),
                has_header: *has_header,
                scale: *scale,
                sample_shape: sample_shape.clone(),
                num_classes: *num_classes,
            },
            name,
        ),
        Source::Npz { path, x_key, y_key } => data::load_npz(at(path), x_key, y_key, name),
        Source::ImageFolder {
            root,
            size,
            grayscale,
        } => data::load_image_folder(
            at(root),
            &data::ImageFolderOptions {
                size: size.map(|[h, w]| (h, w)),
                grayscale: *grayscale,
            },
            name,
        ),
    }
}

/// Loads the config's train and test splits, transforms applied.
pub fn load_data(d: &DataConfig, seed: u64, base: &Path, cache: &Path) -> Result<Split> {
    let split = match (&d.dataset, &d.train, &d.test) {
        (Some(name), None, None) => data::load_named(name, cache)?,
        (None, Some(tr), Some(te)) => Split {
            train: load_source(tr, base, "custom/train")?,
            test: load_source(te, base, "custom/test")?,
        },
        _ => {
            return Err(Error::Config {
                path: base.join("<config>"),
                msg:
                    "[data] needs either `dataset = \"<name>\"` or both `train` and `test` sources"
                        .into(),
            });
        }
    };
    // Subsets first, so that transforms (a resize to 224×224, say) touch only what is used.
    let mut train = split.train;
    let mut test = split.test;
    if let Some(limit) = d.train_limit {
        let order = data::epoch_order(train.len(), seed, 0, true);
        let keep: Vec<usize> = order.into_iter().take(limit).collect();
        train = train.subset(&keep, format!("{} (first {limit})", train.name));
    }
    if let Some(k) = d.train_per_class {
        let order = data::epoch_order(train.len(), seed, 0, true);
        let mut taken = vec![0usize; train.num_classes];
        let keep: Vec<usize> = order
            .into_iter()
            .filter(|&i| {
                let c = train.y[i] as usize;
                taken[c] += 1;
                taken[c] <= k
            })
            .collect();
        train = train.subset(&keep, format!("{} ({k} per class)", train.name));
    }
    if let Some(limit) = d.test_limit {
        let keep: Vec<usize> = (0..test.len().min(limit)).collect();
        test = test.subset(&keep, format!("{} (first {limit})", test.name));
    }
    let mut train = Transform::apply_all(&d.transforms, &train)?;
    let mut test = Transform::apply_all(&d.transforms, &test)?;
    for t in &d.targets {
        train = t.apply(train)?;
        test = t.apply(test)?;
    }
    if train.sample_shape != test.sample_shape {
        return Err(Error::Spec(format!(
            "train samples are {:?} but test samples are {:?}",
            train.sample_shape, test.sample_shape
        )));
    }
    Ok(Split { train, test })
}

/// Builds the network a config describes for the given data.
pub fn build_network(cfg: &ExperimentConfig, base: &Path, train: &Dataset) -> Result<Network> {
    let spec = cfg
        .model
        .build(&train.sample_shape, train.num_classes, base)?;
    let device = cfg.device.device()?;
    let mut net = Network::new(spec, cfg.seed, &device)?;
    if let Some(w) = &cfg.init_from {
        let p = if w.is_relative() {
            base.join(w)
        } else {
            w.clone()
        };
        let ck = checkpoint::load(&p)?;
        net.load_state_dict(&ck.model, true)
            .map_err(|e| Error::Checkpoint {
                path: p.clone(),
                msg: e.to_string(),
            })?;
    }
    if !cfg.freeze.is_empty() {
        net.freeze(&Selector::new(&cfg.freeze)?)?;
    }
    Ok(net)
}

/// Runs (or resumes) an experiment and fills its run folder.
pub fn run(cfg: ExperimentConfig, opts: &RunOptions) -> Result<Outcome> {
    let start = Instant::now();
    let base = opts.base.clone().unwrap_or_else(|| PathBuf::from("."));
    let cache = opts.cache.clone().unwrap_or_else(data::cache_dir);
    let split = load_data(&cfg.data, cfg.seed, &base, &cache)?;
    let mut net = build_network(&cfg, &base, &split.train)?;
    let run = match &opts.resume {
        Some(dir) => RunDir::open(dir)?,
        None => {
            let root = opts
                .out_root
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs"));
            let run = RunDir::create(&root, &cfg.name)?;
            run.write("config.toml", &cfg.to_toml()?)?;
            run.write("model.toml", &spec_toml(net.spec())?)?;
            run
        }
    };
    let mut trainer = Trainer::new(cfg.train.clone(), &net, cfg.seed)?
        .with_output(&run.path)
        .with_progress(opts.progress)
        .with_label(format!("{} seed {}", cfg.name, cfg.seed))
        .with_tasks(cfg.tasks.clone());
    if opts.resume.is_some() {
        let ck = run.last_checkpoint().ok_or_else(|| Error::Checkpoint {
            path: run.file("checkpoints/last.safetensors"),
            msg: "no checkpoint to resume from (the run stopped before its first epoch ended)"
                .into(),
        })?;
        trainer.resume_from(&mut net, &ck)?;
    }
    let report = trainer.fit(&mut net, &split.train, Some(&split.test))?;
    let bs = cfg.train.eval_batch_size;
    let tasks = evaluate_tasks(&mut net, &split.test, &cfg.tasks, bs)?;
    // The confusion matrix and per-class accuracy are those of the network's output against
    // the labels: the default task, or a task that trains exactly that.
    let classifies = cfg.tasks.is_empty()
        || cfg.tasks.iter().any(|t| {
            t.head.is_none() && t.target == data::LABEL_TARGET && t.metric() == Metric::Accuracy
        });
    let eval = if classifies {
        Some(evaluate(&mut net, &split.test, bs)?)
    } else {
        None
    };
    checkpoint::save_weights(&run.file("weights.safetensors"), &net.state_dict())?;
    write_plots(&run, &report, eval.as_ref(), &split.test)?;
    // Without the default classification: the first classification task's numbers, or no
    // accuracy at all (NaN, `null` in summary.json) for a run of regressions.
    let (test_accuracy, test_loss) = match &eval {
        Some(e) => (e.accuracy, e.loss),
        None => cfg
            .tasks
            .iter()
            .zip(&tasks)
            .find(|(t, _)| t.metric() == Metric::Accuracy)
            .map_or((f64::NAN, f64::NAN), |(_, e)| (e.value, e.loss)),
    };
    let summary = Summary {
        name: cfg.name.clone(),
        dataset: split.train.domain.clone(),
        train_samples: split.train.len(),
        test_samples: split.test.len(),
        parameters: net.num_params(),
        trainable_parameters: net.num_trainable_params(),
        epochs_completed: report.history.len(),
        stopped_early: report.stopped_early,
        best_epoch: report.best_epoch,
        test_accuracy,
        test_loss,
        per_class_accuracy: eval.map(|e| e.per_class_accuracy).unwrap_or_default(),
        tasks: cfg
            .tasks
            .iter()
            .map(|t| t.name.clone())
            .zip(tasks)
            .collect(),
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    run.write_json("summary.json", &summary)?;
    Ok(Outcome {
        run,
        summary,
        report,
    })
}

fn spec_toml(spec: &NetworkSpec) -> Result<String> {
    toml::to_string_pretty(spec)
        .map_err(|e| Error::Spec(format!("cannot write the resolved spec: {e}")))
}

/// Learning curves and (given a classification's evaluation) the confusion matrix under
/// `plots/`.
pub fn write_plots(
    run: &RunDir,
    report: &FitReport,
    eval: Option<&EvalResult>,
    test: &Dataset,
) -> Result<()> {
    let h = &report.history;
    let xs: Vec<f64> = h.iter().map(|r| r.epoch as f64).collect();
    let series = |name: &str, ys: Vec<f64>| Series {
        name: name.into(),
        xs: xs.clone(),
        ys,
    };
    let mut loss = vec![series(
        "train loss",
        h.iter().map(|r| r.train_loss).collect(),
    )];
    let mut acc = vec![series(
        "train accuracy",
        h.iter().map(|r| r.train_accuracy).collect(),
    )];
    if h.iter().all(|r| r.valid_loss.is_some()) {
        loss.push(series(
            "test loss",
            h.iter().filter_map(|r| r.valid_loss).collect(),
        ));
    }
    // A run whose first task is a regression has no accuracy to draw.
    let accuracy = h.iter().all(|r| r.valid_accuracy.is_some());
    if accuracy {
        acc.push(series(
            "test accuracy",
            h.iter().filter_map(|r| r.valid_accuracy).collect(),
        ));
    }
    let dir = run.file("plots");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    plot::line_plot(&dir.join("loss.png"), "Loss", "epoch", "loss", &loss)?;
    if accuracy || h.iter().any(|r| r.train_accuracy > 0.0) {
        plot::line_plot(
            &dir.join("accuracy.png"),
            "Accuracy",
            "epoch",
            "accuracy",
            &acc,
        )?;
    }
    let Some(eval) = eval else {
        return Ok(());
    };
    let names = test.class_names.clone().unwrap_or_else(|| {
        (0..eval.confusion.counts.len())
            .map(|i| i.to_string())
            .collect()
    });
    let names: Vec<String> = names
        .into_iter()
        .chain((0..).map(|i: usize| i.to_string()))
        .take(eval.confusion.counts.len())
        .collect();
    plot::confusion_matrix(
        &dir.join("confusion_matrix.png"),
        &eval.confusion.counts,
        &names,
    )
}

/// Evaluates a finished (or interrupted) run's checkpoint on a dataset.
pub fn eval_run(
    run_dir: &Path,
    dataset: Option<&str>,
    checkpoint_name: &str,
    cache: &Path,
) -> Result<(EvalResult, Dataset)> {
    let (mut net, cfg, test) = open_run(run_dir, dataset, checkpoint_name, cache)?;
    let r = evaluate(&mut net, &test, cfg.train.eval_batch_size)?;
    Ok((r, test))
}

/// A run's network with the weights of `checkpoint_name` (`weights`/`final` for the exported
/// weights, otherwise a file in `checkpoints/`), its config, and the test split of its data
/// (or of the named `dataset`).
pub fn open_run(
    run_dir: &Path,
    dataset: Option<&str>,
    checkpoint_name: &str,
    cache: &Path,
) -> Result<(Network, ExperimentConfig, Dataset)> {
    let run = RunDir::open(run_dir)?;
    let mut cfg = ExperimentConfig::load(&run.file("config.toml"))?;
    if let Some(name) = dataset {
        cfg.data.dataset = Some(name.to_string());
        cfg.data.train = None;
        cfg.data.test = None;
    }
    let split = load_data(&cfg.data, cfg.seed, run_dir, cache)?;
    let spec = NetworkSpec::load(&run.file("model.toml"))?;
    let mut net = Network::new(spec, cfg.seed, &cfg.device.device()?)?;
    let ck_path = match checkpoint_name {
        "weights" | "final" => run.file("weights.safetensors"),
        other => run.file(&format!("checkpoints/{other}.safetensors")),
    };
    let ck = checkpoint::load(&ck_path)?;
    net.load_state_dict(&ck.model, true)
        .map_err(|e| Error::Checkpoint {
            path: ck_path.clone(),
            msg: e.to_string(),
        })?;
    Ok((net, cfg, split.test))
}
