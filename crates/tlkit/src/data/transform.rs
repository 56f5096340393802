//! Dataset transforms: resize, pad, normalize, per-image standardisation, channel
//! conversions and flatten, plus the serializable [`Transform`] that configs list to build a
//! pipeline.
//!
//! Image transforms expect samples of shape `[C, H, W]`. Each function returns a new dataset
//! with the same name, labels and tags. Every transform works on each sample on its own, so a
//! chain can run eagerly over the whole set or be [deferred](Dataset::defer) to each batch as
//! it is assembled, with the same values bit for bit.

use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Deferred};
use super::limits::Limits;
use crate::{Error, Result};

/// ITU-R BT.601 luma weights for R, G, B (the weights of PIL's `convert("L")` and of
/// torchvision's `rgb_to_grayscale`).
pub const LUMA_601: [f32; 3] = [0.299, 0.587, 0.114];

/// `(C, H, W)` of the samples, or an error naming `op` and what it needs.
fn chw(ds: &Dataset, op: &str) -> Result<(usize, usize, usize)> {
    match ds.sample_shape.as_slice() {
        &[c, h, w] => Ok((c, h, w)),
        other => Err(Error::Spec(format!(
            "{op} on dataset `{}`: expects samples of shape [C, H, W], got {other:?}; \
             apply image transforms before `flatten`",
            ds.name
        ))),
    }
}

/// A copy of `ds` with new samples.
fn with_samples(ds: &Dataset, sample_shape: Vec<usize>, x: Vec<f32>) -> Dataset {
    Dataset {
        sample_shape,
        x,
        ..ds.clone_without_samples()
    }
}

impl Dataset {
    /// Clones everything but the sample buffer (which is left empty).
    fn clone_without_samples(&self) -> Dataset {
        Dataset {
            y: self.y.clone(),
            class_names: self.class_names.clone(),
            targets: self.targets.clone(),
            ..self.unlabelled(self.sample_shape.clone(), Vec::new())
        }
    }

    /// Samples `x` of `sample_shape` under this dataset's name and tags, without labels or
    /// targets: what a transform needs to run on a batch (or to name it in an error).
    fn unlabelled(&self, sample_shape: Vec<usize>, x: Vec<f32>) -> Dataset {
        Dataset {
            name: self.name.clone(),
            domain: self.domain.clone(),
            task: self.task.clone(),
            sample_shape,
            x,
            y: Vec::new(),
            num_classes: self.num_classes,
            class_names: None,
            targets: Default::default(),
            deferred: None,
        }
    }

    /// This dataset with `transforms` deferred to batch time: the stored samples stay as they
    /// are, [`Dataset::sample_shape`] becomes the chain's output shape, and
    /// [`Dataset::gather_batch`] transforms each batch. Memory for transformed samples is then
    /// one batch's, not the whole set's. Transforms already deferred run first.
    ///
    /// # Errors
    /// As the transforms: the chain runs once now on one zero sample, so a chain that does not
    /// fit the samples fails here rather than in the middle of training.
    pub fn defer(self, transforms: &[Transform]) -> Result<Dataset> {
        if transforms.is_empty() {
            return Ok(self);
        }
        let probe = self.unlabelled(self.sample_shape.clone(), vec![0.0; self.sample_width()]);
        let shape = Transform::apply_all(transforms, &probe)?.sample_shape;
        let deferred = match self.deferred {
            Some(mut d) => {
                d.transforms.extend_from_slice(transforms);
                d
            }
            None => Deferred {
                stored_shape: self.sample_shape.clone(),
                transforms: transforms.to_vec(),
            },
        };
        Ok(Dataset {
            sample_shape: shape,
            deferred: Some(deferred),
            ..self
        })
    }

    /// This dataset with its [deferred](Dataset::deferred) transforms applied to every sample
    /// now (a copy when there are none).
    pub fn materialize(&self) -> Result<Dataset> {
        let all: Vec<usize> = (0..self.len()).collect();
        let (x, _) = self.gather_batch(&all)?;
        Ok(with_samples(self, self.sample_shape.clone(), x))
    }

    /// Applies the deferred transforms to `x`, stored samples of this dataset (a batch).
    pub(super) fn transform_stored(&self, x: Vec<f32>) -> Result<Vec<f32>> {
        let Some(d) = &self.deferred else {
            return Ok(x);
        };
        let mut out = self.unlabelled(d.stored_shape.clone(), x);
        for t in &d.transforms {
            out = t.apply(&out)?;
        }
        Ok(out.x)
    }
}

