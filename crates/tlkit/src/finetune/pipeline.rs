//! `tlkit finetune`: start from pretrained weights, edit the network, fine-tune it with a
//! chosen strategy over several seeds, and compare with the same architecture trained from
//! scratch on the same budget, saying plainly when the transfer hurt.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{GradualUnfreeze, L2Sp, linear_probe};
use crate::backend::DeviceKind;
use crate::config::DataConfig;
use crate::data::{self, Dataset};
use crate::experiment::load_data;
use crate::nn::features::extract_features;
use crate::nn::{Edit, LayerSpec, Network, Node, Selector};
use crate::plot::{self, Series};
use crate::run::RunDir;
use crate::train::{EpochRecord, ParamGroup, TrainConfig, Trainer, checkpoint, evaluate};
use crate::weights::{PretrainedSource, load_pretrained};
use crate::{Error, Result};

fn default_seeds() -> Vec<u64> {
    vec![0]
}
fn one() -> f64 {
    1.0
}
fn name() -> String {
    "finetune".into()
}

/// How to fine-tune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Frozen backbone; its features are computed once and a linear head is trained on them.
    LinearProbe,
    /// Train the whole network (minus `freeze`), backbone at `backbone_lr_mult` × lr.
    #[default]
    Full,
}

/// L2-SP strengths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2SpConfig {
    pub alpha: f64,
    pub beta: f64,
}

/// Gradual unfreezing: `groups` (globs, from the head down) unfrozen one every `every` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnfreezeConfig {
    pub every: usize,
    pub groups: Vec<Vec<String>>,
}

/// The `[finetune]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSettings {
    #[serde(default)]
    pub strategy: Strategy,
    /// The pretrained classifier layer, replaced by a new linear layer with the data's classes.
    pub head: String,
    /// Layer whose output the head reads (for the linear probe); default: the top-level layer
    /// before `head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_layer: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<String>,
    #[serde(default = "one")]
    pub backbone_lr_mult: f64,
    #[serde(default)]
    pub freeze_bn: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2sp: Option<L2SpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfreeze: Option<UnfreezeConfig>,
    /// Also train the same architecture from random initialisation with the same budget.
    #[serde(default)]
    pub compare_scratch: bool,
    /// Epochs of the scratch comparison; default: the fine-tune's `train.epochs`. A network
    /// from random initialisation usually needs more steps than a pretrained one, so a longer
    /// scratch budget is the fairer baseline (the summary states both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch_epochs: Option<usize>,
}

/// A fine-tuning experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneConfig {
    #[serde(default = "name")]
    pub name: String,
    /// One fine-tune (and one scratch run) per seed.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub device: DeviceKind,
    pub pretrained: PretrainedSource,
    pub data: DataConfig,
    /// Further edits, applied after the head is replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surgery: Vec<Edit>,
    pub finetune: FinetuneSettings,
    pub train: TrainConfig,
}

impl FinetuneConfig {
    /// Reads a config file; unknown keys are errors naming the key and line.
    pub fn load(path: &Path) -> Result<Self> {
        crate::config::load_toml(path)
    }
}

/// Mean and sample (n − 1) standard deviation of per-seed results (0 spread for one value,
/// 0 for none).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

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
}

fn load_source(
    src: &PretrainedSource,
    cfg: &FinetuneConfig,
    base: &Path,
    cache: &Path,
) -> Result<Network> {
    load_pretrained(src, &cfg.device.device()?, base, cache)
}

/// Replaces the head and applies the config's edits, with the new layers drawn from `seed`.
fn prepare(
    base: &Network,
    cfg: &FinetuneConfig,
    classes: usize,
    seed: u64,
) -> Result<(Network, Vec<String>)> {
    let mut edits = vec![Edit::Replace {
        path: cfg.finetune.head.clone(),
        layer: Node::anon(LayerSpec::Linear {
            in_features: None,
            out_features: classes,
            bias: true,
        }),
    }];
    edits.extend(cfg.surgery.iter().cloned());
    let (net, report) = base.surgery(&edits, seed)?;
    Ok((net, report.kept))
}

