//! `tlkit finetune`: fine-tune a pretrained network and compare it with training from scratch.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::data;
use tlkit::study::StudyOptions;

#[derive(Args)]
#[command(
    after_help = "Example config: examples/finetune-digits/config.toml (the MLP of source.toml re-used
on 5 optdigits images per class). The run folder gets summary.json with the
per-seed accuracies, their mean ± std, the transfer gain over scratch and a verdict
(\"NEGATIVE TRANSFER\" when the pretrained start is worse), and plots/finetune_vs_scratch.png.
Each (arm, seed) run has its folder (pretrained/seed-<n>/, scratch/seed-<n>/: metrics.jsonl,
checkpoints, result.json).
  tlkit finetune --resume runs/finetune-digits-2026-...   continue a killed study"
)]
pub struct FinetuneArgs {
    /// A fine-tuning config (TOML). Not needed with --resume.
    #[arg(required_unless_present = "resume")]
    config: Option<PathBuf>,
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Continue a killed study in its folder: finished (arm, seed) runs are read back, an
    /// unfinished one continues from its last checkpoint.
    #[arg(long, value_name = "STUDY_DIR", conflicts_with_all = ["config", "out"])]
    resume: Option<PathBuf>,
    /// With --resume: continue even though STUDY_DIR/config.toml was edited since the
    /// study started, with the edited values (without it, the edits are listed and refused).
    #[arg(long)]
    force: bool,
    /// No progress bars (and no per-epoch lines when stderr is not a terminal).
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: FinetuneArgs) -> Result<()> {
    let FinetuneArgs {
        config,
        out,
        resume,
        force,
        quiet,
    } = args;
    super::train::force_needs_resume(force, resume.is_some())?;
    let opts = StudyOptions {
        progress: !quiet,
        force,
        ..StudyOptions::default()
    };
    let (run, s) = match (resume, config) {
        (Some(dir), _) => {
            tlkit::finetune::pipeline::resume(&dir, Path::new("."), &data::cache_dir(), &opts)
                .with_context(|| format!("resume {}", dir.display()))?
        }
        (None, Some(config)) => {
            let cfg = tlkit::finetune::FinetuneConfig::load(&config)?;
            let base = config.parent().map(Path::to_path_buf).unwrap_or_default();
            tlkit::finetune::pipeline::run(&cfg, &out, &base, &data::cache_dir(), &opts)
                .with_context(|| format!("fine-tune `{}`", cfg.study.name))?
        }
        (None, None) => bail!("give a config file, or --resume STUDY_DIR"),
    };
    println!("{}", s.verdict);
    if let (Some(f), Some(e)) = (s.feature_seconds, s.probe_epoch_seconds) {
        println!(
            "backbone features: {f:.1}s in all (the test set once, each seed's training images); each probe epoch on the cached features: {e:.4}s"
        );
    }
    println!("run folder: {}", run.path.display());
    Ok(())
}
