//! How related are datasets (and representations)? The matrices of `tlkit relate`.
//!
//! - Between datasets: the proxy A-distance ([`proxy_a_distance`], Ben-David et al. 2006)
//!   between every pair, on the features one network gives both (the same `samples` drawn
//!   from each training split, fitted to the network's input as the scores fit a target).
//!   0 means a linear classifier cannot tell the two sets apart, 2 that it always can; the
//!   diagonal is 0 by definition and is not measured.
//! - Between networks: linear CKA ([`linear_cka`], Kornblith et al. 2019) between every pair
//!   of networks' representations of the same samples of each dataset; 1 on the diagonal.
//!   CKA needs the same samples on both sides, so it compares networks on one dataset, never
//!   two datasets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::models::{fitted_network, layer_features, pick_layers};
use super::{Candidate, ScoreOptions};
use crate::data::Dataset;
use crate::measure::{linear_cka, proxy_a_distance};
use crate::nn::FeatureCache;
use crate::plot::{ValueFormat, heatmap};
use crate::weights::LoadContext;
use crate::{Error, Result};

/// How to relate.
#[derive(Debug, Clone)]
pub struct RelateOptions {
    /// Epochs of the proxy A-distance's linear domain classifier.
    pub pad_epochs: usize,
    /// Seed of its train/test halves and its initialisation.
    pub seed: u64,
    /// Pooling and batch size of the forward passes (its `layers` and `scores` are unused: each
    /// network is read at its candidate layer, or the one feeding its classifier).
    pub features: ScoreOptions,
}

/// The linear CKA between networks on one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct CkaMatrix {
    pub dataset: String,
    /// `values[i][j]`: CKA between network `i` and network `j`.
    pub values: Vec<Vec<f64>>,
}

/// What `tlkit relate` measures.
#[derive(Debug, Clone, Serialize)]
pub struct Relatedness {
    pub datasets: Vec<String>,
    /// Samples per dataset.
    pub samples: Vec<usize>,
    /// The networks, the first giving the features of the A-distance, and each one's layer.
    pub models: Vec<String>,
    pub layers: Vec<String>,
    /// `pad[i][j]`: proxy A-distance between datasets `i` and `j` (symmetric, 0 diagonal).
    pub proxy_a_distance: Vec<Vec<f64>>,
    /// One matrix per dataset, when two or more networks are given.
    pub cka: Vec<CkaMatrix>,
    pub seconds: f64,
}

/// The single layer a network is read at, and its features of `data`.
fn features(
    (c, ctx): &(Candidate, LoadContext),
    data: &Dataset,
    opts: &ScoreOptions,
    cache: &FeatureCache,
) -> Result<(String, Vec<f32>, usize)> {
    let (mut net, fitted) = fitted_network(c, data, ctx)?;
    let layers = pick_layers(&net, &c.layer_globs(opts), &c.name)?;
    let [layer] = layers.as_slice() else {
        return Err(Error::Model {
            model: c.name.clone(),
            msg: format!(
                "the layer globs pick {} layers ({}); relatedness reads one layer per network",
                layers.len(),
                layers.join(", ")
            ),
        });
    };
    let f = layer_features(&mut net, &fitted, layer, opts, cache)?;
    Ok((layer.clone(), f.x, f.width))
}

