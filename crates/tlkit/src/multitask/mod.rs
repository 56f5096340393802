//! Multi-task learning: several tasks trained at once on a shared trunk, how to weigh them
//! against each other, and whether sharing helped each task.
//!
//! The trainer already trains several named heads ([`crate::train::Task`]); this family
//! adds the methods that decide, step by step, how much each task's loss or gradient counts
//! ([`weighting`], plugged in as [`crate::train::GradientStrategy`]s) and the study that
//! compares them with each task trained alone ([`pipeline`]); and whether the features a
//! multi-task trunk learns transfer to new tasks better than a single-task trunk's ([`general`]).

pub mod config;
pub mod general;
pub mod general_config;
pub mod pipeline;
pub mod relatedness;
pub mod sweep;
pub mod weighting;

pub use config::{BENCHMARKS, MultitaskConfig, MultitaskOverrides};
pub use general::GeneralSummary;
pub use general_config::{GeneralConfig, GeneralOverrides};
pub use pipeline::MultitaskSummary;
pub use weighting::{METHODS, MethodInfo, method, method_names};
