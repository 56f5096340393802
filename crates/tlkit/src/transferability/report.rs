//! The negative-transfer report: do the scores predict what fine-tuning gives?
//!
//! Each candidate is scored ([`score_model`]) on the target's labelled samples, then
//! fine-tuned: its layers up to the scored one kept with their weights, a new linear head on
//! that layer (spatial outputs averaged first, as the score saw them), the whole network
//! trained. A scratch arm trains the same architecture (the first candidate's, or a named one)
//! from random initialisation with the same budget. Every arm runs once per seed through the
//! study runner, and the one [`Verdict`] rule judges each candidate against scratch. Last, the
//! rank correlations ([`kendall_tau`], [`weighted_tau`]) between each score and the fine-tuned
//! accuracy say how well the score ranked the candidates.
//!
//! ```text
//! runs/<name>-<time>/
//!   config.toml                    the report's settings, models and training budget
//!                                  (`--resume` reads it back: see [`resume`])
//!   <candidate>/seed-<n>/          the fine-tuned arm of each candidate, per seed
//!   scratch/seed-<n>/              the scratch arm
//!   summary.json                   ReportSummary
//!   plots/score_vs_accuracy_<score>.png
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::models::{fit_transforms, pick_layers};
use super::{Candidate, Score, ScoreOptions, kendall_tau, score_model, weighted_tau};
use crate::backend::Device;
use crate::config::DataConfig;
use crate::data::{Split, Transform};
use crate::experiment::load_data;
use crate::nn::{Edit, FeatureCache, LayerSpec, Network, Node};
use crate::run::RunDir;
use crate::study::{ArmStats, Cell, Folder, StudyOptions, Verdict};
use crate::train::{EpochRecord, TrainConfig, Trainer, evaluate};
use crate::weights::{LoadContext, ModelRef};
use crate::{Error, Result};

/// The arm every candidate is judged against.
pub const SCRATCH: &str = "scratch";
/// The name of the linear head put on the scored layer; distinct from any layer a network is
/// likely to have, so surgery never carries a source classifier's weights into it.
const HEAD: &str = "transfer_head";

/// What to report on, besides the candidates.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The study's name (its folder is `<name>-<time>`).
    pub name: String,
    /// The target: a dataset with `train_per_class` labelled samples per class, drawn per seed.
    pub data: DataConfig,
    pub seeds: Vec<u64>,
    /// Which layer (one per candidate) and which scores; see [`ScoreOptions`].
    pub score: ScoreOptions,
    /// The budget of every arm, fine-tuned and scratch alike.
    pub train: TrainConfig,
    /// The scratch arm's architecture; `None`: the first candidate's.
    pub scratch: Option<(Candidate, LoadContext)>,
}

/// The report's settings as written to `config.toml`, and read back to resume it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportConfig {
    name: String,
    seeds: Vec<u64>,
    layers: Vec<String>,
    scores: Vec<Score>,
    pool: bool,
    batch_size: usize,
    data: DataConfig,
    train: TrainConfig,
    scratch: ModelEntry,
    models: Vec<ModelEntry>,
}

/// A model of the report: its name, reference, and the folder its relative paths resolve in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    name: String,
    model: ModelRef,
    base: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layer: Option<String>,
}

impl ModelEntry {
    fn new((c, ctx): &(Candidate, LoadContext)) -> Self {
        ModelEntry {
            name: c.name.clone(),
            model: c.model.clone(),
            // Absolute, so that a resume from another folder finds the models; a zoo file in
            // the current folder has the empty parent.
            base: match ctx.base.as_os_str().is_empty() {
                true => std::path::absolute("."),
                false => std::path::absolute(&ctx.base),
            }
            .unwrap_or_else(|_| ctx.base.clone()),
            layer: c.layer.clone(),
        }
    }

    fn candidate(&self, cache: &Path, device: &Device) -> (Candidate, LoadContext) {
        let c = Candidate {
            layer: self.layer.clone(),
            ..Candidate::new(&self.name, self.model.clone())
        };
        (c, LoadContext::new(&self.base, cache, device.clone()))
    }
}

/// What one (arm, seed) run leaves as its `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmResult {
    /// Final test accuracy.
    pub accuracy: f64,
    /// Test accuracy after each epoch.
    pub curve: Vec<f64>,
    /// Seconds of training (with the per-epoch test passes), summed over its epochs; 0 in a
    /// `result.json` written before it was recorded.
    #[serde(default)]
    pub seconds: f64,
}

