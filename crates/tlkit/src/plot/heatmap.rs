//! Heatmaps: a colour-scaled grid with each cell's value written in it, for confusion matrices
//! and the task-by-task accuracy matrices of continual learning.
//!
//! The layout is computed here in pixels rather than through a plotters chart, so that every
//! row and column gets exactly one label at its centre and long column labels can turn
//! vertical.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::render::{FAMILY, Figure, OrMsg, plot_error, render, text_size};
use crate::Result;

/// How a heatmap writes the value in each cell (and on its colour bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// Rounded to a whole number: `37`.
    Integer,
    /// A fraction written as a percentage with one decimal: `0.912` is `91.2%`.
    Percent,
    /// With this many decimals: `Fixed(2)` writes `0.91`.
    Fixed(usize),
}

impl ValueFormat {
    /// `value` written in this format; NaN and infinities are written as `NaN`, `inf`, `-inf`.
    pub fn format(self, value: f64) -> String {
        if !value.is_finite() {
            return format!("{value}");
        }
        match self {
            ValueFormat::Integer => format!("{value:.0}"),
            ValueFormat::Percent => format!("{:.1}%", value * 100.0),
            ValueFormat::Fixed(decimals) => format!("{value:.decimals$}"),
        }
    }
}

/// Draws `matrix` (row-major: `matrix[r][c]`) as a heatmap into `path` (`.png` or `.svg`).
///
/// Row 0 is at the top, column 0 on the left; `row_labels` go on the left, `col_labels`
/// below (turned vertical when wider than a cell), with a colour bar on the right. The colour
/// scale runs over the finite values; a NaN or infinite cell is grey and keeps its text.
/// Cell text is left out when a cell is too small to hold it.
///
/// # Errors
/// `Error::Plot` if the matrix is empty or ragged, the label counts do not match its rows
/// and columns, the extension is neither `png` nor `svg`, or drawing fails; `Error::Io` if the
/// file cannot be written.
#[allow(clippy::too_many_arguments)] // mirrors matplotlib's heatmap: each is a separate choice
pub fn heatmap(
    path: &Path,
    title: &str,
    matrix: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
    x_label: &str,
    y_label: &str,
    value_format: ValueFormat,
) -> Result<()> {
    let cols = matrix.first().map_or(0, Vec::len);
    if cols == 0 {
        return Err(plot_error(path, "empty matrix: nothing to plot"));
    }
    if let Some((r, row)) = matrix.iter().enumerate().find(|(_, row)| row.len() != cols) {
        return Err(plot_error(
            path,
            format!(
                "ragged matrix: row {r} has {} values, row 0 has {cols}",
                row.len()
            ),
        ));
    }
    if row_labels.len() != matrix.len() || col_labels.len() != cols {
        return Err(plot_error(
            path,
            format!(
                "{} row labels and {} column labels for a {}x{cols} matrix",
                row_labels.len(),
                col_labels.len(),
                matrix.len()
            ),
        ));
    }
    let heat = Heatmap {
        title,
        matrix,
        row_labels,
        col_labels,
        x_label,
        y_label,
        format: value_format,
        layout: Layout::new(title, matrix, row_labels, col_labels, value_format)
            .map_err(|msg| plot_error(path, msg))?,
    };
    render(path, &heat)
}

/// Draws a confusion matrix into `path`: `counts[t][p]` is the number of samples of true
/// class `t` predicted as class `p` (rows = true class, columns = predicted), as in
/// scikit-learn. The title gives the overall accuracy (the diagonal over the total).
///
/// # Errors
/// As [`heatmap`]; in particular `Error::Plot` unless `counts` is `n x n` with
/// `n = class_names.len()`.
pub fn confusion_matrix(path: &Path, counts: &[Vec<u64>], class_names: &[String]) -> Result<()> {
    let n = class_names.len();
    if counts.len() != n || counts.iter().any(|row| row.len() != n) {
        let shape: Vec<usize> = counts.iter().map(Vec::len).collect();
        return Err(plot_error(
            path,
            format!("{n} class names but counts have row lengths {shape:?}; expected {n}x{n}"),
        ));
    }
    let total: u64 = counts.iter().flatten().sum();
    let correct: u64 = (0..n).map(|i| counts[i][i]).sum();
    let title = if total > 0 {
        format!(
            "Confusion matrix (accuracy {:.2}%, {total} samples)",
            100.0 * correct as f64 / total as f64
        )
    } else {
        "Confusion matrix (no samples)".to_string()
    };
    let matrix: Vec<Vec<f64>> = counts
        .iter()
        .map(|row| row.iter().map(|&c| c as f64).collect())
        .collect();
    heatmap(
        path,
        &title,
        &matrix,
        class_names,
        class_names,
        "predicted class",
        "true class",
        ValueFormat::Integer,
    )
}

