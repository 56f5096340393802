//! `tlkit features`: learn a basis without labels (sparse coding, PCA) or an autoencoder, and
//! encode any dataset with it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

use tlkit::config::DataConfig;
use tlkit::data::patches::{self, PatchNorm};
use tlkit::data::{self, Dataset};
use tlkit::linalg::{PcaConfig, Whitening};
use tlkit::nn::NetworkSpec;
use tlkit::selftaught::autoencoder::AUTOENCODER_META;
use tlkit::selftaught::{
    AutoencoderConfig, AutoencoderKind, Basis, DictionaryConfig, LearnMethod, Noise, PatchEncoding,
    Pool, SparsityPenalty, TrainedAutoencoder, basis::BASIS_META,
};
use tlkit::train::{OptimizerConfig, OptimizerKind, Schedule};

#[derive(Subcommand)]
pub enum FeaturesCommand {
    /// Learn a basis from unlabeled data (labels are dropped): a sparse-coding dictionary or
    /// PCA components, on whole images or on random patches, or an autoencoder (plain, sparse,
    /// denoising) whose encoder is saved as a model reference.
    Learn(LearnArgs),
    /// Encode a dataset with a learned basis or autoencoder and write the features (.npz,
    /// arrays `x` and `y`) that `tlkit train` reads as a dataset.
    Encode(EncodeArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    SparseCoding,
    Pca,
    /// Reconstruction and weight decay.
    Autoencoder,
    /// Plus the sparsity penalty (--penalty, --rho, --beta): UFLDL's sparse autoencoder.
    SparseAutoencoder,
    /// Plus corruption of the input (--noise, --noise-level), the target clean.
    DenoisingAutoencoder,
}

#[derive(Clone, Copy, ValueEnum)]
enum PenaltyArg {
    Kl,
    L1,
}

#[derive(Clone, Copy, ValueEnum)]
enum NoiseArg {
    /// Each value set to 0 with probability --noise-level.
    Mask,
    /// N(0, --noise-level²) added to each value.
    Gaussian,
}

#[derive(Clone, Copy, ValueEnum)]
enum OptimizerArg {
    Adam,
    Adamw,
    Sgd,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScheduleArg {
    Constant,
    Cosine,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    Train,
    Test,
}

#[derive(Args)]
struct DataArgs {
    /// A dataset name (mnist, optdigits-embedded, ... or `photos`: scikit-learn's two photos
    /// in grey, `photos-wide`: eight photos, for patches only), or a TOML file with a [data]
    /// table as `tlkit train` takes.
    #[arg(long)]
    data: String,
    /// Keep only these classes (e.g. 5,6,7,8,9).
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<u32>>,
    /// Which split.
    #[arg(long, value_enum, default_value = "train")]
    split: SplitArg,
    /// Keep only part K of N equal contiguous parts, in the dataset's order (after
    /// --classes): `1/2` and `2/2` are the halves of the UFLDL exercise's labeled split.
    #[arg(long, value_name = "K/N")]
    part: Option<String>,
    /// Use at most this many samples (a seeded random subset).
    #[arg(long)]
    limit: Option<usize>,
}

#[derive(Args)]
#[command(after_help = "The α convention: the code c of a sample x minimises
  0.5*||x - c D||^2 + alpha*||c||_1,
the `alpha` of scikit-learn's sparse_encode (lasso_lars, lasso_cd) and DictionaryLearning.

Examples:
  tlkit features learn --method sparse-coding --data mnist --classes 5,6,7,8,9 --atoms 200 --alpha 0.5 --out basis/
  tlkit features learn --method pca --data mnist --classes 5,6,7,8,9 --atoms 200 --out pca/
  tlkit features learn --method sparse-coding --data photos --patch 8 --atoms 64 --alpha 0.2 --out photo-basis/
  tlkit features learn --method sparse-autoencoder --data mnist --classes 5,6,7,8,9 --atoms 200 --rho 0.1 --beta 3 --weight-decay 3e-3 --epochs 50 --out sae/
  tlkit features learn --method denoising-autoencoder --data mnist --atoms 200 --noise mask --noise-level 0.3 --out dae/

OUT gets basis.safetensors and basis.toml (what `features encode` reads), basis.png (the
atoms as an image grid) and, for sparse coding, history.csv and reconstruction.png (the
error on each mini-batch before the update).

An autoencoder (ATOMS code units) minimises UFLDL's objective
  1/(2m) sum_i ||x_i' - x_i||^2 + lambda/2 sum ||W||^2 + beta sum_j KL(rho || mean activation_j)
(the sparsity term for the sparse one only; L1 on the codes with --penalty l1), trained by
the common trainer. OUT gets the encoder as a run folder (model.toml, weights.safetensors:
a model reference for finetune, score, surgery), autoencoder.toml, summary.json,
filters.png, reconstruction.png (error per epoch) and training/ (the whole autoencoder).")]
pub struct LearnArgs {
    #[arg(long, value_enum)]
    method: MethodArg,
    #[command(flatten)]
    data: DataArgs,
    /// Atoms (sparse coding), components (PCA) or code units (autoencoders).
    #[arg(long)]
    atoms: usize,
    /// The L1 weight of sparse coding (see below).
    #[arg(long, allow_negative_numbers = true)]
    alpha: Option<f64>,
    /// Learn on random PATCH×PATCH patches instead of whole samples; images are then
    /// encoded by their patches' codes pooled over a grid.
    #[arg(long, value_name = "PATCH")]
    patch: Option<usize>,
    /// Number of random patches.
    #[arg(long, default_value_t = 20_000)]
    patches: usize,
    /// Normalisation of each patch.
    #[arg(long, value_enum, default_value = "center")]
    patch_norm: PatchNormArg,
    /// Step between patches when encoding whole images.
    #[arg(long, default_value_t = 1)]
    stride: usize,
    /// Pooling cells per side when encoding whole images.
    #[arg(long, default_value_t = 2)]
    grid: usize,
    #[arg(long, value_enum, default_value = "sum")]
    pool: PoolArg,
    /// Dictionary updates (mini-batches).
    #[arg(long, default_value_t = 100)]
    iterations: usize,
    /// Samples per mini-batch.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// PCA whitening.
    #[arg(long, value_enum, default_value = "none")]
    whiten: WhitenArg,
    /// Added to each variance before whitening.
    #[arg(long, default_value_t = 0.0)]
    epsilon: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Autoencoders: the encoder's spec (TOML or JSON; default: linear to ATOMS, sigmoid).
    #[arg(long, value_name = "SPEC")]
    encoder: Option<PathBuf>,
    /// Autoencoders: the decoder's spec (default: linear to the input width, sigmoid).
    #[arg(long, value_name = "SPEC")]
    decoder: Option<PathBuf>,
    /// Sparse autoencoder: the sparsity penalty.
    #[arg(long, value_enum, default_value = "kl")]
    penalty: PenaltyArg,
    /// Sparse autoencoder: the target mean activation of the KL penalty, in (0, 1).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    rho: f64,
    /// Sparse autoencoder: the weight of the sparsity penalty.
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true)]
    beta: f64,
    /// Autoencoders: lambda of lambda/2 * sum ||W||^2 over the weights (not biases).
    #[arg(long, default_value_t = 3e-3, allow_negative_numbers = true)]
    weight_decay: f64,
    /// Denoising autoencoder: the corruption.
    #[arg(long, value_enum)]
    noise: Option<NoiseArg>,
    /// Denoising autoencoder: the masked fraction, or the Gaussian noise's std.
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true)]
    noise_level: f64,
    /// Autoencoders: passes over the unlabeled data.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Autoencoders: the optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerArg,
    /// Autoencoders: the learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Autoencoders: the learning-rate schedule.
    #[arg(long, value_enum, default_value = "constant")]
    schedule: ScheduleArg,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum PatchNormArg {
    None,
    Center,
    Standardize,
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolArg {
    Sum,
    Max,
}

#[derive(Clone, Copy, ValueEnum)]
enum WhitenArg {
    None,
    Pca,
    Zca,
}

#[derive(Args)]
#[command(after_help = "Examples:
  tlkit features encode --basis basis/ --data mnist --classes 0,1,2,3,4 --out codes.npz
  tlkit features encode --basis basis/ --data mnist --classes 0,1,2,3,4 --split test --out codes-test.npz

Train a classifier on the codes with a config whose [data] reads them:
  [data.train]
  format = \"npz\"
  path = \"codes.npz\"
  x_key = \"x\"
  y_key = \"y\"")]
