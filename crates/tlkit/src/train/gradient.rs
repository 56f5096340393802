//! The gradient stage: between the backward pass and the optimizer step.
//!
//! By default the trainer back-propagates the sum of the weighted task losses (plus every loss
//! term) once. A [`GradientStrategy`] changes how the tasks are combined; the multi-task
//! weighting methods (`multitask::weighting`) are strategies. It sees, at every step, each
//! task's loss on the batch and the position in training ([`WeightingStep`]), and either
//! - returns loss weights ([`GradientStrategy::weigh`]): the trainer back-propagates
//!   Σ wₜ·Lₜ once, so loss-based methods (equal, uncertainty, DWA) cost one backward pass; or
//! - asks for each task's gradient ([`GradientStrategy::needs_task_grads`]) and combines them
//!   ([`GradientStrategy::combine`]): PCGrad's projections, MGDA's min-norm combination,
//!   GradNorm's rescaling.
//!
//! A strategy may own learnable parameters (uncertainty weighting's log-variances, GradNorm's
//! weights) and update them itself at each call; it reports the weights it used, and the
//! trainer records their mean over each epoch per task ([`super::record::TaskScores::weight`]).
//! Its state is written into every epoch record ([`GradientStrategy::state`]) and restored
//! from the last one when a run resumes, so a resumed run continues as the uninterrupted one.
//!
//! Burn 0.22 frees the autodiff graph in the backward pass (there is no `retain_graph`), so
//! the trainer obtains task `t`'s gradient with a forward and a backward of its own: the same
//! batch, the same dropout masks (the step's generator is replayed) and batch norm's running
//! statistics updated once, as in the single pass. Loss terms (regularizers, adversaries)
//! get one more pass of their own, whose gradient is added to the combined one unchanged.
//! The cost is one forward and one backward per task.

use std::collections::{BTreeMap, BTreeSet};

use super::record::EpochRecord;
use super::trainer::Grads;
use crate::backend::{self, Tensor};
use crate::{Error, Result};

/// What a strategy sees at each step.
#[derive(Debug, Clone, Copy)]
pub struct WeightingStep<'a> {
    /// 0-based epoch.
    pub epoch: usize,
    /// Iterations completed before this step.
    pub iteration: usize,
    /// Total iterations of the run.
    pub total_iterations: usize,
    /// The tasks' names, in the order of `losses` and of the gradient maps.
    pub tasks: &'a [String],
    /// Each task's loss on this batch, with the task's own `weight` applied (the loss whose
    /// gradient the per-task maps hold).
    pub losses: &'a [f64],
    /// The network's parameter paths in declaration order (input to output), so that a
    /// strategy can find the last shared layer.
    pub order: &'a [String],
    /// Per task, the gradient of its weighted loss on the shared representation (the output
    /// of the layer the heads branch from, `[batch · features]`), when the strategy asked
    /// ([`GradientStrategy::needs_representation`]); empty otherwise.
    pub representation: &'a [Tensor<1>],
}

/// A combined gradient and the weight each task got in it.
pub struct Combined {
    pub grads: Grads,
    /// One weight per task, in the order of the tasks; all 1 where the method weighs the
    /// tasks implicitly (PCGrad's projections).
    pub weights: Vec<f64>,
}