/// Relates `datasets` (name, samples) through `models`: see the [module docs](self).
///
/// # Errors
/// Fewer than two datasets without two networks to compare (nothing to relate), no network,
/// a dataset with fewer than two samples, and the errors of loading the networks, fitting the
/// data to them and the measures.
pub fn relate(
    datasets: &[(String, Dataset)],
    models: &[(Candidate, LoadContext)],
    opts: &RelateOptions,
    cache: &FeatureCache,
) -> Result<Relatedness> {
    let start = Instant::now();
    let invalid = |field: &str, value: String, msg: &str| Error::Invalid {
        field: field.into(),
        value,
        msg: msg.into(),
    };
    if models.is_empty() {
        return Err(invalid(
            "models",
            "[]".into(),
            "name a network to read features",
        ));
    }
    if datasets.is_empty() || (datasets.len() < 2 && models.len() < 2) {
        return Err(invalid(
            "datasets",
            datasets.len().to_string(),
            "relate two or more datasets, or compare two or more networks (CKA) on one",
        ));
    }
    if let Some((name, d)) = datasets.iter().find(|(_, d)| d.len() < 2) {
        return Err(invalid(
            "datasets",
            name.clone(),
            &format!(
                "{} sample{}; relating a dataset needs at least two",
                d.len(),
                if d.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    // feats[m][d]: network m's features of dataset d. A built-in architecture is built once,
    // for the first dataset, so that every dataset goes through the same network.
    let first = &datasets[0].1;
    let mut feats = vec![];
    let mut layers = vec![];
    for (c, ctx) in models {
        let m = &(
            c.clone(),
            ctx.clone()
                .with_data(&first.sample_shape, first.num_classes),
        );
        let mut row = vec![];
        for (_, d) in datasets {
            let (layer, x, width) = features(m, d, &opts.features, cache)?;
            if layers.len() == feats.len() {
                layers.push(layer);
            }
            row.push((x, width));
        }
        feats.push(row);
    }
    let n = datasets.len();
    let device = crate::backend::default_device()?;
    let mut pad = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let ((a, w), (b, _)) = (&feats[0][i], &feats[0][j]);
            let d = proxy_a_distance(a, b, *w, opts.pad_epochs, opts.seed, &device)?;
            (pad[i][j], pad[j][i]) = (d, d);
        }
    }
    let mut cka = vec![];
    if models.len() >= 2 {
        for (k, (name, _)) in datasets.iter().enumerate() {
            let mut values = vec![vec![1.0; models.len()]; models.len()];
            for i in 0..models.len() {
                for j in i + 1..models.len() {
                    let ((a, wa), (b, wb)) = (&feats[i][k], &feats[j][k]);
                    let v = linear_cka(a, *wa, b, *wb).map_err(|e| Error::Model {
                        model: format!("{} vs {}", models[i].0.name, models[j].0.name),
                        msg: format!("on `{name}`: {e}"),
                    })?;
                    (values[i][j], values[j][i]) = (v, v);
                }
            }
            cka.push(CkaMatrix {
                dataset: name.clone(),
                values,
            });
        }
    }
    Ok(Relatedness {
        datasets: datasets.iter().map(|(n, _)| n.clone()).collect(),
        samples: datasets.iter().map(|(_, d)| d.len()).collect(),
        models: models.iter().map(|(c, _)| c.name.clone()).collect(),
        layers,
        proxy_a_distance: pad,
        cka,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Draws `dir/relate_pad.png` (with two or more datasets) and `dir/relate_cka_<k>.png` (one
/// per dataset, with two or more networks); returns the files written.
pub fn plot(dir: &Path, r: &Relatedness) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut out = vec![];
    if r.datasets.len() >= 2 {
        let path = dir.join("relate_pad.png");
        heatmap(
            &path,
            &format!(
                "Proxy A-distance on {} features at `{}` (0 = alike, 2 = separable)",
                r.models[0], r.layers[0]
            ),
            &r.proxy_a_distance,
            &r.datasets,
            &r.datasets,
            "dataset",
            "dataset",
            ValueFormat::Fixed(2),
        )?;
        out.push(path);
    }
    for (k, m) in r.cka.iter().enumerate() {
        let path = dir.join(format!("relate_cka_{k}.png"));
        heatmap(
            &path,
            &format!("Linear CKA between networks on {}", m.dataset),
            &m.values,
            &r.models,
            &r.models,
            "network",
            "network",
            ValueFormat::Fixed(2),
        )?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::weights::ModelRef;

    fn opts() -> RelateOptions {
        RelateOptions {
            pad_epochs: 5,
            seed: 0,
            features: ScoreOptions {
                layers: vec![],
                scores: vec![],
                pool: true,
                batch_size: 128,
            },
        }
    }

    /// Digits against digits with their classes 0–4 only are nearer than digits against
    /// noise; the matrix is symmetric with a zero diagonal, CKA has ones on its diagonal.
    #[test]
    fn pad_orders_near_and_far_datasets_and_cka_compares_networks() {
        let tmp = tempfile::tempdir().unwrap();
        let digits = crate::data::optdigits_embedded().unwrap().train;
        let a = digits.subset(&(0..300).collect::<Vec<_>>(), "a");
        let b = digits.subset(&(300..600).collect::<Vec<_>>(), "b");
        let mut noise = b.clone();
        let mut s = 1u64;
        for v in &mut noise.x {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *v = (s >> 40) as f32 / (1u64 << 24) as f32;
        }
        let sets = vec![("a".into(), a), ("b".into(), b), ("noise".into(), noise)];
        let ctx = LoadContext::new(tmp.path(), tmp.path(), Device::flex());
        let mlp = |name: &str, layer: Option<&str>| Candidate {
            layer: layer.map(str::to_string),
            ..Candidate::new(name, ModelRef::parse("mlp").unwrap())
        };
        let models = vec![
            (mlp("mlp", None), ctx.clone()),
            (mlp("mlp-input", Some("backbone.0")), ctx.clone()),
        ];
        let cache = FeatureCache::in_home(tmp.path());
        let r = relate(&sets, &models, &opts(), &cache).unwrap();
        let p = &r.proxy_a_distance;
        for (i, row) in p.iter().enumerate() {
            assert_eq!(row[i], 0.0);
            for (j, v) in row.iter().enumerate() {
                assert_eq!(*v, p[j][i]);
                assert!(v.is_finite() && (0.0..=2.0).contains(v));
            }
        }
        assert!(p[0][1] < p[0][2] && p[0][1] < p[1][2], "{p:?}");
        assert_eq!(r.layers, ["backbone", "backbone.0"]);
        assert_eq!(r.cka.len(), 3);
        let c = &r.cka[0].values;
        assert_eq!((c[0][0], c[1][1]), (1.0, 1.0));
        assert!(
            c[0][1] > 0.0 && c[0][1] < 1.0 && c[0][1] == c[1][0],
            "{c:?}"
        );
        let files = plot(tmp.path(), &r).unwrap();
        assert_eq!(files.len(), 4);
        assert!(files.iter().all(|f| f.is_file()));
    }

    #[test]
    fn nothing_to_relate_is_refused() {
        let digits = crate::data::optdigits_embedded().unwrap().train;
        let ctx = LoadContext::new(".", ".", Device::flex());
        let one = vec![(Candidate::new("mlp", ModelRef::parse("mlp").unwrap()), ctx)];
        let cache = FeatureCache::in_home(Path::new("."));
        let e = relate(&[("d".into(), digits.clone())], &one, &opts(), &cache)
            .unwrap_err()
            .to_string();
        assert!(e.contains("relate two or more datasets"), "{e}");
        let tiny = digits.subset(&[0], "tiny");
        let sets = [("d".into(), digits), ("tiny".into(), tiny)];
        let e = relate(&sets, &one, &opts(), &cache)
            .unwrap_err()
            .to_string();
        assert!(e.contains("datasets = tiny: 1 sample;"), "{e}");
    }
}
