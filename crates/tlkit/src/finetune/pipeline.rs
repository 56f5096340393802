//! `tlkit finetune`: start from pretrained weights, edit the network, fine-tune it with a
//! chosen strategy over several seeds, and compare with the same architecture trained from
//! scratch on the same budget, saying plainly when the transfer hurt.

use std::path::Path;

use serde::Serialize;

use super::arms::{CellResult, curve, prepare, probe, train_full};
use super::config::{NAME, check};
use super::{FinetuneConfig, Strategy};
use crate::data;
use crate::experiment::load_data_deferred;
use crate::nn::{FeatureCache, Network};
use crate::run::RunDir;
use crate::study::{ArmStats, Folder, StudyOptions, Verdict, mean_curve};
use crate::train::{checkpoint, evaluate};
use crate::weights::{PretrainedSource, load_pretrained};
use crate::{Error, Result};

/// What `summary.json` of a fine-tune holds.
#[derive(Debug, Clone, Serialize)]
pub struct FinetuneSummary {
    pub name: String,
    pub strategy: Strategy,
    pub train_samples: usize,
    pub test_samples: usize,
    pub seeds: Vec<u64>,
    pub pretrained_accuracy: Vec<f64>,
    pub pretrained_mean: f64,
    pub pretrained_std: f64,
    pub scratch_accuracy: Vec<f64>,
    pub scratch_mean: Option<f64>,
    pub scratch_std: Option<f64>,
    /// Epochs of the fine-tune and of the scratch comparison (when there is one).
    pub epochs: usize,
    pub scratch_epochs: Option<usize>,
    /// Test accuracy after each epoch, mean over seeds (empty with `valid_every = 0`).
    pub pretrained_curve: Vec<f64>,
    pub scratch_curve: Vec<f64>,
    /// Pretrained minus scratch mean accuracy, in points.
    pub transfer_gain_points: Option<f64>,
    pub verdict: String,
    /// Seconds spent computing backbone features (linear probe: the test set once, each seed's
    /// training subset), and the mean seconds of one probe epoch on the cached features.
    pub feature_seconds: Option<f64>,
    pub probe_epoch_seconds: Option<f64>,
    pub wall_seconds: f64,
    /// The process's peak resident memory at the end ([`crate::run::peak_memory_mib`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_mib: Option<f64>,
}

fn load_source(
    src: &PretrainedSource,
    cfg: &FinetuneConfig,
    base: &Path,
    cache: &Path,
) -> Result<Network> {
    load_pretrained(src, &cfg.study.device.device()?, base, cache)
}

/// Runs a fine-tuning study into a new folder under `out_root`; relative paths in the config
/// resolve against `base`.
pub fn run(
    cfg: &FinetuneConfig,
    out_root: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, FinetuneSummary)> {
    let cfg = FinetuneConfig {
        study: cfg.study.clone().or_name(NAME),
        ..cfg.clone()
    };
    execute(&cfg, Folder::New(out_root), base, cache, opts)
}

/// Continues a killed study in its folder: finished (arm, seed) runs are read back, the
/// unfinished one continues from its last checkpoint (a linear probe, a few seconds of
/// training, starts over), the rest are trained. The config is the folder's `config.toml`.
pub fn resume(
    dir: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, FinetuneSummary)> {
    let (folder, cfg, base) = Folder::reopen(dir, base, opts, FinetuneConfig::load)?;
    execute(&cfg, folder, &base, cache, opts)
}

/// The split of `seed`: the first seed's, loaded for the checks, or loaded now.
fn split_of<'a>(
    slot: &'a mut Option<data::Split>,
    cfg: &FinetuneConfig,
    seed: u64,
    base: &Path,
    cache: &Path,
) -> Result<&'a data::Split> {
    if slot.is_none() {
        *slot = Some(load_data_deferred(&cfg.data, seed, base, cache)?);
    }
    Ok(slot.as_ref().expect("loaded above"))
}

