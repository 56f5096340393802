//! Numeric CSV files: one sample per line, comma-separated numbers, one of them (optionally)
//! the class label. Plain or gzipped (detected by the gzip magic, not the name).
//!
//! The parser is deliberately small: fields are split on commas, surrounding spaces and double
//! quotes are stripped, blank lines are skipped, and there is no quoting of commas (numeric data
//! has none). Every row must have the width of the first one.

use std::path::Path;

use super::dataset::Dataset;
use super::limits::Limits;
use super::util::{gunzip_if_gzip, read_maybe_gz};
use crate::{Error, Result};

/// How to read a numeric CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// Column holding the class label; negative counts from the end (`-1` is the last column).
    /// `None` reads an unlabelled dataset where every column is a feature.
    pub label_column: Option<isize>,
    /// Skip the first non-blank line.
    pub has_header: bool,
    /// Every feature is multiplied by this (e.g. `1/255` for bytes, `1/16` for optdigits).
    pub scale: f32,
    /// Shape of one sample; its product must equal the number of features. Default `[features]`.
    pub sample_shape: Option<Vec<usize>>,
    /// Number of classes; default `max label + 1`.
    pub num_classes: Option<usize>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            label_column: Some(-1),
            has_header: false,
            scale: 1.0,
            sample_shape: None,
            num_classes: None,
        }
    }
}

/// Loads a numeric CSV file (plain or gzipped) as a dataset named `name`.
///
/// Errors name the line (1-based, counting every line of the file) and, for a bad cell, the
/// field (1-based): a row of another width than the first, a cell that is not a number, a label
/// that is not a non-negative integer or not below `num_classes`.
pub fn load_csv(path: impl AsRef<Path>, opts: &CsvOptions, name: &str) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path)?;
    parse_csv(&bytes, path, opts, name)
}

/// Parses CSV `bytes` (plain or gzipped) that came from `origin` (used in errors only).
pub(crate) fn load_csv_bytes(
    bytes: &[u8],
    origin: &Path,
    opts: &CsvOptions,
    name: &str,
) -> Result<Dataset> {
    let bytes = gunzip_if_gzip(bytes.to_vec(), origin)?;
    parse_csv(&bytes, origin, opts, name)
}

/// Strips surrounding spaces and one pair of double quotes.
fn clean(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .map_or(f, str::trim)
}

fn parse_csv(bytes: &[u8], path: &Path, opts: &CsvOptions, name: &str) -> Result<Dataset> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::format(
            path,
            Some(format!("byte {}", e.valid_up_to())),
            "not UTF-8 text; is this a CSV file (a binary or other-encoded file was given)?",
        )
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    if opts.has_header {
        lines.next();
    }

    let limits = Limits::current()?;
    if let Some(k) = opts.num_classes {
        limits.declared_classes(k, || format!("{}: num_classes", path.display()))?;
    }
    let mut width = 0usize;
    let mut first_line = 0usize;
    let mut label_at = None;
    let mut x = Vec::new();
    let mut y = Vec::new();
    // The largest label and where it is, for the error when it makes too many classes.
    let mut largest: Option<(u32, usize, usize)> = None;
    for (line_no, line) in lines {
        let at = || Some(format!("line {line_no}"));
        let fields: Vec<&str> = line.split(',').collect();
        if width == 0 {
            width = fields.len();
            first_line = line_no;
            label_at = resolve_label_column(opts.label_column, width, path, line_no)?;
            if width == usize::from(label_at.is_some()) {
                return Err(Error::format(
                    path,
                    at(),
                    format!("rows have {width} field(s) and no feature column"),
                ));
            }
        } else if fields.len() != width {
            return Err(Error::format(
                path,
                at(),
                format!(
                    "{} fields, expected {width} (the width of line {first_line}); \
                     every row needs the same number of comma-separated values",
                    fields.len()
                ),
            ));
        }
        for (j, raw) in fields.iter().enumerate() {
            let cell = clean(raw);
            if Some(j) == label_at {
                let l = parse_label(cell, path, line_no, j, opts.num_classes)?;
                if largest.is_none_or(|(m, _, _)| l > m) {
                    largest = Some((l, line_no, j));
                }
                y.push(l);
                continue;
            }
            let cell_at = || Some(format!("line {line_no}, field {}", j + 1));
            let v: f32 = cell
                .parse()
                .map_err(|_| Error::format(path, cell_at(), format!("`{cell}` is not a number")))?;
            let scaled = v * opts.scale;
            if !scaled.is_finite() {
                let why = if v.is_finite() {
                    format!("`{cell}` times scale {} is not a finite f32", opts.scale)
                } else {
                    format!("`{cell}` is not a finite number")
                };
                return Err(Error::format(
                    path,
                    cell_at(),
                    format!(
                        "{why}; NaN and infinite values cannot be trained on, fix or drop the row"
                    ),
                ));
            }
            x.push(scaled);
        }
    }
    if width == 0 {
        return Err(Error::format(
            path,
            None,
            "no data rows; the file is empty (or holds only a header)",
        ));
    }
    let features = width - usize::from(label_at.is_some());
    let sample_shape = match &opts.sample_shape {
        Some(s) => {
            let held = limits.values(s, || format!("{}: sample_shape", path.display()))?;
            if held != features {
                return Err(Error::format(
                    path,
                    None,
                    format!(
                        "sample_shape {s:?} holds {held} values but rows have {features} \
                         features; choose a shape whose product is {features}"
                    ),
                ));
            }
            s.clone()
        }
        None => vec![features],
    };
    let num_classes = match (opts.num_classes, largest) {
        (Some(k), _) => k,
        (None, None) => 0,
        (None, Some((m, line_no, col))) => {
            let k = m as usize + 1;
            if let Some(problem) = limits.inferred_classes_problem(k, y.len()) {
                return Err(Error::format(
                    path,
                    Some(format!("line {line_no}, field {} (label)", col + 1)),
                    format!(
                        "label {m} {problem}; if the labels are right, declare \
                         `num_classes = {k}` in the CSV source (or set {}={k})",
                        super::limits::MAX_CLASSES_ENV
                    ),
                ));
            }
            k
        }
    };
    Dataset::new(name, sample_shape, x, y, num_classes.max(1))
}

