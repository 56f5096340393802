//! Whole images encoded by the codes of their patches, pooled over a grid.
//!
//! Raina, Battle, Lee, Packer & Ng 2007, "Self-taught learning: transfer learning from
//! unlabeled data", ICML (features of whole images from bases learned on patches); the
//! pooling as in Coates, Lee & Ng 2011, "An analysis of single-layer networks in unsupervised
//! feature learning", AISTATS. <https://proceedings.mlr.press/v15/coates11a.html>
//!
//! Every `p × p` patch of an image on a stride is coded over the `k` atoms; the image is cut
//! into a `g × g` grid of cells, a patch belongs to the cell that holds its centre, and each
//! cell pools its patches' codes per atom, giving `g·g·k` features (cell by cell, row by row):
//! - `sum`: `Σ c` (signed; the average up to the cell's patch count),
//! - `max`: `max |c|` (the largest magnitude; the sign is lost, as in max-pooled absolute
//!   activations).

use serde::{Deserialize, Serialize};

use crate::data::patches::{self, ImageRef, PatchNorm};
use crate::{Error, Result};

/// How codes are pooled in a cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    #[default]
    Sum,
    Max,
}

/// How a whole image is encoded by its patches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchEncoding {
    /// Patch side `p`.
    pub size: usize,
    /// Step between patch corners.
    #[serde(default = "one")]
    pub stride: usize,
    /// Cells per side `g` of the pooling grid.
    #[serde(default = "two")]
    pub grid: usize,
    #[serde(default)]
    pub pool: Pool,
    /// Normalisation of each patch before coding (as the basis was learned).
    #[serde(default)]
    pub norm: PatchNorm,
}

fn one() -> usize {
    1
}

fn two() -> usize {
    2
}

impl PatchEncoding {
    /// Checks the fields against images of `height × width`.
    pub fn validate(&self, height: usize, width: usize) -> Result<()> {
        if self.size == 0 || self.size > height.min(width) {
            return Err(Error::invalid(
                "patch size",
                self.size,
                format!(
                    "does not fit images of {height}×{width}; give a size from 1 to {}",
                    height.min(width)
                ),
            ));
        }
        if self.stride == 0 {
            return Err(Error::invalid("patch stride", 0, "must be at least 1"));
        }
        if self.grid == 0 || self.grid > height.min(width) {
            return Err(Error::invalid(
                "pooling grid",
                self.grid,
                format!("must be between 1 and {} cells per side", height.min(width)),
            ));
        }
        Ok(())
    }

    /// Features per image for `k` atoms.
    pub fn width(&self, k: usize) -> usize {
        self.grid * self.grid * k
    }
}

/// A coder of patches: `m` patches (`m × C·p·p`, row-major) to their `m × k` codes.
pub type PatchCoder<'a> = dyn Fn(&[f32], usize) -> Result<Vec<f32>> + 'a;

/// Images coded together: their patches go to the coder in one call.
const IMAGES_PER_CALL: usize = 64;

/// Encodes `images` (all of one size) by their patches: `code` maps `m` patches (`m × C·p·p`,
/// row-major) to their `m × k` codes.
///
/// # Shapes
/// `images × [C, H, W]` → `[images, g·g·k]`, row-major.
pub fn encode_images(
    images: &[ImageRef<'_>],
    k: usize,
    enc: &PatchEncoding,
    code: &PatchCoder<'_>,
) -> Result<Vec<f32>> {
    let Some(first) = images.first() else {
        return Ok(Vec::new());
    };
    let (h, w) = (first.height, first.width);
    enc.validate(h, w)?;
    let p = enc.size;
    let corners = patches::patch_corners(h, w, p, enc.stride);
    let cell = |r: usize, c: usize| {
        let cr = ((r + p / 2) * enc.grid / h).min(enc.grid - 1);
        let cc = ((c + p / 2) * enc.grid / w).min(enc.grid - 1);
        cr * enc.grid + cc
    };
    let cells: Vec<usize> = corners.iter().map(|&(r, c)| cell(r, c)).collect();
    let width = enc.width(k);
    let mut out = vec![0f32; images.len() * width];
    for (chunk_i, chunk) in images.chunks(IMAGES_PER_CALL).enumerate() {
        let mut batch = Vec::new();
        for img in chunk {
            batch.extend(patches::grid_patches(img, &corners, p, enc.norm));
        }
        let codes = code(&batch, chunk.len() * corners.len())?;
        for (i, img_codes) in codes.chunks_exact(corners.len() * k).enumerate() {
            let row = &mut out[(chunk_i * IMAGES_PER_CALL + i) * width..][..width];
            for (pc, &cell) in img_codes.chunks_exact(k).zip(&cells) {
                let dst = &mut row[cell * k..(cell + 1) * k];
                match enc.pool {
                    Pool::Sum => dst.iter_mut().zip(pc).for_each(|(d, c)| *d += c),
                    Pool::Max => dst
                        .iter_mut()
                        .zip(pc)
                        .for_each(|(d, c)| *d = d.max(c.abs())),
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(data: &[f32]) -> ImageRef<'_> {
        ImageRef {
            channels: 1,
            height: 4,
            width: 4,
            data,
        }
    }

    #[test]
    fn codes_pool_into_the_cell_of_each_patch_centre() {
        let px: Vec<f32> = (0..16).map(|v| v as f32).collect();
        // The "code" of a 2×2 patch is its top-left pixel and minus it: k = 2.
        let code = |x: &[f32], m: usize| -> Result<Vec<f32>> {
            assert_eq!(x.len(), m * 4);
            Ok(x.chunks(4).flat_map(|p| [p[0], -p[0]]).collect())
        };
        let enc = PatchEncoding {
            size: 2,
            stride: 2,
            grid: 2,
            pool: Pool::Sum,
            norm: PatchNorm::None,
        };
        // Four patches at (0,0) (0,2) (2,0) (2,2), one per cell.
        let f = encode_images(&[image(&px)], 2, &enc, &code).unwrap();
        assert_eq!(f, vec![0.0, -0.0, 2.0, -2.0, 8.0, -8.0, 10.0, -10.0]);
        let enc = PatchEncoding {
            stride: 1,
            grid: 1,
            ..enc
        };
        // Nine patches, top-left pixels 0 1 2 4 5 6 8 9 10, all in one cell.
        let f = encode_images(&[image(&px)], 2, &enc, &code).unwrap();
        assert_eq!(f, vec![45.0, -45.0]);
        let enc = PatchEncoding {
            pool: Pool::Max,
            ..enc
        };
        let two: Vec<f32> = px.iter().chain(&px).copied().collect();
        let f = encode_images(&[image(&two[..16]), image(&two[16..])], 2, &enc, &code).unwrap();
        assert_eq!(f, vec![10.0, 10.0, 10.0, 10.0]);
    }

    #[test]
    fn a_grid_or_patch_that_does_not_fit_is_an_error() {
        let px = [0f32; 16];
        let code = |_: &[f32], _: usize| -> Result<Vec<f32>> { unreachable!() };
        let enc = PatchEncoding {
            size: 5,
            stride: 1,
            grid: 2,
            pool: Pool::Sum,
            norm: PatchNorm::None,
        };
        let e = encode_images(&[image(&px)], 2, &enc, &code).unwrap_err();
        assert!(e.to_string().contains("patch size = 5"), "{e}");
        let enc = PatchEncoding {
            size: 2,
            grid: 0,
            ..enc
        };
        let e = encode_images(&[image(&px)], 2, &enc, &code).unwrap_err();
        assert!(e.to_string().contains("pooling grid = 0"), "{e}");
    }
}
