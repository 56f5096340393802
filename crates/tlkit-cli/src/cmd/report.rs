//! `tlkit transfer-report`: score candidate models, fine-tune each and a scratch network with
//! the same budget over seeds, flag negative transfer, and say how well each score ranked them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::config::DataConfig;
use tlkit::data;
use tlkit::study::StudyOptions;
use tlkit::train::{OptimizerConfig, TrainConfig};
use tlkit::transferability::report::{self, ReportOptions, ReportSummary};
use tlkit::transferability::{Candidate, Score, ScoreOptions};
use tlkit::weights::{LoadContext, ModelRef};

use super::score::candidates;

#[derive(Args)]
#[command(
    after_help = "MODELS are model references or a zoo file, as for `tlkit score`.

Each candidate is scored on the first seed's --per-class labelled samples, then cut after the
scored layer (default: the layer feeding its classifier), given a new linear head, and trained
whole for --epochs; a scratch arm trains the same architecture (the first candidate's, or
--scratch) from random initialisation with the same budget. Every arm runs once per seed.
A candidate worse than scratch is NEGATIVE TRANSFER; a gain within the seeds' spread, or
measured on one seed, is uncertain. Kendall's τ and the weighted τ (scipy's weightedtau) between each score and the
fine-tuned accuracy say how well the score ranked the candidates.

The study folder gets summary.json, plots/score_vs_accuracy_<score>.png and one folder per
(arm, seed).

