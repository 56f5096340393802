//! The proxy A-distance: Ben-David et al., "Analysis of Representations for Domain
//! Adaptation", NeurIPS 2006; Ganin et al. 2016, Section 5.1.
//!
//! d̂_A = 2(1 − 2ε), with ε the test error of a linear classifier trained to tell source
//! features from target features (half of each domain to train, half to test). 0 means the
//! domains are indistinguishable, 2 perfectly separable. Like Transfer-Learning-Library's
//! `a_distance.calculate`, the classifier is one linear layer trained for a few epochs; the
//! error is clipped to [0, 0.5] first so the distance stays in [0, 2].

use crate::Result;
use crate::backend::Device;
use crate::data::Dataset;
use crate::train::{OptimizerConfig, TrainConfig, linear_probe};

/// The proxy A-distance between `source` and `target` feature sets (flat samples of equal
/// width), from a linear domain classifier trained `epochs` epochs with `seed`.
pub fn proxy_a_distance(
    source: &[f32],
    target: &[f32],
    width: usize,
    epochs: usize,
    seed: u64,
    device: &Device,
) -> Result<f64> {
    let (ns, nt) = (source.len() / width.max(1), target.len() / width.max(1));
    let mut x = source.to_vec();
    x.extend_from_slice(target);
    let y: Vec<u32> = (0..ns + nt).map(|i| u32::from(i >= ns)).collect();
    let all = Dataset::new("domains", vec![width], x, y, 2)?;
    let (train, test) = all.stratified_split(0.5, seed);
    let cfg = TrainConfig {
        valid_every: epochs,
        ..TrainConfig::new(epochs, 32, OptimizerConfig::adam(1e-2))
    };
    let (_, report) = linear_probe(&train, Some(&test), cfg, seed, device)?;
    let acc = report
        .history
        .last()
        .and_then(|r| r.valid_accuracy)
        .unwrap_or(0.5);
    let err = (1.0 - acc).clamp(0.0, 0.5);
    Ok(2.0 * (1.0 - 2.0 * err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_domains_are_far_and_identical_ones_near() {
        let d = Device::flex();
        let n = 200;
        let s: Vec<f32> = (0..n * 2)
            .map(|i| ((i * 7919) % 100) as f32 / 100.0)
            .collect();
        let far: Vec<f32> = s.iter().map(|v| v + 3.0).collect();
        let a = proxy_a_distance(&s, &far, 2, 10, 0, &d).unwrap();
        assert!(a > 1.8, "{a}");
        let near = proxy_a_distance(&s, &s, 2, 10, 0, &d).unwrap();
        assert!(near < 0.5, "{near}");
    }
}
