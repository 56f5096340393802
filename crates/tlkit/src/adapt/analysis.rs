//! What a method did to the features: t-SNE plots of source vs target (coloured by domain
//! and by class) and the proxy A-distance, on the first seed's network. The features come
//! from the feature cache, so a resumed or repeated study does not compute them again.

use std::path::Path;

use super::{AdaptConfig, Method};
use crate::Result;
use crate::data::Dataset;
use crate::measure::proxy_a_distance;
use crate::nn::{FeatureCache, Network};
use crate::plot;
use crate::plot::tsne::{TsneConfig, tsne};

/// The first `n` samples of a seeded shuffle of `d` (the same subset for every method).
fn sample(d: &Dataset, n: usize, seed: u64) -> Dataset {
    let order = crate::data::epoch_order(d.len(), seed, 0, true);
    let keep: Vec<usize> = order.into_iter().take(n).collect();
    d.subset(&keep, d.name.clone())
}

/// Writes the t-SNE plots of `method`'s features and returns the proxy A-distance.
pub(crate) fn analyse(
    cfg: &AdaptConfig,
    net: &mut Network,
    method: Method,
    (source, target): (&Dataset, &Dataset),
    plots: &Path,
    features: &FeatureCache,
) -> Result<Option<f64>> {
    let a = &cfg.analysis;
    let layer = &a.feature_layer;
    let bs = cfg.train.eval_batch_size;
    let device = net.device().clone();
    let mut extract =
        |d: &Dataset| -> Result<Dataset> { Ok(features.features(net, d, layer, bs, false)?.data) };
    let pad = if a.pad && a.pad_points > 1 {
        let s = extract(&sample(source, a.pad_points, 1))?;
        let t = extract(&sample(target, a.pad_points, 1))?;
        let w = s.sample_shape[0];
        Some(proxy_a_distance(&s.x, &t.x, w, a.pad_epochs, 0, &device)?)
    } else {
        None
    };
    if a.tsne_points > 0 {
        let s = extract(&sample(source, a.tsne_points, 2))?;
        let t = extract(&sample(target, a.tsne_points, 2))?;
        let w = s.sample_shape[0];
        let mut x = s.x.clone();
        x.extend_from_slice(&t.x);
        let points = tsne(&x, w, &TsneConfig::default())?;
        let domain: Vec<usize> = (0..points.len())
            .map(|i| usize::from(i >= s.len()))
            .collect();
        let class: Vec<usize> = s.y.iter().chain(&t.y).map(|&c| c as usize).collect();
        let m = method.as_str();
        plot::scatter(
            &plots.join(format!("tsne_{m}_domain.png")),
            &format!("t-SNE of layer `{layer}`, {m}: source vs target"),
            &points,
            &domain,
            &domain,
            &["source".to_string(), "target".to_string()],
        )?;
        let names: Vec<String> = s
            .class_names
            .clone()
            .unwrap_or_else(|| (0..s.num_classes).map(|c| c.to_string()).collect());
        plot::scatter(
            &plots.join(format!("tsne_{m}_class.png")),
            &format!("t-SNE of layer `{layer}`, {m}: class (circle source, triangle target)"),
            &points,
            &class,
            &domain,
            &names,
        )?;
    }
    Ok(pad)
}
