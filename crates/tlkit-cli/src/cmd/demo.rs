//! `tlkit demo`: what tlkit is for, in seconds, on the embedded optdigits data. An MLP is
//! trained on digits 0–4, then re-used for digits 5–9 with 5 labelled images each, against the
//! same MLP trained from scratch on those images, over 3 seeds: a transfer study with its gain,
//! its verdict and its curves.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use tlkit::config::ExperimentConfig;
use tlkit::data;
use tlkit::experiment::{self, RunOptions};
use tlkit::finetune::FinetuneConfig;
use tlkit::study::StudyOptions;

#[derive(Args)]
#[command(
    after_help = "Step 1 trains the source network (tlkit train of --print-config's
config), step 2 runs the transfer study (tlkit finetune of --print-study's config, with
pretrained.run set to step 1's run folder). Both folders go under --out."
)]
pub struct DemoArgs {
    /// Override the number of epochs (of both steps).
    #[arg(long)]
    epochs: Option<usize>,
    /// Folder for run folders.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Print the source network's training config (a starting point for your own) and exit.
    #[arg(long, conflicts_with = "print_study")]
    print_config: bool,
    /// Print the transfer study's config (a starting point for `tlkit finetune`) and exit.
    #[arg(long)]
    print_study: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: DemoArgs) -> Result<()> {
    let mut source = ExperimentConfig::demo();
    if args.print_config {
        print!("{}", source.to_toml()?);
        return Ok(());
    }
    let placeholder = Path::new("runs/demo-source-digits-0-4-<time>");
    if args.print_study {
        print!(
            "{}",
            toml::to_string_pretty(&FinetuneConfig::demo(placeholder))?
        );
        return Ok(());
    }
    if let Some(e) = args.epochs {
        source.train.epochs = e;
    }
    let name = source.name.clone();
    let src = experiment::run(
        source,
        &RunOptions {
            out_root: Some(args.out.clone()),
            progress: !args.quiet,
            ..Default::default()
        },
    )
    .with_context(|| format!("run `{name}`"))?;
    println!(
        "step 1, digits 0-4: test accuracy {:.2}% after {} epochs, {:.1}s ({})",
        100.0 * src.summary.test_accuracy,
        src.summary.epochs_completed,
        src.summary.wall_seconds,
        src.run.path.display()
    );
    let mut study = FinetuneConfig::demo(&src.run.path);
    if let Some(e) = args.epochs {
        study.train.epochs = e;
    }
    let opts = StudyOptions {
        progress: !args.quiet,
        ..StudyOptions::default()
    };
    let (run, s) = tlkit::finetune::pipeline::run(
        &study,
        &args.out,
        Path::new("."),
        &data::cache_dir(),
        &opts,
    )
    .with_context(|| format!("study `{}`", study.study.name))?;
    println!(
        "step 2, digits 5-9 from {} labelled images, pretrained vs scratch:",
        s.train_samples
    );
    println!("{}", s.verdict);
    println!(
        "curves: {}",
        run.file("plots/finetune_vs_scratch.png").display()
    );
    println!("study folder: {}", run.path.display());
    Ok(())
}