/// How the tasks' losses or gradients become the one gradient the optimizer applies.
pub trait GradientStrategy {
    /// Names the strategy in logs.
    fn name(&self) -> &str;
    /// Whether [`GradientStrategy::combine`] needs each task's gradient (one forward and one
    /// backward per task); if not, the trainer calls [`GradientStrategy::weigh`] and runs one.
    fn needs_task_grads(&self) -> bool {
        true
    }
    /// Whether [`GradientStrategy::combine`] also needs each task's gradient on the shared
    /// representation ([`WeightingStep::representation`]; MGDA-UB). The trainer adds a zero
    /// to the output of the layer the heads branch from and reads its gradient in each
    /// task's pass; every task needs a head, all branching from one layer.
    fn needs_representation(&self) -> bool {
        false
    }
    /// An error before training when the strategy cannot work with these tasks (a method
    /// that compares task gradients, given one task).
    fn check(&self, tasks: &[String]) -> Result<()> {
        if self.needs_task_grads() && tasks.len() < 2 {
            return Err(Error::Spec(format!(
                "weighting `{}` compares the tasks' gradients and needs at least two tasks, got {}; add a task or use `ew`",
                self.name(),
                tasks.len()
            )));
        }
        Ok(())
    }
    /// The loss weights of this step (one per task), for strategies that need no per-task
    /// gradient. The default weighs every task 1.
    fn weigh(&mut self, step: &WeightingStep<'_>) -> Result<Vec<f64>> {
        Ok(vec![1.0; step.tasks.len()])
    }
    /// `grads[t]` is the gradient of task `t`'s weighted loss, by parameter path: the main
    /// network's paths and loss-term modules' `<module>.<path>`. A head's parameters appear
    /// only in the maps of the tasks that use the head; the parameters shared by several
    /// tasks are [`shared_paths`]. The default sums them.
    fn combine(&mut self, step: &WeightingStep<'_>, grads: Vec<Grads>) -> Result<Combined> {
        Ok(Combined {
            weights: vec![1.0; step.tasks.len()],
            grads: sum_grads(grads),
        })
    }
    /// After each epoch, with the epoch's record (each task's mean training loss under
    /// `tasks`): DWA's loss history.
    fn on_epoch_end(&mut self, _record: &EpochRecord) -> Result<()> {
        Ok(())
    }
    /// The strategy's learnable values per task (empty for none), stored in each epoch
    /// record under the task ([`super::record::TaskScores::weighting_state`]).
    fn state(&self) -> Vec<Vec<f64>> {
        vec![]
    }
    /// Restores what [`GradientStrategy::state`] returned (one entry per task, in the order
    /// of the tasks) and sees the records of the finished epochs, when a run resumes.
    fn restore(&mut self, _state: &[Vec<f64>], _history: &[EpochRecord]) -> Result<()> {
        Ok(())
    }
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

/// Σₜ wₜ·gradsₜ, path by path (a head's parameters get their task's weight).
pub fn weighted_sum(grads: Vec<Grads>, weights: &[f64]) -> Grads {
    sum_grads(
        grads
            .into_iter()
            .zip(weights)
            .map(|(g, &w)| {
                g.into_iter()
                    .map(|(k, v)| (k, v.mul_scalar(w as f32)))
                    .collect()
            })
            .collect(),
    )
}

/// The tasks' gradients on the parameters in `paths` as one host vector per task, the
/// parameters concatenated in the order of `paths` (the representation the solvers of
/// PCGrad, MGDA and CAGrad work on).
pub fn flatten(grads: &[Grads], paths: &[String]) -> Vec<Vec<f64>> {
    grads
        .iter()
        .map(|g| {
            paths
                .iter()
                .flat_map(|p| match g.get(p) {
                    Some(t) => backend::to_vec(t).into_iter().map(f64::from).collect(),
                    // A task that does not reach the parameter has a zero gradient on it.
                    None => {
                        let n = grads
                            .iter()
                            .find_map(|o| o.get(p))
                            .map_or(0, |t| t.dims()[0]);
                        vec![0.0; n]
                    }
                })
                .collect()
        })
        .collect()
}

/// Every task's gradient summed on the paths no two tasks share (each head's own
/// parameters, loss-term modules), and the shared paths, in declaration order, for a method
/// to combine.
pub fn split_shared(grads: &[Grads], order: &[String]) -> (Grads, Vec<String>) {
    let shared: BTreeSet<String> = shared_paths(grads).into_iter().collect();
    let mut ordered: Vec<String> = order
        .iter()
        .filter(|p| shared.contains(*p))
        .cloned()
        .collect();
    // Shared paths the network does not declare (a loss-term module's) go last, sorted.
    ordered.extend(shared.iter().filter(|p| !order.contains(p)).cloned());
    let own = sum_grads(
        grads
            .iter()
            .map(|g| {
                g.iter()
                    .filter(|(k, _)| !shared.contains(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect(),
    );
    (own, ordered)
}

/// `values` (concatenated as in [`flatten`] over `paths`) as gradient tensors, added to `own`
/// (the unshared paths). `like` (the tasks' maps) gives each path's length and device.
pub fn join_shared(mut own: Grads, paths: &[String], values: &[f64], like: &[Grads]) -> Grads {
    let mut at = 0;
    for p in paths {
        if let Some(t) = like.iter().find_map(|g| g.get(p)) {
            let n = t.dims()[0];
            let v: Vec<f32> = values[at..at + n].iter().map(|&x| x as f32).collect();
            let t: Tensor<1> = backend::tensor(v, [n], &t.device());
            own.insert(p.clone(), t);
            at += n;
        }
    }
    own
}

/// How the tasks' gradients on the shared parameters relate at one step (the survey's
/// question whether tasks help each other or one dominates).
#[derive(Debug, Clone, PartialEq)]
pub struct Relatedness {
    /// `cosine[i][j]`: cosine similarity of task i's and task j's gradients (0 where one is
    /// zero).
    pub cosine: Vec<Vec<f64>>,
    /// Each task's gradient norm over the sum of the norms.
    pub norm_share: Vec<f64>,
}

/// The relatedness of the tasks' gradients on the parameters they share.
pub fn relatedness(grads: &[Grads]) -> Relatedness {
    let flat = flatten(grads, &shared_paths(grads));
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let norms: Vec<f64> = flat.iter().map(|g| dot(g, g).sqrt()).collect();
    let total: f64 = norms.iter().sum();
    let cosine = flat
        .iter()
        .zip(&norms)
        .map(|(a, na)| {
            flat.iter()
                .zip(&norms)
                .map(|(b, nb)| {
                    if *na > 0.0 && *nb > 0.0 {
                        dot(a, b) / (na * nb)
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    Relatedness {
        cosine,
        norm_share: norms
            .iter()
            .map(|n| if total > 0.0 { n / total } else { 0.0 })
            .collect(),
    }
}

/// Sums the per-task gradients: the default's result, computed task by task. A baseline for
/// strategies and a check of the per-task passes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SumPerTask;

impl GradientStrategy for SumPerTask {
    fn name(&self) -> &str {
        "sum"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Device, tensor};

    /// Two tasks sharing `w` (and one head each): gradients (3, 4) and (4, −3) on `w` are
    /// orthogonal, with norms 5 and 5; a third, (−6, −8), opposes the first (norm 10).
    #[test]
    fn relatedness_is_the_cosine_and_norm_share_on_shared_parameters() {
        let d = Device::flex();
        let g = |w: [f32; 2], head: &str| -> Grads {
            [
                ("w".to_string(), tensor(w.to_vec(), [2], &d)),
                (head.to_string(), tensor(vec![100.0], [1], &d)),
            ]
            .into()
        };
        let r = relatedness(&[
            g([3.0, 4.0], "a"),
            g([4.0, -3.0], "b"),
            g([-6.0, -8.0], "c"),
        ]);
        let want = [[1.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]];
        for (row, w) in r.cosine.iter().zip(want) {
            for (x, y) in row.iter().zip(w) {
                assert!((x - y).abs() < 1e-9, "{:?}", r.cosine);
            }
        }
        assert_eq!(r.norm_share, [0.25, 0.25, 0.5]);
    }
}
