//! Equal weighting (EW): the baseline every multi-task paper compares against.
//!
//! L = Σₜ Lₜ (each task's own `weight` applied, as in a run without a method). One backward
//! pass; the numbers equal those of the trainer without a strategy.

use crate::Result;
use crate::train::{GradientStrategy, WeightingStep};

/// Every task weighed 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct Equal;

/// Equal weighting has no settings; an empty table is all `[settings.ew]` may hold (so a
/// misplaced setting is an error, not ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

impl GradientStrategy for Equal {
    fn name(&self) -> &str {
        "ew"
    }
    fn needs_task_grads(&self) -> bool {
        false
    }
    fn weigh(&mut self, step: &WeightingStep<'_>) -> Result<Vec<f64>> {
        Ok(vec![1.0; step.tasks.len()])
    }
}
