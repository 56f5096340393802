//! `tlkit study`: studies built on the study runner that belong to no single command.
//! `tlkit study general-features`: trunks trained on one task, on several, or not at all,
//! transferred to tasks none of them saw.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use tlkit::data;
use tlkit::multitask::general::{self, GeneralSummary};
use tlkit::multitask::general_config::{BENCHMARKS, Mode};
use tlkit::multitask::{GeneralConfig, GeneralOverrides};
use tlkit::run::RunDir;
use tlkit::study::StudyOptions;

#[derive(Subcommand)]
pub enum StudyCommand {
    /// Does multi-task learning learn more general features? Trunks of one network and
    /// budget trained on each task alone, on all tasks under weighting methods, and not at
    /// all, each transferred to new tasks (linear probe and fine-tune, few labels per class,
    /// over seeds): accuracies, the multi-task trunks' verdicts against the best single-task
    /// trunk, transferability scores against the ranking (Kendall's τ), and the trunks' CKA.
    GeneralFeatures(GeneralArgs),
}

#[derive(Args)]
#[command(after_help = "Examples:
  tlkit study general-features examples/general-features/config.toml
  tlkit study general-features --benchmark digits          the embedded digits, under a minute
  tlkit study general-features --benchmark multi-mnist --seeds 0 --epochs 2
  tlkit study general-features --resume runs/general-features-multi-mnist-2026-...

A config has the trunks' part as a `tlkit multitask` config has it ([data], [network] with a
trunk and one head per task, [[tasks]], [train], [settings.<method>]), and:
  trunks = [\"single:left\", \"single:right\", \"ew\", \"uw\", \"random\"]
      single:<task> trains that task alone, a weighting method trains every task, random is
      the untrained network of the seed (the trained trunks' starting point)
  representation = \"shared\"   the trunk layer transferred (default: where the heads start)
  cka_samples = 1000          trunk test samples the trunks' linear CKA is measured on
  scores = [\"logme\", \"hscore\", \"transrate\"]
  [[new_tasks]]               name; dataset = \"fashion-mnist\" or a [new_tasks.data] table
                              (transforms, derived targets); target (default label);
                              labels_per_class = [10, 100]; modes = [\"probe\", \"finetune\"];
                              test_samples (a class-balanced subsample); [new_tasks.train]
                              (the fine-tune budget) and [new_tasks.probe] (the probe's)
Print a built-in config with --print-config.

The run folder gets <trunk>/trunk/seed-<n>/ (the trained trunk, trunk.safetensors),
<trunk>/<new task>-<labels>/seed-<n>/ (scores, probe/ and finetune/ with their checkpoints),
cka/seed-<n>/, summary.json and plots/ (accuracy-<task>-<mode>.png, accuracy.png, cka.png).
A killed study continues with --resume: finished cells are read back, an interrupted training
continues from its checkpoint, to the numbers an uninterrupted study gives.")]
pub struct GeneralArgs {
    /// A general-features config; or name a --benchmark.
    config: Option<PathBuf>,
    /// A built-in config: multi-mnist (the study), digits (the embedded digits).
    #[arg(long, conflicts_with = "config")]
    benchmark: Option<String>,
    /// Print the study's config (every default filled in) and stop.
    #[arg(long)]
    print_config: bool,
    /// Seeds, comma-separated (replaces the config's).
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// The trunks' epochs (replaces train.epochs): a shorter budget for a quick look.
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Continue an interrupted study in its folder.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
        "config", "benchmark", "seeds", "epochs", "print_config",
    ])]
    resume: Option<PathBuf>,
    /// With --resume: continue even though RUN_DIR/config.toml was edited since the study
    /// started, with the edited values (without it, the edits are listed and refused).
    #[arg(long)]
    force: bool,
    /// Print summary.json instead of the tables.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run(cmd: StudyCommand) -> Result<()> {
    match cmd {
        StudyCommand::GeneralFeatures(args) => general_features(args),
    }
}

fn percent(mean: f64, std: f64) -> String {
    format!("{:.2} ± {:.2}", 100.0 * mean, 100.0 * std)
}

fn report(run: &RunDir, s: &GeneralSummary) {
    println!(
        "trunks: {} (representation `{}`; {} epochs on {} images)",
        s.trunks.join(", "),
        s.representation,
        s.trunk_epochs,
        s.trunk_train_samples
    );
    for r in &s.trunk_metrics {
        println!(
            "  {:<16} on its task {:<10} {}%",
            r.trunk,
            r.task,
            percent(r.mean, r.std)
        );
    }
    let mut columns: Vec<(String, usize, Mode)> = vec![];
    for r in &s.rows {
        let c = (r.task.clone(), r.labels_per_class, r.mode);
        if !columns.contains(&c) {
            columns.push(c);
        }
    }
    println!("test accuracy % on the new tasks (mean ± std over seeds):");
    for (task, k, mode) in &columns {
        println!(
            "  {task}, {k} per class, {} ({} test samples):",
            mode.name(),
            s.test_samples.get(task).copied().unwrap_or(0)
        );
        for r in s
            .rows
            .iter()
            .filter(|r| r.task == *task && r.labels_per_class == *k && r.mode == *mode)
        {
            println!("    {:<16} {}", r.trunk, percent(r.mean, r.std));
        }
    }
    println!("multi-task trunk vs the best single-task trunk:");
    for line in &s.verdicts {
        println!("  {line}");
    }
    println!("do the scores rank the trunks as transfer does? (Kendall's τ over the trunks)");
    for t in &s.tau {
        println!(
            "  {:<10} {:>4} per class {:<9} {:<14} τ = {}",
            t.task,
            t.labels_per_class,
            t.mode.name(),
            t.score,
            t.kendall_tau
                .map_or("undefined".to_string(), |v| format!("{v:+.2}"))
        );
    }
    println!(
        "linear CKA between the trunks' `{}` ({} samples, mean over seeds):",
        s.representation, s.cka.samples
    );
    print!("  {:<16}", "");
    for t in &s.cka.trunks {
        print!(" {t:>14}");
    }
    println!();
    for (t, row) in s.cka.trunks.iter().zip(&s.cka.mean) {
        print!("  {t:<16}");
        for v in row {
            print!(" {v:>14.3}");
        }
        println!();
    }
    println!("run folder: {}", run.path.display());
}

fn general_features(args: GeneralArgs) -> Result<()> {
    super::train::force_needs_resume(args.force, args.resume.is_some())?;
    let opts = StudyOptions {
        progress: !args.quiet && !args.json,
        force: args.force,
        ..StudyOptions::default()
    };
    let cache = data::cache_dir();
    let (run, s) = if let Some(dir) = &args.resume {
        general::resume(dir, Path::new("."), &cache, &opts)
            .with_context(|| format!("resume {}", dir.display()))?
    } else {
        let (mut cfg, base) = super::config_or_benchmark(
            args.config.as_deref(),
            args.benchmark.as_deref(),
            GeneralConfig::load,
            GeneralConfig::benchmark,
            BENCHMARKS,
        )?;
        cfg.apply(&GeneralOverrides {
            seeds: args.seeds.clone(),
            epochs: args.epochs,
        });
        if args.print_config {
            print!("{}", toml::to_string_pretty(&cfg)?);
            return Ok(());
        }
        general::run(&cfg, &args.out, &base, &cache, &opts)
            .with_context(|| format!("study general-features `{}`", cfg.study.name))?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        report(&run, &s);
    }
    Ok(())
}
