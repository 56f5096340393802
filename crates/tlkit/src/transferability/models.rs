//! Scoring models for a target without training them: for each model reference and layer, the
//! layer's features on the target's labelled samples (from the feature cache), the source
//! model's class probabilities where it has a classifier, and the chosen scores.
//!
//! The target data is fitted to each network: a run folder's own `[data]` transforms first
//! (what the network was trained on), then, where the samples still differ from the
//! network's input, a resize, a channel conversion and, for a pretrained built-in, its input
//! scaling. Conv-layer outputs (`[C, H, W]`) are averaged over space by default, as LogME and
//! its successors score the pooled features of a backbone.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::Score;
use super::score::softmax_rows;
use crate::data::{Dataset, Transform};
use crate::nn::{FeatureCache, Network, fmt_shape};
use crate::weights::{LoadContext, ModelRef};
use crate::{Error, Result};

/// One model to score: a reference, the name it is shown under, and optionally the one layer
/// of it that is the candidate (a depth of a network: a zoo file's `{ model, layer }`).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub model: ModelRef,
    /// The layer path to score; it takes the place of [`ScoreOptions::layers`] for this
    /// candidate.
    pub layer: Option<String>,
}

impl Candidate {
    /// A candidate scored at the layers the options pick.
    pub fn new(name: impl Into<String>, model: ModelRef) -> Self {
        Candidate {
            name: name.into(),
            model,
            layer: None,
        }
    }

    /// The layer globs for this candidate: its own layer (matched literally), else `opts`'.
    pub fn layer_globs(&self, opts: &ScoreOptions) -> Vec<String> {
        match &self.layer {
            Some(l) => vec![globset::escape(l)],
            None => opts.layers.clone(),
        }
    }
}

/// How to score: which layers, scores and pooling.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Globs over layer paths; empty: the layer feeding the network's last top-level layer
    /// (its classifier).
    pub layers: Vec<String>,
    pub scores: Vec<Score>,
    /// Average `[C, H, W]` features over H and W (else they are flattened).
    pub pool: bool,
    pub batch_size: usize,
}

/// The scores of one model's layer.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    pub model: String,
    pub layer: String,
    /// Feature width after pooling.
    pub width: usize,
    pub samples: usize,
    /// Each requested score by name; `None` where it does not apply (LEEP and NCE of a
    /// network without a classifier).
    pub scores: BTreeMap<String, Option<f64>>,
    /// Time to load the model and its class outputs (counted in each of its rows), get the
    /// layer's features (cache or forward pass) and compute the scores.
    pub seconds: f64,
    /// Whether the features came from the cache.
    pub cached: bool,
}

/// The transforms that fit `data` to `net` (see the module docs), and their description.
pub(crate) fn fit_transforms(
    model: &ModelRef,
    net: &Network,
    data: &Dataset,
    ctx: &LoadContext,
) -> Result<Vec<Transform>> {
    let mut out = run_transforms(model, ctx)?;
    let mut shape = data.sample_shape.clone();
    if !out.is_empty() {
        shape = Transform::apply_all(&out, &data.subset(&[0], "probe"))?.sample_shape;
    }
    let want = &net.spec().input_shape;
    if let (&[c, h, w], &[wc, wh, ww]) = (shape.as_slice(), want.as_slice()) {
        if (h, w) != (wh, ww) {
            out.push(Transform::Resize {
                height: wh,
                width: ww,
            });
        }
        match (c, wc) {
            (1, 3) => out.push(Transform::ToRgb),
            (3, 1) => out.push(Transform::ToGrayscale),
            _ => {}
        }
        if let ModelRef::Builtin { name, .. } = model
            && let Ok(p) = crate::pretrained::pretrained(name)
        {
            // Samples in [0, 1] to the recipe's (255x − offset) / scale.
            out.push(Transform::Normalize {
                mean: vec![p.offset / 255.0],
                std: vec![p.scale / 255.0],
            });
        }
    }
    Ok(out)
}

