//! Line plots of named series: learning curves (loss, accuracy per epoch or step).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::render::{Figure, OrMsg, colour, padded_range, plot_error, render};
use crate::Result;

/// One named curve: `ys[i]` is the value at `xs[i]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The x values (epoch, step), in drawing order.
    pub xs: Vec<f64>,
    /// The y values, one per x.
    pub ys: Vec<f64>,
}

impl Series {
    /// A series named `name` through the points `(xs[i], ys[i])`.
    pub fn new(name: impl Into<String>, xs: Vec<f64>, ys: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            xs,
            ys,
        }
    }
}

/// Draws `series` as lines with a legend into `path` (`.png` or `.svg`).
///
/// Each series gets its own colour, in order. A point whose x or y is not finite (a diverged
/// loss, a missing evaluation) is left out and breaks the line there; a series with no finite
/// point stays in the legend. Points that stand alone between gaps are drawn as dots.
///
/// # Errors
/// `Error::Plot` if `series` is empty, a series has different numbers of xs and ys, no series
/// has a finite point, the extension is neither `png` nor `svg`, or drawing fails;
/// `Error::Io` if the file cannot be written.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    if series.is_empty() {
        return Err(plot_error(path, "no series to plot"));
    }
    if let Some(s) = series.iter().find(|s| s.xs.len() != s.ys.len()) {
        return Err(plot_error(
            path,
            format!(
                "series `{}` has {} xs but {} ys",
                s.name,
                s.xs.len(),
                s.ys.len()
            ),
        ));
    }
    let segments: Vec<Vec<Vec<(f64, f64)>>> = series.iter().map(segments).collect();
    if segments.iter().all(Vec::is_empty) {
        return Err(plot_error(path, "no series has a finite point"));
    }
    render(
        path,
        &LinePlot {
            title,
            x_label,
            y_label,
            series,
            segments,
        },
    )
}

/// The runs of consecutive finite points of `s`.
fn segments(s: &Series) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![];
    let mut run = vec![];
    for (&x, &y) in s.xs.iter().zip(&s.ys) {
        if x.is_finite() && y.is_finite() {
            run.push((x, y));
        } else if !run.is_empty() {
            out.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

struct LinePlot<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    /// Per series, its runs of finite points.
    segments: Vec<Vec<Vec<(f64, f64)>>>,
}

impl LinePlot<'_> {
    fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.segments.iter().flatten().flatten()
    }

    /// Where the legend hides the least: curves that end high (accuracy) leave the lower
    /// right empty, curves that end low (loss) the upper right.
    fn legend_position(&self, y_range: &std::ops::Range<f64>) -> SeriesLabelPosition {
        let ends: Vec<f64> = self
            .segments
            .iter()
            .filter_map(|s| s.last()?.last())
            .map(|&(_, y)| (y - y_range.start) / (y_range.end - y_range.start))
            .collect();
        let mean = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
        if mean > 0.5 {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        }
    }
}

impl Figure for LinePlot<'_> {
    fn size(&self) -> (u32, u32) {
        (800, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let x_range = padded_range(self.points().map(|p| p.0));
        let y_range = padded_range(self.points().map(|p| p.1));
        let legend_at = self.legend_position(&y_range);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, y_range)
            .or_msg()?;
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(238, 238, 238))
            .max_light_lines(4)
            .draw()
            .or_msg()?;
        for (i, (s, runs)) in self.series.iter().zip(&self.segments).enumerate() {
            let c = colour(i);
            let style = c.stroke_width(2);
            // One labelled (possibly empty) series carries the legend entry, so that a series
            // with no finite point is still listed.
            chart
                .draw_series(LineSeries::new(
                    runs.first().cloned().unwrap_or_default(),
                    style,
                ))
                .or_msg()?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            for run in runs.iter().skip(1) {
                chart
                    .draw_series(LineSeries::new(run.iter().copied(), style))
                    .or_msg()?;
            }
            let dots = runs.iter().filter(|r| r.len() == 1).map(|r| r[0]);
            chart
                .draw_series(dots.map(|p| Circle::new(p, 3, c.filled())))
                .or_msg()?;
        }
        chart
            .configure_series_labels()
            .position(legend_at)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .or_msg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::testutil::{assert_png, assert_svg, svg_has_text};

    fn curves() -> Vec<Series> {
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        vec![
            Series::new(
                "train loss",
                xs.clone(),
                xs.iter().map(|x| 2.3 / x).collect(),
            ),
            Series::new(
                "val loss",
                xs.clone(),
                xs.iter().map(|x| 2.5 / x + 0.1).collect(),
            ),
            Series::new(
                "test loss",
                xs.clone(),
                xs.iter().map(|x| 2.4 / x + 0.05).collect(),
            ),
        ]
    }

    #[test]
    fn line_plot_writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("curves.png");
        line_plot(&png, "Learning curves", "epoch", "loss", &curves()).unwrap();
        let img = assert_png(&png);
        // Three distinct series colours appear in the picture.
        for i in 0..3 {
            let c = colour(i);
            assert!(
                img.pixels().any(|p| p.0 == [c.0, c.1, c.2]),
                "colour {i} missing"
            );
        }
        let svg = dir.path().join("curves.svg");
        line_plot(&svg, "Learning curves", "epoch", "loss", &curves()).unwrap();
        let text = assert_svg(&svg);
        assert!(svg_has_text(&text, "train loss") && svg_has_text(&text, "Learning curves"));
    }

    #[test]
    fn nan_points_break_the_line_and_empty_series_stay_in_legend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.svg");
        let series = [
            Series::new(
                "diverged",
                vec![0.0, 1.0, 2.0, 3.0],
                vec![1.0, f64::NAN, 0.5, 0.4],
            ),
            Series::new("nothing yet", vec![], vec![]),
        ];
        line_plot(&path, "t", "x", "y", &series).unwrap();
        assert!(svg_has_text(&assert_svg(&path), "nothing yet"));
        assert_eq!(segments(&series[0]).len(), 2);
        assert_png(&{
            let p = dir.path().join("nan.png");
            line_plot(&p, "t", "x", "y", &series).unwrap();
            p
        });
    }

    #[test]
    fn degenerate_input_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        let err = line_plot(&path, "t", "x", "y", &[]).unwrap_err();
        assert!(err.to_string().contains("no series"), "{err}");
        let nan = [Series::new("s", vec![0.0], vec![f64::NAN])];
        let err = line_plot(&path, "t", "x", "y", &nan).unwrap_err();
        assert!(err.to_string().contains("finite"), "{err}");
        let ragged = [Series::new("s", vec![0.0, 1.0], vec![1.0])];
        let err = line_plot(&path, "t", "x", "y", &ragged).unwrap_err();
        assert!(err.to_string().contains("2 xs but 1 ys"), "{err}");
        assert!(!path.exists());
        let err = line_plot(&dir.path().join("c.jpg"), "t", "x", "y", &curves()).unwrap_err();
        assert!(matches!(err, crate::Error::Plot { .. }), "{err}");
    }
}