/// One candidate's line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateReport {
    pub name: String,
    pub model: String,
    /// The layer scored and given the new head.
    pub layer: String,
    pub scores: BTreeMap<String, Option<f64>>,
    pub score_seconds: f64,
    /// Seconds to fine-tune it once (mean over seeds; see [`ArmResult::seconds`]).
    pub finetune_seconds: f64,
    /// Fine-tuned test accuracy over seeds.
    pub finetuned: ArmStats,
    /// Against scratch.
    pub verdict: Verdict,
}

/// How well one score ranked the candidates by fine-tuned accuracy (mean over seeds).
#[derive(Debug, Clone, Serialize)]
pub struct RankAgreement {
    pub score: String,
    /// Candidates the score applies to (LEEP and NCE need a source classifier).
    pub candidates: usize,
    /// `None` when fewer than two candidates have the score or one side is constant.
    pub kendall_tau: Option<f64>,
    pub weighted_tau: Option<f64>,
}

/// What `summary.json` of a report holds.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub name: String,
    pub target: String,
    pub train_samples: usize,
    pub test_samples: usize,
    pub seeds: Vec<u64>,
    pub epochs: usize,
    pub scratch_model: String,
    pub scratch: ArmStats,
    /// Seconds to train the scratch arm once (mean over seeds).
    pub scratch_seconds: f64,
    pub candidates: Vec<CandidateReport>,
    pub rank_agreement: Vec<RankAgreement>,
    pub wall_seconds: f64,
}

/// A candidate's network ready for the target: loaded, its data transforms, the scored layer,
/// and the network cut after that layer with a new `classes`-way linear head.
struct Prepared {
    transforms: Vec<Transform>,
    layer: String,
    net: Network,
}

fn prepare(
    c: &Candidate,
    ctx: &LoadContext,
    split: &Split,
    opts: &ScoreOptions,
    seed: u64,
) -> Result<Prepared> {
    let train = &split.train;
    let ctx = ctx
        .clone()
        .with_data(&train.sample_shape, train.num_classes);
    let net = c.model.network(&ctx)?;
    let transforms = fit_transforms(&c.model, &net, train, &ctx)?;
    let layers = pick_layers(&net, &c.layer_globs(opts), &c.name)?;
    let [layer] = layers.as_slice() else {
        return Err(Error::Model {
            model: c.name.clone(),
            msg: format!(
                "the layer globs pick {} layers ({}); a report fine-tunes on one layer per \
                 model, so give a --layers glob that matches one",
                layers.len(),
                layers.join(", ")
            ),
        });
    };
    let shape = net
        .layers()
        .iter()
        .find(|l| &l.path == layer)
        .map(|l| l.output.clone())
        .unwrap_or_default();
    let mut edits = vec![Edit::TruncateAfter {
        path: layer.clone(),
    }];
    if shape.len() == 3 && opts.pool {
        edits.push(Edit::Append {
            layer: Node::anon(LayerSpec::AdaptiveAvgPool2d {
                output_size: [1, 1],
            }),
        });
    }
    if shape.len() != 1 {
        edits.push(Edit::Append {
            layer: Node::anon(LayerSpec::Flatten),
        });
    }
    edits.push(Edit::Append {
        layer: Node::named(
            HEAD,
            LayerSpec::Linear {
                in_features: None,
                out_features: train.num_classes,
                bias: true,
            },
        ),
    });
    let (net, _) = net.surgery(&edits, seed)?;
    Ok(Prepared {
        transforms,
        layer: layer.clone(),
        net,
    })
}

/// Trains `net` on the (transformed) split in `cell` and returns its final test accuracy.
fn train_arm(
    mut net: Network,
    transforms: &[Transform],
    split: &Split,
    train: &TrainConfig,
    seed: u64,
    cell: &Cell,
) -> Result<ArmResult> {
    let tr = Transform::apply_all(transforms, &split.train)?;
    let te = Transform::apply_all(transforms, &split.test)?;
    let trainer = Trainer::new(train.clone(), &net, seed)?;
    let mut trainer = cell.attach(trainer, &mut net)?;
    let report = trainer.fit(&mut net, &tr, Some(&te))?;
    let curve = report
        .history
        .iter()
        .filter_map(|r: &EpochRecord| r.valid_accuracy)
        .collect();
    Ok(ArmResult {
        accuracy: evaluate(&mut net, &te, train.eval_batch_size)?.accuracy,
        curve,
        seconds: report.history.iter().map(|r| r.seconds).sum(),
    })
}

