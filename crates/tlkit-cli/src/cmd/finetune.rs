//! `tlkit finetune`: fine-tune a pretrained network and compare it with training from scratch.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use tlkit::data;

#[derive(Args)]
#[command(
    after_help = "Example config: examples/finetune-digits/config.toml (a demo run's MLP re-used
on 5 optdigits images per class). The run folder gets summary.json with the
per-seed accuracies, their mean ± std, the transfer gain over scratch and a verdict
(\"NEGATIVE TRANSFER\" when the pretrained start is worse), and plots/finetune_vs_scratch.png."
)]
pub struct FinetuneArgs {
    config: PathBuf,
    #[arg(long, default_value = "runs")]
    out: PathBuf,
}

pub fn run(args: FinetuneArgs) -> Result<()> {
    let FinetuneArgs { config, out } = args;
    let cfg = tlkit::finetune::FinetuneConfig::load(&config)?;
    let base = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let (run, s) = tlkit::finetune::pipeline::run(&cfg, &out, &base, &data::cache_dir())
        .with_context(|| format!("fine-tune `{}`", cfg.name))?;
    println!("{}", s.verdict);
    if let (Some(f), Some(e)) = (s.feature_seconds, s.probe_epoch_seconds) {
        println!(
            "backbone features: {f:.1}s in all (the test set once, each seed's training images); each probe epoch on the cached features: {e:.4}s"
        );
    }
    println!("run folder: {}", run.path.display());
    Ok(())
}
