//! Image patches: random `p × p` patches of a set of images (the unlabeled samples of sparse
//! coding or PCA on natural images), every patch of one image on a grid (to encode a whole
//! image by its patches), and per-patch normalisation.
//!
//! Images are channel-planar (`[C, H, W]`, as datasets hold them); a patch keeps every
//! channel and is `[C, p, p]`, flattened channel by channel.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::pairs::Photo;
use crate::{Error, Result};

/// How each patch is normalised on its own, after it is cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchNorm {
    /// As cut.
    #[default]
    None,
    /// Its mean removed (brightness invariance), as the UFLDL and Olshausen & Field patch
    /// pipelines do.
    Center,
    /// Its mean removed and divided by `√(variance + ε)`, `ε` = [`STANDARDIZE_EPS`] (contrast
    /// normalisation as in Coates, Lee & Ng 2011, whose ε = 10 is for pixels in 0..255; ours is
    /// for pixels in [0, 1]).
    Standardize,
}

/// The ε of [`PatchNorm::Standardize`], for values in [0, 1]: keeps flat patches from being
/// amplified into noise.
pub const STANDARDIZE_EPS: f32 = 0.01;

/// One image, channel-planar, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `channels × height × width` values.
    pub data: &'a [f32],
}

impl ImageRef<'_> {
    /// The `[C, p, p]` patch whose top-left corner is `(row, col)`, appended to `out`.
    fn cut(&self, row: usize, col: usize, p: usize, out: &mut Vec<f32>) {
        let plane = self.height * self.width;
        for c in 0..self.channels {
            for r in row..row + p {
                let start = c * plane + r * self.width + col;
                out.extend_from_slice(&self.data[start..start + p]);
            }
        }
    }
}

/// The images of `data`, whose samples must be `[C, H, W]`.
///
/// # Errors
/// [`Error::Invalid`] when the samples are not images.
pub fn dataset_images(data: &Dataset) -> Result<Vec<ImageRef<'_>>> {
    let [channels, height, width] = data.sample_shape[..] else {
        return Err(Error::invalid(
            format!("samples of `{}`", data.name),
            format!("{:?}", data.sample_shape),
            "patches need images of shape [channels, height, width]",
        ));
    };
    Ok(data
        .x
        .chunks_exact(channels * height * width)
        .map(|data| ImageRef {
            channels,
            height,
            width,
            data,
        })
        .collect())
}

/// One image, channel-planar, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Image {
    pub fn as_ref(&self) -> ImageRef<'_> {
        ImageRef {
            channels: self.channels,
            height: self.height,
            width: self.width,
            data: &self.data,
        }
    }
}

/// Photos turned to grey levels (the mean of R, G and B): one-channel images.
pub fn grey_photos(photos: &[Photo]) -> Vec<Image> {
    photos
        .iter()
        .map(|p| {
            let plane = p.width * p.height;
            Image {
                channels: 1,
                height: p.height,
                width: p.width,
                data: (0..plane)
                    .map(|i| (p.rgb[i] + p.rgb[plane + i] + p.rgb[2 * plane + i]) / 3.0)
                    .collect(),
            }
        })
        .collect()
}

