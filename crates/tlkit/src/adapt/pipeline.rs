//! `tlkit adapt`: train a network on a labelled source domain with unlabeled target data,
//! once per method and seed, and report target accuracy (per epoch and final, mean ± std over
//! seeds), the proxy A-distance of the features, and t-SNE plots of source vs target features.
//!
//! Every method of a run uses the same network, data, optimizer, schedule and budget, so the
//! numbers can be set side by side. Source-only is the same trainer without target data or
//! loss term (Transfer-Learning-Library's `source_only.py`); its plots are the "before
//! adaptation" picture.

use std::path::Path;

use serde::Serialize;

use super::arms::{SeedResult, build_network, train_cell};
use super::config::NAME;
use super::{AdaptConfig, Method, load_pair};
use crate::data::Split;
use crate::data::normalize::normalize_pair;
use crate::run::RunDir;
use crate::study::{ArmStats, Folder, StudyOptions, Verdict, mean_curve};
use crate::{Error, Result};

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
    /// The process's peak resident memory at the end ([`crate::run::peak_memory_mib`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_mib: Option<f64>,
}

/// Runs an adaptation experiment into a new run folder under `out_root`; relative paths in
/// the config resolve against `base`.
pub fn run(
    cfg: &AdaptConfig,
    out_root: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, AdaptSummary)> {
    let cfg = AdaptConfig {
        study: cfg.study.clone().or_name(NAME),
        ..cfg.clone()
    };
    execute(&cfg, Folder::New(out_root), base, cache, opts)
}

/// Continues an interrupted experiment in its run folder: (method, seed) runs that finished
/// are read back from their `result.json`, an unfinished one continues from its last
/// checkpoint, the rest are trained; then the summary and plots are written as by [`run`].
/// The config is the folder's `config.toml`; relative paths in it resolve against `base`.
pub fn resume(
    dir: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, AdaptSummary)> {
    let (folder, cfg, base) = Folder::reopen(dir, base, opts, AdaptConfig::load)?;
    execute(&cfg, folder, &base, cache, opts)
}