/// `t()` deferred, when `ds` defers its transforms: the functions below read `x` as samples of
/// `sample_shape`, which a deferred dataset's stored samples are not.
fn deferred_on(ds: &Dataset, t: impl FnOnce() -> Transform) -> Option<Result<Dataset>> {
    ds.deferred.as_ref().map(|_| ds.clone().defer(&[t()]))
}

/// Source coordinate and weights of bilinear sampling along one axis, as PyTorch's
/// `interpolate(mode="bilinear", align_corners=False)` computes them (no antialiasing).
fn axis_weights(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

/// Resizes every image to `height`×`width` with bilinear interpolation.
///
/// Matches `torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False)`
/// (half-pixel centres, no antialiasing: shrinking by more than 2× skips pixels).
///
/// # Shapes
/// `[C, H, W]` → `[C, height, width]`.
pub fn resize(ds: &Dataset, height: usize, width: usize) -> Result<Dataset> {
    if let Some(lazy) = deferred_on(ds, || Transform::Resize { height, width }) {
        return lazy;
    }
    let (c, h, w) = chw(ds, "resize")?;
    if height == 0 || width == 0 || h == 0 || w == 0 {
        return Err(Error::Spec(format!(
            "resize on dataset `{}`: cannot resize {h}x{w} images to {height}x{width}; \
             sizes must be positive",
            ds.name
        )));
    }
    if (h, w) == (height, width) {
        return Ok(ds.clone());
    }
    Limits::current()?.values(&[ds.len(), c, height, width], || {
        format!("resize of dataset `{}` to {height}x{width}", ds.name)
    })?;
    let (ys, xs) = (axis_weights(h, height), axis_weights(w, width));
    let mut x = Vec::with_capacity(ds.len() * c * height * width);
    for plane in ds.x.chunks_exact(h * w) {
        for &(y0, y1, ly) in &ys {
            let (r0, r1) = (&plane[y0 * w..][..w], &plane[y1 * w..][..w]);
            for &(x0, x1, lx) in &xs {
                let top = r0[x0] * (1.0 - lx) + r0[x1] * lx;
                let bottom = r1[x0] * (1.0 - lx) + r1[x1] * lx;
                x.push(top * (1.0 - ly) + bottom * ly);
            }
        }
    }
    Ok(with_samples(ds, vec![c, height, width], x))
}

/// Pads every image with `pixels` zeros on each side.
///
/// # Shapes
/// `[C, H, W]` → `[C, H + 2p, W + 2p]`.
pub fn pad(ds: &Dataset, pixels: usize) -> Result<Dataset> {
    if let Some(lazy) = deferred_on(ds, || Transform::Pad { pixels }) {
        return lazy;
    }
    let (c, h, w) = chw(ds, "pad")?;
    let what = || format!("pad of dataset `{}` by {pixels} pixels", ds.name);
    let grown = |d: usize| pixels.checked_mul(2).and_then(|p| p.checked_add(d));
    let (ph, pw) = match (grown(h), grown(w)) {
        (Some(ph), Some(pw)) => (ph, pw),
        _ => (usize::MAX, usize::MAX),
    };
    Limits::current()?.values(&[ds.len(), c, ph, pw], what)?;
    let mut x = vec![0.0; ds.len() * c * ph * pw];
    for (src, dst) in ds.x.chunks_exact(h * w).zip(x.chunks_exact_mut(ph * pw)) {
        for r in 0..h {
            let at = (r + pixels) * pw + pixels;
            dst[at..at + w].copy_from_slice(&src[r * w..(r + 1) * w]);
        }
    }
    Ok(with_samples(ds, vec![c, ph, pw], x))
}

/// Subtracts `mean` and divides by `std`, per channel (the first axis of the sample shape).
///
/// `mean` and `std` hold one value per channel, or one value for all channels.
pub fn normalize(ds: &Dataset, mean: &[f32], std: &[f32]) -> Result<Dataset> {
    if let Some(lazy) = deferred_on(ds, || Transform::Normalize {
        mean: mean.to_vec(),
        std: std.to_vec(),
    }) {
        return lazy;
    }
    let c = ds.sample_shape.first().copied().unwrap_or(1).max(1);
    for (what, v) in [("mean", mean), ("std", std)] {
        if v.len() != c && v.len() != 1 {
            return Err(Error::Spec(format!(
                "normalize on dataset `{}`: {what} has {} values but samples {:?} have {c} \
                 channel(s); give {c} values or one",
                ds.name,
                v.len(),
                ds.sample_shape
            )));
        }
    }
    if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s != 0.0)) {
        return Err(Error::Spec(format!(
            "normalize on dataset `{}`: std {s} must be finite and non-zero",
            ds.name
        )));
    }
    let per_channel = ds.sample_width() / c;
    let pick = |v: &[f32], ch: usize| if v.len() == 1 { v[0] } else { v[ch] };
    let x =
        ds.x.chunks_exact(per_channel.max(1))
            .enumerate()
            .flat_map(|(k, plane)| {
                let ch = k % c;
                let (m, s) = (pick(mean, ch), pick(std, ch));
                plane.iter().map(move |&v| (v - m) / s)
            })
            .collect();
    Ok(with_samples(ds, ds.sample_shape.clone(), x))
}