const TITLE_SIZE: f64 = 22.0;
const DESC_SIZE: f64 = 16.0;
const PAD: i32 = 10;
const BAR_GAP: i32 = 18;
const BAR_WIDTH: i32 = 16;

/// Pixel positions of everything, measured with the embedded font.
struct Layout {
    width: u32,
    height: u32,
    cell: i32,
    /// Top-left corner of the grid.
    grid: (i32, i32),
    tick_size: f64,
    /// Whether rows and columns are labelled (not when cells are too small for text).
    show_labels: bool,
    rotate_cols: bool,
    /// Values written on the colour bar, with their place from 0 (bottom) to 1 (top).
    bar_ticks: Vec<(f64, String)>,
    /// The finite value range the colours span.
    lo: f64,
    hi: f64,
}

impl Layout {
    fn new(
        title: &str,
        matrix: &[Vec<f64>],
        row_labels: &[String],
        col_labels: &[String],
        format: ValueFormat,
    ) -> Result<Self, String> {
        let (rows, cols) = (matrix.len() as i32, matrix[0].len() as i32);
        // Small cells for many classes keep a 1000-class matrix near 2000 pixels wide.
        let cell = (560 / rows.max(cols)).clamp(2, 120);
        let tick_size = (f64::from(cell) * 0.6).clamp(8.0, 14.0);
        let show_labels = cell >= 8;
        let widest = |labels: &[String]| -> Result<i32, String> {
            labels
                .iter()
                .filter(|_| show_labels)
                .try_fold(0, |w, l| Ok(w.max(text_size(l, tick_size)?.0 as i32)))
        };
        let row_w = widest(row_labels)?;
        let col_w = widest(col_labels)?;
        let rotate_cols = col_w + 4 > cell;
        let col_band = if rotate_cols {
            col_w
        } else {
            tick_size as i32 + 4
        };

        let (mut lo, mut hi) = matrix
            .iter()
            .flatten()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        let bar_ticks: Vec<(f64, String)> = if hi > lo {
            (0..=4)
                .map(|i| f64::from(i) / 4.0)
                .map(|t| (t, format.format(lo + t * (hi - lo))))
                .collect()
        } else {
            vec![(0.5, format.format(lo))]
        };
        let tick_w = bar_ticks.iter().try_fold(0, |w, (_, s)| {
            Ok::<_, String>(w.max(text_size(s, 13.0)?.0 as i32))
        })?;

        let left = PAD + DESC_SIZE as i32 + 8 + row_w + 6;
        let top = PAD + TITLE_SIZE as i32 + 12;
        let bottom = 6 + col_band + 10 + DESC_SIZE as i32 + PAD;
        let right = BAR_GAP + BAR_WIDTH + 6 + tick_w + PAD;
        let title_w = text_size(title, TITLE_SIZE)?.0 as i32 + 2 * PAD;
        let width = (left + cols * cell + right).max(title_w);
        let height = top + rows * cell + bottom;
        Ok(Self {
            width: width as u32,
            height: height as u32,
            cell,
            grid: (left, top),
            tick_size,
            show_labels,
            rotate_cols,
            bar_ticks,
            lo,
            hi,
        })
    }

    /// Where `v` lies in the colour scale, 0 to 1 (a constant matrix sits in the middle).
    fn scale(&self, v: f64) -> f64 {
        if self.hi > self.lo {
            ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
        } else {
            0.5
        }
    }
}

/// Matplotlib's "Blues": white for low values, dark blue for high ones.
fn blues(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 3] = [
        (247.0, 251.0, 255.0),
        (107.0, 174.0, 214.0),
        (8.0, 48.0, 107.0),
    ];
    let (a, b, u) = if t < 0.5 {
        (STOPS[0], STOPS[1], t * 2.0)
    } else {
        (STOPS[1], STOPS[2], t * 2.0 - 1.0)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * u).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

const MISSING: RGBColor = RGBColor(220, 220, 220);

fn text(size: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(h, v))
}

struct Heatmap<'a> {
    title: &'a str,
    matrix: &'a [Vec<f64>],
    row_labels: &'a [String],
    col_labels: &'a [String],
    x_label: &'a str,
    y_label: &'a str,
    format: ValueFormat,
    layout: Layout,
}

impl Heatmap<'_> {
    /// The cell text and its font size, shrunk to fit the cell; `None` when it cannot fit.
    fn cell_text(&self, v: f64) -> Result<Option<(String, f64)>, String> {
        let s = self.format.format(v);
        let cell = self.layout.cell;
        let mut size = (f64::from(cell) * 0.3).clamp(7.0, 18.0);
        while size >= 7.0 {
            if (text_size(&s, size)?.0 as i32) < cell - 4 {
                return Ok(Some((s, size)));
            }
            size -= 1.0;
        }
        Ok(None)
    }
}