pub struct EncodeArgs {
    /// A folder written by `tlkit features learn` (a basis or an autoencoder), or `raw`
    /// for the samples themselves, flattened (the raw-pixel baseline).
    #[arg(long)]
    basis: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// The .npz to write (`x`: [samples, features], `y`: labels).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(cmd: FeaturesCommand) -> Result<()> {
    match cmd {
        FeaturesCommand::Learn(args) => learn(args),
        FeaturesCommand::Encode(args) => encode(args),
    }
}

/// The photo sets usable as unlabeled natural images.
const PHOTOS: &str = "photos";
const PHOTOS_WIDE: &str = "photos-wide";

/// The samples `args` names, as a dataset (labels kept; learning ignores them).
fn load(args: &DataArgs, seed: u64) -> Result<Dataset> {
    let cache = data::cache_dir();
    let (cfg, base) = if args.data.ends_with(".toml") {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            data: DataConfig,
        }
        let path = Path::new(&args.data);
        let file: File = tlkit::config::load_toml(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        (file.data, base)
    } else {
        let cfg = DataConfig::named(Some(args.data.clone()));
        (cfg, PathBuf::from("."))
    };
    let cfg = DataConfig {
        classes: args.classes.clone().or(cfg.classes),
        ..cfg
    };
    let split = tlkit::experiment::load_data(&cfg, seed, &base, &cache)
        .with_context(|| format!("loading `{}`", args.data))?;
    let mut ds = match args.split {
        SplitArg::Train => split.train,
        SplitArg::Test => split.test,
    };
    if let Some(part) = &args.part {
        let (k, n) = parse_part(part)?;
        let len = ds.len();
        let keep: Vec<usize> = ((k - 1) * len / n..k * len / n).collect();
        ds = ds.subset(&keep, format!("{} (part {k}/{n})", ds.name));
    }
    if let Some(limit) = args.limit
        && limit < ds.len()
    {
        let keep: Vec<usize> = data::epoch_order(ds.len(), seed, 0, true)
            .into_iter()
            .take(limit)
            .collect();
        ds = ds.subset(&keep, format!("{} (first {limit})", ds.name));
    }
    Ok(ds)
}

