//! Transferability: how well the features of one domain or model serve another, measured
//! before (or instead of) training on the target.
//!
//! Scores of a model's features for a target task, one per file: [`logme`] (LogME, both the
//! ICML and the JMLR update), [`leep`] (LEEP, from the source model's class probabilities),
//! [`nce`] (NCE, from its predicted classes), [`hscore`] (H-score and its shrinkage
//! variant), [`transrate`] (TransRate). Relatedness of representations: [`cka`] (linear CKA).
//! All are pure functions of row-major features (f32 or f64) and labels; [`input`] holds the
//! checks they share, [`score`] selects them by name. [`rank`] holds the rank correlations
//! (Kendall's τ-b, the weighted τ) between a score and the accuracy fine-tuning reached;
//! [`report`] measures that accuracy against scratch: the negative-transfer report. [`zoo`]
//! builds the candidate networks from recipes and reads zoo files; [`relate`] gives the
//! relatedness matrices between datasets (proxy A-distance) and networks (linear CKA).
//!
//! The proxy A-distance, linear CKA and the input checks live in [`crate::measure`], below the
//! method families, because other families report them too; they are re-exported here with the
//! family's other measures.

pub mod hscore;
pub mod leep;
pub mod logme;
pub mod models;
pub mod nce;
pub mod rank;
pub mod relate;
pub mod report;
pub mod score;
pub mod transrate;
pub mod zoo;

pub use crate::measure::proxy_a_distance;
pub use crate::measure::{cka, input, pad};
pub use cka::linear_cka;
pub use hscore::{hscore, hscore_shrunk, ledoit_wolf_shrinkage};
pub use leep::leep;
pub use logme::{logme, logme_icml};
pub use models::{Candidate, ScoreOptions, ScoreRow, score_model};
pub use nce::nce;
pub use rank::{kendall_tau, weighted_tau};
pub use report::{ReportOptions, ReportSummary};
pub use score::{Score, softmax_rows};
pub use transrate::{TRANSRATE_EPS, transrate};
pub use zoo::{ZooEntry, ZooFile, read_zoo_file};

#[cfg(test)]
mod golden;
