//! Multi-task learning: several tasks trained at once on a shared trunk, and how to weigh
//! them against each other.
//!
//! The trainer already trains several named heads ([`crate::train::Task`]); this family
//! adds the methods that decide, step by step, how much each task's loss or gradient counts
//! ([`weighting`]), plugged in as [`crate::train::GradientStrategy`]s.

pub mod weighting;

pub use weighting::{METHODS, MethodInfo, method, method_names};
