//! Measures of representations that several method families report: how far apart two
//! domains' features are (proxy A-distance), how alike two representations of the same samples
//! are (linear CKA), how well a model's features serve a labelled task before any training (the
//! transferability scores, one per file: [`logme`], [`leep`], [`nce`], [`hscore`],
//! [`transrate`], chosen by name in [`score`]), how well a score ranks what training then
//! reached ([`rank`]: Kendall's τ-b and the weighted τ), and the checks every measure makes of its
//! input. All are pure functions of row-major features and labels. A family that reports one
//! takes it from here, so no family imports another; the transferability family re-exports them.

pub mod cka;
pub mod hscore;
pub mod input;
pub mod leep;
pub mod logme;
pub mod nce;
pub mod pad;
pub mod rank;
pub mod score;
pub mod transrate;

pub use cka::linear_cka;
pub use hscore::{hscore, hscore_shrunk, ledoit_wolf_shrinkage};
pub use leep::leep;
pub use logme::{logme, logme_icml};
pub use nce::nce;
pub use pad::proxy_a_distance;
pub use rank::{kendall_tau, weighted_tau};
pub use score::{Score, softmax_rows};
pub use transrate::{TRANSRATE_EPS, transrate};

#[cfg(test)]
mod golden;