/// Added to each plane's standard deviation in [`standardize`], so that a flat plane stays
/// finite (it becomes all zeros).
pub const STANDARDIZE_EPS: f32 = 1e-5;

/// Standardises every image on its own: each channel plane minus its mean, over its
/// (population) standard deviation plus [`STANDARDIZE_EPS`]. Instance normalisation of the
/// input, as Shu et al.'s DIRT-T code applies before its digits classifiers; it removes each
/// image's brightness and contrast, and fits no statistics on the data.
///
/// # Shapes
/// `[C, H, W]` → `[C, H, W]`.
pub fn standardize(ds: &Dataset) -> Result<Dataset> {
    if let Some(lazy) = deferred_on(ds, || Transform::Standardize) {
        return lazy;
    }
    let (_, h, w) = chw(ds, "standardize")?;
    let n = (h * w) as f64;
    let mut x = Vec::with_capacity(ds.x.len());
    for plane in ds.x.chunks_exact(h * w) {
        let mean = plane.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = plane
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let scale = var.sqrt() + f64::from(STANDARDIZE_EPS);
        x.extend(
            plane
                .iter()
                .map(|&v| ((f64::from(v) - mean) / scale) as f32),
        );
    }
    Ok(with_samples(ds, ds.sample_shape.clone(), x))
}

/// Repeats a single channel three times; three-channel data is returned unchanged.
///
/// # Shapes
/// `[1, H, W]` → `[3, H, W]`.
pub fn to_rgb(ds: &Dataset) -> Result<Dataset> {
    if let Some(lazy) = deferred_on(ds, || Transform::ToRgb) {
        return lazy;
    }
    let (c, h, w) = chw(ds, "to_rgb")?;
    match c {
        3 => Ok(ds.clone()),
        1 => {
            Limits::current()?.values(&[ds.len(), 3, h, w], || {
                format!("to_rgb of dataset `{}`", ds.name)
            })?;
            let mut x = Vec::with_capacity(ds.x.len() * 3);
            for plane in ds.x.chunks_exact(h * w) {
                for _ in 0..3 {
                    x.extend_from_slice(plane);
                }
            }
            Ok(with_samples(ds, vec![3, h, w], x))
        }
        _ => Err(Error::Spec(format!(
            "to_rgb on dataset `{}`: expects 1 channel, got {c} (shape {:?})",
            ds.name, ds.sample_shape
        ))),
    }
}

/// Converts RGB to one channel of ITU-R BT.601 luma ([`LUMA_601`]); one-channel data is
/// returned unchanged.
///
/// # Shapes
/// `[3, H, W]` → `[1, H, W]`.
pub fn to_grayscale(ds: &Dataset) -> Result<Dataset> {
    if let Some(lazy) = deferred_on(ds, || Transform::ToGrayscale) {
        return lazy;
    }
    let (c, h, w) = chw(ds, "to_grayscale")?;
    match c {
        1 => Ok(ds.clone()),
        3 => {
            let mut x = Vec::with_capacity(ds.x.len() / 3);
            for s in ds.x.chunks_exact(3 * h * w) {
                let (r, rest) = s.split_at(h * w);
                let (g, b) = rest.split_at(h * w);
                x.extend(
                    (0..h * w)
                        .map(|i| LUMA_601[0] * r[i] + LUMA_601[1] * g[i] + LUMA_601[2] * b[i]),
                );
            }
            Ok(with_samples(ds, vec![1, h, w], x))
        }
        _ => Err(Error::Spec(format!(
            "to_grayscale on dataset `{}`: expects 3 channels, got {c} (shape {:?})",
            ds.name, ds.sample_shape
        ))),
    }
}

