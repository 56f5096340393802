//! `tlkit inspect`: a network's layer table, resolved spec, or a weights file's tensors.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;

use tlkit::config::ExperimentConfig;
use tlkit::data;
use tlkit::experiment;
use tlkit::nn::{Network, NetworkSpec, Selector};
use tlkit::weights::{ModelRef, Weights};

use super::model::{MODEL_HELP, ModelArgs};

#[derive(Args)]
#[command(after_help = format!("{MODEL_HELP}

MODEL may also be a spec file (.toml/.json) or an experiment config (random start). A weights
file without --spec lists its tensors (name, dtype, shape, values) and their total, as
safetensors or torch.load show them; an .onnx model prints the imported layer table.

Examples:
  tlkit inspect lenet --input-shape 1,28,28 --freeze 'backbone.*'
  tlkit inspect runs/demo-optdigits-mlp-2026-... --print-spec
  tlkit inspect model.pt
  tlkit inspect model.pt --spec net.toml"))]
pub struct InspectArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Per-sample input shape for built-ins, e.g. 1,28,28.
    #[arg(long, value_delimiter = ',')]
    input_shape: Option<Vec<usize>>,
    /// Number of classes for built-in architectures.
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Freeze these globs before printing (to check a selection).
    #[arg(long)]
    freeze: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Print the resolved network spec (JSON, every size filled in) instead of the table:
    /// a starting point for a spec file, and what `bench/tlkit_torch.py` builds a PyTorch
    /// module from.
    #[arg(long, conflicts_with = "json")]
    print_spec: bool,
}

pub fn run(args: InspectArgs) -> Result<()> {
    let mut frozen = args.freeze.clone();
    let net = match spec_file(&args.model, &mut frozen)? {
        Some(spec) => build(spec, &tlkit::backend::default_device()?)?,
        None => {
            let r = args.model.reference()?;
            let mut ctx = args.model.context()?;
            ctx.input_shape = args.input_shape.clone();
            ctx.classes = Some(args.classes);
            if let Some(w) = r.bare_weights(&ctx) {
                let weights = tlkit::weights::load_weights(&w)?;
                return list_tensors(&weights, args.json);
            }
            let run = r.run_dir(&ctx.base);
            if let Some(dir) = &run {
                frozen.extend(run_freeze(dir)?);
            }
            // A run that has not finished yet has no final weights: its spec still has a table.
            let unfinished = run.is_some_and(|d| !d.join("weights.safetensors").is_file())
                && matches!(
                    r,
                    ModelRef::Run {
                        checkpoint: None,
                        ..
                    }
                );
            match &r {
                // A built-in's layer table needs no weights (nor a fetch).
                ModelRef::Builtin { .. } => build(r.spec(&ctx)?, &ctx.device)?,
                _ if unfinished => build(r.spec(&ctx)?, &ctx.device)?,
                _ => r.network(&ctx)?,
            }
        }
    };
    print_network(net, &frozen, args.json, args.print_spec)
}

/// A network of `spec` with a random start; [`Network::new`] checks its sizes against
/// [`data::Limits`] first (`--input-shape 1,65536,65536` would ask for terabytes).
fn build(spec: NetworkSpec, device: &tlkit::backend::Device) -> Result<Network> {
    Ok(Network::new(spec, 0, device)?)
}

/// A spec file or an experiment config named alone (no `--spec`): its network, random start.
fn spec_file(model: &ModelArgs, frozen: &mut Vec<String>) -> Result<Option<NetworkSpec>> {
    let path = Path::new(&model.model);
    let is_text = path.extension().is_some_and(|e| e == "toml" || e == "json");
    if !is_text || !path.is_file() || model.spec.is_some() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(s) =
        NetworkSpec::from_toml(&text, path).or_else(|_| NetworkSpec::from_json(&text, path))
    {
        return Ok(Some(s));
    }
    let spec_err = NetworkSpec::load(path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let cfg = ExperimentConfig::parse(&text, path).map_err(|cfg_err| {
        anyhow::anyhow!(
            "{} is neither a network spec ({spec_err}) nor an experiment config ({cfg_err})",
            path.display()
        )
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let split = experiment::load_data(&cfg.data, cfg.seed, base, &data::cache_dir())?;
    frozen.extend(cfg.freeze.clone());
    Ok(Some(cfg.model.build(
        &split.train.sample_shape,
        split.train.num_classes,
        base,
    )?))
}

/// The `freeze` globs of a run's config, whichever command wrote it (none if it has none).
fn run_freeze(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("config.toml");
    if !path.is_file() {
        return Ok(vec![]);
    }
    let table: toml::Table = tlkit::config::load_toml(&path)?;
    Ok(table
        .get("freeze")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// The tensors of a weights file: name, stored dtype, shape, number of values; and the total.
fn list_tensors(w: &Weights, json: bool) -> Result<()> {
    let dtype = |name: &str| w.dtypes.get(name).copied().unwrap_or("float32");
    if json {
        let rows: Vec<_> = w
            .tensors
            .iter()
            .map(|(name, (shape, _))| {
                serde_json::json!({"name": name, "dtype": dtype(name), "shape": shape})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let shapes: Vec<String> = w.tensors.values().map(|(s, _)| format!("{s:?}")).collect();
    let wn = w.tensors.keys().map(String::len).max().unwrap_or(0).max(4);
    let wd = w
        .tensors
        .keys()
        .map(|n| dtype(n).len())
        .max()
        .unwrap_or(0)
        .max(5);
    let ws = shapes.iter().map(String::len).max().unwrap_or(0).max(5);
    println!(
        "{:<wn$}  {:<wd$}  {:<ws$}  {:>10}",
        "name", "dtype", "shape", "values"
    );
    for ((name, (shape, _)), s) in w.tensors.iter().zip(&shapes) {
        let n: usize = shape.iter().product();
        println!("{name:<wn$}  {:<wd$}  {s:<ws$}  {n:>10}", dtype(name));
    }
    println!(
        "{} tensors, {} values ({:?})",
        w.tensors.len(),
        w.num_values(),
        w.format
    );
    Ok(())
}

fn print_network(mut net: Network, frozen: &[String], json: bool, print_spec: bool) -> Result<()> {
    if print_spec {
        println!("{}", serde_json::to_string_pretty(net.spec())?);
        return Ok(());
    }
    if !frozen.is_empty() {
        net.freeze(&Selector::new(frozen)?)?;
    }
    let rows = net.summary();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let width = rows
        .iter()
        .map(|r| r.path.len() + 2 * r.depth)
        .max()
        .unwrap_or(10)
        .max(10);
    println!(
        "{:<width$}  {:<20}  {:<14}  {:>10}  frozen",
        "layer", "type", "output", "params"
    );
    println!("{}", "-".repeat(width + 56));
    for r in &rows {
        let name = format!("{}{}", "  ".repeat(r.depth), r.path);
        let params = if r.params == 0 {
            String::new()
        } else {
            r.params.to_string()
        };
        println!(
            "{name:<width$}  {:<20}  {:<14}  {params:>10}  {}",
            r.kind, r.output, r.frozen
        );
    }
    let trainable = net.num_trainable_params();
    println!("{}", "-".repeat(width + 56));
    println!(
        "total parameters: {}   trainable: {trainable}",
        net.num_params()
    );
    Ok(())
}
