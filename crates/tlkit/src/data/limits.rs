//! Bounds on what input data may make tlkit allocate, checked where sizes enter (the readers,
//! the transforms, the CLI's shapes) and before anything is allocated.
//!
//! Sizes in data files and configs are user input: one label of 100 000 in a 50-row CSV used to
//! make a 100 001-class network whose confusion matrix alone needs gigabytes, and an image header
//! of 20 000 × 20 000 pixels in a 389 KB PNG a 4.8 GB buffer. Each bound below is far above what
//! real data of this toolkit needs, and an environment variable raises it when a run really is
//! that large; the error says which.

use crate::{Error, Result};

/// Environment variable that sets [`Limits::max_classes`].
pub const MAX_CLASSES_ENV: &str = "TLKIT_MAX_CLASSES";
/// Environment variable that sets [`Limits::max_values`].
pub const MAX_VALUES_ENV: &str = "TLKIT_MAX_VALUES";
/// Environment variable that sets [`Limits::max_image_pixels`].
pub const MAX_IMAGE_PIXELS_ENV: &str = "TLKIT_MAX_IMAGE_PIXELS";

/// Default [`Limits::max_classes`] (ImageNet-21k has 21 841 classes: raise it for that).
pub const DEFAULT_MAX_CLASSES: usize = 10_000;
/// Default [`Limits::max_values`]: 2³¹ values, 8 GiB as `f32`.
pub const DEFAULT_MAX_VALUES: usize = 1 << 31;
/// Default [`Limits::max_image_pixels`]: 2²⁶ pixels (8192 × 8192).
pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 1 << 26;
/// An inferred class count (largest label + 1) may exceed the number of samples only up to
/// this many classes (a small test file of a 100-class set); above it, more classes than
/// samples means a stray label far more often than real data.
pub const INFERRED_CLASSES_FLOOR: usize = 100;

/// The bounds in force; [`Limits::current`] reads them from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most classes a dataset may have, declared or inferred.
    pub max_classes: usize,
    /// Whether `max_classes` was set by the user: it then also replaces the
    /// classes-versus-samples check on inferred class counts.
    pub classes_set: bool,
    /// Most values (`f32` elements) one dataset, sample shape or decompressed file may hold.
    pub max_values: usize,
    /// Most pixels one image may have, decoded or resized to.
    pub max_image_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_classes: DEFAULT_MAX_CLASSES,
            classes_set: false,
            max_values: DEFAULT_MAX_VALUES,
            max_image_pixels: DEFAULT_MAX_IMAGE_PIXELS,
        }
    }
}

fn env_bound(var: &'static str) -> Result<Option<u64>> {
    match std::env::var(var) {
        Err(_) => Ok(None),
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&v| v > 0)
            .map(Some)
            .ok_or_else(|| Error::Config {
                path: format!("environment variable {var}").into(),
                msg: format!("`{s}` is not a positive whole number"),
            }),
    }
}