Examples:
  tlkit transfer-report --models zoo.toml --target mnist --per-class 100 --seeds 0,1,2
  tlkit transfer-report --resume runs/transfer-report-2026-...   continue a killed report"
)]
pub struct ReportArgs {
    /// Model references or a zoo file (.toml), one or more.
    #[arg(long, required_unless_present = "resume", num_args = 1.., value_name = "MODEL")]
    models: Vec<String>,
    /// Target dataset (any name `tlkit data list` shows, e.g. optdigits-embedded, mnist).
    #[arg(long, required_unless_present = "resume")]
    target: Option<String>,
    /// Labelled training samples per class of the target, drawn per seed.
    #[arg(long, default_value_t = 100)]
    per_class: usize,
    /// Seeds, comma-separated.
    #[arg(long, default_value = "0,1,2", value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Training epochs of every arm.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Adam learning rate of every arm.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Training batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Test samples to evaluate on (default: the whole test split).
    #[arg(long)]
    test_limit: Option<usize>,
    /// A glob picking the one layer of each model to score and put the head on (default:
    /// the layer feeding the classifier).
    #[arg(long, value_name = "GLOB")]
    layers: Vec<String>,
    /// Scores, comma-separated (as `tlkit score --scores`).
    #[arg(long, default_value = "logme,leep,nce,hscore,transrate")]
    scores: String,
    /// The scratch arm's architecture, a model reference (default: the first candidate's).
    #[arg(long, value_name = "MODEL")]
    scratch: Option<String>,
    /// Flatten [C, H, W] layer outputs instead of averaging them over space.
    #[arg(long)]
    no_pool: bool,
    /// The study's name.
    #[arg(long, default_value = "transfer-report")]
    name: String,
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Continue a killed report in its folder (its config.toml holds the models and
    /// settings): finished (arm, seed) runs are read back, an unfinished one continues from
    /// its last checkpoint.
    #[arg(long, value_name = "STUDY_DIR", conflicts_with_all = ["models", "target"])]
    resume: Option<PathBuf>,
    /// With --resume: continue even though STUDY_DIR/config.toml was edited since the
    /// report started, with the edited values.
    #[arg(long)]
    force: bool,
}

pub fn run(args: ReportArgs) -> Result<()> {
    super::train::force_needs_resume(args.force, args.resume.is_some())?;
    let study_opts = StudyOptions {
        force: args.force,
        ..StudyOptions::default()
    };
    let cache_root = data::cache_dir();
    let (dir, s) = match (&args.resume, &args.target) {
        (Some(dir), _) => report::resume(dir, &cache_root, &study_opts)
            .with_context(|| format!("resume {}", dir.display()))?,
        (None, Some(target)) => start(&args, target, &study_opts)?,
        (None, None) => bail!("give --models and --target, or --resume STUDY_DIR"),
    };
    print_report(&s);
    println!("study folder: {}", dir.path.display());
    Ok(())
}

/// A new report from the command line.
fn start(
    args: &ReportArgs,
    target: &str,
    study_opts: &StudyOptions,
) -> Result<(tlkit::run::RunDir, ReportSummary)> {
    if args.per_class == 0 {
        bail!("--per-class is 0; give the number of labelled samples per class (e.g. 100)");
    }
    if args.epochs == 0 {
        bail!("--epochs is 0; the report compares trained networks, give at least 1");
    }
    let scores = Score::parse_list(&args.scores)?;
    let cache_root = data::cache_dir();
    let ctx = LoadContext::new(".", &cache_root, tlkit::backend::default_device()?);
    let models = candidates(&args.models, &ctx)?;
    let scratch = match &args.scratch {
        Some(m) => Some((Candidate::new(m, ModelRef::parse(m)?), ctx.clone())),
        None => None,
    };
    let mut t = toml::Table::new();
    t.insert("dataset".into(), target.into());
    let mut data: DataConfig = t.try_into()?;
    data.train_per_class = Some(args.per_class);
    data.test_limit = args.test_limit;
    let opts = ReportOptions {
        name: args.name.clone(),
        data,
        seeds: args.seeds.clone(),
        score: ScoreOptions {
            layers: args.layers.clone(),
            scores: scores.clone(),
            pool: !args.no_pool,
            batch_size: 256,
        },
        train: TrainConfig::new(args.epochs, args.batch_size, OptimizerConfig::adam(args.lr)),
        scratch,
    };
    report::run(&models, &opts, &args.out, &cache_root, study_opts)
        .with_context(|| format!("transfer report on `{target}`"))
}

fn print_report(s: &ReportSummary) {
    let scores: Vec<&str> = s.rank_agreement.iter().map(|a| a.score.as_str()).collect();
    println!(
        "target {}: {} training samples, {} test samples, {} seed{}, {} epoch{} per arm",
        s.target,
        s.train_samples,
        s.test_samples,
        s.seeds.len(),
        if s.seeds.len() == 1 { "" } else { "s" },
        s.epochs,
        if s.epochs == 1 { "" } else { "s" }
    );
    println!("scratch ({}): {}", s.scratch_model, s.scratch.percent());
    let w = s
        .candidates
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(9)
        .max(9);
    let mut head = format!("{:<w$}", "candidate");
    for sc in &scores {
        head.push_str(&format!("  {sc:>10}"));
    }
    head.push_str(&format!(
        "  {:>16}  {:>16}  verdict",
        "fine-tuned", "gain (points)"
    ));
    println!("{head}");
    println!("{}", "-".repeat(head.len() + 18));
    for c in &s.candidates {
        let mut line = format!("{:<w$}", c.name);
        for sc in &scores {
            match c.scores.get(*sc).copied().flatten() {
                Some(v) => line.push_str(&format!("  {v:>10.4}")),
                None => line.push_str(&format!("  {:>10}", "n/a")),
            }
        }
        let v = &c.verdict;
        let word = match v.outcome {
            tlkit::study::verdict::Outcome::Negative => "NEGATIVE TRANSFER",
            tlkit::study::verdict::Outcome::Positive => "positive transfer",
            tlkit::study::verdict::Outcome::Equal => "no difference",
        };
        line.push_str(&format!(
            "  {:>16}  {:>16}  {word}{}",
            c.finetuned.percent(),
            format!("{:+.2} ± {:.2}", v.gain_points, v.spread_points),
            match (v.uncertain, v.outcome, v.one_seed) {
                (_, tlkit::study::verdict::Outcome::Equal, _) | (false, ..) => "",
                (true, _, true) => " (uncertain: one seed)",
                (true, _, false) => " (uncertain: within the spread)",
            }
        ));
        println!("{line}");
    }
    println!();
    println!(
        "{:<14}  {:>10}  {:>10}  {:>12}",
        "score", "candidates", "Kendall τ", "weighted τ"
    );
    let tau = |t: Option<f64>| t.map_or("n/a".to_string(), |t| format!("{t:+.3}"));
    for a in &s.rank_agreement {
        println!(
            "{:<14}  {:>10}  {:>10}  {:>12}",
            a.score,
            a.candidates,
            tau(a.kendall_tau),
            tau(a.weighted_tau)
        );
    }
}
