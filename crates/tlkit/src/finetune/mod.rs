//! Fine-tuning strategies that plug into the trainer: regularising towards the pretrained
//! weights (L2-SP) and gradual unfreezing.

pub mod arms;
pub mod config;
pub mod l2sp;
pub mod pipeline;
pub mod unfreeze;

pub use config::{FinetuneConfig, FinetuneSettings, L2SpConfig, Strategy, UnfreezeConfig};
pub use l2sp::L2Sp;
pub use pipeline::FinetuneSummary;
pub use unfreeze::GradualUnfreeze;