/// Scores and fine-tunes every candidate, trains the scratch arm, and writes the report into
/// a new study folder under `out_root`. `cache` is the data and feature cache (`TLKIT_HOME`).
///
/// # Errors
/// No candidate, a candidate called `scratch` or twice the same name, no seed, a layer glob
/// that picks no layer or several, and the errors of loading, scoring and training.
pub fn run(
    candidates: &[(Candidate, LoadContext)],
    opts: &ReportOptions,
    out_root: &Path,
    cache: &Path,
    study_opts: &StudyOptions,
) -> Result<(RunDir, ReportSummary)> {
    check(candidates, opts)?;
    let scratch = opts.scratch.as_ref().unwrap_or(&candidates[0]);
    let config = ReportConfig {
        name: opts.name.clone(),
        seeds: opts.seeds.clone(),
        layers: opts.score.layers.clone(),
        scores: opts.score.scores.clone(),
        pool: opts.score.pool,
        batch_size: opts.score.batch_size,
        data: opts.data.clone(),
        train: opts.train.clone(),
        scratch: ModelEntry::new(scratch),
        models: candidates.iter().map(ModelEntry::new).collect(),
    };
    execute(&config, Folder::New(out_root), cache, study_opts)
}

/// Continues a killed report in its folder `dir`: finished (arm, seed) runs are read back, the
/// unfinished one continues from its last checkpoint, the rest are trained; the settings and
/// models are the folder's `config.toml`.
pub fn resume(
    dir: &Path,
    cache: &Path,
    study_opts: &StudyOptions,
) -> Result<(RunDir, ReportSummary)> {
    let (folder, config, _) = Folder::reopen(dir, dir, study_opts, |p: &Path| {
        crate::config::load_toml::<ReportConfig>(p)
    })?;
    execute(&config, folder, cache, study_opts)
}

fn execute(
    config: &ReportConfig,
    folder: Folder<'_>,
    cache: &Path,
    study_opts: &StudyOptions,
) -> Result<(RunDir, ReportSummary)> {
    let device = crate::backend::default_device()?;
    let candidates: Vec<(Candidate, LoadContext)> = config
        .models
        .iter()
        .map(|m| m.candidate(cache, &device))
        .collect();
    let (scratch_c, scratch_ctx) = &config.scratch.candidate(cache, &device);
    let opts = ReportOptions {
        name: config.name.clone(),
        data: config.data.clone(),
        seeds: config.seeds.clone(),
        score: ScoreOptions {
            layers: config.layers.clone(),
            scores: config.scores.clone(),
            pool: config.pool,
            batch_size: config.batch_size,
        },
        train: config.train.clone(),
        scratch: None,
    };
    check(&candidates, &opts)?;
    let opts = &opts;
    let base = &scratch_ctx.base;
    let splits: Vec<Split> = opts
        .seeds
        .iter()
        .map(|&s| load_data(&opts.data, s, base, cache))
        .collect::<Result<_>>()?;
    let first = &splits[0];
    // Prepare everything once before any training, so a bad layer or model fails at once.
    let mut prepared = vec![];
    for (c, ctx) in &candidates {
        prepared.push(prepare(c, ctx, first, &opts.score, opts.seeds[0])?);
    }
    let scratch_prep = prepare(scratch_c, scratch_ctx, first, &opts.score, opts.seeds[0])?;
    let study = folder
        .study(&opts.name, config, base)?
        .with_options(study_opts);
    let features = FeatureCache::in_home(cache);

    let mut scratch = vec![];
    for (&seed, split) in opts.seeds.iter().zip(&splits) {
        scratch.push(study.run_cell(SCRATCH, seed, |cell| {
            let net = Network::new(
                scratch_prep.net.spec().clone(),
                seed,
                scratch_prep.net.device(),
            )?;
            train_arm(
                net,
                &scratch_prep.transforms,
                split,
                &opts.train,
                seed,
                cell,
            )
        })?);
    }
    let scratch_seconds = mean_seconds(&scratch);
    let scratch = ArmStats::new(SCRATCH, scratch.iter().map(|r| r.accuracy).collect());

    let mut rows = vec![];
    for ((c, ctx), prep) in candidates.iter().zip(&prepared) {
        let score = ScoreOptions {
            layers: vec![globset::escape(&prep.layer)],
            ..opts.score.clone()
        };
        let scored = score_model(c, &first.train, &score, ctx, &features)?;
        let row = scored.into_iter().next().ok_or_else(|| Error::Model {
            model: c.name.clone(),
            msg: format!("layer `{}` gave no score", prep.layer),
        })?;
        let mut accuracy = vec![];
        for (&seed, split) in opts.seeds.iter().zip(&splits) {
            accuracy.push(study.run_cell(&c.name, seed, |cell| {
                // Each seed draws its own head.
                let net = prepare(c, ctx, split, &opts.score, seed)?.net;
                train_arm(net, &prep.transforms, split, &opts.train, seed, cell)
            })?);
        }
        let finetuned = ArmStats::new(&c.name, accuracy.iter().map(|r| r.accuracy).collect());
        let verdict = Verdict::compare(&finetuned, &scratch);
        rows.push(CandidateReport {
            name: c.name.clone(),
            model: c.model.to_string(),
            layer: prep.layer.clone(),
            scores: row.scores,
            score_seconds: row.seconds,
            finetune_seconds: mean_seconds(&accuracy),
            finetuned,
            verdict,
        });
    }
    let rank_agreement = agreement(&rows, opts)?;
    let summary = ReportSummary {
        name: opts.name.clone(),
        target: first.train.name.clone(),
        train_samples: first.train.len(),
        test_samples: first.test.len(),
        seeds: opts.seeds.clone(),
        epochs: opts.train.epochs,
        scratch_model: scratch_c.model.to_string(),
        scratch,
        scratch_seconds,
        candidates: rows,
        rank_agreement,
        wall_seconds: study.seconds(),
    };
    study.write_summary(&summary)?;
    plot_scores(&study.plots()?, &summary)?;
    Ok((study.into_dir(), summary))
}

