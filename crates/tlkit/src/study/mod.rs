//! The study layer: what every method family's experiment shares, written once.
//!
//! A study is a set of arms (methods, or a pretrained start against scratch) trained once per
//! seed into one folder. The families say what an arm trains and which pictures of their own
//! they draw; this layer owns the rest: the config header (`name`, `seeds`, `device`), the
//! folder with its resolved config, one result file per (arm, seed), resuming a killed study,
//! mean ± std and mean curves over seeds, the verdict against a baseline arm, `summary.json`
//! and the curve plots.
//!
//! ```text
//! runs/<name>-<time>/
//!   config.toml               the study, every default filled in (`--resume` reads it back)
//!   <arm>/seed-<n>/           one folder per (arm, seed): the trainer's metrics.jsonl and
//!     result.json             checkpoints, and result.json once the run has finished
//!   summary.json
//!   plots/
//! ```

pub mod header;
pub mod runner;
pub mod stats;
pub mod verdict;

pub use header::{StudyHeader, builtin_config, load_study_toml};
pub use runner::{Cell, Folder, Study, StudyOptions};
pub use stats::{epoch_seconds, mean_curve, mean_std, median};
pub use verdict::{ArmStats, Verdict};
