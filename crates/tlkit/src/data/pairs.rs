//! Domain pairs from real data, and the checks that make any two datasets a pair.
//!
//! - MNIST → optdigits: the target is UCI optdigits (8×8 counts of on-pixels in 4×4 blocks of
//!   a 32×32 bitmap, scaled to [0, 1]) upsampled to 28×28 bilinearly (`resize` transform), so
//!   the MNIST LeNet reads both. The direction kept is "optdigits up to MNIST's size", not
//!   "MNIST down through the optdigits recipe", so the source stays the standard MNIST input.
//! - MNIST → MNIST-M-style (`dataset = "mnist-m"`): each MNIST digit d is blended with a
//!   random 28×28 patch p of one of scikit-learn's two photos (china.jpg, flower.jpg) as
//!   |p − d| per RGB channel, the recipe of Ganin et al. 2016 (who used BSDS500 photos), with
//!   MNIST's grey levels d ∈ [0, 1]. `blend_digits = "binary"` first binarises the digit
//!   (every inked pixel, d > 0, becomes 1), as the public MNIST-M generator does (tf-dann's
//!   `create_mnistm.py`): inside the strokes the patch is inverted, outside it is kept. The
//!   paper does not say which; grey is the default. Patches are drawn from a
//!   seeded generator, so the set is the same on every machine. The MNIST source is replicated
//!   to 3 channels (`to_rgb` transform) for this pair.
//! - MNIST → MNIST-M-style with eight photos (`dataset = "mnist-m-wide"`): the same recipe with
//!   six colour photos of scikit-image's sample data added (astronaut, chelsea, coffee,
//!   hubble_deep_field, motorcycle_left, rocket; `tlkit data fetch skimage-photos`), a wider
//!   target domain, closer to BSDS500's variety than two photos.
//!
//! Any two datasets with the same label set and sample shape (after their transforms) pair.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::DataConfig;
use crate::data::{Dataset, Split, Transform, cached_file};
use crate::experiment::load_data;
use crate::{Error, Result};

/// The name that selects the generated MNIST-M-style target (scikit-learn's two photos).
pub const MNIST_M: &str = "mnist-m";
/// The name that selects the MNIST-M-style target blended from eight photos.
pub const MNIST_M_WIDE: &str = "mnist-m-wide";

/// The cached photos of each set: (dataset folder, files).
const SKLEARN_PHOTOS: (&str, &[&str]) = ("sklearn-digits", &["china.jpg", "flower.jpg"]);
const SKIMAGE_PHOTOS: (&str, &[&str]) = (
    "skimage-photos",
    &[
        "astronaut.png",
        "chelsea.png",
        "coffee.png",
        "hubble_deep_field.jpg",
        "motorcycle_left.png",
        "rocket.jpg",
    ],
);

/// What of the digit the MNIST-M-style blend uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigitStrokes {
    /// MNIST's grey levels d ∈ [0, 1] as they are.
    #[default]
    Grey,
    /// Every inked pixel (d > 0) counts as 1: the public MNIST-M generator's recipe.
    Binary,
}

/// An RGB photo with values in [0, 1], channel-planar (`[3, height, width]`).
#[derive(Debug, Clone)]
pub struct Photo {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<f32>,
}

/// Reads scikit-learn's two sample photos from the `sklearn-digits` cache folder, and with
/// `wide` also scikit-image's six from `skimage-photos`.
pub fn load_photos(cache: &Path, wide: bool) -> Result<Vec<Photo>> {
    let sets = if wide {
        vec![SKLEARN_PHOTOS, SKIMAGE_PHOTOS]
    } else {
        vec![SKLEARN_PHOTOS]
    };
    sets.into_iter()
        .flat_map(|(set, files)| files.iter().map(move |f| (set, *f)))
        .map(|(set, f)| {
            let path = cached_file(set, f, cache)?;
            let img = image::open(&path)
                .map_err(|e| Error::format(&path, None, e.to_string()))?
                .to_rgb8();
            let (w, h) = (img.width() as usize, img.height() as usize);
            let mut rgb = vec![0f32; 3 * w * h];
            for (x, y, p) in img.enumerate_pixels() {
                for c in 0..3 {
                    rgb[c * w * h + y as usize * w + x as usize] = f32::from(p[c]) / 255.0;
                }
            }
            Ok(Photo {
                width: w,
                height: h,
                rgb,
            })
        })
        .collect()
}