impl Limits {
    /// The defaults, with each bound replaced by its environment variable when set
    /// ([`MAX_CLASSES_ENV`], [`MAX_VALUES_ENV`], [`MAX_IMAGE_PIXELS_ENV`]).
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable when its value is not a positive whole number.
    pub fn current() -> Result<Limits> {
        let mut l = Limits::default();
        if let Some(v) = env_bound(MAX_CLASSES_ENV)? {
            l.max_classes = usize::try_from(v).unwrap_or(usize::MAX);
            l.classes_set = true;
        }
        if let Some(v) = env_bound(MAX_VALUES_ENV)? {
            l.max_values = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = env_bound(MAX_IMAGE_PIXELS_ENV)? {
            l.max_image_pixels = v;
        }
        Ok(l)
    }

    /// The number of values of `shape` (the product of its sizes), or [`Error::TooLarge`]
    /// naming `what` when it overflows or exceeds [`Limits::max_values`].
    pub fn values(&self, shape: &[usize], what: impl FnOnce() -> String) -> Result<usize> {
        let product = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        match product {
            Some(v) if v <= self.max_values => Ok(v),
            _ => Err(Error::TooLarge {
                what: what(),
                size: match product {
                    Some(v) => format!("{v} values (shape {shape:?})"),
                    None => format!("shape {shape:?} holds more values than a usize can count"),
                },
                limit: format!("{} values", self.max_values),
                env: MAX_VALUES_ENV,
            }),
        }
    }

    /// Checks an image of `width` × `height` pixels against [`Limits::max_image_pixels`].
    pub fn image(&self, width: u64, height: u64, what: impl FnOnce() -> String) -> Result<()> {
        let pixels = width.saturating_mul(height);
        // The image crate counts each side in a u32.
        if pixels <= self.max_image_pixels && width.max(height) <= u64::from(u32::MAX) {
            return Ok(());
        }
        Err(Error::TooLarge {
            what: what(),
            size: format!("{width} x {height} (width x height) = {pixels} pixels"),
            limit: format!("{} pixels", self.max_image_pixels),
            env: MAX_IMAGE_PIXELS_ENV,
        })
    }

    /// Checks a declared class count against [`Limits::max_classes`]; `what` names where it
    /// was declared.
    pub fn declared_classes(&self, classes: usize, what: impl FnOnce() -> String) -> Result<()> {
        if classes <= self.max_classes {
            return Ok(());
        }
        Err(Error::TooLarge {
            what: what(),
            size: format!("{classes} classes"),
            limit: format!("{} classes", self.max_classes),
            env: MAX_CLASSES_ENV,
        })
    }

    /// Why `classes` inferred as the largest label + 1 from `samples` samples is not
    /// believable, or `None` when it is: above [`Limits::max_classes`], or (unless the user set
    /// that bound) more classes than samples and more than [`INFERRED_CLASSES_FLOOR`].
    pub fn inferred_classes_problem(&self, classes: usize, samples: usize) -> Option<String> {
        if classes > self.max_classes {
            return Some(format!(
                "makes {classes} classes, above the limit of {} ({MAX_CLASSES_ENV})",
                self.max_classes
            ));
        }
        if !self.classes_set && classes > samples.max(INFERRED_CLASSES_FLOOR) {
            return Some(format!(
                "makes {classes} classes for {samples} samples (a stray label?)"
            ));
        }
        None
    }
}

/// The index of the first value that is NaN or infinite, if any.
pub(crate) fn first_non_finite(values: &[f32]) -> Option<usize> {
    values.iter().position(|v| !v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_overflow_and_bound_are_errors_naming_the_input() {
        let l = Limits::default();
        assert_eq!(l.values(&[2, 3, 4], || "x".into()).unwrap(), 24);
        let e = l
            .values(&[1, 4294967296, 4294967296], || "input shape".into())
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
        assert!(
            msg.contains("input shape") && msg.contains("more values than a usize can count"),
            "{msg}"
        );
        let msg = l
            .values(&[3, 100_000, 100_000], || "resize".into())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("30000000000 values") && msg.contains(MAX_VALUES_ENV),
            "{msg}"
        );
    }

    #[test]
    fn inferred_classes_against_samples_and_bound() {
        let l = Limits::default();
        // A small test file of a 10-class set, and a large set with many classes, pass.
        assert_eq!(l.inferred_classes_problem(10, 3), None);
        assert_eq!(l.inferred_classes_problem(5000, 60_000), None);
        // A label of 1000 in 50 rows does not; nor 100 000 classes anywhere.
        let p = l.inferred_classes_problem(1001, 50).unwrap();
        assert!(p.contains("1001 classes for 50 samples"), "{p}");
        assert!(l.inferred_classes_problem(100_001, 1_000_000).is_some());
        // A bound the user set replaces the classes-versus-samples check.
        let raised = Limits {
            max_classes: 2000,
            classes_set: true,
            ..Limits::default()
        };
        assert_eq!(raised.inferred_classes_problem(1001, 50), None);
        assert!(raised.declared_classes(2001, || "n".into()).is_err());
    }

    // The data readers' fuzz corpus (fuzz/corpus/{npz,idx,csv,image_folder}), replayed on
    // stable the way each fuzz target feeds its input: every input reads or fails cleanly.
    #[test]
    fn data_fuzz_corpus_replays_without_panic() {
        use crate::data::{CsvOptions, ImageFolderOptions};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/input");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let mut replayed = 0;
        for target in ["npz", "idx", "csv", "image_folder"] {
            for entry in std::fs::read_dir(root.join(target)).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                let body = if target == "csv" {
                    &bytes[1..]
                } else {
                    &bytes[..]
                };
                std::fs::write(&file, body).unwrap();
                let _ = match target {
                    "npz" => crate::data::load_npz(&file, "x", "y", "f").map(drop),
                    "idx" => crate::data::load_pair(&file, &file, "f").map(drop),
                    "csv" => crate::data::load_csv(&file, &CsvOptions::default(), "f").map(drop),
                    _ => {
                        let png = dir.path().join("a/x.png");
                        std::fs::rename(&file, &png).unwrap();
                        let opts = ImageFolderOptions::default();
                        let r = crate::data::load_image_folder(dir.path(), &opts, "f").map(drop);
                        std::fs::remove_file(&png).unwrap();
                        r
                    }
                };
                replayed += 1;
            }
        }
        assert!(
            replayed >= 10,
            "only {replayed} corpus inputs under {root:?}"
        );
    }

    #[test]
    fn image_pixels_are_bounded() {
        let l = Limits::default();
        assert!(l.image(8192, 8192, || "a".into()).is_ok());
        let msg = l.image(20_000, 20_000, || "b.png".into()).unwrap_err();
        assert!(msg.to_string().contains("400000000 pixels"), "{msg}");
    }
}
