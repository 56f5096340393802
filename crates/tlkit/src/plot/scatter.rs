//! Scatter plots of 2-D embeddings (t-SNE of features): colour by class, marker by domain.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::render::{FAMILY, Figure, OrMsg, colour, padded_range, plot_error, render, text_size};
use crate::Result;

/// Marker shapes in the order of `marker_index`: circle, triangle, cross, square (cycling).
const MARKERS: usize = 4;
const LEGEND_FONT: f64 = 14.0;

/// Draws `points` into `path` (`.png` or `.svg`): point `i` in colour `colour_index[i]` and
/// marker shape `marker_index[i]` (0 circle, 1 triangle, 2 cross, 3 square, then again).
///
/// `legend[k]` names colour `k`; the legend is drawn to the right of the plot, and left out
/// when `legend` is empty. Marker shapes are not named in the legend. Points with a NaN or
/// infinite coordinate are left out.
///
/// # Errors
/// `Error::Plot` if the three slices differ in length, no point is finite, a colour index has
/// no legend entry (when `legend` is not empty), the extension is neither `png` nor `svg`, or
/// drawing fails; `Error::Io` if the file cannot be written.
pub fn scatter(
    path: &Path,
    title: &str,
    points: &[(f64, f64)],
    colour_index: &[usize],
    marker_index: &[usize],
    legend: &[String],
) -> Result<()> {
    if colour_index.len() != points.len() || marker_index.len() != points.len() {
        return Err(plot_error(
            path,
            format!(
                "{} points but {} colour indices and {} marker indices",
                points.len(),
                colour_index.len(),
                marker_index.len()
            ),
        ));
    }
    if !legend.is_empty()
        && let Some(&k) = colour_index.iter().find(|&&k| k >= legend.len())
    {
        return Err(plot_error(
            path,
            format!(
                "colour index {k} has no legend entry ({} entries)",
                legend.len()
            ),
        ));
    }
    let finite: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].0.is_finite() && points[i].1.is_finite())
        .collect();
    if finite.is_empty() {
        return Err(plot_error(path, "no finite point to plot"));
    }
    let legend_width = legend.iter().try_fold(0, |w, s| {
        text_size(s, LEGEND_FONT).map(|(tw, _)| w.max(tw as i32))
    });
    let legend_width = legend_width.map_err(|msg| plot_error(path, msg))?;
    render(
        path,
        &Scatter {
            title,
            points,
            colour_index,
            marker_index,
            legend,
            finite,
            legend_width: if legend.is_empty() {
                0
            } else {
                legend_width + 44
            },
        },
    )
}

struct Scatter<'a> {
    title: &'a str,
    points: &'a [(f64, f64)],
    colour_index: &'a [usize],
    marker_index: &'a [usize],
    legend: &'a [String],
    /// Indices of the points with finite coordinates.
    finite: Vec<usize>,
    /// Pixels kept on the right for the legend (0 without one).
    legend_width: i32,
}