/// Blends every one-channel digit of `digits` with a random patch of a random photo:
/// `out[c] = |patch[c] − digit|`, the digit binarised or not as `strokes` says. The same `seed`
/// gives the same images.
///
/// # Shapes
/// `[1, H, W]` → `[3, H, W]`.
pub fn mnist_m_style(
    digits: &Dataset,
    photos: &[Photo],
    strokes: DigitStrokes,
    seed: u64,
    name: &str,
) -> Result<Dataset> {
    let [1, h, w] = digits.sample_shape[..] else {
        return Err(Error::Spec(format!(
            "MNIST-M-style blending needs one-channel images, `{}` has samples of {:?}",
            digits.name, digits.sample_shape
        )));
    };
    if photos.is_empty() || photos.iter().any(|p| p.width < w || p.height < h) {
        return Err(Error::Spec(format!(
            "MNIST-M-style blending needs photos of at least {h}×{w}"
        )));
    }
    let ink = |v: f32| match strokes {
        DigitStrokes::Grey => v,
        DigitStrokes::Binary if v > 0.0 => 1.0,
        DigitStrokes::Binary => 0.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(digits.x.len() * 3);
    for i in 0..digits.len() {
        let d = digits.sample(i);
        let p = &photos[rng.random_range(0..photos.len())];
        let (ox, oy) = (
            rng.random_range(0..=p.width - w),
            rng.random_range(0..=p.height - h),
        );
        for c in 0..3 {
            let plane = &p.rgb[c * p.width * p.height..];
            for r in 0..h {
                let row = &plane[(oy + r) * p.width + ox..];
                for col in 0..w {
                    x.push((row[col] - ink(d[r * w + col])).abs());
                }
            }
        }
    }
    let mut out = Dataset::new(name, vec![3, h, w], x, digits.y.clone(), digits.num_classes)?;
    out.domain = if photos.len() > 2 {
        MNIST_M_WIDE
    } else {
        MNIST_M
    }
    .into();
    out.task = digits.task.clone();
    out.class_names = digits.class_names.clone();
    Ok(out)
}

/// Loads one domain: a [`DataConfig`] as for `tlkit train`, or `dataset = "mnist-m"` for the
/// MNIST-M-style set generated from MNIST with `blend_seed` and `strokes` (limits apply to the
/// MNIST digits before blending, transforms after).
pub fn load_domain(
    d: &DataConfig,
    seed: u64,
    (blend_seed, strokes): (u64, DigitStrokes),
    base: &Path,
    cache: &Path,
) -> Result<Split> {
    let name = match d.dataset.as_deref() {
        Some(n @ (MNIST_M | MNIST_M_WIDE)) => n,
        _ => return load_data(d, seed, base, cache),
    };
    let mut plain = d.clone();
    plain.dataset = Some("mnist".into());
    plain.transforms.clear();
    let digits = load_data(&plain, seed, base, cache)?;
    let photos = load_photos(cache, name == MNIST_M_WIDE)?;
    let train = mnist_m_style(
        &digits.train,
        &photos,
        strokes,
        blend_seed,
        &format!("{name}/train"),
    )?;
    let test = mnist_m_style(
        &digits.test,
        &photos,
        strokes,
        blend_seed.wrapping_add(0x7E57),
        &format!("{name}/test"),
    )?;
    Ok(Split {
        train: Transform::apply_all(&d.transforms, &train)?,
        test: Transform::apply_all(&d.transforms, &test)?,
    })
}

/// Checks that `source` and `target` can be paired: same label set, same sample shape.
pub fn check_pair(source: &Dataset, target: &Dataset) -> Result<()> {
    if source.num_classes != target.num_classes
        || (source.class_names.is_some()
            && target.class_names.is_some()
            && source.class_names != target.class_names)
    {
        return Err(Error::Spec(format!(
            "source `{}` and target `{}` have different label sets ({} vs {} classes{}); domain adaptation needs the same classes in both",
            source.name,
            target.name,
            source.num_classes,
            target.num_classes,
            if source.num_classes == target.num_classes {
                ", names differ"
            } else {
                ""
            }
        )));
    }
    if source.sample_shape != target.sample_shape {
        return Err(Error::Spec(format!(
            "source `{}` has samples of {} but target `{}` has {}; add transforms to [source] or [target] (e.g. {{ op = \"resize\", height = 28, width = 28 }}, {{ op = \"to_rgb\" }})",
            source.name,
            crate::nn::fmt_shape(&source.sample_shape),
            target.name,
            crate::nn::fmt_shape(&target.sample_shape)
        )));
    }
    if target.is_empty() {
        return Err(Error::Spec(format!(
            "target `{}` is empty; unsupervised adaptation needs unlabeled target samples",
            target.name
        )));
    }
    Ok(())
}

/// The transforms that make a known pair line up: (source transforms, target transforms).
/// MNIST → optdigits / sklearn-digits: upsample the target to 28×28; MNIST → MNIST-M: source
/// to RGB. Other pairs: none (the pair check then names what to add).
pub fn default_transforms(source: &str, target: &str) -> (Vec<Transform>, Vec<Transform>) {
    let small = ["optdigits", "sklearn-digits", "optdigits-embedded"];
    let big = ["mnist", "fashion-mnist"];
    let up = Transform::Resize {
        height: 28,
        width: 28,
    };
    match (source, target) {
        (s, t) if big.contains(&s) && small.contains(&t) => (vec![], vec![up]),
        (s, t) if small.contains(&s) && big.contains(&t) => (vec![up], vec![]),
        (s, MNIST_M | MNIST_M_WIDE) if big.contains(&s) => (vec![Transform::ToRgb], vec![]),
        _ => (vec![], vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::optdigits_embedded;

    fn photo() -> Photo {
        // 10×12, values i/360 so each crop is distinguishable.
        Photo {
            width: 12,
            height: 10,
            rgb: (0..360).map(|i| i as f32 / 360.0).collect(),
        }
    }

    #[test]
    fn blending_is_abs_difference_and_deterministic() {
        let digits = optdigits_embedded().unwrap().test;
        let grey = DigitStrokes::Grey;
        let a = mnist_m_style(&digits, &[photo()], grey, 3, "m").unwrap();
        let b = mnist_m_style(&digits, &[photo()], grey, 3, "m").unwrap();
        let c = mnist_m_style(&digits, &[photo()], grey, 4, "m").unwrap();
        assert_eq!(a.sample_shape, [3, 8, 8]);
        assert_eq!(a.x, b.x);
        assert_ne!(a.x, c.x);
        assert_eq!(a.y, digits.y);
        // Every blended value is |p − d| for some photo value p: undoing it with the digit
        // gives a value of the photo's grid i/360.
        let d = digits.sample(0);
        let on_grid = |p: f32| ((p * 360.0) - (p * 360.0).round()).abs() < 1e-3;
        for (k, v) in a.sample(0)[..64].iter().enumerate() {
            assert!(on_grid(v + d[k]) || on_grid(d[k] - v), "{v} {}", d[k]);
        }
    }

    /// Binary strokes: the same patches (same seed), inverted (1 − p) wherever the digit has
    /// any ink and kept where it has none; grey levels between 0 and 1 are not used.
    #[test]
    fn binary_strokes_invert_the_patch_under_any_ink() {
        let digits = optdigits_embedded().unwrap().test;
        let grey = mnist_m_style(&digits, &[photo()], DigitStrokes::Grey, 3, "m").unwrap();
        let bin = mnist_m_style(&digits, &[photo()], DigitStrokes::Binary, 3, "m").unwrap();
        let mut partial = 0;
        for i in 0..20 {
            let d = digits.sample(i);
            for c in 0..3 {
                for (k, &dk) in d.iter().enumerate() {
                    let (g, b) = (grey.sample(i)[c * 64 + k], bin.sample(i)[c * 64 + k]);
                    if dk == 0.0 {
                        assert_eq!(b, g);
                    } else {
                        // g = |p − d| leaves the patch value p as g + d or d − g; b = 1 − p.
                        let inverted = |p: f32| (b - (1.0 - p)).abs() < 1e-5;
                        assert!(inverted(g + dk) || inverted(dk - g), "{b} {g} {dk}");
                        partial += usize::from(dk < 1.0);
                    }
                }
            }
        }
        assert!(partial > 0, "the digits have grey levels to binarise");
    }

    /// The wide set reads both folders, in a fixed order; a missing folder is an error that
    /// says which dataset to fetch.
    #[test]
    fn wide_photo_set_adds_scikit_images_photos() {
        let cache = tempfile::tempdir().unwrap();
        let write = |(set, files): (&str, &[&str]), shade: u8| {
            let dir = crate::data::fetch::dataset_dir(cache.path(), set);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, f) in files.iter().enumerate() {
                let img = image::RgbImage::from_pixel(30, 29, image::Rgb([shade, i as u8, 7]));
                img.save(dir.join(f)).unwrap();
            }
        };
        write(SKLEARN_PHOTOS, 10);
        assert_eq!(load_photos(cache.path(), false).unwrap().len(), 2);
        let err = load_photos(cache.path(), true).unwrap_err().to_string();
        assert!(err.contains("tlkit data fetch skimage-photos"), "{err}");
        write(SKIMAGE_PHOTOS, 200);
        let photos = load_photos(cache.path(), true).unwrap();
        assert_eq!(photos.len(), 8);
        assert_eq!((photos[7].width, photos[7].height), (30, 29));
        // scikit-learn's first, then scikit-image's, each in its listed order (the PNGs are
        // exact; JPEG may move a shade by a little).
        let red = |p: &Photo| (p.rgb[0] * 255.0).round() as i32;
        let green = |p: &Photo| (p.rgb[30 * 29] * 255.0).round() as u8;
        assert!((red(&photos[1]) - 10).abs() <= 3, "{}", red(&photos[1]));
        assert_eq!((red(&photos[2]), green(&photos[2])), (200, 0)); // astronaut.png
        assert_eq!((red(&photos[6]), green(&photos[6])), (200, 4)); // motorcycle_left.png
    }

    #[test]
    fn mismatched_pairs_are_clear_errors() {
        let s = optdigits_embedded().unwrap().train;
        let mut t = s.clone();
        t.num_classes = 5;
        assert!(
            check_pair(&s, &t)
                .unwrap_err()
                .to_string()
                .contains("label sets")
        );
        let rgb = crate::data::transform::to_rgb(&s).unwrap();
        let e = check_pair(&s, &rgb).unwrap_err().to_string();
        assert!(e.contains("1×8×8") && e.contains("to_rgb"), "{e}");
        let empty = s.subset(&[], "empty");
        assert!(
            check_pair(&s, &empty)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }
}