/// A run folder's `[data] transforms`, read from its `config.toml` (none for other references).
fn run_transforms(model: &ModelRef, ctx: &LoadContext) -> Result<Vec<Transform>> {
    let Some(dir) = model.run_dir(&ctx.base) else {
        return Ok(vec![]);
    };
    let path = dir.join("config.toml");
    if !path.is_file() {
        return Ok(vec![]);
    }
    let table: toml::Table = crate::config::load_toml(&path)?;
    match table.get("data").and_then(|d| d.get("transforms")) {
        None => Ok(vec![]),
        Some(t) => t
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config {
                path,
                msg: format!("`data.transforms`: {e}"),
            }),
    }
}

/// The layers `globs` pick in `net` (the outermost of nested matches), or the default layer.
pub fn pick_layers(net: &Network, globs: &[String], model: &str) -> Result<Vec<String>> {
    let layers = net.layers();
    if globs.is_empty() {
        let top: Vec<&str> = layers
            .iter()
            .filter(|l| l.depth == 0)
            .map(|l| l.path.as_str())
            .collect();
        return match top.as_slice() {
            [.., feeding, _classifier] => Ok(vec![feeding.to_string()]),
            _ => Err(Error::Model {
                model: model.into(),
                msg: "the network has a single top-level layer, so no layer feeds a \
                      classifier; name layers with --layers (see `tlkit inspect`)"
                    .into(),
            }),
        };
    }
    let sel = crate::nn::Selector::new(globs)?;
    let matched: Vec<&str> = layers
        .iter()
        .map(|l| l.path.as_str())
        .filter(|p| sel.matches(p))
        .collect();
    let outer: Vec<String> = matched
        .iter()
        .filter(|p| {
            !matched
                .iter()
                .any(|q| p.len() > q.len() && p.starts_with(q) && p[q.len()..].starts_with('.'))
        })
        .map(|p| p.to_string())
        .collect();
    if outer.is_empty() {
        let examples: Vec<&str> = layers.iter().take(5).map(|l| l.path.as_str()).collect();
        return Err(Error::Path(format!(
            "layer glob `{}` matches no layer of `{model}`; its layers look like {} (see \
             `tlkit inspect {model}`)",
            globs.join("`, `"),
            examples.join(", ")
        )));
    }
    Ok(outer)
}

/// `[n, C·H·W]` features averaged over H·W to `[n, C]`.
fn pool(x: &[f32], shape: &[usize]) -> (Vec<f32>, usize) {
    let c = shape[0];
    let hw: usize = shape[1..].iter().product::<usize>().max(1);
    let out = x
        .chunks(c * hw)
        .flat_map(|s| s.chunks(hw).map(|ch| ch.iter().sum::<f32>() / hw as f32))
        .collect();
    (out, c)
}

/// Scores every layer `opts` picks of `candidate` on `target` (labelled samples), with
/// features from `cache`.
///
/// # Errors
/// Loading the model, a glob that matches no layer, data that cannot be fitted to the
/// network, and the scores' own errors ([`Error::Score`]).
pub fn score_model(
    candidate: &Candidate,
    target: &Dataset,
    opts: &ScoreOptions,
    ctx: &LoadContext,
    cache: &FeatureCache,
) -> Result<Vec<ScoreRow>> {
    let start = Instant::now();
    let (mut net, data) = fitted_network(candidate, target, ctx)?;
    let layers = pick_layers(&net, &candidate.layer_globs(opts), &candidate.name)?;
    let classifier = classifier_layer(&net);
    let predictions = match (
        &classifier,
        opts.scores.iter().any(|s| s.needs_predictions()),
    ) {
        (Some((layer, classes)), true) => {
            let f = cache.features(&mut net, &data, layer, opts.batch_size, false)?;
            Some((softmax_rows(&f.data.x, *classes), *classes))
        }
        _ => None,
    };
    let shared = start.elapsed().as_secs_f64();
    let mut rows = vec![];
    for layer in layers {
        let t = Instant::now();
        let f = layer_features(&mut net, &data, &layer, opts, cache)?;
        let mut scores = BTreeMap::new();
        for s in &opts.scores {
            let p = predictions.as_ref().map(|(p, c)| (p.as_slice(), *c));
            let v = s
                .compute(&f.x, f.width, p, &target.y)
                .map_err(|e| Error::Model {
                    model: candidate.name.clone(),
                    msg: format!("layer `{layer}`: {e}"),
                })?;
            scores.insert(s.name().to_string(), v);
        }
        rows.push(ScoreRow {
            model: candidate.name.clone(),
            layer,
            width: f.width,
            samples: target.len(),
            scores,
            seconds: shared + t.elapsed().as_secs_f64(),
            cached: f.cached,
        });
    }
    Ok(rows)
}

