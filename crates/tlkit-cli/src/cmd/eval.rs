//! `tlkit eval`: evaluate a run's saved weights on a dataset's test split.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use tlkit::data;
use tlkit::experiment;

#[derive(Args)]
pub struct EvalArgs {
    /// A run folder.
    run: PathBuf,
    /// Dataset name (default: the run's own data).
    #[arg(long)]
    data: Option<String>,
    /// Which weights: final, best or last.
    #[arg(long, default_value = "final")]
    checkpoint: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the network's outputs for every test sample to this .npz (arrays
    /// `logits` [n, classes] and `labels` [n]), e.g. to compare with another framework.
    #[arg(long)]
    save_logits: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let EvalArgs {
        run,
        data: dataset,
        checkpoint,
        json,
        save_logits,
    } = args;
    let (mut net, cfg, test) =
        experiment::open_run(&run, dataset.as_deref(), &checkpoint, &data::cache_dir())
            .with_context(|| format!("evaluating {}", run.display()))?;
    let batch = cfg.train.eval_batch_size;
    let r = tlkit::train::evaluate(&mut net, &test, batch)?;
    if let Some(out) = save_logits {
        let logits = tlkit::train::predict_logits(&mut net, &test, batch)?;
        let classes = logits.len() / test.len().max(1);
        data::save_npz(
            &out,
            &logits,
            &[test.len(), classes],
            &test.y,
            ("logits", "labels"),
        )?;
        eprintln!("wrote {}", out.display());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{}: {} samples", test.name, test.len());
        println!("accuracy  {:.2}%   loss {:.4}", 100.0 * r.accuracy, r.loss);
        let names = test.class_names.clone().unwrap_or_default();
        for (i, a) in r.per_class_accuracy.iter().enumerate() {
            let n = names.get(i).cloned().unwrap_or_else(|| i.to_string());
            println!("  class {n:<12} {:.2}%", 100.0 * a);
        }
    }
    Ok(())
}
