//! `tlkit train`: train the experiment a config describes, or resume one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::config::ExperimentConfig;
use tlkit::experiment::{self, RunOptions};
use tlkit::run::RunDir;

#[derive(Args)]
#[command(after_help = "Examples:
  tlkit train lenet-mnist.toml
  tlkit train --resume runs/lenet-mnist-2026-11-29T00-10-00Z")]
pub struct TrainArgs {
    /// Experiment config (TOML). Not needed with --resume.
    config: Option<PathBuf>,
    /// Folder for run folders.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Continue the run in this folder from its last checkpoint, with the config the run
    /// wrote (`RUN_DIR/config.toml`); a config file given beside it is an error, not ignored.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "config")]
    resume: Option<PathBuf>,
    /// With --resume: continue even though RUN_DIR/config.toml was edited since the run
    /// started, or --epochs differs from it, with the new values (without it, the edits are
    /// listed and refused).
    #[arg(long)]
    force: bool,
    /// Override the number of epochs (with --resume, a different number needs --force and is
    /// written into the run's config.toml).
    #[arg(long)]
    epochs: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let TrainArgs {
        config,
        out,
        resume,
        force,
        epochs,
        quiet,
    } = args;
    force_needs_resume(force, resume.is_some())?;
    let (mut cfg, base) = match (&config, &resume) {
        (_, Some(dir)) => {
            let run = RunDir::open(dir)?;
            let mut cfg = run.reopen_config(ExperimentConfig::load, force)?;
            if let Some(e) = epochs.filter(|&e| e != cfg.train.epochs) {
                // A different budget changes the schedule the run started with: an edit like
                // any other, so it is refused unless forced, and written down when forced.
                if !force {
                    bail!(
                        "{} was started for {} epochs; --epochs {e} would change its budget (and \
                         any schedule over it). Resume without --epochs to finish it as started, \
                         or add --force to continue to {e} epochs (its config.toml then says so)",
                        dir.display(),
                        cfg.train.epochs
                    );
                }
                tracing::warn!(
                    "continuing {} to {e} epochs instead of {} (--force)",
                    dir.display(),
                    cfg.train.epochs
                );
                cfg.train.epochs = e;
                run.write_config(&cfg.to_toml()?)?;
            }
            (cfg, PathBuf::from("."))
        }
        (Some(path), None) => {
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (ExperimentConfig::load(path)?, base)
        }
        (None, None) => {
            bail!("give a config file, or --resume RUN_DIR (see `tlkit train --help`)")
        }
    };
    if let Some(e) = epochs {
        cfg.train.epochs = e;
    }
    let opts = RunOptions {
        out_root: Some(out),
        resume,
        progress: !quiet,
        base: Some(base),
        ..Default::default()
    };
    train(cfg, opts)
}

/// `--force` only makes sense with `--resume` (clap's `requires` is waived when a config file,
/// which conflicts with `--resume`, is given).
pub fn force_needs_resume(force: bool, resume: bool) -> Result<()> {
    if force && !resume {
        bail!("--force lets a resumed run continue with its edited config.toml; it needs --resume");
    }
    Ok(())
}

/// ", peak memory N MiB" where the system reports it.
pub fn memory(peak_mib: Option<f64>) -> String {
    peak_mib.map_or_else(String::new, |m| format!(", peak memory {m:.0} MiB"))
}

/// Runs one experiment and prints its test accuracy and run folder (`train` and `demo`).
pub fn train(cfg: ExperimentConfig, opts: RunOptions) -> Result<()> {
    let name = cfg.name.clone();
    let out = experiment::run(cfg, &opts).with_context(|| format!("run `{name}`"))?;
    let s = &out.summary;
    if s.test_accuracy.is_nan() {
        // A run of regressions (a reconstruction, say) has no accuracy; its tasks follow.
        println!(
            "{}: {} epochs, {:.1}s{}",
            s.name,
            s.epochs_completed,
            s.wall_seconds,
            memory(s.peak_memory_mib)
        );
    } else {
        println!(
            "{}: test accuracy {:.2}% (loss {:.4}) after {} epochs, {:.1}s{}",
            s.name,
            100.0 * s.test_accuracy,
            s.test_loss,
            s.epochs_completed,
            s.wall_seconds,
            memory(s.peak_memory_mib)
        );
    }
    for (task, e) in &s.tasks {
        match e.metric.as_str() {
            "accuracy" => println!(
                "  {task}: accuracy {:.2}% (loss {:.4})",
                100.0 * e.value,
                e.loss
            ),
            m => println!("  {task}: {m} {:.4} (loss {:.4})", e.value, e.loss),
        }
    }
    println!("run folder: {}", out.run.path.display());
    Ok(())
}