/// Flattens every sample to one axis.
///
/// # Shapes
/// `[d1, .., dk]` → `[d1 · .. · dk]`.
pub fn flatten(ds: &Dataset) -> Result<Dataset> {
    if let Some(lazy) = deferred_on(ds, || Transform::Flatten) {
        return lazy;
    }
    let mut out = ds.clone();
    out.sample_shape = vec![ds.sample_width()];
    Ok(out)
}

/// One transform step as written in a config, e.g. `{ op = "resize", height = 32, width = 32 }`
/// in TOML or `{"op": "normalize", "mean": [0.1307], "std": [0.3081]}` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// [`resize`] to `height`×`width` (bilinear).
    Resize {
        /// Output height.
        height: usize,
        /// Output width.
        width: usize,
    },
    /// [`pad`] with `pixels` zeros on each side.
    Pad {
        /// Zeros added on each side.
        pixels: usize,
    },
    /// [`normalize`] per channel.
    Normalize {
        /// Per-channel (or single) mean.
        mean: Vec<f32>,
        /// Per-channel (or single) standard deviation.
        std: Vec<f32>,
    },
    /// [`standardize`] each image on its own (instance normalisation).
    Standardize,
    /// [`to_rgb`]: one channel to three.
    ToRgb,
    /// [`to_grayscale`]: three channels to BT.601 luma.
    ToGrayscale,
    /// [`flatten`] samples to one axis.
    Flatten,
}

impl Transform {
    /// Applies this transform to `ds` (deferred when `ds` defers its transforms).
    pub fn apply(&self, ds: &Dataset) -> Result<Dataset> {
        match self {
            Transform::Resize { height, width } => resize(ds, *height, *width),
            Transform::Pad { pixels } => pad(ds, *pixels),
            Transform::Normalize { mean, std } => normalize(ds, mean, std),
            Transform::Standardize => standardize(ds),
            Transform::ToRgb => to_rgb(ds),
            Transform::ToGrayscale => to_grayscale(ds),
            Transform::Flatten => flatten(ds),
        }
    }

    /// Applies `transforms` in order; an empty list returns a copy of `ds`.
    pub fn apply_all(transforms: &[Transform], ds: &Dataset) -> Result<Dataset> {
        let mut out = ds.clone();
        for t in transforms {
            out = t.apply(&out)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_ds(c: usize, h: usize, w: usize, x: Vec<f32>) -> Dataset {
        let n = x.len() / (c * h * w);
        Dataset::new("t/train", vec![c, h, w], x, vec![0; n], 1).unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() < 1e-6, "index {i}: {x} vs {y}\n{a:?}\n{b:?}");
        }
    }

    // Expected values follow PyTorch's align_corners=False rule, src = (dst + 0.5)·in/out − 0.5
    // clamped at 0, e.g. for 2 → 4: src = 0, 0.25, 0.75, 1.25 (the last reads the edge twice):
    //   F.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode="bilinear")
    //   → rows [0, .25, .75, 1], [.5, .75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5], [2, 2.25, 2.75, 3]
    #[test]
    fn resize_up_matches_pytorch_bilinear() {
        let ds = image_ds(1, 2, 2, vec![0., 1., 2., 3.]);
        let r = resize(&ds, 4, 4).unwrap();
        assert_eq!(r.sample_shape, vec![1, 4, 4]);
        #[rustfmt::skip]
        close(&r.x, &[
            0.0, 0.25, 0.75, 1.0,
            0.5, 0.75, 1.25, 1.5,
            1.5, 1.75, 2.25, 2.5,
            2.0, 2.25, 2.75, 3.0,
        ]);
    }

    // Shrinking 4 → 2 samples at src = 0.5 and 2.5: the mean of each 2×2 block.
    #[test]
    fn resize_down_and_multichannel() {
        let plane: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut x = plane.clone();
        x.extend(plane.iter().map(|v| -v));
        let r = resize(&image_ds(2, 4, 4, x), 2, 2).unwrap();
        close(&r.x, &[2.5, 4.5, 10.5, 12.5, -2.5, -4.5, -10.5, -12.5]);
        assert!(resize(&r, 0, 3).is_err());
    }

    #[test]
    fn pad_adds_zero_border() {
        let ds = image_ds(1, 1, 2, vec![5., 6., 7., 8.]);
        let p = pad(&ds, 1).unwrap();
        assert_eq!(p.sample_shape, vec![1, 3, 4]);
        assert_eq!(
            p.sample(1),
            &[0., 0., 0., 0., 0., 7., 8., 0., 0., 0., 0., 0.]
        );
    }

