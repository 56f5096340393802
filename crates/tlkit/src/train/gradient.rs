//! The gradient stage: between the backward pass and the optimizer step.
//!
//! By default the trainer back-propagates the sum of the weighted task losses (plus every loss
//! term) once. A [`GradientStrategy`] instead receives each task's own gradient and combines
//! them; multi-task weighting methods (PCGrad's projections, MGDA's min-norm combination,
//! GradNorm's rescaling) plug in here, one file per strategy.
//!
//! Burn 0.22 frees the autodiff graph in the backward pass (there is no `retain_graph`), so
//! the trainer obtains task `t`'s gradient with a forward and a backward of its own: the same
//! batch, the same dropout masks (the step's generator is replayed) and batch norm's running
//! statistics updated once, as in the single pass. Loss terms (regularizers, adversaries)
//! get one more pass of their own, whose gradient is added to the combined one unchanged.
//! The cost is one forward and one backward per task.

use std::collections::BTreeMap;

use super::trainer::Grads;
use crate::Result;

/// Combines per-task gradients into the gradient the optimizer applies.
pub trait GradientStrategy {
    /// Names the strategy in logs.
    fn name(&self) -> &str;
    /// `grads[t]` is the gradient of task `t`'s weighted loss (`tasks[t]` names it), by
    /// parameter path: the main network's paths and loss-term modules' `<module>.<path>`.
    /// A head's parameters appear only in the maps of the tasks that use the head; the
    /// parameters shared by several tasks are [`shared_paths`]. Returns the combined gradient.
    fn combine(&mut self, tasks: &[String], grads: Vec<Grads>) -> Result<Grads>;
}

/// The paths that have a gradient in more than one task's map (the shared trunk).
pub fn shared_paths(grads: &[Grads]) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for g in grads {
        for k in g.keys() {
            *count.entry(k).or_default() += 1;
        }
    }
    count
        .into_iter()
        .filter(|(_, c)| *c > 1)
        .map(|(k, _)| k.to_string())
        .collect()
}

/// The sum of gradient maps, path by path.
pub fn sum_grads(grads: Vec<Grads>) -> Grads {
    let mut out: Grads = BTreeMap::new();
    for g in grads {
        for (k, v) in g {
            let v = match out.remove(&k) {
                Some(acc) => acc + v,
                None => v,
            };
            out.insert(k, v);
        }
    }
    out
}

/// Sums the per-task gradients: the default's result, computed task by task. A baseline for
/// strategies and a check of the per-task passes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SumPerTask;

impl GradientStrategy for SumPerTask {
    fn name(&self) -> &str {
        "sum"
    }
    fn combine(&mut self, _tasks: &[String], grads: Vec<Grads>) -> Result<Grads> {
        Ok(sum_grads(grads))
    }
}