impl Figure for Heatmap<'_> {
    fn size(&self) -> (u32, u32) {
        (self.layout.width, self.layout.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let l = &self.layout;
        let (gx, gy) = l.grid;
        let (rows, cols) = (self.matrix.len() as i32, self.matrix[0].len() as i32);
        let (gw, gh) = (cols * l.cell, rows * l.cell);
        let (w, h) = (l.width as i32, l.height as i32);

        let title = text(TITLE_SIZE, HPos::Center, VPos::Top);
        root.draw(&Text::new(self.title, (w / 2, PAD), title))
            .or_msg()?;

        for (r, row) in self.matrix.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let (x0, y0) = (gx + c as i32 * l.cell, gy + r as i32 * l.cell);
                let t = l.scale(v);
                let fill = if v.is_finite() { blues(t) } else { MISSING };
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + l.cell, y0 + l.cell)],
                    fill.filled(),
                ))
                .or_msg()?;
                if let Some((s, size)) = self.cell_text(v)? {
                    let ink = if v.is_finite() && t > 0.55 {
                        WHITE
                    } else {
                        BLACK
                    };
                    let style = text(size, HPos::Center, VPos::Center).color(&ink);
                    let centre = (x0 + l.cell / 2, y0 + l.cell / 2);
                    root.draw(&Text::new(s, centre, style)).or_msg()?;
                }
            }
        }
        let frame = RGBColor(120, 120, 120);
        root.draw(&Rectangle::new([(gx, gy), (gx + gw, gy + gh)], frame))
            .or_msg()?;

        let row_style = text(l.tick_size, HPos::Right, VPos::Center);
        let shown = if l.show_labels { usize::MAX } else { 0 };
        for (r, label) in self.row_labels.iter().take(shown).enumerate() {
            let at = (gx - 6, gy + r as i32 * l.cell + l.cell / 2);
            root.draw(&Text::new(label.as_str(), at, row_style.clone()))
                .or_msg()?;
        }
        let col_style = if l.rotate_cols {
            // Turned a quarter clockwise, the text runs down from its anchor.
            text(l.tick_size, HPos::Left, VPos::Center).transform(FontTransform::Rotate90)
        } else {
            text(l.tick_size, HPos::Center, VPos::Top)
        };
        for (c, label) in self.col_labels.iter().take(shown).enumerate() {
            let at = (gx + c as i32 * l.cell + l.cell / 2, gy + gh + 6);
            root.draw(&Text::new(label.as_str(), at, col_style.clone()))
                .or_msg()?;
        }
        let x_desc = text(DESC_SIZE, HPos::Center, VPos::Bottom);
        root.draw(&Text::new(self.x_label, (gx + gw / 2, h - PAD), x_desc))
            .or_msg()?;
        let y_desc =
            text(DESC_SIZE, HPos::Center, VPos::Center).transform(FontTransform::Rotate270);
        let at = (PAD + DESC_SIZE as i32 / 2, gy + gh / 2);
        root.draw(&Text::new(self.y_label, at, y_desc)).or_msg()?;

        // Colour bar: high values at the top, as in matplotlib.
        let bx = gx + gw + BAR_GAP;
        let steps = gh.min(128);
        for k in 0..steps {
            let (y0, y1) = (gy + k * gh / steps, gy + (k + 1) * gh / steps);
            let fill = blues(1.0 - (f64::from(k) + 0.5) / f64::from(steps));
            root.draw(&Rectangle::new(
                [(bx, y0), (bx + BAR_WIDTH, y1)],
                fill.filled(),
            ))
            .or_msg()?;
        }
        root.draw(&Rectangle::new(
            [(bx, gy), (bx + BAR_WIDTH, gy + gh)],
            frame,
        ))
        .or_msg()?;
        let tick_style = text(13.0, HPos::Left, VPos::Center);
        for (t, s) in &l.bar_ticks {
            let y = gy + gh - (t * f64::from(gh)).round() as i32;
            root.draw(&PathElement::new(
                vec![(bx + BAR_WIDTH, y), (bx + BAR_WIDTH + 4, y)],
                frame,
            ))
            .or_msg()?;
            root.draw(&Text::new(
                s.as_str(),
                (bx + BAR_WIDTH + 6, y),
                tick_style.clone(),
            ))
            .or_msg()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::testutil::{assert_png, assert_svg, svg_has_text};

    fn names(n: usize) -> Vec<String> {
        [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ]
        .iter()
        .cycle()
        .take(n)
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn value_formats() {
        assert_eq!(ValueFormat::Integer.format(36.6), "37");
        assert_eq!(ValueFormat::Percent.format(0.9123), "91.2%");
        assert_eq!(ValueFormat::Fixed(2).format(0.456), "0.46");
        assert_eq!(ValueFormat::Fixed(2).format(f64::NAN), "NaN");
    }

    #[test]
    fn confusion_matrix_writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let n = 10;
        let counts: Vec<Vec<u64>> = (0..n)
            .map(|t| {
                (0..n)
                    .map(|p| {
                        if t == p {
                            90 + t as u64
                        } else {
                            (t * p % 7) as u64
                        }
                    })
                    .collect()
            })
            .collect();
        let png = dir.path().join("confusion.png");
        confusion_matrix(&png, &counts, &names(n)).unwrap();
        let img = assert_png(&png);
        // The diagonal holds the largest counts, so the darkest blue of the scale is there.
        let top = blues(1.0);
        assert!(img.pixels().any(|p| p.0 == [top.0, top.1, top.2]));
        let svg = dir.path().join("confusion.svg");
        confusion_matrix(&svg, &counts, &names(n)).unwrap();
        let text = assert_svg(&svg);
        assert!(
            svg_has_text(&text, "automobile") && svg_has_text(&text, "99"),
            "labels or counts missing"
        );
    }

    #[test]
    fn accuracy_matrix_with_nan_cells_renders() {
        // The lower triangle of a continual-learning accuracy matrix; tasks not yet seen are NaN.
        let dir = tempfile::tempdir().unwrap();
        let m = vec![
            vec![0.98, f64::NAN, f64::NAN],
            vec![0.91, 0.97, f64::NAN],
            vec![0.85, 0.90, 0.96],
        ];
        let labels: Vec<String> = (1..=3).map(|i| format!("task {i}")).collect();
        for ext in ["png", "svg"] {
            let path = dir.path().join(format!("acc.{ext}"));
            heatmap(
                &path,
                "Accuracy",
                &m,
                &labels,
                &labels,
                "tested on",
                "after training on",
                ValueFormat::Percent,
            )
            .unwrap();
        }
        assert_png(&dir.path().join("acc.png"));
        let svg = assert_svg(&dir.path().join("acc.svg"));
        assert!(svg_has_text(&svg, "98.0%") && svg_has_text(&svg, "NaN"));
        // All-NaN and constant matrices have no colour range and still draw.
        let path = dir.path().join("flat.png");
        heatmap(
            &path,
            "t",
            &[vec![f64::NAN, 1.0]],
            &names(1),
            &names(2),
            "x",
            "y",
            ValueFormat::Fixed(1),
        )
        .unwrap();
        heatmap(
            &path,
            "t",
            &[vec![f64::NAN]],
            &names(1),
            &names(1),
            "x",
            "y",
            ValueFormat::Fixed(1),
        )
        .unwrap();
    }

    #[test]
    fn many_classes_shrink_cells_and_drop_text() {
        let dir = tempfile::tempdir().unwrap();
        let n = 300;
        let m: Vec<Vec<f64>> = (0..n)
            .map(|r| (0..n).map(|c| (r * c % 17) as f64).collect())
            .collect();
        let path = dir.path().join("big.png");
        heatmap(
            &path,
            "big",
            &m,
            &names(n),
            &names(n),
            "x",
            "y",
            ValueFormat::Integer,
        )
        .unwrap();
        let img = image::open(&path).unwrap();
        assert!(
            img.width() < 1000 && img.height() < 1000,
            "{}x{}",
            img.width(),
            img.height()
        );
    }

    #[test]
    fn mismatched_labels_and_shapes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        let m = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        let err = heatmap(
            &path,
            "t",
            &m,
            &names(2),
            &names(3),
            "x",
            "y",
            ValueFormat::Integer,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("2 row labels and 3 column labels for a 2x2"),
            "{err}"
        );
        let ragged = vec![vec![1.0, 2.0], vec![3.0]];
        let err = heatmap(
            &path,
            "t",
            &ragged,
            &names(2),
            &names(2),
            "x",
            "y",
            ValueFormat::Integer,
        )
        .unwrap_err();
        assert!(err.to_string().contains("row 1 has 1 values"), "{err}");
        let err = heatmap(&path, "t", &[], &[], &[], "x", "y", ValueFormat::Integer).unwrap_err();
        assert!(err.to_string().contains("empty matrix"), "{err}");
        let err = confusion_matrix(&path, &[vec![1, 2], vec![3, 4]], &names(3)).unwrap_err();
        assert!(err.to_string().contains("expected 3x3"), "{err}");
        assert!(!path.exists());
    }
}
