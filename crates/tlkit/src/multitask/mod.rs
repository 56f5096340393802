//! Multi-task learning: several tasks trained at once on a shared trunk, how to weigh them
//! against each other, and whether sharing helped each task.
//!
//! The trainer already trains several named heads ([`crate::train::Task`]); this family
//! adds the methods that decide, step by step, how much each task's loss or gradient counts
//! ([`weighting`], plugged in as [`crate::train::GradientStrategy`]s) and the study that
//! compares them with each task trained alone ([`pipeline`]).

pub mod config;
pub mod pipeline;
pub mod relatedness;
pub mod sweep;
pub mod weighting;

pub use config::{BENCHMARKS, MultitaskConfig, MultitaskOverrides};
pub use pipeline::MultitaskSummary;
pub use weighting::{METHODS, MethodInfo, method, method_names};
