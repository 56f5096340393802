//! `tlkit eval`: evaluate a run's saved weights on a dataset's test split.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::data;
use tlkit::experiment;

use super::model::{MODEL_HELP, ModelArgs};

#[derive(Args)]
#[command(after_help = format!("{MODEL_HELP}

A run folder is evaluated on its own data (the test split of its [data], transforms
included; any kind of run: train, finetune, ...) unless --data names a dataset; any other
MODEL needs --data.

Examples:
  tlkit eval runs/demo-optdigits-mlp-2026-...
  tlkit eval runs/lenet-mnist-2026-... --data mnist --checkpoint best
  tlkit eval model.onnx --data optdigits-embedded
  tlkit eval weights.pt --spec net.toml --data optdigits-embedded"))]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Dataset name (default: a run folder's own data).
    #[arg(long)]
    data: Option<String>,
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
        model,
        data: dataset,
        json,
        save_logits,
    } = args;
    let r = model.reference()?;
    let opened = experiment::open_model(&r, dataset.as_deref(), Path::new("."), &data::cache_dir())
        .with_context(|| format!("evaluating {r}"))?;
    let (mut net, test) = (opened.net, opened.test);
    let batch = opened.eval_batch_size;
    let r = tlkit::train::evaluate(&mut net, &test, batch)?;
    if !r.loss.is_finite() {
        bail!(
            "{}: the network's outputs on `{}` are not finite (loss {}); {}",
            model.model,
            test.name,
            r.loss,
            non_finite_cause(&net)
        );
    }
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

/// What a network whose outputs are not finite holds: the first parameter or buffer with a
/// NaN or infinite value, or advice when every value is finite.
pub(crate) fn non_finite_cause(net: &tlkit::nn::Network) -> String {
    let bad = net.state_dict().into_iter().find_map(|(path, (_, v))| {
        v.iter()
            .position(|x| !x.is_finite())
            .map(|i| format!("`{path}` holds {} at index {i}", v[i]))
    });
    match bad {
        Some(b) => format!("its weights are not finite ({b}); retrain or load other weights"),
        None => "its weights are finite, so look for NaN or Inf in the input data".into(),
    }
}
