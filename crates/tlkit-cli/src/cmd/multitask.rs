//! `tlkit multitask`: several tasks on one network under each loss-weighting method, against
//! each task trained alone, from a config or a built-in benchmark.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use tlkit::data;
use tlkit::multitask::pipeline::{self, MultitaskSummary};
use tlkit::multitask::{BENCHMARKS, MultitaskConfig, MultitaskOverrides};
use tlkit::run::RunDir;
use tlkit::study::StudyOptions;

/// The help's text after the options: examples, methods, each method's settings with its
/// defaults (from the methods' own settings structs), and what a run folder holds.
fn after_help() -> String {
    let settings = tlkit::multitask::weighting::settings_help()
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "Examples:
  tlkit multitask --benchmark digits-parity --method ew,pcgrad --seeds 0,1   in seconds
  tlkit multitask --benchmark multi-mnist --method ew,uw,dwa,gradnorm,pcgrad,mgda,cagrad --seeds 0,1 --epochs 5
  tlkit multitask my-tasks.toml           any tasks: a dataset with several targets, heads, losses
  tlkit multitask my-tasks.toml --sweep-branch   one arm per branch point of the trunk
  tlkit multitask --resume runs/multitask-multi-mnist-2026-...   continue a killed study

Methods: ew (equal), uw (uncertainty, Kendall et al. 2018), dwa (dynamic weight average, Liu
et al. 2019), gradnorm (Chen et al. 2018), pcgrad (Yu et al. 2020), mgda and mgda_ub (Sener
& Koltun 2018: the min-norm combination of the shared parameters' or the shared
representation's gradients), cagrad (Liu et al. 2021). All but ew, uw and dwa need each
task's gradient: one backward pass per task per step.

Method settings go in the config as [settings.<method>], each field optional (a misspelt one is
an error naming it); the defaults:
{settings}
(uw lr and gradnorm lr: the Adam rates of the log-variances and of the weights; gradnorm
alpha: how hard a task that trains slowly is pulled up; mgda and mgda_ub normalization:
\"none\", \"l2\", \"loss\" or \"loss_plus\"; pcgrad seed: its task orders.)

Arms: single-<task> (each task alone on the same network) and one per method. The run folder
gets config.toml (re-runnable), summary.json (each task's test metric per arm and seed, mean
± std, the gain of each method over the task's single-task arm with the verdict, epoch times
against ew), plots/<task>_test_<metric>.png, plots/loss_weights.png (one loss_weights_<method>.png per method when there are more than 12 lines), plots/loss_ratios.png
(each task's training loss over its first epoch's; one per arm likewise), and one folder per arm and seed (metrics.jsonl with each task's loss weight per epoch, checkpoints, result.json)."
    )
}

#[derive(Args)]
#[command(after_help = after_help())]
pub struct MultitaskArgs {
    /// A multi-task study config; or name a --benchmark.
    config: Option<PathBuf>,
    /// A built-in study: multi-mnist (Sener & Koltun's network and budget, 100 epochs),
    /// multi-mnist-cross-stitch and multi-mnist-mmoe (the same data and budget with
    /// cross-stitch columns or MMoE experts), multi-fashion-mnist (the same network and budget
    /// on an MNIST digit and a shifted Fashion-MNIST item, Lin et al.'s set), digits-parity
    /// (the embedded optdigits, digit and parity), gradnorm-toy or gradnorm-toy-10 (GradNorm's
    /// regression tasks: σ = 1 and 100; ten from 1 to 100).
    #[arg(long, conflicts_with = "config")]
    benchmark: Option<String>,
    /// Weighting methods, comma-separated (replaces the config's `methods`).
    #[arg(long, value_delimiter = ',')]
    method: Vec<String>,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Epochs (replaces train.epochs): a shorter budget for a quick look.
    #[arg(long)]
    epochs: Option<usize>,
    /// Train on this many training samples (drawn with each seed).
    #[arg(long)]
    train_limit: Option<usize>,
    /// Evaluate on the first this many test samples.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Leave out the single-task arms (no gains or verdicts then).
    #[arg(long)]
    no_single_task: bool,
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// One arm per method and branch point of the trunk (`<method>@<point>`): the trunk is
    /// shared up to the point and copied into every head after it (a `sequential` trunk counts
    /// its children as points); a table of each task's result per point and
    /// plots/branch_sweep.png.
    #[arg(long)]
    sweep_branch: bool,
    /// The sweep's branch points, comma-separated (trunk layer paths or `input`); implies
    /// --sweep-branch. Default: `input`, each point before a layer with parameters, the last.
    #[arg(long, value_delimiter = ',')]
    branch_points: Vec<String>,
    /// Continue an interrupted study in its folder: finished (arm, seed) runs are kept, an
    /// unfinished one continues from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
        "config", "benchmark", "method", "seeds", "epochs", "train_limit", "test_limit",
        "no_single_task", "sweep_branch", "branch_points",
    ])]
    resume: Option<PathBuf>,
    /// With --resume: continue even though RUN_DIR/config.toml was edited since the study
    /// started, with the edited values (without it, the edits are listed and refused).
    #[arg(long)]
    force: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// A test metric's mean ± std as printed: accuracy in percent, MSE/MAE as they are.
