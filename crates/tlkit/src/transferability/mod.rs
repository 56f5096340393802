//! Transferability: how well the features of one domain or model serve another, measured
//! before (or instead of) training on the target.
//!
//! Scores of a model's features for a target task, one per file: [`logme`] (LogME, both the
//! ICML and the JMLR update), [`leep`] (LEEP, from the source model's class probabilities),
//! [`nce`] (NCE, from its predicted classes), [`hscore`] (H-score and its shrinkage
//! variant), [`transrate`] (TransRate). Relatedness of representations: [`cka`] (linear CKA).
//! All are pure functions of row-major features (f32 or f64) and labels; [`input`] holds the
//! checks they share, [`score`] selects them by name. [`rank`] holds the rank correlations
//! (Kendall's τ-b, the weighted τ) between a score and the accuracy fine-tuning reached.
//! [`models`] scores a network's features; [`report`] measures that accuracy against scratch: the negative-transfer report. [`zoo`]
//! builds the candidate networks from recipes and reads zoo files; [`relate`] gives the
//! relatedness matrices between datasets (proxy A-distance) and networks (linear CKA).
//!
//! The scores, the rank correlations, the proxy A-distance, linear CKA and the input checks are
//! pure functions that live in [`crate::measure`], below the method families, because other
//! families report them too (a study that asks whether the scores predict which trunk transfers
//! best); they are re-exported here, so this family's paths stay as they were.

pub mod models;
pub mod relate;
pub mod report;
pub mod zoo;

// Each name brings the measure's module and its function alike (`hscore` is both).
pub use crate::measure::{
    Score, TRANSRATE_EPS, cka, hscore, hscore_shrunk, input, kendall_tau, ledoit_wolf_shrinkage,
    leep, linear_cka, logme, logme_icml, nce, pad, proxy_a_distance, rank, score, softmax_rows,
    transrate, weighted_tau,
};
pub use models::{Candidate, ScoreOptions, ScoreRow, score_model};
pub use report::{ReportOptions, ReportSummary};
pub use zoo::{ZooEntry, ZooFile, read_zoo_file};
