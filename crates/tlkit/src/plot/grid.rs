//! A grid of small images: a learned basis (dictionary atoms, PCA components), filters, or
//! samples, drawn as a PNG, each tile scaled on its own so that every atom's pattern shows.

use std::path::Path;

use super::render::plot_error;
use crate::{Error, Result};

/// Pixels between tiles.
const GAP: usize = 1;

/// Draws `tiles` (row-major, each `[C, h, w]` with `C` 1 or 3, channel-planar) into the PNG
/// `path`, `cols` tiles per row, each value pixel drawn as a `zoom × zoom` square.
///
/// Each tile is scaled on its own, symmetrically around zero (`−m..m` to black..white, `m`
/// its largest magnitude), as filters and atoms are usually shown: mid grey is zero. Tiles
/// are separated by dark lines.
///
/// # Errors
/// [`Error::Plot`] for a shape that is not `[1|3, h, w]`, a buffer that is not whole tiles, an
/// extension other than `png`, or zero columns; [`Error::Io`] when the file cannot be written.
pub fn image_grid(
    path: &Path,
    tiles: &[f32],
    tile_shape: &[usize],
    cols: usize,
    zoom: usize,
) -> Result<()> {
    let &[c, h, w] = tile_shape else {
        return Err(plot_error(
            path,
            format!("tiles of shape {tile_shape:?}; give [channels, height, width]"),
        ));
    };
    let size = c * h * w;
    if !(c == 1 || c == 3) || size == 0 || !tiles.len().is_multiple_of(size) || tiles.is_empty() {
        return Err(plot_error(
            path,
            format!(
                "{} values are not whole tiles of shape {tile_shape:?} with 1 or 3 channels",
                tiles.len()
            ),
        ));
    }
    if cols == 0 || zoom == 0 {
        return Err(plot_error(path, "zero columns or zoom: nothing to draw"));
    }
    if path.extension().is_none_or(|e| e != "png") {
        return Err(plot_error(path, "an image grid is written as .png"));
    }
    let n = tiles.len() / size;
    let rows = n.div_ceil(cols);
    let (tw, th) = (w * zoom, h * zoom);
    let width = cols * (tw + GAP) + GAP;
    let height = rows * (th + GAP) + GAP;
    let mut img =
        image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([40, 40, 40]));
    for (t, tile) in tiles.chunks_exact(size).enumerate() {
        let m = tile.iter().fold(0f32, |m, v| m.max(v.abs()));
        let m = if m > 0.0 && m.is_finite() { m } else { 1.0 };
        let (x0, y0) = ((t % cols) * (tw + GAP) + GAP, (t / cols) * (th + GAP) + GAP);
        for y in 0..h {
            for x in 0..w {
                let level = |ch: usize| {
                    let v = tile[ch * h * w + y * w + x];
                    let v = if v.is_finite() { v } else { 0.0 };
                    (((v / m) * 0.5 + 0.5) * 255.0).round().clamp(0.0, 255.0) as u8
                };
                let px = if c == 1 {
                    let g = level(0);
                    image::Rgb([g, g, g])
                } else {
                    image::Rgb([level(0), level(1), level(2)])
                };
                for dy in 0..zoom {
                    for dx in 0..zoom {
                        img.put_pixel((x0 + x * zoom + dx) as u32, (y0 + y * zoom + dy) as u32, px);
                    }
                }
            }
        }
    }
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| plot_error(path, e.to_string()))?;
    crate::fsio::write_atomic(path, &bytes).map_err(|e| match e {
        Error::Io { .. } => e,
        other => plot_error(path, other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_laid_out_and_scaled_around_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        // Three 2×2 tiles: a ramp, its negative, zeros.
        let tiles = [
            -1.0, 0.0, 0.5, 1.0, //
            1.0, 0.0, -0.5, -1.0, //
            0.0, 0.0, 0.0, 0.0,
        ];
        image_grid(&path, &tiles, &[1, 2, 2], 2, 3).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        // 2 columns of 6 px + 3 gaps; 2 rows.
        assert_eq!((img.width(), img.height()), (15, 15));
        let at = |x: u32, y: u32| img.get_pixel(x, y)[0];
        assert_eq!(at(1, 1), 0); // tile 0, value −1: black
        assert_eq!(at(4, 1), 128); // tile 0, value 0: mid grey
        assert_eq!(at(4, 4), 255); // tile 0, value 1: white
        assert_eq!(at(8, 1), 255); // tile 1, value 1
        assert_eq!(at(1, 8), 128); // tile 2, all zero: mid grey
        assert_eq!(at(8, 8), 40); // no tile 3: background
        assert_eq!(at(0, 0), 40); // the gap
    }

    #[test]
    fn bad_shapes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.png");
        assert!(image_grid(&p, &[0.0; 5], &[1, 2, 2], 2, 1).is_err());
        assert!(image_grid(&p, &[0.0; 8], &[2, 2, 2], 2, 1).is_err());
        assert!(image_grid(&p, &[0.0; 4], &[4], 2, 1).is_err());
        let e = image_grid(&dir.path().join("g.svg"), &[0.0; 4], &[1, 2, 2], 2, 1).unwrap_err();
        assert!(e.to_string().contains(".png"), "{e}");
    }
}
