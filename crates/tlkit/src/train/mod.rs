//! The training core: losses, optimizers, schedules, the trainer loop, metrics, checkpoints.

pub mod checkpoint;
pub mod fused_adam;
pub mod gradient;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod parallel;
pub mod probe;
pub mod record;
pub mod schedule;
pub mod task;
pub mod trainer;
pub mod validate;

pub use gradient::{
    Combined, GradientStrategy, Relatedness, SumPerTask, WeightingStep, flatten, join_shared,
    relatedness, shared_paths, split_shared, sum_grads, weighted_sum,
};
pub use metrics::{Confusion, EvalResult, evaluate, evaluate_groups, group_mask, predict_logits};
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind, ParamGroup};
pub use parallel::Parallel;
pub use probe::{CachedProbe, cached_linear_probe, linear_head, linear_probe};
pub use record::{EpochRecord, TaskScores};
pub use schedule::Schedule;
pub use task::{Loss, Metric, Task, TaskEval, evaluate_tasks};
pub use trainer::Grads;
pub use trainer::{
    EarlyStopping, FitReport, Hook, LossTerm, StepContext, StepOutput, TermModule, TrainConfig,
    Trainer, companion_indices,
};
pub use validate::ZeroEpochs;
