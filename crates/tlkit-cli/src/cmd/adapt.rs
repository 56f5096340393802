//! `tlkit adapt`: unsupervised domain adaptation, from a config or from flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::adapt::pipeline::AdaptSummary;
use tlkit::adapt::{AdaptConfig, AdaptOverrides, Method};
use tlkit::data;
use tlkit::run::RunDir;
use tlkit::study::StudyOptions;

#[derive(Args)]
#[command(after_help = "Examples:
  tlkit adapt examples/adapt-mnist-mnistm/config.toml
  tlkit adapt --method source_only,dann --source mnist --target optdigits --source-limit 6000
  tlkit adapt --resume runs/adapt-mnist-mnistm-2026-...     continue an interrupted run

Built from --source and --target, a study trains every method for 2000 iterations of 32
source + 32 target images (--iterations), whatever the source set's size, with DANN's and
CDAN's reversal coefficient over the run's progress (gamma 10), as the example configs do:
shorter budgets are too short for the methods to show their gain.

The run folder gets config.toml (the resolved config, re-runnable), summary.json (target
accuracy per method and seed, mean ± std, gain over source-only, proxy A-distance),
plots/target_accuracy.png and plots/tsne_<method>_{domain,class}.png, and one folder per
method and seed (<method>/seed-<n>/: checkpoints, metrics.jsonl, result.json, and
target_predictions.csv: index,label,predicted for every target test sample).")]
pub struct AdaptArgs {
    /// An adaptation config (adapt.toml); without it, one is built from the flags.
    config: Option<PathBuf>,
    /// Methods, comma-separated: source_only, dann, dan, coral, jan, cdan, cdan_e, and
    /// oracle (trained on the target's labels: the ceiling, not an adaptation method).
    #[arg(long, value_delimiter = ',')]
    method: Vec<String>,
    /// Source dataset name (with --target, instead of a config; with a config, it replaces
    /// the config's source dataset).
    #[arg(long)]
    source: Option<String>,
    /// Target dataset name: `mnist-m` for the MNIST-M-style set blended from scikit-learn's
    /// two photos, `mnist-m-wide` for the one blended from eight (with a config, it
    /// replaces the config's target dataset).
    #[arg(long)]
    target: Option<String>,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Epochs of the source training set (replaces the budget in iterations).
    #[arg(long, conflicts_with = "iterations")]
    epochs: Option<usize>,
    /// Budget in iterations, rounded up to whole epochs (default for a study built from
    /// --source and --target: 2000).
    #[arg(long)]
    iterations: Option<usize>,
    /// Use this many source training samples.
    #[arg(long)]
    source_limit: Option<usize>,
    /// Use this many unlabeled target training samples.
    #[arg(long)]
    target_limit: Option<usize>,
    /// Evaluate on this many test samples of each domain.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Input normalisation (replaces the config's `normalize`): none, source (the
    /// source's per-channel mean/std), domain_mean (each domain minus its own mean), or
    /// instance (every image standardised on its own).
    #[arg(long, value_name = "HOW")]
    normalize: Option<String>,
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Continue an interrupted run in its folder: finished (method, seed) runs are kept,
    /// an unfinished one continues from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
        "config", "method", "source", "target", "seeds", "epochs", "iterations", "source_limit",
        "target_limit", "test_limit", "normalize",
    ])]
    resume: Option<PathBuf>,
    /// With --resume: continue even though RUN_DIR/config.toml was edited since the
    /// study started, with the edited values (without it, the edits are listed and refused).
    #[arg(long)]
    force: bool,
    /// Write the first seed's source and target data (before input normalisation) to
    /// DIR/{source,target}_{train,test}.npz and train nothing: the same images for a
    /// check in another framework.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    export_data: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

fn report(run: &RunDir, s: &AdaptSummary) {
    for line in &s.verdict {
        println!("{line}");
    }
    for m in &s.methods {
        if let Some(p) = m.proxy_a_distance {
            println!("proxy A-distance ({}): {p:.3}", m.method.as_str());
        }
    }
    println!("run folder: {}", run.path.display());
}

pub fn run(args: AdaptArgs) -> Result<()> {
    let AdaptArgs {
        config,
        method,
        source,
        target,
        seeds,
        epochs,
        iterations,
        source_limit,
        target_limit,
        test_limit,
        normalize,
        out,
        resume,
        force,
        export_data,
        quiet,
    } = args;
    super::train::force_needs_resume(force, resume.is_some())?;
    let opts = StudyOptions {
        progress: !quiet,
        force,
        ..StudyOptions::default()
    };
    if let Some(dir) = resume {
        let (run, s) =
            tlkit::adapt::pipeline::resume(&dir, Path::new("."), &data::cache_dir(), &opts)
                .with_context(|| format!("resume {}", dir.display()))?;
        report(&run, &s);
        return Ok(());
    }
    let overrides = AdaptOverrides {
        methods: method,
        source: source.clone(),
        target: target.clone(),
        seeds,
        epochs,
        iterations,
        source_limit,
        target_limit,
        test_limit,
        normalize,
    };
    let (mut cfg, base) = match (config, source, target) {
        (Some(path), _, _) => (
            AdaptConfig::load(&path)?,
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        (None, Some(s), Some(t)) => (
            AdaptConfig::for_pair(&s, &t, vec![Method::SourceOnly, Method::Dann]),
            PathBuf::from("."),
        ),
        _ => bail!(
            "give either a config file or both --source and --target (e.g. `tlkit adapt --source mnist --target optdigits`)"
        ),
    };
    cfg.apply(&overrides)?;
    if let Some(dir) = export_data {
        let files = tlkit::adapt::export_data(&cfg, &dir, &base, &data::cache_dir())
            .with_context(|| format!("export the data of `{}`", cfg.study.name))?;
        for f in files {
            println!("{}", f.display());
        }
        return Ok(());
    }
    let (run, s) = tlkit::adapt::pipeline::run(&cfg, &out, &base, &data::cache_dir(), &opts)
        .with_context(|| format!("adapt `{}`", cfg.study.name))?;
    report(&run, &s);
    Ok(())
}