/// Checks that `p × p` patches fit every image.
fn check_fits(images: &[ImageRef<'_>], p: usize, source: &str) -> Result<()> {
    if images.is_empty() {
        return Err(Error::invalid(
            "unlabeled samples",
            0,
            format!("`{source}` holds no images to cut patches from"),
        ));
    }
    let small = images
        .iter()
        .map(|i| (i.height.min(i.width), i.height, i.width))
        .min()
        .expect("not empty");
    if p == 0 || p > small.0 {
        return Err(Error::invalid(
            "patch size",
            p,
            format!(
                "does not fit the images of `{source}` (the smallest is {}×{}); give a size from 1 to {}",
                small.1, small.2, small.0
            ),
        ));
    }
    Ok(())
}

/// `count` random `p × p` patches of `images` (an image drawn uniformly, then a position),
/// normalised as `norm` says, as an unlabeled dataset named `name` of shape `[C, p, p]`.
/// The same `seed` gives the same patches.
///
/// # Errors
/// [`Error::Invalid`] for no images, a patch size of 0 or larger than an image, a count of 0,
/// or images with different channel counts.
pub fn random_patches(
    images: &[ImageRef<'_>],
    p: usize,
    count: usize,
    norm: PatchNorm,
    seed: u64,
    name: &str,
) -> Result<Dataset> {
    check_fits(images, p, name)?;
    if count == 0 {
        return Err(Error::invalid("patch count", 0, "must be at least 1"));
    }
    let channels = images[0].channels;
    if let Some(i) = images.iter().position(|i| i.channels != channels) {
        return Err(Error::invalid(
            format!("channels of image {i} of `{name}`"),
            images[i].channels,
            format!("image 0 has {channels}; give images of one kind"),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(count * channels * p * p);
    for _ in 0..count {
        let img = &images[rng.random_range(0..images.len())];
        let row = rng.random_range(0..=img.height - p);
        let col = rng.random_range(0..=img.width - p);
        img.cut(row, col, p, &mut x);
    }
    normalize_patches(&mut x, channels * p * p, norm);
    Dataset::new(
        format!("{name} ({count} patches {p}×{p})"),
        vec![channels, p, p],
        x,
        vec![],
        0,
    )
}

/// Where the patches of one image start, on a stride: the top-left corners `(row, col)`, row
/// by row. The last row and column are included even when the stride skips past them, so
/// that every pixel is covered.
pub fn patch_corners(height: usize, width: usize, p: usize, stride: usize) -> Vec<(usize, usize)> {
    let starts = |len: usize| {
        let last = len - p;
        let mut s: Vec<usize> = (0..=last).step_by(stride.max(1)).collect();
        if s.last() != Some(&last) {
            s.push(last);
        }
        s
    };
    let cols = starts(width);
    starts(height)
        .into_iter()
        .flat_map(|r| cols.iter().map(move |&c| (r, c)))
        .collect()
}

/// Every `p × p` patch of `image` at the corners of [`patch_corners`], normalised, row-major
/// (`corners × C·p·p`).
pub fn grid_patches(
    image: &ImageRef<'_>,
    corners: &[(usize, usize)],
    p: usize,
    norm: PatchNorm,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(corners.len() * image.channels * p * p);
    for &(r, c) in corners {
        image.cut(r, c, p, &mut out);
    }
    normalize_patches(&mut out, image.channels * p * p, norm);
    out
}

/// Checks that `p × p` patches fit the images of `data` (for encoding by patches).
pub fn check_patch_size(data: &Dataset, p: usize) -> Result<()> {
    check_fits(&dataset_images(data)?, p, &data.name)
}

/// Normalises each row of `width` values of `x` in place.
pub fn normalize_patches(x: &mut [f32], width: usize, norm: PatchNorm) {
    if norm == PatchNorm::None {
        return;
    }
    for patch in x.chunks_exact_mut(width) {
        let mean = patch.iter().sum::<f32>() / width as f32;
        patch.iter_mut().for_each(|v| *v -= mean);
        if norm == PatchNorm::Standardize {
            let var = patch.iter().map(|v| v * v).sum::<f32>() / width as f32;
            let s = 1.0 / (var + STANDARDIZE_EPS).sqrt();
            patch.iter_mut().for_each(|v| *v *= s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::optdigits_embedded;

    #[test]
    fn random_patches_are_cut_from_the_images_and_seeded() {
        let digits = optdigits_embedded().unwrap().train;
        let images = dataset_images(&digits).unwrap();
        let a = random_patches(&images, 3, 500, PatchNorm::None, 7, "optdigits").unwrap();
        assert_eq!(a.sample_shape, vec![1, 3, 3]);
        assert_eq!((a.len(), a.y.len()), (500, 0));
        let b = random_patches(&images, 3, 500, PatchNorm::None, 7, "optdigits").unwrap();
        assert_eq!(a.x, b.x);
        let c = random_patches(&images, 3, 500, PatchNorm::None, 8, "optdigits").unwrap();
        assert_ne!(a.x, c.x);
        // Every patch occurs somewhere in some image.
        for patch in a.x.chunks(9).take(50) {
            let found = images.iter().any(|img| {
                patch_corners(8, 8, 3, 1)
                    .iter()
                    .any(|&(r, c)| grid_patches(img, &[(r, c)], 3, PatchNorm::None) == patch)
            });
            assert!(found, "{patch:?}");
        }
    }

    #[test]
    fn corners_cover_the_image_and_grid_patches_normalise() {
        assert_eq!(patch_corners(8, 8, 8, 1), vec![(0, 0)]);
        let c = patch_corners(8, 8, 3, 2);
        let rows: Vec<usize> = c.iter().map(|x| x.0).filter(|&c| c == 0).collect();
        assert_eq!(rows.len(), 4); // columns 0, 2, 4, 5
        assert_eq!(c.len(), 16);
        assert_eq!(c.last(), Some(&(5, 5)));
        let img: Vec<f32> = (0..64).map(|v| v as f32 / 64.0).collect();
        let image = ImageRef {
            channels: 1,
            height: 8,
            width: 8,
            data: &img,
        };
        for norm in [PatchNorm::Center, PatchNorm::Standardize] {
            let p = grid_patches(&image, &c, 3, norm);
            for patch in p.chunks(9) {
                let mean = patch.iter().sum::<f32>() / 9.0;
                assert!(mean.abs() < 1e-6, "{norm:?}: mean {mean}");
            }
        }
        let p = grid_patches(&image, &[(1, 2)], 2, PatchNorm::None);
        assert_eq!(p, vec![10.0 / 64.0, 11.0 / 64.0, 18.0 / 64.0, 19.0 / 64.0]);
    }

    #[test]
    fn bad_input_names_the_value() {
        let digits = optdigits_embedded().unwrap().train;
        let images = dataset_images(&digits).unwrap();
        let e = random_patches(&images, 9, 10, PatchNorm::None, 0, "optdigits").unwrap_err();
        let e = e.to_string();
        assert!(e.contains("patch size = 9") && e.contains("8×8"), "{e}");
        let e = random_patches(&images, 0, 10, PatchNorm::None, 0, "d").unwrap_err();
        assert!(e.to_string().contains("patch size = 0"), "{e}");
        let e = random_patches(&[], 3, 10, PatchNorm::None, 0, "empty").unwrap_err();
        assert!(e.to_string().contains("holds no images"), "{e}");
        let flat = Dataset::new("flat", vec![64], digits.x.clone(), vec![], 0).unwrap();
        let e = dataset_images(&flat).unwrap_err().to_string();
        assert!(
            e.contains("[64]") && e.contains("[channels, height, width]"),
            "{e}"
        );
    }
}