fn mean_seconds(runs: &[ArmResult]) -> f64 {
    runs.iter().map(|r| r.seconds).sum::<f64>() / runs.len().max(1) as f64
}

fn check(candidates: &[(Candidate, LoadContext)], opts: &ReportOptions) -> Result<()> {
    let invalid = |field: &str, value: String, msg: &str| {
        Err(Error::Invalid {
            field: field.into(),
            value,
            msg: msg.into(),
        })
    };
    if candidates.is_empty() {
        return invalid(
            "models",
            "[]".into(),
            "name at least one model to fine-tune",
        );
    }
    if opts.seeds.is_empty() {
        return invalid("seeds", "[]".into(), "give at least one seed, e.g. 0,1,2");
    }
    let mut seen = std::collections::BTreeSet::new();
    for (c, _) in candidates {
        if c.name == SCRATCH {
            return invalid(
                "models",
                c.name.clone(),
                "`scratch` is the baseline arm's name; call the model something else",
            );
        }
        if !seen.insert(c.name.as_str()) {
            return invalid(
                "models",
                c.name.clone(),
                "named twice; give each model its own name",
            );
        }
        if c.name.contains(['/', '\\']) || c.name.starts_with('.') {
            return invalid(
                "models",
                c.name.clone(),
                "a model's name is a folder of the report; name it in a zoo file \
                 (`[models] name = \"reference\"`)",
            );
        }
    }
    Ok(())
}

/// Kendall's τ and the weighted τ of each score against the mean fine-tuned accuracy, over the
/// candidates the score applies to.
fn agreement(rows: &[CandidateReport], opts: &ReportOptions) -> Result<Vec<RankAgreement>> {
    let mut out = vec![];
    for s in &opts.score.scores {
        let (xs, ys): (Vec<f64>, Vec<f64>) = rows
            .iter()
            .filter_map(|r| {
                let v = r.scores.get(s.name()).copied().flatten()?;
                Some((v, r.finetuned.mean))
            })
            .unzip();
        let (kendall, weighted) = if xs.len() >= 2 {
            (kendall_tau(&xs, &ys)?, weighted_tau(&xs, &ys)?)
        } else {
            (None, None)
        };
        out.push(RankAgreement {
            score: s.name().to_string(),
            candidates: xs.len(),
            kendall_tau: kendall,
            weighted_tau: weighted,
        });
    }
    Ok(out)
}