impl Figure for Scatter<'_> {
    fn size(&self) -> (u32, u32) {
        (760 + self.legend_width as u32, 680)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (plot, side) = root.split_horizontally(760);
        let x_range = padded_range(self.finite.iter().map(|&i| self.points[i].0));
        let y_range = padded_range(self.finite.iter().map(|&i| self.points[i].1));
        let mut chart = ChartBuilder::on(&plot)
            .caption(self.title, (FAMILY, 22))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(x_range, y_range)
            .or_msg()?;
        chart
            .configure_mesh()
            .label_style((FAMILY, 12))
            .light_line_style(RGBColor(242, 242, 242))
            .max_light_lines(4)
            .draw()
            .or_msg()?;
        for shape in 0..MARKERS {
            let group = self
                .finite
                .iter()
                .filter(|&&i| self.marker_index[i] % MARKERS == shape)
                .map(|&i| (self.points[i], colour(self.colour_index[i])));
            // One series per shape: plotters draws a series of one element type.
            match shape {
                0 => chart.draw_series(group.map(|(p, c)| Circle::new(p, 4, c.mix(0.8).filled()))),
                1 => chart.draw_series(
                    group.map(|(p, c)| TriangleMarker::new(p, 5, c.mix(0.8).filled())),
                ),
                2 => chart.draw_series(group.map(|(p, c)| Cross::new(p, 4, c.stroke_width(2)))),
                _ => chart.draw_series(group.map(|(p, c)| {
                    EmptyElement::at(p) + Rectangle::new([(-3, -3), (3, 3)], c.mix(0.8).filled())
                })),
            }
            .or_msg()?;
        }
        let label = TextStyle::from((FAMILY, LEGEND_FONT).into_font())
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (k, name) in self.legend.iter().enumerate() {
            let y = 60 + 22 * k as i32;
            side.draw(&Circle::new((14, y), 5, colour(k).filled()))
                .or_msg()?;
            side.draw(&Text::new(name.as_str(), (26, y), label.clone()))
                .or_msg()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::testutil::{assert_png, assert_svg, svg_has_text};

    /// Two domains of three classes each, as Gaussian-ish blobs on a circle.
    fn blobs() -> (Vec<(f64, f64)>, Vec<usize>, Vec<usize>) {
        let (mut pts, mut cls, mut dom) = (vec![], vec![], vec![]);
        for i in 0..240usize {
            let (c, d) = (i % 3, (i / 3) % 2);
            let angle = c as f64 * 2.1 + d as f64 * 0.3;
            let jitter = ((i * 7919) % 100) as f64 / 100.0;
            pts.push((10.0 * angle.cos() + jitter, 10.0 * angle.sin() - jitter));
            cls.push(c);
            dom.push(d);
        }
        (pts, cls, dom)
    }

    #[test]
    fn scatter_writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let (pts, cls, dom) = blobs();
        let legend: Vec<String> = ["cat", "dog", "frog"].map(String::from).to_vec();
        let png = dir.path().join("tsne.png");
        scatter(&png, "t-SNE of features", &pts, &cls, &dom, &legend).unwrap();
        let img = assert_png(&png);
        assert!(img.width() > 760, "legend area missing");
        let svg = dir.path().join("tsne.svg");
        scatter(&svg, "t-SNE of features", &pts, &cls, &dom, &legend).unwrap();
        assert!(svg_has_text(&assert_svg(&svg), "frog"));
        scatter(&svg, "t-SNE of features", &pts, &cls, &dom, &[]).unwrap();
        assert!(!svg_has_text(&assert_svg(&svg), "frog"));
    }

    #[test]
    fn nan_points_are_skipped_and_bad_input_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.png");
        let pts = [
            (0.0, 1.0),
            (f64::NAN, 2.0),
            (1.0, 0.5),
            (2.0, f64::INFINITY),
        ];
        scatter(&path, "t", &pts, &[0, 1, 0, 1], &[0, 1, 2, 3], &[]).unwrap();
        assert_png(&path);

        let bad = dir.path().join("bad.png");
        let err = scatter(&bad, "t", &pts, &[0, 1], &[0, 0, 0, 0], &[]).unwrap_err();
        assert!(
            err.to_string().contains("4 points but 2 colour indices"),
            "{err}"
        );
        let legend = vec!["one".to_string()];
        let err = scatter(&bad, "t", &pts, &[0, 1, 0, 0], &[0; 4], &legend).unwrap_err();
        assert!(
            err.to_string()
                .contains("colour index 1 has no legend entry"),
            "{err}"
        );
        let err = scatter(&bad, "t", &[(f64::NAN, 0.0)], &[0], &[0], &[]).unwrap_err();
        assert!(err.to_string().contains("no finite point"), "{err}");
        let err = scatter(&bad, "t", &[], &[], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("no finite point"), "{err}");
        assert!(!bad.exists());
    }
}
