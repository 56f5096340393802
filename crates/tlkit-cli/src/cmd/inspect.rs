//! `tlkit inspect`: a network's layer table, resolved spec, or a weights file's tensors.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::config::ExperimentConfig;
use tlkit::data;
use tlkit::experiment;
use tlkit::nn::{Network, NetworkSpec, Selector, zoo};
use tlkit::run::RunDir;
use tlkit::train::checkpoint;

#[derive(Args)]
#[command(
    after_help = "MODEL is a built-in (mlp, lenet, resnet, efficientnet-lite0), a spec file (.toml/.json), an
experiment config, a run folder, an .onnx model (imported: its layer table, or its spec with
--spec), or a .safetensors file (lists its tensors)."
)]
pub struct InspectArgs {
    model: String,
    /// Per-sample input shape for built-ins, e.g. 1,28,28.
    #[arg(long, value_delimiter = ',')]
    input_shape: Option<Vec<usize>>,
    /// Number of classes for built-ins.
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
    spec: bool,
}

pub fn run(args: InspectArgs) -> Result<()> {
    inspect(
        &args.model,
        args.input_shape,
        args.classes,
        &args.freeze,
        args.json,
        args.spec,
    )
}

fn builtin(name: &str, shape: Option<Vec<usize>>, classes: usize) -> Option<NetworkSpec> {
    Some(match name {
        "mlp" => zoo::mlp(&shape.unwrap_or(vec![1, 28, 28]), &[256, 256], classes, 0.0),
        "lenet" => {
            let s = shape.unwrap_or(vec![1, 28, 28]);
            zoo::lenet(s[0], *s.get(1).unwrap_or(&28), classes, 0.5)
        }
        "resnet" => zoo::resnet(&shape.unwrap_or(vec![3, 32, 32]), &[16, 32, 64], 1, classes),
        "efficientnet-lite0" => {
            let size = shape.and_then(|s| s.get(1).copied()).unwrap_or(224);
            zoo::efficientnet_lite0(size, if classes == 10 { 1000 } else { classes }, 0.2)
        }
        _ => return None,
    })
}

fn inspect(
    model: &str,
    shape: Option<Vec<usize>>,
    classes: usize,
    freeze: &[String],
    json: bool,
    print_spec: bool,
) -> Result<()> {
    let path = Path::new(model);
    let mut frozen = freeze.to_vec();
    let mut weights = None;
    let mut onnx_weights = None;
    let spec = if let Some(s) = builtin(model, shape, classes) {
        s
    } else if path.is_dir() {
        let run = RunDir::open(path)?;
        let cfg = ExperimentConfig::load(&run.file("config.toml"))?;
        frozen.extend(cfg.freeze);
        weights = Some(run.file("weights.safetensors")).filter(|p| p.is_file());
        NetworkSpec::load(&run.file("model.toml"))?
    } else if path.extension().is_some_and(|e| e == "onnx") {
        let model = tlkit::weights::load_onnx(path)?;
        onnx_weights = Some(model.weights);
        model.spec
    } else if path.extension().is_some_and(|e| e == "safetensors") {
        let ck = checkpoint::load(path)?;
        let total: usize = ck
            .model
            .values()
            .map(|(s, _)| s.iter().product::<usize>())
            .sum();
        for (name, (s, _)) in &ck.model {
            println!(
                "{name:<48} {:<20} {}",
                tlkit::nn::fmt_shape(s),
                s.iter().product::<usize>()
            );
        }
        println!("{} tensors, {total} values", ck.model.len());
        return Ok(());
    } else if path.is_file() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        match NetworkSpec::from_toml(&text, path).or_else(|_| NetworkSpec::from_json(&text, path)) {
            Ok(s) => s,
            Err(spec_err) => {
                let cfg = ExperimentConfig::parse(&text, path).map_err(|cfg_err| {
                    anyhow::anyhow!("{} is neither a network spec ({spec_err}) nor an experiment config ({cfg_err})", path.display())
                })?;
                let base = path.parent().unwrap_or(Path::new("."));
                let split = experiment::load_data(&cfg.data, cfg.seed, base, &data::cache_dir())?;
                frozen.extend(cfg.freeze.clone());
                cfg.model
                    .build(&split.train.sample_shape, split.train.num_classes, base)?
            }
        }
    } else {
        bail!(
            "`{model}` is not a built-in (mlp, lenet, resnet), nor an existing file or run folder"
        );
    };
    let mut net = Network::new(spec, 0, &tlkit::backend::Device::flex())?;
    if print_spec {
        println!("{}", serde_json::to_string_pretty(net.spec())?);
        return Ok(());
    }
    if let Some(w) = weights {
        let ck = checkpoint::load(&w)?;
        net.load_state_dict(&ck.model, true)?;
    }
    if let Some(w) = onnx_weights {
        net.load_state_dict(&w, true)?;
    }
    if !frozen.is_empty() {
        net.freeze(&Selector::new(&frozen)?)?;
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
