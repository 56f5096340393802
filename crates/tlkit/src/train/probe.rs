//! Linear probing with cached features: the frozen backbone runs once over the data (or not
//! at all when the feature cache already holds its output), and every probe epoch costs only
//! the head.

use crate::data::Dataset;
use crate::nn::{FeatureCache, LayerSpec, Network, NetworkSpec, Node};
use crate::train::{FitReport, TrainConfig, Trainer};
use crate::{Error, Result};

/// A linear classifier `features → classes`, named `head`.
pub fn linear_head(features: usize, classes: usize) -> NetworkSpec {
    NetworkSpec {
        input_shape: vec![features],
        layers: vec![Node::named(
            "head",
            LayerSpec::Linear {
                in_features: None,
                out_features: classes,
                bias: true,
            },
        )],
        heads: Vec::new(),
    }
}

/// Trains a linear head on cached features of `train` (validated on cached `test` features).
/// Returns the head and its training report.
pub fn linear_probe(
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: TrainConfig,
    seed: u64,
    device: &crate::backend::Device,
) -> Result<(Network, FitReport)> {
    let [width] = train.sample_shape[..] else {
        return Err(Error::Spec(
            "linear_probe takes flat feature datasets (see extract_features)".into(),
        ));
    };
    let mut head = Network::new(linear_head(width, train.num_classes), seed, device)?;
    let mut trainer = Trainer::new(cfg, &head, seed)?;
    let report = trainer.fit(&mut head, train, test)?;
    Ok((head, report))
}

/// What [`cached_linear_probe`] gives.
pub struct CachedProbe {
    /// The trained head (`head.weight`, `head.bias`).
    pub head: Network,
    pub report: FitReport,
    /// Whether the features of both datasets were read from the cache.
    pub cached: bool,
}

/// A linear probe of `layer` of the frozen `net`: the features of `train` (and `test`) come
/// from `cache` (computed once, in batches of `cfg.eval_batch_size`), then a linear head is
/// trained on them.
pub fn cached_linear_probe(
    net: &mut Network,
    layer: &str,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: TrainConfig,
    seed: u64,
    cache: &FeatureCache,
) -> Result<CachedProbe> {
    let bs = cfg.eval_batch_size;
    let tr = cache.features(net, train, layer, bs, false)?;
    let te = test
        .map(|t| cache.features(net, t, layer, bs, false))
        .transpose()?;
    let cached = tr.cached && te.as_ref().is_none_or(|t| t.cached);
    let device = net.device().clone();
    let (head, report) = linear_probe(&tr.data, te.as_ref().map(|t| &t.data), cfg, seed, &device)?;
    Ok(CachedProbe {
        head,
        report,
        cached,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::data::optdigits_embedded;
    use crate::nn::zoo;
    use crate::train::OptimizerConfig;

    #[test]
    fn a_probe_learns_from_cached_features_and_the_second_probe_reuses_them() {
        let d = Device::flex();
        let data = optdigits_embedded().unwrap();
        let mut net = Network::new(zoo::mlp(&[1, 8, 8], &[32], 10, 0.0), 0, &d).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        let cfg = TrainConfig {
            eval_batch_size: 256,
            ..TrainConfig::new(20, 32, OptimizerConfig::adam(0.01))
        };
        // Even random ReLU features of the digits are linearly separable enough for a probe.
        let first = cached_linear_probe(
            &mut net,
            "backbone",
            &data.train,
            Some(&data.test),
            cfg.clone(),
            0,
            &cache,
        )
        .unwrap();
        assert!(!first.cached);
        let acc = first.report.history.last().unwrap().valid_accuracy.unwrap();
        assert!(acc > 0.8, "{acc}");
        let again = cached_linear_probe(
            &mut net,
            "backbone",
            &data.train,
            Some(&data.test),
            cfg,
            0,
            &cache,
        )
        .unwrap();
        assert!(again.cached);
        // Same features, same seed: the same probe.
        assert_eq!(
            again.report.history.last().unwrap().valid_accuracy,
            Some(acc)
        );
    }
}