/// Turns a possibly negative label column into an index below `width`.
fn resolve_label_column(
    col: Option<isize>,
    width: usize,
    path: &Path,
    line_no: usize,
) -> Result<Option<usize>> {
    let Some(c) = col else { return Ok(None) };
    let idx = if c < 0 {
        width.checked_sub(c.unsigned_abs())
    } else {
        Some(c as usize).filter(|&i| i < width)
    };
    idx.map(Some).ok_or_else(|| {
        Error::format(
            path,
            Some(format!("line {line_no}")),
            format!(
                "label_column {c} is outside rows of {width} fields; \
                 use 0..{width} or -1..-{width} (negative counts from the end)"
            ),
        )
    })
}

fn parse_label(
    cell: &str,
    path: &Path,
    line_no: usize,
    col: usize,
    num_classes: Option<usize>,
) -> Result<u32> {
    let at = || Some(format!("line {line_no}, field {} (label)", col + 1));
    // Labels written as floats ("3.0") are accepted when they are whole numbers.
    let v: f64 = cell
        .parse()
        .map_err(|_| Error::format(path, at(), format!("`{cell}` is not a class index")))?;
    if !(v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX)) {
        return Err(Error::format(
            path,
            at(),
            format!("`{cell}` is not a non-negative integer class index"),
        ));
    }
    let l = v as u32;
    if let Some(k) = num_classes
        && l as usize >= k
    {
        return Err(Error::format(
            path,
            at(),
            format!("label {l} is not below num_classes = {k}"),
        ));
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn at_of(e: &Error) -> Option<&str> {
        match e {
            Error::Format { at, .. } => at.as_deref(),
            _ => None,
        }
    }

    #[test]
    fn reads_labels_last_with_scale_and_shape() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.csv", "0,16,8,4,2\n16,0,0,16,1\n\n");
        let opts = CsvOptions {
            scale: 1.0 / 16.0,
            sample_shape: Some(vec![1, 2, 2]),
            ..Default::default()
        };
        let ds = load_csv(&p, &opts, "a/train").unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.sample_shape, vec![1, 2, 2]);
        assert_eq!(ds.sample(0), &[0.0, 1.0, 0.5, 0.25]);
        assert_eq!(ds.y, vec![2, 1]);
        assert_eq!(ds.num_classes, 3);
    }

    #[test]
    fn header_first_label_column_quotes_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let text = "label,a,b\r\n\"1\", 0.5 ,2\r\n0.0,1e-1,-3\r\n";
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        let p = dir.path().join("b.csv.gz");
        std::fs::write(&p, e.finish().unwrap()).unwrap();
        let opts = CsvOptions {
            label_column: Some(0),
            has_header: true,
            num_classes: Some(4),
            ..Default::default()
        };
        let ds = load_csv(&p, &opts, "b").unwrap();
        assert_eq!(ds.x, vec![0.5, 2.0, 0.1, -3.0]);
        assert_eq!(ds.y, vec![1, 0]);
        assert_eq!(ds.num_classes, 4);
    }

    #[test]
    fn unlabelled() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "u.csv", "1,2\n3,4\n");
        let opts = CsvOptions {
            label_column: None,
            ..Default::default()
        };
        let ds = load_csv(&p, &opts, "u").unwrap();
        assert_eq!((ds.len(), ds.y.len()), (2, 0));
    }

    #[test]
    fn row_of_wrong_width_names_the_line_and_width() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "w.csv", "1,2,3\n\n4,5,6\n7,8\n");
        let e = load_csv(&p, &CsvOptions::default(), "w").unwrap_err();
        assert_eq!(at_of(&e), Some("line 4"), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("2 fields, expected 3"), "{msg}");
        assert!(msg.contains("w.csv"), "{msg}");
    }

    #[test]
    fn non_numeric_cell_names_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "n.csv", "1,2,3\n4,abc,6\n");
        let e = load_csv(&p, &CsvOptions::default(), "n").unwrap_err();
        assert_eq!(at_of(&e), Some("line 2, field 2"), "{e:?}");
        assert!(e.to_string().contains("`abc` is not a number"));
    }

    #[test]
    fn bad_labels_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "l.csv", "1,2\n4,2.5\n");
        let e = load_csv(&p, &CsvOptions::default(), "l").unwrap_err();
        assert_eq!(at_of(&e), Some("line 2, field 2 (label)"), "{e:?}");
        let p = write(dir.path(), "k.csv", "1,2\n4,7\n");
        let opts = CsvOptions {
            num_classes: Some(5),
            ..Default::default()
        };
        let e = load_csv(&p, &opts, "k").unwrap_err();
        assert!(
            e.to_string()
                .contains("label 7 is not below num_classes = 5")
        );
    }

    #[test]
    fn stray_large_label_names_the_line_and_how_to_declare_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut text: String = (0..49).map(|i| format!("{i},{}\n", i % 3)).collect();
        text.insert_str(20, "7,1000\n");
        let p = write(dir.path(), "stray.csv", &text);
        let e = load_csv(&p, &CsvOptions::default(), "s").unwrap_err();
        let line = 1 + text[..20].lines().count();
        assert_eq!(
            at_of(&e),
            Some(format!("line {line}, field 2 (label)").as_str()),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("label 1000 makes 1001 classes for 50 samples")
                && msg.contains("num_classes = 1001")
                && msg.contains("stray.csv"),
            "{msg}"
        );
        // Declared, it is accepted; a declared count above the bound is not.
        let opts = CsvOptions {
            num_classes: Some(1001),
            ..Default::default()
        };
        assert_eq!(load_csv(&p, &opts, "s").unwrap().num_classes, 1001);
        let opts = CsvOptions {
            num_classes: Some(100_000_000),
            ..Default::default()
        };
        let e = load_csv(&p, &opts, "s").unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
        assert!(e.to_string().contains("num_classes"), "{e}");
    }

    #[test]
    fn nan_and_infinite_values_name_the_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        for (cell, scale, why) in [
            ("nan", 1.0, "`nan` is not a finite number"),
            ("-inf", 1.0, "`-inf` is not a finite number"),
            ("1e30", 1e10, "times scale"),
        ] {
            let p = write(dir.path(), "f.csv", &format!("1,2,0\n3,{cell},1\n"));
            let opts = CsvOptions {
                scale,
                ..Default::default()
            };
            let e = load_csv(&p, &opts, "f").unwrap_err();
            assert_eq!(at_of(&e), Some("line 2, field 2"), "{e:?}");
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn bad_options_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "o.csv", "1,2,3\n");
        let opts = CsvOptions {
            label_column: Some(-4),
            ..Default::default()
        };
        assert!(load_csv(&p, &opts, "o").is_err());
        let opts = CsvOptions {
            sample_shape: Some(vec![3]),
            ..Default::default()
        };
        let msg = load_csv(&p, &opts, "o").unwrap_err().to_string();
        assert!(msg.contains("rows have 2 features"), "{msg}");
        let p = write(dir.path(), "empty.csv", "\n\n");
        assert!(load_csv(&p, &CsvOptions::default(), "e").is_err());
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = load_csv("/nonexistent/x.csv", &CsvOptions::default(), "x").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
    }
}