/// The candidate's network, and `data` fitted to its input ([`fit_transforms`]).
///
/// # Errors
/// Loading the model, and data that no transform fits to the network's input.
pub(crate) fn fitted_network(
    candidate: &Candidate,
    data: &Dataset,
    ctx: &LoadContext,
) -> Result<(Network, Dataset)> {
    // A built-in architecture is built for the data, unless the context already fixes it.
    let ctx = match ctx.input_shape {
        Some(_) => ctx.clone(),
        None => ctx.clone().with_data(&data.sample_shape, data.num_classes),
    };
    let net = candidate.model.network(&ctx)?;
    let transforms = fit_transforms(&candidate.model, &net, data, &ctx)?;
    let fitted = Transform::apply_all(&transforms, data)?;
    if fitted.sample_shape != net.spec().input_shape {
        return Err(Error::Model {
            model: candidate.model.to_string(),
            msg: format!(
                "the network takes {} samples but `{}` gives {} (after {} transforms); score it \
                 on data of its input shape",
                fmt_shape(&net.spec().input_shape),
                data.name,
                fmt_shape(&fitted.sample_shape),
                transforms.len()
            ),
        });
    }
    Ok((net, fitted))
}

/// One layer's features of a dataset, as the scores see them.
pub(crate) struct LayerFeatures {
    /// `[n, width]` row-major.
    pub x: Vec<f32>,
    pub width: usize,
    /// Whether they came from the cache.
    pub cached: bool,
}

/// `layer`'s features of `data` (fitted to `net`) from `cache`, `[C, H, W]` outputs averaged
/// over space when `opts.pool`.
pub(crate) fn layer_features(
    net: &mut Network,
    data: &Dataset,
    layer: &str,
    opts: &ScoreOptions,
    cache: &FeatureCache,
) -> Result<LayerFeatures> {
    let f = cache.features(net, data, layer, opts.batch_size, false)?;
    let shape = net
        .layers()
        .iter()
        .find(|l| l.path == layer)
        .map(|l| l.output.clone())
        .unwrap_or_default();
    let (x, width) = if opts.pool && shape.len() == 3 {
        pool(&f.data.x, &shape)
    } else {
        (f.data.x.clone(), f.data.sample_width())
    };
    Ok(LayerFeatures {
        x,
        width,
        cached: f.cached,
    })
}

/// The network's classifier, if its last top-level layer is a linear layer with flat output:
/// the layer path and its class count.
fn classifier_layer(net: &Network) -> Option<(String, usize)> {
    let last = net.layers().iter().rfind(|l| l.depth == 0)?;
    match (last.kind, last.output.as_slice()) {
        ("linear", &[classes]) if classes >= 2 => Some((last.path.clone(), classes)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::zoo;

    #[test]
    fn default_layer_feeds_the_classifier_and_globs_keep_the_outermost() {
        let net = Network::new(zoo::mlp(&[1, 8, 8], &[16], 10, 0.0), 0, &Device::flex()).unwrap();
        assert_eq!(pick_layers(&net, &[], "m").unwrap(), ["backbone"]);
        assert_eq!(classifier_layer(&net), Some(("head".into(), 10)));
        let all = pick_layers(&net, &["*".into()], "m").unwrap();
        assert_eq!(all, ["backbone", "head"]);
        let inner = pick_layers(&net, &["backbone.*".into()], "m").unwrap();
        assert_eq!(inner, ["backbone.0", "backbone.1", "backbone.2"]);
        let e = pick_layers(&net, &["blocks.*".into()], "m")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`blocks.*` matches no layer of `m`"), "{e}");
    }

    #[test]
    fn pooling_averages_each_channel() {
        // Two samples of 2 channels × 2 positions.
        let x = [1.0, 3.0, 10.0, 20.0, 0.0, 2.0, 4.0, 4.0];
        assert_eq!(pool(&x, &[2, 1, 2]), (vec![2.0, 15.0, 1.0, 4.0], 2));
    }
}