fn execute(
    cfg: &FinetuneConfig,
    folder: Folder<'_>,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, FinetuneSummary)> {
    let seeds = &cfg.study.seeds;
    check(cfg, &base.join("<config>"))?;
    let first_split = load_data_deferred(&cfg.data, seeds[0], base, cache)?;
    let classes = first_split.train.num_classes;
    let source = load_source(&cfg.pretrained, cfg, base, cache)?;
    // Check the whole edit before any training; the first seed reuses this network.
    let first_net = prepare(&source, cfg, classes, seeds[0])?;
    let spec = first_net.0.spec().clone();
    let device = first_net.0.device().clone();
    if spec.input_shape != first_split.train.sample_shape {
        return Err(Error::Spec(format!(
            "the pretrained network takes {} samples but the data gives {}; add transforms (resize, to_rgb, normalize) under [data]",
            crate::nn::fmt_shape(&spec.input_shape),
            crate::nn::fmt_shape(&first_split.train.sample_shape)
        )));
    }
    let study = folder.study(&cfg.study.name, cfg, base)?.with_options(opts);
    let (train_samples, test_samples) = (first_split.train.len(), first_split.test.len());
    let scratch_epochs = cfg.finetune.scratch_epochs.unwrap_or(cfg.train.epochs);
    if cfg.train.epochs == 0 {
        tracing::warn!("train.epochs = 0: the fine-tuned network is evaluated only, not trained");
    }
    let mut first = Some((first_net, first_split));
    let features = FeatureCache::in_home(cache);
    let (mut pre, mut scratch) = (vec![], vec![]);
    for (i, &seed) in seeds.iter().enumerate() {
        // Each seed draws its own few-shot subset (and head initialisation); the test set is
        // the same for all.
        let (mut prepared, mut split) = match first.take() {
            Some((net, split)) => (Some(net), Some(split)),
            None => (None, None),
        };
        pre.push(study.run_cell("pretrained", seed, |cell| {
            let split = split_of(&mut split, cfg, seed, base, cache)?;
            let (mut net, kept) = match prepared.take() {
                Some(p) => p,
                None => prepare(&source, cfg, classes, seed)?,
            };
            let r = match cfg.finetune.strategy {
                Strategy::LinearProbe => probe(&mut net, cfg, split, seed, &features)?,
                Strategy::Full => {
                    let (trained, history) = train_full(net, cfg, Some(&kept), split, seed, cell)?;
                    net = trained;
                    CellResult {
                        accuracy: evaluate(&mut net, &split.test, cfg.train.eval_batch_size)?
                            .accuracy,
                        curve: curve(&history),
                        feature_seconds: None,
                        probe_epoch_seconds: None,
                    }
                }
            };
            if i == 0 {
                let run = study.dir();
                checkpoint::save_weights(&run.file("weights.safetensors"), &net.state_dict())?;
                run.write(
                    "model.toml",
                    &toml::to_string_pretty(net.spec()).map_err(|e| Error::Spec(e.to_string()))?,
                )?;
            }
            Ok(r)
        })?);
        if cfg.finetune.compare_scratch {
            scratch.push(study.run_cell("scratch", seed, |cell| {
                let split = split_of(&mut split, cfg, seed, base, cache)?;
                let net = Network::new(spec.clone(), seed, &device)?;
                let mut budget = cfg.clone();
                budget.train.epochs = scratch_epochs;
                let (mut net, history) = train_full(net, &budget, None, split, seed, cell)?;
                Ok(CellResult {
                    accuracy: evaluate(&mut net, &split.test, cfg.train.eval_batch_size)?.accuracy,
                    curve: curve(&history),
                    feature_seconds: None,
                    probe_epoch_seconds: None,
                })
            })?);
        }
    }
    let stats = |arm: &str, cells: &[CellResult]| {
        ArmStats::new(arm, cells.iter().map(|c| c.accuracy).collect())
    };
    let pm = stats("pretrained", &pre);
    let sm = (!scratch.is_empty()).then(|| stats("scratch", &scratch));
    let budget_note = if scratch_epochs == cfg.train.epochs {
        String::new()
    } else {
        format!(
            "; scratch trained {scratch_epochs} epochs, the fine-tune {}",
            cfg.train.epochs
        )
    };
    let judged = sm.as_ref().map(|s| Verdict::compare(&pm, s));
    let mut verdict = match &judged {
        Some(v) => v.line.clone() + &budget_note,
        None => format!(
            "pretrained: {} over {} seeds (no scratch comparison requested)",
            pm.percent(),
            seeds.len()
        ),
    };
    if cfg.train.epochs == 0 {
        verdict += "; train.epochs = 0: evaluated only, nothing was trained";
    }
    let curves =
        |cells: &[CellResult]| mean_curve(&cells.iter().map(|c| &c.curve[..]).collect::<Vec<_>>());
    let feature_seconds = pre
        .iter()
        .filter_map(|c| c.feature_seconds)
        .reduce(|a, b| a + b);
    let summary = FinetuneSummary {
        name: cfg.study.name.clone(),
        strategy: cfg.finetune.strategy,
        train_samples,
        test_samples,
        seeds: seeds.clone(),
        pretrained_mean: pm.mean,
        pretrained_std: pm.std,
        pretrained_accuracy: pm.values,
        scratch_accuracy: sm.as_ref().map(|s| s.values.clone()).unwrap_or_default(),
        scratch_mean: sm.as_ref().map(|s| s.mean),
        scratch_std: sm.as_ref().map(|s| s.std),
        epochs: cfg.train.epochs,
        scratch_epochs: cfg.finetune.compare_scratch.then_some(scratch_epochs),
        pretrained_curve: curves(&pre),
        scratch_curve: curves(&scratch),
        transfer_gain_points: judged.map(|v| v.gain_points),
        verdict,
        feature_seconds,
        probe_epoch_seconds: pre.last().and_then(|c| c.probe_epoch_seconds),
        wall_seconds: study.seconds(),
        peak_memory_mib: crate::run::peak_memory_mib(),
    };
    study.write_summary(&summary)?;
    study.plot_curves(
        "finetune_vs_scratch.png",
        "Test accuracy",
        "epoch",
        "accuracy",
        &[
            (
                "pretrained (mean over seeds)".into(),
                summary.pretrained_curve.clone(),
            ),
            (
                "scratch (mean over seeds)".into(),
                summary.scratch_curve.clone(),
            ),
        ],
    )?;
    Ok((study.into_dir(), summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A randomly initialised MLP saved as weights + spec in `dir`: a stand-in pretrained
    /// network for tests of the study machinery.
    fn saved_mlp(dir: &Path) {
        let data = crate::data::optdigits_embedded().unwrap();
        let spec = crate::nn::zoo::mlp(&data.train.sample_shape, &[32], 10, 0.0);
        let net = Network::new(spec.clone(), 1, &crate::backend::Device::flex()).unwrap();
        checkpoint::save_weights(&dir.join("w.safetensors"), &net.state_dict()).unwrap();
        std::fs::write(dir.join("net.toml"), toml::to_string_pretty(&spec).unwrap()).unwrap();
    }

    /// A study stopped in the middle of a scratch run (after 4 of its 12 epochs) and resumed
    /// ends with the numbers of an uninterrupted one; the finished run is read back.
    #[test]
    fn killed_study_resumes_to_the_same_numbers() {
        let tmp = tempfile::tempdir().unwrap();
        saved_mlp(tmp.path());
        let cfg: FinetuneConfig = toml::from_str(
            "seeds = [0, 1]\n[pretrained]\nweights = \"w.safetensors\"\nspec = \"net.toml\"\n\
             [data]\ndataset = \"optdigits-embedded\"\ntrain_per_class = 5\n\
             [finetune]\nhead = \"head\"\ncompare_scratch = true\n\
             [train]\nepochs = 3\nbatch_size = 10\n[train.optimizer]\nname = \"adam\"\nlr = 0.003\n",
        )
        .unwrap();
        let base = tmp.path();
        let opts = StudyOptions::default();
        let (_, full) = run(&cfg, &base.join("full"), base, base, &opts).unwrap();

        let stop = StudyOptions {
            stop_after_epochs: Some(4),
            ..StudyOptions::default()
        };
        let err = run(&cfg, &base.join("killed"), base, base, &stop).unwrap_err();
        assert!(err.to_string().contains("stopped after 4 epochs"), "{err}");
        let dir = crate::study::runner::only_folder(&base.join("killed"));
        assert!(dir.join("pretrained/seed-0/result.json").is_file());
        assert!(!dir.join("scratch/seed-0/result.json").exists());
        assert!(
            dir.join("scratch/seed-0/checkpoints/last.safetensors")
                .is_file()
        );
        assert!(!dir.join("summary.json").exists());

        let (_, resumed) = resume(&dir, Path::new("elsewhere"), base, &opts).unwrap();
        assert_eq!(resumed.pretrained_accuracy, full.pretrained_accuracy);
        assert_eq!(resumed.scratch_accuracy, full.scratch_accuracy);
        assert_eq!(resumed.pretrained_curve, full.pretrained_curve);
        assert_eq!(resumed.scratch_curve, full.scratch_curve);
        assert_eq!(resumed.verdict, full.verdict);
        let lines = std::fs::read_to_string(dir.join("scratch/seed-0/metrics.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 3, "each epoch recorded once");
    }

    /// `epochs = 0` evaluates the prepared network only, and the verdict says so.
    #[test]
    fn zero_epochs_evaluates_only_and_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        saved_mlp(tmp.path());
        let cfg: FinetuneConfig = toml::from_str(
            "seeds = [0]\n[pretrained]\nweights = \"w.safetensors\"\nspec = \"net.toml\"\n\
             [data]\ndataset = \"optdigits-embedded\"\ntrain_per_class = 5\n\
             [finetune]\nhead = \"head\"\n\
             [train]\nepochs = 0\nbatch_size = 10\n[train.optimizer]\nname = \"adam\"\nlr = 0.003\n",
        )
        .unwrap();
        let base = tmp.path();
        let (dir, s) = run(
            &cfg,
            &base.join("out"),
            base,
            base,
            &StudyOptions::default(),
        )
        .unwrap();
        assert!(
            s.verdict.contains("train.epochs = 0: evaluated only"),
            "{}",
            s.verdict
        );
        assert!(s.pretrained_curve.is_empty());
        let source = load_source(&cfg.pretrained, &cfg, base, base).unwrap();
        let (net, kept) = prepare(&source, &cfg, 10, 0).unwrap();
        let saved = checkpoint::load(&dir.file("weights.safetensors")).unwrap();
        assert_eq!(
            saved.model,
            net.state_dict(),
            "the saved network is the prepared one, untrained"
        );
        // The head has the data's 10 classes, as the source's did, and is still new (seeded);
        // the backbone is the source's.
        let (old, new) = (source.state_dict(), net.state_dict());
        assert!(!kept.iter().any(|p| p.starts_with("head.")), "{kept:?}");
        assert_ne!(old["head.weight"], new["head.weight"]);
        let fresh = Network::new(net.spec().clone(), 0, net.device()).unwrap();
        assert_eq!(fresh.state_dict()["head.weight"], new["head.weight"]);
        assert_eq!(old["backbone.1.weight"], new["backbone.1.weight"]);
        // A surgery that leaves 32 outputs for 10 classes is an error, not a 32-way classifier.
        let mut cut = cfg.clone();
        cut.surgery = vec![crate::nn::Edit::Delete {
            path: "head".into(),
        }];
        let err = prepare(&source, &cut, 10, 0).unwrap_err().to_string();
        assert!(
            err.contains("gives 32 outputs for data of 10 classes"),
            "{err}"
        );
    }

    /// Every top-level key a fine-tuning config writes is one `load` knows.
    #[test]
    fn top_level_keys_are_known() {
        let mut cfg = FinetuneConfig::demo(Path::new("r"));
        cfg.surgery = vec![crate::nn::Edit::Delete { path: "x".into() }];
        let t: toml::Table = toml::from_str(&toml::to_string_pretty(&cfg).unwrap()).unwrap();
        assert!(t.contains_key("surgery"));
        for k in t.keys() {
            assert!(
                ["name", "seeds", "device"].contains(&k.as_str())
                    || FinetuneConfig::KEYS.contains(&k.as_str()),
                "{k}"
            );
        }
    }
}
