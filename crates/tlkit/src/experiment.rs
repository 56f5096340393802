//! Running an experiment config end to end: data, network, training, evaluation, run folder.
//! The CLI's `demo`, `train` and `eval` are thin wrappers over this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::backend::DeviceKind;
use crate::config::{DataConfig, ExperimentConfig, Source};
use crate::data::{self, Dataset, Split, Transform};
use crate::nn::{Network, NetworkSpec, Selector};
use crate::plot::{self, Series};
use crate::run::RunDir;
use crate::train::{
    EvalResult, FitReport, Metric, TaskEval, TrainConfig, Trainer, checkpoint, evaluate,
    evaluate_tasks,
};
use crate::weights::{LoadContext, ModelRef};
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
    /// The process's peak resident memory when the run ended ([`crate::run::peak_memory_mib`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_mib: Option<f64>,
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
/// `dataset = "mnist-m"` (or `"mnist-m-wide"`) is the MNIST-M-style set generated from MNIST
/// with the default blend (seed 0, grey strokes; see [`data::pairs`]).
pub fn load_data(d: &DataConfig, seed: u64, base: &Path, cache: &Path) -> Result<Split> {
    load_split(d, seed, base, cache, false)
}

/// [`load_data`] with the transforms [deferred](Dataset::defer) to each batch: the splits hold
/// the samples as loaded, and a batch is transformed when it is gathered. For consumers that
/// read samples only through [`Dataset::gather_batch`] (the trainer, evaluation, feature
/// extraction); the values are the same bit for bit. The MNIST-M-style sets are built
/// transformed, as with [`load_data`].
pub fn load_data_deferred(d: &DataConfig, seed: u64, base: &Path, cache: &Path) -> Result<Split> {
    load_split(d, seed, base, cache, true)
}

