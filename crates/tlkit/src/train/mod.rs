//! The training core: losses, optimizers, schedules, the trainer loop, metrics, checkpoints.

pub mod checkpoint;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod schedule;
pub mod trainer;

pub use metrics::{Confusion, EvalResult, evaluate, evaluate_groups, group_mask, predict_logits};
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind, ParamGroup};
pub use schedule::Schedule;
pub use trainer::Grads;
pub use trainer::{
    EarlyStopping, EpochRecord, FitReport, Hook, LossTerm, StepContext, StepOutput, TermModule,
    TrainConfig, Trainer, companion_indices,
};
