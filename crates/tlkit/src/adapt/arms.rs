//! What the arms of an adaptation study train: the network (built, or pretrained with a new
//! head) and, per method, the loss term that reads the unlabeled target images; each (method,
//! seed) run's result and per-sample predictions.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::analysis::analyse;
use super::{AdaptConfig, Cdan, CdanConfig, Coral, Dan, Dann, Jan, Method};
use crate::backend::Device;
use crate::data::{Dataset, Split};
use crate::nn::{Edit, FeatureCache, LayerSpec, Network, Node};
use crate::study::Cell;
use crate::train::checkpoint::write_atomic;
use crate::train::{LossTerm, Trainer, evaluate};
use crate::weights::load_pretrained;
use crate::{Error, Result};

pub(crate) fn build_network(
    cfg: &AdaptConfig,
    data: &Dataset,
    seed: u64,
    device: &Device,
    base: &Path,
    cache: &Path,
) -> Result<Network> {
    let Some(src) = &cfg.pretrained else {
        let spec = cfg
            .model
            .build(&data.sample_shape, data.num_classes, base)?;
        return Network::new(spec, seed, device);
    };
    let head = cfg.head.clone().ok_or_else(|| Error::Config {
        path: base.join("<config>"),
        msg: "`pretrained` needs `head`, the classifier layer to replace".into(),
    })?;
    let net = load_pretrained(src, device, base, cache)?;
    let mut edits = vec![Edit::Replace {
        path: head,
        layer: Node::anon(LayerSpec::Linear {
            in_features: None,
            out_features: data.num_classes,
            bias: true,
        }),
    }];
    edits.extend(cfg.surgery.iter().cloned());
    Ok(net.surgery(&edits, seed)?.0)
}

fn term(
    cfg: &AdaptConfig,
    method: Method,
    net: &Network,
    classes: usize,
    seed: u64,
) -> Result<Option<Box<dyn LossTerm>>> {
    let dev = net.device().clone();
    // The discriminator's initialisation must not repeat the network's stream.
    let dseed = seed.wrapping_add(0xD15C);
    Ok(match method {
        Method::SourceOnly | Method::Oracle => None,
        Method::Dann => Some(Box::new(Dann::new(cfg.dann.clone(), net, dseed, &dev)?)),
        Method::Dan => Some(Box::new(Dan::new(cfg.dan.clone()))),
        Method::Coral => Some(Box::new(Coral::new(cfg.coral.clone()))),
        Method::Jan => Some(Box::new(Jan::new(cfg.jan.clone()))),
        Method::Cdan | Method::CdanE => {
            let c = CdanConfig {
                entropy: method == Method::CdanE,
                ..cfg.cdan.clone()
            };
            Some(Box::new(Cdan::new(c, net, classes, dseed, &dev)?))
        }
    })
}

/// What one (method, seed) run leaves in its folder as `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SeedResult {
    pub target_accuracy: f64,
    pub source_accuracy: f64,
    /// Target accuracy after each epoch.
    pub target_curve: Vec<f64>,
    /// Training seconds (of the session that finished the run, when it was resumed).
    pub seconds: f64,
    /// Only for the first seed, which is the one analysed.
    pub proxy_a_distance: Option<f64>,
}

/// Each run's prediction for every target test sample, for error analysis.
const PREDICTIONS: &str = "target_predictions.csv";

/// Writes `index,label,predicted` for every sample of `data` to `path`, atomically.
fn write_predictions(data: &Dataset, predicted: &[u32], path: &Path) -> Result<()> {
    let mut text = String::from("index,label,predicted\n");
    for (i, (label, p)) in data.y.iter().zip(predicted).enumerate() {
        text.push_str(&format!("{i},{label},{p}\n"));
    }
    write_atomic(path, text.as_bytes())
}

/// Trains `method` with `seed` on the (source, target) pair in `cell`, continuing from the
/// cell's checkpoint when an earlier session was killed; `analyse_into` (the first seed) gets
/// the t-SNE plots and the proxy A-distance.
pub(crate) fn train_cell(
    cfg: &AdaptConfig,
    method: Method,
    seed: u64,
    (src, tgt): (&Split, &Split),
    cell: &Cell,
    analyse_into: Option<&Path>,
    (base, cache): (&Path, &Path),
) -> Result<SeedResult> {
    let device = cfg.study.device.device()?;
    let mut net = build_network(cfg, &src.train, seed, &device, base, cache)?;
    let mut trainer = Trainer::new(cfg.train.clone(), &net, seed)?;
    // Only the adaptation terms read the target's training images (a copy without labels).
    if let Some(t) = term(cfg, method, &net, src.train.num_classes, seed)? {
        let mut unlabeled = tgt.train.clone();
        unlabeled.y.clear();
        unlabeled.name = format!("{} (unlabeled)", tgt.train.name);
        trainer = trainer.with_unlabeled(unlabeled).with_term(t);
    }
    let mut trainer = cell.attach(trainer, &mut net)?;
    let t0 = Instant::now();
    let labelled = if method == Method::Oracle {
        &tgt.train
    } else {
        &src.train
    };
    let report = trainer.fit(&mut net, labelled, Some(&tgt.test))?;
    let seconds = t0.elapsed().as_secs_f64();
    let bs = cfg.train.eval_batch_size;
    let target = evaluate(&mut net, &tgt.test, bs)?;
    write_predictions(&tgt.test, &target.predictions, &cell.dir.join(PREDICTIONS))?;
    let done = SeedResult {
        target_accuracy: target.accuracy,
        source_accuracy: evaluate(&mut net, &src.test, bs)?.accuracy,
        target_curve: report
            .history
            .iter()
            .filter_map(|r| r.valid_accuracy)
            .collect(),
        seconds,
        proxy_a_distance: match analyse_into {
            Some(plots) => {
                let features = FeatureCache::in_home(cache);
                analyse(
                    cfg,
                    &mut net,
                    method,
                    (&src.test, &tgt.test),
                    plots,
                    &features,
                )?
            }
            None => None,
        },
    };
    tracing::info!(
        method = method.as_str(),
        seed,
        target_accuracy = done.target_accuracy,
        "adaptation run done"
    );
    Ok(done)
}
