//! Linear probing with cached features: the frozen backbone runs once over the data, and
//! every probe epoch costs only the head.

use indicatif::{ProgressBar, ProgressStyle};

use crate::data::Dataset;
use crate::nn::{LayerSpec, Mode, Network, NetworkSpec, Node};
use crate::train::{FitReport, TrainConfig, Trainer};
use crate::{Error, Result};

/// Runs `net` in evaluation mode over `data` and returns the (flattened) output of `layer` for
/// every sample, as a dataset with the same labels, name suffixed with `@layer`.
pub fn extract_features(
    net: &mut Network,
    data: &Dataset,
    layer: &str,
    batch_size: usize,
    progress: bool,
) -> Result<Dataset> {
    if data.is_empty() {
        return Err(Error::Spec(format!("dataset `{}` is empty", data.name)));
    }
    let bar = if progress {
        let b = ProgressBar::new(data.len() as u64);
        b.set_style(
            ProgressStyle::with_template("features {msg} [{bar:30}] {pos}/{len} ({eta})")
                .expect("static template")
                .progress_chars("=> "),
        );
        b.set_message(format!("{} @ {layer}", data.name));
        b
    } else {
        ProgressBar::hidden()
    };
    let taps = [layer.to_string()];
    let order: Vec<usize> = (0..data.len()).collect();
    let mut x = vec![];
    let mut width = 0;
    for idx in order.chunks(batch_size.max(1)) {
        let (values, _) = data.gather_batch(idx);
        let input = net.input(values, idx.len())?;
        let f = net.forward_taps(input, Mode::Eval, &taps)?;
        let feats = f.taps[layer].clone().flat();
        width = feats.dims()[1];
        x.extend(crate::backend::to_vec(&feats));
        bar.inc(idx.len() as u64);
    }
    bar.finish_and_clear();
    let mut out = Dataset::new(
        format!("{}@{layer}", data.name),
        vec![width],
        x,
        data.y.clone(),
        data.num_classes,
    )?;
    out.domain = data.domain.clone();
    out.task = data.task.clone();
    out.class_names = data.class_names.clone();
    Ok(out)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};
    use crate::data::optdigits_embedded;
    use crate::nn::zoo;
    use crate::train::OptimizerConfig;

    #[test]
    fn cached_features_equal_the_tapped_forward_and_a_probe_learns_from_them() {
        let d = Device::flex();
        let data = optdigits_embedded().unwrap();
        let mut net = Network::new(zoo::mlp(&[1, 8, 8], &[32], 10, 0.0), 0, &d).unwrap();
        let feats = extract_features(&mut net, &data.train, "backbone", 100, false).unwrap();
        assert_eq!(feats.sample_shape, [32]);
        assert_eq!(feats.len(), data.train.len());
        let (x, _) = data.train.gather_batch(&[5]);
        let input = net.input(x, 1).unwrap();
        let direct = net
            .forward_taps(input, Mode::Eval, &["backbone".into()])
            .unwrap();
        // Equal up to the summation order of a batch of 1 against a batch of 100.
        let one = backend::to_vec(&direct.taps["backbone"].clone().flat());
        assert!(
            one.iter()
                .zip(feats.sample(5))
                .all(|(a, b)| (a - b).abs() < 1e-5),
            "{one:?}"
        );

        // Even random ReLU features of the digits are linearly separable enough for a probe.
        let test = extract_features(&mut net, &data.test, "backbone", 100, false).unwrap();
        let cfg = TrainConfig {
            eval_batch_size: 256,
            ..TrainConfig::new(20, 32, OptimizerConfig::adam(0.01))
        };
        let (_, report) = linear_probe(&feats, Some(&test), cfg, 0, &d).unwrap();
        let acc = report.history.last().unwrap().valid_accuracy.unwrap();
        assert!(acc > 0.8, "{acc}");
    }
}