fn execute(
    cfg: &AdaptConfig,
    folder: Folder<'_>,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, AdaptSummary)> {
    let seeds = &cfg.study.seeds;
    cfg.study.check(&base.join("<config>"))?;
    if cfg.methods.is_empty() {
        return Err(Error::Config {
            path: base.join("<config>"),
            msg: "`methods` is empty".into(),
        });
    }
    let device = cfg.study.device.device()?;
    let load = |seed: u64| -> Result<(Split, Split)> {
        let (s, t) = load_pair(cfg, seed, base, cache)?;
        normalize_pair(cfg.normalize, &s, &t)
    };
    let first = load(seeds[0])?;
    // Check the network against the data before any training.
    build_network(cfg, &first.0.train, seeds[0], &device, base, cache)?;
    let per_epoch = if cfg.train.drop_last {
        first.0.train.len() / cfg.train.batch_size.max(1)
    } else {
        first.0.train.len().div_ceil(cfg.train.batch_size.max(1))
    };
    let mut cfg = cfg.clone();
    if let Some(n) = cfg.iterations {
        if per_epoch == 0 {
            return Err(Error::Config {
                path: base.join("<config>"),
                msg: format!(
                    "the source training set ({} images) is smaller than one batch ({}); lower train.batch_size",
                    first.0.train.len(),
                    cfg.train.batch_size
                ),
            });
        }
        cfg.train.epochs = n.div_ceil(per_epoch);
    }
    let cfg = &cfg;
    let study = folder.study(&cfg.study.name, cfg, base)?.with_options(opts);
    let plots = study.plots()?;
    let mut results: Vec<MethodSummary> = vec![];
    let mut arms = vec![];
    for &method in &cfg.methods {
        let mut runs: Vec<SeedResult> = vec![];
        for (i, &seed) in seeds.iter().enumerate() {
            runs.push(study.run_cell(method.as_str(), seed, |cell| {
                let (src, tgt) = if i == 0 { first.clone() } else { load(seed)? };
                let analysed = (i == 0).then_some(plots.as_path());
                train_cell(
                    cfg,
                    method,
                    seed,
                    (&src, &tgt),
                    cell,
                    analysed,
                    (base, cache),
                )
            })?);
        }
        let target = ArmStats::new(
            method.as_str(),
            runs.iter().map(|r| r.target_accuracy).collect(),
        );
        let sacc: Vec<f64> = runs.iter().map(|r| r.source_accuracy).collect();
        results.push(MethodSummary {
            method,
            target_mean: target.mean,
            target_std: target.std,
            source_mean: ArmStats::new("", sacc.clone()).mean,
            target_accuracy: target.values.clone(),
            source_accuracy: sacc,
            gain_over_source_only_points: None,
            proxy_a_distance: runs[0].proxy_a_distance,
            target_curve: mean_curve(&runs.iter().map(|r| &r.target_curve[..]).collect::<Vec<_>>()),
            seconds: runs.iter().map(|r| r.seconds).collect(),
        });
        arms.push(target);
    }
    let baseline = arms
        .iter()
        .find(|a| a.arm == Method::SourceOnly.as_str())
        .cloned();
    let mut verdict = vec![];
    for (r, arm) in results.iter_mut().zip(&arms) {
        verdict.push(match &baseline {
            _ if r.method == Method::Oracle => format!(
                "oracle (trained on the target's labels, the ceiling): target {}",
                arm.percent()
            ),
            Some(b) if r.method != Method::SourceOnly => {
                let v = Verdict::compare(arm, b);
                r.gain_over_source_only_points = Some(v.gain_points);
                format!("{} (target test accuracy)", v.line)
            }
            _ => format!(
                "{}: target {} over {} seed{}",
                arm.arm,
                arm.percent(),
                seeds.len(),
                if seeds.len() == 1 { "" } else { "s" }
            ),
        });
    }
    let curves: Vec<(String, Vec<f64>)> = results
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.target_curve.clone()))
        .collect();
    study.plot_curves(
        "target_accuracy.png",
        "Target test accuracy (mean over seeds)",
        "epoch",
        "accuracy",
        &curves,
    )?;
    let summary = AdaptSummary {
        name: cfg.study.name.clone(),
        source: first.0.train.name.clone(),
        target: first.1.train.name.clone(),
        source_train_samples: first.0.train.len(),
        target_train_samples: first.1.train.len(),
        target_test_samples: first.1.test.len(),
        seeds: seeds.clone(),
        iterations_per_run: per_epoch * cfg.train.epochs,
        methods: results,
        verdict,
        wall_seconds: study.seconds(),
        peak_memory_mib: crate::run::peak_memory_mib(),
    };
    study.write_summary(&summary)?;
    Ok((study.into_dir(), summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A study stopped during DANN's second epoch and resumed ends with the numbers of an
    /// uninterrupted one: source-only is read back, DANN (network, discriminator, both
    /// optimizers) continues from its checkpoint.
    #[test]
    fn killed_study_resumes_to_the_same_numbers() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg: AdaptConfig = toml::from_str(
            "methods = [\"source_only\", \"dann\"]\n\
             [source]\ndataset = \"optdigits-embedded\"\ntrain_limit = 320\ntest_limit = 100\n\
             transforms = [{ op = \"resize\", height = 16, width = 16 }]\n\
             [target]\ndataset = \"optdigits-embedded\"\ntest_limit = 100\n\
             transforms = [{ op = \"pad\", pixels = 4 }]\n\
             [train]\nepochs = 2\nbatch_size = 32\ndrop_last = true\n\
             optimizer = { name = \"sgd\", lr = 0.03, momentum = 0.9 }\n\
             [dann.adversary]\nhidden = 32\n\
             [analysis]\ntsne_points = 0\npad = false\n",
        )
        .unwrap();
        let base = tmp.path();
        let opts = StudyOptions::default();
        let (_, full) = run(&cfg, &base.join("full"), base, base, &opts).unwrap();
        let stop = StudyOptions {
            stop_after_epochs: Some(3),
            ..StudyOptions::default()
        };
        assert!(run(&cfg, &base.join("killed"), base, base, &stop).is_err());
        let dir = crate::study::runner::only_folder(&base.join("killed"));
        assert!(
            dir.join("dann/seed-0/checkpoints/last.safetensors")
                .is_file()
        );
        assert!(!dir.join("dann/seed-0/result.json").exists());
        let (_, resumed) = resume(&dir, base, base, &opts).unwrap();
        for (a, b) in full.methods.iter().zip(&resumed.methods) {
            assert_eq!(a.target_accuracy, b.target_accuracy, "{:?}", a.method);
            assert_eq!(a.source_accuracy, b.source_accuracy, "{:?}", a.method);
            assert_eq!(a.target_curve, b.target_curve, "{:?}", a.method);
        }
        assert_eq!(full.verdict, resumed.verdict);
    }
}