/// One scatter per score: each candidate's score against its mean fine-tuned accuracy.
fn plot_scores(dir: &Path, s: &ReportSummary) -> Result<()> {
    let legend: Vec<String> = s.candidates.iter().map(|c| c.name.clone()).collect();
    for a in &s.rank_agreement {
        let (mut points, mut colours) = (vec![], vec![]);
        for (i, c) in s.candidates.iter().enumerate() {
            if let Some(v) = c.scores.get(&a.score).copied().flatten() {
                points.push((v, 100.0 * c.finetuned.mean));
                colours.push(i);
            }
        }
        if points.is_empty() {
            continue;
        }
        let tau = |t: Option<f64>| t.map_or("n/a".into(), |t| format!("{t:.2}"));
        crate::plot::scatter(
            &dir.join(format!("score_vs_accuracy_{}.png", a.score)),
            &format!(
                "{} vs fine-tuned accuracy (%): Kendall τ {}, weighted τ {}",
                a.score,
                tau(a.kendall_tau),
                tau(a.weighted_tau)
            ),
            &points,
            &colours,
            &vec![0; points.len()],
            &legend,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::train::checkpoint;

    fn candidate(name: &str, model: &str) -> Candidate {
        Candidate::new(name, ModelRef::parse(model).unwrap())
    }

    fn options(layers: &[&str]) -> ScoreOptions {
        ScoreOptions {
            layers: layers.iter().map(|l| l.to_string()).collect(),
            scores: vec![],
            pool: true,
            batch_size: 64,
        }
    }

    fn top_level(net: &Network) -> Vec<(String, &'static str)> {
        net.layers()
            .iter()
            .filter(|l| l.depth == 0)
            .map(|l| (l.path.clone(), l.kind))
            .collect()
    }

    /// The head goes on the scored layer, is fresh even where the source's classifier had the
    /// same shape, and the layers kept carry the source's weights.
    #[test]
    fn the_new_head_sits_on_the_scored_layer_and_starts_fresh() {
        let tmp = tempfile::tempdir().unwrap();
        let split = crate::data::optdigits_embedded().unwrap();
        // A source MLP for these digits (10 classes, so its classifier fits the new head's
        // shape), saved as weights + spec.
        let spec = crate::nn::zoo::mlp(&split.train.sample_shape, &[16], 10, 0.0);
        let source = Network::new(spec.clone(), 7, &Device::flex()).unwrap();
        checkpoint::save_weights(&tmp.path().join("w.safetensors"), &source.state_dict()).unwrap();
        std::fs::write(tmp.path().join("net.toml"), toml::to_string(&spec).unwrap()).unwrap();
        let c = Candidate::new(
            "src",
            toml::from_str::<BTreeMap<String, ModelRef>>(
                "m = { weights = \"w.safetensors\", spec = \"net.toml\" }",
            )
            .unwrap()
            .remove("m")
            .unwrap(),
        );
        let ctx = LoadContext::new(tmp.path(), tmp.path(), Device::flex());
        let p = prepare(&c, &ctx, &split, &options(&[]), 0).unwrap();
        assert_eq!(p.layer, "backbone");
        assert_eq!(
            top_level(&p.net),
            [
                ("backbone".to_string(), "sequential"),
                (HEAD.to_string(), "linear")
            ]
        );
        let (old, new) = (source.state_dict(), p.net.state_dict());
        assert_eq!(old["backbone.1.weight"], new["backbone.1.weight"]);
        assert_eq!(old["head.weight"].0, new[&format!("{HEAD}.weight")].0);
        assert_ne!(old["head.weight"], new[&format!("{HEAD}.weight")]);
        // Another seed draws another head on the same backbone.
        let q = prepare(&c, &ctx, &split, &options(&[]), 1).unwrap();
        assert_eq!(
            q.net.state_dict()["backbone.1.weight"],
            new["backbone.1.weight"]
        );
        assert_ne!(
            q.net.state_dict()[&format!("{HEAD}.weight")],
            new[&format!("{HEAD}.weight")]
        );
    }

    /// A conv layer's [C, H, W] output is averaged over space before the head, as it was
    /// scored; a glob that picks several layers is refused.
    #[test]
    fn a_conv_layer_is_pooled_before_the_head_and_one_layer_is_required() {
        // The digits at LeNet's 28×28.
        let digits = crate::data::optdigits_embedded().unwrap();
        let resize = [Transform::Resize {
            height: 28,
            width: 28,
        }];
        let split = Split {
            train: Transform::apply_all(&resize, &digits.train.subset(&[0, 1, 2], "few")).unwrap(),
            test: digits.test,
        };
        let ctx = LoadContext::new(".", ".", Device::flex());
        let c = candidate("lenet", "lenet");
        let net = c
            .model
            .network(&ctx.clone().with_data(&split.train.sample_shape, 10))
            .unwrap();
        let conv = net
            .layers()
            .iter()
            .find(|l| l.output.len() == 3)
            .expect("lenet has a conv layer")
            .clone();
        let p = prepare(&c, &ctx, &split, &options(&[&conv.path]), 0).unwrap();
        let kinds: Vec<&str> = top_level(&p.net).iter().map(|(_, k)| *k).collect();
        assert_eq!(
            kinds[kinds.len() - 3..],
            ["adaptive_avg_pool2d", "flatten", "linear"]
        );
        assert_eq!(p.net.output_shape(), [10]);
        let e = prepare(&c, &ctx, &split, &options(&["*"]), 0)
            .err()
            .expect("several layers")
            .to_string();
        assert!(
            e.contains("a report fine-tunes on one layer per model"),
            "{e}"
        );
    }

    /// A report stopped in the middle of a candidate's run and resumed ends with the numbers
    /// of an uninterrupted one, read from the folder's config alone.
    #[test]
    fn killed_report_resumes_to_the_same_numbers() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = LoadContext::new(tmp.path(), tmp.path(), Device::flex());
        let candidates = vec![
            (candidate("a", "mlp"), ctx.clone()),
            (candidate("b", "mlp"), ctx.clone()),
        ];
        let data: DataConfig = toml::from_str(
            "dataset = \"optdigits-embedded\"\ntrain_per_class = 5\ntest_limit = 200\n",
        )
        .unwrap();
        let opts = ReportOptions {
            name: "r".into(),
            data,
            seeds: vec![0, 1],
            score: ScoreOptions {
                scores: vec![Score::Logme],
                ..options(&[])
            },
            train: TrainConfig::new(2, 10, crate::train::OptimizerConfig::adam(0.003)),
            scratch: None,
        };
        let cache = tmp.path();
        let none = StudyOptions::default();
        let (_, full) = run(&candidates, &opts, &tmp.path().join("full"), cache, &none).unwrap();
        assert_eq!(full.scratch_model, "mlp");
        assert_eq!(full.rank_agreement[0].candidates, 2);

        // Scratch (4 epochs over both seeds) and `a` seed 0 finish; `a` seed 1 stops after
        // its first epoch.
        let stop = StudyOptions {
            stop_after_epochs: Some(7),
            ..StudyOptions::default()
        };
        let err = run(&candidates, &opts, &tmp.path().join("killed"), cache, &stop).unwrap_err();
        assert!(err.to_string().contains("stopped after 7 epochs"), "{err}");
        let dir = crate::study::runner::only_folder(&tmp.path().join("killed"));
        assert!(dir.join("a/seed-0/result.json").is_file());
        assert!(!dir.join("a/seed-1/result.json").exists());
        assert!(!dir.join("summary.json").exists());
        let (_, resumed) = resume(&dir, cache, &none).unwrap();
        assert_eq!(resumed.scratch.values, full.scratch.values);
        for (r, f) in resumed.candidates.iter().zip(&full.candidates) {
            assert_eq!(r.finetuned.values, f.finetuned.values, "{}", r.name);
            assert_eq!(r.scores, f.scores);
        }
        let lines = std::fs::read_to_string(dir.join("a/seed-1/metrics.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 2, "each epoch recorded once");
    }

    /// Models are recorded with an absolute folder, so a report resumes from anywhere; a zoo
    /// file in the current folder (the empty parent) is recorded as that folder.
    #[test]
    fn models_are_recorded_with_an_absolute_folder() {
        let c = candidate("a", "mlp");
        let here = std::env::current_dir().unwrap();
        for base in ["", "."] {
            let ctx = LoadContext::new(base, ".", Device::flex());
            let e = ModelEntry::new(&(c.clone(), ctx));
            assert!(e.base.is_absolute(), "{base:?}: {}", e.base.display());
            assert_eq!(e.base.canonicalize().unwrap(), here.canonicalize().unwrap());
        }
    }
}