    #[test]
    fn huge_resize_and_pad_are_refused_before_allocating() {
        let ds = image_ds(1, 2, 2, vec![0.; 8]);
        let e = resize(&ds, 100_000, 100_000).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
        assert!(e.to_string().contains("resize of dataset `t/train`"), "{e}");
        let e = pad(&ds, usize::MAX / 2).unwrap_err();
        assert!(e.to_string().contains("pad of dataset"), "{e}");
    }

    #[test]
    fn normalize_per_channel_and_broadcast() {
        let ds = image_ds(2, 1, 2, vec![1., 3., 10., 20.]);
        let n = normalize(&ds, &[1., 10.], &[2., 5.]).unwrap();
        assert_eq!(n.x, vec![0., 1., 0., 2.]);
        let n = normalize(&ds, &[1.], &[1.]).unwrap();
        assert_eq!(n.x, vec![0., 2., 9., 19.]);
        let msg = normalize(&ds, &[0., 0., 0.], &[1.])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("mean has 3 values") && msg.contains("2 channel"),
            "{msg}"
        );
        assert!(normalize(&ds, &[0.], &[0.]).is_err());
    }

    #[test]
    fn standardize_each_image_and_channel_on_its_own() {
        // Two images of two 1×2 channels; the second channel of the second image is flat.
        let ds = image_ds(2, 1, 2, vec![1., 3., 10., 30., 0., 4., 7., 7.]);
        let s = standardize(&ds).unwrap();
        // Planes of standard deviation 1, 10, 2 and 0.
        let u = |std: f32| std / (std + STANDARDIZE_EPS);
        #[rustfmt::skip]
        close(&s.x, &[-u(1.), u(1.), -u(10.), u(10.), -u(2.), u(2.), 0., 0.]);
        // Brightness and contrast are gone: an affine change of an image leaves it unchanged.
        let mut brighter = ds.clone();
        brighter.x.iter_mut().for_each(|v| *v = 3.0 * *v + 0.5);
        let b = standardize(&brighter).unwrap();
        for (u, v) in s.x.iter().zip(&b.x) {
            assert!((u - v).abs() < 1e-4, "{u} vs {v}");
        }
        let flat = flatten(&ds).unwrap();
        assert!(
            standardize(&flat)
                .unwrap_err()
                .to_string()
                .contains("[C, H, W]")
        );
    }

    #[test]
    fn rgb_and_grayscale() {
        let ds = image_ds(1, 1, 2, vec![0.5, 1.0]);
        let rgb = to_rgb(&ds).unwrap();
        assert_eq!(rgb.sample_shape, vec![3, 1, 2]);
        assert_eq!(rgb.x, vec![0.5, 1.0, 0.5, 1.0, 0.5, 1.0]);
        // Gray in, gray out: the luma weights sum to 1.
        close(&to_grayscale(&rgb).unwrap().x, &[0.5, 1.0]);
        let red_green = image_ds(3, 1, 2, vec![1., 0., 0., 1., 0., 0.]);
        close(&to_grayscale(&red_green).unwrap().x, &[0.299, 0.587]);
        assert_eq!(to_rgb(&rgb).unwrap().x, rgb.x);
        let two = image_ds(2, 1, 1, vec![0., 0.]);
        assert!(to_rgb(&two).is_err() && to_grayscale(&two).is_err());
    }

    #[test]
    fn flatten_and_shape_errors() {
        let ds = image_ds(1, 2, 3, vec![0.; 12]);
        let f = flatten(&ds).unwrap();
        assert_eq!((f.sample_shape.clone(), f.len()), (vec![6], 2));
        let msg = resize(&f, 4, 4).unwrap_err().to_string();
        assert!(msg.contains("[C, H, W]") && msg.contains("[6]"), "{msg}");
    }

    #[test]
    fn transform_deserializes_and_applies_in_order() {
        let json = r#"[{"op": "pad", "pixels": 1},
                       {"op": "to_rgb"},
                       {"op": "normalize", "mean": [0.5], "std": [0.5]},
                       {"op": "resize", "height": 2, "width": 2},
                       {"op": "flatten"}]"#;
        let ts: Vec<Transform> = serde_json::from_str(json).unwrap();
        assert_eq!(ts[0], Transform::Pad { pixels: 1 });
        let ds = image_ds(1, 2, 2, vec![1.; 4]);
        let out = Transform::apply_all(&ts, &ds).unwrap();
        assert_eq!(out.sample_shape, vec![12]);
        // 4x4 padded, sampled at 0.5 and 2.5: each output mixes one 1 with three −1 (padding).
        close(&out.x, &[-0.5; 12]);
        for (op, t) in [
            ("to_grayscale", Transform::ToGrayscale),
            ("standardize", Transform::Standardize),
        ] {
            let toml: toml::Value = toml::from_str(&format!("op = \"{op}\"")).unwrap();
            assert_eq!(toml.try_into::<Transform>().unwrap(), t);
        }
    }

    /// Every op once, in an order where each sees a shape it accepts.
    fn every_op() -> Vec<Transform> {
        vec![
            Transform::Pad { pixels: 2 },
            Transform::Resize {
                height: 17,
                width: 23,
            },
            Transform::ToRgb,
            Transform::Normalize {
                mean: vec![0.1, 0.2, 0.3],
                std: vec![0.5, 0.25, 2.0],
            },
            Transform::ToGrayscale,
            Transform::Standardize,
            Transform::Flatten,
        ]
    }

    #[test]
    fn deferred_batches_equal_eager_ones_bit_for_bit() {
        let digits = crate::data::optdigits_embedded().unwrap().train;
        let eager = Transform::apply_all(&every_op(), &digits).unwrap();
        let lazy = digits.clone().defer(&every_op()).unwrap();
        assert_eq!(lazy.sample_shape, eager.sample_shape);
        assert_eq!((lazy.len(), lazy.sample_width()), (eager.len(), 17 * 23));
        // The stored samples are the loaded ones, untransformed.
        assert_eq!(lazy.x, digits.x);
        let idx = [7, 0, 1000, 3, 3];
        let (a, b) = (
            eager.gather_batch(&idx).unwrap(),
            lazy.gather_batch(&idx).unwrap(),
        );
        assert_eq!(a.1, b.1);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.0), bits(&b.0));
        // Subsets stay deferred; materialising gives the eager samples.
        let sub = lazy.subset(&idx, "sub");
        assert!(sub.deferred.is_some());
        assert_eq!(
            bits(&sub.gather_batch(&[0, 1]).unwrap().0),
            bits(&a.0[..2 * 17 * 23])
        );
        assert_eq!(bits(&lazy.materialize().unwrap().x), bits(&eager.x));
        let input = |d: &Dataset| d.gather_target(crate::data::INPUT_TARGET, &idx).unwrap();
        assert_eq!(input(&eager), input(&lazy));
    }

    #[test]
    fn transforms_of_a_deferred_dataset_are_deferred_in_order() {
        let digits = crate::data::optdigits_embedded().unwrap().test;
        let ops = every_op();
        let (first, rest) = ops.split_at(3);
        let lazy = digits.clone().defer(first).unwrap();
        let twice = lazy.clone().defer(&rest[..2]).unwrap();
        let through_fns = flatten(&standardize(&twice).unwrap()).unwrap();
        let chain = &through_fns.deferred.as_ref().unwrap().transforms;
        assert_eq!(chain, &ops);
        let eager = Transform::apply_all(&ops, &digits).unwrap();
        assert_eq!(through_fns.materialize().unwrap().x, eager.x);
        assert_eq!(digits.clone().defer(&[]).unwrap().deferred, None);
    }

    #[test]
    fn a_chain_that_does_not_fit_fails_when_deferred() {
        let digits = crate::data::optdigits_embedded().unwrap().test;
        let flat = [
            Transform::Flatten,
            Transform::Resize {
                height: 4,
                width: 4,
            },
        ];
        let e = digits.clone().defer(&flat).unwrap_err().to_string();
        assert!(e.contains("[C, H, W]") && e.contains(&digits.name), "{e}");
        let huge = [Transform::Resize {
            height: 100_000,
            width: 100_000,
        }];
        let e = digits.clone().defer(&huge).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
        let norm = [Transform::Normalize {
            mean: vec![0.0; 2],
            std: vec![1.0],
        }];
        assert!(
            digits
                .defer(&norm)
                .unwrap_err()
                .to_string()
                .contains("mean has 2 values")
        );
    }

    #[test]
    fn transform_rejects_unknown_ops_and_fields() {
        let e = serde_json::from_str::<Transform>(r#"{"op": "rotate"}"#).unwrap_err();
        assert!(e.to_string().contains("rotate"), "{e}");
        let e = serde_json::from_str::<Transform>(r#"{"op": "pad", "pixels": 2, "mode": "x"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("mode"), "{e}");
    }
}
