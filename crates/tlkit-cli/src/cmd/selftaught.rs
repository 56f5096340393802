//! `tlkit selftaught`: features learned without labels on one kind of data, a linear
//! classifier on a labeled task of another, per arm × labels per class × seed, against raw
//! pixels; from a config or a built-in benchmark.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use tlkit::data;
use tlkit::run::RunDir;
use tlkit::selftaught::study::{self, SelftaughtSummary};
use tlkit::selftaught::{BENCHMARKS, SelftaughtConfig, SelftaughtOverrides};
use tlkit::study::StudyOptions;

#[derive(Args)]
#[command(after_help = "Examples:
  tlkit selftaught --benchmark raina-optdigits      photo patches → optdigits, 10 and 100 labels per class
  tlkit selftaught --benchmark raina-mnist --seeds 0 --labels-per-class 10
  tlkit selftaught --benchmark ufldl-digits         MNIST 5-9 unlabeled → 0-4, the UFLDL split
  tlkit selftaught my-study.toml
  tlkit selftaught --resume runs/raina-mnist-2026-...   continue a killed study

A config names the unlabeled source ([unlabeled]: `data` = any [data] table, its labels
dropped; `photos` = \"sklearn\" or \"wide\"; `folder` = images), the labeled task ([data]),
the arms ([[arms]] kind = \"raw\", \"pca\" with `components`, \"sparse-coding\" with `atoms`
and `alpha`; `patches = { size, stride, grid, pool, norm }` to learn on patches and pool
their codes), the classifier ([classifier] kind = \"logistic\" or \"svm\", `l2`),
`labels_per_class` (e.g. [10, 100] or [\"all\"]) and `seeds`. Print a benchmark's with
--print-config.

Each arm's features are learned once per seed (kept in <arm>/seed-<n>/basis/, which `tlkit
features encode --basis` reads); the labeled samples are drawn with the seed, the same for
every arm. The run folder gets summary.json (accuracy per arm and labels per class, mean ±
std over seeds, the gain over raw pixels with the verdict: NEGATIVE TRANSFER where the
learned features do worse), plots/accuracy.png, plots/basis-<arm>.png and
plots/reconstruction.png.")]
pub struct SelftaughtArgs {
    /// A self-taught study config; or name a --benchmark.
    config: Option<PathBuf>,
    /// A built-in study: raina-mnist, raina-optdigits (features from natural-photo patches),
    /// ufldl-digits (features from MNIST digits 5-9 for digits 0-4).
    #[arg(long, conflicts_with = "config")]
    benchmark: Option<String>,
    /// Print the study's config (every default filled in) and stop.
    #[arg(long)]
    print_config: bool,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Labeled training samples per class, comma-separated (replaces the config's).
    #[arg(long, value_delimiter = ',')]
    labels_per_class: Vec<usize>,
    /// Keep only these arms, comma-separated, by name (raw, pca-64, sparse-64, ...).
    #[arg(long, value_delimiter = ',')]
    arms: Vec<String>,
    /// Test on the first this many test samples.
    #[arg(long)]
    test_limit: Option<usize>,
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Continue an interrupted study in its folder: finished (arm, seed) cells are kept, an
    /// unfinished one reuses the basis it had learned.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
        "config", "benchmark", "seeds", "labels_per_class", "arms", "test_limit", "print_config",
    ])]
    resume: Option<PathBuf>,
    /// With --resume: continue even though RUN_DIR/config.toml was edited since the study
    /// started, with the edited values (without it, the edits are listed and refused).
    #[arg(long)]
    force: bool,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

fn report(run: &RunDir, s: &SelftaughtSummary) {
    println!("unlabeled: {}", s.unlabeled);
    println!(
        "labeled:   {} (test: {} samples)",
        s.labeled, s.test_samples
    );
    println!(
        "{:<16} {:>8} {:>18} {:>9}",
        "arm", "labels", "test accuracy", "gain"
    );
    for r in &s.rows {
        let gain = r
            .gain_points
            .map(|g| format!("{g:+.2}"))
            .unwrap_or_default();
        println!(
            "{:<16} {:>8} {:>18} {:>9}{}",
            r.arm,
            r.labels_per_class,
            format!("{:.2}% ± {:.2}", 100.0 * r.mean, 100.0 * r.std),
            gain,
            if r.negative_transfer {
                "  NEGATIVE TRANSFER"
            } else {
                ""
            }
        );
    }
    for line in &s.verdicts {
        println!("{line}");
    }
    println!("run folder: {}", run.path.display());
}

pub fn run(args: SelftaughtArgs) -> Result<()> {
    super::train::force_needs_resume(args.force, args.resume.is_some())?;
    let opts = StudyOptions {
        progress: !args.quiet,
        force: args.force,
        ..StudyOptions::default()
    };
    let cache = data::cache_dir();
    if let Some(dir) = &args.resume {
        let (run, s) = study::resume(dir, Path::new("."), &cache, &opts)
            .with_context(|| format!("resume {}", dir.display()))?;
        report(&run, &s);
        return Ok(());
    }
    let (mut cfg, base) = super::config_or_benchmark(
        args.config.as_deref(),
        args.benchmark.as_deref(),
        SelftaughtConfig::load,
        SelftaughtConfig::benchmark,
        BENCHMARKS,
    )?;
    cfg.apply(&SelftaughtOverrides {
        seeds: args.seeds.clone(),
        labels_per_class: args.labels_per_class.clone(),
        arms: args.arms.clone(),
        test_limit: args.test_limit,
    })?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&cfg)?);
        return Ok(());
    }
    let (run, s) = study::run(&cfg, &args.out, &base, &cache, &opts)
        .with_context(|| format!("selftaught `{}`", cfg.study.name))?;
    report(&run, &s);
    Ok(())
}
