//! `tlkit demo`: the built-in demo, an MLP on the embedded optdigits data.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use tlkit::config::ExperimentConfig;
use tlkit::experiment::RunOptions;

#[derive(Args)]
pub struct DemoArgs {
    /// Override the number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Folder for run folders.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Print the demo's config (a starting point for your own) and exit.
    #[arg(long)]
    print_config: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: DemoArgs) -> Result<()> {
    let mut cfg = ExperimentConfig::demo();
    if args.print_config {
        print!("{}", cfg.to_toml()?);
        return Ok(());
    }
    if let Some(e) = args.epochs {
        cfg.train.epochs = e;
    }
    super::train::train(
        cfg,
        RunOptions {
            out_root: Some(args.out),
            progress: !args.quiet,
            ..Default::default()
        },
    )
}