fn load_split(d: &DataConfig, seed: u64, base: &Path, cache: &Path, defer: bool) -> Result<Split> {
    if let Some(data::pairs::MNIST_M | data::pairs::MNIST_M_WIDE) = d.dataset.as_deref() {
        let blend = (0, data::DigitStrokes::default());
        return data::pairs::load_domain(d, seed, blend, base, cache);
    }
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
    if let Some(classes) = &d.classes {
        train = keep_classes(&train, classes, base)?;
        test = keep_classes(&test, classes, base)?;
    }
    if let Some(limit) = d.train_limit {
        let order = data::epoch_order(train.len(), seed, 0, true);
        let keep: Vec<usize> = order.into_iter().take(limit).collect();
        train = train.subset(&keep, format!("{} (first {limit})", train.name));
    }
    if let Some(k) = d.train_per_class {
        let order = data::epoch_order(train.len(), seed, 0, true);
        let keep = data::first_per_class(&order, &train.y, train.num_classes, k);
        train = train.subset(&keep, format!("{} ({k} per class)", train.name));
    }
    if let Some(limit) = d.test_limit {
        let keep: Vec<usize> = (0..test.len().min(limit)).collect();
        test = test.subset(&keep, format!("{} (first {limit})", test.name));
    }
    let (mut train, mut test) = if defer {
        (train.defer(&d.transforms)?, test.defer(&d.transforms)?)
    } else {
        (
            Transform::apply_all(&d.transforms, &train)?,
            Transform::apply_all(&d.transforms, &test)?,
        )
    };
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

/// The samples of `d` whose label is in `classes`, relabelled by their position there.
fn keep_classes(d: &Dataset, classes: &[u32], base: &Path) -> Result<Dataset> {
    if let Some(&c) = classes.iter().find(|&&c| c as usize >= d.num_classes) {
        return Err(Error::Config {
            path: base.join("<config>"),
            msg: format!(
                "data.classes names class {c} but {} has {} classes (0 to {})",
                d.name,
                d.num_classes,
                d.num_classes.saturating_sub(1)
            ),
        });
    }
    let keep: Vec<usize> = (0..d.len())
        .filter(|&i| classes.contains(&d.y[i]))
        .collect();
    let mut out = d.subset(&keep, format!("{} (classes {classes:?})", d.name));
    for y in &mut out.y {
        *y = classes.iter().position(|c| c == y).expect("kept above") as u32;
    }
    out.num_classes = classes.len();
    out.class_names = Some(
        classes
            .iter()
            .map(|&c| match &d.class_names {
                Some(n) => n[c as usize].clone(),
                None => c.to_string(),
            })
            .collect(),
    );
    Ok(out)
}

/// Builds the network a config describes for the given data, starting from the weights of
/// `init_from` (any model reference with weights: a weights file of any format, a run folder,
/// a pretrained built-in; pretrained weights are looked for in `cache`).
pub fn build_network(
    cfg: &ExperimentConfig,
    base: &Path,
    cache: &Path,
    train: &Dataset,
) -> Result<Network> {
    let spec = cfg
        .model
        .build(&train.sample_shape, train.num_classes, base)?;
    let device = cfg.device.device()?;
    let mut net = Network::new(spec, cfg.seed, &device)?;
    if let Some(r) = &cfg.init_from {
        let (path, tensors) = r.tensors(&LoadContext::new(base, cache, device))?;
        net.load_state_dict(&tensors, true)
            .map_err(|e| Error::Checkpoint {
                path,
                msg: format!("{e} (the network of [model] does not fit `init_from = {r}`)"),
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
    let split = load_data_deferred(&cfg.data, cfg.seed, &base, &cache)?;
    let mut net = build_network(&cfg, &base, &cache, &split.train)?;
    let run = match &opts.resume {
        Some(dir) => RunDir::open(dir)?,
        None => {
            let root = opts
                .out_root
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs"));
            let run = RunDir::create(&root, &cfg.name)?;
            run.write_config(&cfg.to_toml()?)?;
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
        let remedy = format!(
            "train it again from its config (tlkit train {})",
            run.file(crate::run::CONFIG).display()
        );
        let ck =
            checkpoint::resume_point(&run.path, &remedy)?.ok_or_else(|| Error::Checkpoint {
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
        peak_memory_mib: crate::run::peak_memory_mib(),
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

/// Evaluates the network `model` names on the test split of its run's data (or of the named
/// `dataset`). See [`open_model`].
pub fn eval_model(
    model: &ModelRef,
    dataset: Option<&str>,
    base: &Path,
    cache: &Path,
) -> Result<(EvalResult, Dataset)> {
    let opened = open_model(model, dataset, base, cache)?;
    let mut net = opened.net;
    let r = evaluate(&mut net, &opened.test, opened.eval_batch_size)?;
    Ok((r, opened.test))
}

/// A network with the data to evaluate it on.
pub struct Opened {
    pub net: Network,
    /// The test split, transforms applied.
    pub test: Dataset,
    /// The run's `train.eval_batch_size` (default 512).
    pub eval_batch_size: usize,
}

/// The network `model` names (relative paths against `base`) and the test split of `dataset`,
/// or, for a run folder of any kind (train, finetune, ...), of the run's own `[data]`, with
/// its transforms (also applied to a named `dataset`), seed, device and eval batch size.
///
/// # Errors
/// [`Error::Model`] when no data is named (a reference other than a run folder needs
/// `dataset`) or the network does not take the data's samples; the errors of loading the
/// network and the data.
pub fn open_model(
    model: &ModelRef,
    dataset: Option<&str>,
    base: &Path,
    cache: &Path,
) -> Result<Opened> {
    let run = model.run_dir(base);
    let cfg = match &run {
        Some(dir) if dir.join("config.toml").is_file() => RunSettings::read(dir)?,
        _ => RunSettings::default(),
    };
    let mut data = match (dataset, cfg.data) {
        (None, Some(d)) => d,
        (Some(name), Some(d)) => DataConfig {
            dataset: Some(name.to_string()),
            train: None,
            test: None,
            ..d
        },
        (Some(name), None) => {
            let mut t = toml::Table::new();
            t.insert("dataset".into(), name.into());
            t.try_into().map_err(|e: toml::de::Error| Error::Unknown {
                kind: "dataset",
                name: name.into(),
                known: e.to_string(),
            })?
        }
        (None, None) => {
            // A reference that names nothing loadable says so before asking for data.
            model.spec(&LoadContext::new(base, cache, cfg.device.device()?))?;
            return Err(Error::Model {
                model: model.to_string(),
                msg: "names no data (only a run folder with a [data] table does); give a \
                      dataset (`--data NAME`)"
                    .into(),
            });
        }
    };
    // Only the test split is evaluated: keep the training split from being transformed.
    data.train_limit = Some(1);
    data.train_per_class = None;
    let data_base = run.clone().unwrap_or_else(|| base.to_path_buf());
    let split = load_data_deferred(&data, cfg.seed, &data_base, cache)?;
    let ctx = LoadContext::new(base, cache, cfg.device.device()?)
        .with_data(&split.test.sample_shape, split.test.num_classes);
    let net = model.network(&ctx)?;
    if net.spec().input_shape != split.test.sample_shape {
        return Err(Error::Model {
            model: model.to_string(),
            msg: format!(
                "the network takes {} samples but `{}` gives {}; evaluate it on data of its \
                 input shape (a run's [data] transforms are applied to a named dataset too)",
                crate::nn::fmt_shape(&net.spec().input_shape),
                split.test.name,
                crate::nn::fmt_shape(&split.test.sample_shape)
            ),
        });
    }
    Ok(Opened {
        net,
        test: split.test,
        eval_batch_size: cfg.eval_batch_size,
    })
}

/// What evaluating a run needs from its `config.toml`, whichever command wrote it: the
/// `[data]` table, the seed (`seed`, or the first of `seeds`), the device and
/// `train.eval_batch_size`. Read field by field, so that every kind of run folder serves.
struct RunSettings {
    data: Option<DataConfig>,
    seed: u64,
    device: DeviceKind,
    eval_batch_size: usize,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            data: None,
            seed: 0,
            device: DeviceKind::default(),
            eval_batch_size: TrainConfig::new(1, 1, crate::train::OptimizerConfig::adam(0.0))
                .eval_batch_size,
        }
    }
}

impl RunSettings {
    fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("config.toml");
        let table: toml::Table = crate::config::load_toml(&path)?;
        let field = |name: &str, e: toml::de::Error| Error::Config {
            path: path.clone(),
            msg: format!("`{name}`: {e}"),
        };
        let mut s = RunSettings::default();
        if let Some(d) = table.get("data") {
            s.data = Some(d.clone().try_into().map_err(|e| field("data", e))?);
        }
        let seed = table
            .get("seed")
            .or_else(|| table.get("seeds").and_then(|v| v.as_array()?.first()));
        if let Some(v) = seed {
            s.seed = v.clone().try_into().map_err(|e| field("seed", e))?;
        }
        if let Some(v) = table.get("device") {
            s.device = v.clone().try_into().map_err(|e| field("device", e))?;
        }
        if let Some(v) = table.get("train").and_then(|t| t.get("eval_batch_size")) {
            s.eval_batch_size = v
                .clone()
                .try_into()
                .map_err(|e| field("train.eval_batch_size", e))?;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference")
    }

    #[test]
    fn init_from_reads_a_torch_save_file_into_the_configs_network() {
        let mut cfg = ExperimentConfig::demo();
        cfg.model = ModelConfig::Spec {
            path: "small_cnn.toml".into(),
        };
        cfg.init_from = Some(ModelRef::parse("small_cnn.pt").unwrap());
        let data = data::optdigits_embedded().unwrap();
        let net = build_network(&cfg, &fixtures(), Path::new("/no-cache"), &data.train).unwrap();
        let torch = crate::weights::load_weights(fixtures().join("small_cnn.pt")).unwrap();
        assert_eq!(net.state_dict(), torch.tensors);

        // A start that does not fit [model] names both.
        cfg.model = ModelConfig::Mlp {
            hidden: vec![8],
            dropout: 0.0,
        };
        let e = build_network(&cfg, &fixtures(), Path::new("/no-cache"), &data.train)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("small_cnn.pt") && e.contains("does not fit `init_from"),
            "{e}"
        );
    }

    #[test]
    fn a_run_folder_of_another_command_evaluates_on_its_own_data() {
        // A run whose config is not an experiment (a fine-tune's has `seeds`, `pretrained`).
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixtures().join("small_cnn.toml"),
            dir.path().join("model.toml"),
        )
        .unwrap();
        let model = ModelRef::parse("small_cnn.pt")
            .unwrap()
            .with_spec(Some("small_cnn.toml".into()), vec![]);
        let (_, tensors) = model
            .unwrap()
            .tensors(&LoadContext::new(
                fixtures(),
                "/no-cache",
                crate::backend::Device::flex(),
            ))
            .unwrap();
        checkpoint::save_weights(&dir.path().join("weights.safetensors"), &tensors).unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "name = \"ft\"\nseeds = [3, 4]\n[pretrained]\nrun = \"elsewhere\"\n\
             [data]\ndataset = \"optdigits-embedded\"\ntest_limit = 50\n\
             [train]\neval_batch_size = 7\n",
        )
        .unwrap();
        let run = ModelRef::parse(dir.path().to_str().unwrap()).unwrap();
        let opened = open_model(&run, None, Path::new("."), Path::new("/no-cache")).unwrap();
        assert_eq!(opened.test.len(), 50);
        assert_eq!(opened.eval_batch_size, 7);
        assert_eq!(opened.net.state_dict(), tensors);
        // A named dataset replaces the run's.
        let e = open_model(
            &run,
            Some("no-such-set"),
            Path::new("."),
            Path::new("/no-cache"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("no-such-set"), "{e}");
    }
}
