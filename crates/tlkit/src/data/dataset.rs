//! The in-memory dataset every loader produces and every method consumes.

use crate::{Error, Result};

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
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        let width: usize = self.sample_shape.iter().product();
        self.x.len() / width.max(1)
    }

    /// True when the dataset holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of values in one sample.
    pub fn sample_width(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The values of sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let w = self.sample_width();
        &self.x[i * w..(i + 1) * w]
    }

    /// A new dataset holding the samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize], name: impl Into<String>) -> Dataset {
        let w = self.sample_width();
        let mut x = Vec::with_capacity(indices.len() * w);
        let mut y = Vec::with_capacity(if self.y.is_empty() { 0 } else { indices.len() });
        for &i in indices {
            x.extend_from_slice(self.sample(i));
            if !self.y.is_empty() {
                y.push(self.y[i]);
            }
        }
        Dataset {
            name: name.into(),
            domain: self.domain.clone(),
            task: self.task.clone(),
            sample_shape: self.sample_shape.clone(),
            x,
            y,
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
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
