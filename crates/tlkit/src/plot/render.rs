//! What every plot shares: the output format from the file name, the embedded font, the
//! palette, and rendering one figure to PNG or SVG.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, RGBColor, register_font};

use crate::{Error, Result};

/// The font every plot uses, embedded so that text renders on machines without system fonts
/// (plotters' `ab_glyph` feature looks fonts up only in its own table).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family name plotters' `FontFamily::SansSerif` looks up; registering under it makes
/// every `("sans-serif", size)` style use the embedded font.
pub(crate) const FAMILY: &str = "sans-serif";

/// An output format, chosen by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(plot_error(
            path,
            "unknown image format; name the file *.png or *.svg",
        )),
    }
}

/// A `Error::Plot` for `path`.
pub(crate) fn plot_error(path: &Path, msg: impl Into<String>) -> Error {
    Error::Plot {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Registers the embedded font once per process; later calls return the first outcome.
fn ensure_font() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the embedded font DejaVuSans.ttf does not parse".to_string())
        })
        .clone()
}

/// A figure that knows its pixel size and draws itself on any plotters backend.
pub(crate) trait Figure {
    /// Width and height in pixels (SVG user units).
    fn size(&self) -> (u32, u32);
    /// Draws on `root`, which is already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Turns a plotters error into the message of an `Error::Plot`.
pub(crate) trait OrMsg<T> {
    /// The error's text as the message.
    fn or_msg(self) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> OrMsg<T> for Result<T, E> {
    fn or_msg(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Draws `figure` into `path` as PNG or SVG (by extension).
///
/// The image is drawn in memory and written in one go, so a failed draw leaves no partial
/// file, and a write error is an `Error::Io` that names the file.
pub(crate) fn render(path: &Path, figure: &impl Figure) -> Result<()> {
    let format = format_of(path)?;
    ensure_font().map_err(|msg| plot_error(path, msg))?;
    let (w, h) = figure.size();
    let bytes = match format {
        Format::Png => {
            let mut pixels = vec![255u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
                draw_root(&root, figure).map_err(|msg| plot_error(path, msg))?;
            }
            encode_png(&pixels, w, h).map_err(|msg| plot_error(path, msg))?
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                draw_root(&root, figure).map_err(|msg| plot_error(path, msg))?;
            }
            svg.into_bytes()
        }
    };
    std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
}

fn draw_root<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figure: &impl Figure,
) -> Result<(), String> {
    root.fill(&WHITE).or_msg()?;
    figure.draw(root)?;
    root.present().or_msg()
}

fn encode_png(pixels: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(pixels, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("encode PNG: {e}"))?;
    Ok(out)
}

/// The `i`-th of 20 distinct colours (matplotlib's tab10, then tab20's light shades), cycling.
pub(crate) fn colour(i: usize) -> RGBColor {
    const PALETTE: [(u8, u8, u8); 20] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
        (174, 199, 232),
        (255, 187, 120),
        (152, 223, 138),
        (255, 152, 150),
        (197, 176, 213),
        (196, 156, 148),
        (247, 182, 210),
        (199, 199, 199),
        (219, 219, 141),
        (158, 218, 229),
    ];
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Width and height in pixels of `text` at `size` in the embedded font.
pub(crate) fn text_size(text: &str, size: f64) -> Result<(u32, u32), String> {
    ensure_font()?;
    (FAMILY, size).into_font().box_size(text).or_msg()
}

/// An axis range that shows every finite value of `values` with a 5% margin; a single value
/// gets a unit-wide range around it, and no finite value gives `0..1`.
pub(crate) fn padded_range(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return 0.0..1.0;
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.05
    } else {
        0.5_f64.max(lo.abs() * 0.05)
    };
    (lo - pad)..(hi + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension_and_rejects_others() {
        assert_eq!(format_of(Path::new("a/b.png")).unwrap(), Format::Png);
        assert_eq!(format_of(Path::new("b.SVG")).unwrap(), Format::Svg);
        for bad in ["b.jpg", "b", "png"] {
            let err = format_of(Path::new(bad)).unwrap_err();
            assert!(err.to_string().contains("*.png or *.svg"), "{bad}: {err}");
        }
    }

    #[test]
    fn padded_range_handles_single_values_and_nan() {
        assert_eq!(padded_range([f64::NAN, f64::INFINITY]), 0.0..1.0);
        assert_eq!(padded_range([2.0, 2.0]), 1.5..2.5);
        let r = padded_range([0.0, f64::NAN, 10.0]);
        assert!(
            (r.start + 0.5).abs() < 1e-12 && (r.end - 10.5).abs() < 1e-12,
            "{r:?}"
        );
    }

    #[test]
    fn embedded_font_measures_text() {
        let (w, h) = text_size("confusion", 20.0).unwrap();
        assert!(w > 40 && h > 5, "{w}x{h}");
        assert!(text_size("confusion matrix", 20.0).unwrap().0 > w);
    }
}