/// `K/N` with 1 ≤ K ≤ N.
fn parse_part(s: &str) -> Result<(usize, usize)> {
    let parsed = s
        .split_once('/')
        .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((k, n)) if k >= 1 && k <= n => Ok((k, n)),
        _ => bail!("--part {s}: give K/N with 1 <= K <= N, e.g. 1/2 for the first half"),
    }
}

fn learn(args: LearnArgs) -> Result<()> {
    let kind = match args.method {
        MethodArg::Autoencoder => Some(AutoencoderKind::Plain),
        MethodArg::SparseAutoencoder => Some(AutoencoderKind::Sparse),
        MethodArg::DenoisingAutoencoder => Some(AutoencoderKind::Denoising),
        MethodArg::SparseCoding | MethodArg::Pca => None,
    };
    match kind {
        Some(kind) => learn_autoencoder(args, kind),
        None => learn_basis(args),
    }
}

fn learn_autoencoder(args: LearnArgs, kind: AutoencoderKind) -> Result<()> {
    if args.patch.is_some() || args.alpha.is_some() {
        bail!(
            "--patch and --alpha are for sparse coding and PCA; an autoencoder learns on whole samples (give --encoder for another network)"
        );
    }
    if args.noise.is_some() && kind != AutoencoderKind::Denoising {
        bail!(
            "--noise corrupts the input of a denoising autoencoder: use --method denoising-autoencoder"
        );
    }
    let spec = |p: &Option<PathBuf>| -> Result<Option<NetworkSpec>> {
        p.as_deref()
            .map(|p| NetworkSpec::load(p).with_context(|| format!("reading {}", p.display())))
            .transpose()
    };
    let cfg = AutoencoderConfig {
        encoder: spec(&args.encoder)?,
        decoder: spec(&args.decoder)?,
        penalty: match args.penalty {
            PenaltyArg::Kl => SparsityPenalty::Kl,
            PenaltyArg::L1 => SparsityPenalty::L1,
        },
        rho: args.rho,
        beta: args.beta,
        weight_decay: args.weight_decay,
        noise: args.noise.map(|n| match n {
            NoiseArg::Mask => Noise::Mask {
                fraction: args.noise_level,
            },
            NoiseArg::Gaussian => Noise::Gaussian {
                std: args.noise_level,
            },
        }),
        batch_size: args.batch_size,
        optimizer: OptimizerConfig {
            name: match args.optimizer {
                OptimizerArg::Adam => OptimizerKind::Adam,
                OptimizerArg::Adamw => OptimizerKind::Adamw,
                OptimizerArg::Sgd => OptimizerKind::Sgd,
            },
            momentum: match args.optimizer {
                OptimizerArg::Sgd => 0.9,
                _ => 0.0,
            },
            ..OptimizerConfig::adam(args.lr)
        },
        schedule: match args.schedule {
            ScheduleArg::Constant => Schedule::Constant,
            ScheduleArg::Cosine => Schedule::Cosine { min_factor: 0.0 },
        },
        seed: args.seed,
        ..AutoencoderConfig::new(kind, args.atoms, args.epochs)
    };
    let mut data = load(&args.data, args.seed)?;
    data.y.clear();
    eprintln!(
        "training a {} with {} code units on {} samples of `{}`",
        kind.method_name(),
        args.atoms,
        data.len(),
        data.name
    );
    let t = tlkit::selftaught::train_autoencoder(&data, &cfg, &args.out)?;
    let s = &t.summary;
    println!(
        "{} epochs: objective {:.4}, reconstruction mse {:.5} per value, mean code {:.4}",
        s.epochs, s.final_objective, s.reconstruction_mse, s.mean_code
    );
    println!(
        "wrote the encoder (model.toml, weights.safetensors), {AUTOENCODER_META}, summary.json, filters.png, reconstruction.png and training/ in {} ({:.1}s)",
        args.out.display(),
        s.seconds
    );
    Ok(())
}

