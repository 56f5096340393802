//! `tlkit continual`: a sequence of tasks under a continual-learning method.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::continual::{ContinualConfig, ContinualOverrides, ContinualSummary};
use tlkit::data;
use tlkit::run::RunDir;
use tlkit::study::StudyOptions;

#[derive(Args)]
#[command(
    after_help = "Either a config (examples/continual-split-mnist/ewc.toml) or a built-in benchmark:
  tlkit continual --benchmark split-mnist --scenario task --method ewc --seeds 0,1,2
Benchmarks: split-mnist, permuted-mnist, split-optdigits (embedded, quick). Methods: naive,
joint, ewc, online_ewc, si, lwf, replay, pnn (with Hsu et al. 2018's settings). The run
folder gets config.toml (the resolved config, re-runnable), summary.json (R per seed, ACC,
BWT, FWT), accuracy_matrix.md, plots/accuracy_matrix.png and plots/learning_curves.png, and
<method>/seed-<n>/ per seed (task<t>/ checkpoints and metrics, result.json).
  tlkit continual --resume runs/split-mnist-task-ewc-2026-...   continue a killed study"
)]
pub struct ContinualArgs {
    /// A continual config (TOML); or use --benchmark.
    config: Option<PathBuf>,
    /// A built-in benchmark instead of a config: split-mnist, permuted-mnist, split-optdigits.
    #[arg(long, conflicts_with = "config")]
    benchmark: Option<String>,
    /// Scenario for --benchmark: task, domain or class.
    #[arg(long, default_value = "task")]
    scenario: String,
    /// Method for --benchmark.
    #[arg(long, default_value = "naive")]
    method: String,
    /// Seeds, comma-separated (overrides the config's).
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Epochs per task (overrides the config's).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Continue a killed study in its folder: finished seeds are read back, the unfinished
    /// one continues from its tasks' checkpoints (SI, pnn, and the seed the learning curves
    /// are drawn from start that seed over).
    #[arg(long, value_name = "STUDY_DIR", conflicts_with_all = [
        "config", "benchmark", "seeds", "epochs", "out",
    ])]
    resume: Option<PathBuf>,
    /// With --resume: continue even though STUDY_DIR/config.toml was edited since the
    /// study started, with the edited values (without it, the edits are listed and refused).
    #[arg(long)]
    force: bool,
    /// No progress bars (and no per-epoch lines when stderr is not a terminal).
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: ContinualArgs) -> Result<()> {
    let ContinualArgs {
        config,
        benchmark,
        scenario,
        method,
        seeds,
        epochs,
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
    if let Some(dir) = resume {
        let (run, s) =
            tlkit::continual::pipeline::resume(&dir, Path::new("."), &data::cache_dir(), &opts)
                .with_context(|| format!("resume {}", dir.display()))?;
        return report(&run, &s);
    }
    let (mut cfg, base) = match (config, benchmark) {
        (Some(path), _) => (
            ContinualConfig::load(&path)?,
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        (None, Some(b)) => (
            ContinualConfig::from_names(&b, &scenario, &method)?,
            PathBuf::new(),
        ),
        (None, None) => {
            bail!("give a config file or --benchmark NAME (see tlkit continual --help)")
        }
    };
    cfg.apply(&ContinualOverrides { seeds, epochs });
    let (run, s) = tlkit::continual::pipeline::run(&cfg, &out, &base, &data::cache_dir(), &opts)
        .with_context(|| format!("continual run `{}`", cfg.study.name))?;
    report(&run, &s)
}

fn report(run: &RunDir, s: &ContinualSummary) -> Result<()> {
    println!(
        "{} ({}-incremental), mean accuracy matrix over {} seed(s), % (row: after training task i; column: task j):",
        s.method,
        s.scenario.as_str(),
        s.seeds.len()
    );
    print!("{}", s.table);
    let pm = |m: Option<f64>, sd: Option<f64>| match (m, sd) {
        (Some(m), Some(sd)) => format!("{:+.2} ± {:.2}", 100.0 * m, 100.0 * sd),
        _ => "n/a (joint training has no sequence)".into(),
    };
    println!(
        "ACC {:.2} ± {:.2}   BWT {}   FWT {}   ({:.1}s{})",
        100.0 * s.acc_mean,
        100.0 * s.acc_std,
        pm(s.bwt_mean, s.bwt_std),
        pm(s.fwt_mean, s.fwt_std),
        s.wall_seconds,
        super::train::memory(s.peak_memory_mib)
    );
    println!("run folder: {}", run.path.display());
    Ok(())
}
