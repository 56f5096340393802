//! `tlkit score`: rank models (or layers of one model) for a target task by transferability
//! scores, without fine-tuning.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::config::DataConfig;
use tlkit::data;
use tlkit::nn::FeatureCache;
use tlkit::transferability::{
    Candidate, Score, ScoreOptions, ScoreRow, read_zoo_file, score_model,
};
use tlkit::weights::{LoadContext, ModelRef};

#[derive(Args)]
#[command(
    after_help = "MODELS are model references (a built-in, a run folder, an .onnx model,
`w.pt` with a spec through a zoo file) or a zoo file (.toml) naming them:

  [models]
  digits = \"runs/digits-mlp-2026-...\"
  random = \"lenet\"
  effnet = { name = \"efficientnet-lite0\", input_size = 112 }
  effnet-b4 = { model = { name = \"efficientnet-lite0\" }, layer = \"_blocks.4\" }
  torch = { weights = \"w.pt\", spec = \"net.toml\" }

A `{ model, layer }` entry is that model at that layer (its depth): the layer replaces
--layers for it. `tlkit zoo build` writes such a file ($TLKIT_HOME/zoo/zoo.toml).

The target's training split gives --per-class labelled samples per class (chosen with
--seed). They are fitted to each network: a run folder's [data] transforms, then a resize,
to_rgb and a pretrained network's input scaling where the shapes still differ. Features
come from the feature cache ($TLKIT_HOME/features), so a second call reads them back.
LEEP and NCE use the network's classifier outputs (n/a without one). Higher is better for
every score.

Examples:
  tlkit score --models zoo.toml --target mnist --per-class 100
  tlkit score --models runs/digits-mlp-2026-... mlp --target optdigits-embedded
  tlkit score --models efficientnet-lite0 --layers '_blocks.*' --target optdigits --scores logme"
)]
pub struct ScoreArgs {
    /// Model references or a zoo file (.toml), one or more.
    #[arg(long, required = true, num_args = 1.., value_name = "MODEL")]
    models: Vec<String>,
    /// Globs over layer paths to score (repeatable; default: the layer feeding the classifier).
    #[arg(long, value_name = "GLOB")]
    layers: Vec<String>,
    /// Target dataset (any name `tlkit data list` shows, e.g. optdigits-embedded, mnist).
    #[arg(long)]
    target: String,
    /// Labelled samples per class of the target's training split.
    #[arg(long, default_value_t = 100)]
    per_class: usize,
    /// Seed choosing those samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Scores, comma-separated: logme, logme-icml, leep, nce, hscore, hscore-shrunk,
    /// transrate, or all.
    #[arg(long, default_value = "logme,leep,nce,hscore,transrate")]
    scores: String,
    /// Flatten [C, H, W] layer outputs instead of averaging them over space.
    #[arg(long)]
    no_pool: bool,
    /// Batch size of the forward passes.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Also write the rows as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The candidates `--models` names, each with the context its relative paths resolve in.
pub(crate) fn candidates(
    models: &[String],
    ctx: &LoadContext,
) -> Result<Vec<(Candidate, LoadContext)>> {
    let mut out = vec![];
    for m in models {
        let path = Path::new(m);
        if path.extension().is_some_and(|e| e == "toml") {
            let mut c = ctx.clone();
            c.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            for candidate in read_zoo_file(path).with_context(|| format!("zoo file {m}"))? {
                out.push((candidate, c.clone()));
            }
        } else {
            out.push((Candidate::new(m, ModelRef::parse(m)?), ctx.clone()));
        }
    }
    Ok(out)
}

/// `per_class` samples of each class of the target's training split, chosen with `seed`.
fn target_data(name: &str, per_class: usize, seed: u64, cache: &Path) -> Result<data::Dataset> {
    if per_class == 0 {
        bail!("--per-class is 0; give the number of labelled samples per class (e.g. 100)");
    }
    let mut t = toml::Table::new();
    t.insert("dataset".into(), name.into());
    let mut d: DataConfig = t.try_into()?;
    d.train_per_class = Some(per_class);
    d.test_limit = Some(1);
    let split = tlkit::experiment::load_data(&d, seed, Path::new("."), cache)
        .with_context(|| format!("loading the target `{name}`"))?;
    Ok(split.train)
}

pub fn run(args: ScoreArgs) -> Result<()> {
    let scores = Score::parse_list(&args.scores)?;
    let cache_root = data::cache_dir();
    let ctx = LoadContext::new(".", &cache_root, tlkit::backend::default_device()?);
    let models = candidates(&args.models, &ctx)?;
    let target = target_data(&args.target, args.per_class, args.seed, &cache_root)?;
    eprintln!(
        "target {}: {} samples, {} classes",
        target.name,
        target.len(),
        target.num_classes
    );
    let opts = ScoreOptions {
        layers: args.layers.clone(),
        scores: scores.clone(),
        pool: !args.no_pool,
        batch_size: args.batch_size,
    };
    let cache = FeatureCache::in_home(&cache_root);
    let mut rows: Vec<ScoreRow> = vec![];
    for (c, ctx) in &models {
        let got = score_model(c, &target, &opts, ctx, &cache)
            .with_context(|| format!("scoring `{}`", c.name))?;
        for r in &got {
            eprintln!(
                "scored {} @ {} ({:.1}s{})",
                r.model,
                r.layer,
                r.seconds,
                if r.cached { ", cached features" } else { "" }
            );
        }
        rows.extend(got);
    }
    let first = scores[0].name();
    let key = |r: &ScoreRow| r.scores.get(first).copied().flatten();
    rows.sort_by(|a, b| match (key(a), key(b)) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    print_table(&rows, &scores);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn print_table(rows: &[ScoreRow], scores: &[Score]) {
    let mw = rows.iter().map(|r| r.model.len()).max().unwrap_or(5).max(5);
    let lw = rows.iter().map(|r| r.layer.len()).max().unwrap_or(5).max(5);
    let mut head = format!("{:<mw$}  {:<lw$}  {:>6}", "model", "layer", "width");
    for s in scores {
        head.push_str(&format!("  {:>13}", s.name()));
    }
    head.push_str(&format!("  {:>8}", "seconds"));
    println!("{head}");
    println!("{}", "-".repeat(head.len()));
    for r in rows {
        let mut line = format!("{:<mw$}  {:<lw$}  {:>6}", r.model, r.layer, r.width);
        for s in scores {
            match r.scores.get(s.name()).copied().flatten() {
                Some(v) => line.push_str(&format!("  {v:>13.4}")),
                None => line.push_str(&format!("  {:>13}", "n/a")),
            }
        }
        line.push_str(&format!("  {:>8.2}", r.seconds));
        println!("{line}");
    }
}