fn train_full(
    mut net: Network,
    cfg: &FinetuneConfig,
    pretrained: Option<&[String]>,
    split: &data::Split,
    seed: u64,
) -> Result<(Network, Vec<EpochRecord>)> {
    let f = &cfg.finetune;
    let mut tc = cfg.train.clone();
    if let Some(kept) = pretrained {
        if !f.freeze.is_empty() {
            net.freeze(&Selector::new(&f.freeze)?)?;
        }
        net.set_frozen_bn(f.freeze_bn);
        if f.backbone_lr_mult != 1.0 {
            let head = Selector::new(&[format!("{}.*", globset::escape(&f.head))])?;
            let backbone: Vec<String> = kept
                .iter()
                .filter(|p| !head.matches(p))
                .map(|p| globset::escape(p))
                .collect();
            tc.optimizer.groups.insert(
                0,
                ParamGroup {
                    params: backbone,
                    lr_mult: f.backbone_lr_mult,
                    weight_decay: None,
                },
            );
        }
    }
    let mut trainer = Trainer::new(tc, &net, seed)?;
    if let Some(kept) = pretrained {
        if let Some(l) = &f.l2sp {
            trainer = trainer.with_term(Box::new(L2Sp::new(&net, kept, l.alpha, l.beta)));
        }
        if let Some(u) = &f.unfreeze {
            trainer = trainer.with_hook(Box::new(GradualUnfreeze::new(&u.groups, u.every)?));
        }
    }
    let report = trainer.fit(&mut net, &split.train, Some(&split.test))?;
    Ok((net, report.history))
}

