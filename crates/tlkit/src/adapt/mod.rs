//! Unsupervised domain adaptation: labels on a source domain, unlabeled target data, and loss
//! terms that make the features stop caring which domain an input came from.
//!
//! Each method is a [`LossTerm`](crate::train::LossTerm) the trainer composes with unlabeled
//! companion data ([`Trainer::with_unlabeled`](crate::train::Trainer::with_unlabeled));
//! source-only training is the trainer without either. [`pipeline`] runs a config end to end.

pub mod analysis;
pub mod cdan;
pub mod config;
pub mod coral;
pub mod dan;
pub mod dann;
pub mod discriminator;
pub mod grl;
pub mod jan;
pub mod mmd;
pub mod overrides;
pub mod pipeline;

pub use cdan::{Cdan, CdanConfig};
pub use config::{AdaptConfig, AnalysisConfig, Method, PAIR_ITERATIONS, export_data, load_pair};
pub use coral::{Coral, CoralConfig};
pub use dan::{Dan, DanConfig};
pub use dann::{Dann, DannConfig};
pub use grl::{GrlSchedule, grl};
pub use jan::{Jan, JanConfig};
pub use mmd::{Estimator, Kernel};
pub use overrides::AdaptOverrides;
pub use pipeline::{AdaptSummary, MethodSummary};
