//! The in-memory dataset every loader produces and every method consumes.
//!
//! A dataset has one default labelling (`y`, `num_classes`), which every single-task method
//! uses and which tasks name `label`; it may carry further named targets (`targets`: more
//! label columns, or real values for regression), and tasks name the samples themselves
//! `input` (the target of a reconstruction).

use std::collections::BTreeMap;

use super::transform::Transform;
use crate::{Error, Result};

/// The name tasks use for a dataset's default labelling (`y`).
pub const LABEL_TARGET: &str = "label";
/// The name tasks use for the samples themselves (reconstruction).
pub const INPUT_TARGET: &str = "input";

/// A named target column: one entry per sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A class index per sample.
    Classes {
        labels: Vec<u32>,
        num_classes: usize,
    },
    /// `width` real values per sample, row-major (regression).
    Values { values: Vec<f32>, width: usize },
}

impl Target {
    fn rows(&self) -> usize {
        match self {
            Target::Classes { labels, .. } => labels.len(),
            Target::Values { values, width } => values.len() / (*width).max(1),
        }
    }
}

/// What a target holds, without its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Class indices in `0..classes`.
    Classes(usize),
    /// This many real values per sample.
    Values(usize),
}

/// The target values of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetBatch {
    /// One class index per sample.
    Classes(Vec<u32>),
    /// `width` values per sample, row-major.
    Values { values: Vec<f32>, width: usize },
}

/// A labelled (or unlabelled) dataset held in memory as `f32` samples.
///
/// Samples are stored contiguously, each of `sample_shape` (e.g. `[1, 28, 28]` for a grayscale
/// image in CHW order, `[64]` for a feature vector). `domain` and `task` tag the dataset so that
/// later stages can pair a source with a target domain or order tasks in a stream.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Human-readable name, e.g. `mnist/train`.
    pub name: String,
    /// Domain label, e.g. `mnist` or `optdigits`; datasets of one domain share it.
    pub domain: String,
    /// Task label; by default the dataset family name.
    pub task: String,
    /// Shape of one sample (without the batch dimension).
    pub sample_shape: Vec<usize>,
    /// All samples, `len() * sample_shape.iter().product()` values.
    pub x: Vec<f32>,
    /// One label per sample (class index); empty for unlabelled data.
    pub y: Vec<u32>,
    /// Number of classes of the labelling.
    pub num_classes: usize,
    /// Optional class names, `num_classes` long.
    pub class_names: Option<Vec<String>>,
    /// Further named targets besides `y` (which tasks call `label`), each one entry per sample.
    pub targets: BTreeMap<String, Target>,
    /// Transforms applied to each batch as it is assembled instead of to the stored samples
    /// ([`Dataset::defer`]): `x` then holds the samples before them, of
    /// `deferred.stored_shape`, and `sample_shape` is their shape after them. Read samples
    /// through [`Dataset::gather_batch`], which applies them; `None` for data held as it is seen.
    pub deferred: Option<Deferred>,
}

/// Transforms a dataset applies per batch (see [`Dataset::deferred`]), so that a resize to
/// 224×224 costs memory for one batch, not for the whole set.
#[derive(Debug, Clone, PartialEq)]
pub struct Deferred {
    /// Shape of one stored sample, before the transforms.
    pub stored_shape: Vec<usize>,
    /// The transforms, applied in order.
    pub transforms: Vec<Transform>,
}

impl Dataset {
    /// Builds a dataset, checking that the buffers agree with the shape.
    pub fn new(
        name: impl Into<String>,
        sample_shape: Vec<usize>,
        x: Vec<f32>,
        y: Vec<u32>,
        num_classes: usize,
    ) -> Result<Self> {
        let name = name.into();
        let width: usize = sample_shape.iter().product();
        if width == 0 || !x.len().is_multiple_of(width) {
            return Err(Error::Spec(format!(
                "dataset `{name}`: {} values do not divide into samples of shape {sample_shape:?}",
                x.len()
            )));
        }
        let n = x.len() / width;
        if !y.is_empty() && y.len() != n {
            return Err(Error::Spec(format!(
                "dataset `{name}`: {n} samples but {} labels",
                y.len()
            )));
        }
        if let Some(bad) = y.iter().find(|&&l| l as usize >= num_classes) {
            return Err(Error::Spec(format!(
                "dataset `{name}`: label {bad} out of range for {num_classes} classes"
            )));
        }
        let family = name.split('/').next().unwrap_or(&name).to_string();
        Ok(Dataset {
            domain: family.clone(),
            task: family,
            name,
            sample_shape,
            x,
            y,
            num_classes,
            class_names: None,
            targets: BTreeMap::new(),
            deferred: None,
        })
    }

