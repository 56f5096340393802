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
pub mod study;
pub mod train;
pub mod weights;
pub mod zoo;

use std::path::{Path, PathBuf};

/// A study command's config and the folder its relative paths resolve against: a config file
/// (its folder) or a built-in benchmark from `benchmarks` (the working folder).
pub fn config_or_benchmark<C>(
    config: Option<&Path>,
    benchmark: Option<&str>,
    load: impl FnOnce(&Path) -> tlkit::Result<C>,
    builtin: impl FnOnce(&str) -> tlkit::Result<C>,
    benchmarks: &[(&str, &str)],
) -> anyhow::Result<(C, PathBuf)> {
    match (config, benchmark) {
        (Some(path), None) => Ok((
            load(path)?,
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        )),
        (None, Some(name)) => Ok((builtin(name)?, PathBuf::from("."))),
        _ => anyhow::bail!(
            "give a config file or --benchmark NAME ({})",
            benchmarks
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