fn learn_basis(args: LearnArgs) -> Result<()> {
    let start = Instant::now();
    let patch_norm = match args.patch_norm {
        PatchNormArg::None => PatchNorm::None,
        PatchNormArg::Center => PatchNorm::Center,
        PatchNormArg::Standardize => PatchNorm::Standardize,
    };
    let is_photos = args.data.data == PHOTOS || args.data.data == PHOTOS_WIDE;
    let samples = match (args.patch, is_photos) {
        (None, true) => bail!(
            "--data {}: photos have different sizes, so learn on patches: add --patch 8 (say)",
            args.data.data
        ),
        (Some(p), true) => {
            let cache = data::cache_dir();
            let photos = data::pairs::load_photos(&cache, args.data.data == PHOTOS_WIDE)?;
            let grey = patches::grey_photos(&photos);
            let images: Vec<_> = grey.iter().map(|g| g.as_ref()).collect();
            patches::random_patches(
                &images,
                p,
                args.patches,
                patch_norm,
                args.seed,
                &args.data.data,
            )?
        }
        (Some(p), false) => {
            let ds = load(&args.data, args.seed)?;
            let images = patches::dataset_images(&ds)?;
            patches::random_patches(&images, p, args.patches, patch_norm, args.seed, &ds.name)?
        }
        (None, false) => load(&args.data, args.seed)?,
    };
    let encoding = args.patch.map(|size| PatchEncoding {
        size,
        stride: args.stride,
        grid: args.grid,
        pool: match args.pool {
            PoolArg::Sum => Pool::Sum,
            PoolArg::Max => Pool::Max,
        },
        norm: patch_norm,
    });
    let method = match args.method {
        MethodArg::SparseCoding => {
            let Some(alpha) = args.alpha else {
                bail!("sparse coding needs --alpha (the L1 weight, e.g. 0.1; see --help)");
            };
            LearnMethod::SparseCoding(DictionaryConfig {
                batch_size: args.batch_size,
                iterations: args.iterations,
                seed: args.seed,
                ..DictionaryConfig::new(args.atoms, alpha)
            })
        }
        MethodArg::Autoencoder | MethodArg::SparseAutoencoder | MethodArg::DenoisingAutoencoder => {
            bail!("an autoencoder is not a basis: it is trained by `learn_autoencoder`")
        }
        MethodArg::Pca => {
            if args.alpha.is_some() {
                bail!("--alpha is sparse coding's L1 weight; PCA takes none");
            }
            LearnMethod::Pca(PcaConfig {
                components: args.atoms,
                whitening: match args.whiten {
                    WhitenArg::None => Whitening::None,
                    WhitenArg::Pca => Whitening::Pca,
                    WhitenArg::Zca => Whitening::Zca,
                },
                epsilon: args.epsilon,
            })
        }
    };
    eprintln!(
        "learning {} atoms of shape {:?} from {} samples of `{}`",
        args.atoms,
        samples.sample_shape,
        samples.len(),
        samples.name
    );
    let learned = tlkit::selftaught::learn(&samples, &method, encoding)?;
    let mut basis = learned.basis;
    if let LearnMethod::Pca(_) = method {
        basis.meta.seed = args.seed;
    }
    basis.save(&args.out)?;
    let mut written = vec![BASIS_META.to_string(), "basis.safetensors".into()];
    basis.save_image(&args.out.join("basis.png"))?;
    written.push("basis.png".into());
    if !learned.history.is_empty() {
        let mut csv = String::from("iteration,objective,mse,sparsity\n");
        for r in &learned.history {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                r.iteration, r.objective, r.mse, r.sparsity
            ));
        }
        tlkit::fsio::write_atomic(&args.out.join("history.csv"), csv.as_bytes())?;
        let xs: Vec<f64> = learned.history.iter().map(|r| r.iteration as f64).collect();
        let ys = learned.history.iter().map(|r| r.mse).collect();
        tlkit::plot::line_plot(
            &args.out.join("reconstruction.png"),
            "Reconstruction error on each mini-batch, before the update",
            "iteration",
            "mean squared error per value",
            &[tlkit::plot::Series::new("sparse coding", xs, ys)],
        )?;
        written.extend(["history.csv".into(), "reconstruction.png".into()]);
        let last = learned.history.last().expect("not empty");
        println!(
            "iteration {}: mse {:.5}, objective {:.4}, {:.1}% zero codes",
            last.iteration,
            last.mse,
            last.objective,
            100.0 * last.sparsity
        );
    }
    if let Some((_, var)) = &basis.pca {
        println!(
            "{} components: variance {:.4} (first) to {:.4} (last)",
            var.len(),
            var[0],
            var[var.len() - 1]
        );
    }
    println!(
        "wrote {} in {} ({:.1}s)",
        written.join(", "),
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `features encode --basis raw`: the samples themselves.
const RAW: &str = "raw";

fn encode(args: EncodeArgs) -> Result<()> {
    let ds = load(&args.data, 0)?;
    let start = Instant::now();
    let codes = if args.basis.as_os_str() == RAW && !args.basis.exists() {
        ds.clone()
    } else if args.basis.join(AUTOENCODER_META).is_file() {
        TrainedAutoencoder::load(&args.basis)
            .with_context(|| format!("reading the autoencoder in {}", args.basis.display()))?
            .encode(&ds)
            .with_context(|| format!("encoding `{}`", ds.name))?
    } else {
        Basis::load(&args.basis)
            .with_context(|| format!("reading the basis in {}", args.basis.display()))?
            .encode(&ds)
            .with_context(|| format!("encoding `{}`", ds.name))?
    };
    let secs = start.elapsed().as_secs_f64();
    let width = codes.sample_width();
    let y = if ds.y.is_empty() {
        vec![0; ds.len()]
    } else {
        ds.y.clone()
    };
    data::save_npz(&args.out, &codes.x, &[ds.len(), width], &y, ("x", "y"))?;
    let zeros = codes.x.iter().filter(|&&v| v == 0.0).count();
    println!(
        "{} samples → {width} features each ({:.1}% zero) in {secs:.2}s, {:.0} samples/s; wrote {}",
        ds.len(),
        100.0 * zeros as f64 / codes.x.len().max(1) as f64,
        ds.len() as f64 / secs.max(1e-9),
        args.out.display()
    );
    Ok(())
}
