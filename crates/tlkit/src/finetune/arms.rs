//! What the arms of a fine-tuning study train: the pretrained network with its new head
//! (fine-tuned whole, or a linear probe on its frozen features), and the same architecture from
//! random initialisation (the scratch baseline).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{FinetuneConfig, GradualUnfreeze, L2Sp};
use crate::data;
use crate::nn::FeatureCache;
use crate::nn::{Edit, LayerSpec, Network, Node, Selector};
use crate::study::{Cell, epoch_seconds};
use crate::train::linear_probe;
use crate::train::{EpochRecord, ParamGroup, Trainer};
use crate::{Error, Result};

/// Replaces the head and applies the config's edits, with the new layers drawn from `seed`.
pub(crate) fn prepare(
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
    let (mut net, mut report) = base.surgery(&edits, seed)?;
    // Surgery keeps every parameter whose path and shape still match, so a head of the same
    // class count would keep its pretrained weights; the head is new whatever its size.
    let head = Selector::new(&[format!("{}.*", globset::escape(&cfg.finetune.head))])?;
    if report.kept.iter().any(|p| head.matches(p)) {
        let fresh = Network::new(net.spec().clone(), seed, net.device())?.state_dict();
        let values = fresh.into_iter().filter(|(p, _)| head.matches(p)).collect();
        net.load_state_dict(&values, false)?;
        report.kept.retain(|p| !head.matches(p));
    }
    let outputs: usize = net.output_shape().iter().product();
    if !cfg.finetune.head.starts_with("heads.") && outputs != classes {
        return Err(Error::Spec(format!(
            "after replacing `{}` with a {classes}-class linear layer and the [[surgery]] edits, the network gives {outputs} outputs for data of {classes} classes; keep a layer of {classes} outputs last (finetune.head names the layer to replace)",
            cfg.finetune.head
        )));
    }
    Ok((net, report.kept))
}

pub(crate) fn train_full(
    mut net: Network,
    cfg: &FinetuneConfig,
    pretrained: Option<&[String]>,
    split: &data::Split,
    seed: u64,
    cell: &Cell,
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
    let mut trainer = cell.attach(trainer, &mut net)?;
    let report = trainer.fit(&mut net, &split.train, Some(&split.test))?;
    Ok((net, report.history))
}

/// What one (arm, seed) run of a fine-tuning study leaves as its `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CellResult {
    /// Final test accuracy.
    pub accuracy: f64,
    /// Test accuracy after each epoch.
    pub curve: Vec<f64>,
    #[serde(default)]
    pub feature_seconds: Option<f64>,
    /// The linear probe's median epoch time (a paused epoch does not move it; results written
    /// before 2026-12-03 hold the mean).
    #[serde(default)]
    pub probe_epoch_seconds: Option<f64>,
}

pub(crate) fn curve(history: &[EpochRecord]) -> Vec<f64> {
    history.iter().filter_map(|r| r.valid_accuracy).collect()
}

/// Trains a linear probe on the frozen backbone's features and puts its weights into `net`'s
/// head. The features come from `features` (computed once per backbone, split and layer, and
/// read back for the other seeds and later studies: the head is not part of the key).
pub(crate) fn probe(
    net: &mut Network,
    cfg: &FinetuneConfig,
    split: &data::Split,
    seed: u64,
    features: &FeatureCache,
) -> Result<CellResult> {
    let layer = probe_layer(net, cfg)?;
    let bs = cfg.train.eval_batch_size;
    let t = Instant::now();
    let te = features.features(net, &split.test, &layer, bs, true)?.data;
    let tr = features.features(net, &split.train, &layer, bs, true)?.data;
    let feature_seconds = t.elapsed().as_secs_f64();
    let (head, report) = linear_probe(&tr, Some(&te), cfg.train.clone(), seed, net.device())?;
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
    let h = &report.history;
    Ok(CellResult {
        accuracy: h.last().and_then(|r| r.valid_accuracy).unwrap_or(0.0),
        curve: curve(h),
        feature_seconds: Some(feature_seconds),
        probe_epoch_seconds: Some(epoch_seconds(h)),
    })
}

pub(crate) fn probe_layer(net: &Network, cfg: &FinetuneConfig) -> Result<String> {
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
