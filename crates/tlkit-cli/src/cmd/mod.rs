//! One module per subcommand: its flags (a clap `Args` struct) and its `run`.

pub mod adapt;
pub mod continual;
pub mod data;
pub mod demo;
pub mod embed;
pub mod eval;
pub mod features;
pub mod finetune;
pub mod inspect;
pub mod model;
pub mod multitask;
pub mod predict;
pub mod relate;
pub mod report;
pub mod score;
pub mod selftaught;
pub mod train;
pub mod weights;
pub mod zoo;
