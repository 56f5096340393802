//! Continual learning: task streams in the three scenarios, methods against forgetting, and
//! the accuracy-matrix metrics.

pub mod config;
pub mod ewc;
pub mod joint;
pub mod lwf;
pub mod method;
pub mod metrics;
pub mod naive;
pub mod overrides;
pub mod penalty;
pub mod pipeline;
pub mod pnn;
pub mod replay;
pub mod sequence;
pub mod si;
pub mod stream;

pub use config::{ContinualConfig, MethodConfig, MethodKind};
pub use ewc::{Ewc, EwcConfig, FisherEstimate, FisherLabels, diagonal_fisher};
pub use joint::Joint;
pub use lwf::{Lwf, LwfConfig};
pub use method::{Method, TaskContext};
pub use metrics::AccuracyMatrix;
pub use naive::Naive;
pub use overrides::ContinualOverrides;
pub use penalty::{Anchor, QuadraticPenalty};
pub use pipeline::{ContinualSummary, SeedResult};
pub use pnn::{ColumnArch, Progressive};
pub use replay::{Replay, ReplayConfig};
pub use si::{Si, SiConfig};
pub use stream::{Scenario, ScenarioView, Stream, StreamConfig, Task, TaskSpec};
