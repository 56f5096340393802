//! The scores by name, for commands and configs that let the user choose
//! (`--scores logme,leep,hscore`): what each needs and how to compute it from a model's
//! features and, where it has one, its class outputs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{hscore, hscore_shrunk, leep, logme, logme_icml, nce, transrate};
use crate::{Error, Result};

/// A transferability score of features (and class outputs) for target labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Score {
    /// [`logme`]: the JMLR fixed-point update.
    Logme,
    /// [`logme_icml`]: the ICML 2021 algorithm (O(D³)).
    LogmeIcml,
    /// [`leep`]: needs the source model's class probabilities.
    Leep,
    /// [`nce`]: needs the source model's predicted classes.
    Nce,
    /// [`hscore`].
    Hscore,
    /// [`hscore_shrunk`]: H-score with the Ledoit-Wolf covariance.
    HscoreShrunk,
    /// [`transrate`] at the authors' ε.
    Transrate,
}

impl Score {
    /// Every score, in the order a table shows them.
    pub const ALL: [Score; 7] = [
        Score::Logme,
        Score::LogmeIcml,
        Score::Leep,
        Score::Nce,
        Score::Hscore,
        Score::HscoreShrunk,
        Score::Transrate,
    ];

    /// The scores computed when none are named.
    pub const DEFAULT: [Score; 5] = [
        Score::Logme,
        Score::Leep,
        Score::Nce,
        Score::Hscore,
        Score::Transrate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Score::Logme => "logme",
            Score::LogmeIcml => "logme-icml",
            Score::Leep => "leep",
            Score::Nce => "nce",
            Score::Hscore => "hscore",
            Score::HscoreShrunk => "hscore-shrunk",
            Score::Transrate => "transrate",
        }
    }

    /// True for the scores computed from the source model's class outputs, not from features.
    pub fn needs_predictions(self) -> bool {
        matches!(self, Score::Leep | Score::Nce)
    }

    /// A comma-separated list of names (`logme,leep`); `all` names every score.
    pub fn parse_list(s: &str) -> Result<Vec<Score>> {
        if s.trim() == "all" {
            return Ok(Score::ALL.to_vec());
        }
        let mut out: Vec<Score> = vec![];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let score = part.parse()?;
            if !out.contains(&score) {
                out.push(score);
            }
        }
        if out.is_empty() {
            return Err(Self::unknown(s));
        }
        Ok(out)
    }

    fn unknown(name: &str) -> Error {
        Error::Unknown {
            kind: "score",
            name: name.into(),
            known: Score::ALL.map(Score::name).join(", "),
        }
    }

    /// The score of `features` (`width` per sample) with `predictions` (the source model's
    /// softmax outputs, `classes` per sample, if it has a classifier) for `labels`; `None` for
    /// a score that needs predictions when there are none.
    ///
    /// # Shapes
    /// `features`: `[n, width]`, `predictions`: `[n, classes]`, `labels`: `[n]`
    pub fn compute(
        self,
        features: &[f32],
        width: usize,
        predictions: Option<(&[f32], usize)>,
        labels: &[u32],
    ) -> Result<Option<f64>> {
        Ok(Some(match (self, predictions) {
            (Score::Logme, _) => logme(features, width, labels)?,
            (Score::LogmeIcml, _) => logme_icml(features, width, labels)?,
            (Score::Hscore, _) => hscore(features, width, labels)?,
            (Score::HscoreShrunk, _) => hscore_shrunk(features, width, labels)?,
            (Score::Transrate, _) => transrate(features, width, labels, super::TRANSRATE_EPS)?,
            (Score::Leep, Some((p, classes))) => leep(p, classes, labels)?,
            (Score::Nce, Some((p, classes))) => {
                let argmax: Vec<u32> = p
                    .chunks(classes.max(1))
                    .map(|r| {
                        (0..r.len())
                            .max_by(|&a, &b| r[a].total_cmp(&r[b]))
                            .unwrap_or(0) as u32
                    })
                    .collect();
                nce(&argmax, labels)?
            }
            (Score::Leep | Score::Nce, None) => return Ok(None),
        }))
    }
}

impl FromStr for Score {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Score::ALL
            .into_iter()
            .find(|x| x.name() == s || (s == "h-score" && *x == Score::Hscore))
            .ok_or_else(|| Self::unknown(&s))
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Softmax of each row of `logits` (`classes` per row), computed stably in f64.
///
/// # Shapes
/// `logits`: `[n, classes]` → `[n, classes]`
pub fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f32> {
    logits
        .chunks(classes.max(1))
        .flat_map(|r| {
            let m = r.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let e: Vec<f64> = r.iter().map(|&v| f64::from(v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| (v / s) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_list_the_known() {
        assert_eq!(
            Score::parse_list("logme, LEEP,hscore_shrunk,logme").unwrap(),
            [Score::Logme, Score::Leep, Score::HscoreShrunk]
        );
        assert_eq!(Score::parse_list("all").unwrap().len(), 7);
        let e = Score::parse_list("logme,leap").unwrap_err().to_string();
        assert!(
            e.contains("unknown score `leap`") && e.contains("transrate"),
            "{e}"
        );
    }

    #[test]
    fn predictions_scores_are_none_without_a_classifier() {
        let x = [0.0f32, 1.0, 1.0, 0.0, 0.1, 0.9, 0.8, 0.3];
        let y = [1, 0, 1, 0];
        assert_eq!(Score::Leep.compute(&x, 2, None, &y).unwrap(), None);
        let p = softmax_rows(&x, 2);
        assert!((p[0] + p[1] - 1.0).abs() < 1e-6 && p[1] > p[0]);
        // The source's argmax determines these labels exactly: NCE is 0.
        let nce = Score::Nce.compute(&x, 2, Some((&p, 2)), &y).unwrap();
        assert_eq!(nce, Some(0.0));
        assert!(Score::Logme.compute(&x, 2, None, &y).unwrap().is_some());
    }
}
