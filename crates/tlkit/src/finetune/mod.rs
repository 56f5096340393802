//! Fine-tuning strategies that plug into the trainer: regularising towards the pretrained
//! weights (L2-SP) and gradual unfreezing.

pub mod l2sp;
pub mod pipeline;
pub mod unfreeze;

pub use l2sp::L2Sp;
pub use pipeline::{FinetuneConfig, FinetuneSummary};
pub use unfreeze::GradualUnfreeze;
