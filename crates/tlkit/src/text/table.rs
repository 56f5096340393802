//! Labelled texts from a CSV file with a header (quoted fields, commas inside quotes), the
//! usual shape of a text-classification dataset.

use std::collections::BTreeSet;
use std::path::Path;

use crate::{Error, Result};

/// Texts and, when a label column was named, their class ids.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTable {
    /// One text per row.
    pub texts: Vec<String>,
    /// Class id per row (index into `classes`).
    pub labels: Option<Vec<u32>>,
    /// Class names in id order: the label column's distinct values, sorted (numerically when
    /// every value is a whole number, so labels `0..k` keep their ids).
    pub classes: Vec<String>,
}

/// Reads `text_column` (and `label_column`) from the CSV at `path`.
///
/// # Errors
/// [`Error::Format`] naming the file and line for a malformed row, [`Error::Config`] naming a
/// column that the header lacks (and listing those it has), [`Error::Spec`] for a file
/// without rows.
pub fn read_text_csv(
    path: &Path,
    text_column: &str,
    label_column: Option<&str>,
) -> Result<TextTable> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        at: None,
        msg: format!("cannot read as CSV: {e}"),
    })?;
    let header = reader
        .headers()
        .map_err(|e| Error::Format {
            path: path.to_path_buf(),
            at: Some("line 1".into()),
            msg: format!("no header row: {e}"),
        })?
        .clone();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::Config {
                path: path.to_path_buf(),
                msg: format!(
                    "no column `{name}`; the header has: {}",
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            })
    };
    let t = column(text_column)?;
    let l = label_column.map(column).transpose()?;
    let mut texts = Vec::new();
    let mut raw_labels = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| Error::Format {
            path: path.to_path_buf(),
            at: Some(format!("line {}", i + 2)),
            msg: e.to_string(),
        })?;
        texts.push(row.get(t).unwrap_or_default().to_string());
        if let Some(l) = l {
            raw_labels.push(row.get(l).unwrap_or_default().trim().to_string());
        }
    }
    if texts.is_empty() {
        return Err(Error::Spec(format!("{} has no rows", path.display())));
    }
    let Some(_) = l else {
        return Ok(TextTable {
            texts,
            labels: None,
            classes: vec![],
        });
    };
    let distinct: BTreeSet<&str> = raw_labels.iter().map(String::as_str).collect();
    let mut classes: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    if classes.iter().all(|c| c.parse::<u64>().is_ok()) {
        classes.sort_by_key(|c| c.parse::<u64>().unwrap_or(0));
    }
    let labels = raw_labels
        .iter()
        .map(|r| classes.iter().position(|c| c == r).unwrap_or(0) as u32)
        .collect();
    Ok(TextTable {
        texts,
        labels: Some(labels),
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_texts_and_string_labels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(
            &p,
            "id,text,label\n1,\"Hello, world\",spam\n2,plain,ham\n3,\"say \"\"hi\"\"\",spam\n",
        )
        .unwrap();
        let t = read_text_csv(&p, "text", Some("label")).unwrap();
        assert_eq!(t.texts, ["Hello, world", "plain", "say \"hi\""]);
        assert_eq!(t.classes, ["ham", "spam"]);
        assert_eq!(t.labels, Some(vec![1, 0, 1]));
    }

    #[test]
    fn numeric_labels_keep_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "text,label\na,10\nb,2\nc,0\n").unwrap();
        let t = read_text_csv(&p, "text", Some("label")).unwrap();
        assert_eq!(t.classes, ["0", "2", "10"]);
        assert_eq!(t.labels, Some(vec![2, 1, 0]));
    }

    #[test]
    fn a_missing_column_lists_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "sentence,y\na,1\n").unwrap();
        let e = read_text_csv(&p, "text", None).unwrap_err().to_string();
        assert!(
            e.contains("no column `text`") && e.contains("sentence, y"),
            "{e}"
        );
        std::fs::write(&p, "text\n").unwrap();
        assert!(read_text_csv(&p, "text", None).is_err());
    }
}