fn metric_value(metric: &str, mean: f64, std: f64) -> String {
    if metric == "accuracy" {
        format!("{:.2}% ± {:.2}", 100.0 * mean, 100.0 * std)
    } else {
        format!("{mean:.4} ± {std:.4}")
    }
}

/// A gain over the single-task arm in the metric's printed unit (points for accuracy).
fn metric_gain(metric: &str, gain: f64) -> String {
    if metric == "accuracy" {
        format!("{:+.2}", 100.0 * gain)
    } else {
        format!("{gain:+.4}")
    }
}

fn report(run: &RunDir, s: &MultitaskSummary) {
    for t in &s.tasks {
        println!("task {} (test {}):", t.task, t.metric);
        for r in &t.rows {
            println!("  {:<16} {}", r.arm, metric_value(&t.metric, r.mean, r.std));
        }
    }
    for line in &s.verdicts {
        println!("{line}");
    }
    if !s.cka.is_empty() {
        println!(
            "linear CKA between the tasks' head inputs on the test set (first / last layer's input):"
        );
        let mut seen = vec![];
        for r in &s.cka {
            if seen.contains(&(&r.arm, &r.pair)) {
                continue;
            }
            seen.push((&r.arm, &r.pair));
            let at = |place: &str| {
                s.cka
                    .iter()
                    .find(|q| q.arm == r.arm && q.pair == r.pair && q.place == place)
                    .map_or("—".to_string(), |q| {
                        format!("{:.3} ± {:.3}", q.mean, q.std)
                    })
            };
            println!(
                "  {:<16} {:<16} {} / {}",
                r.arm,
                r.pair,
                at("first"),
                at("last")
            );
        }
    }
    if !s.branch.is_empty() {
        println!("branch sweep (shared up to and including the point; gain over single-task):");
        for r in &s.branch {
            let cells: Vec<String> = r
                .tasks
                .iter()
                .map(|t| {
                    let metric = s
                        .tasks
                        .iter()
                        .find(|x| x.task == t.task)
                        .map_or("accuracy", |x| x.metric.as_str());
                    let gain = t
                        .gain
                        .map_or(String::new(), |g| format!(" ({})", metric_gain(metric, g)));
                    format!("{} {}{gain}", t.task, metric_value(metric, t.mean, t.std))
                })
                .collect();
            println!(
                "  {:<24} shared {:>7} of {:>7} params  {}",
                r.arm,
                r.shared_params,
                r.params,
                cells.join("  ")
            );
        }
    }
    for (m, ratio) in &s.epoch_time_vs_ew {
        println!("epoch time {m}: {ratio:.2} × ew");
    }
    println!("run folder: {}", run.path.display());
}

pub fn run(args: MultitaskArgs) -> Result<()> {
    super::train::force_needs_resume(args.force, args.resume.is_some())?;
    let opts = StudyOptions {
        progress: !args.quiet,
        force: args.force,
        ..StudyOptions::default()
    };
    let cache = data::cache_dir();
    if let Some(dir) = &args.resume {
        let (run, s) = pipeline::resume(dir, Path::new("."), &cache, &opts)
            .with_context(|| format!("resume {}", dir.display()))?;
        report(&run, &s);
        return Ok(());
    }
    let (mut cfg, base) = super::config_or_benchmark(
        args.config.as_deref(),
        args.benchmark.as_deref(),
        MultitaskConfig::load,
        MultitaskConfig::benchmark,
        BENCHMARKS,
    )?;
    cfg.apply(&MultitaskOverrides {
        methods: args.method.clone(),
        seeds: args.seeds.clone(),
        epochs: args.epochs,
        train_limit: args.train_limit,
        test_limit: args.test_limit,
        no_single_task: args.no_single_task,
        sweep_branch: args.sweep_branch,
        branch_points: args.branch_points.clone(),
    })?;
    let (run, s) = pipeline::run(&cfg, &args.out, &base, &cache, &opts)
        .with_context(|| format!("multitask `{}`", cfg.study.name))?;
    report(&run, &s);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{metric_gain, metric_value};

    /// Accuracy prints in percent; a regression metric (the sweep's rows too) as it is.
    #[test]
    fn accuracy_in_percent_mse_unscaled() {
        assert_eq!(metric_value("accuracy", 0.9512, 0.0031), "95.12% ± 0.31");
        assert_eq!(metric_gain("accuracy", -0.0125), "-1.25");
        assert_eq!(metric_value("mse", 7552.19, 12.5), "7552.1900 ± 12.5000");
        assert_eq!(metric_gain("mse", 0.25), "+0.2500");
    }
}