/// Runs a fine-tuning experiment into a new run folder under `out_root`.
pub fn run(
    cfg: &FinetuneConfig,
    out_root: &Path,
    base: &Path,
    cache: &Path,
) -> Result<(RunDir, FinetuneSummary)> {
    let start = Instant::now();
    if cfg.seeds.is_empty() {
        return Err(Error::Config {
            path: base.join("<config>"),
            msg: "`seeds` is empty".into(),
        });
    }
    match (cfg.finetune.scratch_epochs, cfg.finetune.compare_scratch) {
        (Some(0), _) => {
            return Err(Error::Config {
                path: base.join("<config>"),
                msg: "`finetune.scratch_epochs` is 0; give at least 1 epoch".into(),
            });
        }
        (Some(_), false) => {
            return Err(Error::Config {
                path: base.join("<config>"),
                msg: "`finetune.scratch_epochs` is set but `compare_scratch` is false; \
                      set `compare_scratch = true` or remove `scratch_epochs`"
                    .into(),
            });
        }
        _ => {}
    }
    let split = load_data(&cfg.data, cfg.seeds[0], base, cache)?;
    let classes = split.train.num_classes;
    let source = load_source(&cfg.pretrained, cfg, base, cache)?;
    // Check the whole edit before any training; the first seed reuses this network.
    let first_net = prepare(&source, cfg, classes, cfg.seeds[0])?;
    let input_shape = first_net.0.spec().input_shape.clone();
    let mut first = Some(first_net);
    if input_shape != split.train.sample_shape {
        return Err(Error::Spec(format!(
            "the pretrained network takes {} samples but the data gives {}; add transforms (resize, to_rgb, normalize) under [data]",
            crate::nn::fmt_shape(&input_shape),
            crate::nn::fmt_shape(&split.train.sample_shape)
        )));
    }
    let run = RunDir::create(out_root, &cfg.name)?;
    let text = toml::to_string_pretty(cfg).map_err(|e| Error::Spec(e.to_string()))?;
    run.write("config.toml", &text)?;

    let mut pre_acc = vec![];
    let mut scratch_acc = vec![];
    let mut pre_curves: Vec<Vec<f64>> = vec![];
    let mut scratch_curves: Vec<Vec<f64>> = vec![];
    let scratch_epochs = cfg.finetune.scratch_epochs.unwrap_or(cfg.train.epochs);
    let (mut feature_seconds, mut probe_epoch_seconds) = (None, None);
    let mut cached: Option<Dataset> = None;
    for (i, &seed) in cfg.seeds.iter().enumerate() {
        // Each seed draws its own few-shot subset (and head initialisation); the test set is
        // the same for all.
        let split = if i == 0 {
            split.clone()
        } else {
            load_data(&cfg.data, seed, base, cache)?
        };
        let (mut net, kept) = match first.take() {
            Some(prepared) => prepared,
            None => prepare(&source, cfg, classes, seed)?,
        };
        let (acc, curve) = match cfg.finetune.strategy {
            Strategy::LinearProbe => {
                let layer = probe_layer(&net, cfg)?;
                let t = Instant::now();
                if cached.is_none() {
                    let bs = cfg.train.eval_batch_size;
                    cached = Some(extract_features(&mut net, &split.test, &layer, bs, true)?);
                }
                let bs = cfg.train.eval_batch_size;
                let tr = extract_features(&mut net, &split.train, &layer, bs, true)?;
                let te = cached.as_ref().expect("test features cached above");
                *feature_seconds.get_or_insert(0.0) += t.elapsed().as_secs_f64();
                let tr = &tr;
                let (head, report) =
                    linear_probe(tr, Some(te), cfg.train.clone(), seed, net.device())?;
                probe_epoch_seconds = Some(
                    report.history.iter().map(|r| r.seconds).sum::<f64>()
                        / report.history.len().max(1) as f64,
                );
                for p in ["weight", "bias"] {
                    let v = head
                        .slot(&format!("head.{p}"))
                        .expect("probe head has weight and bias")
                        .value
                        .clone();
                    net.set_values(
                        &format!("{}.{p}", cfg.finetune.head),
                        crate::backend::plain(v),
                    )?;
                }
                let curve = report
                    .history
                    .iter()
                    .filter_map(|r| r.valid_accuracy)
                    .collect();
                (
                    report
                        .history
                        .last()
                        .and_then(|r| r.valid_accuracy)
                        .unwrap_or(0.0),
                    curve,
                )
            }
            Strategy::Full => {
                let (trained, history) = train_full(net, cfg, Some(&kept), &split, seed)?;
                net = trained;
                let curve = history.iter().filter_map(|r| r.valid_accuracy).collect();
                (
                    evaluate(&mut net, &split.test, cfg.train.eval_batch_size)?.accuracy,
                    curve,
                )
            }
        };
        if i == 0 {
            checkpoint::save_weights(&run.file("weights.safetensors"), &net.state_dict())?;
            run.write(
                "model.toml",
                &toml::to_string_pretty(net.spec()).map_err(|e| Error::Spec(e.to_string()))?,
            )?;
        }
        pre_acc.push(acc);
        pre_curves.push(curve);
        if cfg.finetune.compare_scratch {
            let scratch = Network::new(net.spec().clone(), seed, net.device())?;
            let mut budget = cfg.clone();
            budget.train.epochs = scratch_epochs;
            let (mut scratch, history) = train_full(scratch, &budget, None, &split, seed)?;
            scratch_acc
                .push(evaluate(&mut scratch, &split.test, cfg.train.eval_batch_size)?.accuracy);
            scratch_curves.push(history.iter().filter_map(|r| r.valid_accuracy).collect());
        }
    }
    let (pm, ps) = mean_std(&pre_acc);
    let scratch = (!scratch_acc.is_empty()).then(|| mean_std(&scratch_acc));
    let mean_curve = |curves: &[Vec<f64>]| -> Vec<f64> {
        let n = curves.iter().map(Vec::len).min().unwrap_or(0);
        (0..n)
            .map(|e| curves.iter().map(|c| c[e]).sum::<f64>() / curves.len() as f64)
            .collect()
    };
    let budget_note = if scratch_epochs == cfg.train.epochs {
        String::new()
    } else {
        format!(
            "; scratch trained {scratch_epochs} epochs, the fine-tune {}",
            cfg.train.epochs
        )
    };
    let gain = scratch.map(|(sm, _)| 100.0 * (pm - sm));
    let verdict = match (gain, scratch) {
        (Some(g), Some((_, ss))) if g < 0.0 => {
            format!(
                "NEGATIVE TRANSFER: the pretrained start is {:.2} points worse than training from scratch ({:.2}% ± {:.2} vs {:.2}% ± {:.2} over {} seeds)",
                -g,
                100.0 * pm,
                100.0 * ps,
                100.0 * (pm - g / 100.0),
                100.0 * ss,
                cfg.seeds.len()
            ) + &budget_note
        }
        (Some(g), Some((sm, ss))) => format!(
            "positive transfer: the pretrained start is {g:.2} points better than training from scratch ({:.2}% ± {:.2} vs {:.2}% ± {:.2} over {} seeds){}{budget_note}",
            100.0 * pm,
            100.0 * ps,
            100.0 * sm,
            100.0 * ss,
            cfg.seeds.len(),
            if g.abs() < 100.0 * (ps + ss) {
                "; the gap is within one standard deviation, so treat it as uncertain"
            } else {
                ""
            }
        ),
        _ => format!(
            "fine-tuned: {:.2}% ± {:.2} over {} seeds (no scratch comparison requested)",
            100.0 * pm,
            100.0 * ps,
            cfg.seeds.len()
        ),
    };
    let summary = FinetuneSummary {
        name: cfg.name.clone(),
        strategy: cfg.finetune.strategy,
        train_samples: split.train.len(),
        test_samples: split.test.len(),
        seeds: cfg.seeds.clone(),
        pretrained_accuracy: pre_acc,
        pretrained_mean: pm,
        pretrained_std: ps,
        scratch_accuracy: scratch_acc,
        scratch_mean: scratch.map(|s| s.0),
        scratch_std: scratch.map(|s| s.1),
        epochs: cfg.train.epochs,
        scratch_epochs: cfg.finetune.compare_scratch.then_some(scratch_epochs),
        pretrained_curve: mean_curve(&pre_curves),
        scratch_curve: mean_curve(&scratch_curves),
        transfer_gain_points: gain,
        verdict,
        feature_seconds,
        probe_epoch_seconds,
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    run.write_json("summary.json", &summary)?;
    let mut series = vec![];
    for (label, curves) in [
        ("pretrained (mean over seeds)", &pre_curves),
        ("scratch (mean over seeds)", &scratch_curves),
    ] {
        let ys = mean_curve(curves);
        if !ys.is_empty() {
            series.push(Series {
                name: label.into(),
                xs: (1..=ys.len()).map(|e| e as f64).collect(),
                ys,
            });
        }
    }
    let plots = run.file("plots");
    std::fs::create_dir_all(&plots).map_err(|e| Error::io("create directory", &plots, e))?;
    // With `valid_every = 0` there are no per-epoch curves, only the final accuracies.
    if !series.is_empty() {
        plot::line_plot(
            &plots.join("finetune_vs_scratch.png"),
            "Test accuracy",
            "epoch",
            "accuracy",
            &series,
        )?;
    }
    Ok((run, summary))
}

fn probe_layer(net: &Network, cfg: &FinetuneConfig) -> Result<String> {
    if let Some(l) = &cfg.finetune.probe_layer {
        return Ok(l.clone());
    }
    let top: Vec<&str> = net
        .layers()
        .iter()
        .filter(|l| l.depth == 0)
        .map(|l| l.path.as_str())
        .collect();
    let i = top
        .iter()
        .position(|p| *p == cfg.finetune.head)
        .ok_or_else(|| {
            Error::Path(format!(
                "head `{}` is not a top-level layer; set finetune.probe_layer",
                cfg.finetune.head
            ))
        })?;
    if i == 0 {
        return Err(Error::Path(format!(
            "head `{}` is the first layer; nothing to probe",
            cfg.finetune.head
        )));
    }
    Ok(top[i - 1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_uses_the_sample_deviation() {
        let (m, s) = mean_std(&[0.8, 0.9, 1.0]);
        assert!((m - 0.9).abs() < 1e-12 && (s - 0.1).abs() < 1e-12);
        assert_eq!(mean_std(&[0.5]), (0.5, 0.0));
    }
}