    /// Adds (or replaces) the named target `name`, checking that it has one entry per sample.
    pub fn with_target(mut self, name: &str, target: Target) -> Result<Self> {
        if name == LABEL_TARGET || name == INPUT_TARGET {
            return Err(Error::Spec(format!(
                "dataset `{}`: target name `{name}` is reserved (`{LABEL_TARGET}` is the default labels, `{INPUT_TARGET}` the samples); pick another",
                self.name
            )));
        }
        if target.rows() != self.len() {
            return Err(Error::Spec(format!(
                "dataset `{}`: target `{name}` has {} entries for {} samples",
                self.name,
                target.rows(),
                self.len()
            )));
        }
        if let Target::Classes {
            labels,
            num_classes,
        } = &target
            && let Some(bad) = labels.iter().find(|&&l| l as usize >= *num_classes)
        {
            return Err(Error::Spec(format!(
                "dataset `{}`: target `{name}` has label {bad}, out of range for {num_classes} classes",
                self.name
            )));
        }
        self.targets.insert(name.to_string(), target);
        Ok(self)
    }

    /// Adds the class target `name` derived from the target `from` by `map` (class `c` of
    /// `from` becomes class `map[c]`): parity of digits, superclasses.
    pub fn with_mapped_target(self, name: &str, from: &str, map: &[u32]) -> Result<Self> {
        let all: Vec<usize> = (0..self.len()).collect();
        let TargetBatch::Classes(labels) = self.gather_target(from, &all)? else {
            return Err(Error::Spec(format!(
                "dataset `{}`: target `{name}` maps `{from}`, which holds real values, not classes",
                self.name
            )));
        };
        let mapped = labels
            .iter()
            .map(|&l| {
                map.get(l as usize).copied().ok_or_else(|| {
                    Error::Spec(format!(
                        "dataset `{}`: target `{name}`: the map has {} entries but `{from}` has class {l}; give one entry per class",
                        self.name,
                        map.len()
                    ))
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        let num_classes = map.iter().max().map_or(0, |&m| m as usize + 1);
        self.with_target(
            name,
            Target::Classes {
                labels: mapped,
                num_classes,
            },
        )
    }

    /// What the target `name` holds: `label` (the default labels), `input` (the samples), or
    /// one of [`Dataset::targets`].
    pub fn target_kind(&self, name: &str) -> Result<TargetKind> {
        match name {
            LABEL_TARGET if !self.y.is_empty() => Ok(TargetKind::Classes(self.num_classes)),
            INPUT_TARGET => Ok(TargetKind::Values(self.sample_width())),
            _ => match self.targets.get(name) {
                Some(Target::Classes { num_classes, .. }) => Ok(TargetKind::Classes(*num_classes)),
                Some(Target::Values { width, .. }) => Ok(TargetKind::Values(*width)),
                None => Err(Error::Spec(format!(
                    "dataset `{}` has no target `{name}`; it has: {}",
                    self.name,
                    self.target_names().join(", ")
                ))),
            },
        }
    }

    /// Every target a task may name.
    pub fn target_names(&self) -> Vec<String> {
        let mut out = vec![];
        if !self.y.is_empty() {
            out.push(LABEL_TARGET.to_string());
        }
        out.push(INPUT_TARGET.to_string());
        out.extend(self.targets.keys().cloned());
        out
    }

    /// The values of target `name` for the samples at `idx`.
    pub fn gather_target(&self, name: &str, idx: &[usize]) -> Result<TargetBatch> {
        let pick = |values: &[f32], width: usize| TargetBatch::Values {
            values: idx
                .iter()
                .flat_map(|&i| values[i * width..(i + 1) * width].iter().copied())
                .collect(),
            width,
        };
        Ok(match (name, self.target_kind(name)?) {
            (LABEL_TARGET, _) => TargetBatch::Classes(idx.iter().map(|&i| self.y[i]).collect()),
            (INPUT_TARGET, _) if self.deferred.is_some() => TargetBatch::Values {
                values: self.gather_batch(idx)?.0,
                width: self.sample_width(),
            },
            (INPUT_TARGET, _) => pick(&self.x, self.sample_width()),
            _ => match &self.targets[name] {
                Target::Classes { labels, .. } => {
                    TargetBatch::Classes(idx.iter().map(|&i| labels[i]).collect())
                }
                Target::Values { values, width } => pick(values, *width),
            },
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.len() / self.stored_width().max(1)
    }

    /// True when the dataset holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of values in one sample (after any deferred transforms).
    pub fn sample_width(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Number of values one sample takes in `x`: [`Dataset::sample_width`], or the width
    /// before the [deferred](Dataset::deferred) transforms.
    pub fn stored_width(&self) -> usize {
        match &self.deferred {
            Some(d) => d.stored_shape.iter().product(),
            None => self.sample_width(),
        }
    }

    /// The stored values of sample `i`: before any [deferred](Dataset::deferred) transforms
    /// ([`Dataset::gather_batch`] applies them).
    pub fn sample(&self, i: usize) -> &[f32] {
        let w = self.stored_width();
        &self.x[i * w..(i + 1) * w]
    }

    /// A new dataset holding the samples at `indices`, in that order (deferred transforms
    /// stay deferred).
    pub fn subset(&self, indices: &[usize], name: impl Into<String>) -> Dataset {
        let w = self.stored_width();
        let mut x = Vec::with_capacity(indices.len() * w);
        let mut y = Vec::with_capacity(if self.y.is_empty() { 0 } else { indices.len() });
        for &i in indices {
            x.extend_from_slice(self.sample(i));
            if !self.y.is_empty() {
                y.push(self.y[i]);
            }
        }
        let targets = self
            .targets
            .iter()
            .map(|(k, t)| {
                let t = match t {
                    Target::Classes {
                        labels,
                        num_classes,
                    } => Target::Classes {
                        labels: indices.iter().map(|&i| labels[i]).collect(),
                        num_classes: *num_classes,
                    },
                    Target::Values { values, width } => Target::Values {
                        values: indices
                            .iter()
                            .flat_map(|&i| values[i * width..(i + 1) * width].iter().copied())
                            .collect(),
                        width: *width,
                    },
                };
                (k.clone(), t)
            })
            .collect();
        Dataset {
            name: name.into(),
            domain: self.domain.clone(),
            task: self.task.clone(),
            sample_shape: self.sample_shape.clone(),
            x,
            y,
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
            targets,
            deferred: self.deferred.clone(),
        }
    }
}

/// A train/test pair of one dataset family.
#[derive(Debug, Clone)]
pub struct Split {
    /// The part to train on.
    pub train: Dataset,
    /// The held-out part to evaluate on.
    pub test: Dataset,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_and_real_targets_follow_subsets_and_batches() {
        let ds = Dataset::new(
            "toy/train",
            vec![2],
            (0..8).map(|v| v as f32).collect(),
            vec![0, 3, 2, 1],
            4,
        )
        .unwrap()
        .with_mapped_target("parity", LABEL_TARGET, &[0, 1, 0, 1])
        .unwrap()
        .with_target(
            "size",
            Target::Values {
                values: vec![0.5, 1.5, 2.5, 3.5],
                width: 1,
            },
        )
        .unwrap();
        assert_eq!(ds.target_kind("parity").unwrap(), TargetKind::Classes(2));
        assert_eq!(ds.target_kind(INPUT_TARGET).unwrap(), TargetKind::Values(2));
        let sub = ds.subset(&[3, 1], "toy/sub");
        assert_eq!(
            sub.gather_target("parity", &[0, 1]).unwrap(),
            TargetBatch::Classes(vec![1, 1])
        );
        assert_eq!(
            sub.gather_target("size", &[1]).unwrap(),
            TargetBatch::Values {
                values: vec![1.5],
                width: 1
            }
        );
        assert_eq!(
            ds.gather_target(INPUT_TARGET, &[2]).unwrap(),
            TargetBatch::Values {
                values: vec![4.0, 5.0],
                width: 2
            }
        );
        let err = ds.target_kind("colour").unwrap_err().to_string();
        assert!(
            err.contains("no target `colour`") && err.contains("parity"),
            "{err}"
        );
        let err = ds
            .clone()
            .with_mapped_target("half", LABEL_TARGET, &[0, 1])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the map has 2 entries but `label` has class 3"),
            "{err}"
        );
        let err = ds
            .with_target(
                "short",
                Target::Values {
                    values: vec![1.0],
                    width: 1,
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 entries for 4 samples"), "{err}");
    }
}
