//! Checks shared by the plot tests.
use std::path::Path;

/// Decodes the PNG at `path`, checks it is non-empty and not blank, and returns it.
pub(crate) fn assert_png(path: &Path) -> image::RgbImage {
    let bytes = std::fs::read(path).unwrap();
    assert!(!bytes.is_empty(), "{} is empty", path.display());
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    assert!(img.width() > 100 && img.height() > 100);
    // Dark pixels are text and axes: a plot whose text failed to render has far fewer.
    let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 80)).count();
    assert!(dark > 500, "{}: only {dark} dark pixels", path.display());
    img
}

/// Reads the SVG at `path`, checks it is a non-empty SVG document, and returns its text.
pub(crate) fn assert_svg(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.trim_start().starts_with("<svg"), "{}", path.display());
    assert!(text.trim_end().ends_with("</svg>"), "{}", path.display());
    text
}

/// Whether the SVG document `svg` has a text element whose content is exactly `s`.
pub(crate) fn svg_has_text(svg: &str, s: &str) -> bool {
    // plotters writes each text node on its own line between the tags.
    svg.contains(&format!(">\n{s}\n</text>"))
}

/// Writes one plot of each kind to `target/plot-samples/` for a person to look at:
/// `cargo test -p tlkit --lib plot::testutil -- --ignored`.
#[test]
#[ignore = "writes sample plots for a person to look at"]
fn write_samples() {
    use super::*;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plot-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let xs: Vec<f64> = (1..=30).map(f64::from).collect();
    let curve = |a: f64, b: f64| xs.iter().map(|x| a / x.sqrt() + b).collect::<Vec<_>>();
    let mut acc = curve(-0.5, 1.0);
    acc[12] = f64::NAN;
    for ext in ["png", "svg"] {
        let series = [
            Series::new("train accuracy", xs.clone(), curve(-0.6, 1.0)),
            Series::new("val accuracy (NaN at 13)", xs.clone(), acc.clone()),
            Series::new("test accuracy", xs.clone(), curve(-0.55, 0.98)),
        ];
        line_plot(
            &dir.join(format!("curves.{ext}")),
            "Learning curves",
            "epoch",
            "accuracy",
            &series,
        )
        .unwrap();
        let names: Vec<String> = [
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
        .map(String::from)
        .to_vec();
        let counts: Vec<Vec<u64>> = (0..10)
            .map(|t| {
                (0..10)
                    .map(|p| if t == p { 800 + 13 * t } else { t * p * 7 % 23 })
                    .collect()
            })
            .collect();
        confusion_matrix(&dir.join(format!("confusion.{ext}")), &counts, &names).unwrap();
        let tasks: Vec<String> = (1..=5).map(|i| format!("T{i}")).collect();
        let m: Vec<Vec<f64>> = (0..5)
            .map(|i| {
                (0..5)
                    .map(|j| {
                        if j > i {
                            f64::NAN
                        } else {
                            0.97 - 0.06 * (i - j) as f64
                        }
                    })
                    .collect()
            })
            .collect();
        heatmap(
            &dir.join(format!("accuracy.{ext}")),
            "Accuracy after each task",
            &m,
            &tasks,
            &tasks,
            "evaluated on task",
            "trained up to task",
            ValueFormat::Percent,
        )
        .unwrap();
        let (mut pts, mut cls, mut dom) = (vec![], vec![], vec![]);
        for i in 0..600usize {
            let (c, d) = (i % 5, (i / 5) % 2);
            let a = c as f64 * 1.25 + d as f64 * 0.25 + ((i * 7919) % 97) as f64 / 400.0;
            let r = 10.0 + ((i * 104729) % 89) as f64 / 30.0;
            pts.push((r * a.cos(), r * a.sin()));
            cls.push(c);
            dom.push(d);
        }
        scatter(
            &dir.join(format!("tsne.{ext}")),
            "t-SNE (circle: source, triangle: target)",
            &pts,
            &cls,
            &dom,
            &names[..5],
        )
        .unwrap();
    }
}
