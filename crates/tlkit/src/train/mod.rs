//! The training core: losses, optimizers, schedules, the trainer loop, metrics, checkpoints.

pub mod checkpoint;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod schedule;
pub mod trainer;

pub use metrics::{Confusion, EvalResult, evaluate};
pub use metrics::{evaluate_groups, group_mask};
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind, ParamGroup};
pub use schedule::Schedule;
pub use trainer::Grads;
pub use trainer::{
    EarlyStopping, EpochRecord, FitReport, Hook, LossTerm, StepContext, StepOutput, TrainConfig,
    Trainer,
};
