//! Input normalisation fitted on the training images of the domains (never on test images).
//!
//! - `source`: every image of both domains minus the source training images' per-channel mean,
//!   divided by their per-channel standard deviation (one constant transform for both domains).
//! - `domain_mean`: each domain minus its own training images' per-channel mean, the
//!   per-domain mean subtraction of Ganin et al.'s MNIST → MNIST-M protocol (the target's
//!   training images are used without labels, as in every adaptation method).
//! - `instance`: every image standardised on its own, each channel minus its mean over its
//!   standard deviation ([`standardize`]): instance normalisation of the input, as in Shu et
//!   al.'s DIRT-T code (ICLR 2018); nothing is fitted.

use serde::{Deserialize, Serialize};

use crate::data::transform::{normalize, standardize};
use crate::data::{Dataset, Split};
use crate::{Error, Result};

/// How `tlkit adapt` normalises its inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputNorm {
    /// The data as loaded (after each domain's `transforms`).
    #[default]
    None,
    /// Per-channel mean and standard deviation of the source training images, for both domains.
    Source,
    /// Each domain minus the per-channel mean of its own training images.
    DomainMean,
    /// Every image minus its own per-channel mean, over its own per-channel standard deviation.
    Instance,
}

impl InputNorm {
    const ALL: [InputNorm; 4] = [
        InputNorm::None,
        InputNorm::Source,
        InputNorm::DomainMean,
        InputNorm::Instance,
    ];

    /// The name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            InputNorm::None => "none",
            InputNorm::Source => "source",
            InputNorm::DomainMean => "domain_mean",
            InputNorm::Instance => "instance",
        }
    }

    /// Parses a config name (`-` accepted for `_`).
    pub fn parse(s: &str) -> Result<Self> {
        crate::config::parse_name(s, &Self::ALL, Self::as_str, "input normalisation")
    }
}

/// Per-channel mean and (population) standard deviation of `ds`'s images. Samples of shape
/// `[C, H, W]` have `C` channels; any other shape counts as one channel.
pub fn channel_stats(ds: &Dataset) -> Result<(Vec<f32>, Vec<f32>)> {
    if ds.is_empty() {
        return Err(Error::Spec(format!(
            "cannot fit a normalisation on `{}`: it has no samples",
            ds.name
        )));
    }
    let per: usize = ds.sample_shape.iter().product();
    let c = if ds.sample_shape.len() == 3 {
        ds.sample_shape[0]
    } else {
        1
    };
    let plane = per / c;
    let (mut sum, mut sq) = (vec![0f64; c], vec![0f64; c]);
    for i in 0..ds.len() {
        for (k, v) in ds.sample(i).iter().enumerate() {
            let v = f64::from(*v);
            sum[k / plane] += v;
            sq[k / plane] += v * v;
        }
    }
    let n = (ds.len() * plane) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| ((q / n - m * m).max(0.0).sqrt().max(1e-6)) as f32)
        .collect();
    Ok((mean.into_iter().map(|m| m as f32).collect(), std))
}

fn apply(split: &Split, mean: &[f32], std: &[f32]) -> Result<Split> {
    Ok(Split {
        train: normalize(&split.train, mean, std)?,
        test: normalize(&split.test, mean, std)?,
    })
}

/// Normalises the source and target splits as `how` says, with statistics of the training
/// images only.
pub fn normalize_pair(how: InputNorm, source: &Split, target: &Split) -> Result<(Split, Split)> {
    match how {
        InputNorm::None => Ok((source.clone(), target.clone())),
        InputNorm::Source => {
            let (m, s) = channel_stats(&source.train)?;
            Ok((apply(source, &m, &s)?, apply(target, &m, &s)?))
        }
        InputNorm::DomainMean => {
            let (ms, _) = channel_stats(&source.train)?;
            let (mt, _) = channel_stats(&target.train)?;
            let one = |m: &[f32]| vec![1f32; m.len()];
            Ok((
                apply(source, &ms, &one(&ms))?,
                apply(target, &mt, &one(&mt))?,
            ))
        }
        InputNorm::Instance => {
            let each = |s: &Split| -> Result<Split> {
                Ok(Split {
                    train: standardize(&s.train)?,
                    test: standardize(&s.test)?,
                })
            };
            Ok((each(source)?, each(target)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::optdigits_embedded;

    #[test]
    fn normalisations_use_training_statistics() {
        let s = optdigits_embedded().unwrap();
        // A brighter "target": every pixel + 0.5.
        let shift = |d: &Dataset| {
            let mut d = d.clone();
            d.x.iter_mut().for_each(|v| *v += 0.5);
            d
        };
        let t = Split {
            train: shift(&s.train),
            test: shift(&s.test),
        };
        let (m, sd) = channel_stats(&s.train).unwrap();
        let n = s.train.x.len() as f64;
        let mean = s.train.x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        assert!((f64::from(m[0]) - mean).abs() < 1e-5 && sd[0] > 0.0);

        let (a, b) = normalize_pair(InputNorm::DomainMean, &s, &t).unwrap();
        let (ma, _) = channel_stats(&a.train).unwrap();
        let (mb, _) = channel_stats(&b.train).unwrap();
        assert!(ma[0].abs() < 1e-4 && mb[0].abs() < 1e-4, "{ma:?} {mb:?}");
        // Test images use the training mean: the shifted target's test set lines up with
        // the source's test set exactly.
        for (x, y) in a.test.x.iter().zip(&b.test.x).take(200) {
            assert!((x - y).abs() < 1e-4);
        }

        let (a, b) = normalize_pair(InputNorm::Source, &s, &t).unwrap();
        let (ma, sa) = channel_stats(&a.train).unwrap();
        assert!(ma[0].abs() < 1e-4 && (sa[0] - 1.0).abs() < 1e-3);
        // One constant transform: the target keeps its offset, scaled by the source's std.
        let (mb, _) = channel_stats(&b.train).unwrap();
        assert!((mb[0] - 0.5 / sd[0]).abs() < 1e-3, "{mb:?}");

        // Per image: the shift cancels, so the target lines up with the source exactly, and
        // every (non-flat) image has mean 0 and standard deviation 1.
        let (a, b) = normalize_pair(InputNorm::Instance, &s, &t).unwrap();
        for (x, y) in a.test.x.iter().zip(&b.test.x).take(200) {
            assert!((x - y).abs() < 1e-4);
        }
        let img = a.train.sample(0);
        let mean = img.iter().sum::<f32>() / img.len() as f32;
        let var = img.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / img.len() as f32;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
            "{mean} {var}"
        );

        for n in InputNorm::ALL {
            assert_eq!(InputNorm::parse(n.as_str()).unwrap(), n);
        }
        assert_eq!(
            InputNorm::parse("domain-mean").unwrap(),
            InputNorm::DomainMean
        );
        assert!(
            InputNorm::parse("batch")
                .unwrap_err()
                .to_string()
                .contains("instance")
        );

        let (a, _) = normalize_pair(InputNorm::None, &s, &t).unwrap();
        assert_eq!(a.train.x, s.train.x);
        let empty = s.train.subset(&[], "empty");
        assert!(
            channel_stats(&empty)
                .unwrap_err()
                .to_string()
                .contains("no samples")
        );
    }
}
